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
# what a study may vary besides the architecture and the walk: the hidden activation, the loss and
# the regulariser (null in the Parquet files written before they were settings)
VARIANT = ["activation", "loss_function", "regulariser", "lambda", "w0"]
CONFIGURATION = ARCHITECTURE + VARIANT + ["granularity", "bound"]


def is_missing(value) -> bool:
    """Whether a value is missing (None or NaN).

    Args:
        value: a value.

    Returns:
        True for a missing value.
    """
    return value is None or (isinstance(value, float) and np.isnan(value))


def matches(key: str, value):
    """The filter ``key == value``; a missing value (None, NaN) matches nulls.

    Args:
        key: a column.
        value: its value.

    Returns:
        A pyarrow compute expression.
    """
    return pc.field(key).is_null() if is_missing(value) else pc.field(key) == value


def where(**values):
    """The filter of every ``key == value``.

    Args:
        **values: {column: value}.

    Returns:
        A pyarrow compute expression (``matches`` of each, and-ed).
    """
    expr = None
    for key, value in values.items():
        expr = matches(key, value) if expr is None else expr & matches(key, value)
    return expr


def row_configuration(config: dict) -> dict:
    """A manifest's configuration as its rows record it (the ``CONFIGURATION`` columns).

    Args:
        config: run.json's ``config``.

    Returns:
        {column: value}.
    """
    regulariser = config.get("regulariser", "none")
    return {
        "problem": config["problem"],
        "width": config["width"],
        "depth": config["depth"],
        "activation": config.get("activation", "elu"),
        "loss_function": config.get("loss", "cross_entropy"),
        "regulariser": regulariser,
        "lambda": config.get("lambda_"),
        "w0": config.get("w0") or 1.0 if regulariser == "weight_elimination" else None,
        "granularity": config["granularity"],
        "bound": config["bound"],
    }


def same(a, b) -> bool:
    """Equality where two missing values are the same.

    Args:
        a: a value.
        b: another.

    Returns:
        True when equal or both missing.
    """
    return (is_missing(a) and is_missing(b)) or a == b


def open_run(run_dir) -> ds.Dataset:
    """Every complete configuration (points.parquet beside run.json) under a folder, as one lazy
    dataset on the Parquet contract's schema.

    Args:
        run_dir: a run or a study.

    Returns:
        The pyarrow dataset.

    Raises:
        DamagedRunError: a configuration that does not verify.
    """
    return ds.dataset(complete_points(run_dir), schema=POINT_SCHEMA, format="parquet")


def sample_rows(
    dataset: ds.Dataset, columns: list[str], max_rows: int = 20_000, *, filter=None, seed: int = 0
) -> pd.DataFrame:
    """A uniform random sample (without replacement) of at most ``max_rows`` matching rows.

    Args:
        dataset: the run's points (``open_run``).
        columns: the columns read.
        max_rows: the most rows.
        filter: a pyarrow expression the rows must match.
        seed: the sample's seed.

    Returns:
        A DataFrame.
    """
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
    """Exact row counts per combination of ``keys`` (nulls kept as their own group).

    Args:
        dataset: the run's points (``open_run``).
        keys: the columns grouped by.
        filter: a pyarrow expression the rows must match.

    Returns:
        A DataFrame of ``keys`` and ``count``, sorted by the keys.
    """
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
    """The rows of each walk's last recorded step (the largest step of each configuration).

    Args:
        dataset: the run's points (``open_run``).
        columns: the columns read.

    Returns:
        A DataFrame.
    """
    steps = count_by(dataset, CONFIGURATION + ["seed", "step"])
    last = steps.groupby(CONFIGURATION + ["seed"], dropna=False).step.max().reset_index()
    parts = []
    for row in last.to_dict("records"):  # records: itertuples renames the key 'lambda'
        expr = where(**{key: row[key] for key in CONFIGURATION + ["seed", "step"]})
        parts.append(dataset.to_table(columns=columns, filter=expr).to_pandas())
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
