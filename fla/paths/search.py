"""A path search that says when it failed, and tries again.

A path method's answer between two minima a and b is a *failed search* when

- its saddle lies above the straight line's: the straight line is itself a path between a and b,
  so a method that returns a higher one has not found the lowest path it was asked for (by more
  than ``ABOVE_LINE`` of the straight line's barrier or of its saddle loss, whichever is
  larger, so that a flat path sampled at other points than the line is no failure); or
- it leaves the region the two minima span: some point of the path lies farther from the segment
  [a, b] than ``REGION`` x |b - a|. Paths that a search finds between the minima of fla's
  networks stay within a few |b - a| of the segment (their lengths are at most about four times
  the straight line's on XOR at lambda 1e-3); a band that has run off to where the L2 term alone
  sets the loss (norms of thousands for minima of norm 8, barriers of 10^4) is lost, not a path;
  or
- the method met non-finite values it could not recover from.

Each failed search is retried from the straight line, at most ``RETRIES`` more attempts a
pair, in this order: the same method with four times the images (pivots, or bends), then that
without a climbing image, then the other kind of method (a Bezier curve for bands, AutoNEB for
curves). The best attempt is kept (the lowest saddle among those that did not fail, else the
lowest of all), with ``search`` saying what happened (``ok``, ``ok after N retries (...)``, or
``failed: ...``) and ``attempts``; a pair that fails every attempt is marked in ``paths.parquet``,
on the console and in the report.

    >>> path = search(energy, AutoNEB(), a, b)
    >>> path.search, path.attempts, path.failed
"""

from __future__ import annotations

import dataclasses

import numpy as np

from fla.base.errors import FlaError
from fla.paths.record import Energy, PathRecord, straight_line

ABOVE_LINE = 1e-3  # a saddle above the line's by this x its barrier (or saddle loss) has failed
REGION = 10.0  # a path farther from the segment [a, b] than this x |b - a| has left the region
RETRIES = 3  # attempts after the first, at most


def distance_from_segment(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The Euclidean distance of each point from the segment [a, b].

    Args:
        points: [M, D] points.
        a: [D] one end.
        b: [D] the other.

    Returns:
        [M] distances.
    """
    chord = b - a
    t = np.clip((points - a) @ chord / max(float(chord @ chord), 1e-300), 0.0, 1.0)
    return np.linalg.norm(points - a - t[:, None] * chord, axis=1)


def failure(path: PathRecord, line: PathRecord, a: np.ndarray, *, b: np.ndarray) -> str | None:
    """Why a path is a failed search between a and b (module docstring): its saddle lies above the
    straight line's by more than ``ABOVE_LINE``, or it leaves the region the minima span.

    Args:
        path: the method's path.
        line: the straight line from a to b (``straight_line``).
        a: [D] the first minimum.
        b: [D] the second.

    Returns:
        The reason in a few words, or None for a path that did not fail.
    """
    base = float(max(line.dense_losses[0], line.dense_losses[-1]))
    excess = ABOVE_LINE * max(line.saddle_loss - base, abs(line.saddle_loss))
    allowed = line.saddle_loss + excess + 1e-12
    if path.saddle_loss > allowed:
        return (
            f"its saddle {path.saddle_loss:.5g} lies above the straight line's "
            f"{line.saddle_loss:.5g}"
        )
    reach = float(distance_from_segment(path.dense_params, a, b).max())
    span = float(np.linalg.norm(b - a))
    if reach > REGION * span:
        return (
            f"it leaves the minima's region ({reach:.4g} from their segment, |b - a| = {span:.4g})"
        )
    return None


def retries(method) -> list:
    """The methods tried after a failed search, in order: the same method with four times the
    images, that without a climbing image, then the other kind of method (a Bezier curve for bands,
    AutoNEB for curves).

    Args:
        method: the path method that failed.

    Returns:
        At most ``RETRIES`` path methods.
    """
    from fla.paths.curves import Bezier
    from fla.paths.neb import AutoNEB

    fields = {f.name for f in dataclasses.fields(method)}
    images = "pivots" if "pivots" in fields else "bends"
    more = dataclasses.replace(method, **{images: 4 * max(getattr(method, images), 2)})
    out = [more]
    if getattr(more, "climb", False):
        out.append(dataclasses.replace(more, climb=False))
    out.append(Bezier() if images == "pivots" else AutoNEB())
    return out[:RETRIES]


def describe(method, first) -> str:
    """A method in a few words, naming the settings in which it differs from ``first``.

    Args:
        method: a path method.
        first: the method the search was asked for.

    Returns:
        E.g. ``"autoneb pivots 8"``.
    """
    if type(method) is not type(first):
        return method.name
    changed = [
        f"{f.name} {getattr(method, f.name)}"
        for f in dataclasses.fields(method)
        if getattr(method, f.name) != getattr(first, f.name)
    ]
    return f"{method.name} {', '.join(changed)}" if changed else method.name


def search(energy: Energy, method, a: np.ndarray, *, b: np.ndarray) -> PathRecord:
    """A method's path from a to b, checked (``failure``) and retried (``retries``) while it fails.

    Args:
        energy: the ``Energy`` of the loss.
        method: the path method.
        a: [D] the first minimum.
        b: [D] the second.

    Returns:
        The best attempt (the lowest saddle among those that did not fail, else the lowest of all),
            its ``search``, ``attempts``, ``failed`` and ``line_saddle_loss`` set.

    Raises:
        FlaError: every attempt met non-finite values it could not recover from.
    """
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    line = straight_line(energy, a, b)
    tried, found = [], []  # (description, path or None, why it failed or None)
    for attempt in [method] + retries(method):
        try:
            path = attempt.connect(energy, a, b)
            why = failure(path, line, a, b=b)
        except FlaError as exc:  # non-finite values the method could not recover from
            path, why = None, f"{exc}"
        tried.append(describe(attempt, method))
        found.append((path, why))
        if why is None:
            break
    good = [p for p, why in found if why is None]
    candidates = good or [p for p, _ in found if p is not None]
    if not candidates:
        raise FlaError(f"every search between the two minima failed: {found[-1][1]}")
    best = min(candidates, key=lambda p: p.saddle_loss)
    best.attempts, best.failed = len(tried), not good
    best.line_saddle_loss = line.saddle_loss
    if best.failed:
        why = next(w for p, w in found if p is best)
        best.search = f"failed after {len(tried)} attempts ({'; '.join(tried)}): {why}"
    elif len(tried) > 1:
        best.search = f"ok after {len(tried) - 1} retries ({'; '.join(tried)})"
    else:
        best.search = "ok"
    return best
