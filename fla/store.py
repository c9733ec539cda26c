"""The Parquet data contract: one row per sampled point, written atomically, read lazily.

Column names below are stable; new columns may be added. ``eigenvalues`` and ``params`` are
list<float32> columns, null where not computed (``params`` is filled only with --record-params).
``hessian`` says how the spectrum was obtained (``exact``; null when none was computed).

A configuration's directory holds

    points.parquet      one row per sampled point
    endpoints.parquet   the final parameter vector of every walk (theta_S, after the last update)
    run.json            the run's metadata, written last: its presence marks the run complete

Both Parquet files carry the run's metadata as JSON under the key ``fla``: in the Arrow schema
(``pq.read_table(f).schema.metadata[b"fla"]``: versions, full configuration, device, start time) and,
complete with end time and row count, in the file's key-value metadata
(``pq.read_metadata(f).metadata[b"fla"]``, the same as run.json). Each file is written under a temporary name and
renamed when complete, so a killed run never leaves a file that looks whole. (The renames are atomic
against a killed process; against power loss they are not fsync'ed, which costs more than a small
configuration takes to sample.)
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

FLOATS = pa.list_(pa.float32())

CONFIG_FIELDS = [
    pa.field("problem", pa.string()),
    pa.field("width", pa.int32()),
    pa.field("depth", pa.int32()),
    pa.field("n_params", pa.int64()),
    pa.field("activation", pa.string()),
    pa.field("granularity", pa.string()),
    pa.field("bound", pa.float64()),
    pa.field("step_size", pa.float64()),
    pa.field("seed", pa.int64()),
]

POINT_SCHEMA = pa.schema(CONFIG_FIELDS + [
    pa.field("walk", pa.int32()),
    pa.field("step", pa.int32()),
    pa.field("loss", pa.float32()),
    pa.field("grad_norm", pa.float32()),
    pa.field("accuracy", pa.float32()),
    pa.field("test_loss", pa.float32()),
    pa.field("test_accuracy", pa.float32()),
    pa.field("curvature", pa.string()),
    pa.field("eig_min", pa.float64()),
    pa.field("eig_max", pa.float64()),
    pa.field("hessian", pa.string()),
    pa.field("eigenvalues", FLOATS),
    pa.field("params", FLOATS),
])

ENDPOINT_SCHEMA = pa.schema(CONFIG_FIELDS + [
    pa.field("walk", pa.int32()),
    pa.field("step", pa.int32()),
    pa.field("params", FLOATS),
])

POINTS, ENDPOINTS, RUN_JSON = "points.parquet", "endpoints.parquet", "run.json"


def list_column(rows: np.ndarray | None, n: int) -> pa.Array:
    """[n, K] numpy -> list<float32> (zero-copy offsets); None -> n nulls."""
    if rows is None:
        return pa.nulls(n, FLOATS)
    rows = np.ascontiguousarray(rows, dtype=np.float32).reshape(n, -1)
    offsets = pa.array(np.arange(n + 1, dtype=np.int32) * rows.shape[1])
    return pa.ListArray.from_arrays(offsets, pa.array(rows.ravel()))


def table(schema: pa.Schema, constants: dict, columns: dict, n: int) -> pa.Table:
    """A table of n rows: ``constants`` repeated, ``columns`` given (numpy or arrow), the rest null."""
    arrays = []
    for field in schema:
        if field.name in constants:
            arrays.append(pa.repeat(pa.scalar(constants[field.name], field.type), n))
        elif field.name in columns:
            value = columns[field.name]
            if field.type == FLOATS and not isinstance(value, pa.Array):
                value = list_column(value, n)
            arrays.append(pa.array(value, field.type) if not isinstance(value, pa.Array) else value)
        else:
            arrays.append(pa.nulls(n, field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


class PartWriter:
    """Streams tables into ``path`` under a temporary name; ``commit`` renames it into place."""

    def __init__(self, path: Path, schema: pa.Schema, metadata: dict):
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self.schema = schema.with_metadata({"fla": json.dumps(metadata)})
        strings = [f.name for f in schema if f.type == pa.string()]  # dictionary-encode only these
        self.writer = pq.ParquetWriter(self.tmp, self.schema, compression="zstd", use_dictionary=strings)
        self.rows = 0

    def write(self, tbl: pa.Table) -> None:
        self.writer.write_table(tbl.replace_schema_metadata(self.schema.metadata))
        self.rows += tbl.num_rows

    def commit(self, metadata: dict) -> None:
        self.writer.add_key_value_metadata({"fla": json.dumps(metadata)})
        self.writer.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        try:
            self.writer.close()
        finally:
            self.tmp.unlink(missing_ok=True)


def write_json(path: Path, obj: dict) -> None:
    """Write JSON atomically (temporary file, then rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def is_complete(run_dir: Path) -> bool:
    return (Path(run_dir) / RUN_JSON).is_file()


def complete_points(run_dir) -> list[str]:
    """points.parquet of every complete configuration (run.json beside it) under ``run_dir``."""
    files = [str(f) for f in sorted(Path(run_dir).rglob(POINTS)) if is_complete(f.parent)]
    if not files:
        raise FileNotFoundError(f"no complete run (a {POINTS} beside a {RUN_JSON}) under {run_dir}")
    return files


def read_points(run_dir: Path, columns=None, filter=None):
    """Points of a run (one configuration or a whole study directory) as a pyarrow Table.

    Only complete configurations (those with run.json) are read.
    ``filter`` is a pyarrow compute expression, pushed down to the Parquet reader.
    """
    import pyarrow.dataset as ds

    return ds.dataset(complete_points(run_dir), schema=POINT_SCHEMA, format="parquet").to_table(
        columns=columns, filter=filter)
