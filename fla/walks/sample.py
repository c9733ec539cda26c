"""One sampling configuration -> one directory of verified Parquet data (see ``fla.base.store``).

    >>> config = SampleConfig("xor", width=2, depth=1, granularity="macro", bound=1.0)
    >>> summary = sample(config, "out/xor-2-1")

The stages: ``fla.walks.config.plan`` resolves the settings; ``fla.walks.resources`` checks
the plan fits in memory (shrinking the chunk when that suffices) and that its numbers stay finite;
``fla.walks.program.WalkProgram`` advances a chunk of walks a block of steps at a time;
``fla.walks.measure`` measures curvature at the recorded points in a writer thread while the next
block walks; the writers stream Parquet and the manifest is written last.

What the data depend on: the walks are a function of (seed, walk index, step) and the settings that
define the walk (problem, width, depth, granularity, bound, walks, steps, batching, batch size);
they do not depend on the curvature asked for or on ``record_params``, and any range of walks
starting at a multiple of the plan's chunk can be run alone (a shard) with the same result.

Mini-batch problems (MNIST) draw, per step, a batch of ``batch_size`` training patterns and one of
test patterns. ``shared`` batching (the default) gives all walks of a step the same batch, drawn
without replacement from (seed, step), which makes the first layer of all walks one GEMM near the
machine's matmul peak; ``per_walk`` gives each walk its own batch from (seed, walk, step) (with
replacement), a batched skinny matmul, several times slower.
"""

from __future__ import annotations

import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from fla.base.errors import ConfigError, NonFiniteError
from fla.base.files import (
    LOCK,
    folder_lock,
    is_own_temporary,
    refuse_inside_a_locked_folder,
)
from fla.base.machine import check_disk
from fla.base.programs import Kept
from fla.base.store import (
    ENDPOINT_SCHEMA,
    ENDPOINTS,
    OWN_FILES,
    POINT_SCHEMA,
    POINTS,
    PartWriter,
    table,
    write_manifest,
)
from fla.walks import streams
from fla.walks.config import Plan, SampleConfig, check_meaning, plan
from fla.walks.records import block_columns, metadata, now, patterns_of_rows
from fla.walks.resources import steps_per_block
from fla.walks.samplers import SAMPLERS


def check_out(out: Path) -> None:
    """The output rule (``fla.base.outputs.check_folder``): --out new or empty, but for fla's own
    leftovers of a killed run of this kind (its temporary files, which are removed); never a link, a
    file, a folder holding anything else or one a running fla process is writing.

    Args:
        out: the run's output folder.

    Raises:
        ConfigError: naming what is in the way.
    """
    from fla.base.outputs import check_folder, leftover

    check_folder(out, "fla sample", OWN_FILES, own=None, resume=False, flag="--out", what="a run")
    for e in out.iterdir() if out.is_dir() else []:
        if leftover(e, OWN_FILES):
            e.unlink()


def disk_lower_bound(p: Plan, config, walk_range) -> float:
    """The bytes a run writes at least: per row its loss and gradient norm (float32,
    incompressible), and the D floats of its parameters (--record-params) and its spectrum (exact,
    every row).

    Args:
        p: the plan.
        config: the configuration.
        walk_range: (lo, hi) the walks run.

    Returns:
        Bytes.
    """
    rows = (walk_range[1] - walk_range[0]) * p.steps
    per_row = 8 + 4 * p.n_params * config.record_params
    per_row += 4 * p.n_params * (p.hessian == "exact" and p.hessian_at.kind == "all")
    return float(rows) * per_row


def remove_own_files(out: Path) -> None:
    """Remove what this run wrote in ``out`` (and ``out`` if that leaves it empty); nothing else.

    Args:
        out: the run's output folder.
    """
    for e in out.iterdir():
        if e.is_file() and (e.name in OWN_FILES or is_own_temporary(e, OWN_FILES)):
            e.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        out.rmdir()


def refuse_strangers(out: Path) -> None:
    """Before publishing: refuse when anything but this run's own files appeared in ``out`` while it
    ran (written by something that does not take fla's lock); nothing is published.

    Args:
        out: the run's output folder.

    Raises:
        ConfigError: naming the stranger.
    """
    strangers = [
        e.name
        for e in out.iterdir()
        if e.name != LOCK and e.name not in OWN_FILES and not is_own_temporary(e, OWN_FILES)
    ]
    if strangers:
        raise ConfigError(
            f"--out {out} gained files during the run ({', '.join(sorted(strangers)[:3])}) that "
            "this run did not write; nothing was published: give a folder only this run writes"
        )


def sample(
    config: SampleConfig,
    out,
    data_dir=None,
    *,
    quiet: bool = False,
    walk_range=None,
    in_sweep: bool = False,
) -> dict:
    """Run one configuration (``fla sample``), or its walks lo .. hi - 1 (a shard), into ``out``.

    One writer per folder: the run holds ``out``'s lock throughout, checks the folder under it, and
    checks it again before publishing the manifest; an ``out`` inside a folder another fla process
    is writing (a running sweep's study, unless this is that sweep's own task: ``in_sweep``) is
    refused.

    Args:
        config: the configuration.
        out: the output folder.
        data_dir: the folder of data files.
        quiet: no progress bar or summary.
        walk_range: (lo, hi), lo a multiple of the plan's chunk: a shard.
        in_sweep: run as a sweep's own task.

    Returns:
        The manifest written (run.json).

    Raises:
        ConfigError: bad settings, a bad --out, or more memory or disk than there is.
        NonFiniteError: after writing the data faithfully, when some recorded loss or gradient norm
            is not finite.
    """
    from fla.core.registry import load_problem
    from fla.walks.resources import fit_plan

    out = Path(out)
    config.validate()
    if not in_sweep:
        refuse_inside_a_locked_folder(out)
    check_out(out)
    problem = load_problem(config.problem, data_dir, config.target)
    resolved = plan(config, (problem.n_inputs, problem.n_outputs), problem.batch_size is None)
    check_meaning(config, resolved, len(problem.x_train))
    p, notes = fit_plan(config, resolved, problem)
    walk_range = check_walk_range(walk_range, p)
    check_disk(
        out.parent,
        disk_lower_bound(p, config, walk_range),
        f"{walk_range[1] - walk_range[0]:,} walks x {p.steps:,} steps",
        fix="use fewer --walks or --steps, or free disk space",
    )
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    held = False
    try:
        with folder_lock(out):  # refused, it leaves the folder to its writer
            held = True
            check_out(out)  # again, now that no other fla process can write here
            manifest = _sample(
                config, p, notes, problem=problem, out=out, quiet=quiet, walk_range=walk_range
            )
    except BaseException:
        if created and held:
            remove_own_files(out)  # the lock released: the folder goes if nothing else is left
        raise
    if manifest["nonfinite_rows"]:
        raise NonFiniteError(
            f"{out}: {manifest['nonfinite_rows']} of {manifest['rows']} rows have a non-finite "
            "loss or gradient norm (recorded as they are); check the data, or keep the walks in "
            "float32 range with a smaller --bound or fewer --steps"
        )
    return manifest


def check_walk_range(walk_range, p: Plan) -> tuple[int, int]:
    """The walks a run samples.

    Args:
        walk_range: (lo, hi), or None for all.
        p: the plan.

    Returns:
        (lo, hi).

    Raises:
        ConfigError: a shard that does not start at a multiple of the chunk, or lies outside the
            walks.
    """
    if walk_range is None:
        return 0, p.walks
    lo, hi = walk_range
    if not (0 <= lo < hi <= p.walks) or lo % p.chunk:
        raise ConfigError(
            f"walk range {lo} .. {hi} must lie in 0 .. {p.walks} and start at a multiple of the "
            f"chunk ({p.chunk} walks)"
        )
    return int(lo), int(hi)


def _sample(config, p: Plan, notes: dict, *, problem, out: Path, quiet: bool, walk_range) -> dict:
    import tensorflow as tf
    from tqdm import tqdm

    from fla.walks.measure import curvature_columns, selected_rows

    program = program_of(config, p, problem)
    meta, t0 = metadata(config, p, notes, problem=problem, tf=tf), time.time()
    lo, hi = walk_range
    meta["walk_range"] = [lo, hi]
    constants = {
        "problem": config.problem,
        "width": config.width,
        "depth": config.depth,
        "n_params": p.n_params,
        "activation": config.activation,
        "granularity": config.granularity,
        "bound": float(config.bound),
        "step_size": p.step_size,
        "seed": config.seed,
        "sampler": config.sampler,
        "loss_function": config.loss,
        "regulariser": config.regulariser,
        "lambda": config.lambda_,
        "w0": config.objective_settings["w0"]
        if config.regulariser == "weight_elimination"
        else None,
    }
    writers = [
        PartWriter(out / POINTS, POINT_SCHEMA, meta),
        PartWriter(out / ENDPOINTS, ENDPOINT_SCHEMA, meta),
    ]
    points, endpoints = writers
    blocks = step_blocks(p, config.record_params)
    bar = tqdm(
        total=(hi - lo) * p.steps,
        unit="step",
        disable=quiet,
        desc=f"{config.problem} {p.network.name}",
    )
    nonfinite = [0]

    def record(rec, first, n, *, step0, s, train_idx):  # runs in the writer thread
        columns = block_columns(rec, first, n, step0=step0, s=s, config=config)
        nonfinite[0] += int(
            (~np.isfinite(columns["loss"]) | ~np.isfinite(columns["grad_norm"])).sum()
        )
        if p.hessian != "none":
            rows = selected_rows(p, columns["step"], columns["grad_norm"])
            if len(rows) and "params" not in rec:
                raise RuntimeError(
                    f"internal error: steps {step0}..{step0 + s - 1} were walked without their "
                    f"points"
                )
            patterns = patterns_of_rows(
                rows,
                first,
                n,
                step0=step0,
                train_idx=train_idx,
                p=p,
                config=config,
                problem=problem,
            )
            params = (
                rec["params"].reshape(s * n, -1)[rows]
                if len(rows)
                else np.zeros((0, p.n_params), np.float32)
            )
            columns.update(
                curvature_columns(
                    p.hessian,
                    params,
                    patterns,
                    n_rows=s * n,
                    rows=rows,
                    objective=program.objective,
                    config=config,
                )
            )
        if not config.record_params:
            columns.pop("params", None)
        points.write(table(POINT_SCHEMA, constants, columns, n=s * n))

    sampler = SAMPLERS[config.sampler]
    pool, pending = ThreadPoolExecutor(1, thread_name_prefix="fla-writer"), None
    try:
        for first in range(lo, hi, p.chunk):
            n = min(p.chunk, hi - first)
            theta = sampler.start(
                config.seed, first, count=n, n_params=p.n_params, bound=config.bound
            )
            for step0, s, with_params in blocks:
                train_idx, test_idx = shared_batches(config, p, problem, step0=step0, s=s)
                theta, rec = program.run(
                    theta,
                    p.step_size,
                    config.seed,
                    first,
                    step0,
                    s,
                    train_idx,
                    test_idx,
                    width=p.chunk,
                    record_params=with_params,
                    bound=config.bound,
                )
                if pending is not None:
                    pending.result()  # at most one block waits: bounded memory, rows in order
                pending = pool.submit(record, rec, first, n, step0=step0, s=s, train_idx=train_idx)
                bar.update(s * n)
            endpoints.write(
                table(
                    ENDPOINT_SCHEMA,
                    constants,
                    {
                        "walk": np.arange(first, first + n, dtype=np.int32),
                        "step": np.full(n, p.steps, np.int32),
                        "params": sampler.points(theta, config.bound),
                    },
                    n=n,
                )
            )
        if pending is not None:
            pending.result()
        pool.shutdown()
        bar.close()
        meta.update(
            end_time=now(),
            wall_seconds=round(time.time() - t0, 3),
            rows=points.rows,
            nonfinite_rows=nonfinite[0],
        )
        refuse_strangers(out)
        for writer in writers:
            writer.commit(meta)
        manifest = write_manifest(out, meta, [POINTS, ENDPOINTS])
    except BaseException:
        pool.shutdown(cancel_futures=True)
        bar.close()
        for writer in writers:
            writer.abort()
        raise
    if not quiet:
        rate = points.rows / max(meta["wall_seconds"], 1e-9)
        print(
            f"{points.rows} points ({hi - lo} walks x {p.steps} steps) in "
            f"{meta['wall_seconds']:.1f} s "
            f"({rate:,.0f} steps/s, compilation included) -> {out / POINTS}"
        )
    return manifest


def step_blocks(p: Plan, record_params: bool) -> list[tuple[int, int, bool]]:
    """The compiled calls of a chunk. Points are returned only where they are recorded or measured:
    with curvature at each walk's last step alone (Lanczos' default), the other steps run without
    returning them (for 2-20-20-20-1, a third of the step's time went to copying points nobody
    reads). The walk is the same either way.

    Args:
        p: the plan.
        record_params: whether every point is recorded.

    Returns:
        [(first step, steps, whether the call returns the points)].
    """

    def split(start: int, stop: int, keep: bool) -> list:
        size = steps_per_block(p, keep, stop - start)
        return [(t, min(size, stop - t), keep) for t in range(start, stop, size)]

    last_only = p.keep_params and not record_params and p.hessian_at.kind == "last"
    if last_only and p.steps > 1:
        return split(0, p.steps - 1, False) + [(p.steps - 1, 1, True)]
    return split(0, p.steps, record_params or p.keep_params)


WALK_PROGRAMS = 8  # walk programs a process keeps (a sweep's worker: one per architecture)
_PROGRAMS = Kept(WALK_PROGRAMS)


def walk_program(
    network,
    problem,
    batching: str,
    *,
    batch_size: int,
    sampler: str = "gradient",
    walk_bounds: str = "none",
    objective_settings: dict | None = None,
):
    """The compiled walk program for a network and problem, built once per process. A sweep runs
    many configurations (seeds, bounds, granularities, curvature settings) of one architecture in a
    worker; they share the program and so its XLA compilation (seconds) per input shape.

    Args:
        network: the ``MLP``.
        problem: the ``Problem``.
        batching: ``full``, ``shared`` or ``per_walk``.
        batch_size: the mini-batch size.
        sampler: the sampler's name.
        walk_bounds: ``none`` or ``reflect``.
        objective_settings: the loss and regulariser (``SampleConfig.objective_settings``).

    Returns:
        The ``fla.walks.program.WalkProgram``.
    """
    from fla.core.objective import run_objective
    from fla.walks.program import WalkProgram

    settings = objective_settings or {}
    key = (network, id(problem), batching, batch_size, sampler, walk_bounds)
    key += tuple(sorted(settings.items()))

    def build():
        objective = run_objective(settings, network, problem)
        return WalkProgram(
            objective,
            False,
            batching,
            batch_size=batch_size,
            sampler=sampler,
            walk_bounds=walk_bounds,
        )

    return _PROGRAMS.get(key, build, holds=problem)


def program_of(config, p: Plan, problem):
    """The walk program of a configuration's plan (``walk_program``).

    Args:
        config: the configuration.
        p: its plan.
        problem: its problem.

    Returns:
        The ``WalkProgram``.
    """
    return walk_program(
        p.network,
        problem,
        p.batching,
        batch_size=config.batch_size,
        sampler=config.sampler,
        walk_bounds=config.walk_bounds,
        objective_settings=config.objective_settings,
    )


def shared_batches(config, p: Plan, problem, *, step0: int, s: int):
    """The shared training and test batches of a block of steps (``streams.shared_batch``).

    Args:
        config: the configuration.
        p: its plan.
        problem: its problem.
        step0: the first step.
        s: the steps.

    Returns:
        (train [s, N], test [s, N]), each None unless batching is shared.
    """
    if p.batching != "shared":
        return None, None
    n_train, n_test = len(problem.x_train), len(problem.x_test)
    train = [
        streams.shared_batch(config.seed, t, n_train, size=min(config.batch_size, n_train), salt=0)
        for t in range(step0, step0 + s)
    ]
    test = [
        streams.shared_batch(config.seed, t, n_test, size=min(config.batch_size, n_test), salt=1)
        for t in range(step0, step0 + s)
    ]
    return np.asarray(train, np.int32), np.asarray(test, np.int32)
