"""The autocorrelation of the loss along a random walk and its correlation length (Weinberger,
"Correlated and uncorrelated fitness landscapes and how to tell the difference", Biological
Cybernetics 63, 1990, Eqs. 3-4): for a walk's losses f_1 .. f_n with mean f and variance
s^2 = (1/n) sum (f_t - f)^2,

    rho(k) = (1 / (s^2 n)) sum_{t=1}^{n-k} (f_t - f)(f_{t+k} - f),
    ell = -1 / ln |rho(1)|,

the standard (Box and Jenkins) estimator of the autocorrelation, whose 1/n keeps |rho| <= 1 (the
1/(n - k) of the unbiased covariance lets smooth walks reach rho(1) > 1, and ell no value);

and the correlation length: the distance (in steps) over which losses stay correlated. A smooth
landscape has rho(1) near 1 and a long correlation length; a rugged one rho(1) near 0. A constant
walk has no variance: rho and ell are undefined (NaN, named by ``fla metrics``); |rho(1)| = 1 (a
straight line comes close) gives ell = inf, rho(1) = 0 gives ell = 0.

    >>> rho = autocorrelation(losses, lags=[1, 2, 5])      # [W, 3]
    >>> ell = correlation_length(losses)                    # [W]
"""

from __future__ import annotations

import numpy as np


def autocorrelation(losses: np.ndarray, lags=(1,)) -> np.ndarray:
    """The autocorrelation rho(k) of each walk's losses (Weinberger 1990, Eq. 3; module docstring).

    Args:
        losses: [W, S] the losses of W walks of S steps.
        lags: the lags k, each in 1 .. S - 1.

    Returns:
        [W, len(lags)] rho(k) of each walk at each lag; NaN for a constant walk (no variance).

    Raises:
        ValueError: a lag outside 1 .. S - 1.
    """
    f = np.asarray(losses, np.float64)
    centred = f - f.mean(axis=1, keepdims=True)
    variance = (centred**2).mean(axis=1)
    n = f.shape[1]
    out = np.empty((len(f), len(lags)))
    for i, k in enumerate(lags):
        if not 0 < k < n:
            raise ValueError(f"lag {k} must lie in 1 .. {n - 1} for walks of {n} steps")
        covariance = (centred[:, :-k] * centred[:, k:]).sum(axis=1) / n
        with np.errstate(divide="ignore", invalid="ignore"):
            out[:, i] = np.where(variance > 0, covariance / variance, np.nan)
    return out


def correlation_length(losses: np.ndarray) -> np.ndarray:
    """The correlation length ell = -1 / ln |rho(1)| of each walk (Weinberger 1990, Eq. 4).

    Args:
        losses: [W, S] the losses of W walks of S steps.

    Returns:
        [W] ell in steps: inf where |rho(1)| = 1, 0 where rho(1) = 0, NaN for a constant walk.
    """
    rho = np.abs(autocorrelation(losses, (1,))[:, 0])
    with np.errstate(divide="ignore"):
        return np.where(rho >= 1, np.inf, -1.0 / np.log(np.minimum(rho, 1.0)))
