"""Curvature measured beside the walk, at the points it recorded: it never changes what it measures.

For the rows a plan selects (``hessian_at``), at each row's parameters and on the batch whose
gradient drove that row's step:

- ``exact``: the full Hessian (``fla.core.objective.Objective.hessian_at``) and its float64
  spectrum;
- ``blocks``: the block-diagonal Hessian of Bosman et al.'s reference code: one block per weight
  matrix and one per bias vector, every derivative across blocks dropped; its pooled eigenvalues are
  the union of the blocks' spectra;
- ``lanczos``: eig_min and eig_max by batched Lanczos (``fla.curvature.lanczos.Hessian``).

    >>> patterns = Patterns(x, y)
    >>> columns = curvature_columns("exact", params, patterns, n_rows, rows, objective, config)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fla.base import compile_cache
from fla.base.programs import Kept

# bound on the Hessians [points, D, D] float32 computed in one call (as fast a point as 256 MB)
HESSIAN_BYTES = 64 * 2**20
LANCZOS_BYTES = 512 * 2**20  # bound on a Lanczos basis [points, steps, D] float64 held at once


@dataclass(frozen=True)
class Patterns:
    """The training patterns of the measured points: all of (x, y) for every point, or per point the
    indices ``idx`` [M, N] of its batch, gathered one memory-bounded part at a time (M points of a
    mini-batch problem never hold M copies of their batches at once)."""

    x: np.ndarray
    y: np.ndarray
    idx: np.ndarray | None = None

    def part(self, rows: slice):
        """The patterns of some of the points.

        Args:
            rows: a slice of the M points.

        Returns:
            (x, y): all patterns (shared), or each point's batch [len(rows), N, n] and its labels.
        """
        return (
            (self.x, self.y)
            if self.idx is None
            else (self.x[self.idx[rows]], self.y[self.idx[rows]])
        )


def selected_rows(plan, steps: np.ndarray, grad_norm: np.ndarray) -> np.ndarray:
    """The rows that get curvature, by the plan's ``hessian_at`` (all, last, every:K, grad-below:X).

    Args:
        plan: the run's plan.
        steps: [R] each row's step.
        grad_norm: [R] each row's gradient norm.

    Returns:
        The selected rows' indices.
    """
    return plan.hessian_at.rows(steps, grad_norm, n_steps=plan.steps)


def block_mask(network) -> np.ndarray:
    """The block-diagonal Hessian's blocks: one per layer's weights and one per layer's biases (the
    reference code's blocks).

    Args:
        network: the ``fla.core.networks.MLP``.

    Returns:
        [D, D] bool, True inside the blocks.
    """
    label = np.zeros(network.n_params, np.int32)
    for i, (w, b) in enumerate(network.slices()):
        label[w], label[b] = 2 * i, 2 * i + 1
    return label[:, None] == label[None, :]


def hessians_per_call(n_params: int) -> int:
    """Exact Hessians computed in one call, bounded by ``HESSIAN_BYTES``.

    Args:
        n_params: D.

    Returns:
        At least 1.
    """
    return max(1, HESSIAN_BYTES // (4 * n_params * n_params))


def lanczos_points_per_call(n_params: int, steps: int) -> int:
    """Points whose Lanczos bases are held at once, bounded by ``LANCZOS_BYTES``.

    Args:
        n_params: D.
        steps: the most Lanczos steps.

    Returns:
        At least 1.
    """
    return max(1, LANCZOS_BYTES // (8 * steps * n_params))


XLA_MIN_PARAMS = 64  # from D = 64 the Hessian program is compiled by XLA (bench/bench_spectra.py)
HESSIAN_PROGRAMS = 16  # Hessian programs kept (one per objective and pattern layout)
_HESSIANS = Kept(HESSIAN_PROGRAMS)


def call_size(m: int, n_params: int) -> int:
    """The size an XLA Hessian call of m points is padded to: a power of two from 1024, at most
    ``hessians_per_call``, so that a process compiles a handful of shapes.

    Args:
        m: the points.
        n_params: D.

    Returns:
        The padded size.
    """
    return min(hessians_per_call(n_params), max(1024, 1 << (m - 1).bit_length()))


def hessians(objective, params: np.ndarray, x, *, y):
    """Exact Hessians at points. From D = ``XLA_MIN_PARAMS`` the program is compiled by XLA, on
    calls padded to ``call_size`` (by repeating the last point): below it XLA gains less than
    compiling each call size costs (``bench/bench_spectra.py`` prints both paths).

    Args:
        objective: the run's objective.
        params: [M, D] the points.
        x: [N, n] patterns, or [M, N, n] one batch a point.
        y: their labels.

    Returns:
        [M, D, D] float32 Hessians (TensorFlow).
    """
    import tensorflow as tf

    jit = objective.n_params >= XLA_MIN_PARAMS
    key = (id(objective), np.ndim(x))

    def build():  # one graph whatever was traced before (the bits must not depend on history)
        rank = np.ndim(x)
        signature = [
            tf.TensorSpec([None, objective.n_params], objective.dtype),
            tf.TensorSpec([None] * (rank - 1) + [np.shape(x)[-1]], objective.dtype),
            tf.TensorSpec([None] * (rank - 1), tf.int32),
        ]
        program = tf.function(
            lambda t, x, y: objective.hessian_at(t, x, y),
            input_signature=signature,
            jit_compile=jit,
            autograph=False,
        )
        # traced once, here: a concrete function (TensorFlow warns of retracing when the programs
        # of several objectives are traced from one Python function)
        with compile_cache.stable_names(
            "hessians", repr(objective.network), objective.problem.name, objective.key,
            objective.dtype.name, np.ndim(x),
        ):  # fmt: skip
            return program.get_concrete_function()

    compiled = _HESSIANS.get(key, build, holds=objective)
    m = len(params)
    pad = call_size(m, objective.n_params) - m if jit else 0
    if pad > 0:
        params = np.concatenate([params, np.repeat(params[-1:], pad, 0)])
        if np.ndim(x) == 3:  # one set of patterns per point
            x, y = (np.concatenate([a, np.repeat(a[-1:], pad, 0)]) for a in (x, y))
    # one trace, whatever the call size
    with compile_cache.stable_names(
        "hessians",
        repr(objective.network),
        objective.problem.name,
        objective.key,
        objective.dtype.name,
        np.ndim(x),
    ):
        hess = compiled(
            tf.constant(params, objective.dtype),
            tf.constant(x, objective.dtype),
            tf.constant(y, tf.int32),
        )[:m]
    if hess.shape != (m, objective.n_params, objective.n_params):
        raise RuntimeError(
            f"internal error: Hessians of shape {hess.shape} for {m} points of D = "
            f"{objective.n_params}"
        )
    return hess


def spectra(objective, params, patterns: Patterns, *, blocks: bool) -> np.ndarray:
    """Ascending float64 eigenvalues of the exact (or block-diagonal) Hessians, in memory-bounded
    parts.

    Args:
        objective: the run's ``fla.core.objective.Objective``.
        params: [M, D] the measured points.
        patterns: their ``Patterns``.
        blocks: the block-diagonal Hessian of the reference code (``block_mask``).

    Returns:
        [M, D] eigenvalues.
    """
    import tensorflow as tf

    from fla.curvature.classes import eigenvalues

    d = objective.n_params
    per_call = hessians_per_call(d)
    mask = tf.constant(block_mask(objective.network), objective.dtype) if blocks else None
    out = np.empty((len(params), d))
    for start in range(0, len(params), per_call):
        part = slice(start, start + per_call)
        x, y = patterns.part(part)
        h = hessians(objective, params[part], x, y=y)
        out[part] = eigenvalues(h * mask if blocks else h)
    return out


def null_counts(objective, params, patterns: Patterns) -> np.ndarray:
    """The exact null directions at each point on its patterns
    (``fla.curvature.reduced.null_counts``), in memory-bounded parts.

    Args:
        objective: the run's ``fla.core.objective.Objective``.
        params: [M, D] the measured points.
        patterns: their ``Patterns``.

    Returns:
        [M] counts.
    """
    from fla.curvature import reduced

    out = np.zeros(len(params), np.int64)
    per_call = hessians_per_call(objective.n_params)
    for start in range(0, len(params), per_call):
        part = slice(start, start + per_call)
        out[part] = reduced.null_counts(objective, params[part], patterns.part(part)[0])
    return out


def lanczos_extremes(objective, params, patterns: Patterns, *, config) -> dict:
    """``fla.curvature.reduced.extremes`` at each point, in memory-bounded parts.

    Args:
        objective: the run's ``fla.core.objective.Objective``.
        params: [M, D] the measured points.
        patterns: their ``Patterns``.
        config: the run's configuration (its Lanczos tolerance and steps).

    Returns:
        As ``extremes``: [M] each.
    """
    from fla.curvature import reduced

    per_call = lanczos_points_per_call(objective.n_params, config.lanczos_steps)
    parts = []
    for start in range(0, len(params), per_call):
        part = slice(start, start + per_call)
        x, y = patterns.part(part)
        parts.append(
            reduced.extremes(
                objective,
                params[part],
                x,
                y=y,
                tol=config.lanczos_tol,
                steps=config.lanczos_steps,
                seed=config.seed,
            )
        )
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def curvature_columns(
    kind: str, params, patterns: Patterns, *, n_rows: int, rows, objective, config
) -> dict:
    """The curvature columns of a block of rows, measured at the selected rows and null elsewhere:
    eig_min, eig_max, curvature (the paper's class), reduced_curvature and null_directions
    (``fla.curvature.classes``), hessian, and eigenvalues for exact and block spectra.

    Args:
        kind: the plan's Hessian: ``exact``, ``blocks`` or ``lanczos``.
        params: [len(rows), D] the selected rows' points.
        patterns: their ``Patterns``.
        n_rows: the block's rows.
        rows: the selected rows' indices.
        objective: the run's objective.
        config: the run's configuration.

    Returns:
        {column: Arrow array of n_rows}.
    """
    import pyarrow as pa

    from fla.curvature.classes import (
        codes_arrow,
        curvature_codes,
        extreme_codes,
        reduced_codes,
        reduced_extreme_codes,
    )

    eig_min, eig_max = np.full(n_rows, np.nan), np.full(n_rows, np.nan)
    codes, reduced = np.full(n_rows, -1, np.int8), np.full(n_rows, -1, np.int8)
    nulls = np.zeros(n_rows, np.int32)
    columns = {}
    if kind in ("exact", "blocks") and len(rows):
        eigs = spectra(objective, params, patterns, blocks=kind == "blocks")
        eig_min[rows], eig_max[rows] = eigs[:, 0], eigs[:, -1]
        codes[rows] = curvature_codes(eigs, config.flat_tolerance)
        nulls[rows] = null_counts(objective, params, patterns)
        reduced[rows] = reduced_codes(eigs, nulls[rows], config.flat_tolerance)
        offsets = np.zeros(n_rows + 1, np.int32)
        offsets[rows + 1] = objective.n_params
        values = pa.array(eigs.astype(np.float32).ravel())
        present = np.zeros(n_rows, bool)
        present[rows] = True
        columns["eigenvalues"] = pa.ListArray.from_arrays(
            pa.array(np.cumsum(offsets, dtype=np.int32)), values, mask=pa.array(~present)
        )
    elif kind == "lanczos" and len(rows):
        found = lanczos_extremes(objective, params, patterns, config=config)
        eig_min[rows], eig_max[rows], nulls[rows] = (
            found["eig_min"],
            found["eig_max"],
            found["nulls"],
        )
        tol, converged = config.flat_tolerance, found["converged"]
        # the paper's rule: a zero eigenvalue makes a point flat, and the null directions are zeros
        paper = np.where(nulls[rows] > 0, 3, extreme_codes(eig_min[rows], eig_max[rows], tol))
        codes[rows] = np.where(converged, paper, -1)
        low, high = found["reduced_min"], found["reduced_max"]
        reduced[rows] = np.where(converged, reduced_extreme_codes(low, high, tol), -1)
    done = np.zeros(n_rows, bool)
    done[rows] = np.isfinite(eig_min[rows])
    columns.update(
        eig_min=pa.array(eig_min, mask=~done),
        eig_max=pa.array(eig_max, mask=~done),
        curvature=codes_arrow(codes),
        reduced_curvature=codes_arrow(reduced),
        null_directions=pa.array(nulls, mask=~done),
        hessian=pa.array(np.full(n_rows, kind), mask=~done),
    )
    return columns
