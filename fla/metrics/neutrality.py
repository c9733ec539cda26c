"""Neutrality of a walk (van Aardt, Bosman and Engelbrecht 2017, "Characterising neutrality in
neural network error landscapes"): its losses are scaled to [0, 1] (the walk's own minimum and
maximum), and each structure of three consecutive points is neutral when its losses lie within
epsilon of each other (max - min <= epsilon; 1e-8 in their code).

The epsilon must be resolved by the losses: a float32 loss holds about 7 digits, so on a walk
whose losses are near 0.7 and span 0.3, one float32 step of the scaled loss is about 2.6e-7, and
any epsilon below that counts exact ties only. ``neutrality`` gives NaN for a walk whose
scaled losses do not resolve epsilon (``scaled_resolution``), and ``fla metrics`` names how
many walks it left out and why; its default epsilon, ``EPSILON`` = 1e-5, is resolved by the
losses of every walk whose range is at least about 5% of its level.

- M1: the share of the walk's n - 2 structures that are neutral;
- M2: the longest run of consecutive neutral structures, as a share of n - 2.

The reference code passes the walk's loss *differences* to these functions, which then rescale the
differences rather than the losses (a straight ramp, whose differences are all equal, comes out
partly neutral), and its M2 never counts a run that reaches the end of the walk; here the losses
are scaled and every run counts (``tests/test_metrics.py``). Scaling the losses makes M1 and M2
unchanged when the loss is scaled by a positive constant or shifted; a constant walk is neutral
throughout (M1 = M2 = 1).

    >>> m1, m2 = neutrality(losses)          # [W] each
"""

from __future__ import annotations

import numpy as np

EPSILON = 1e-5  # fla metrics' default: resolved by float32 losses (see the module docstring)
PAPER_EPSILON = 1e-8  # van Aardt et al.'s code


def scaled(losses: np.ndarray) -> np.ndarray:
    """Each walk's losses mapped to [0, 1] by its own minimum and maximum.

    Args:
        losses: [W, S] the losses of W walks of S steps.

    Returns:
        [W, S] float64 (f - min) / (max - min); 0 throughout for a constant walk.
    """
    losses = np.asarray(losses, np.float64)
    low = losses.min(axis=1, keepdims=True)
    span = losses.max(axis=1, keepdims=True) - low
    return (losses - low) / np.where(span > 0, span, 1.0)


def scaled_resolution(losses: np.ndarray) -> np.ndarray:
    """The rounding level of each walk's scaled losses: ``fla.metrics.entropy.resolution`` (4 units
    in the last place of the largest |loss|, in the losses' own precision) over the walk's range.

    Args:
        losses: [W, S] the losses, in the precision they were recorded in (float32 from Parquet).

    Returns:
        [W] the smallest epsilon the scaled losses resolve; inf for a constant walk (which no
            epsilon resolves but which is neutral at every epsilon).
    """
    from fla.metrics.entropy import resolution

    values = np.asarray(losses)
    span = np.ptp(np.asarray(values, np.float64), axis=1)
    with np.errstate(divide="ignore"):
        return np.where(span > 0, resolution(values) / np.where(span > 0, span, 1.0), np.inf)


def neutral_structures(losses: np.ndarray, epsilon: float = EPSILON) -> np.ndarray:
    """Which structures of three consecutive points are neutral (van Aardt et al. 2017): their
    scaled losses lie within epsilon of each other (max - min <= epsilon).

    Args:
        losses: [W, S] the losses of W walks of S steps.
        epsilon: the neutrality tolerance, in units of each walk's loss range.

    Returns:
        [W, S - 2] booleans, one per structure.
    """
    f = scaled(losses)
    windows = np.stack([f[:, :-2], f[:, 1:-1], f[:, 2:]])
    return windows.max(axis=0) - windows.min(axis=0) <= epsilon


def longest_run(flags: np.ndarray) -> np.ndarray:
    """The longest run of consecutive True in each row, runs that reach either end included.

    Args:
        flags: [W, n] booleans.

    Returns:
        [W] integer lengths (0 for a row without True).
    """
    flags = np.asarray(flags, bool)
    steps = np.arange(1, flags.shape[1] + 1)
    last_false = np.maximum.accumulate(np.where(flags, 0, steps), axis=1)
    return (steps - last_false).max(axis=1, initial=0)


def neutrality(losses: np.ndarray, epsilon: float = EPSILON) -> tuple[np.ndarray, np.ndarray]:
    """M1 and M2 of each walk (van Aardt, Bosman and Engelbrecht 2017; module docstring): the share
    of its neutral structures and its longest run of them as a share of S - 2.

    Args:
        losses: [W, S] the losses of W walks of S steps, in their recorded precision.
        epsilon: the neutrality tolerance on the scaled losses (default 1e-5, resolved by float32
            losses; the paper's code uses 1e-8).

    Returns:
        (M1, M2): [W] each in [0, 1]; NaN for a walk whose losses do not resolve epsilon
            (``scaled_resolution``); a constant walk is neutral throughout (1, 1).
    """
    neutral = neutral_structures(losses, epsilon)
    m1, m2 = neutral.mean(axis=1), longest_run(neutral) / neutral.shape[1]
    resolution = scaled_resolution(losses)
    unresolved = (epsilon < resolution) & np.isfinite(resolution)
    return np.where(unresolved, np.nan, m1), np.where(unresolved, np.nan, m2)
