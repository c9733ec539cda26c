"""Hessian spectra and the curvature class of a point.

Two classifications, both kept:

- ``curvature``, the paper's: by the signs of its Hessian eigenvalues: ``convex`` (all
positive), ``concave`` (all negative), ``saddle`` (both signs) and ``flat`` (singular: some
eigenvalue zero). Their reference code took per-variable diagonal blocks of the Hessian and called
an eigenvalue zero only when it was exactly 0.0. fla uses the full Hessian and calls an eigenvalue
zero when

    |lambda_i| <= tolerance * max_j |lambda_j|          (default tolerance 1e-5)

a relative tolerance a little above the rounding error of a float32 Hessian, whose entries carry
errors of order 1e-7 relative to the largest. All eigenvalues are stored, so an analysis can
re-class with any other tolerance through ``curvature_class``.

- ``reduced_curvature``, what the data does beyond the architecture: the class of the reduced
  Hessian, the Hessian on the complement of the null directions every point of the network has
  (``fla.core.symmetries``: a softmax's shift, dead ReLU units, first-layer directions outside
  the patterns' span; their number is ``null_directions``). Its rule (``reduced_codes``):
  ``saddle`` whenever eigenvalues of both signs are significant, ``flat`` only for a
  semi-definite spectrum with zeros those symmetries do not explain, else ``convex`` or
  ``concave``. Under the paper's rule a softmax network is ``flat`` at every point.

    >>> curvature_class(np.array([[1.0, 2.0], [-1.0, 3.0], [0.0, 1.0]]))
    array(['convex', 'saddle', 'flat'], dtype=object)
"""

from __future__ import annotations

import atexit

import numpy as np
from threadpoolctl import threadpool_limits

CLASSES = ("convex", "concave", "saddle", "flat")
FLAT_TOLERANCE = 1e-5
# Exact spectra (cost ~ D^3 a point) at every sampled point up to this D by default, Lanczos above
EXACT_MAX_PARAMS = 200
# Exact spectra of a few points (minima, quenched attractors) up to this D, Lanczos above
EXACT_MAX_PARAMS_FEW = 500
INDEX_TOLERANCE = 1e-8  # in a Hessian index: |lambda| <= this x max|lambda| counts as zero


def hessian_index(eigs: np.ndarray, tolerance: float = INDEX_TOLERANCE):
    """The index of each stationary point (Wales, Energy Landscapes, 2003): its number of negative
    eigenvalues, beside its number of zero ones.

    Args:
        eigs: [B, D] (or [D]) spectra.
        tolerance: below -tolerance x max|lambda| is negative, within it zero.

    Returns:
        (negative, zero): [B] integer counts each.
    """
    eigs = np.atleast_2d(eigs)
    scale = np.abs(eigs).max(axis=1, keepdims=True) + 1e-300
    return (eigs < -tolerance * scale).sum(axis=1), (np.abs(eigs) <= tolerance * scale).sum(axis=1)


def eigenvalues(hessians) -> np.ndarray:
    """Ascending float64 eigenvalues of symmetric Hessians, by LAPACK's symmetric eigensolver.

    numpy's ``eigvalsh`` runs on each matrix on its own (a matrix's eigenvalues do not depend on the
    others), in parallel parts on the threads this process may use (``solver_threads``), each part
    on one BLAS thread (threadpoolctl): numpy releases the GIL, and OpenBLAS's own threads on these
    small matrices only oversubscribe the cores.

    Args:
        hessians: [..., D, D] symmetric matrices (numpy or TensorFlow, any float dtype).

    Returns:
        [..., D] ascending eigenvalues; NaN rows for non-finite Hessians.
    """
    h = np.asarray(hessians, dtype=np.float64)
    out = np.full(h.shape[:-1], np.nan)
    flat = h.reshape((-1,) + h.shape[-2:])
    finite = np.isfinite(flat).all(axis=(-2, -1))
    if not finite.any():
        return out
    matrices = flat if finite.all() else flat[finite]  # a copy only when some are not finite
    bounds = np.linspace(0, len(matrices), min(solver_threads(), len(matrices)) + 1).astype(int)
    parts = [slice(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])]
    # one BLAS thread per part: no oversubscription
    with threadpool_limits(limits=1, user_api="blas"):
        values = np.concatenate(
            list(_pool().map(lambda part: np.linalg.eigvalsh(matrices[part]), parts))
        )
    out.reshape(-1, h.shape[-1])[finite] = values
    return out


def solver_threads() -> int:
    """Threads for eigensolvers: TensorFlow's intra-op setting where a sweep pinned it, else the
    cores.

    Returns:
        At least 1.
    """
    import os
    import sys

    tf = sys.modules.get("tensorflow")
    pinned = tf.config.threading.get_intra_op_parallelism_threads() if tf is not None else 0
    return max(1, pinned or os.cpu_count() or 1)


_POOL = None


def _pool():
    global _POOL
    if _POOL is None:
        from concurrent.futures import ThreadPoolExecutor

        _POOL = ThreadPoolExecutor(solver_threads(), thread_name_prefix="fla-eigvalsh")
        atexit.register(_POOL.shutdown)  # owned: its threads end with the process, joined
    return _POOL


def curvature_codes(eigs: np.ndarray, tolerance: float = FLAT_TOLERANCE) -> np.ndarray:
    """The paper's curvature class of each spectrum, as an index into ``CLASSES``: convex (all
    positive), concave (all negative), saddle (both signs) or flat (some |lambda_i| <= tolerance x
    max_j |lambda_j|).

    Args:
        eigs: [..., D] eigenvalues.
        tolerance: the relative tolerance under which an eigenvalue is zero.

    Returns:
        [...] int8 codes 0..3; -1 where the spectrum is not finite.
    """
    eigs = np.asarray(eigs, dtype=np.float64)
    finite = np.isfinite(eigs).all(axis=-1)
    scale = np.abs(eigs).max(axis=-1, initial=0.0, where=np.isfinite(eigs))
    zero = np.abs(eigs) <= tolerance * scale[..., None]
    positive = (eigs > 0) & ~zero
    negative = (eigs < 0) & ~zero
    codes = np.where(positive.all(-1), 0, np.where(negative.all(-1), 1, 2))
    codes = np.where(zero.any(-1), 3, codes)
    return np.where(finite, codes, -1).astype(np.int8)


def extreme_codes(
    eig_min: np.ndarray, eig_max: np.ndarray, tolerance: float = FLAT_TOLERANCE
) -> np.ndarray:
    """Curvature codes from the extreme eigenvalues alone (Lanczos), claiming only what they prove.

    eig_min > 0 proves ``convex`` and eig_max < 0 ``concave``; an extreme within the tolerance of
    zero proves ``flat``. Otherwise the spectrum has both signs: ``saddle``, though a zero
    eigenvalue inside the spectrum, which the exact classifier would call ``flat``, is not tested.

    Args:
        eig_min: [...] the smallest eigenvalues.
        eig_max: [...] the largest eigenvalues.
        tolerance: relative to max(|eig_min|, |eig_max|).

    Returns:
        [...] int8 codes into ``CLASSES``; -1 where an extreme is not finite.
    """
    eig_min, eig_max = np.asarray(eig_min, np.float64), np.asarray(eig_max, np.float64)
    zero = tolerance * np.maximum(np.abs(eig_min), np.abs(eig_max))
    codes = np.where(eig_min > zero, 0, np.where(eig_max < -zero, 1, 2))
    codes = np.where((np.abs(eig_min) <= zero) | (np.abs(eig_max) <= zero), 3, codes)
    return np.where(np.isfinite(eig_min) & np.isfinite(eig_max), codes, -1).astype(np.int8)


def reduced_codes(
    eigs: np.ndarray, nulls: np.ndarray, tolerance: float = FLAT_TOLERANCE
) -> np.ndarray:
    """The reduced curvature class of each full spectrum: the ``nulls`` eigenvalues of least
    magnitude (the architecture's null directions, zero up to rounding) set aside, the rest classed:
    both signs significant -> saddle; otherwise a zero -> flat; all positive -> convex; all negative
    -> concave.

    Args:
        eigs: [M, D] full spectra.
        nulls: [M] (or one number) the null directions each point's architecture forces
            (``fla.core.symmetries``).
        tolerance: the relative tolerance under which an eigenvalue is zero.

    Returns:
        [M] int8 codes into ``CLASSES``; -1 where the spectrum is not finite or the set-aside
            eigenvalues are not all within the tolerance of zero (the float32 Hessian did not
            resolve the symmetry).
    """
    eigs = np.atleast_2d(np.asarray(eigs, np.float64))
    nulls = np.broadcast_to(np.asarray(nulls), eigs.shape[:1])
    finite = np.isfinite(eigs).all(axis=-1)
    scale = np.abs(eigs).max(axis=-1, initial=0.0, where=np.isfinite(eigs))[:, None]
    rank = np.argsort(np.argsort(np.abs(eigs), axis=1, kind="stable"), axis=1)
    aside = rank < nulls[:, None]
    zero = np.abs(eigs) <= tolerance * scale
    resolved = (zero | ~aside).all(axis=1)
    kept_zero = (zero & ~aside).any(axis=1)
    positive = ((eigs > 0) & ~zero & ~aside).any(axis=1)
    negative = ((eigs < 0) & ~zero & ~aside).any(axis=1)
    codes = np.where(positive & negative, 2, np.where(kept_zero, 3, np.where(positive, 0, 1)))
    codes = np.where(positive | negative | kept_zero, codes, 3)  # every direction a symmetry's
    return np.where(finite & resolved, codes, -1).astype(np.int8)


def reduced_extreme_codes(
    eig_min: np.ndarray, eig_max: np.ndarray, tolerance: float = FLAT_TOLERANCE
) -> np.ndarray:
    """Reduced curvature codes from the extreme eigenvalues of the reduced Hessian (Lanczos with the
    null directions projected out), which decide the rule completely: both extremes significant with
    opposite signs -> saddle; a semi-definite spectrum is flat exactly when its extreme nearest zero
    is within the tolerance.

    Args:
        eig_min: [...] the reduced Hessian's smallest eigenvalues.
        eig_max: [...] its largest.
        tolerance: relative to max(|eig_min|, |eig_max|).

    Returns:
        [...] int8 codes into ``CLASSES``; -1 where an extreme is not finite.
    """
    eig_min, eig_max = np.asarray(eig_min, np.float64), np.asarray(eig_max, np.float64)
    zero = tolerance * np.maximum(np.abs(eig_min), np.abs(eig_max))
    codes = np.where(
        (eig_min < -zero) & (eig_max > zero),
        2,
        np.where(eig_min > zero, 0, np.where(eig_max < -zero, 1, 3)),
    )
    return np.where(np.isfinite(eig_min) & np.isfinite(eig_max), codes, -1).astype(np.int8)


def codes_arrow(codes: np.ndarray):
    """Curvature codes as the Parquet column stores them.

    Args:
        codes: [N] int8 codes into ``CLASSES``.

    Returns:
        An Arrow string array of N class names, null for code -1.
    """
    import pyarrow as pa

    indices = pa.array(codes.astype(np.int32), mask=codes < 0)
    return pa.DictionaryArray.from_arrays(indices, pa.array(CLASSES)).cast(pa.string())


def curvature_class(eigs: np.ndarray, tolerance: float = FLAT_TOLERANCE) -> np.ndarray:
    """The paper's curvature class names of spectra (``curvature_codes``), to re-class recorded
    eigenvalues with another tolerance.

    Args:
        eigs: [..., D] eigenvalues (the ``eigenvalues`` column).
        tolerance: the relative tolerance under which an eigenvalue is zero.

    Returns:
        [...] object array of class names; None where the spectrum is not finite.
    """
    codes = curvature_codes(eigs, tolerance)
    names = np.array(list(CLASSES) + [None], dtype=object)
    return names[codes]
