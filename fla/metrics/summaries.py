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
    """(share of stagnant steps, longest stagnant stretch in steps) [W] each."""
    still = np.abs(np.diff(scaled(losses), axis=1)) <= epsilon
    return still.mean(axis=1), longest_run(still)


def last_and_best(values: np.ndarray, lower_is_better: bool = True) -> dict:
    """The last value of each walk and its best (lowest loss or highest accuracy), [W] each; NaN
    values (a diverged point) never count as best."""
    v = np.asarray(values, np.float64)
    best = np.nanmin(v, axis=1) if lower_is_better else np.nanmax(v, axis=1)
    return {"last": v[:, -1], "best": best}
