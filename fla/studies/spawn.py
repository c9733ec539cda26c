"""``fla spawn RUN_DIR``: walks spawned from one point and the straight lines between the copies'
ends, the instability analysis of Frankle, Dziugaite, Roy and Carbin (ICML 2020, Sec. 2)
transposed to walks (``fla.walks.spawn``).

For each walk of one configuration, each spawn step K of ``at`` and each pair of copies (c, c'),
c < c', the loss and the error (1 - accuracy) are evaluated at ``points`` evenly spaced points of
the straight line between the two copies' ends, on the first ``patterns`` training patterns with
the run's objective (its regulariser included). The barriers are Frankle et al.'s: the highest
value along the line minus the mean of the values at its ends,

    barrier = max_t E((1 - t) theta_c + t theta_c') - (E(theta_c) + E(theta_c')) / 2,

for the error E (``error_barrier``) and for the loss (``loss_barrier``). Frankle et al. call a
network stable at K when the copies' error barrier is at most 2% (``stable_error``): per K the
summary gives the median and mean barriers and the share of pairs at most ``stable_error``, and
``stable_from`` is the first K of ``at`` from which on the median error barrier stays at most
``stable_error`` (None if it never does): the step after which the walks of a configuration stay
in one linearly connected basin.

Output (``--out``): ``spawn.parquet`` (a row per walk, K and pair: the ends' losses and errors,
the barriers, the distance and both profiles along the line), ``summary.csv`` (per K) and
``spawn.json`` last (the settings, the source run, the summary, every file with its SHA-256).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from fla.base.errors import ConfigError, DamagedRunError
from fla.base.files import atomic_path, file_record, write_json, write_table
from fla.base.outputs import claim_folder, remove_files
from fla.base.settings import build, integer, list_of, number, read_toml, setting
from fla.base.store import POINTS, read_manifest, verify

OUTPUTS = ("spawn.parquet", "summary.csv", "spawn.json")


@dataclass(frozen=True)
class SpawnSettings:
    """What ``fla spawn`` does; a settings file's keys and the command's flags."""

    at: tuple = setting(
        (0,),
        "steps K to spawn the copies at (the walk's point after K steps)",
        list_of(integer(at_least=0), "steps"),
        nargs="+",
        metavar="K",
    )
    copies: int = setting(2, "copies spawned from each walk at each K", integer(at_least=2))
    points: int = setting(
        31,
        "points along each straight line between two copies' ends (Frankle et al.: 30 intervals)",
        integer(at_least=3),
    )
    patterns: int = setting(
        10_000, "training patterns the lines are evaluated on (all when fewer)", integer(at_least=1)
    )
    stable_error: float = setting(
        0.02,
        "the error barrier at most which copies count as linearly connected (Frankle et al.: 2%)",
        number(at_least=0, at_most=1),
    )


def load_settings(path=None, **given) -> SpawnSettings:
    """The settings of a spawn: defaults, overridden by the TOML file at ``path`` and by flags
    given.

    Args:
        path: a TOML file of ``SpawnSettings``' keys, or None.
        **given: settings from the command line (None: not given).

    Returns:
        The checked ``SpawnSettings``.

    Raises:
        ConfigError: an unknown key or a value its setting refuses.
    """
    where = f"--settings {path}: " if path else ""
    values = read_toml(path, "--settings") if path is not None else {}
    values.update({k: v for k, v in given.items() if v is not None})
    if "at" in values and isinstance(values["at"], list):
        values["at"] = tuple(values["at"])
    return build(SpawnSettings, values, where)


def verified_spawn(folder) -> dict:
    """A spawn run's manifest, once every file it lists verifies.

    Args:
        folder: the spawn's output folder.

    Returns:
        spawn.json's contents.

    Raises:
        DataError: a missing, damaged or unfinished spawn.
    """
    from fla.base.store import verified_manifest

    return verified_manifest(folder, "spawn.json", "fla spawn")


def barriers(profile: np.ndarray) -> np.ndarray:
    """Frankle et al.'s (2020) barrier of each profile: its highest value minus the mean of its two
    ends.

    Args:
        profile: [P, points] values along P lines.

    Returns:
        [P] barriers.
    """
    return profile.max(axis=1) - (profile[:, 0] + profile[:, -1]) / 2


def line_profiles(objective, a: np.ndarray, b: np.ndarray, *, points: int, x, y):
    """The training loss and error along straight lines between copies' ends.

    Args:
        objective: the walk program's ``fla.core.objective.Objective``.
        a: [P, D] the lines' starts.
        b: [P, D] their ends.
        points: points along each line, ends included.
        x: the patterns.
        y: their labels.

    Returns:
        (loss [P, points], error [P, points]).
    """
    import tensorflow as tf

    t = np.linspace(0.0, 1.0, points)
    line = (1 - t)[None, :, None] * a[:, None] + t[None, :, None] * b[:, None]
    flat = line.reshape(-1, a.shape[1])
    x, y = tf.constant(x, objective.dtype), tf.constant(y)
    losses, errors = [], []
    for i in range(0, len(flat), 4096):
        loss, accuracy = objective.loss_and_accuracy_at(
            tf.constant(flat[i : i + 4096], objective.dtype), x, y
        )
        losses.append(loss.numpy())
        errors.append(1.0 - accuracy.numpy())
    shape = (len(a), points)
    return (
        np.concatenate(losses).astype(np.float64).reshape(shape),
        np.concatenate(errors).astype(np.float64).reshape(shape),
    )


def check_against_run(run_dir: Path, at, losses: np.ndarray) -> None:
    """The walk to K is the run's own: the losses of the walks walked again to each K must equal,
    bit for bit, the losses the run recorded there.

    Args:
        run_dir: the sampling run.
        at: the steps K.
        losses: [len(at), W] the losses walked again.

    Raises:
        DamagedRunError: any loss that differs.
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    recorded = pq.read_table(
        run_dir / POINTS,
        columns=["walk", "step", "loss"],
        filters=pc.field("step").isin(list(at)),
    ).to_pandas()
    table = recorded.pivot(index="step", columns="walk", values="loss").loc[list(at)]
    if table.shape != losses.shape or not np.array_equal(
        table.to_numpy(np.float32), losses, equal_nan=True
    ):
        raise DamagedRunError(
            {
                str(run_dir): f"its walks walked again to steps {list(at)} do not give the "
                "losses it recorded there (a run of another fla version, or damaged)"
            }
        )


def spawn_rows(run_dir: Path, settings: SpawnSettings, *, data_dir=None) -> pd.DataFrame:
    """Walk each walk of a run to each K, spawn copies there, walk them on with fresh streams and
    measure the barriers between their ends (module docstring).

    Args:
        run_dir: a verified sampling run of one configuration.
        settings: the spawn's settings.
        data_dir: the folder of data files.

    Returns:
        A row per walk, K and pair of copies: the barriers of the loss and the error and the
            profiles along the line.
    """
    from fla.core.registry import load_problem
    from fla.walks.config import SampleConfig
    from fla.walks.spawn import spawned_ends

    manifest = read_manifest(run_dir)
    cfg = manifest["config"]
    problem = load_problem(cfg["problem"], data_dir, cfg.get("target"))
    at = sorted(set(settings.at))
    starts, ends, losses, objective = spawned_ends(
        SampleConfig(**cfg),
        problem,
        at=at,
        copies=settings.copies,
        chunk=manifest.get("plan", {}).get("chunk"),
    )
    check_against_run(run_dir, at, losses)
    n = min(settings.patterns, len(problem.x_train))
    x, y = problem.x_train[:n], problem.y_train[:n]
    pairs = [(c, d) for c in range(settings.copies) for d in range(c + 1, settings.copies)]
    walks = ends.shape[2]
    frames = []
    for i, k in enumerate(at):
        for c, d in pairs:
            loss, error = line_profiles(
                objective, ends[i, c], ends[i, d], points=settings.points, x=x, y=y
            )
            frames.append(
                pd.DataFrame(
                    {
                        "walk": np.arange(walks, dtype=np.int32),
                        "at": np.int32(k),
                        "copy_a": np.int32(c + 1),
                        "copy_b": np.int32(d + 1),
                        "loss_a": loss[:, 0],
                        "loss_b": loss[:, -1],
                        "error_a": error[:, 0],
                        "error_b": error[:, -1],
                        "loss_barrier": barriers(loss),
                        "error_barrier": barriers(error),
                        "distance": np.linalg.norm(
                            ends[i, d].astype(np.float64) - ends[i, c], axis=1
                        ),
                        "distance_from_spawn": np.linalg.norm(
                            ends[i, c].astype(np.float64) - starts[i], axis=1
                        ),
                        "line_losses": list(loss),
                        "line_errors": list(error),
                    }
                )
            )
    rows = pd.concat(frames, ignore_index=True)
    rows.insert(0, "patterns", np.int32(n))
    return rows


def summary(rows: pd.DataFrame, settings: SpawnSettings) -> tuple[pd.DataFrame, int | None]:
    """The spawn's summary per K.

    Args:
        rows: ``spawn_rows``' table.
        settings: the spawn's settings (``stable_error``).

    Returns:
        (a row per K: pairs, the non-finite ones (a copy that diverged, left out of the rest), the
            median and mean error and loss barriers, the share of pairs at most ``stable_error``;
            ``stable_from``, the first K from which on the median error barrier stays at most
            ``stable_error``, or None).
    """
    finite = np.isfinite(rows[["loss_barrier", "error_barrier", "distance"]]).all(axis=1)
    nonfinite = (~finite).groupby(rows["at"]).sum().astype(int)
    by = rows[finite].groupby("at")
    table = by.agg(
        pairs=("error_barrier", "size"),
        error_barrier_median=("error_barrier", "median"),
        error_barrier_mean=("error_barrier", "mean"),
        loss_barrier_median=("loss_barrier", "median"),
        loss_barrier_mean=("loss_barrier", "mean"),
        distance_median=("distance", "median"),
    )
    table["stable_share"] = by.error_barrier.apply(
        lambda v: float((v <= settings.stable_error).mean())
    )
    table = table.reindex(nonfinite.index)  # a K whose every pair diverged: no barrier to give
    table["pairs"] = table.pairs.fillna(0).astype(int)
    table["nonfinite_pairs"] = nonfinite
    stable = table.error_barrier_median <= settings.stable_error  # False where none is finite
    stable_from = None
    for k in reversed(table.index):  # the first K from which on every later K is stable
        if not stable[k]:
            break
        stable_from = int(k)
    return table.reset_index(), stable_from


def spawn(run_dir, out, settings: SpawnSettings, *, data_dir=None, quiet: bool = False) -> dict:
    """Spawn, measure and write ``spawn.parquet``, ``summary.csv`` and the verified ``spawn.json``
    (``fla spawn``), under the output rule.

    Args:
        run_dir: a verified sampling run of one configuration.
        out: the output folder.
        settings: the spawn's settings.
        data_dir: the folder of data files.
        quiet: no progress.

    Returns:
        The manifest written.
    """
    run_dir, out = Path(run_dir), Path(out)
    if read_manifest(run_dir) is None:
        raise ConfigError(f"{run_dir} is not a sampling run's configuration (no run.json)")
    damage = verify(run_dir)
    if damage:
        raise DamagedRunError({str(run_dir): damage})
    start = time.time()
    with claim_folder(out, "fla spawn", OUTPUTS, source=run_dir, what="a spawn run"):
        try:
            rows = spawn_rows(run_dir, settings, data_dir=data_dir)
            table, stable_from = summary(rows, settings)
            write_table(out / "spawn.parquet", pa.Table.from_pandas(rows, preserve_index=False))
            with atomic_path(out / "summary.csv") as tmp:
                table.to_csv(tmp, index=False)
            manifest = {
                "command": "fla spawn",
                "source": str(run_dir),
                "settings": asdict(settings),
                "stable_from": stable_from,
                "summary": table.astype(object).where(table.notna(), None).to_dict("records"),
                "seconds": round(time.time() - start, 3),
                "files": {name: file_record(out / name) for name in OUTPUTS[:2]},
            }
            write_json(out / "spawn.json", manifest)
        except BaseException:
            remove_files(out, OUTPUTS)
            raise
    if not quiet:
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        print(
            f"stable (median error barrier <= {settings.stable_error:g}) from step "
            f"{stable_from if stable_from is not None else 'none of ' + str(list(settings.at))}"
            f" -> {out}"
        )
    return manifest
