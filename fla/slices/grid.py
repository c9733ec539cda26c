"""A slice's grid: the coordinates, the memory it needs (estimated before anything runs), its
losses evaluated in chunks of the batched objective (one compiled call per chunk, never a Python
loop over grid points), and its files, written atomically with a manifest and verified when read.

A slice folder holds

- ``slice.parquet``: one row per grid point, ``i``, ``j`` (indices), ``a``, ``b`` (coordinates;
  ``j``, ``b`` null in 1D), ``train_loss``, ``train_accuracy``, ``test_loss``, ``test_accuracy``
  (null without a test set); the definition as JSON in the schema metadata (``fla.slice``);
- ``directions.parquet``: the origin and each direction as rows of parameters, ``name`` and
  ``values`` (what the grid's points are: origin + a x + b y);
- ``marks.parquet``: the networks and paths drawn on the slice, ``label``, ``kind`` (point, path,
  trajectory), ``order``, ``a``, ``b``, ``off`` (distance from the slice), ``loss`` (training loss
  at the network itself);
- ``slice.json``, written last: the definition, the source, timings and each file's size,
  checksum and rows.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fla.base.errors import ConfigError, DataError
from fla.base.files import file_record, write_json, write_table
from fla.base.machine import human
from fla.base.store import verify_files
from fla.base.version import __version__
from fla.slices.subjects import CHUNK_BYTES, COLUMNS, Subject

FILES = ("slice.parquet", "directions.parquet", "marks.parquet")
MANIFEST = "slice.json"
MEMORY_SHARE = 0.8


@dataclass
class Slice:
    """origin [D] + sum_k c_k basis[k], c on the grid ``axes`` (one or two coordinate arrays);
    ``marks``: rows for marks.parquet; ``definition``: what made the directions (JSON)."""

    origin: np.ndarray
    basis: np.ndarray
    axes: list
    definition: dict
    marks: list = field(default_factory=list)

    @property
    def points(self) -> int:
        """The grid's points, P."""
        return int(np.prod([len(a) for a in self.axes]))

    def coordinates(self) -> np.ndarray:
        """Every grid point's coordinates, the first axis slowest.

        Returns:
            [P, k] coordinates.
        """
        mesh = np.meshgrid(*self.axes, indexing="ij")
        return np.stack([m.ravel() for m in mesh], axis=1)


def axis(lo: float, hi: float, resolution: int) -> np.ndarray:
    """One axis of the grid.

    Args:
        lo: its first coordinate.
        hi: its last.
        resolution: its points.

    Returns:
        [resolution] evenly spaced coordinates.
    """
    return np.linspace(lo, hi, resolution)


def plan_chunk(subject: Subject, grid: Slice, available: int) -> int:
    """Grid points per compiled call, from the memory a point costs and the memory available.

    Args:
        subject: the ``Subject``.
        grid: the ``Slice``.
        available: bytes of memory free.

    Returns:
        The chunk.

    Raises:
        ConfigError: a grid that does not fit in memory, naming what it needs.
    """
    d = subject.n_params
    fixed = 8 * d * (1 + len(grid.basis)) + subject.fixed_bytes  # origin, directions
    results = 8 * grid.points * (len(COLUMNS) + 4) * 3  # numpy, Arrow and the Parquet writer
    budget = int(available * MEMORY_SHARE) - fixed - results
    per_point = subject.bytes_per_point + 12 * d  # the chunk's float64 and float32 points
    if budget < per_point:
        raise ConfigError(
            f"a {grid.points:,}-point slice of this {d:,}-parameter network needs about "
            f"{human(fixed + results + per_point)}, more than the {human(available)} available; "
            "use a smaller --resolution (or fewer --examples)"
        )
    return int(max(1, min(subject.chunk_max, CHUNK_BYTES // per_point, budget // per_point)))


def evaluate(subject: Subject, grid: Slice, chunk: int, *, progress=None) -> dict:
    """The losses and accuracies over the grid, ``chunk`` points a compiled call; every chunk but
    the last has the same shape (one program).

    Args:
        subject: the ``Subject``.
        grid: the ``Slice``.
        chunk: points a call (``plan_chunk``).
        progress: called as progress(done, total) after each chunk.

    Returns:
        {column: [P]} for ``COLUMNS``.
    """
    coords = grid.coordinates()
    out = {name: [] for name in COLUMNS}
    for start in range(0, len(coords), chunk):
        theta = grid.origin + coords[start : start + chunk] @ grid.basis
        for name, values in subject.evaluate(theta.astype(np.float32)).items():
            out[name].append(values)
        if progress:
            progress(min(start + chunk, len(coords)), len(coords))
    return {
        name: np.concatenate(parts) if parts[0] is not None else None for name, parts in out.items()
    }


def slice_table(grid: Slice, values: dict) -> pa.Table:
    """slice.parquet's table: a row per grid point (module docstring).

    Args:
        grid: the ``Slice``.
        values: ``evaluate``'s columns.

    Returns:
        The Arrow table, its definition in the schema's metadata.
    """
    coords = grid.coordinates()
    shape = [len(a) for a in grid.axes]
    index = np.unravel_index(np.arange(len(coords)), shape)
    two = len(shape) == 2
    columns = {
        "i": pa.array(index[0].astype(np.int32)),
        "j": pa.array(index[1].astype(np.int32)) if two else pa.nulls(len(coords), pa.int32()),
        "a": pa.array(coords[:, 0]),
        "b": pa.array(coords[:, 1]) if two else pa.nulls(len(coords), pa.float64()),
    }
    for name in COLUMNS:
        column = values[name]
        columns[name] = (
            pa.array(column, pa.float64())
            if column is not None
            else pa.nulls(len(coords), pa.float64())
        )
    table = pa.table(columns)
    return table.replace_schema_metadata({"fla.slice": json.dumps(grid.definition)})


def write_slice(out: Path, subject: Subject, grid: Slice, *, values: dict, notes: dict) -> dict:
    """Write the three tables, each atomically, then slice.json (the manifest) last.

    Args:
        out: the output folder (claimed by the caller).
        subject: the ``Subject``.
        grid: the ``Slice``.
        values: ``evaluate``'s columns.
        notes: what the manifest records beside the files (source, timings).

    Returns:
        The manifest.
    """
    write_table(out / "slice.parquet", slice_table(grid, values))
    names = ["origin"] + ["x", "y"][: len(grid.basis)]
    write_table(
        out / "directions.parquet",
        pa.table(
            {
                "name": names,
                "values": pa.array(
                    [grid.origin.tolist()] + [b.tolist() for b in grid.basis],
                    pa.list_(pa.float64()),
                ),
            }
        ),
    )
    marks = pa.Table.from_pylist(
        grid.marks,
        schema=pa.schema(
            [
                ("label", pa.string()),
                ("kind", pa.string()),
                ("order", pa.int32()),
                ("a", pa.float64()),
                ("b", pa.float64()),
                ("off", pa.float64()),
                ("loss", pa.float64()),
            ]
        ),
    )
    write_table(out / "marks.parquet", marks)
    manifest = {
        "fla_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "source": {"kind": subject.kind, "folder": str(subject.folder), **subject.description},
        "definition": grid.definition,
        "grid": {"shape": [len(a) for a in grid.axes], "points": grid.points},
        **notes,
        "command": "fla slice",
        "files": {name: file_record(out / name) for name in FILES},
    }
    write_json(out / MANIFEST, manifest)
    return manifest


def read_slice(folder) -> tuple[dict, pa.Table, pa.Table]:
    """A slice folder, every file checked against slice.json.

    Args:
        folder: the slice's folder.

    Returns:
        (manifest, grid table, marks table).

    Raises:
        DataError: naming what is wrong.
    """
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        records = manifest["files"]
    except FileNotFoundError:
        raise DataError(f"{folder} holds no slice ({MANIFEST}); make one with fla slice") from None
    except (ValueError, KeyError, TypeError):
        raise DataError(f"{folder / MANIFEST} is damaged (not fla's JSON manifest)") from None
    problem = verify_files(folder, records) if set(records) == set(FILES) else "files missing"
    if problem is not None:
        raise DataError(f"slice {folder} is damaged: {problem}; make it again with fla slice")
    return (
        manifest,
        pq.read_table(folder / "slice.parquet"),
        pq.read_table(folder / "marks.parquet"),
    )
