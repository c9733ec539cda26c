"""Lazy access to a run (one configuration or a study): pyarrow datasets with filters pushed down.

Scatter plots take a uniform random sample of at most ``max_rows`` rows, drawn batch by batch, and
tables count exactly, aggregating batch by batch: both in memory bounded by the batch size, whatever
the number of rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from fla.base.store import POINT_SCHEMA, complete_points

ARCHITECTURE = ["problem", "width", "depth"]
# the hidden activation is part of a configuration: a study may compare them (--activation)
CONFIGURATION = ["problem", "width", "depth", "activation", "granularity", "bound"]


def open_run(run_dir) -> ds.Dataset:
    """Every complete configuration (points.parquet beside run.json) under ``run_dir``."""
    return ds.dataset(complete_points(run_dir), schema=POINT_SCHEMA, format="parquet")


def sample_rows(
    dataset: ds.Dataset, columns: list[str], max_rows: int = 20_000, filter=None, seed: int = 0
) -> pd.DataFrame:
    """A uniform random sample (without replacement) of at most ``max_rows`` matching rows."""
    total = dataset.count_rows(filter=filter)
    keep = 1.0 if total <= max_rows else max_rows / total
    rng = np.random.default_rng(seed)
    parts = []
    for batch in dataset.to_batches(columns=columns, filter=filter):
        if keep < 1.0:
            batch = batch.filter(pa.array(rng.random(batch.num_rows) < keep))
        parts.append(batch)
    if not parts:
        return pd.DataFrame(columns=columns)
    return pa.Table.from_batches(parts).to_pandas()


def count_by(dataset: ds.Dataset, keys: list[str], filter=None) -> pd.DataFrame:
    """Exact row counts per combination of ``keys`` (nulls kept as their own group)."""
    partial = []
    for batch in dataset.to_batches(columns=keys, filter=filter):
        table = pa.Table.from_batches([batch])
        if table.num_rows:
            partial.append(table.group_by(keys, use_threads=False).aggregate([([], "count_all")]))
    if not partial:
        return pd.DataFrame(columns=keys + ["count"])
    merged = pa.concat_tables(partial).group_by(keys).aggregate([("count_all", "sum")])
    return (
        merged.to_pandas()
        .rename(columns={"count_all_sum": "count"})
        .sort_values(keys, ignore_index=True)
    )


def last_steps(dataset: ds.Dataset, columns: list[str]) -> pd.DataFrame:
    """The rows of each walk's last recorded step (the largest step of each configuration)."""
    steps = count_by(dataset, CONFIGURATION + ["seed", "step"])
    last = steps.groupby(CONFIGURATION + ["seed"]).step.max().reset_index()
    parts = []
    for row in last.itertuples(index=False):
        expr = None
        for key in CONFIGURATION + ["seed", "step"]:
            term = pc.field(key) == getattr(row, key)
            expr = term if expr is None else expr & term
        parts.append(dataset.to_table(columns=columns, filter=expr).to_pandas())
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
