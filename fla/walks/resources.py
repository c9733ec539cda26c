"""What a plan will need, checked before anything is allocated: memory, and float32 range.

Memory: ``peak_bytes`` estimates the peak of a plan from its sizes: the walk state and the draws
of a chunk (its walks advanced by one compiled program, [chunk, D] several times over), the
activations of the forward and backward passes ([chunk, N, width] per layer), the records of a block
of steps, the data set, and the curvature buffers (Hessians of one call, bounded by
``fla.walks.measure.HESSIAN_BYTES``, or a Lanczos basis, bounded by
``fla.walks.measure.LANCZOS_BYTES``). When it exceeds the memory available, the chunk is halved
until it fits (recorded in the run's metadata as ``resources``, with a warning: the chunk width is
part of what fixes a walk's last bits, see ``fla.walks.config.chunk_width``); when even the
smallest chunk does not fit, the run is refused with the estimate and the settings to change.

Range: a network whose logits at initialisation are predicted to exceed ``LOGIT_LIMIT`` is
refused. The prediction is the root-mean-square pre-activation layer by layer for weights uniform in
[-b, b] (standard deviation b / sqrt(3)) and ELU units passing about half the energy of their input
(tanh and sigmoid units at most 1 each, ReLU, leaky ReLU and SiLU about half, as ELU):

    r_1 = b / sqrt(3) * sqrt(mean |x|^2 + 1),
    r_{l+1} = b / sqrt(3) * sqrt(fan_in / 2 * r_l^2 + 1)

A float32 gradient norm overflows near 1e19 (its square passes 3.4e38); the limit leaves four orders
of magnitude for the tails and for the walk's drift. Runs that leave the range later are recorded
faithfully and end with a non-zero exit (``fla.base.errors.NonFiniteError``).
"""

from __future__ import annotations

import math
from dataclasses import replace

from fla.base.errors import ConfigError
from fla.base.machine import available_bytes, human  # noqa: F401 (slices read them here)
from fla.walks.config import Plan

LOGIT_LIMIT = 1e15
BOUNDED = ("tanh", "sigmoid")  # activations whose outputs lie in [-1, 1]
MEMORY_SHARE = 0.8  # of the memory available that a plan may use

BLOCK_BYTES = 256 * 2**20  # what one compiled call may return, bounding memory
# steps run in (at least) this many blocks, so that writing overlaps walking (2 measured best of 1,
# 2, 4)
PIPELINE_BLOCKS = 2


def steps_per_block(p: Plan, keep_params: bool, steps: int | None = None) -> int:
    """Steps per compiled call: at most ``BLOCK_BYTES`` returned, and at least ``PIPELINE_BLOCKS``
    blocks.

    Args:
        p: the plan.
        keep_params: whether points are returned.
        steps: the steps to block (default the plan's).

    Returns:
        The steps a block.
    """
    per_step_bytes = 4 * (8 + p.n_params * keep_params)
    steps = p.steps if steps is None else steps
    return max(1, min(-(-steps // PIPELINE_BLOCKS), BLOCK_BYTES // (p.chunk * per_step_bytes)))


def peak_bytes(p, network, problem, *, config, chunk: int) -> int:
    """The estimated peak memory of a plan run with ``chunk`` walks at once.

    Args:
        p: the plan.
        network: its network.
        problem: its problem.
        config: its configuration.
        chunk: walks a program.

    Returns:
        Bytes.
    """
    from fla.walks.measure import hessians_per_call, lanczos_points_per_call

    d = p.n_params
    n = len(problem.x_train) if p.batching == "full" else config.batch_size
    walk = 8 * chunk * d * 4  # theta, Delta, its words, gradient, update, copies in and out
    activations = 6 * chunk * n * (config.width * config.depth + problem.n_outputs) * 4
    keep = p.keep_params or config.record_params
    block = min(p.steps, steps_per_block(replace(p, chunk=chunk), keep))
    # the block walking, the one measured, the rows
    records = 3 * block * chunk * (8 + d * keep) * 4
    data = problem.x_train.nbytes + (problem.x_test.nbytes if problem.has_test else 0)
    if p.hessian in ("exact", "blocks"):
        per_call = hessians_per_call(d)
        # the program, its float64 copy and the eigensolver's parts: ~8 Hessians
        curvature = 8 * per_call * d * d * 4 + per_call * d * n * config.width * config.depth * 4
    elif p.hessian == "lanczos":
        points = min(chunk, lanczos_points_per_call(d, config.lanczos_steps))
        curvature = 8 * config.lanczos_steps * d * points + 4 * points * n * config.width * 4
    else:
        curvature = 0
    return int(walk + activations + records + data + curvature)


def what_drives(p, network, problem, *, config, chunk: int) -> str:
    """The fix for a plan that does not fit, naming the setting behind its largest estimate.

    Args:
        p: the plan.
        network: its network.
        problem: its problem.
        config: its configuration.
        chunk: walks a program.

    Returns:
        The advice, in words.
    """
    shares = {
        "curvature": peak_bytes(p, network, problem, config=config, chunk=chunk)
        - peak_bytes(replace(p, hessian="none"), network, problem, config=config, chunk=chunk),
        "batch": 6 * chunk * config.batch_size * (config.width * config.depth + 1) * 4,
        "network": 8 * chunk * p.n_params * 4,
    }
    if p.batching == "full":
        shares.pop("batch")
    largest = max(shares, key=shares.get)
    return {
        "curvature": "use --hessian lanczos or none, or a smaller --width or --depth",
        "batch": "use a smaller --batch-size",
        "network": "use a smaller --width or --depth",
    }[largest]


def predicted_logit_scale(network, problem, bound: float) -> float:
    """The root-mean-square logit at initialisation (module docstring), to refuse settings whose
    numbers would overflow float32.

    Args:
        network: the network.
        problem: its problem.
        bound: the initialisation range b.

    Returns:
        The predicted scale.
    """
    x = problem.x_train.astype("float64")
    r = bound / math.sqrt(3) * math.sqrt(float((x**2).sum(axis=1).mean()) + 1.0)
    bounded = network.activation in BOUNDED
    for fan_in, _ in network.layers[1:]:
        energy = min(r * r / 2, 1.0) if bounded else r * r / 2
        r = bound / math.sqrt(3) * math.sqrt(fan_in * energy + 1.0)
        if not math.isfinite(r):
            return math.inf
    return r


def fit_plan(config, p, problem):
    """The plan with its chunk shrunk to fit in memory if needed (module docstring).

    Args:
        config: the run's configuration.
        p: its plan.
        problem: its problem.

    Returns:
        (plan, notes).

    Raises:
        ConfigError: a plan that cannot fit, or whose numbers would overflow float32.
    """
    from fla.walks.config import LANES, round_up

    network = p.network
    budget = MEMORY_SHARE * available_bytes()
    chunk, notes = p.chunk, {"memory_available": int(budget / MEMORY_SHARE)}
    while peak_bytes(p, network, problem, config=config, chunk=chunk) > budget and chunk > LANES:
        chunk = round_up(chunk // 2)
    need = peak_bytes(p, network, problem, config=config, chunk=chunk)
    if need > budget:
        raise ConfigError(
            f"{network.name} (D = {p.n_params:,}) with --hessian {config.hessian} needs about "
            f"{human(need)} even a few walks at a time, and {human(budget)} is available; "
            f"{what_drives(p, network, problem, config=config, chunk=chunk)}"
        )
    scale = predicted_logit_scale(network, problem, config.bound)
    if scale > LOGIT_LIMIT:
        raise ConfigError(
            f"--bound {config.bound:g} with {network.name} predicts logits of about {scale:.1e} at "
            f"the "
            f"start, past float32's safe range ({LOGIT_LIMIT:.0e}); use a smaller --bound, --width "
            "or --depth"
        )
    # fewer walks per program: the walks' last bits differ from a run that fits
    if chunk != p.chunk:
        import warnings

        notes["chunk_shrunk_from"] = p.chunk
        warnings.warn(
            f"{network.name}: {p.chunk} walks per program do not fit in memory; running {chunk} at "
            f"a "
            "time (recorded in the metadata; the walks may differ in their last bits from a run "
            "with more memory)"
        )
    notes["memory_estimate"] = need
    return replace(p, chunk=chunk), notes
