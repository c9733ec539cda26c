"""The table behind ``fla metrics RUN_DIR``: the landscape measures of every configuration of a
summarised over walks (mean, standard deviation, bootstrap 95% interval).

Reads every configuration under RUN_DIR whose manifest verifies (as ``fla report`` does: a damaged
one stops the command, named), shards of one configuration together, a block of walks at a time
(``WALKS_PER_BLOCK`` walks x all steps of a few columns: bounded memory however large the run).
The measures are those the walks' sampler allows (``MEASURES``): progressive gradient walks
give stagnation and the last and best training and test loss and accuracy of each walk;
progressive random walks FEM, M1, M2 and the information content features; Manhattan walks G_avg,
G_dev and FEM; uniform samples (recorded with --record-params) FDC, dispersion and DM.

Writes RUN_DIR/metrics.parquet and metrics.csv (for one configuration's folder, RUN_DIR.metrics.*
beside it; or ``--out FILE``.parquet and .csv), a long table,
one row per configuration and measure: the configuration's keys, ``sampler``, ``measure``,
``mean``, ``std``, ``ci_low``, ``ci_high`` and ``walks``; each file atomically, then
``metrics.json`` with their sizes and SHA-256 (``read_metrics`` verifies them).

    >>> table = run_metrics("runs/quick")
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from fla.base.errors import DamagedRunError, DataError
from fla.base.files import atomic_path, file_record, write_json, write_table
from fla.base.settings import boolean, check, flag, number, partial_setting, setting
from fla.base.store import POINTS, RUN_JSON, configurations, read_manifest, verify_files
from fla.metrics.autocorrelation import autocorrelation, correlation_length
from fla.metrics.entropy import fem, fem_max, information_content
from fla.metrics.entropy import undefined_reasons as entropy_reasons
from fla.metrics.gradients import gradient_measures
from fla.metrics.neutrality import EPSILON as NEUTRALITY_EPSILON
from fla.metrics.neutrality import neutrality
from fla.metrics.samples import sample_features
from fla.metrics.samples import undefined_reasons as sample_reasons
from fla.metrics.summaries import last_and_best, stagnation


@dataclass(frozen=True)
class MetricsSettings:
    """The settings of ``fla metrics`` (``write_metrics``)."""

    per_walk: bool = setting(
        False, "also write every walk's (or sample set's) value of every measure", boolean()
    )
    neutrality_epsilon: float = setting(
        NEUTRALITY_EPSILON,
        "neutral structures: losses scaled to [0, 1] within EPSILON (walks whose float32 losses "
        "do not resolve it are left out and counted)",
        number(at_least=0, below=1),
        metavar="EPSILON",
    )
    partial: bool = partial_setting()


KEYS = ["problem", "width", "depth", "granularity", "bound", "seed", "sampler"]
WALKS_PER_BLOCK = 4096
BOOTSTRAP = 1000  # resamples of the walks for the 95% interval of the mean
OUTPUTS = ("metrics.parquet", "metrics.csv")


def gradient_walk_measures(columns: dict, context: dict) -> dict:
    """Per-walk measures of progressive gradient walks: last and best values, stagnation.

    Args:
        columns: {column: [W, S]} of the walks (``loss``, ``step_length``, ``params`` ...).
        context: the configuration's ``bound``, ``n_params`` and neutrality ``epsilon``.

    Returns:
        {measure: [W]}.
    """
    share, longest = stagnation(columns["loss"])
    out = {"stagnation": share, "longest_stagnation": longest.astype(np.float64)}
    for name, lower in (("loss", True), ("accuracy", False)):
        for prefix in ("", "test_"):
            values = columns.get(prefix + name)
            if values is not None and not np.isnan(values).all():
                result = last_and_best(values, lower_is_better=lower)
                out[f"last_{prefix}{name}"], out[f"best_{prefix}{name}"] = result.values()
    return out


def step_lengths(columns: dict) -> np.ndarray | None:
    """|x_{t+1} - x_t| between consecutive rows of each walk: the recorded step_length (row t's
    distance to the next point), else from recorded parameters.

    Args:
        columns: {column: [W, S]} of the walks.

    Returns:
        [W, S - 1] lengths; None for runs that have neither (recorded before step_length without
            --record-params).
    """
    recorded = columns.get("step_length")
    if recorded is not None and np.isfinite(recorded[:, :-1]).all():
        return recorded[:, :-1]
    if columns.get("params") is not None:
        return np.linalg.norm(np.diff(columns["params"], axis=1), axis=2)
    return None


NO_LENGTHS = "its run was recorded before step lengths (step_length): sample it again"


def ruggedness_measures(columns: dict) -> dict:
    """FEM (the paper's schedule and the exact maximum), information content on slopes, and the
    autocorrelation of the loss and its correlation length, of random walks.

    Args:
        columns: {column: [W, S]} of the walks.

    Returns:
        {measure: [W]}.
    """
    losses = columns["loss"]
    out = {"fem": fem(losses), "fem_max": fem_max(losses)}
    lengths = step_lengths(columns)
    if lengths is not None:
        out.update({f"ic_{k}": v for k, v in information_content(losses, lengths).items()})
    else:
        out.update({f"ic_{k}": np.full(len(losses), np.nan) for k in IC_NAMES})
        out[WHY] = {f"ic_{k}": NO_LENGTHS for k in IC_NAMES}
    out["autocorrelation_1"] = autocorrelation(losses, (1,))[:, 0]
    out["correlation_length"] = correlation_length(losses)
    return out


def random_walk_measures(columns: dict, context: dict) -> dict:
    """Ruggedness, neutrality and information content of progressive random walks.

    Args:
        columns: {column: [W, S]} of the walks (``loss``, ``step_length``, ``params`` ...).
        context: the configuration's ``bound``, ``n_params`` and neutrality ``epsilon``.

    Returns:
        {measure: [W]}.
    """
    m1, m2 = neutrality(columns["loss"], context.get("neutrality_epsilon", NEUTRALITY_EPSILON))
    return {**ruggedness_measures(columns), "m1": m1, "m2": m2}


def manhattan_walk_measures(columns: dict, context: dict) -> dict:
    """Gradient measures on each step's actual length, and ruggedness, of Manhattan walks.

    Args:
        columns: {column: [W, S]} of the walks (``loss``, ``step_length``, ``params`` ...).
        context: the configuration's ``bound``, ``n_params`` and neutrality ``epsilon``.

    Returns:
        {measure: [W]}.
    """
    lengths = step_lengths(columns)
    out = ruggedness_measures(columns)
    if lengths is None:
        g_avg = g_dev = np.full(len(columns["loss"]), np.nan)
        out[WHY] = {**out.get(WHY, {}), "g_avg": NO_LENGTHS, "g_dev": NO_LENGTHS}
    else:
        g_avg, g_dev = gradient_measures(
            columns["loss"], lengths, context["bound"], n_params=context["n_params"]
        )
    return {"g_avg": g_avg, "g_dev": g_dev, **out}


def uniform_sample_measures(columns: dict, context: dict) -> dict:
    """FDC, dispersion (Lunacek and Whitley's and at pflacco's quantiles), information content on a
    nearest-neighbour tour and the ELA sets of each walk's set of uniform samples
    (``fla.metrics.samples``).

    Args:
        columns: {column: [W, S]} of the walks (``loss``, ``step_length``, ``params`` ...).
        context: the configuration's ``bound``, ``n_params`` and neutrality ``epsilon``.

    Returns:
        {measure: [W]}.
    """
    positions = columns.get("params")
    if positions is None:
        raise DataError(
            "uniform samples need their positions for FDC and dispersion: sample them with "
            "--record-params"
        )
    return sample_features(positions, columns["loss"], context["bound"])


MEASURES = {  # the measures each sampler allows
    "gradient": gradient_walk_measures,
    "random": random_walk_measures,
    "manhattan": manhattan_walk_measures,
    "uniform": uniform_sample_measures,
}
IC_NAMES = ("h_max", "eps_s", "eps_max", "m0", "eps_05")


WHY = "_why"  # a measures function's {measure: reason} for values it could not compute


def reason_for(measure: str, value: float, context: dict) -> str:
    """Why a measure is non-finite for a walk whose losses are finite.

    Args:
        measure: the measure.
        value: its non-finite value.
        context: the configuration's context.

    Returns:
        The reason in words (the measure's definition's).
    """
    if np.isinf(value):
        return {
            "ic_eps_s": "-inf: the entropy is below 0.05 already at epsilon 0 (a walk that only "
            "rises or only falls)",
            "ic_eps_max": "-inf: the entropy is largest at epsilon 0",
            "correlation_length": "inf: |rho(1)| = 1",
        }.get(measure, "infinite")
    if measure in ("m1", "m2"):
        return (
            f"epsilon {context.get('neutrality_epsilon', NEUTRALITY_EPSILON):g} is below the "
            "resolution of the walk's float32 losses scaled to [0, 1]: give a larger "
            "--neutrality-epsilon"
        )
    if measure in ("autocorrelation_1", "correlation_length"):
        return "the walk's loss is constant (no variance)"
    for key, text in {**entropy_reasons(), **sample_reasons()}.items():
        if measure.startswith(key):
            return text
    return "undefined for this walk"


def walk_span(folder: Path) -> list:
    """The walks of a run whose manifest has no ``walk_range``, in batches.

    Args:
        folder: the run's folder.

    Returns:
        [first walk, last walk + 1].
    """
    low, high = None, None
    for batch in ds.dataset(str(folder / POINTS), format="parquet").to_batches(columns=["walk"]):
        walks = batch.column("walk").to_numpy()
        if len(walks):
            low = walks.min() if low is None else min(low, walks.min())
            high = walks.max() if high is None else max(high, walks.max())
    return [int(low or 0), int(high if high is not None else -1) + 1]


# recorded parameters [walks, steps, D] held a block at a time, float32 as stored: rows are stored
# step by step, so every block reads the whole file, and larger blocks mean fewer passes; a block
# takes at most this, or a sixth of the memory available, whichever is less
PARAMS_BYTES = 2**32


def params_budget() -> int:
    """The bytes of parameter vectors a block may hold: ``PARAMS_BYTES``, less where memory is
    short.

    Returns:
        Bytes.
    """
    from fla.base.machine import available_bytes

    return int(min(PARAMS_BYTES, available_bytes() // 6))


def gather(dataset, names: list, lo: int, *, hi: int, steps: int) -> dict | None:
    """Columns of walks lo .. hi - 1, scattered batch by batch from one pass over the rows (no
    combined copy of the column).

    Args:
        dataset: the run's points as a pyarrow dataset.
        names: the columns.
        lo: the first walk.
        hi: one past the last.
        steps: S, the steps per walk.

    Returns:
        {column: [hi - lo, S]} (params [hi - lo, S, D], float32 as stored), NaN where a row is
            missing; None if no row is there.
    """
    block, filled = {WALKS: np.arange(lo, hi)}, 0
    scanner = dataset.to_batches(
        columns=["walk", "step", *names],
        filter=(ds.field("walk") >= lo) & (ds.field("walk") < hi),
    )
    for batch in scanner:
        if not batch.num_rows:
            continue
        walk = batch.column("walk").to_numpy() - lo
        step = batch.column("step").to_numpy()
        for name in names:
            column = batch.column(name)
            if name == "params":
                if column.null_count:
                    continue  # not recorded
                rows = column.values.to_numpy().reshape(len(column), -1)  # zero-copy
                shape, dtype = (rows.shape[1],), rows.dtype
            else:
                rows = np.asarray(column.to_numpy(zero_copy_only=False), np.float64)
                shape, dtype = (), np.float64
            if name not in block:
                block[name] = np.full((hi - lo, steps) + shape, np.nan, dtype)
            block[name][walk, step] = rows
        filled += batch.num_rows
    return block if filled else None


def step_count(dataset) -> int:
    """The steps per walk of a run's rows (the largest step + 1), from the Parquet statistics.

    Args:
        dataset: the run's points as a pyarrow dataset.

    Returns:
        S.
    """
    import pyarrow.compute as pc

    return int(pc.max(dataset.to_table(columns=["step"]).column("step")).as_py()) + 1


def blocks_of_walks(folders: list, names: list, per_block: int = WALKS_PER_BLOCK):
    """Consecutive blocks of walks of one configuration, at most ``per_block`` walks at a time, with
    the walks' numbers under ``WALKS``.

    Args:
        folders: the configuration's folders: one, or its shards (each holding the walks of its
            manifest's ``walk_range``).
        names: the columns.
        per_block: the most walks a block.

    Returns:
        An iterator of {column: [W, S]}.
    """
    dataset = ds.dataset([str(f / POINTS) for f in folders], format="parquet")
    ranges = [read_manifest(f).get("walk_range") or walk_span(f) for f in folders]
    first, stop = min(r[0] for r in ranges), max(r[1] for r in ranges)
    steps = step_count(dataset)
    for lo in range(first, stop, per_block):
        hi = min(lo + per_block, stop)
        block = gather(dataset, names, lo, hi=hi, steps=steps)
        if block is None:
            continue
        yield block


DIVERGED = "_diverged"  # per block: the walks whose losses are not all finite
WALKS = "_walks"  # per block: the walks' numbers


def finite_walks_only(measures, block: dict, context: dict) -> dict:
    """The measures of a block, NaN for every walk whose losses are not all finite (a diverged walk,
    recorded faithfully, is left out of the means and counted: ``left_out``), with the block's
    diverged walks under ``DIVERGED`` and the measures' own reasons under ``WHY``.

    Args:
        measures: the sampler's measures function.
        block: {column: [W, S]}.
        context: the configuration's context.

    Returns:
        {measure: [W]} and the two keys above.
    """
    bad = ~np.isfinite(block["loss"]).all(axis=1)
    if bad.any():
        block = {**block, "loss": np.where(bad[:, None], 0.0, block["loss"])}
    values = measures(block, context)
    why = values.pop(WHY, {})
    out = {name: np.where(bad, np.nan, v) for name, v in values.items()}
    return {**out, DIVERGED: bad, WHY: why, WALKS: block.get(WALKS, np.arange(len(bad)))}


def measure_blocks(blocks, measures, context: dict, *, threads: int | None = None) -> dict:
    """The measures of blocks of walks, ``threads`` blocks at a time (numpy releases the GIL in its
    array operations, so the cores share the work; at most ``threads`` blocks are held at once).

    Args:
        blocks: an iterator of blocks (``blocks_of_walks``).
        measures: the sampler's measures function.
        context: the configuration's context.
        threads: blocks at once (default the cores).

    Returns:
        {measure: [values of each block]}.
    """
    import os
    from concurrent.futures import ThreadPoolExecutor

    threads = threads or os.cpu_count() or 1
    per_walk, pending = defaultdict(list), []

    def keep(result: dict) -> None:
        for measure, values in result.items():
            if measure == WHY:
                per_walk.setdefault(WHY, {}).update(values)
            else:
                per_walk[measure].append(values)

    with ThreadPoolExecutor(threads) as pool:
        for block in blocks:
            pending.append(pool.submit(finite_walks_only, measures, block, context))
            if len(pending) >= threads:
                keep(pending.pop(0).result())
        for future in pending:
            keep(future.result())
    return per_walk


def bootstrap_interval(values: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """A 95% bootstrap interval of the mean over walks: the 2.5% and 97.5% percentiles of the mean
    over ``BOOTSTRAP`` resamples.

    Args:
        values: [W] one value a walk.
        seed: the resampling's seed.

    Returns:
        (low, high).
    """
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


def summary_rows(key: dict, per_walk: dict, context: dict | None = None) -> list[dict]:
    """One row per measure: mean, sd and bootstrap interval over the walks where it is finite
    (``walks``), and ``left_out`` with its ``reason`` (diverged walks, and each reason the
    definition gives) for the rest.

    Args:
        key: the configuration's columns.
        per_walk: {measure: [W]} and the diverged walks.
        context: the configuration's context.

    Returns:
        The rows.
    """
    diverged = np.concatenate(per_walk.get(DIVERGED, [np.zeros(0, bool)]))
    why = per_walk.get(WHY, {})
    rows = []
    for measure, values in per_walk.items():
        if measure in (DIVERGED, WHY, WALKS):
            continue
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
                "left_out": int(len(values) - len(finite)),
                "reason": left_out_reason(
                    measure, values, diverged, why=why, context=context or {}
                ),
            }
        )
    return rows


def left_out_reason(measure, values, diverged, *, why: dict, context: dict) -> str:
    """Why the walks without a finite value of a measure were left out, counted by reason.

    Args:
        measure: the measure.
        values: [W] its values.
        diverged: [W] the walks whose losses are not all finite.
        why: the measures' own reasons, by measure.
        context: the configuration's context.

    Returns:
        E.g. ``"3 walks: diverged (non-finite losses); 2 walks: ..."``; ``""`` when none was.
    """
    counts = defaultdict(int)
    if len(diverged) == len(values):
        counts["diverged (non-finite losses)"] = int(diverged.sum())
    rest = ~np.isfinite(values) & (~diverged if len(diverged) == len(values) else True)
    for value in values[rest]:
        text = why.get(measure) or reason_for(measure, float(value), context)
        counts[text] += 1
    return "; ".join(f"{n} walks: {text}" for text, n in counts.items() if n)


def grouped_configurations(run_dir: Path) -> dict:
    """The configurations under a folder, shards grouped.

    Args:
        run_dir: a sampling run or a study.

    Returns:
        {configuration key: [its verified folders]}.

    Raises:
        DamagedRunError: a folder that does not verify.
    """
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


def run_metrics(
    run_dir, quiet: bool = True, neutrality_epsilon: float = NEUTRALITY_EPSILON, *, per_walk=None
) -> pd.DataFrame:
    """The long table of every configuration's measures (module docstring).

    Args:
        run_dir: a sampling run or a study.
        quiet: no per-configuration lines.
        neutrality_epsilon: the neutrality tolerance.
        per_walk: a list that each configuration's per-walk values are appended to (a data frame,
            one row per walk, a column per measure).

    Returns:
        The table.
    """
    import pyarrow.parquet as pq

    check(MetricsSettings(neutrality_epsilon=neutrality_epsilon), flag)  # Python callers too
    rows = []
    for key, folders in sorted(grouped_configurations(Path(run_dir)).items(), key=str):
        key = dict(key)
        measures = MEASURES.get(key["sampler"])
        if measures is None:
            raise DataError(f"{folders[0]}: no measures known for sampler {key['sampler']!r}")
        manifest = read_manifest(folders[0])
        recorded = set(pq.read_schema(folders[0] / POINTS).names)
        names = ["loss", "accuracy", "test_loss", "test_accuracy"]
        names += ["step_length"] * ("step_length" in recorded and key["sampler"] != "gradient")
        positions = key["sampler"] == "uniform" or (
            key["sampler"] != "gradient"
            and "step_length" not in recorded
            and manifest["config"].get("record_params")
        )
        names += ["params"] * bool(positions)
        steps, d = manifest["plan"]["steps"], manifest["plan"]["n_params"]
        per_block = max(1, min(WALKS_PER_BLOCK, params_budget() // (4 * steps * d)))
        context = {
            "step_size": manifest["plan"]["step_size"],
            "bound": manifest["config"]["bound"],
            "n_params": d,
            "neutrality_epsilon": neutrality_epsilon,
        }
        blocks = blocks_of_walks(folders, names, per_block if positions else WALKS_PER_BLOCK)
        values = measure_blocks(blocks, measures, context)
        rows += summary_rows(key, values, context)
        if per_walk is not None:
            per_walk.append(per_walk_frame(key, values))
        if not quiet:
            count = sum(1 for m in values if not m.startswith("_"))
            print(f"  {' '.join(f'{k}={v}' for k, v in key.items())}: {count} measures")
    return pd.DataFrame(rows)


def per_walk_frame(key: dict, values: dict) -> pd.DataFrame:
    """One configuration's per-walk values.

    Args:
        key: the configuration's columns.
        values: {measure: [W]} and the walks' numbers and diverged flags.

    Returns:
        A data frame: its keys, ``walk``, ``diverged`` and every measure.
    """
    frame = pd.DataFrame(
        {
            "walk": np.concatenate(values[WALKS]),
            "diverged": np.concatenate(values[DIVERGED]),
            **{m: np.concatenate(v) for m, v in values.items() if not m.startswith("_")},
        }
    )
    for name, value in reversed(list(key.items())):
        frame.insert(0, name, value)
    return frame


def output_base(run_dir: Path, out) -> Path:
    """Where the tables go, as a name without suffix.

    Args:
        run_dir: the run read.
        out: ``--out`` (less a .parquet suffix), or None.

    Returns:
        ``--out``, else RUN_DIR.metrics beside a configuration's folder, else RUN_DIR/metrics in a
            study's.
    """
    if out:
        out = Path(out)
        return out.with_name(out.name[: -len(".parquet")]) if out.suffix == ".parquet" else out
    if (run_dir / RUN_JSON).exists():  # one configuration: the table goes beside its folder
        return run_dir.parent / f"{run_dir.name}.metrics"
    return run_dir / "metrics"


def output_paths(base: Path, per_walk: bool) -> dict:
    """The files of one metrics output.

    Args:
        base: the name without suffix (``output_base``).
        per_walk: with per-walk values.

    Returns:
        {"table", "csv", "manifest" and, with per-walk values, "walks"}: NAME.parquet, NAME.csv,
            NAME.json, NAME.walks.parquet.
    """
    names = {"table": ".parquet", "csv": ".csv", "manifest": ".json"}
    if per_walk:
        names["walks"] = ".walks.parquet"
    return {key: base.with_name(base.name + suffix) for key, suffix in names.items()}


def write_metrics(
    run_dir,
    out=None,
    quiet: bool = False,
    *,
    partial=None,
    per_walk: bool = False,
    neutrality_epsilon: float = NEUTRALITY_EPSILON,
) -> Path:
    """Compute and write the table (Parquet and CSV), with ``per_walk`` the per-walk values, and the
    manifest NAME.json last, holding the output folder's lock for the whole command (``fla
    metrics``). A failure leaves none of them behind.

    Args:
        run_dir: a sampling run or a study.
        out: NAME of the tables (``output_base``).
        quiet: no per-configuration lines.
        partial: the label of a study that is not whole, recorded in the manifest and printed.
        per_walk: also write NAME.walks.parquet.
        neutrality_epsilon: the neutrality tolerance.

    Returns:
        The Parquet path.
    """
    from fla.base.outputs import claim_files

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"RUN_DIR {run_dir} does not exist; give a folder of fla sample or sweep")
    base = output_base(run_dir, out)
    paths = output_paths(base, per_walk)
    flag = "--out" if out else "the default output"
    with claim_files(list(paths.values()), "fla metrics", run_dir, flag=flag):
        frames: list = [] if per_walk else None
        table = run_metrics(run_dir, quiet, neutrality_epsilon, per_walk=frames)
        try:
            write_table(paths["table"], pa.Table.from_pandas(table, preserve_index=False))
            with atomic_path(paths["csv"]) as tmp:
                table.to_csv(tmp, index=False)
            if per_walk:
                walks = pd.concat(frames, ignore_index=True)
                write_table(paths["walks"], pa.Table.from_pandas(walks, preserve_index=False))
            written = [p for k, p in paths.items() if k != "manifest"]
            manifest = {
                "command": "fla metrics",
                "run": str(run_dir),
                "files": {p.name: file_record(p) for p in written},
                "partial": partial,
                "neutrality_epsilon": neutrality_epsilon,
            }
            write_json(paths["manifest"], manifest)
        except BaseException:
            for path in paths.values():
                path.unlink(missing_ok=True)
            raise
    if not quiet:
        label = f" ({partial})" if partial else ""
        print(f"{len(table)} rows, {table.measure.nunique()} measures -> {paths['table']}{label}")
    return paths["table"]


def read_metrics(path) -> pd.DataFrame:
    """A metrics table written by ``write_metrics``, verified against its manifest.

    Args:
        path: NAME.parquet.

    Returns:
        The table.

    Raises:
        DataError: a missing or damaged manifest or table.
    """
    path = Path(path)
    manifest = output_paths(output_base(path.parent, path), False)["manifest"]
    try:
        meta = json.loads(manifest.read_text())
    except (OSError, ValueError):
        raise DataError(f"{path}: no readable {manifest.name}") from None
    problem = verify_files(path.parent, meta.get("files", {}))
    if problem is not None:
        raise DataError(f"{path}: {problem}; run fla metrics again")
    return pd.read_parquet(path)
