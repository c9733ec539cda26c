"""``fla landscape STUDY.toml --out DIR``: minima and transition states of 2-N_h-2 tanh XOR networks
over a grid of N_h and lambda (Mehta, Zhao, Bernal and Wales 2018; see :mod:`fla.energy_landscape`).

Each (N_h, lambda) gets a folder ``h{N_h}_l{lambda}`` with ``minima.parquet`` (loss, Hessian
eigenvalues, AUC on the four training patterns, connected hidden units, times found, canonical
parameters), ``transition_states.parquet`` (loss, Hessian index and eigenvalues, the two minima it
connects, parameters) and ``landscape.json`` (settings, counts, time, and each file's size and
SHA-256), written last. Run again, the study skips every folder whose files verify against its
``landscape.json`` and whose settings equal the study's, and redoes the others; a second live
``fla landscape`` on the same folder is refused (the sweep's lock). The study table
``counts.csv`` holds the numbers of minima and transition states per (N_h, lambda) and their ratio.

Study keys (all optional):

    hidden = [1, 2, 3]                  # N_h
    l2 = [1e-1, 1e-2, 1e-3]             # lambda
    chains = 8                          # basin-hopping chains, run as one batch
    steps = 40                          # basin-hopping steps per chain
    step = 1.0                          # first perturbation: uniform in [-step, step] per parameter
    (adapted) temperature = 0.1                   # Metropolis temperature (loss units) bound = 1.0
    # chains start uniform in [-bound, bound]^D budget = 30                         #
    transition-state searches per (N_h, lambda) gtol = 1e-7                         # gradient norm
    below which a point is stationary seed = 0
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import ConfigError
from .store import atomic_path, checksum, write_json

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULTS = {
    "hidden": [1, 2, 3],
    "l2": [1e-1, 1e-2, 1e-3],
    "chains": 8,
    "steps": 40,
    "step": 1.0,
    "temperature": 0.1,
    "bound": 1.0,
    "budget": 30,
    "gtol": 1e-7,
    "seed": 0,
}
CHECKS = {
    "hidden": (
        lambda v: (
            isinstance(v, list)
            and v
            and all(isinstance(h, int) and h >= 1 for h in v)
            and len(set(v)) == len(v)
        ),
        "a list of distinct integers >= 1",
    ),
    "l2": (
        lambda v: (
            isinstance(v, list)
            and v
            and all(isinstance(x, (int, float)) and x > 0 for x in v)
            and len(set(v)) == len(v)
        ),
        "a list of distinct numbers > 0",
    ),
    "chains": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
    "steps": (lambda v: isinstance(v, int) and v >= 0, "an integer >= 0"),
    "step": (lambda v: isinstance(v, (int, float)) and v > 0, "a number > 0"),
    "temperature": (lambda v: isinstance(v, (int, float)) and v > 0, "a number > 0"),
    "bound": (lambda v: isinstance(v, (int, float)) and v > 0, "a number > 0"),
    "budget": (lambda v: isinstance(v, int) and v >= 0, "an integer >= 0"),
    "gtol": (lambda v: isinstance(v, (int, float)) and v > 0, "a number > 0"),
    "seed": (lambda v: isinstance(v, int) and v >= 0, "an integer >= 0"),
}
FILES = ("minima.parquet", "transition_states.parquet")


def load_study(path) -> dict:
    try:
        given = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    unknown = set(given) - set(DEFAULTS)
    if unknown:
        raise ConfigError(
            f"{path}: unknown key(s) {', '.join(sorted(map(repr, unknown)))}; "
            f"expected {', '.join(DEFAULTS)}"
        )
    settings = {**DEFAULTS, **given}
    for key, (ok, expected) in CHECKS.items():
        if isinstance(settings[key], bool) or not ok(settings[key]):
            raise ConfigError(f"{path}: key {key!r} must be {expected}, got {settings[key]!r}")
    return settings


def folder_name(hidden: int, l2: float) -> str:
    return f"h{hidden}_l{l2!r}"


def verified(folder: Path, settings: dict) -> bool:
    """True when landscape.json exists, holds these settings, and every file matches its record."""
    try:
        meta = json.loads((folder / "landscape.json").read_text())
    except (OSError, ValueError):
        return False
    if meta.get("settings") != settings:
        return False
    return all(
        (folder / name).is_file() and checksum(folder / name) == meta["files"].get(name)
        for name in FILES
    )


def configuration_settings(study: dict, hidden: int, l2: float) -> dict:
    keys = ("chains", "steps", "step", "temperature", "bound", "budget", "gtol", "seed")
    return {"hidden": hidden, "l2": l2, **{k: study[k] for k in keys}}


def run_configuration(folder: Path, settings: dict, quiet: bool) -> dict:
    from .energy_landscape import (
        Database,
        basin_hopping,
        connect_unconnected,
        mehta_network,
        objective,
    )

    start = time.time()
    f = objective(settings["hidden"], settings["l2"])
    db = Database(mehta_network(settings["hidden"]), gtol=settings["gtol"])
    rng = np.random.default_rng([settings["seed"], settings["hidden"]])
    hops = basin_hopping(
        db,
        f,
        settings["chains"],
        settings["steps"],
        settings["step"],
        settings["temperature"],
        rng,
        gtol=settings["gtol"],
        bound=settings["bound"],
    )
    searches = connect_unconnected(db, f, settings["budget"], gtol=settings["gtol"])
    folder.mkdir(parents=True, exist_ok=True)
    write_table(folder / "minima.parquet", minima_table(db, f))
    write_table(folder / "transition_states.parquet", transition_table(db))
    meta = {
        "settings": settings,
        "minima": len(db.minima),
        "transition_states": len(db.transition_states),
        "basin_hopping": hops,
        "searches": searches,
        "seconds": round(time.time() - start, 2),
        "files": {name: checksum(folder / name) for name in FILES},
    }
    write_json(folder / "landscape.json", meta)
    if not quiet:
        print(
            f"  {folder.name}: {meta['minima']} minima, {meta['transition_states']} transition "
            f"states "
            f"({meta['seconds']} s)"
        )
    return meta


def minima_table(db, f) -> pa.Table:
    from .energy_landscape import auc, connected_units, index_of

    params = np.array([m["params"] for m in db.minima]).reshape(len(db.minima), db.network.n_params)
    eigs = np.array([m["eigenvalues"] for m in db.minima]).reshape(
        len(db.minima), db.network.n_params
    )
    scores = probabilities(db.network, params, f.problem.x_train)
    return pa.table(
        {
            "minimum": pa.array(np.arange(len(params), dtype=np.int32)),
            "loss": pa.array([m["loss"] for m in db.minima], pa.float64()),
            "index": pa.array(index_of(eigs)[0] if len(eigs) else [], pa.int32()),
            "auc": pa.array(auc(scores, f.problem.y_train) if len(params) else [], pa.float64()),
            "connected_units": pa.array(
                connected_units(db.network, params) if len(params) else [], pa.int32()
            ),
            "hits": pa.array([m["hits"] for m in db.minima], pa.int32()),
            "eigenvalues": pa.array(eigs.tolist(), pa.list_(pa.float64())),
            "params": pa.array(params.tolist(), pa.list_(pa.float64())),
        }
    )


def transition_table(db) -> pa.Table:
    from .energy_landscape import index_of

    ts = db.transition_states
    eigs = np.array([t["eigenvalues"] for t in ts]).reshape(len(ts), db.network.n_params)
    return pa.table(
        {
            "transition_state": pa.array(np.arange(len(ts), dtype=np.int32)),
            "loss": pa.array([t["loss"] for t in ts], pa.float64()),
            "index": pa.array(index_of(eigs)[0] if len(ts) else [], pa.int32()),
            "a": pa.array([t["a"] for t in ts], pa.int32()),
            "b": pa.array([t["b"] for t in ts], pa.int32()),
            "eigenvalues": pa.array(eigs.tolist(), pa.list_(pa.float64())),
            "params": pa.array([t["params"].tolist() for t in ts], pa.list_(pa.float64())),
        }
    )


def probabilities(network, params: np.ndarray, x: np.ndarray) -> np.ndarray:
    """P(class 1) [B, N] of each network on patterns x [N, 2] (softmax of the two outputs)."""
    import tensorflow as tf

    if not len(params):
        return np.zeros((0, len(x)))
    logits = network.logits(tf.constant(params, tf.float64), tf.constant(x, tf.float64)).numpy()
    return 1.0 / (1.0 + np.exp(logits[..., 0] - logits[..., 1]))


def write_table(path: Path, table: pa.Table) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def run_study(study_path, out, quiet: bool = False) -> list[dict]:
    """Every (N_h, lambda) of the study, skipping those already done and verified; writes
    counts.csv."""
    from .sweep import sweep_lock

    study = load_study(study_path)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with sweep_lock(out):  # one writer per study folder, as for sweeps
        return _run_study(study, out, quiet)


def _run_study(study: dict, out: Path, quiet: bool) -> list[dict]:
    rows, done = [], 0
    for hidden in study["hidden"]:
        for l2 in study["l2"]:
            settings = configuration_settings(study, hidden, l2)
            folder = out / folder_name(hidden, l2)
            if verified(folder, settings):
                meta, done = json.loads((folder / "landscape.json").read_text()), done + 1
            else:
                meta = run_configuration(folder, settings, quiet)
            rows.append(
                {
                    "hidden": hidden,
                    "l2": l2,
                    "minima": meta["minima"],
                    "transition_states": meta["transition_states"],
                    "ratio": meta["transition_states"] / meta["minima"] if meta["minima"] else None,
                    "seconds": meta["seconds"],
                }
            )
    import pandas as pd

    with atomic_path(out / "counts.csv") as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)
    if not quiet:
        print(f"{len(rows) - done} run, {done} already done and verified -> {out / 'counts.csv'}")
    return rows
