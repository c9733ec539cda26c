"""Attractors of a configuration: the stationary clusters its walks settle into.

Method (stated so that it can be checked and re-run with other thresholds):

1. Stationary points: points with gradient norm below ``grad_threshold`` (default 0.01).
2. Clusters: the stationary points' losses, sorted, are cut wherever two neighbours differ by more
   than ``gap`` = max(``abs_gap``, ``rel_gap`` x the stationary points' loss range) (defaults 1e-3
   and 0.01; the range of all points would let far-off starting losses at bound 10 merge
   attractors): single-linkage clustering in one dimension. Clusters of fewer than ``min_points``
   points (default 5) are dropped as transients.
3. Per attractor: its loss (median), loss range, number of points, share of all the configuration's
   points, curvature (the shares of each class among its points with a known class, and the most
   common class of the sampled points), and the lowest attractor is marked ``lowest``.
4. One verdict per attractor (``verify_attractors``): quenches from its points decide
   ``verified`` and, from it, ``local_minimum``: ``yes`` for a verified minimum that is not the
   configuration's lowest attractor, ``no`` for any other verdict (a saddle, a plateau, the
   asymptotic basin, the lowest attractor), and ``unverified`` where no quench ran (no endpoint
   inside it, or quenches with an added L2 term, which verify another loss). The sampled
   curvature never decides it: a sampled class is a statement about the points, a quench one
   about the attractor.

A configuration here is (problem, width, depth, granularity, bound): the walks of all its seeds are
pooled. The paper counted attractors by eye on l-g clouds; this turns the same reading into numbers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from fla.curvature.classes import EXACT_MAX_PARAMS_FEW, hessian_index
from fla.paths.minima import VANISHING_LOSS

from .data import CONFIGURATION, row_configuration, same, where

CLASSES = ["convex", "concave", "saddle", "flat"]
UNVERIFIED = "unverified"


def cluster_losses(losses: np.ndarray, gap: float) -> np.ndarray:
    """Cluster labels in order of loss: sorted losses cut at gaps larger than ``gap``.

    Args:
        losses: [P] losses.
        gap: the gap that separates clusters.

    Returns:
        [P] labels 0, 1, ... (0 the lowest).
    """
    order = np.argsort(losses, kind="stable")
    cuts = np.concatenate([[0], np.diff(losses[order]) > gap]).cumsum()
    labels = np.empty(len(losses), int)
    labels[order] = cuts
    return labels


def attractors(
    points: pd.DataFrame,
    total_points: int,
    grad_threshold: float = 0.01,
    *,
    abs_gap: float = 1e-3,
    rel_gap: float = 0.01,
    min_points: int = 5,
) -> pd.DataFrame:
    """The attractors of one configuration: its stationary points (gradient norm below
    ``grad_threshold``) clustered by loss, each cluster of at least ``min_points`` points an
    attractor, with its loss range, share of all points and curvature.

    Args:
        points: the configuration's stationary points (loss, grad_norm, curvature columns).
        total_points: all its points, for the shares.
        grad_threshold: the gradient norm of a stationary point.
        abs_gap: the absolute part of the loss gap that separates clusters.
        rel_gap: its part relative to the loss.
        min_points: the fewest points of an attractor.

    Returns:
        One row per attractor.
    """
    stationary = points[points.grad_norm < grad_threshold]
    span = float(stationary.loss.max() - stationary.loss.min()) if len(stationary) else 0.0
    gap = max(abs_gap, rel_gap * span)
    columns = [
        "attractor",
        "loss",
        "loss_min",
        "loss_max",
        "points",
        "share",
        "curvature",
        "local_minimum",
        "lowest",
    ] + [f"share_{c}" for c in CLASSES]
    if stationary.empty:
        return pd.DataFrame(columns=columns)
    labels = cluster_losses(stationary.loss.to_numpy(np.float64), gap)
    rows = []
    for label in np.unique(labels):
        group = stationary[labels == label]
        if len(group) < min_points:
            continue
        known = group.curvature.dropna()
        shares = {f"share_{c}": (known == c).mean() if len(known) else np.nan for c in CLASSES}
        rows.append(
            {
                "loss": group.loss.median(),
                "loss_min": group.loss.min(),
                "loss_max": group.loss.max(),
                "points": len(group),
                "share": len(group) / total_points,
                "curvature": known.mode().iloc[0] if len(known) else None,
                **shares,
            }
        )
    table = pd.DataFrame(
        rows, columns=[c for c in columns if c not in ("attractor", "local_minimum", "lowest")]
    )
    if table.empty:
        return pd.DataFrame(columns=columns)
    table.insert(0, "attractor", range(len(table)))
    table["lowest"] = table.loss == table.loss.min()
    table["local_minimum"] = UNVERIFIED  # decided by quenches alone (verify_attractors)
    return table[columns]


def attractor_table(dataset, grad_threshold: float = 0.01, **kwargs) -> pd.DataFrame:
    """The attractors of every configuration of a run, reading only stationary points (the filter
    pushed down).

    Args:
        dataset: the run's points.
        grad_threshold: the gradient norm of a stationary point.
        **kwargs: ``attractors``' gaps and minimum size.

    Returns:
        One row per configuration and attractor.
    """
    from .data import count_by

    totals = count_by(dataset, CONFIGURATION)
    tables = []
    for config in totals.to_dict("records"):  # records: itertuples renames the key 'lambda'
        expr = where(**{key: config[key] for key in CONFIGURATION})
        points = dataset.to_table(
            columns=["loss", "grad_norm", "curvature"],
            filter=expr & (pc.field("grad_norm") < grad_threshold),
        ).to_pandas()
        table = attractors(points, config["count"], grad_threshold, **kwargs)
        for key in reversed(CONFIGURATION):
            table.insert(0, key, config[key])
        tables.append(table)
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


# ---- verification by quenching (Mehta, Zhao, Bernal and Wales 2018 ask of every minimum)
# ----------

QUENCH_GTOL = 1e-6  # a quench ends when the gradient norm is below this (or after QUENCH_ITER)
QUENCH_ITER = 3000
# the loss "still decreases" when the quench ends below the attractor's lowest loss by more than
# max(1e-3, 1% of it): the walks' points lay on a plateau or in a saddle region
ESCAPE_GAP = (1e-3, 0.01)
VERIFIED_COLUMNS = [
    "verified",
    "checked",
    "quenched_loss",
    "quench_drop",
    "index",
    "null_space",
    "l2",
]


ORDER = [
    "minimum",
    "saddle",
    "stationary (index unknown)",
    "loss decreases (plateau or saddle region)",
    "asymptotic basin",
    "not converged",
]


def classify_quench(floor, loss, grad_norm, *, l2, negative) -> str:
    """What a quench from a sampled point says about it.

    Args:
        floor: the attractor's lowest loss less the escape gap.
        loss: the quenched loss.
        grad_norm: the quenched gradient norm.
        l2: the quench's L2 term.
        negative: the quenched point's number of negative Hessian eigenvalues (None: not computed).

    Returns:
        ``loss decreases (plateau or saddle region)``, ``asymptotic basin``, ``not converged``,
            ``stationary (index unknown)``, ``minimum`` or ``saddle (index k)``.
    """
    if loss < floor:
        return "loss decreases (plateau or saddle region)"
    if l2 == 0 and loss < VANISHING_LOSS:
        return "asymptotic basin"  # the loss vanishes only as the weights grow: no isolated minimum
    if grad_norm > QUENCH_GTOL:
        return "not converged"
    if negative is None:
        return "stationary (index unknown)"
    return "minimum" if negative == 0 else f"saddle (index {negative})"


def architecture_objective(config: dict, l2: float, data_dir=None):
    """The objective a run's walks followed (its loss and regulariser), in float64; with ``l2`` its
    loss plus that L2 penalty instead (Mehta et al.'s quench), which a run that walked a regularised
    objective refuses (``fla.core.objective.run_objective``).

    Args:
        config: the run's configuration.
        l2: the quench's L2 term.
        data_dir: the folder of data files.

    Returns:
        The float64 ``Objective``.
    """
    import tensorflow as tf

    from fla.core.objective import run_network, run_objective

    network, problem = run_network(config, data_dir)
    return run_objective(config, network, problem, dtype=tf.float64, l2=l2)


def quench_points(f, params: np.ndarray, floors: np.ndarray) -> pd.DataFrame:
    """Quench parameter vectors with one batched L-BFGS and say what each reached.

    Args:
        f: the objective (``architecture_objective``).
        params: [B, D] the points.
        floors: [B] each point's escape level.

    Returns:
        One row per point: the verdict of ``classify_quench``, the quenched loss, the drop, and the
            Hessian index and null space (not for asymptotic points, whose Hessian vanishes).
    """
    import tensorflow as tf

    from fla.paths.minima import polish
    from fla.paths.record import Energy

    energy = Energy(f, tf.float64)
    start = np.asarray(params, np.float64)
    start_loss = energy.values(start)
    ends, losses, grads = polish(energy, start, gtol=QUENCH_GTOL, max_iter=QUENCH_ITER)
    negative = zero = [None] * len(ends)
    if f.n_params <= EXACT_MAX_PARAMS_FEW:  # index and null space; beyond, the index is unknown
        negative, zero = hessian_index(np.linalg.eigvalsh(f.hessian(ends).numpy()))
    rows = []
    for i in range(len(ends)):
        verdict = classify_quench(floors[i], losses[i], grads[i], l2=f.l2, negative=negative[i])
        exact = verdict != "asymptotic basin"
        rows.append(
            {
                "verdict": verdict,
                "quenched_loss": losses[i],
                "drop": start_loss[i] - losses[i],
                "index": negative[i] if exact else None,
                "null_space": zero[i] if exact else None,
            }
        )
    return pd.DataFrame(rows)


def verify_attractors(
    run_dir,
    table: pd.DataFrame,
    l2: float = 0.0,
    *,
    representatives: int = 3,
    grad_threshold: float = 0.01,
    data_dir=None,
    quiet: bool = True,
) -> pd.DataFrame:
    """The attractor table with what quenches find (a line of progress an architecture unless
    ``quiet``, with the time left).

    Representatives: the run's recorded stationary points when it kept parameters (--record-params),
    else the walk endpoints, whose loss, recomputed in float64 without the L2 term, lies in the
    attractor's loss range and whose gradient norm is below ``grad_threshold``; up to
    ``representatives`` per attractor, in file order. Each is quenched by L-BFGS on the run's
    objective plus ``l2`` |theta|^2 (all of an architecture's in one batch); ``verified`` is the
    most common verdict of ``classify_quench`` and decides ``local_minimum`` (``verdict``), with the
    median quenched loss and drop, and the most common Hessian index and null-space dimension
    (|eigenvalue| <= 1e-8 x the largest counts as zero). Attractors without an endpoint inside are
    left unverified. With ``l2`` > 0 the quench minimises another loss than the one sampled, so the
    verdict says only what it reaches (minimum, saddle, not converged).

    Args:
        run_dir: the run.
        table: ``attractor_table``'s rows.
        l2: the quench's L2 term.
        representatives: the most points quenched an attractor.
        grad_threshold: the gradient norm of a stationary point.
        data_dir: the folder of data files.
        quiet: no progress.

    Returns:
        The table with the quenches' columns.
    """
    import logging

    from fla.base.settings import check, flag

    from .settings import ReportSettings

    check(ReportSettings(l2=l2), flag)  # a negative or non-finite L2 term is no quench
    table = table.copy()
    for column in VERIFIED_COLUMNS:
        table[column] = None
    table["l2"] = l2
    if table.empty:
        return table
    # one objective per architecture: TF's retracing notices are expected
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        table = _verify(
            run_dir,
            table,
            l2,
            representatives=representatives,
            grad_threshold=grad_threshold,
            data_dir=data_dir,
            quiet=quiet,
        )
    finally:
        logger.setLevel(level)
    table["local_minimum"] = [verdict(v, low, l2) for v, low in zip(table.verified, table.lowest)]
    return table


def verdict(verified, lowest: bool, l2: float) -> str:
    """``local_minimum`` from a quench's verdict.

    Args:
        verified: the most common verdict (``classify_quench``), or None.
        lowest: whether the attractor is the configuration's lowest.
        l2: the quench's L2 term.

    Returns:
        ``yes`` (a minimum, not the lowest attractor), ``no``, or ``unverified`` (no quench, or one
            of another loss: the walked one plus an L2 term).
    """
    if verified is None or l2:
        return UNVERIFIED
    return "yes" if verified == "minimum" and not lowest else "no"


def candidates(folder, config: dict, grad_threshold: float) -> np.ndarray:
    """Parameter vectors a configuration offers for quenching: its recorded stationary points when
    the run kept parameters (--record-params), then its walk endpoints.

    Args:
        folder: the configuration's folder.
        config: its configuration.
        grad_threshold: the gradient norm of a stationary point.

    Returns:
        [B, D] float64.
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from fla.base.store import ENDPOINTS, POINTS

    parts = []
    if config.get("record_params"):
        recorded = (
            pq.read_table(
                folder / POINTS, columns=["params"], filters=pc.field("grad_norm") < grad_threshold
            )
            .column("params")
            .drop_null()
        )
        if len(recorded):
            parts.append(np.stack(recorded.to_pylist()))
    parts.append(
        np.stack(pq.read_table(folder / ENDPOINTS, columns=["params"]).column("params").to_pylist())
    )
    return np.concatenate(parts).astype(np.float64)


def _verify(run_dir, table, l2, *, representatives, grad_threshold, data_dir, quiet=True):
    import json
    import time

    from fla.base.store import RUN_JSON, configurations

    picks: dict = {}  # architecture -> (config, [(attractor row, params)])
    plain: dict = {}
    for folder in configurations(run_dir)[0]:
        config = json.loads((folder / RUN_JSON).read_text())["config"]
        recorded = row_configuration(config)
        # one objective per network and objective the walks followed
        arch = (config.get("target"),) + tuple(recorded[k] for k in CONFIGURATION[:-2])
        if arch not in plain:
            plain[arch] = architecture_objective(config, 0.0, data_dir)
        f = plain[arch]
        params = candidates(folder, config, grad_threshold)
        losses = f.data_loss(params).numpy()  # the recorded loss is the data loss
        grads = np.linalg.norm(f.gradient(params).numpy(), axis=1)  # of the walked objective
        rows = table[
            np.logical_and.reduce([[same(v, recorded[k]) for v in table[k]] for k in CONFIGURATION])
        ]
        for index, attractor in rows.iterrows():
            inside = np.flatnonzero(
                (losses >= attractor.loss_min)
                & (losses <= attractor.loss_max)
                & (grads < grad_threshold)
            )
            entry = picks.setdefault(arch, (config, []))[1]
            taken = sum(1 for row, _ in entry if row == index)
            entry += [(index, params[i]) for i in inside[: max(0, representatives - taken)]]
    todo = [(arch, config, entry) for arch, (config, entry) in picks.items() if entry]
    start = time.time()
    for done, (arch, config, entry) in enumerate(todo):
        if not quiet:
            left = (time.time() - start) / done * (len(todo) - done) if done else None
            eta = f", about {left:.0f} s left" if left is not None else ""
            print(
                f"  quenching {len(entry)} points of {arch[1]} width {arch[2]} depth {arch[3]} "
                f"({done + 1} of {len(todo)} architectures{eta})",
                flush=True,
            )
        lowest = np.array([table.loc[row, "loss_min"] for row, _ in entry], np.float64)
        floors = lowest - np.maximum(ESCAPE_GAP[0], ESCAPE_GAP[1] * np.abs(lowest))
        if l2 or plain[arch].regulariser.active:
            # another loss than the one recorded (a penalty added): no escape test
            floors[:] = -np.inf
        result = quench_points(
            architecture_objective(config, l2, data_dir) if l2 else plain[arch],
            np.stack([p for _, p in entry]),
            floors,
        )
        result["row"] = [row for row, _ in entry]
        for index, group in result.groupby("row"):
            counts = group.verdict.value_counts()
            best = counts[counts == counts.max()].index
            table.loc[index, "verified"] = min(
                best, key=lambda v: [o in v for o in ORDER].index(True)
            )
            table.loc[index, "checked"] = len(group)
            table.loc[index, "quenched_loss"] = float(group.quenched_loss.median())
            table.loc[index, "quench_drop"] = float(group["drop"].median())
            known = group.dropna(subset=["index"])
            if len(known):
                table.loc[index, "index"] = int(known["index"].mode().iloc[0])
                table.loc[index, "null_space"] = int(known.null_space.mode().iloc[0])
    return table
