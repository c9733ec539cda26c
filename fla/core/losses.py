"""The data losses of a classification network, per pattern, from its logits, and their first and
second derivatives with respect to the logits (what the exact Hessian starts its backward pass
from).

Two losses, each with the output units the papers pair it with:

- ``cross_entropy`` (the default; Bosman, Engelbrecht and Helbig's modality paper): the negative
  log-likelihood of a sigmoid output (one logit, binary problems) or a softmax output (one logit per
  class), taken from the logits so that it stays finite for weights of any size;
- ``mse``, the squared error of Bosman, Engelbrecht and Helbig, "Visualising basins of attraction
  for the cross-entropy and the squared error neural network loss functions" (Neurocomputing 2020):
  the same sigmoid or softmax outputs p, and per pattern (1/C) sum_c (p_c - y_c)^2 against the
  one-hot target y (C = 1 for a sigmoid output). This is the mean over patterns and outputs that
  their code takes (``tf.reduce_mean(tf.square(prediction - y))`` in annabosman/fla-in-tf), so its
  values compare with theirs.

Both layouts of fla's programs are served: logits [B, N, C] with the classes last (labels [B, N]),
and a walk's logits [N, C, B] with the classes along axis 1 and the walks last (labels [N, 1]).
Nothing cancels at confident predictions: p - y is formed as -sigmoid(-z) (y = 1) or sigmoid(z)
(y = 0), and the true class's p_y - 1 as minus the sum of the other classes' probabilities.
"""

from __future__ import annotations

LOSSES = ("cross_entropy", "mse")
LOSS_WORDS = {"cross_entropy": "cross-entropy", "mse": "squared error"}


def total(values):
    """Sum over the last axis, as a product with a ones vector.

    XLA vectorises a reduction over a short minor axis differently for different numbers of rows, so
    ``reduce_sum`` would make a walk's loss depend on how many walks are computed with it; a
    matrix-vector product sums every row the same way (checked in tests/test_walk_identity.py).

    Args:
        values: [..., N] a tensor.

    Returns:
        [...] the sums.
    """
    import tensorflow as tf

    return tf.linalg.matvec(values, tf.ones(tf.shape(values)[-1:], values.dtype))


def sums_along(axis: int):
    """A sum over one axis, the same for every walk whatever walks are computed beside it.

    Args:
        axis: the axis summed: the last by ``total``, a leading one elementwise across the walks'
            axis.

    Returns:
        A function of a tensor returning its sums over ``axis``.
    """
    import tensorflow as tf

    return total if axis == -1 else (lambda values: tf.reduce_sum(values, axis))


def softmax_cross_entropy(logits, labels, axis: int = -1):
    """-log softmax(logits)[label] per pattern: log-sum-exp with the maximum shifted out (finite for
    logits of any size).

    Args:
        logits: the logits, the classes along ``axis``.
        labels: integer labels, broadcastable against the logits without that axis.
        axis: the classes' axis.

    Returns:
        The losses, the logits' shape without ``axis``.
    """
    import tensorflow as tf

    sums = sums_along(axis)
    peak = tf.stop_gradient(tf.reduce_max(logits, axis, keepdims=True))
    log_sum_exp = tf.squeeze(peak, axis) + tf.math.log(sums(tf.exp(logits - peak)))
    return log_sum_exp - sums(logits * one_hot(logits, labels, axis))


def one_hot(logits, labels, axis: int):
    """Integer labels as one-hot vectors along the logits' class axis.

    Args:
        logits: the logits (for their dtype and the number of classes).
        labels: integer labels.
        axis: the classes' axis.

    Returns:
        The one-hot labels, of the logits' dtype.
    """
    import tensorflow as tf

    depth = logits.shape[axis] if logits.shape[axis] is not None else tf.shape(logits)[axis]
    return tf.one_hot(labels, depth, axis=axis, dtype=logits.dtype)


def softmax_squared_error(logits, labels, axis: int = -1):
    """The squared error (1/C) sum_c (p_c - y_c)^2 per pattern, p = softmax(logits).

    Args:
        logits: the logits, the classes along ``axis``.
        labels: integer labels, broadcastable against the logits without that axis.
        axis: the classes' axis.

    Returns:
        The losses, the logits' shape without ``axis``.
    """
    import tensorflow as tf

    sums = sums_along(axis)
    p = tf.nn.softmax(logits, axis)
    target = one_hot(logits, labels, axis)
    others = p * (1.0 - target)
    residual = others - target * tf.expand_dims(sums(others), axis)  # p - y, without cancelling
    classes = tf.cast(tf.shape(logits)[axis], logits.dtype)
    return sums(residual * residual) / classes


def sigmoid_residual(z, labels):
    """sigmoid(z) - y for y in {0, 1}, formed without cancelling (sigmoid(z) - 1 = -sigmoid(-z)).

    Args:
        z: logits.
        labels: 0 or 1, of z's shape.

    Returns:
        The residuals, of z's shape.
    """
    import tensorflow as tf

    return tf.where(labels > 0.5, -tf.sigmoid(-z), tf.sigmoid(z))


def per_pattern(loss: str, kind: str, logits, *, labels, axis: int = -1):
    """The data loss of every pattern.

    Args:
        loss: ``cross_entropy`` or ``mse`` (``LOSSES``).
        kind: ``binary`` (one sigmoid output) or ``multiclass`` (softmax).
        logits: the logits, the classes along ``axis`` (one class for a binary problem).
        labels: integer labels, without that axis, broadcastable against the logits.
        axis: the classes' axis.

    Returns:
        The losses, the logits' shape without ``axis``.
    """
    import tensorflow as tf

    if kind == "binary":
        z = tf.squeeze(logits, axis)
        labels = tf.broadcast_to(tf.cast(labels, z.dtype), tf.shape(z))
        if loss == "mse":
            return tf.square(sigmoid_residual(z, labels))
        return tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=z)
    if loss == "mse":
        return softmax_squared_error(logits, labels, axis)
    return softmax_cross_entropy(logits, labels, axis)


def output_derivatives(loss: str, kind: str, z, *, y):
    """The loss's first and second derivatives with respect to the logits, per pattern, in forms
    that keep their relative accuracy down to losses near the smallest normal float.

    Cross-entropy: for a sigmoid, l' = p - y (``sigmoid_residual``) and l'' = sigmoid(z) sigmoid(-z)
    (never p (1 - p)); for a softmax, l' = p - y with the true class's p_y - 1 = -sum_{c != y} p_c,
    and l'' = J = diag(p) - p p^T with each diagonal entry p_c (1 - p_c) = p_c sum_{j != c} p_j.

    Squared error, with r = p - y formed the same way: for a sigmoid (s = p (1 - p), p'' = -s
    tanh(z / 2)), l' = 2 r s and l'' = 2 s^2 - 2 r s tanh(z / 2); for a softmax, with J as above, e
    = r * p and S = sum_c e_c, l' = (2 / C) J r = (2 / C) (e - S p) and l'' = (2 / C) (J J +
    diag(e) - e p^T - p e^T + 2 S p p^T - S diag(p)), the second term being sum_c r_c d^2 p_c / dz
    dz^T.

    Args:
        loss: ``cross_entropy`` or ``mse``.
        kind: ``binary`` or ``multiclass``.
        z: [B, N, C] logits.
        y: [N] or [B, N] integer labels.

    Returns:
        (l'(z) [B, N, C], l''(z) [B, N, C, C]).
    """
    import tensorflow as tf

    if kind == "binary":
        positive, negative = tf.sigmoid(z), tf.sigmoid(-z)
        residual = sigmoid_residual(z, tf.cast(y, z.dtype)[..., None])
        slope = positive * negative
        if loss == "mse":
            curvature = 2.0 * slope * slope - 2.0 * residual * slope * tf.tanh(0.5 * z)
            return 2.0 * residual * slope, curvature[..., None]
        return residual, slope[..., None]
    p = tf.nn.softmax(z)
    classes = tf.shape(z)[-1]
    others = tf.linalg.matvec(1.0 - tf.eye(classes, dtype=z.dtype), p)  # sum_{j != c} p_j
    target = tf.one_hot(y, classes, dtype=z.dtype) > 0.5
    jacobian = tf.linalg.set_diag(-p[..., :, None] * p[..., None, :], p * others)
    residual = tf.where(target, -others, p)
    if loss != "mse":
        return residual, jacobian
    scale = 2.0 / tf.cast(classes, z.dtype)
    e = residual * p
    s = tf.reduce_sum(e, -1, keepdims=True)
    outer = lambda a, b: a[..., :, None] * b[..., None, :]
    curvature = (
        jacobian @ jacobian
        + tf.linalg.diag(e - s * p)
        - outer(e, p)
        - outer(p, e)
        + 2.0 * s[..., None] * outer(p, p)
    )
    return scale * (e - s * p), scale * curvature
