"""Gradient measures of a Manhattan progressive random walk (Malan and Engelbrecht 2013,
"Ruggedness, funnels and gradients in fitness landscapes and the effect on PSO performance").

Each step moves one dimension by exactly s, so the estimated gradient of step t is the loss change
over the step, both scaled to the landscape: the loss by the walk's loss range, the step by the
Manhattan extent of the domain (D dimensions of width 2b):

    g_t = ((f_t - f_{t-1}) / (f_max - f_min)) / (s / (2 b D))

G_avg is the mean of |g_t| over the walk's steps and G_dev their standard deviation (ddof = 1). A
constant walk has g_t = 0. G_avg does not change when the loss is scaled or shifted.

    >>> g_avg, g_dev = gradient_measures(losses, step_size=0.02, bound=1.0, n_params=9)
"""

from __future__ import annotations

import numpy as np


def gradients(losses: np.ndarray, step_size: float, bound: float, n_params: int) -> np.ndarray:
    """g_t [W, S - 1] of each walk."""
    f = np.asarray(losses, np.float64)
    span = f.max(axis=1, keepdims=True) - f.min(axis=1, keepdims=True)
    scaled_step = step_size / (2.0 * bound * n_params)
    return np.diff(f, axis=1) / np.where(span > 0, span, np.inf) / scaled_step


def gradient_measures(losses, step_size: float, bound: float, n_params: int):
    """(G_avg, G_dev) [W] each."""
    g = np.abs(gradients(losses, step_size, bound, n_params))
    return g.mean(axis=1), g.std(axis=1, ddof=1)
