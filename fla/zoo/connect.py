"""``fla connect --models``: the minima of trained CIFAR models connected by the path methods
over their weights, with Draxler et al.'s Table 1 (losses, errors and extreme Hessian eigenvalues at
the minima and at the saddles of the spanning tree)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from fla.base.errors import ConfigError
from fla.base.outputs import claim_folder, remove_files
from fla.base.store import list_column
from fla.paths.alignment import alignment_rows
from fla.paths.connect import aligned_searches, connect_minima, extreme_eigenvalues, load_settings
from fla.paths.outputs import MODEL_OUTPUTS, write_connection


def connect_models(
    model_dirs,
    out,
    config=None,
    *,
    data_dir=None,
    examples: int = 1024,
    quiet: bool = False,
    methods=None,
) -> dict:
    """Connect trained CIFAR models (``fla train`` outputs) with the path methods over their weights
    (``fla connect --models``). Losses along the paths are taken on the first ``examples`` training
    images (normalised as the models were trained); the Table-1 summary evaluates the minima and the
    saddles of the spanning tree on the whole training and test sets, with the extreme Hessian
    eigenvalues there (Lanczos on the same ``examples`` images). BatchNorm uses batch statistics
    (``fla.zoo.objective``).

    Args:
        model_dirs: the trained models' folders (one architecture and data set).
        out: the output folder.
        config: a connect settings file (``fla.paths.connect.load_settings``).
        data_dir: the folder of the CIFAR archives.
        examples: the training images the path losses are taken on.
        quiet: no progress.
        methods: path methods overriding the settings'.

    Returns:
        The summary written to connect.json.

    Raises:
        ConfigError: fewer than two models, a folder without a finished training run, or models of
            different architectures or data sets.
    """
    out = Path(out)
    if len(model_dirs) < 2:
        raise ConfigError("--models needs at least two trained model directories")
    results = []
    for folder in map(Path, model_dirs):
        if not (folder / "result.json").is_file() or not (folder / "weights.npz").is_file():
            raise ConfigError(
                f"{folder} holds no finished training run (result.json, weights.npz); run fla train"
            )
        results.append(json.loads((folder / "result.json").read_text()))
    if len({(r["arch"], r["dataset"]) for r in results}) != 1:
        raise ConfigError("--models must all share one architecture and dataset")
    settings = load_settings(config, methods)
    with claim_folder(out, "fla connect", MODEL_OUTPUTS, what="a connection run"):
        try:
            return _connect_models(
                model_dirs,
                out,
                settings,
                results=results,
                data_dir=data_dir,
                examples=examples,
                quiet=quiet,
            )
        except BaseException:  # what it wrote goes (the folder was new or empty)
            remove_files(out, MODEL_OUTPUTS)
            raise


def resnet_matching(model):
    """Weight matching of ResNets as a function of two networks.

    Args:
        model: the Keras ResNet.

    Returns:
        (a [D], b [D]) -> b with its channels weight-matched to a's (``fla.zoo.alignment``).
    """
    from fla.zoo.alignment import apply, flat, named, resnet_spec, weight_matching

    spec = resnet_spec(model)

    def match(a, b):
        a, b = named(model, a), named(model, b)
        return flat(model, apply(spec, weight_matching(spec, a, b), b))

    return match


def _connect_models(model_dirs, out, settings, *, results, data_dir, examples, quiet) -> dict:
    import tensorflow as tf

    from fla.paths.record import Energy
    from fla.zoo.cifar import CLASSES, load_cifar, normalise
    from fla.zoo.models import build
    from fla.zoo.objective import KerasObjective

    arch, dataset = results[0]["arch"], results[0]["dataset"]
    model = build(arch, CLASSES[dataset])
    minima = []
    for folder in map(Path, model_dirs):
        with np.load(folder / "weights.npz", allow_pickle=False) as data:
            for i, v in enumerate(model.weights):
                v.assign(data[f"w{i}"])
            mean, std = data["mean"], data["std"]
        minima.append(np.concatenate([v.numpy().ravel() for v in model.trainable_variables]))
    minima = np.array(minima, np.float64)
    x_train, y_train, x_test, y_test = load_cifar(dataset, data_dir)
    x_train, x_test = normalise(x_train, mean, std), normalise(x_test, mean, std)
    objective = KerasObjective(model, x_train[:examples], y_train[:examples])
    energy = Energy(objective, tf.float32)
    start = time.time()
    losses = energy.values(minima)
    paths, tree = connect_minima(energy, minima, losses, settings=settings, quiet=quiet)
    alignment = pa.table(
        alignment_rows(
            energy,
            minima,
            pairs=sorted(next(iter(paths.values()))),
            matchings={"weight_matched_": resnet_matching(model)},
            **aligned_searches(paths, settings, quiet=quiet),
        )
    )

    first = paths[settings["methods"][0]]
    saddles = np.array([first[(a, b)].saddle_params for a, b, _ in tree]).reshape(
        -1, minima.shape[1]
    )
    points = np.concatenate([minima, saddles])
    train_loss, train_error = objective.evaluate(points, x_train, y_train)
    test_loss, test_error = objective.evaluate(points, x_test, y_test)
    eig_min, eig_max, converged = extreme_eigenvalues(objective, points, max_steps=100)
    m = len(minima)
    table = pa.table(
        {
            "kind": ["minimum"] * m + ["saddle"] * len(saddles),
            "a": list(range(m)) + [a for a, _, _ in tree],
            "b": [None] * m + [b for _, b, _ in tree],
            "train_loss": train_loss,
            "train_error": train_error,
            "test_loss": test_loss,
            "test_error": test_error,
            "eig_min": eig_min,
            "eig_max": eig_max,
            "eig_converged": converged,
        }
    )
    out.mkdir(parents=True, exist_ok=True)
    minima_table = pa.table(
        {
            "minimum": pa.array(np.arange(m, dtype=np.int32)),
            "loss": pa.array(losses),
            "train_loss": train_loss[:m],
            "train_error": train_error[:m],
            "test_loss": test_loss[:m],
            "test_error": test_error[:m],
            "eig_min": eig_min[:m],
            "eig_max": eig_max[:m],
            "model": [str(d) for d in model_dirs],
            "params": list_column(minima, m),
        }
    )
    ratio = float(train_loss[m:].mean() / train_loss[:m].mean()) if len(saddles) else None
    summary = {
        "models": [str(d) for d in model_dirs],
        "arch": arch,
        "dataset": dataset,
        "examples": examples,
        "minima": m,
        "saddle_to_minimum_train_loss": ratio,
        "hessian": "lanczos, 100 steps at most",
        "batch_norm": "batch statistics (training mode) for every point, minima and saddles "
        "alike: an interpolated network's statistics are its own (Jordan et al.'s REPAIR for "
        "BatchNorm networks resets them)",
        "permutations": "alignment.parquet: each pair's straight line before and after weight "
        "matching the second model's channels to the first's (fla.zoo.alignment)",
    }
    summary = write_connection(
        out,
        energy,
        minima,
        minima_table=minima_table,
        paths=paths,
        tree=tree,
        settings=settings,
        summary=summary,
        start=start,
        quiet=quiet,
        extra={"alignment.parquet": alignment, "table1.parquet": table, "table1.csv": table},
    )
    if not quiet:
        print(table.to_pandas().to_string(index=False))
        print(f"saddle / minimum training loss: {ratio}")
    return summary
