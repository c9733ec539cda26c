"""What every connection run writes: minima, paths (one row per pair and method, beside the
straight line between the same minima), the spanning tree, extra tables, and ``connect.json`` last,
each file atomically (``fla.base.store.write_table``). connect.json lists every file with its
size and SHA-256, and every reader verifies them (``verified_connection``)."""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa

from fla.base.files import atomic_path, file_record, write_json, write_table
from fla.base.store import verified_manifest
from fla.paths.record import straight_line

DENSE_PARAMS_MAX = 2**20  # values of a path's dense points stored at most (8 MiB a path)
CONNECTION_OUTPUTS = ("minima.parquet", "paths.parquet", "tree.parquet", "connect.json")
OUTPUTS = CONNECTION_OUTPUTS + ("alignment.parquet",)  # fla connect on a sampling run
# fla connect --models adds Table 1 (its models aligned by fla.zoo.alignment)
MODEL_OUTPUTS = OUTPUTS + ("table1.parquet", "table1.csv")


def verified_connection(folder) -> dict:
    """A connection run's manifest, once every file it lists verifies
    (``fla.base.store.verified_manifest``).

    Args:
        folder: the connection run's folder.

    Returns:
        connect.json's contents.

    Raises:
        DataError: a missing, damaged or unfinished connection run.
    """
    return verified_manifest(folder, "connect.json", "fla connect")


def write_connection(
    out: Path,
    energy,
    minima,
    *,
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
    """Write what every connection run writes: minima, paths and tree (and ``extra`` tables) as
    Parquet or CSV, each atomically, then connect.json last with every table's size and SHA-256.

    Args:
        out: the output folder (claimed by the caller).
        energy: the ``Energy`` the paths were found on.
        minima: [M, D] the minima.
        minima_table: their table (losses, curvature, parameters).
        paths: {method: {(a, b): PathRecord}}.
        tree: the minimum spanning tree's edges.
        settings: the connection's settings, recorded.
        summary: what the caller records beside them.
        start: the connection's start (``time.time()``), for its seconds.
        quiet: no summary line.
        saddle_params: also the paths' parameters (``path_table``).
        extra: {file name: Arrow table} written beside the others.

    Returns:
        The summary written to connect.json (without its ``command``).
    """
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
        if name.endswith(".csv"):  # a table a spreadsheet reads, written atomically too
            with atomic_path(out / name) as tmp:
                table.to_pandas().to_csv(tmp, index=False)
        else:
            write_table(out / name, table)
    tables = ["minima.parquet", "paths.parquet", "tree.parquet", *(extra or {})]
    summary = {
        **summary,
        "settings": settings,
        "paths": sum(len(p) for p in paths.values()),
        "pairs": len(next(iter(paths.values()))),
        "loss_evaluations": energy.evaluations,
        "batched_calls": energy.calls,
        "seconds": round(time.time() - start, 2),
        "files": {name: file_record(out / name) for name in tables},  # checked on every read
    }
    write_json(out / "connect.json", {"command": "fla connect", **summary})
    if not quiet:
        print(
            f"{summary.get('minima', len(minima))} minima, {summary['paths']} paths, {len(tree)} "
            f"tree edges "
            f"in {summary['seconds']} s -> {out}"
        )
    return summary


def path_table(
    energy, minima, paths: dict, *, line_points: int = 61, saddle_params: bool = False
) -> pa.Table:
    """One row per pair and method, with the straight line between the same minima for comparison.

    Args:
        energy: the ``Energy`` the paths were found on.
        minima: [M, D] the minima.
        paths: {method: {(a, b): PathRecord}}.
        line_points: points of each straight line.
        saddle_params: also the saddle's, the defining points' (NEB's pivots, a curve's bends) and
            the dense points' parameters, which ``fla slice`` draws (small networks).

    Returns:
        The Arrow table of paths.parquet.
    """
    rows, lines = [], {}
    for method, found in paths.items():
        for (a, b), p in sorted(found.items()):
            if (a, b) not in lines:
                lines[(a, b)] = straight_line(energy, minima[a], minima[b], points=line_points)
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
                    "search": p.search,
                    "attempts": p.attempts,
                    "failed": p.failed,
                }
                | (
                    {
                        "saddle_params": p.saddle_params.tolist(),
                        "point_params": p.points.tolist(),
                        "dense_params": p.dense_params.tolist()
                        if p.dense_params.size <= DENSE_PARAMS_MAX
                        else None,
                    }
                    if saddle_params
                    else {}
                )
            )
    return pa.Table.from_pylist(rows) if rows else pa.table({"a": pa.array([], pa.int64())})
