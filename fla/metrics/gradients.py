"""Gradient measures of a Manhattan progressive random walk (Malan and Engelbrecht 2013,
"Ruggedness, funnels and gradients in fitness landscapes and the effect on PSO performance").

Each step moves one dimension by s (less where the walk reflects off the domain's boundary), so
the estimated gradient of step t is the loss change over the step, both scaled to the landscape:
the loss by the walk's loss range, the step's actual length l_t by the Manhattan extent of the
domain (D dimensions of width 2b):

    g_t = ((f_t - f_{t-1}) / (f_max - f_min)) / (l_t / (2 b D))

G_avg is the mean of |g_t| over the walk's steps and G_dev their standard deviation (ddof = 1). A
constant walk has g_t = 0. G_avg does not change when the loss is scaled or shifted.

    >>> g_avg, g_dev = gradient_measures(losses, lengths, bound=1.0, n_params=9)

``lengths`` [W, S - 1] are the steps' lengths (the ``step_length`` column); a number is taken as
every step's length (s, for walks that never reflect). A step of length 0 (a reflection that
lands where it started) has no gradient and is left out.
"""

from __future__ import annotations

import numpy as np


def gradients(losses: np.ndarray, lengths, bound: float, *, n_params: int) -> np.ndarray:
    """The estimated gradient g_t of each step of each walk (Malan and Engelbrecht 2013; module
    docstring): the loss change over the walk's loss range, over the step's length over 2 b D.

    Args:
        losses: [W, S] the losses of W Manhattan walks of S steps.
        lengths: [W, S - 1] each step's length (the ``step_length`` column), or one number for all.
        bound: b, the domain is [-b, b]^D.
        n_params: D, the dimension of the domain.

    Returns:
        [W, S - 1] g_t; NaN for steps of length 0 (no gradient), 0 for a constant walk.
    """
    f = np.asarray(losses, np.float64)
    span = f.max(axis=1, keepdims=True) - f.min(axis=1, keepdims=True)
    lengths = np.broadcast_to(np.asarray(lengths, np.float64), (len(f), f.shape[1] - 1))
    scaled_step = np.where(lengths > 0, lengths, np.nan) / (2.0 * bound * n_params)
    return np.diff(f, axis=1) / np.where(span > 0, span, np.inf) / scaled_step


def gradient_measures(losses, lengths, bound: float, *, n_params: int):
    """G_avg and G_dev of each walk (Malan and Engelbrecht 2013): the mean and the standard
    deviation (ddof = 1) of |g_t| over its steps (``gradients``).

    Args:
        losses: [W, S] the losses of W Manhattan walks of S steps.
        lengths: [W, S - 1] each step's length, or one number for all.
        bound: b, the domain is [-b, b]^D.
        n_params: D, the dimension of the domain.

    Returns:
        (G_avg, G_dev): [W] each, steps of length 0 left out.
    """
    g = np.abs(gradients(losses, lengths, bound, n_params=n_params))
    return np.nanmean(g, axis=1), np.nanstd(g, axis=1, ddof=1)
