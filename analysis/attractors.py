"""Attractors of a configuration: the stationary clusters its walks settle into.

Method (stated so that it can be checked and re-run with other thresholds):

1. Stationary points: points with gradient norm below ``grad_threshold`` (default 0.01).
2. Clusters: the stationary points' losses, sorted, are cut wherever two neighbours differ by more
   than ``gap`` = max(``abs_gap``, ``rel_gap`` x the stationary points' loss range) (defaults 1e-3
   and 0.01; the range of all points would let far-off starting losses at bound 10 merge attractors): single-linkage clustering in one dimension. Clusters of fewer than
   ``min_points`` points (default 5) are dropped as transients.
3. Per attractor: its loss (median), loss range, number of points, share of all the configuration's
   points, curvature (the shares of each class among its points with a known class, and the most
   common class), and ``local_minimum``: most common class convex and loss above the lowest attractor
   by more than ``gap``. The lowest attractor is marked ``lowest``.

A configuration here is (problem, width, depth, granularity, bound): the walks of all its seeds are
pooled. The paper counted attractors by eye on l-g clouds; this turns the same reading into numbers.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from .data import CONFIGURATION

CLASSES = ["convex", "concave", "saddle", "flat"]


def cluster_losses(losses: np.ndarray, gap: float) -> np.ndarray:
    """Cluster labels (0, 1, ...) in order of loss: cut sorted losses at gaps larger than ``gap``."""
    order = np.argsort(losses, kind="stable")
    cuts = np.concatenate([[0], np.diff(losses[order]) > gap]).cumsum()
    labels = np.empty(len(losses), int)
    labels[order] = cuts
    return labels


def attractors(points: pd.DataFrame, total_points: int, grad_threshold: float = 0.01,
               abs_gap: float = 1e-3, rel_gap: float = 0.01, min_points: int = 5) -> pd.DataFrame:
    """Attractors of one configuration from its points (loss, grad_norm, curvature columns)."""
    stationary = points[points.grad_norm < grad_threshold]
    span = float(stationary.loss.max() - stationary.loss.min()) if len(stationary) else 0.0
    gap = max(abs_gap, rel_gap * span)
    columns = ["attractor", "loss", "loss_min", "loss_max", "points", "share", "curvature", "local_minimum",
               "lowest"] + [f"share_{c}" for c in CLASSES]
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
        rows.append({"loss": group.loss.median(), "loss_min": group.loss.min(), "loss_max": group.loss.max(),
                     "points": len(group), "share": len(group) / total_points,
                     "curvature": known.mode().iloc[0] if len(known) else None, **shares})
    table = pd.DataFrame(rows, columns=[c for c in columns if c not in ("attractor", "local_minimum", "lowest")])
    if table.empty:
        return pd.DataFrame(columns=columns)
    table.insert(0, "attractor", range(len(table)))
    lowest = table.loss.min()
    table["lowest"] = table.loss == lowest
    table["local_minimum"] = (table.curvature == "convex") & (table.loss > lowest + gap)
    return table[columns]


def attractor_table(dataset, grad_threshold: float = 0.01, **kwargs) -> pd.DataFrame:
    """Attractors of every configuration of a run, reading only stationary points (filter pushed down)."""
    from .data import count_by

    totals = count_by(dataset, CONFIGURATION)
    tables = []
    for config in totals.itertuples(index=False):
        expr = None
        for key in CONFIGURATION:
            term = pc.field(key) == getattr(config, key)
            expr = term if expr is None else expr & term
        points = dataset.to_table(columns=["loss", "grad_norm", "curvature"],
                                  filter=expr & (pc.field("grad_norm") < grad_threshold)).to_pandas()
        table = attractors(points, config.count, grad_threshold, **kwargs)
        for key in reversed(CONFIGURATION):
            table.insert(0, key, getattr(config, key))
        tables.append(table)
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
