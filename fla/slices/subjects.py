"""What a slice is taken of: a network fla knows, its parameter vectors by name, and its losses on
a chunk of parameter vectors in one compiled call.

A source is a folder fla wrote:

- a sampling run (one configuration, ``fla sample``): ``walk=W`` is walk W's last point (from its
  endpoints), ``walk=W,step=S`` a recorded point (the run needs ``--record-params``);
- a connection run (``fla connect``): ``minimum=I``, ``saddle=A-B`` (the highest point of the path
  between minima A and B, of the first method unless ``,method=M``), ``bend=A-B,method=M`` (a
  curve's middle control point, Garipov et al.'s theta);
- a trained model (``fla train``): ``model``, its trained weights.

A reference that names no point in the source (no ``=``) is another folder of the same network, at
its default point (walk 0's end, minimum 0, the model).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow.parquet as pq

from fla.base.errors import ConfigError, DataError
from fla.base.store import ENDPOINTS, RUN_JSON, read_points, verify
from fla.slices.directions import keras_layout, mlp_layout

CHUNK_BYTES = 256 * 2**20  # what one compiled call over a chunk of grid points may hold
COLUMNS = ("train_loss", "train_accuracy", "test_loss", "test_accuracy")


@dataclass
class Subject:
    """A network and its data: ``evaluate(theta [C, D] float32)`` -> {column: [C]} (test columns
    None without a test set), ``loss`` the training loss as a batched objective (for Hessian
    directions), ``bytes_per_point`` what one point costs inside a chunk, ``chunk_max`` the
    largest chunk worth compiling."""

    kind: str
    folder: Path
    description: dict
    layout: list
    evaluate: Callable
    loss: object
    bytes_per_point: int
    chunk_max: int
    points: Callable = field(repr=False)  # spec -> (vector [D], label)
    default: str = ""
    fixed_bytes: int = 0  # what one call holds whatever its chunk (a CNN's activations)
    paths: list = field(default_factory=list, repr=False)  # a connection run's paths.parquet rows
    first_method: str = ""  # a connection run's first path method

    @property
    def n_params(self) -> int:
        """D, the network's parameters."""
        return int(sum(np.prod(shape) for shape, _ in self.layout))


def parse_spec(spec: str) -> dict:
    """A point's reference as its parts.

    Args:
        spec: e.g. ``walk=3,step=10``.

    Returns:
        E.g. {"walk": "3", "step": "10"}.

    Raises:
        ConfigError: a part that is not KEY=VALUE.
    """
    parts = {}
    for item in spec.split(","):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(f"point {spec!r}: expected KEY=VALUE[,KEY=VALUE], e.g. walk=0")
        parts[key.strip()] = value.strip()
    return parts


def integer(parts: dict, key: str, spec: str) -> int:
    """One part of a reference as an integer.

    Args:
        parts: ``parse_spec``'s parts.
        key: the part.
        spec: the reference, for the error.

    Returns:
        The integer.

    Raises:
        ConfigError: a value that is not an integer.
    """
    try:
        return int(parts[key])
    except ValueError:
        raise ConfigError(f"point {spec!r}: {key} must be an integer, got {parts[key]!r}") from None


def open_source(folder, data_dir=None, examples: int = 1024) -> Subject:
    """What a slice is taken of: the network and data of a folder fla wrote.

    Args:
        folder: a sampling run of one configuration, a connection run or a trained model.
        data_dir: the folder of data files.
        examples: the images a CIFAR model is evaluated on.

    Returns:
        The ``Subject``.

    Raises:
        ConfigError: a folder fla did not write.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder fla wrote (a run, a connection or a model)")
    if (folder / "connect.json").is_file():
        return connection_subject(folder, data_dir, examples)
    if (folder / "result.json").is_file() and (folder / "weights.npz").is_file():
        return model_subject([folder], data_dir, examples)
    if (folder / RUN_JSON).is_file():
        return run_subject(folder, data_dir)
    raise ConfigError(
        f"{folder} holds no sampling run of one configuration (run.json), connection run "
        "(connect.json) or trained model (result.json, weights.npz)"
    )


def point(subject: Subject, ref: str, data_dir=None) -> tuple[np.ndarray, str]:
    """A network by its reference: a point of the subject's source, or another folder's default
    point (the same network).

    Args:
        subject: the ``Subject``.
        ref: the reference (``walk=W[,step=S]``, ``minimum=I``, ``saddle=A-B[,method=M]``,
            ``bend=A-B,method=bezier``, ``model``, or a folder).
        data_dir: the folder of data files.

    Returns:
        (vector [D], label).

    Raises:
        ConfigError: a reference the source does not hold, or another folder's network of another
            size.
    """
    if "=" in ref or ref == "model":
        return subject.points(ref)
    other = open_source(ref, data_dir)
    vector, label = other.points(other.default)
    if len(vector) != subject.n_params:
        raise ConfigError(
            f"{ref} holds a network of {len(vector)} parameters, {subject.folder} one of "
            f"{subject.n_params}; directions and planes need the same network"
        )
    return vector, f"{Path(ref).name}:{label}"


# -- the MLP family: sampling runs and connection runs ---------------------------------------------
def mlp_subject(kind, folder, cfg: dict, *, data_dir, l2: float, points) -> Subject:
    """The subject of an fla MLP: the objective the run walked (or with a connection's l2), its
    training and test losses and accuracies in one compiled call a chunk.

    Args:
        kind: ``run`` or ``connect``.
        folder: the source folder.
        cfg: the sampling run's configuration.
        data_dir: the folder of data files.
        l2: a connection's L2 term (0 for a run).
        points: the source's reference -> (vector, label).

    Returns:
        The ``Subject``.
    """
    import tensorflow as tf

    from fla.core.objective import run_network, run_objective

    network, problem = run_network(cfg, data_dir)
    # the objective walked (data loss plus the run's penalty, or connect's l2); the test loss is
    # the data loss alone
    objective = run_objective(cfg, network, problem, dtype=tf.float32, l2=l2)
    test = problem.has_test
    x_test = tf.constant(problem.x_test, tf.float32) if test else None
    y_test = tf.constant(problem.y_test, tf.int32) if test else None

    @tf.function(reduce_retracing=True, autograph=False)
    def values(theta):
        out = objective.loss_and_accuracy_at(theta, objective.x_train, objective.y_train)
        if test:
            out += objective.data_loss_and_accuracy_at(theta, x_test, y_test)
        return out

    def evaluate(theta):
        got = [v.numpy().astype(np.float64) for v in values(tf.constant(theta, tf.float32))]
        return dict(zip(COLUMNS, got + [None] * (4 - len(got))))

    patterns = len(problem.x_train) + (len(problem.x_test) if test else 0)
    units = sum(fan_out for _, fan_out in network.layers)
    return Subject(
        kind,
        Path(folder),
        {
            "problem": cfg["problem"],
            "network": network.name,
            "l2": l2,
            "train_patterns": len(problem.x_train),
            "test_patterns": len(problem.x_test) if test else 0,
        },
        mlp_layout(network),
        evaluate,
        objective,
        bytes_per_point=4 * (network.n_params + 3 * patterns * units),  # x is shared
        chunk_max=4096,
        points=points,
        default="walk=0" if kind == "run" else "minimum=0",
    )


def run_subject(folder: Path, data_dir) -> Subject:
    """The subject of a sampling run of one configuration: its walks' ends and recorded points.

    Args:
        folder: the verified run.
        data_dir: the folder of data files.

    Returns:
        The ``Subject``.

    Raises:
        DataError: a damaged or unfinished run.
    """
    problem = verify(folder)
    if problem is not None or not (folder / ENDPOINTS).is_file():
        raise DataError(
            f"{folder} is not a complete, verified sampling run of one configuration "
            f"({problem or 'no ' + ENDPOINTS}); give one configuration's folder"
        )
    cfg = json.loads((folder / RUN_JSON).read_text())["config"]

    def points(spec):
        parts = parse_spec(spec)
        if set(parts) - {"walk", "step"} or "walk" not in parts:
            raise ConfigError(
                f"point {spec!r} of sampling run {folder}: expected walk=W or walk=W,step=S"
            )
        walk = integer(parts, "walk", spec)
        if "step" not in parts:
            table = pq.read_table(folder / ENDPOINTS, columns=["walk", "params"])
            rows = [i for i, w in enumerate(table.column("walk").to_pylist()) if w == walk]
            if not rows:
                raise ConfigError(f"point {spec!r}: {folder} has walks 0..{len(table) - 1}")
            return np.asarray(table.column("params")[rows[0]].as_py(), np.float64), spec
        step = integer(parts, "step", spec)
        found = trajectory_rows(folder, cfg, walk, what=spec)
        if step not in found:
            raise ConfigError(
                f"point {spec!r}: walk {walk} has recorded steps {min(found)}..{max(found)}"
            )
        return found[step], spec

    return mlp_subject("run", folder, cfg, data_dir=data_dir, l2=0.0, points=points)


def trajectory_rows(folder: Path, cfg: dict, walk: int, *, what: str) -> dict[int, np.ndarray]:
    """One walk's recorded points.

    Args:
        folder: the sampling run (with --record-params).
        cfg: its configuration.
        walk: the walk.
        what: the request, for the errors.

    Returns:
        {step: params [D]}.

    Raises:
        ConfigError: a run sampled without --record-params, or no such walk.
    """
    import pyarrow.compute as pc

    if not cfg.get("record_params"):
        raise ConfigError(
            f"{what}: {folder} was sampled without --record-params; only walk endpoints "
            "(walk=W) are known. Sample again with --record-params"
        )
    table = read_points(
        folder, ["step", "params"], (pc.field("walk") == walk) & pc.field("params").is_valid()
    )
    if not len(table):
        raise ConfigError(f"{what}: {folder} has no walk {walk} (walks 0..{cfg['walks'] - 1})")
    steps = table.column("step").to_numpy()
    params = np.stack(table.column("params").to_numpy(zero_copy_only=False)).astype(np.float64)
    return dict(zip(steps.tolist(), params))


def connection_subject(folder: Path, data_dir, examples: int) -> Subject:
    """The subject of a connection run: its minima, saddles and bends, on the network it connected
    (an fla MLP or CIFAR models).

    Args:
        folder: the verified connection run.
        data_dir: the folder of data files.
        examples: the images CIFAR models are evaluated on.

    Returns:
        The ``Subject``.

    Raises:
        DataError: a damaged connection run, or one whose sampling run is gone.
    """
    from fla.base.store import verified_manifest

    summary = verified_manifest(folder, "connect.json", "fla connect")
    minima = np.stack(
        pq.read_table(folder / "minima.parquet", columns=["params"])
        .column("params")
        .to_numpy(zero_copy_only=False)
    ).astype(np.float64)
    paths = pq.read_table(folder / "paths.parquet").to_pylist()
    first = summary["settings"]["methods"][0]

    def points(spec):
        parts = parse_spec(spec)
        kind = next(iter(parts))
        if kind == "minimum" and set(parts) == {"minimum"}:
            i = integer(parts, "minimum", spec)
            if not 0 <= i < len(minima):
                raise ConfigError(f"point {spec!r}: {folder} has minima 0..{len(minima) - 1}")
            return minima[i], spec
        if kind in ("saddle", "bend") and set(parts) <= {kind, "method"}:
            row = path_row(paths, parts, kind, first=first, spec=spec, folder=folder)
            if kind == "saddle":
                return np.asarray(row["saddle_params"], np.float64), spec
            if len(row["point_params"]) != 3:
                raise ConfigError(f"point {spec!r}: only a Bezier curve has one bend; use saddle")
            return np.asarray(row["point_params"][1], np.float64), spec
        raise ConfigError(
            f"point {spec!r} of connection run {folder}: expected minimum=I, saddle=A-B or "
            "bend=A-B,method=bezier"
        )

    if "arch" in summary:
        return model_subject(
            [Path(m) for m in summary["models"]], data_dir, examples, points=points
        )
    run = Path(summary["run"])
    if not (run / RUN_JSON).is_file():
        raise DataError(f"connection run {folder} was taken from {run}, which is gone")
    cfg = json.loads((run / RUN_JSON).read_text())["config"]
    subject = mlp_subject(
        "connect", folder, cfg, data_dir=data_dir, l2=float(summary["l2"]), points=points
    )
    subject.paths, subject.first_method = paths, first
    return subject


def path_row(paths: list, parts: dict, kind: str, *, first: str, spec: str, folder) -> dict:
    """The paths.parquet row of a ``saddle=A-B`` or ``bend=A-B`` reference.

    Args:
        paths: paths.parquet's rows.
        parts: the reference's parts.
        kind: ``saddle`` or ``bend``.
        first: the run's first method (the default).
        spec: the reference, for the errors.
        folder: the connection run, for the errors.

    Returns:
        The row.

    Raises:
        ConfigError: no such pair or method, or a run that stored no path parameters.
    """
    a, sep, b = parts[kind].partition("-")
    if not sep or not a.isdigit() or not b.isdigit():
        raise ConfigError(f"point {spec!r}: expected {kind}=A-B, two minima's numbers")
    method = parts.get("method", first)
    pair = sorted((int(a), int(b)))
    for row in paths:
        if [row["a"], row["b"]] == pair and row["method"] == method:
            if row.get("saddle_params") is None:
                raise ConfigError(
                    f"point {spec!r}: {folder} stores no parameters of its paths' points"
                )
            return row
    known = sorted({f"{r['a']}-{r['b']} ({r['method']})" for r in paths})
    raise ConfigError(f"point {spec!r}: {folder} has paths {', '.join(known) or 'none'}")


# -- CIFAR models ----------------------------------------------------------------------------------
def activation_bytes(model, images: int) -> int:
    """The float32 bytes of every layer's output: what one point's forward pass may hold at once (an
    upper bound; XLA frees most of it as it goes).

    Args:
        model: the Keras model.
        images: the images evaluated.

    Returns:
        Bytes.
    """
    values = sum(int(np.prod(layer.output.shape[1:])) for layer in model.layers[1:])
    return 4 * images * values


def model_subject(folders: list, data_dir, examples: int, *, points=None) -> Subject:
    """A trained model (``fla train``) on the first ``examples`` training and test images, BatchNorm
    with batch statistics as in ``fla.zoo.objective``.

    Args:
        folders: the model folders (the first is the subject's; a connection of models gives them
            all).
        data_dir: the folder of the CIFAR archives.
        examples: the images of each split evaluated.
        points: the source's reference -> (vector, label), for a connection of models.

    Returns:
        The ``Subject``.

    Raises:
        DataError: a folder without a finished training run.
    """
    import tensorflow as tf

    from fla.zoo.cifar import CLASSES, load_cifar, normalise
    from fla.zoo.models import build
    from fla.zoo.objective import KerasObjective

    folder = Path(folders[0])
    if not (folder / "weights.npz").is_file():
        raise DataError(f"{folder} holds no finished training run (weights.npz); run fla train")
    result = json.loads((folder / "result.json").read_text())
    model = build(result["arch"], CLASSES[result["dataset"]])
    with np.load(folder / "weights.npz", allow_pickle=False) as data:
        for i, v in enumerate(model.weights):
            v.assign(data[f"w{i}"])
        mean, std = data["mean"], data["std"]
    x_train, y_train, x_test, y_test = load_cifar(result["dataset"], data_dir)
    x_train = normalise(x_train[:examples], mean, std)
    x_test = normalise(x_test[:examples], mean, std)
    objective = KerasObjective(model, x_train, y_train[:examples])
    xt, yt = tf.constant(x_test, tf.float32), tf.constant(y_test[:examples], tf.int32)

    @tf.function(reduce_retracing=True, autograph=False)
    def values(theta):
        def one(row):
            train = objective.loss_and_error(row, objective.x, objective.y)
            test = objective.loss_and_error(row, xt, yt)
            return tf.stack([train[0], 1 - train[1], test[0], 1 - test[1]])

        return tf.map_fn(one, theta, fn_output_signature=tf.float32)

    def evaluate(theta):
        got = values(tf.constant(theta, tf.float32)).numpy().astype(np.float64)
        return dict(zip(COLUMNS, got.T))

    trained = objective.flatten().astype(np.float64)

    def own_points(spec):
        if spec != "model":
            raise ConfigError(f"point {spec!r}: a trained model has one point, 'model'")
        return trained, "model"

    return Subject(
        "model",
        folder,
        {
            "arch": result["arch"],
            "dataset": result["dataset"],
            "train_patterns": len(x_train),
            "test_patterns": len(x_test),
            "batch_norm": "batch statistics",
        },
        keras_layout(model),
        evaluate,
        objective,
        bytes_per_point=4 * objective.n_params,  # rows run one after another inside the call
        chunk_max=64,
        fixed_bytes=activation_bytes(model, max(len(x_train), len(x_test))),  # one set at a time
        points=points or own_points,
        default="model" if points is None else "minimum=0",
    )
