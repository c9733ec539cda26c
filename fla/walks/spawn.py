"""Walks spawned from one point: the instability analysis of Frankle, Dziugaite, Roy and Carbin
(ICML 2020, "Linear mode connectivity and the lottery ticket hypothesis", Sec. 2) transposed to
progressive gradient walks.

Each walk of a finished run is walked again, as the run walked it, to its point after K steps
(theta_K); ``copies`` copies then take steps K .. S - 1 from theta_K, each with fresh streams: copy
c draws with ``fla.walks.streams.copy_seed(seed, c)``, so its Delta (and, where the run drew them,
its mini-batches) are a function of (seed, walk, copy, step) alone, and no copy shares a draw with
the run's own walks or with another copy. Frankle et al. train copies of one network from step K
with different SGD noise; here the noise is the walk's own (its Delta, and its batches).

The walk to K runs in the run's own programs (its chunk width, its walks' positions in them), so
theta_K is bitwise the run's: the loss recorded at step K checks it (``check_against_run``).

    >>> starts, ends, losses, objective = spawned_ends(config, problem, at=[0, 10], copies=2)
    >>> ends.shape                                                 # [2 at, 2 copies, W, D]
"""

from __future__ import annotations

import numpy as np

from fla.base.errors import ConfigError
from fla.walks import streams
from fla.walks.config import SampleConfig, plan
from fla.walks.samplers import SAMPLERS


def check_spawn(config: SampleConfig, p, *, at, copies: int) -> list[int]:
    """The steps to spawn at, once they and the run allow spawning.

    Args:
        config: the run's configuration.
        p: its plan.
        at: the steps K asked for.
        copies: the copies a K.

    Returns:
        The steps, sorted and distinct.

    Raises:
        ConfigError: a sampler that is not a gradient walk, a K outside 0 .. steps - 1, fewer than
            two copies, or points memory cannot hold (``check_memory``).
    """
    if config.sampler != "gradient":
        raise ConfigError(
            f"walks spawn from progressive gradient walks; this run's sampler is {config.sampler}"
        )
    at = sorted({int(k) for k in at})
    if not at or at[0] < 0 or at[-1] >= p.steps:
        raise ConfigError(f"--at must name steps in 0 .. {p.steps - 1} (the run walks {p.steps})")
    if copies < 2:
        raise ConfigError(f"--copies must be at least 2 (a barrier needs two ends), got {copies}")
    check_memory(p, at=at, copies=copies)
    return at


def check_memory(p, *, at, copies: int) -> None:
    """Refuse before walking the points kept (each K's theta_K and every copy's end, float32) that
    would not fit in memory beside the walks' programs.

    Args:
        p: the run's plan.
        at: the steps K.
        copies: the copies a K.

    Raises:
        ConfigError: naming the flags to change.
    """
    from fla.base.machine import available_bytes, human
    from fla.walks.resources import MEMORY_SHARE

    need = 4.0 * len(at) * (copies + 1) * p.walks * p.n_params
    budget = MEMORY_SHARE * available_bytes() / 2  # half for the programs and the lines
    if need > budget:
        raise ConfigError(
            f"{len(at)} spawn steps x {copies} copies of {p.walks:,} walks of D = {p.n_params:,} "
            f"keep {human(need)} of points and {human(budget)} is free for them: ask fewer --at "
            "or --copies"
        )


def spawned_ends(config: SampleConfig, problem, *, at, copies: int, chunk: int | None = None):
    """Walk each walk of the run again to each K in the run's own programs, and its copies on from
    there with fresh streams (``streams.copy_seed``).

    Args:
        config: the run's configuration.
        problem: its problem.
        at: the steps K.
        copies: the copies a K.
        chunk: the programs' width: the run's, from its manifest (a run short of memory ran narrower
            programs than its plan's).

    Returns:
        (theta_K [len(at), W, D], the copies' ends [len(at), copies, W, D], the losses at each K as
            the run's own step K computes them, its batch included [len(at), W], the objective
            walked).
    """
    from dataclasses import replace

    from fla.walks.sample import program_of, shared_batches

    p = plan(config, (problem.n_inputs, problem.n_outputs), problem.batch_size is None)
    p = replace(p, chunk=chunk or p.chunk)
    at = check_spawn(config, p, at=at, copies=copies)
    program = program_of(config, p, problem)
    sampler = SAMPLERS[config.sampler]

    def walk(theta, seed, first, *, step0, steps):
        """theta after ``steps`` steps from step0, and the loss at its first step."""
        run = config if seed == config.seed else config_with_seed(config, seed)
        train_idx, test_idx = shared_batches(run, p, problem, step0=step0, s=steps)
        theta, records = program.run(
            theta,
            p.step_size,
            seed,
            first,
            step0,
            steps,
            train_idx,
            test_idx,
            width=p.chunk,
            record_params=False,
            bound=config.bound,
        )
        return theta, records["loss"][0]

    starts = np.zeros((len(at), p.walks, p.n_params), np.float32)
    ends = np.zeros((len(at), copies, p.walks, p.n_params), np.float32)
    losses = np.zeros((len(at), p.walks), np.float32)
    for first in range(0, p.walks, p.chunk):
        n = min(p.chunk, p.walks - first)
        theta = sampler.start(config.seed, first, count=n, n_params=p.n_params, bound=config.bound)
        done = 0
        for i, k in enumerate(at):
            if k > done:
                theta, _ = walk(theta, config.seed, first, step0=done, steps=k - done)
            done = k
            starts[i, first : first + n] = theta
            losses[i, first : first + n] = walk(theta, config.seed, first, step0=k, steps=1)[1]
            for c in range(copies):
                seed = streams.copy_seed(config.seed, c + 1)
                ends[i, c, first : first + n] = walk(
                    theta, seed, first, step0=k, steps=p.steps - k
                )[0]
    return starts, ends, losses, program.objective


def config_with_seed(config: SampleConfig, seed: int) -> SampleConfig:
    """The configuration whose shared batches a copy draws: the run's, keyed by the copy's seed
    (``streams.shared_batch`` takes 64-bit seeds).

    Args:
        config: the run's configuration.
        seed: the copy's 64-bit seed.

    Returns:
        The configuration with that seed.
    """
    from dataclasses import replace

    return replace(config, seed=seed)
