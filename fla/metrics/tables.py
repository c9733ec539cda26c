"""The table behind ``fla metrics RUN_DIR``: the landscape measures of every configuration of a
summarised over walks (mean, standard deviation, bootstrap 95% interval).

Reads every configuration under RUN_DIR whose manifest verifies (as ``fla report`` does: a damaged
one stops the command, named), shards of one configuration together, a block of walks at a time
(``WALKS_PER_BLOCK`` walks x all steps of a few columns: bounded memory however large the run).
The measures are those the walks' sampler allows (:data:`MEASURES`): progressive gradient walks
give stagnation and the last and best training and test loss and accuracy of each walk;
progressive random walks FEM, M1, M2 and the information content features; Manhattan walks G_avg,
G_dev and FEM; uniform samples (recorded with --record-params) FDC, dispersion and DM.

Writes RUN_DIR/metrics.parquet and metrics.csv (for one configuration's folder, RUN_DIR.metrics.*
beside it; or ``--out FILE``.parquet and .csv), a long table,
one row per configuration and measure: the configuration's keys, ``sampler``, ``measure``,
``mean``, ``std``, ``ci_low``, ``ci_high`` and ``walks``; each file atomically, then
``metrics.json`` with their sizes and SHA-256 (:func:`read_metrics` verifies them).

    >>> table = run_metrics("runs/quick")
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from fla.base.errors import DamagedRunError, DataError
from fla.base.files import atomic_path, file_record, folder_lock, write_json, write_table
from fla.base.store import POINTS, RUN_JSON, configurations, read_manifest, verify_files
from fla.metrics.distance import dispersion, fitness_distance_correlation
from fla.metrics.entropy import fem, information_content
from fla.metrics.gradients import gradient_measures
from fla.metrics.neutrality import neutrality
from fla.metrics.summaries import last_and_best, stagnation

KEYS = ["problem", "width", "depth", "granularity", "bound", "seed", "sampler"]
WALKS_PER_BLOCK = 4096
BOOTSTRAP = 1000  # resamples of the walks for the 95% interval of the mean
OUTPUTS = ("metrics.parquet", "metrics.csv")


def gradient_walk_measures(columns: dict, context: dict) -> dict:
    """Per-walk measures [W] of progressive gradient walks from their columns [W, S]."""
    share, longest = stagnation(columns["loss"])
    out = {"stagnation": share, "longest_stagnation": longest.astype(np.float64)}
    for name, lower in (("loss", True), ("accuracy", False)):
        for prefix in ("", "test_"):
            values = columns.get(prefix + name)
            if values is not None and not np.isnan(values).all():
                result = last_and_best(values, lower_is_better=lower)
                out[f"last_{prefix}{name}"], out[f"best_{prefix}{name}"] = result.values()
    return out


def random_walk_measures(columns: dict, context: dict) -> dict:
    """Ruggedness, neutrality and information content of progressive random walks."""
    m1, m2 = neutrality(columns["loss"])
    out = {"fem": fem(columns["loss"]), "m1": m1, "m2": m2}
    out.update({f"ic_{k}": v for k, v in information_content(columns["loss"]).items()})
    return out


def manhattan_walk_measures(columns: dict, context: dict) -> dict:
    """Gradient measures (and ruggedness) of Manhattan progressive random walks."""
    g_avg, g_dev = gradient_measures(
        columns["loss"], context["step_size"], context["bound"], context["n_params"]
    )
    return {"g_avg": g_avg, "g_dev": g_dev, "fem": fem(columns["loss"])}


def uniform_sample_measures(columns: dict, context: dict) -> dict:
    """Fitness-distance correlation and dispersion of each walk's set of uniform samples."""
    positions = columns.get("params")
    if positions is None:
        raise DataError(
            "uniform samples need their positions for FDC and dispersion: sample them with "
            "--record-params"
        )
    best, dm = dispersion(positions, columns["loss"], context["bound"])
    fdc = fitness_distance_correlation(positions, columns["loss"])
    return {"fdc": fdc, "dispersion": best, "dm": dm}


MEASURES = {  # the measures each sampler allows
    "gradient": gradient_walk_measures,
    "random": random_walk_measures,
    "manhattan": manhattan_walk_measures,
    "uniform": uniform_sample_measures,
}


def walk_span(folder: Path) -> list:
    """[first walk, last walk + 1] of a run whose manifest has no ``walk_range``, in batches."""
    low, high = None, None
    for batch in ds.dataset(str(folder / POINTS), format="parquet").to_batches(columns=["walk"]):
        walks = batch.column("walk").to_numpy()
        if len(walks):
            low = walks.min() if low is None else min(low, walks.min())
            high = walks.max() if high is None else max(high, walks.max())
    return [int(low or 0), int(high if high is not None else -1) + 1]


def blocks_of_walks(folders: list, names: list):
    """{column: [W, S]} of consecutive blocks of walks of one configuration (its folders: one, or
    its shards, each holding the walks of its manifest's ``walk_range``), a block at a time."""
    dataset = ds.dataset([str(f / POINTS) for f in folders], format="parquet")
    ranges = [read_manifest(f).get("walk_range") or walk_span(f) for f in folders]
    first, stop = min(r[0] for r in ranges), max(r[1] for r in ranges)
    for lo in range(first, stop, WALKS_PER_BLOCK):
        hi = min(lo + WALKS_PER_BLOCK, stop)
        table = dataset.to_table(
            columns=["walk", "step", *names],
            filter=(ds.field("walk") >= lo) & (ds.field("walk") < hi),
        )
        if not table.num_rows:
            continue
        walk = table.column("walk").to_numpy() - lo
        step = table.column("step").to_numpy()
        block = {}
        for name in names:
            column = table.column(name)
            if name == "params":
                if column.null_count:
                    continue  # not recorded
                rows = np.stack(column.to_numpy(zero_copy_only=False)).astype(np.float64)
                values = np.full((hi - lo, step.max() + 1, rows.shape[1]), np.nan)
                values[walk, step] = rows
            else:
                values = np.full((hi - lo, step.max() + 1), np.nan)
                values[walk, step] = np.asarray(column.to_numpy(zero_copy_only=False), np.float64)
            block[name] = values
        yield block


def finite_walks_only(measures, block: dict, context: dict) -> dict:
    """The measures of a block, NaN for every walk whose losses are not all finite (a diverged
    walk, recorded faithfully, is left out of the means: the table's ``walks`` counts the rest)."""
    bad = ~np.isfinite(block["loss"]).all(axis=1)
    if bad.any():
        block = {**block, "loss": np.where(bad[:, None], 0.0, block["loss"])}
    values = measures(block, context)
    return {name: np.where(bad, np.nan, v) for name, v in values.items()}


def measure_blocks(blocks, measures, context: dict, threads: int | None = None) -> dict:
    """{measure: [values of each block]} of blocks of walks, ``threads`` blocks at a time (numpy
    releases the GIL in its array operations, so the cores share the work; at most ``threads``
    blocks are held at once)."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    threads = threads or os.cpu_count() or 1
    per_walk, pending = defaultdict(list), []
    with ThreadPoolExecutor(threads) as pool:
        for block in blocks:
            pending.append(pool.submit(finite_walks_only, measures, block, context))
            if len(pending) >= threads:
                for measure, values in pending.pop(0).result().items():
                    per_walk[measure].append(values)
        for future in pending:
            for measure, values in future.result().items():
                per_walk[measure].append(values)
    return per_walk


def bootstrap_interval(values: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """The 2.5% and 97.5% percentiles of the mean over BOOTSTRAP resamples of the walks."""
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return (float(values.mean()),) * 2 if len(values) else (np.nan, np.nan)
    rng = np.random.default_rng(seed)
    means = []
    for _ in range(0, BOOTSTRAP, 100):  # 100 resamples at a time: bounded memory
        picks = rng.integers(0, len(values), (100, len(values)))
        means.append(values[picks].mean(axis=1))
    low, high = np.percentile(np.concatenate(means), [2.5, 97.5])
    return float(low), float(high)


def summary_rows(key: dict, per_walk: dict) -> list[dict]:
    rows = []
    for measure, values in per_walk.items():
        values = np.concatenate(values)
        finite = values[np.isfinite(values)]
        low, high = bootstrap_interval(values)
        rows.append(
            {
                **key,
                "measure": measure,
                "mean": float(finite.mean()) if len(finite) else np.nan,
                "std": float(finite.std(ddof=1)) if len(finite) > 1 else np.nan,
                "ci_low": low,
                "ci_high": high,
                "walks": int(len(finite)),
            }
        )
    return rows


def grouped_configurations(run_dir: Path) -> dict:
    """{configuration key: [its verified folders]}; DamagedRunError if any folder does not
    verify."""
    good, damaged = configurations(run_dir)
    if damaged:
        raise DamagedRunError(damaged)
    if not good:
        raise FileNotFoundError(f"no complete sampling run under {run_dir}")
    groups = defaultdict(list)
    for folder in good:
        config = read_manifest(folder)["config"]
        key = {k: config.get(k, "gradient" if k == "sampler" else None) for k in KEYS}
        groups[tuple(key.items())].append(folder)
    return groups


def run_metrics(run_dir, quiet: bool = True) -> pd.DataFrame:
    """The long table of every configuration's measures (see the module docstring)."""
    rows = []
    for key, folders in sorted(grouped_configurations(Path(run_dir)).items(), key=str):
        key = dict(key)
        measures = MEASURES.get(key["sampler"])
        if measures is None:
            raise DataError(f"{folders[0]}: no measures known for sampler {key['sampler']!r}")
        names = ["loss", "accuracy", "test_loss", "test_accuracy"]
        names += ["params"] * (key["sampler"] == "uniform")
        manifest = read_manifest(folders[0])
        context = {
            "step_size": manifest["plan"]["step_size"],
            "bound": manifest["config"]["bound"],
            "n_params": manifest["plan"]["n_params"],
        }
        per_walk = measure_blocks(blocks_of_walks(folders, names), measures, context)
        rows += summary_rows(key, per_walk)
        if not quiet:
            print(f"  {' '.join(f'{k}={v}' for k, v in key.items())}: {len(per_walk)} measures")
    return pd.DataFrame(rows)


def write_metrics(run_dir, out=None, quiet: bool = False, partial=None) -> Path:
    """Compute and write the table (Parquet and CSV) and metrics.json, holding the output folder's
    lock; returns the Parquet path. A failure leaves none of the three behind. ``partial`` (the
    label of a study that is not whole) is recorded in metrics.json and printed."""
    run_dir = Path(run_dir)
    if out:
        base = Path(out).with_suffix("")
    elif (run_dir / RUN_JSON).exists():  # one configuration: the table goes beside its folder
        base = run_dir.parent / f"{run_dir.name}.metrics"
    else:
        base = run_dir / "metrics"
    if not base.parent.is_dir():
        raise DataError(f"--out {out}: folder {base.parent} does not exist; create it first")
    if (base.parent / RUN_JSON).exists():
        raise DataError(
            f"--out {base}: {base.parent} holds a sampling run; write the table beside it, not "
            "into it (a resumed sweep keeps only the files fla writes there)"
        )
    table = run_metrics(run_dir, quiet)
    parquet, csv, meta = (base.with_suffix(s) for s in (".parquet", ".csv", ".json"))
    with folder_lock(base.parent):
        try:
            write_table(parquet, pa.Table.from_pandas(table, preserve_index=False))
            with atomic_path(csv) as tmp:
                table.to_csv(tmp, index=False)
            files = {p.name: file_record(p) for p in (parquet, csv)}
            write_json(meta, {"run": str(run_dir), "files": files, "partial": partial})
        except BaseException:
            for path in (parquet, csv, meta):
                path.unlink(missing_ok=True)
            raise
    if not quiet:
        label = f" ({partial})" if partial else ""
        print(f"{len(table)} rows, {table.measure.nunique()} measures -> {parquet}{label}")
    return parquet


def read_metrics(path) -> pd.DataFrame:
    """A metrics table written by :func:`write_metrics`, verified against its metrics.json."""
    path = Path(path)
    try:
        meta = json.loads(path.with_suffix(".json").read_text())
    except (OSError, ValueError):
        raise DataError(f"{path}: no readable {path.with_suffix('.json').name}") from None
    problem = verify_files(path.parent, meta.get("files", {}))
    if problem is not None:
        raise DataError(f"{path}: {problem}; run fla metrics again")
    return pd.read_parquet(path)
