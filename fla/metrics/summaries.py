"""What each progressive gradient walk ends with and where it stalls (Bosman, Engelbrecht and
Helbig's tables): the last and the best values of the training and test loss and accuracy, and
stagnation, the stretches of steps in which the loss no longer moves (|f_t - f_{t-1}| at most
``epsilon`` = 1e-8 of the walk's loss range; a constant walk is stagnant throughout).

    >>> share, longest = stagnation(losses)                  # [W] each
    >>> last_and_best(losses, lower_is_better=True)          # {"last", "best"}: [W] each
"""

from __future__ import annotations

import numpy as np

from fla.metrics.neutrality import longest_run, scaled

EPSILON = 1e-8


def stagnation(losses: np.ndarray, epsilon: float = EPSILON):
    """Where each walk stalls: steps whose scaled loss moves by at most ``epsilon``.

    Args:
        losses: [W, S] the losses of W walks of S steps, each scaled to [0, 1] by its own range
            (``fla.metrics.neutrality.scaled``) before the steps are compared.
        epsilon: the largest |f_t - f_{t-1}| of a stagnant step, in units of the walk's loss range.

    Returns:
        (share, longest): [W] each, the share of the S - 1 steps that are stagnant and the longest
            run of consecutive stagnant steps (a constant walk: 1 and S - 1).
    """
    still = np.abs(np.diff(scaled(losses), axis=1)) <= epsilon
    return still.mean(axis=1), longest_run(still)


def last_and_best(values: np.ndarray, lower_is_better: bool = True) -> dict:
    """The last and the best value of each walk (Bosman et al.'s tables).

    Args:
        values: [W, S] a recorded value (a loss or an accuracy) of W walks of S steps.
        lower_is_better: True for losses (best = lowest), False for accuracies (best = highest).

    Returns:
        {"last": [W], "best": [W]}; NaN values (a diverged point) never count as best.
    """
    v = np.asarray(values, np.float64)
    best = np.nanmin(v, axis=1) if lower_is_better else np.nanmax(v, axis=1)
    return {"last": v[:, -1], "best": best}
