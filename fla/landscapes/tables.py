"""The databases of a landscape study as files: ``minima.parquet`` and
``transition_states.parquet`` per (N_h, lambda), verified against their ``landscape.json``
(``fla.base.store.verify_files``) whenever they are read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fla.base.errors import DataError
from fla.base.store import verify_files
from fla.curvature.classes import hessian_index
from fla.landscapes.model import auc, connected_units, probabilities

FILES = ("minima.parquet", "transition_states.parquet")


def read_meta(folder: Path) -> dict | None:
    """A configuration's landscape.json, if it is readable and lists its files.

    Args:
        folder: the configuration's folder.

    Returns:
        The metadata, or None.
    """
    try:
        meta = json.loads((Path(folder) / "landscape.json").read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and isinstance(meta.get("files"), dict) else None


def problem_with(folder: Path, settings: dict | None = None) -> str | None:
    """What is wrong with a configuration's folder, if anything.

    Args:
        folder: the configuration's folder.
        settings: the settings it must have been made with.

    Returns:
        None if it is complete, intact (every file's size and SHA-256) and made with ``settings``;
            else what is wrong, in one line.
    """
    meta = read_meta(folder)
    if meta is None:
        return "no readable landscape.json"
    if settings is not None and meta.get("settings") != settings:
        return "made with other settings"
    if set(FILES) - set(meta["files"]):
        return f"its landscape.json lists no {sorted(set(FILES) - set(meta['files']))[0]}"
    return verify_files(folder, meta["files"])


def verified(folder: Path, settings: dict) -> bool:
    """Whether a configuration is complete, intact and made with ``settings`` (``problem_with``).

    Args:
        folder: the configuration's folder.
        settings: the settings it must have been made with.

    Returns:
        True when it verifies.
    """
    return problem_with(folder, settings) is None


def read_landscape(folder: Path):
    """One verified configuration, as pandas tables.

    Args:
        folder: the configuration's folder.

    Returns:
        (metadata, minima, transition states).

    Raises:
        DataError: naming what is wrong if it does not verify.
    """
    problem = problem_with(folder)
    if problem is not None:
        raise DataError(f"{folder}: {problem}; rerun fla landscape")
    return (
        read_meta(folder),
        pq.read_table(Path(folder) / "minima.parquet").to_pandas(),
        pq.read_table(Path(folder) / "transition_states.parquet").to_pandas(),
    )


def minima_table(db, f) -> pa.Table:
    """The minima of a database as minima.parquet holds them: loss, index, AUC, connected units,
    hits, what found each, eigenvalues and parameters.

    Args:
        db: the ``Database``.
        f: its objective (for the AUC on its training patterns).

    Returns:
        The Arrow table.
    """
    params = np.array([m["params"] for m in db.minima]).reshape(len(db.minima), db.network.n_params)
    eigs = np.array([m["eigenvalues"] for m in db.minima]).reshape(
        len(db.minima), db.network.n_params
    )
    scores = probabilities(db.network, params, f.problem.x_train)
    return pa.table(
        {
            "minimum": pa.array(np.arange(len(params), dtype=np.int32)),
            "loss": pa.array([m["loss"] for m in db.minima], pa.float64()),
            "index": pa.array(hessian_index(eigs)[0] if len(eigs) else [], pa.int32()),
            "auc": pa.array(auc(scores, f.problem.y_train) if len(params) else [], pa.float64()),
            "connected_units": pa.array(
                connected_units(db.network, params) if len(params) else [], pa.int32()
            ),
            "hits": pa.array([m["hits"] for m in db.minima], pa.int32()),
            "found_by": pa.array([m.get("found_by", "quench") for m in db.minima], pa.string()),
            "eigenvalues": pa.array(eigs.tolist(), pa.list_(pa.float64())),
            "params": pa.array(params.tolist(), pa.list_(pa.float64())),
        }
    )


def transition_table(db) -> pa.Table:
    """The transition states of a database as transition_states.parquet holds them: loss, index, the
    minima a and b they connect, eigenvalues and parameters.

    Args:
        db: the ``Database``.

    Returns:
        The Arrow table.
    """
    ts = db.transition_states
    eigs = np.array([t["eigenvalues"] for t in ts]).reshape(len(ts), db.network.n_params)
    return pa.table(
        {
            "transition_state": pa.array(np.arange(len(ts), dtype=np.int32)),
            "loss": pa.array([t["loss"] for t in ts], pa.float64()),
            "index": pa.array(hessian_index(eigs)[0] if len(ts) else [], pa.int32()),
            "a": pa.array([t["a"] for t in ts], pa.int32()),
            "b": pa.array([t["b"] for t in ts], pa.int32()),
            "eigenvalues": pa.array(eigs.tolist(), pa.list_(pa.float64())),
            "params": pa.array([t["params"].tolist() for t in ts], pa.list_(pa.float64())),
        }
    )
