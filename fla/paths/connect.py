"""``fla connect RUN_DIR``: the minima a sampling run found, and the paths that connect them.

Reads one configuration's directory (run.json, endpoints.parquet), polishes the walk endpoints into
minima, merges duplicates (``fla.paths.minima``), and explores the landscape with a path method
(AutoNEB by default; ``fla.paths.explore``, ``fla.paths.methods``); every further method named
in ``methods`` is run on the same pairs, so that they can be compared. The outputs are written by
``fla.paths.outputs``; ``fla connect --models`` (``fla.zoo.connect``) does the same for
trained CIFAR models.

Settings come from a TOML file (--config), declared once in ``ConnectSettings``,
``Polish`` and ``Merge``; every key is optional:

    max_minima = 10         # connect the lowest distinct minima only
    budget = 20             # most pairs connected
    low_gradient = 0.0      # also polish recorded points with a gradient norm below this
    l2 = 0.0                # lambda: minimise loss + lambda |theta|^2 (--l2 overrides)
    methods = ["autoneb"]   # path methods: autoneb, neb, bezier, polychain; the first explores
    aligned_paths = true    # every method again between weight-matched endpoints
    [polish]  gtol = 1e-5, max_iter = 2000
    [merge]   loss_tol = 1e-4, distance_tol = 1e-3
    [autoneb] climb = true, optimizer = "fire", ...  # a section per method: any of its settings
    [bezier]  bends = 1, steps = 1000, ...
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fla.base.errors import ConfigError
from fla.base.settings import (
    boolean,
    build,
    custom,
    integer,
    number,
    read_toml,
    setting,
    text,
    values_of,
)
from fla.base.store import ENDPOINTS, RUN_JSON, list_column, verify
from fla.curvature.classes import (
    CLASSES,
    EXACT_MAX_PARAMS_FEW,
    curvature_codes,
    eigenvalues,
    extreme_codes,
    reduced_codes,
    reduced_extreme_codes,
)
from fla.paths.alignment import alignment_rows, mlp_matchings, weight_matched
from fla.paths.methods import methods as path_methods
from fla.paths.methods import path_method
from fla.paths.minima import VANISHING_LOSS
from fla.paths.outputs import OUTPUTS, write_connection
from fla.paths.search import search

METHOD_NAMES = custom(
    lambda v: (
        isinstance(v, (list, tuple))
        and len(v) > 0
        and all(isinstance(m, str) for m in v)
        and len(set(v)) == len(v)
    ),
    "a non-empty list of distinct method names",
    None,
)


@dataclass(frozen=True)
class Polish:
    """[polish]: L-BFGS from the walk endpoints to minima."""

    gtol: float = setting(1e-5, "largest gradient norm at a minimum", number(above=0))
    max_iter: int = setting(2000, "most L-BFGS iterations", integer(at_least=1))


@dataclass(frozen=True)
class Merge:
    """[merge]: when two polished points are one minimum (after canonical unit order and weight
    matching)."""

    loss_tol: float = setting(1e-4, "most loss difference", number(at_least=0))
    distance_tol: float = setting(1e-3, "most distance, relative to |theta|", number(at_least=0))


@dataclass(frozen=True)
class ConnectSettings:
    """The top-level keys of a connect settings file."""

    max_minima: int = setting(10, "connect the lowest distinct minima only", integer(at_least=1))
    budget: int = setting(20, "most pairs connected", integer(at_least=0))
    low_gradient: float = setting(
        0.0, "also polish recorded points with gradient norm below this", number(at_least=0)
    )
    l2: float = setting(0.0, "lambda of the loss + lambda |theta|^2 minimised", number(at_least=0))
    methods: tuple = setting(("autoneb",), "path methods; the first explores", METHOD_NAMES)
    aligned_paths: bool = setting(
        True,
        "also run every method between each pair's weight-matched endpoints (where matching "
        "relabels the second minimum), for alignment.parquet",
        boolean(),
    )


@dataclass(frozen=True)
class ConnectFlags:
    """What ``fla connect``'s flags set beside its settings file: they override its ``l2`` and
    ``methods``; ``examples`` is the CIFAR models' (``--models``) number of training images."""

    l2: float | None = setting(
        None,
        "add LAMBDA |theta|^2 to the loss (isolated minima; recorded in the outputs); overrides "
        "the config's l2 (default 0)",
        number(at_least=0, optional=True),
        metavar="LAMBDA",
    )
    method: tuple | None = setting(
        None,
        "path method; repeat to compare several on the same pairs (the first explores); "
        "overrides the config's methods (default autoneb)",
        values_of(text(), "path method names", count=(1, 64), optional=True),
        nargs="append",
        metavar="{autoneb,neb,bezier,polychain}",
    )
    examples: int = setting(
        1024,
        "--models: training images the path losses are taken on",
        integer(at_least=1),
    )


def load_settings(path=None, methods=None, l2=None) -> dict:
    """The settings of a connection: defaults, overridden by the TOML file at ``path``, then by
    ``methods`` (--method) and ``l2``; unknown keys and settings are refused by name.

    Args:
        path: a connect settings file (``fla settings connect`` prints its template), or None.
        methods: path method names, the first explores (overrides the file's ``methods``).
        l2: lambda of the loss + lambda |theta|^2 (overrides the file's ``l2``).

    Returns:
        The settings as a dict: ``ConnectSettings``' keys, ``polish`` and ``merge``, and a section
            per method used, held in full.

    Raises:
        ConfigError: an unknown key or method, or a value its setting refuses.
    """
    where = f"--config {path}: " if path else "settings: "
    given = read_toml(path, "--config") if path is not None else {}
    known = path_methods()
    sections = {key: given.pop(key) for key in list(given) if key in known}
    for key, value in sections.items():
        if not isinstance(value, dict):
            raise ConfigError(f"{where}[{key}] must be a section of that method's settings")
    parts = {}
    for key, cls in (("polish", Polish), ("merge", Merge)):
        parts[key] = build(cls, given.pop(key, {}), where, lambda name, k=key: f"{k}.{name}")
    if methods:
        given["methods"] = list(methods)
    if l2 is not None:
        given["l2"] = l2
    top = build(ConnectSettings, given, where)
    for name in top.methods:
        path_method(name, None, f"{where}methods: ")
    settings = {**dataclasses.asdict(top), "methods": list(top.methods)}
    settings.update({key: dataclasses.asdict(part) for key, part in parts.items()})
    for name in known:  # every method's section checked; those used kept in full
        if name in sections or name in top.methods:
            method = path_method(name, sections.get(name), where)
            settings[name] = dataclasses.asdict(method)
    return settings


def finite_rows(points: np.ndarray, what: str, quiet: bool) -> np.ndarray:
    """The rows of points whose values are all finite; a warning names how many were dropped.

    Args:
        points: [B, D] points.
        what: what the points are, for the warning and the error.
        quiet: no warning.

    Returns:
        [B', D] the finite rows.

    Raises:
        ConfigError: no finite row remains.
    """
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
    """The points polished into minima: each walk's end, and with ``low_gradient`` > 0 every
    recorded point whose gradient norm is below it.

    Args:
        run_dir: a verified sampling run of one configuration.
        low_gradient: the gradient norm below which recorded points are polished too (0: ends only).

    Returns:
        [B, D] float64 candidates.
    """
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


def asymptotic(losses: np.ndarray) -> np.ndarray:
    """Which polished points lie in the asymptotic basin. Without an L2 term a cross-entropy reaches
    0 only as the weights grow without bound (the margins must diverge), so a polished loss below
    ``VANISHING_LOSS`` marks a point on the way to infinity, where polishing stops only because the
    gradient has vanished too: not an isolated minimum. They are reported as one basin.

    Args:
        losses: [B] polished losses.

    Returns:
        [B] booleans.
    """
    return losses < VANISHING_LOSS


def connect(
    run_dir, out, config=None, *, data_dir=None, quiet: bool = False, methods=None, l2=None
) -> dict:
    """Polish a sampling run's walk ends into minima, merge duplicates, connect them (``fla
    connect``), and write the minima, paths, tree and alignment tables into ``out``, holding its
    lock throughout.

    Args:
        run_dir: a verified sampling run of one configuration.
        out: the output folder (new, or a connection fla wrote); not inside ``run_dir``'s inputs.
        config: a connect settings file (``load_settings``), or None for the defaults.
        data_dir: the folder of data files (default $FLA_DATA, else ~/.cache/fla).
        quiet: no progress.
        methods: path methods overriding the settings'.
        l2: lambda overriding the settings'.

    Returns:
        The summary written to ``out``/connect.json: the settings, the counts of minima and paths,
            the loss evaluations, the seconds, and each table's size and SHA-256.

    Raises:
        ConfigError: a damaged or unfinished run, bad settings, or more memory than the machine has.
    """
    from fla.base.outputs import claim_folder, remove_files

    run_dir, out = Path(run_dir), Path(out)
    problem_with_run = verify(run_dir)
    if problem_with_run is not None or not (run_dir / ENDPOINTS).is_file():
        raise ConfigError(
            f"{run_dir} is not a complete, verified sampling run of one configuration "
            f"({problem_with_run or 'no ' + ENDPOINTS}); give one configuration's directory"
        )
    settings = load_settings(config, methods, l2)
    check_connect_resources(run_dir, settings)
    with claim_folder(out, "fla connect", OUTPUTS, source=run_dir, what="a connection run"):
        try:
            return _connect(run_dir, out, settings, data_dir=data_dir, quiet=quiet)
        except BaseException:  # what it wrote goes (the folder was new or empty)
            remove_files(out, OUTPUTS)
            raise


ALIGNMENT_PATTERNS = 1000  # activation matching's patterns: the first of the training set
PENALTY_MAX = 1e300  # lambda |theta|^2 at 10 x the endpoints' norm stays finite in float64


def check_connect_resources(run_dir: Path, settings: dict) -> None:
    """Refuse before any work what cannot run: the memory of polishing every endpoint and of each
    path method's band or curve, and an l2 whose term overflows float64 for the endpoints.

    Args:
        run_dir: the sampling run.
        settings: the connection's settings (``load_settings``).

    Raises:
        ConfigError: naming the setting that drives the need.
    """
    from fla.base.machine import check_memory
    from fla.paths.neb import DENSE

    meta = json.loads((run_dir / RUN_JSON).read_text())
    walks, d = meta["plan"]["walks"], meta["plan"]["n_params"]
    check_memory(  # polishing holds about 25 [endpoints, D] float64 arrays (L-BFGS history)
        25 * 8 * walks * d,
        f"polishing {walks:,} walk endpoints of D = {d:,}",
        "connect a configuration of fewer walks",
    )
    for name in settings["methods"]:
        method = settings[name]
        if "points" in method:  # a curve: its evaluated points and a batch of t, 4 copies each
            rows, key = method["points"] + method["batch"], f"[{name}] points"
        else:  # a band: its pivots and the points between them
            pivots = method.get("max_pivots", method.get("pivots", 10) + 2)
            rows, key = (pivots + 2) * (DENSE + 1), f"[{name}] pivots"
        check_memory(
            4 * 8 * rows * d, f"{name} paths of {rows:,} points of D = {d:,}", f"reduce {key}"
        )
    if settings["l2"]:
        ends = np.stack(
            pq.read_table(run_dir / ENDPOINTS, columns=["params"]).column(0).to_pylist()
        )
        with np.errstate(over="ignore"):
            reach = settings["l2"] * (10 * np.linalg.norm(ends, axis=1).max()) ** 2
        if not reach < PENALTY_MAX:
            raise ConfigError(
                f"--l2 {settings['l2']:g}: the L2 term of these endpoints (norms up to "
                f"{np.linalg.norm(ends, axis=1).max():.3g}) overflows float64; give a smaller one"
            )


def _connect(run_dir, out, settings, *, data_dir, quiet) -> dict:
    import tensorflow as tf

    from fla.core.objective import run_network, run_objective
    from fla.paths.minima import canonical, merge, polish
    from fla.paths.record import Energy

    meta = json.loads((run_dir / RUN_JSON).read_text())
    cfg = meta["config"]
    network, problem = run_network(cfg, data_dir)
    # the objective the walks followed (their loss and regulariser), or theirs plus --l2
    objective = run_objective(cfg, network, problem, dtype=tf.float64, l2=settings["l2"])
    energy = Energy(objective, tf.float64)
    start = time.time()

    raw = candidates(run_dir, settings["low_gradient"])
    offered = len(raw)
    raw = raw[finite_rows(raw, "walk endpoints", quiet)]
    if not quiet:
        print(
            f"polishing {len(raw):,} candidates (D = {network.n_params:,}, L-BFGS to a gradient "
            f"norm of {settings['polish']['gtol']:g}), then up to {settings['budget']} pairs with "
            f"{', '.join(settings['methods'])}",
            flush=True,
        )
    polished, losses, grad_norms = polish(energy, raw, **settings["polish"])
    keep = finite_rows(np.column_stack([polished, losses, grad_norms]), "polished points", quiet)
    polished, losses, grad_norms, raw = polished[keep], losses[keep], grad_norms[keep], raw[keep]
    penalised = objective.regulariser.active
    basin = asymptotic(losses) if not penalised else np.zeros(len(polished), bool)
    if basin.all():
        raise ConfigError(
            f"all {len(basin)} polished points lie in one asymptotic basin (loss below "
            f"{VANISHING_LOSS:g}, approached as the weights grow: no isolated minima); "
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
    # merged up to relabelling: sorting units by bias leaves units with tied biases apart
    kept, groups = merge(canon, losses, **settings["merge"], align=weight_matched(network))
    every = np.bincount(groups)  # group g is kept[g]: lowest loss first
    members = every[: settings["max_minima"]]
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
    eig_min, eig_max, codes, reduced, nulls, method = minima_curvature(objective, minima)

    paths, tree = connect_minima(energy, minima, min_losses, settings=settings, quiet=quiet)
    pairs = sorted(next(iter(paths.values())))
    x = problem.x_train[:ALIGNMENT_PATTERNS]
    alignment = pa.table(
        alignment_rows(
            energy,
            minima,
            pairs=pairs,
            matchings=mlp_matchings(network, x),
            **aligned_searches(paths, settings, quiet=quiet),
        )
    )
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
            "reduced_curvature": pa.array(names[reduced], pa.string()),
            "null_directions": pa.array(nulls.astype(np.int32)),
            "hessian": pa.array([method] * n),
            "members": pa.array(members.astype(np.int32)),
            "params": list_column(minima, n),
        }
    )
    summary = {
        "run": str(run_dir),
        "candidates": offered,
        "minima": n,
        "hessian": method,
        "l2": settings["l2"],
        "asymptotic_basin": asymptotic_basin,
        # where every candidate went: each minimum's members, and the rest by reason
        "candidates_went": {
            "minima": int(members.sum()),
            "other minima (beyond max_minima)": int(every[settings["max_minima"] :].sum()),
            "asymptotic basin": int(basin.sum()),
            "non-finite": int(offered - len(basin)),
        },
        "permutations": "hidden units sorted by bias, and each candidate weight-matched to each "
        "kept minimum, before merging (relabelled copies are one minimum); alignment.parquet: "
        "each pair's straight line before and after weight and "
        f"activation matching (on the first {ALIGNMENT_PATTERNS} training patterns)"
        + (
            ", and every method's path between weight-matched endpoints"
            if settings["aligned_paths"]
            else ""
        ),
    }
    return write_connection(
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
        saddle_params=True,
        extra={"alignment.parquet": alignment},
    )


def aligned_searches(paths: dict, settings: dict, *, quiet: bool) -> dict:
    """``fla.paths.alignment.alignment_rows``' ``paths`` and ``methods``: every method of the
    connection where the settings ask for paths between aligned endpoints, none otherwise.

    Args:
        paths: {method: {(a, b): PathRecord}} the paths found.
        settings: the connection's settings.
        quiet: no progress.

    Returns:
        {"paths": ..., "methods": ...}, keywords of ``alignment_rows``; {} where the settings'
            ``aligned_paths`` is off or nothing was connected.
    """
    if not settings["aligned_paths"] or not paths:
        return {}
    if not quiet:
        pairs = len(next(iter(paths.values())))
        print(f"each method again between the {pairs} pairs' weight-matched endpoints", flush=True)
    methods = [path_method(name, settings[name]) for name in settings["methods"]]
    return {"paths": paths, "methods": methods}


def minima_curvature(objective, minima: np.ndarray):
    """The curvature of minima on the training set: exact spectra up to ``EXACT_MAX_PARAMS_FEW``,
    else Lanczos on the reduced Hessian (``fla.curvature.reduced``, to 1e-4).

    Args:
        objective: the run's ``fla.core.objective.Objective``.
        minima: [B, D] the minima.

    Returns:
        (eig_min [B], eig_max [B], the paper's class codes [B], the reduced class codes [B], null
            directions [B], the method: ``"exact"`` or ``"lanczos"``).
    """
    from fla.curvature import reduced

    x, y = objective.problem.x_train, objective.problem.y_train
    if objective.n_params <= EXACT_MAX_PARAMS_FEW:
        eigs = eigenvalues(objective.hessian(minima))
        nulls = reduced.null_counts(objective, minima, x)
        codes, kept = curvature_codes(eigs), reduced_codes(eigs, nulls)
        return eigs[:, 0], eigs[:, -1], codes, kept, nulls, "exact"
    found = reduced.extremes(objective, minima, x, y=y, tol=1e-4, steps=200)
    nulls, done = found["nulls"], found["converged"]
    paper = np.where(nulls > 0, 3, extreme_codes(found["eig_min"], found["eig_max"]))
    kept = reduced_extreme_codes(found["reduced_min"], found["reduced_max"])
    codes, kept = np.where(done, paper, -1), np.where(done, kept, -1)
    return found["eig_min"], found["eig_max"], codes, kept, nulls, "lanczos"


def extreme_eigenvalues(loss, points: np.ndarray, max_steps: int = 200):
    """The extreme eigenvalues of the Hessian at points, by Lanczos
    (``fla.curvature.lanczos.Hessian.eigenvalues``).

    Args:
        loss: an objective, or a batched loss function (``Hessian``'s ``loss``).
        points: [B, D] the points.
        max_steps: the most Lanczos steps.

    Returns:
        (smallest [B], largest [B], converged [B]).
    """
    from fla.curvature.lanczos import Hessian

    result = Hessian(loss, points).eigenvalues(k=1, tol=1e-4, max_steps=max_steps)
    return result["min"][:, 0], result["max"][:, 0], result["converged"]


def connect_minima(energy, minima: np.ndarray, losses: np.ndarray, *, settings: dict, quiet: bool):
    """Connect minima: Draxler et al.'s landscape exploration (``fla.paths.explore``) with the first
    method, then the other methods on the same pairs.

    Args:
        energy: the ``fla.paths.surfaces.Energy`` of the loss.
        minima: [M, D] the distinct minima, lowest first.
        losses: [M] their losses.
        settings: the connection's settings (``load_settings``).
        quiet: no progress.

    Returns:
        ({method: {(a, b): PathRecord}}, the minimum spanning tree of saddle losses).
    """
    from fla.paths.explore import explore

    chosen = [path_method(name, settings[name]) for name in settings["methods"]]
    first, others = chosen[0], chosen[1:]
    n = len(minima)
    total = min(settings["budget"], n * (n - 1) // 2) * len(chosen)
    start, done = time.time(), [0]

    def progress(a, b, p):
        done[0] += 1
        if not quiet:
            note = (
                "" if p.search == "ok" else f" [{'FAILED' if p.failed else 'retried'}: {p.search}]"
            )
            left = (time.time() - start) / done[0] * max(total - done[0], 0)
            print(
                f"  [{done[0]}/{total}, about {left:.0f} s left] {p.method} {a}-{b}: saddle "
                f"{p.saddle_loss:.5g}, barrier {p.barrier:.4g}, {len(p.points)} points, length "
                f"{p.length:.4g}{note}",
                flush=True,
            )

    explored, tree = explore(
        energy, minima, losses, method=first, budget=settings["budget"], on_path=progress
    )
    paths = {first.name: explored}
    for method in others:
        paths[method.name] = {}
        for a, b in sorted(explored):
            paths[method.name][(a, b)] = search(energy, method, minima[a], b=minima[b])
            progress(a, b, paths[method.name][(a, b)])
    return paths, tree
