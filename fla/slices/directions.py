"""The directions a loss-surface slice spans, as rows of a [k, D] matrix over flat parameters.

- ``filter_normalised``: Li, Xu, Taylor, Studer and Goldstein ("Visualizing the Loss Landscape
  of Neural Nets", NeurIPS 2018, Sec. 4, Eq. 2): a Gaussian direction d, each filter rescaled to
  the norm of the same filter of the weights, d_ij <- d_ij / |d_ij| * |theta_ij|. A filter is one
  output unit's incoming weights in a dense layer (a column of its [fan_in, fan_out] kernel) and
  one output channel of a convolution (kernel [h, w, in, out]: everything but the last axis).
  Parameters of one dimension (biases, BatchNorm's scale and shift) are set to zero, as their code
  does by default (``ignore='biasbn'``); ``keep_biases`` copies the weights' own values into the
  direction instead, as their code does otherwise.
- ``plane``: Garipov, Izmailov, Podoprikhin, Vetrov and Wilson (NeurIPS 2018, Sec. 5): the
  affine plane through three networks w1, w2, w3, with u = w2 - w1 and v = the part of w3 - w1
  orthogonal to u, rescaled to |u|, so that w1, w2 sit at (0, 0) and (1, 0) and both axes share a
  scale.
- ``principal_directions``: Li et al., Sec. 7: a trajectory's points minus its last point, and
  the two right singular vectors of that matrix that explain most of its variance (PCA).
- Towards another network: the difference, so that coordinate 1 reaches it.
- Hessian eigenvectors: ``fla.curvature.lanczos.Hessian.top_eigenvectors``, unit length.

A layout is the list of (shape, kind) of the parameter tensors in the flat vector's order, kind
"dense", "conv" or "vector" (``mlp_layout``, ``keras_layout``).
"""

from __future__ import annotations

import numpy as np

from fla.base.errors import ConfigError


def mlp_layout(network) -> list[tuple[tuple[int, ...], str]]:
    """An ``fla.core.networks.MLP``'s tensors, in the order of its flat parameter vector.

    Args:
        network: the MLP.

    Returns:
        [(shape, kind)]: per layer its kernel ((fan_in, fan_out), row major, ``"dense"``) and its
            bias ((fan_out,), ``"vector"``).
    """
    out = []
    for fan_in, fan_out in network.layers:
        out += [((fan_in, fan_out), "dense"), ((fan_out,), "vector")]
    return out


def keras_layout(model) -> list[tuple[tuple[int, ...], str]]:
    """A Keras model's trainable variables, in ``model.trainable_variables`` order.

    Args:
        model: a Keras model (``fla.zoo.models``).

    Returns:
        [(shape, kind)]: ``"vector"`` (one axis), ``"dense"`` (two) or ``"conv"`` (four).

    Raises:
        ConfigError: a variable of another number of axes, which has no filters to normalise.
    """
    kinds = {1: "vector", 2: "dense", 4: "conv"}
    out = []
    for v in model.trainable_variables:
        shape = tuple(int(s) for s in v.shape)
        if len(shape) not in kinds:
            raise ConfigError(f"cannot filter-normalise {v.path} of shape {shape}")
        out.append((shape, kinds[len(shape)]))
    return out


def split(flat: np.ndarray, layout) -> list[np.ndarray]:
    """A flat vector cut into the tensors of a layout.

    Args:
        flat: [D] the vector.
        layout: [(shape, kind)] (``mlp_layout``, ``keras_layout``).

    Returns:
        The tensors, each of its shape.
    """
    sizes = np.cumsum([int(np.prod(shape)) for shape, _ in layout])[:-1]
    return [part.reshape(shape) for part, (shape, _) in zip(np.split(flat, sizes), layout)]


def filter_normalised(direction, theta, layout, *, keep_biases: bool = False) -> np.ndarray:
    """Li et al.'s filter normalisation (2018, Eq. 2): every filter of ``direction`` (a kernel's
    slice for one output unit) rescaled to the norm of the same filter of ``theta``.

    Args:
        direction: [D] the direction.
        theta: [D] the point it is normalised around.
        layout: [(shape, kind)] the tensors of the flat vectors.
        keep_biases: one-dimensional tensors copied from theta (True) or zeroed (False, Li et al.'s
            default).

    Returns:
        [D] the normalised direction.
    """
    direction, theta = np.asarray(direction, np.float64), np.asarray(theta, np.float64)
    out = []
    for d, w, (_, kind) in zip(split(direction, layout), split(theta, layout), layout):
        if kind == "vector":
            out.append(w.copy() if keep_biases else np.zeros_like(w))
            continue
        axes = tuple(range(d.ndim - 1))  # all but the output axis: one filter per output unit
        d_norm = np.sqrt((d * d).sum(axes, keepdims=True))
        w_norm = np.sqrt((w * w).sum(axes, keepdims=True))
        out.append(d / (d_norm + 1e-10) * w_norm)
    return np.concatenate([part.ravel() for part in out])


def random_directions(theta, layout, count: int, *, seed: int, normalisation: str, keep_biases):
    """Gaussian directions drawn from ``seed`` (numpy's PCG64), filter normalised around theta or as
    drawn.

    Args:
        theta: [D] the centre.
        layout: [(shape, kind)] the tensors of the flat vectors.
        count: how many directions.
        seed: the seed of the draw.
        normalisation: ``"filter"`` (``filter_normalised``) or ``"none"``.
        keep_biases: as ``filter_normalised``'s.

    Returns:
        [count, D] directions.
    """
    rng = np.random.default_rng(seed)
    raw = rng.standard_normal((count, len(theta)))
    if normalisation == "none" or not count:
        return raw
    return np.stack([filter_normalised(d, theta, layout, keep_biases=keep_biases) for d in raw])


def plane(w1, w2, w3) -> tuple[np.ndarray, np.ndarray]:
    """The plane through three networks (Garipov et al. 2018, Sec. 5): u = w2 - w1, v = (w3 - w1)
    minus its projection on u, rescaled to |u|.

    Args:
        w1: [D] the origin.
        w2: [D] the second network.
        w3: [D] the third.

    Returns:
        (origin w1 [D], basis [2, D]).
    """
    w1, w2, w3 = (np.asarray(w, np.float64) for w in (w1, w2, w3))
    u = w2 - w1
    if not np.linalg.norm(u):
        raise ConfigError("the first two networks of --plane are the same point; give two others")
    v = (w3 - w1) - (w3 - w1) @ u / (u @ u) * u
    if np.linalg.norm(v) <= 1e-9 * np.linalg.norm(u):
        raise ConfigError(
            "the three networks of --plane lie on one line and span no plane; give a third that "
            "does not"
        )
    return w1, np.stack([u, v * np.linalg.norm(u) / np.linalg.norm(v)])


def principal_directions(points) -> tuple[np.ndarray, np.ndarray]:
    """A trajectory's principal plane (Li et al. 2018, Sec. 7): the top two right singular vectors
    of M = [theta_i - theta_T].

    Args:
        points: [T, D] the trajectory, its last point theta_T the centre.

    Returns:
        (directions [2, D], explained variance ratios [2]).
    """
    points = np.asarray(points, np.float64)
    m = points[:-1] - points[-1]
    if len(m) < 2:
        raise ConfigError(
            "a trajectory needs at least three recorded points; record more steps (--steps)"
        )
    _, s, vt = np.linalg.svd(m, full_matrices=False)
    total = float((s**2).sum())
    if not total or len(s) < 2 or s[1] <= 1e-12 * s[0]:
        raise ConfigError("the trajectory does not move in two dimensions; nothing to project")
    return vt[:2], s[:2] ** 2 / total


def coordinates(points, origin, basis) -> tuple[np.ndarray, np.ndarray]:
    """Points in the affine frame origin + c @ basis, by least squares (exact for points in it).

    Args:
        points: [P, D] the points.
        origin: [D] the frame's origin.
        basis: [k, D] its directions.

    Returns:
        (coordinates [P, k], distance off the spanned subspace [P]).
    """
    offsets = np.atleast_2d(np.asarray(points, np.float64)) - origin
    c, *_ = np.linalg.lstsq(basis.T, offsets.T, rcond=None)
    off = np.linalg.norm(offsets - (basis.T @ c).T, axis=1)
    return c.T, off


def check_direction(direction: np.ndarray, name: str) -> None:
    """Refuse a direction a slice cannot use.

    Args:
        direction: [D] the direction.
        name: how the user named it, for the error.

    Raises:
        ConfigError: non-finite values, or a zero direction (as filter normalisation around zero
            weights gives), naming the flags to change.
    """
    if not np.isfinite(direction).all():
        raise ConfigError(f"direction {name} has non-finite values")
    if not np.linalg.norm(direction):
        raise ConfigError(
            f"direction {name} is zero (filter normalisation around a point whose weights are "
            "zero gives zero); use --normalisation none, or --direction towards:POINT"
        )
