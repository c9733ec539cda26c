"""Ruggedness from the entropy of a symbol string: the first entropic measure (FEM) of Malan and
Engelbrecht (2009, after Vassilev, Fogarty and Miller 2000) on a walk's loss differences, and the
information content features of Munoz, Kirley and Halgamuge (IEEE TEC 19(1), 2015) on its slopes.

A sequence of changes c_1 .. c_n (FEM: the loss differences d_t = f_t - f_{t-1}; information
content: the slopes (f_t - f_{t-1}) / |x_t - x_{t-1}|, Munoz et al. Eq. 2) and a sensitivity
epsilon give the symbol string S(epsilon) = s_1 .. s_n with s_t = -1 if c_t < -epsilon, 0 if
|c_t| <= epsilon and 1 if c_t > epsilon. Its entropy (Vassilev et al., eq. 1; Munoz et al. Eq. 3)

    H(epsilon) = - sum_{p != q} P[pq] log_6 P[pq],   P[pq] = n[pq] / (n - 1),

counts the six kinds of consecutive pairs pq of different symbols among all n - 1 pairs of the
string (the reference code of Bosman et al. sums five of the six and skips the last pair).

- FEM (Malan and Engelbrecht 2009): H_max over epsilon in ``{0, eps*/128, eps*/64, ..., eps*/2,
  eps*}`` (``FEM_FRACTIONS``), eps* = max |d_t|, the smallest epsilon that makes the string all
  zeros: ``fem``. ``fem_max`` is the exact maximum of H over all epsilon in [0, eps*], from the
  interval structure below (differences that agree to within the losses' own rounding are taken as
  equal, so that a straight line sampled by ``linspace`` is as smooth as it is by definition).
- Information content (Munoz et al. Sec. IV; ``information_content``): ``h_max`` = max H
  (Eq. 5), ``eps_s`` = log10 of the smallest epsilon with H < 0.05 (Eq. 6), ``eps_max`` = log10
  of the median epsilon at which H is maximal (flacco's and pflacco's eps_max), ``m0`` = M(0)
  (Eq. 7) and ``eps_05`` = log10 of the largest epsilon with M(epsilon) > 0.5 M0 (Eq. 8), on their
  grid of epsilon (0 and 10^-5 .. 10^15 in 1,000 log steps). M(epsilon) = mu / n, mu the length
  of S(epsilon) once its zeros are removed and runs of equal symbols merged. pflacco 1.2.2 takes
  (mu - 1) / (n - 1) and the symbol 0 for |c| < epsilon (not <=); ``tests/test_pflacco.py`` shows
  both. A measure the definition leaves undefined is NaN, with the reason given by
  ``undefined_reasons`` (eps_s when H never falls below 0.05 on the grid; eps_05 when M0 = 0).

Every function takes arrays [W, S] (walks, steps) and returns one value per walk, computed for all
walks and all epsilon at once: a pair's symbols change only where epsilon crosses |c_t| or
|c_{t+1}|, so its kind is constant on three intervals of epsilon, and the counts over an epsilon
grid are interval sums (no loop over walks, steps or epsilon values; walks in chunks that bound
the memory).

    >>> fem(losses), fem_max(losses)             # [W] each
    >>> information_content(losses, lengths)     # {"h_max", "eps_s", "eps_max", "m0", "eps_05"}
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


def pair_events(changes: np.ndarray):
    """Where the kind of each pair of consecutive changes changes as epsilon grows.

    Args:
        changes: [W, n] sequences of changes c_t.

    Returns:
        (lo, hi, below, between): [W, n - 1] each; the two epsilon values at which a pair's kind
            changes, its kind (a column of ``KINDS``, 6 for equal symbols) for epsilon below lo
            (both symbols signed), and between lo and hi (the larger change signed).
    """
    a, b = np.abs(changes[:, :-1]), np.abs(changes[:, 1:])
    sa, sb = np.sign(changes[:, :-1]).astype(np.int64), np.sign(changes[:, 1:]).astype(np.int64)
    below = _kind_code(sa, sb)
    between = np.where(a >= b, _kind_code(sa, 0 * sb), _kind_code(0 * sa, sb))
    return np.minimum(a, b), np.maximum(a, b), below, between


def pair_counts(changes: np.ndarray, eps: np.ndarray) -> np.ndarray:
    """The pair counts n[pq] of S(epsilon) for every epsilon of a grid at once, as interval sums.

    Args:
        changes: [W, n] sequences of changes.
        eps: [E] ascending sensitivities.

    Returns:
        [W, E, 6] the pairs of each kind of different symbols in S(eps_e) (``KINDS`` order).
    """
    lo, hi, below, between = pair_events(np.asarray(changes, np.float64))
    walks, pairs = lo.shape
    width = (len(eps) + 1) * 7
    rows = np.arange(walks)[:, None] * width
    # a symbol is 0 when |c| <= eps: the pair is `below` for eps < lo, `between` for lo <= eps < hi
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


def pair_entropy(counts: np.ndarray, pairs: int) -> np.ndarray:
    """The entropy H = - sum_{p != q} P[pq] log_6 P[pq], P[pq] = n[pq] / (n - 1) (Vassilev et al.
    eq. 1; Munoz et al. Eq. 3).

    Args:
        counts: [..., 6] pair counts n[pq].
        pairs: n - 1, the number of pairs of the strings.

    Returns:
        [...] H in [0, 1].
    """
    p = counts / max(1, pairs)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p > 0, -p * np.log(p) / np.log(6.0), 0.0).sum(axis=-1)


def entropy(changes: np.ndarray, eps: np.ndarray) -> np.ndarray:
    """H(epsilon) of each sequence of changes at every epsilon of a grid (all six kinds of pairs,
    all n - 1 pairs; walks in chunks that bound the memory).

    Args:
        changes: [W, n] sequences of changes.
        eps: [E] ascending sensitivities.

    Returns:
        [W, E] H(eps_e).
    """
    changes = np.asarray(changes, np.float64)
    out = np.empty((len(changes), len(eps)))
    step = max(1, CHUNK_CELLS // max(1, changes.shape[1] * len(eps)))
    for first in range(0, len(changes), step):
        part = changes[first : first + step]
        out[first : first + step] = pair_entropy(pair_counts(part, eps), part.shape[1] - 1)
    return out


def resolution(values: np.ndarray) -> np.ndarray:
    """The rounding level of each walk's values: 4 units in the last place of its largest magnitude,
    in the precision the values came in.

    Args:
        values: [W, S] float32 (losses from Parquet) or float64 values.

    Returns:
        [W] the level below which two values are not told apart.
    """
    values = np.asarray(values)
    eps = np.finfo(values.dtype if values.dtype.kind == "f" else np.float64).eps
    return 4.0 * eps * np.abs(values).max(axis=1, initial=0.0)


def merge_ties(changes: np.ndarray, tolerance: np.ndarray) -> np.ndarray:
    """Changes whose magnitudes only rounding tells apart, made equal: magnitudes within
    ``tolerance`` of the next larger one set to the largest of their run (single linkage in |c|,
    sign kept), and magnitudes within it of 0 set to 0.

    Args:
        changes: [W, n] sequences of changes.
        tolerance: [W] each sequence's rounding level.

    Returns:
        [W, n] the merged changes.
    """
    magnitude = np.abs(changes)
    order = np.argsort(magnitude, axis=1, kind="stable")
    ranked = np.take_along_axis(magnitude, order, axis=1)
    n = ranked.shape[1]
    new_run = np.concatenate(
        [np.ones((len(ranked), 1), bool), np.diff(ranked, axis=1) > tolerance[:, None]], axis=1
    )
    index = np.where(np.roll(new_run, -1, axis=1), np.arange(n), n - 1)  # a run's last element
    index[:, -1] = n - 1
    last = np.minimum.accumulate(index[:, ::-1], axis=1)[:, ::-1]
    merged = np.take_along_axis(ranked, last, axis=1)
    merged = np.where(merged <= tolerance[:, None], 0.0, merged)
    out = np.empty_like(merged)
    np.put_along_axis(out, order, merged, axis=1)
    return np.sign(changes) * out


def epsilon_star(losses: np.ndarray) -> np.ndarray:
    """eps* of each walk: the smallest epsilon that makes S(epsilon) all zeros, max_t |d_t|.

    Args:
        losses: [W, S] the losses of W walks of S steps.

    Returns:
        [W] eps*.
    """
    return np.abs(np.diff(np.asarray(losses, np.float64), axis=1)).max(axis=1)


FEM_FRACTIONS = np.concatenate([[0.0], 2.0 ** -np.arange(7, -1, -1)])  # 0, 1/128, ..., 1/2, 1


def relative_differences(losses: np.ndarray) -> np.ndarray:
    """``d_t / eps*``: each walk's loss differences in units of its own ``eps*`` (exactly 1 at the
    largest, so that no rounding moves a difference above eps*).

    Args:
        losses: [W, S] the losses of W walks of S steps.

    Returns:
        [W, S - 1] float64; 0 for a constant walk.
    """
    d = np.diff(np.asarray(losses, np.float64), axis=1)
    star = np.abs(d).max(axis=1, keepdims=True)
    return d / np.where(star > 0, star, 1.0)


def fem(losses: np.ndarray) -> np.ndarray:
    """The first entropic measure (Malan and Engelbrecht 2009): H_max = max H(epsilon) over the
    paper's epsilon in eps* x {0, 1/128, 1/64, ..., 1/2, 1} on the loss differences d_t. eps* comes
    from the walk itself, so FEM does not change when the loss is scaled by a positive constant or
    shifted; of micro walks it is FEM_0.01, of macro walks FEM_0.1.

    Args:
        losses: [W, S] the losses of W walks of S steps.

    Returns:
        [W] FEM in [0, 1].
    """
    return entropy(relative_differences(losses), FEM_FRACTIONS).max(axis=1)


def fem_max(losses: np.ndarray) -> np.ndarray:
    """The exact maximum of H(epsilon) over every epsilon in [0, eps*] (H is constant between
    consecutive |d_t|, so its maxima lie at those values and at 0), differences that agree to within
    the losses' rounding (``resolution``) counted as equal.

    Args:
        losses: [W, S] the losses of W walks of S steps, in their recorded precision.

    Returns:
        [W] the maximum entropy, >= ``fem``.
    """
    losses = np.asarray(losses)
    d = relative_differences(losses)
    star = epsilon_star(losses)
    tolerance = resolution(losses) / np.where(star > 0, star, 1.0)
    d = merge_ties(d, tolerance)
    out = np.empty(len(d))
    step = max(1, CHUNK_CELLS // max(1, 2 * d.shape[1] ** 2))
    for first in range(0, len(d), step):
        out[first : first + step] = _interval_maximum(d[first : first + step])
    return out


def _interval_maximum(changes: np.ndarray) -> np.ndarray:
    """max over epsilon of H for each row of changes [W, n]: the pair counts after every event (a
    pair's kind changes at its lo and hi), evaluated where epsilon can stand (after the last event
    at each distinct value, and below the first when it is above 0)."""
    lo, hi, below, between = pair_events(changes)
    walks, pairs = lo.shape
    if pairs == 0:
        return np.zeros(walks)
    at = np.concatenate([lo, hi], axis=1)  # the event values
    leave = np.concatenate([below, between], axis=1)  # kind left at the event
    enter = np.concatenate([between, np.full_like(between, 6)], axis=1)  # kind entered
    order = np.argsort(at, axis=1, kind="stable")
    at, leave, enter = (np.take_along_axis(a, order, axis=1) for a in (at, leave, enter))
    start = np.zeros((walks, 7))
    np.add.at(start, (np.repeat(np.arange(walks), pairs), below.ravel()), 1.0)
    delta = np.zeros((walks, at.shape[1], 7))
    rows = np.arange(walks)[:, None]
    columns = np.arange(at.shape[1])[None, :]
    np.add.at(delta, (rows, columns, leave), -1.0)
    np.add.at(delta, (rows, columns, enter), 1.0)
    counts = start[:, None, :] + np.cumsum(delta, axis=1)
    h = pair_entropy(counts[..., :6], pairs)
    valid = np.concatenate([at[:, 1:] != at[:, :-1], np.ones((walks, 1), bool)], axis=1)
    h_start = np.where(at[:, 0] > 0, pair_entropy(start[:, :6], pairs), 0.0)
    return np.maximum(np.where(valid, h, 0.0).max(axis=1), h_start)


IC_EPSILON = np.concatenate([[0.0], 10.0 ** np.linspace(-5, 15, 1000)])  # Munoz et al.'s grid
SETTLING = 0.05  # H below this: the landscape looks flat at that epsilon (eps_s)
INFORMATION = 0.5  # eps_05: the largest epsilon with M > this x M0


def slopes(losses: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The slopes (f_t - f_{t-1}) / |x_t - x_{t-1}| of each walk (Munoz et al. Eq. 2).

    Args:
        losses: [W, S] the losses of W walks of S steps.
        lengths: [W, S - 1] the steps' lengths |x_t - x_{t-1}|.

    Returns:
        [W, S - 1] the slopes; a step of length 0 has slope 0 if the loss did not change, else +-inf
            (its symbol is then its sign at every epsilon).
    """
    d = np.diff(np.asarray(losses, np.float64), axis=1)
    lengths = np.asarray(lengths, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(lengths > 0, d / np.where(lengths > 0, lengths, 1.0), np.sign(d) * np.inf)


def partial_information(changes: np.ndarray, eps: np.ndarray) -> np.ndarray:
    """The partial information M(epsilon) = mu / n (Munoz et al. Eq. 7), mu the length of S(epsilon)
    once its zeros are removed and runs of equal symbols merged (its alternations), so that a
    sequence whose sign turns at every step has M(0) = 1.

    Args:
        changes: [W, n] sequences of changes.
        eps: [W] one sensitivity per sequence.

    Returns:
        [W] M(eps_w) in [0, 1].
    """
    c = np.asarray(changes, np.float64)
    s = np.where(np.abs(c) > np.asarray(eps)[:, None], np.sign(c), 0).astype(np.int8)
    index = np.where(s != 0, np.arange(s.shape[1], dtype=np.int32), -1)
    last = np.maximum.accumulate(index, axis=1)  # the last non-zero symbol up to t
    before = np.take_along_axis(s, np.maximum(last[:, :-1], 0), 1) * (last[:, :-1] >= 0)
    mu = (s[:, 0] != 0).astype(np.int64) + ((s[:, 1:] != 0) & (s[:, 1:] != before)).sum(axis=1)
    return mu / max(1, c.shape[1])


def information_content(
    losses: np.ndarray, lengths: np.ndarray | None = None, eps: np.ndarray = IC_EPSILON
) -> dict:
    """The information content features of Munoz, Kirley and Halgamuge (2015, Sec. IV; module
    docstring) on the slopes of each walk.

    Args:
        losses: [W, S] finite losses of W walks of S steps (``fla metrics`` leaves out walks that
            are not finite).
        lengths: [W, S - 1] the steps' lengths (default 1: the walk's order as a sequence, the
            values' differences).
        eps: [E] the epsilon grid (default Munoz et al.'s: 0 and 10^-5 .. 10^15 in 1,000 log steps).

    Returns:
        {"h_max", "eps_s", "eps_max", "m0", "eps_05"}: [W] each (Eqs. 5-8; eps_* as log10); eps_s
            NaN where H never falls below 0.05 on the grid, eps_05 NaN where M0 = 0
            (``undefined_reasons``).
    """
    losses = np.asarray(losses, np.float64)
    if lengths is None:
        lengths = np.ones((len(losses), losses.shape[1] - 1))
    c = slopes(losses, lengths)
    return information_of_changes(c, eps)


def information_of_changes(c: np.ndarray, eps: np.ndarray = IC_EPSILON) -> dict:
    """``information_content`` of sequences of changes (slopes, or the changes along a tour).

    Args:
        c: [W, n] sequences of changes.
        eps: [E] the epsilon grid.

    Returns:
        {"h_max", "eps_s", "eps_max", "m0", "eps_05"}: [W] each, as ``information_content``.
    """
    h = entropy(c, eps)
    h_max = h.max(axis=1)
    settled = h < SETTLING
    at_max = h == h_max[:, None]
    with np.errstate(divide="ignore"):
        eps_s = np.where(settled.any(axis=1), np.log10(eps[np.argmax(settled, axis=1)]), np.nan)
        eps_max = np.log10(np.array([np.median(eps[row]) for row in at_max]))
        m0 = partial_information(c, np.zeros(len(c)))
        lo = np.zeros(len(c), np.int64)  # bisection: M(eps[lo]) > 0.5 M0 holds at lo
        hi = np.full(len(c), len(eps))
        while (hi - lo > 1).any():
            mid = (lo + hi) // 2
            m = partial_information(c, eps[np.minimum(mid, len(eps) - 1)])
            above = m > INFORMATION * m0
            lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
        eps_05 = np.where(m0 > 0, np.log10(eps[lo]), np.nan)
    return {"h_max": h_max, "eps_s": eps_s, "eps_max": eps_max, "m0": m0, "eps_05": eps_05}


def undefined_reasons() -> dict:
    """Why an information content measure is NaN for a walk, by measure.

    Returns:
        {"ic_eps_s": why, "ic_eps_05": why}.
    """
    return {
        "ic_eps_s": "its entropy never falls below 0.05 on the epsilon grid (up to 10^15)",
        "ic_eps_05": "M0 = 0: its loss never changes, so no epsilon has M > 0.5 M0",
    }
