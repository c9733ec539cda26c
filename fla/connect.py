"""``fla connect RUN_DIR``: the minima a sampling run found, and the paths that connect them.

Reads one configuration's directory (run.json, endpoints.parquet), polishes the walk endpoints into
minima, merges duplicates, and explores the landscape with a path method (AutoNEB by default; see
:mod:`fla.landscape` and :mod:`fla.paths`); every further method named in ``methods`` is run on the
same pairs, so that they can be compared. ``fla connect --models`` does the same for trained CIFAR
models. Writes under --out: ``minima.parquet`` (loss, accuracy, gradient norm, curvature at each
minimum, its parameters), ``paths.parquet`` (one row per pair and method: point and dense losses,
saddle loss, length, barrier, and the straight line's losses and barrier between the same minima),
``tree.parquet`` (the minimum spanning tree of the first method's saddle losses) and
``connect.json`` (metadata, with every method's settings in full), each written atomically.

Settings come from a TOML file (--config); every key is optional:

    max_minima = 10              # connect the lowest distinct minima only
    budget = 20                  # most pairs connected
    low_gradient = 0.0           # also polish recorded points with gradient norm below this (needs
    params) l2 = 0.0                     # lambda: minimise loss + lambda |theta|^2 (isolated
    minima; --l2 overrides) methods = ["autoneb"]        # path methods: autoneb, neb, bezier,
    polychain; the first explores [polish]  gtol = 1e-5, max_iter = 2000 [merge]   loss_tol = 1e-4,
    distance_tol = 1e-3 [autoneb] climb = true, optimizer = "fire", ...   # one section per method:
    any of its settings [bezier]  bends = 1, steps = 1000, ...             # (fla.neb.NEB, AutoNEB,
    fla.curves.Bezier, PolyChain)
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import ConfigError
from .paths import methods as path_methods
from .paths import path_method, straight_line
from .store import ENDPOINTS, RUN_JSON, atomic_path, list_column, verify, write_json

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULTS = {
    "max_minima": 10,
    "budget": 20,
    "low_gradient": 0.0,
    "l2": 0.0,
    "methods": ["autoneb"],
    "polish": {"gtol": 1e-5, "max_iter": 2000},
    "merge": {"loss_tol": 1e-4, "distance_tol": 1e-3},
}
OUTPUTS = ("minima.parquet", "paths.parquet", "tree.parquet", "connect.json")


def load_settings(path=None, methods=None, l2=None) -> dict:
    """Defaults, overridden by the TOML file at ``path`` and by ``methods`` (--method); unknown keys
    and settings are refused by name. Each method's section holds that method's settings."""
    settings = json.loads(json.dumps(DEFAULTS))
    where = f"--config {path}" if path else "settings"
    given = {}
    if path is not None:
        try:
            given = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"--config {path}: {exc}") from None
    known = path_methods()
    for key, value in given.items():
        if key in known:
            if not isinstance(value, dict):
                raise ConfigError(
                    f"{where}: [{key}] must be a section of that method's settings, got {value!r}"
                )
            settings[key] = value
        elif key not in settings:
            raise ConfigError(
                f"{where}: unknown key {key!r}; expected {', '.join(list(settings) + list(known))}"
            )
        elif isinstance(settings[key], dict):
            if not isinstance(value, dict) or set(value) - set(settings[key]):
                raise ConfigError(
                    f"{where}: [{key}] takes {', '.join(settings[key])}, got {value!r}"
                )
            settings[key].update(value)
        else:
            settings[key] = value
    if methods:
        settings["methods"] = list(methods)
    if l2 is not None:
        settings["l2"] = l2
    check_settings(settings, where)
    for name in known:  # every method's section checked; those used kept in full
        if name in settings or name in settings["methods"]:
            settings[name] = dataclasses.asdict(path_method(name, settings.get(name), f"{where}: "))
    return settings


def _number(v, low, high=float("inf"), integer=False, open_low=False):
    ok = (
        isinstance(v, (int, float))
        and not isinstance(v, bool)
        and (not integer or isinstance(v, int))
    )
    return ok and (v > low if open_low else v >= low) and v <= high


SETTING_CHECKS = {
    "max_minima": (lambda v: _number(v, 1, integer=True), "an integer >= 1"),
    "budget": (lambda v: _number(v, 0, integer=True), "an integer >= 0"),
    "low_gradient": (lambda v: _number(v, 0), "a number >= 0"),
    "l2": (lambda v: _number(v, 0), "a number >= 0"),
    "methods": (
        lambda v: (
            isinstance(v, list)
            and v
            and all(isinstance(m, str) for m in v)
            and len(set(v)) == len(v)
        ),
        "a non-empty list of distinct method names",
    ),
    "polish.gtol": (lambda v: _number(v, 0, open_low=True), "a number > 0"),
    "polish.max_iter": (lambda v: _number(v, 1, integer=True), "an integer >= 1"),
    "merge.loss_tol": (lambda v: _number(v, 0), "a number >= 0"),
    "merge.distance_tol": (lambda v: _number(v, 0), "a number >= 0"),
}


def check_settings(settings: dict, where: str) -> None:
    """ConfigError naming the first setting of the wrong type or range."""
    for name, (ok, expected) in SETTING_CHECKS.items():
        section, _, key = name.rpartition(".")
        value = settings[section][key] if section else settings[key]
        if not ok(value):
            raise ConfigError(f"{where}: {name} must be {expected}, got {value!r}")
    for name in settings["methods"]:
        path_method(name, None, f"{where}: methods: ")


def finite_rows(points: np.ndarray, what: str, quiet: bool) -> np.ndarray:
    """The rows of points [B, D] whose values are all finite; a warning names how many were dropped,
    ConfigError if none remain."""
    finite = np.isfinite(points).all(axis=1)
    if not finite.any():
        raise ConfigError(
            f"every one of the {len(points)} {what} is non-finite; nothing to connect"
        )
    if not finite.all():
        import warnings

        warnings.warn(
            f"dropped {int((~finite).sum())} of {len(points)} {what} with non-finite values"
        )
    return finite


def candidates(run_dir: Path, low_gradient: float) -> np.ndarray:
    points = [
        np.stack(
            pq.read_table(run_dir / ENDPOINTS, columns=["params"]).column("params").to_pylist()
        )
    ]
    if low_gradient > 0:
        import pyarrow.compute as pc

        low = (
            pq.read_table(
                run_dir / "points.parquet",
                columns=["params", "grad_norm"],
                filters=pc.field("grad_norm") < low_gradient,
            )
            .column("params")
            .drop_null()
        )
        if len(low):
            points.append(np.stack(low.to_pylist()))
    return np.concatenate(points).astype(np.float64)


ASYMPTOTIC_LOSS = 1e-6  # without L2: polished losses below this lie in the asymptotic basin


def asymptotic(losses: np.ndarray) -> np.ndarray:
    """Polished points [B] in the asymptotic basin. Without an L2 term a cross-entropy reaches 0
    only as the weights grow without bound (the margins must diverge), so a polished loss below
    ASYMPTOTIC_LOSS marks a point on the way to infinity, where polishing stops only because the
    gradient has vanished too: not an isolated minimum. They are reported as one basin."""
    return losses < ASYMPTOTIC_LOSS


def connect(
    run_dir, out, config=None, data_dir=None, quiet: bool = False, methods=None, l2=None
) -> dict:
    import tensorflow as tf

    from .curvature import CLASSES, curvature_codes, eigenvalues, extreme_codes
    from .landscape import canonical, merge, polish
    from .networks import MLP
    from .objective import Objective
    from .paths import Energy
    from .problems import load_problem

    run_dir, out = Path(run_dir), Path(out)
    problem_with_run = verify(run_dir)
    if problem_with_run is not None or not (run_dir / ENDPOINTS).is_file():
        raise ConfigError(
            f"{run_dir} is not a complete, verified sampling run of one configuration "
            f"({problem_with_run or 'no ' + ENDPOINTS}); give one configuration's directory"
        )
    refuse_existing(out)
    settings = load_settings(config, methods, l2)
    meta = json.loads((run_dir / RUN_JSON).read_text())
    cfg = meta["config"]
    problem = load_problem(cfg["problem"], data_dir, cfg.get("target"))
    network = MLP(problem.n_inputs, cfg["width"], cfg["depth"], problem.n_outputs)
    objective = Objective(network, problem, dtype=tf.float64, l2=settings["l2"])
    energy = Energy(objective, tf.float64)
    start = time.time()

    raw = candidates(run_dir, settings["low_gradient"])
    raw = raw[finite_rows(raw, "walk endpoints", quiet)]
    polished, losses, grad_norms = polish(energy, raw, **settings["polish"])
    keep = finite_rows(np.column_stack([polished, losses, grad_norms]), "polished points", quiet)
    polished, losses, grad_norms, raw = polished[keep], losses[keep], grad_norms[keep], raw[keep]
    basin = asymptotic(losses) if not settings["l2"] else np.zeros(len(polished), bool)
    if basin.all():
        raise ConfigError(
            f"all {len(basin)} polished points lie in one asymptotic basin (loss below "
            f"{ASYMPTOTIC_LOSS:g}, approached as the weights grow: no isolated minima); "
            "connect with --l2 "
            "LAMBDA (e.g. 1e-4) for the minima of the regularised loss"
        )
    grown = np.linalg.norm(polished, axis=1) / np.maximum(np.linalg.norm(raw, axis=1), 1e-300)
    asymptotic_basin = {
        "points": int(basin.sum()),
        "loss_max": float(losses[basin].max()) if basin.any() else None,
        "norm_range": [
            float(np.linalg.norm(polished[basin], axis=1).min()),
            float(np.linalg.norm(polished[basin], axis=1).max()),
        ]
        if basin.any()
        else None,
        "norm_growth_median": float(np.median(grown[basin])) if basin.any() else None,
    }
    if basin.any() and not quiet:
        print(
            f"{int(basin.sum())} of {len(basin)} polished points lie in one asymptotic basin (loss "
            f"-> 0 as the "
            "weights grow); reported as one basin, not as minima (use --l2 for isolated minima)"
        )
    polished, losses, grad_norms = polished[~basin], losses[~basin], grad_norms[~basin]
    canon = canonical(network, polished)
    kept, groups = merge(canon, losses, **settings["merge"])
    members = np.bincount(groups)[: settings["max_minima"]]  # group g is kept[g]: lowest loss first
    kept = kept[: settings["max_minima"]]
    minima, min_losses, min_grads = canon[kept], losses[kept], grad_norms[kept]
    if not quiet:
        print(
            f"{len(raw)} candidates -> {len(kept)} distinct minima (losses {min_losses.min():.4g} "
            f".. "
            f"{min_losses.max():.4g}); connecting with {', '.join(settings['methods'])}, "
            f"budget {settings['budget']} pairs"
        )

    accuracy = objective.loss_and_accuracy_at(
        tf.constant(minima), objective.x_train, objective.y_train
    )[1].numpy()
    if network.n_params <= 200:
        eigs = eigenvalues(objective.hessian(minima))
        eig_min, eig_max, codes, method = eigs[:, 0], eigs[:, -1], curvature_codes(eigs), "exact"
    else:
        eig_min, eig_max, converged = extreme_eigenvalues(objective, minima)
        codes, method = np.where(converged, extreme_codes(eig_min, eig_max), -1), "lanczos"

    paths, tree = connect_minima(energy, minima, min_losses, settings, quiet)
    n = len(minima)
    names = np.array(list(CLASSES) + [None], dtype=object)
    minima_table = pa.table(
        {
            "minimum": pa.array(np.arange(n, dtype=np.int32)),
            "loss": pa.array(min_losses),
            "accuracy": pa.array(accuracy),
            "grad_norm": pa.array(min_grads),
            "eig_min": pa.array(eig_min),
            "eig_max": pa.array(eig_max),
            "curvature": pa.array(names[codes], pa.string()),
            "hessian": pa.array([method] * n),
            "members": pa.array(members.astype(np.int32)),
            "params": list_column(minima, n),
        }
    )
    summary = {
        "run": str(run_dir),
        "candidates": len(raw),
        "minima": n,
        "hessian": method,
        "l2": settings["l2"],
        "asymptotic_basin": asymptotic_basin,
        "permutations": "hidden units sorted by bias before merging (permuted copies are one "
        "minimum)",
    }
    return write_connection(
        out,
        energy,
        minima,
        minima_table,
        paths,
        tree,
        settings,
        summary,
        start,
        quiet,
        saddle_params=True,
    )


def refuse_existing(out: Path) -> None:
    if any((out / name).exists() for name in OUTPUTS):
        raise ConfigError(
            f"--out {out} already holds a connection run; choose another --out or delete it"
        )


def extreme_eigenvalues(loss, points: np.ndarray, max_steps: int = 200):
    """(smallest, largest eigenvalue, converged) [B] of the Hessian at points [B, D], by Lanczos."""
    from .hessian import Hessian

    result = Hessian(loss, points).eigenvalues(k=1, tol=1e-4, max_steps=max_steps)
    return result["min"][:, 0], result["max"][:, 0], result["converged"]


def connect_minima(energy, minima: np.ndarray, losses: np.ndarray, settings: dict, quiet: bool):
    """Explore with the first method, run the others on the same pairs: ({method: {(a, b): Path}},
    tree)."""
    from .landscape import explore

    chosen = [path_method(name, settings[name]) for name in settings["methods"]]
    first, others = chosen[0], chosen[1:]

    def progress(a, b, p):
        if not quiet:
            print(
                f"  {p.method} {a}-{b}: saddle {p.saddle_loss:.5g}, barrier {p.barrier:.4g}, "
                f"{len(p.points)} points, length {p.length:.4g}"
            )

    explored, tree = explore(
        energy, minima, losses, first, budget=settings["budget"], on_path=progress
    )
    paths = {first.name: explored}
    for method in others:
        paths[method.name] = {}
        for a, b in sorted(explored):
            paths[method.name][(a, b)] = method.connect(energy, minima[a], minima[b])
            progress(a, b, paths[method.name][(a, b)])
    return paths, tree


def write_connection(
    out: Path,
    energy,
    minima,
    minima_table: pa.Table,
    paths: dict,
    tree,
    settings: dict,
    summary: dict,
    start: float,
    quiet: bool,
    saddle_params: bool = False,
    extra: dict | None = None,
) -> dict:
    """The outputs every connection run writes: minima, paths, tree, (extra tables), connect.json
    last."""
    out.mkdir(parents=True, exist_ok=True)
    write_table(out / "minima.parquet", minima_table)
    write_table(
        out / "paths.parquet", path_table(energy, minima, paths, saddle_params=saddle_params)
    )
    write_table(
        out / "tree.parquet",
        pa.table(
            {
                "a": pa.array([a for a, _, _ in tree], pa.int64()),
                "b": pa.array([b for _, b, _ in tree], pa.int64()),
                "saddle_loss": pa.array([s for _, _, s in tree], pa.float64()),
            }
        ),
    )
    for name, table in (extra or {}).items():
        write_table(out / name, table)
    summary = {
        **summary,
        "settings": settings,
        "paths": sum(len(p) for p in paths.values()),
        "pairs": len(next(iter(paths.values()))),
        "loss_evaluations": energy.evaluations,
        "batched_calls": energy.calls,
        "seconds": round(time.time() - start, 2),
    }
    write_json(out / "connect.json", summary)
    if not quiet:
        print(
            f"{summary.get('minima', len(minima))} minima, {summary['paths']} paths, {len(tree)} "
            f"tree edges "
            f"in {summary['seconds']} s -> {out}"
        )
    return summary


def path_table(
    energy, minima, paths: dict, line_points: int = 61, saddle_params: bool = False
) -> pa.Table:
    """One row per pair and method, with the straight line between the same minima for
    comparison."""
    rows, lines = [], {}
    for method, found in paths.items():
        for (a, b), p in sorted(found.items()):
            if (a, b) not in lines:
                lines[(a, b)] = straight_line(energy, minima[a], minima[b], line_points)
            line = lines[(a, b)]
            rows.append(
                {
                    "a": a,
                    "b": b,
                    "method": method,
                    "saddle_loss": p.saddle_loss,
                    "barrier": p.barrier,
                    "length": p.length,
                    "points": len(p.points),
                    "point_losses": p.losses.tolist(),
                    "position": p.position.tolist(),
                    "dense_losses": p.dense_losses.tolist(),
                    "line_barrier": line.barrier,
                    "line_saddle_loss": line.saddle_loss,
                    "line_length": line.length,
                    "line_losses": line.dense_losses.tolist(),
                }
                | ({"saddle_params": p.saddle_params.tolist()} if saddle_params else {})
            )
    return pa.Table.from_pylist(rows) if rows else pa.table({"a": pa.array([], pa.int64())})


def write_table(path: Path, table: pa.Table) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def connect_models(
    model_dirs,
    out,
    config=None,
    data_dir=None,
    examples: int = 1024,
    quiet: bool = False,
    methods=None,
) -> dict:
    """Connect trained CIFAR models (``fla train`` outputs) with the path methods over their
    weights.

    Losses along the paths are taken on the first ``examples`` training images (normalised as the
    models were trained); the Table-1 summary evaluates the minima and the saddles of the spanning
    tree on the whole training and test sets, with the extreme Hessian eigenvalues there (Lanczos on
    the same ``examples`` images). BatchNorm uses batch statistics (fla.zoo.objective).
    """
    import tensorflow as tf

    from .paths import Energy
    from .zoo.cifar import CLASSES, load_cifar
    from .zoo.models import build
    from .zoo.objective import KerasObjective
    from .zoo.train import normalise

    out = Path(out)
    refuse_existing(out)
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
    paths, tree = connect_minima(energy, minima, losses, settings, quiet)

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
    table.to_pandas().to_csv(out / "table1.csv", index=False)
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
        "batch_norm": "batch statistics (training mode) for every point, minima and saddles alike",
    }
    summary = write_connection(
        out,
        energy,
        minima,
        minima_table,
        paths,
        tree,
        settings,
        summary,
        start,
        quiet,
        extra={"table1.parquet": table},
    )
    if not quiet:
        print(table.to_pandas().to_string(index=False))
        print(f"saddle / minimum training loss: {ratio}")
    return summary
