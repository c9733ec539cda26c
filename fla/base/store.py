"""The Parquet data contract: one row per sampled point, written atomically, read lazily.

Column names below are stable; new columns may be added. ``eigenvalues`` and ``params`` are
list<float32> columns, null where not computed (``params`` is filled only with --record-params).
``hessian`` says how the spectrum was obtained (``exact``; null when none was computed).

``loss`` is the data loss (``loss_function``: cross_entropy or mse); ``penalty`` the regulariser's
term (``regulariser``, ``lambda`` and, for weight elimination, ``w0``; null without one);
``grad_norm`` and the curvature are those of their sum, the objective the walk follows.
``saturation`` and ``saturated_units`` hold one value per hidden layer, input side first
(``fla.core.saturation``; null where the activation has no such measure).

A configuration's directory holds

    points.parquet      one row per sampled point
    endpoints.parquet   the final parameter vector of every walk (theta_S, after the last update)
    run.json            the manifest, written last: the run's metadata (versions, full
                        configuration, plan, device, times) and every file with its size,
                        SHA-256 and row count

A configuration counts as complete only when its manifest *verifies* (``verify``): every file
listed is there with its size and checksum, and (when the reader says what it expects)
the settings match. The Parquet files also carry the metadata as JSON under the key ``fla`` (in the
Arrow schema from the start, and with end time and row count in the footer), and CRC32 page
checksums, so that any Parquet reader, not only fla, notices a corrupted page.

Every file is written under a temporary name (``.NAME.PID.tmp``) and renamed when complete
(``atomic_path``, the one helper for every atomic write), so a killed run never leaves a file
that looks whole. The renames are atomic against a killed process; against power loss they are not
fsync'ed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fla.base.errors import DamagedRunError, DataError
from fla.base.files import (
    checksum,
    file_record,
    temporary_name,
    write_json,
)

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
    pa.field("sampler", pa.string()),
    pa.field("loss_function", pa.string()),
    pa.field("regulariser", pa.string()),
    pa.field("lambda", pa.float64()),
    pa.field("w0", pa.float64()),
]

POINT_SCHEMA = pa.schema(
    CONFIG_FIELDS
    + [
        pa.field("walk", pa.int32()),
        pa.field("step", pa.int32()),
        pa.field("loss", pa.float32()),
        pa.field("penalty", pa.float32()),
        pa.field("grad_norm", pa.float32()),
        pa.field("step_length", pa.float32()),
        pa.field("accuracy", pa.float32()),
        pa.field("test_loss", pa.float32()),
        pa.field("test_accuracy", pa.float32()),
        pa.field("curvature", pa.string()),
        pa.field("eig_min", pa.float64()),
        pa.field("eig_max", pa.float64()),
        pa.field("hessian", pa.string()),
        pa.field("reduced_curvature", pa.string()),
        pa.field("null_directions", pa.int32()),
        pa.field("eigenvalues", FLOATS),
        pa.field("params", FLOATS),
        pa.field("saturation", FLOATS),
        pa.field("saturated_units", FLOATS),
    ]
)

ENDPOINT_SCHEMA = pa.schema(
    CONFIG_FIELDS
    + [
        pa.field("walk", pa.int32()),
        pa.field("step", pa.int32()),
        pa.field("params", FLOATS),
    ]
)

POINTS, ENDPOINTS, RUN_JSON = "points.parquet", "endpoints.parquet", "run.json"
OWN_FILES = (POINTS, ENDPOINTS, RUN_JSON)  # what a sampling run writes in its folder


def list_column(rows: np.ndarray | None, n: int) -> pa.Array:
    """Rows of numbers as a list<float32> Arrow column (zero-copy offsets).

    Args:
        rows: [n, K] values, or None.
        n: the rows.

    Returns:
        The Arrow array; n nulls for None.
    """
    if rows is None:
        return pa.nulls(n, FLOATS)
    rows = np.ascontiguousarray(rows, dtype=np.float32).reshape(n, -1)
    offsets = pa.array(np.arange(n + 1, dtype=np.int32) * rows.shape[1])
    return pa.ListArray.from_arrays(offsets, pa.array(rows.ravel()))


def table(schema: pa.Schema, constants: dict, columns: dict, *, n: int) -> pa.Table:
    """A table of n rows on a schema: ``constants`` repeated, ``columns`` given (numpy or Arrow),
    the rest null.

    Args:
        schema: the Parquet contract's schema.
        constants: {column: value} repeated on every row.
        columns: {column: array} of n values.
        n: the rows.

    Returns:
        The Arrow table.
    """
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
        """A Parquet file written in parts under a temporary name (zstd, dictionary-encoded strings,
        page checksums).

        Args:
            path: the file.
            schema: its schema.
            metadata: the ``fla`` metadata its schema carries.
        """
        self.path = Path(path)
        self.tmp = temporary_name(self.path)
        self.schema = schema.with_metadata({"fla": json.dumps(metadata)})
        strings = [f.name for f in schema if f.type == pa.string()]  # dictionary-encode only these
        self.writer = pq.ParquetWriter(
            self.tmp,
            self.schema,
            compression="zstd",
            use_dictionary=strings,
            write_page_checksum=True,
        )
        self.rows = 0

    def write(self, tbl: pa.Table) -> None:
        """Append a table.

        Args:
            tbl: rows on the writer's schema.
        """
        self.writer.write_table(tbl.replace_schema_metadata(self.schema.metadata))
        self.rows += tbl.num_rows

    def commit(self, metadata: dict) -> None:
        """Close the file and rename it into place.

        Args:
            metadata: the ``fla`` metadata of the finished file.
        """
        self.writer.add_key_value_metadata({"fla": json.dumps(metadata)})
        self.writer.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        """Close the file and remove it."""
        try:
            self.writer.close()
        finally:
            self.tmp.unlink(missing_ok=True)


def write_manifest(run_dir: Path, metadata: dict, names) -> dict:
    """Write run.json: the metadata and a record (size, SHA-256, rows) of every file in ``names``.

    Args:
        run_dir: the run's folder.
        metadata: what the run records (``fla.walks.records.metadata``).
        names: the files it wrote.

    Returns:
        The manifest written.
    """
    manifest = {**metadata, "files": {name: file_record(Path(run_dir) / name) for name in names}}
    write_json(Path(run_dir) / RUN_JSON, manifest)
    return manifest


def read_manifest(run_dir: Path) -> dict | None:
    """A configuration's manifest.

    Args:
        run_dir: the configuration's folder.

    Returns:
        run.json's contents, or None if missing or unreadable.
    """
    try:
        manifest = json.loads((Path(run_dir) / RUN_JSON).read_text())
    except (OSError, ValueError):
        return None
    return (
        manifest if isinstance(manifest, dict) and isinstance(manifest.get("files"), dict) else None
    )


def verify(run_dir, settings: dict | None = None, walk_range=None) -> str | None:
    """Whether a configuration's folder is complete and intact: its manifest is there and readable,
    lists points.parquet, and every file it lists exists with the recorded size and SHA-256 (the
    checksum covers the row counts recorded beside it), and the run was made with ``settings`` (and
    ``walk_range``) when given.

    Args:
        run_dir: the configuration's folder.
        settings: the configuration's fields it must have been made with.
        walk_range: the walks it must hold.

    Returns:
        None if it verifies, else what is wrong (one line).
    """
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    if manifest is None:
        return f"no readable manifest ({RUN_JSON})"
    for name in (POINTS, ENDPOINTS):  # a sampling run writes both
        if name not in manifest["files"]:
            return f"its manifest lists no {name}"
    if settings is not None and manifest.get("config") != settings:
        return "made with other settings"
    if walk_range is not None and manifest.get("walk_range") != list(walk_range):
        return f"holds walks {manifest.get('walk_range')}, not {list(walk_range)}"
    return verify_files(run_dir, manifest["files"]) or disagreement(run_dir, manifest)


REQUIRED = ("walk", "step", "loss", "grad_norm", "accuracy")  # what every reader of points reads


def disagreement(run_dir: Path, manifest: dict) -> str | None:
    """Whether the manifest agrees with the data it describes: the configuration recorded in
    points.parquet's own metadata, the columns every reader needs, and the length of the parameter
    vectors against the plan's D.

    Args:
        run_dir: the configuration's folder.
        manifest: its run.json.

    Returns:
        None if they agree, else the disagreement (one line).
    """
    points = Path(run_dir) / POINTS
    try:
        schema = pq.read_schema(points)
    except (OSError, pa.ArrowException) as exc:
        return f"{POINTS} is not a Parquet file ({exc})"
    missing = [name for name in REQUIRED if name not in schema.names]
    if missing:
        return f"{POINTS} has no column {missing[0]!r}"
    written = json.loads((schema.metadata or {}).get(b"fla", b"{}")).get("config")
    recorded = manifest.get("config")
    if written is not None and written != recorded:
        key = next(
            k
            for k in sorted(set(written) | set(recorded or {}))
            if written.get(k) != (recorded or {}).get(k)
        )
        return (
            f"{RUN_JSON} says {key} {(recorded or {}).get(key)!r} but {POINTS} was written with "
            f"{key} {written.get(key)!r}"
        )
    d = (manifest.get("plan") or {}).get("n_params")
    ends = Path(run_dir) / ENDPOINTS
    if d is not None and ends.is_file():
        first = pq.ParquetFile(ends)
        if first.metadata.num_rows:
            params = first.read_row_group(0, columns=["params"]).column(0)
            if len(params) and params[0].is_valid and len(params[0]) != d:
                return f"{RUN_JSON} says D = {d} but {ENDPOINTS} holds vectors of {len(params[0])}"
    return None


def verify_files(folder, records: dict) -> str | None:
    """Whether every file a manifest names is in a folder with its recorded size and SHA-256.

    Args:
        folder: the folder.
        records: {name: ``file_record``, or a bare SHA-256}.

    Returns:
        None if all verify, else what is wrong (one line).
    """
    folder = Path(folder)
    for name, record in records.items():
        path = folder / name
        if not isinstance(record, dict):
            record = {"sha256": record}
        if not path.is_file():
            return f"{name} is missing"
        size = path.stat().st_size
        if "bytes" in record and size != record.get("bytes"):
            return f"{name} has {size} bytes, the manifest says {record.get('bytes')}"
        if checksum(path) != record.get("sha256"):
            return f"{name} does not match its checksum"
    return None


def verified_manifest(folder, name: str, command: str) -> dict:
    """A result folder's manifest (a connection run's connect.json, a landscape's landscape.json),
    once every file it lists is there with its size and SHA-256.

    Args:
        folder: the result folder.
        name: the manifest's file name.
        command: the command that writes it, for the error.

    Returns:
        The manifest.

    Raises:
        DataError: naming the damage (one written before manifests listed their files is refused
            too).
    """
    folder = Path(folder)
    try:
        manifest = json.loads((folder / name).read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{folder}: {name} is not readable ({exc}); run {command} again") from None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or not files:
        raise DataError(
            f"{folder}: {name} lists no files to verify (written by an older fla); run {command} "
            "again"
        )
    problem = verify_files(folder, files)
    if problem:
        raise DataError(f"{folder} is damaged: {problem}; run {command} again")
    return manifest


def configurations(run_dir) -> tuple[list[Path], dict[Path, str]]:
    """Every configuration folder under a folder (one holding points.parquet or run.json). A
    configuration is counted once, identified by its manifest (its settings and walk range),
    wherever copies of it lie (a folder copied under another name, or into a backup/ subfolder): the
    first in path order is kept. A copy whose files differ from the kept one's is damaged (two
    results claim one configuration).

    Args:
        run_dir: a run or a study.

    Returns:
        (the verified folders, {damaged folder: what is wrong}).
    """
    run_dir = Path(run_dir)
    folders = sorted(
        {p.parent for p in run_dir.rglob(POINTS)} | {p.parent for p in run_dir.rglob(RUN_JSON)},
        key=lambda folder: (len(folder.parts), str(folder)),
    )
    good, damaged, seen = [], {}, {}
    for folder in folders:
        problem = verify(folder)
        if problem is not None:
            damaged[folder] = problem
            continue
        manifest = read_manifest(folder)
        identity = json.dumps(
            [manifest.get("config") or str(folder), manifest.get("walk_range")], sort_keys=True
        )
        first = seen.setdefault(identity, folder)
        if first == folder:
            good.append(folder)
        elif manifest["files"][POINTS] != read_manifest(first)["files"][POINTS]:
            damaged[folder] = f"holds the configuration of {first} with other points; move one away"
    return sorted(good), damaged


def complete_points(run_dir) -> list[str]:
    """points.parquet of every verified configuration under a folder.

    Args:
        run_dir: a run or a study.

    Returns:
        Their paths.

    Raises:
        DamagedRunError: naming every configuration that does not verify, with what is wrong.
    """
    good, damaged = configurations(run_dir)
    if damaged:
        raise DamagedRunError(damaged)
    if not good:
        raise FileNotFoundError(
            f"no complete run (a {POINTS} listed in a verified {RUN_JSON}) under {run_dir}"
        )
    return [str(folder / POINTS) for folder in good]


def read_points(run_dir: Path, columns=None, filter=None):
    """Points of a run (one configuration or a whole study directory) as a pyarrow Table; only
    verified configurations are read.

    Args:
        run_dir: a run or a study.
        columns: the columns (default all).
        filter: a pyarrow compute expression, pushed down to the Parquet reader.

    Returns:
        The Arrow table.

    Raises:
        DamagedRunError: a configuration that does not verify, named.
    """
    import pyarrow.dataset as ds

    return ds.dataset(complete_points(run_dir), schema=POINT_SCHEMA, format="parquet").to_table(
        columns=columns, filter=filter
    )
