"""Ruggedness from the entropy of a walk's symbol string: the first entropic measure (FEM) of Malan
and Engelbrecht (2009, after Vassilev, Fogarty and Miller 2000) and the information content
features of Munoz, Kirley and Halgamuge (2015).

A walk's losses f_0 .. f_n give the differences d_t = f_t - f_{t-1} and, for a sensitivity
epsilon, the symbol string S(epsilon) = s_1 .. s_n with s_t = -1 if d_t < -epsilon, 0 if
|d_t| <= epsilon and 1 if d_t > epsilon. Its entropy (Vassilev et al., eq. 1)

    H(epsilon) = - sum_{p != q} P[pq] log_6 P[pq],   P[pq] = n[pq] / (n - 1),

counts the six kinds of consecutive pairs pq of different symbols (rugged: -1 1, 1 -1; smooth
slopes and flats: 0 1, 1 0, 0 -1, -1 0) among all n - 1 pairs of the string. The reference code of
Bosman et al. sums five of the six kinds and never looks at the string's last pair; here every pair
of every kind counts (``tests/test_metrics.py`` shows the difference on a short walk).

Every function takes losses [W, S] (walks, steps) and returns one value per walk, computed for
all walks and all epsilon at once: a pair's symbols change only where epsilon crosses |d_t| or
|d_{t+1}|, so its kind is constant on three intervals of epsilon, and the counts over an epsilon
grid are interval sums (no loop over walks, steps or epsilon values; walks are taken in chunks
that bound the memory).

    >>> fem(losses)                      # [W], FEM_0.01 of micro walks, FEM_0.1 of macro walks
    >>> information_content(losses)      # {"h_max", "eps_s", "m0", "eps_05"}: [W] each
"""

from __future__ import annotations

import numpy as np

# (p, q) -> column of the six kinds of pairs of different symbols
KINDS = {(0, 1): 0, (0, -1): 1, (1, 0): 2, (1, -1): 3, (-1, 0): 4, (-1, 1): 5}
CHUNK_CELLS = 2**24  # walks per chunk x steps x epsilon values held at once


def _kind_code(p, q):
    """Column of KINDS for symbols p, q (arrays), 6 where p == q."""
    table = np.full((3, 3), 6, np.int64)
    for (a, b), k in KINDS.items():
        table[a + 1, b + 1] = k
    return table[p + 1, q + 1]


def pair_counts(losses: np.ndarray, eps: np.ndarray) -> np.ndarray:
    """n[pq] [W, E, 6]: the pairs of each kind in S(eps_e) of each walk (eps [E] ascending)."""
    d = np.diff(np.asarray(losses, np.float64), axis=1)
    a, b = np.abs(d[:, :-1]), np.abs(d[:, 1:])
    sa, sb = np.sign(d[:, :-1]).astype(np.int64), np.sign(d[:, 1:]).astype(np.int64)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    # the pair's kind below lo (both symbols signed), between lo and hi (the larger one signed)
    below = _kind_code(sa, sb)
    between = np.where(a >= b, _kind_code(sa, 0 * sb), _kind_code(0 * sa, sb))
    walks, pairs = a.shape
    width = (len(eps) + 1) * 7
    rows = np.arange(walks)[:, None] * width
    # a symbol is 0 when |d| <= eps: the pair is `below` for eps < lo, `between` for lo <= eps < hi
    start_between = np.searchsorted(eps, lo, side="left") * 7  # first eps >= lo
    start_zero = np.searchsorted(eps, hi, side="left") * 7
    cells = np.concatenate(
        [
            rows + below,
            rows + start_between + below,
            rows + start_between + between,
            rows + start_zero + between,
        ]
    ).ravel()
    signs = np.repeat([1.0, -1.0, 1.0, -1.0], walks * pairs)
    counts = np.bincount(cells, signs, minlength=walks * width).reshape(walks, len(eps) + 1, 7)
    return np.cumsum(counts, axis=1)[:, :-1, :6]


def entropy(losses: np.ndarray, eps: np.ndarray) -> np.ndarray:
    """H(eps_e) [W, E] of each walk (Vassilev et al. eq. 1, all six kinds, all n - 1 pairs)."""
    losses = np.asarray(losses, np.float64)
    out = np.empty((len(losses), len(eps)))
    step = max(1, CHUNK_CELLS // max(1, losses.shape[1] * len(eps)))
    for first in range(0, len(losses), step):
        part = losses[first : first + step]
        p = pair_counts(part, eps) / max(1, part.shape[1] - 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(p > 0, -p * np.log(p) / np.log(6.0), 0.0)
        out[first : first + step] = terms.sum(axis=2)
    return out


def epsilon_star(losses: np.ndarray) -> np.ndarray:
    """The smallest epsilon that makes S(epsilon) all zeros, [W]: the largest |d_t|."""
    return np.abs(np.diff(np.asarray(losses, np.float64), axis=1)).max(axis=1)


FEM_FRACTIONS = np.unique(np.concatenate([[0.0], 2.0 ** -np.arange(8), np.arange(20) * 0.05]))


def fem(losses: np.ndarray) -> np.ndarray:
    """The first entropic measure [W] (Malan and Engelbrecht 2009): H_max = max H(epsilon) over
    epsilon in [0, epsilon*], taken on the schedule epsilon* x {0, 2^-7, ..., 1/2, 1} of the paper
    joined with the reference code's 0, 0.05, ..., 0.95 epsilon* (a finer schedule estimates the
    maximum better). epsilon* comes from the walk itself, so FEM does not change when the loss is
    scaled by a positive constant or shifted; of micro walks it is FEM_0.01, of macro walks FEM_0.1.
    """
    losses = np.asarray(losses, np.float64)
    star = epsilon_star(losses)
    scale = np.where(star > 0, star, 1.0)
    relative = (losses - losses[:, :1]) / scale[:, None]  # epsilon* becomes 1 for every walk
    return entropy(relative, FEM_FRACTIONS).max(axis=1)


IC_EPSILON = np.concatenate([[0.0], 10.0 ** np.linspace(-5, 15, 1000)])  # Munoz et al.'s grid
SETTLING = 0.05  # H below this: the landscape looks flat at that epsilon (eps_s)


def partial_information(losses: np.ndarray, eps: np.ndarray, d=None) -> np.ndarray:
    """M(eps) [W] for one epsilon per walk (Munoz et al. 2015): mu / n, mu the length of S(eps) once
    its zeros are removed and runs of equal symbols merged (its alternations), n its length, so
    that a walk whose loss turns at every step has M(0) = 1. ``d``: the losses' differences, when
    the caller has them."""
    d = np.diff(np.asarray(losses, np.float64), axis=1) if d is None else d
    s = np.where(np.abs(d) > np.asarray(eps)[:, None], np.sign(d), 0).astype(np.int8)
    index = np.where(s != 0, np.arange(s.shape[1], dtype=np.int32), -1)
    last = np.maximum.accumulate(index, axis=1)  # the last non-zero symbol up to t
    before = np.take_along_axis(s, np.maximum(last[:, :-1], 0), 1) * (last[:, :-1] >= 0)
    mu = (s[:, 0] != 0).astype(np.int64) + ((s[:, 1:] != 0) & (s[:, 1:] != before)).sum(axis=1)
    return mu / max(1, d.shape[1])


def information_content(losses: np.ndarray, eps: np.ndarray = IC_EPSILON) -> dict:
    """Munoz, Kirley and Halgamuge (2015), per walk [W]: ``h_max`` = max H(epsilon); ``eps_s``, the
    settling sensitivity, log10 of the smallest epsilon with H(epsilon) < 0.05; ``m0`` = M(0), the
    initial partial information; ``eps_05`` = log10 of the largest epsilon with M(epsilon) > 0.5
    (M does not grow with epsilon; -inf where even M(0) <= 0.5 or the only such epsilon is 0). On
    their epsilon grid, 0 and 10^-5 .. 10^15 in 1,000 steps: absolute values of the loss; a walk
    whose entropy has not settled by 10^15 (loss changes beyond it) gets eps_s = 15, the grid's
    end. Losses must be finite (``fla metrics`` leaves out walks that are not)."""
    losses = np.asarray(losses, np.float64)
    h = entropy(losses, eps)
    settled = h < SETTLING
    first = np.where(settled.any(axis=1), settled.argmax(axis=1), len(eps) - 1)
    with np.errstate(divide="ignore"):
        eps_s = np.log10(eps[first])
        lo = np.zeros(len(losses), np.int64)  # bisection: M(eps[lo]) > 0.5 holds at lo
        hi = np.full(len(losses), len(eps))
        d = np.diff(losses, axis=1)
        m0 = partial_information(losses, np.zeros(len(losses)), d)
        while (hi - lo > 1).any():
            mid = (lo + hi) // 2
            above = partial_information(losses, eps[np.minimum(mid, len(eps) - 1)], d) > 0.5
            lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
        eps_05 = np.where(m0 > 0.5, np.log10(eps[lo]), -np.inf)
    return {"h_max": h.max(axis=1), "eps_s": eps_s, "m0": m0, "eps_05": eps_05}
