"""Saturation of the hidden layers, measured at every sampled point on the batch the step used.

For the bounded activations (tanh, sigmoid), the measure phi of Rakitianskaia and Engelbrecht,
"Measuring saturation in neural networks" (IEEE SSCI 2015): a layer's activations over all its
units and patterns, mapped onto [-1, 1] (tanh as it is, sigmoid as 2 sigmoid(a) - 1 = tanh(a / 2)),
are put into 10 bins of width 0.2 (their bins, as in annabosman/fla-in-tf's
``get_tanh_saturation``); with g_b the mean activation in bin b and f_b its count,

    phi = sum_b |g_b| f_b / sum_b f_b,

0 when every unit works in its linear region around 0, 1/2 for activations spread evenly, and 1
when every unit sits at an asymptote. As no bin straddles 0 (their bin edges are -1, -0.8, ..., 0,
..., 0.8), |g_b| f_b is the sum of |v| over the bin, and phi is the mean |v|: that is how it is
computed here (tests/test_losses_and_penalties.py checks it against the binned formula).

Beside phi, per layer, the share of saturated units: for tanh and sigmoid a unit whose activation
lies in the two outermost bins (|v| >= 0.8, the threshold) on every pattern of the batch; for ReLU
the dead units (pre-activation <= 0, so output and gradient 0, on every pattern of the batch, as
Bosman et al.'s ``get_relu_saturation`` counts zeros), and for leaky ReLU the units on their
0.01-slope side on every pattern. ELU and SiLU are not measured (both columns null).
"""

from __future__ import annotations

BOUNDED = ("tanh", "sigmoid")
RECTIFIED = ("relu", "leaky_relu")
MEASURED = BOUNDED + RECTIFIED
OUTER_BINS = 0.8  # |v| from here on lies in the two outermost of the 10 bins over [-1, 1]


def normalised(activation: str, a):
    """The activation of pre-activations, mapped onto [-1, 1] (tanh as it is; sigmoid as 2 s - 1).

    Args:
        activation: a bounded activation's name.
        a: pre-activations.

    Returns:
        The normalised activations, of a's shape.
    """
    import tensorflow as tf

    return tf.tanh(a) if activation == "tanh" else tf.tanh(0.5 * a)


def layer_saturation(activation: str, a):
    """One hidden layer's saturation (Rakitianskaia and Engelbrecht 2015): phi, and the share of
    units saturated.

    Args:
        activation: the layer's activation.
        a: [N, units, B] its pre-activations (patterns first, walks last).

    Returns:
        (phi [B] or None for an unbounded activation, the share of saturated units [B]).
    """
    import tensorflow as tf

    count = tf.cast(tf.shape(a)[0] * tf.shape(a)[1], a.dtype)
    if activation in RECTIFIED:
        return None, tf.reduce_mean(tf.cast(tf.reduce_max(a, 0) <= 0.0, a.dtype), 0)
    v = tf.abs(normalised(activation, a))
    phi = tf.reduce_sum(v, [0, 1]) / count
    return phi, tf.reduce_mean(tf.cast(tf.reduce_min(v, 0) >= OUTER_BINS, a.dtype), 0)


def saturation_rows(activation: str, hidden: list) -> dict:
    """The saturation columns of a walk's rows; no gradient flows through them.

    Args:
        activation: the hidden activation.
        hidden: the hidden layers' pre-activations, each [N, units, B].

    Returns:
        {"saturation": [layers, B] (bounded activations), "saturated_units": [layers, B]}; empty for
            activations fla does not measure.
    """
    import tensorflow as tf

    if activation not in MEASURED:
        return {}
    measured = [layer_saturation(activation, tf.stop_gradient(a)) for a in hidden]
    rows = {"saturated_units": tf.stack([share for _, share in measured])}
    if activation in BOUNDED:
        rows["saturation"] = tf.stack([phi for phi, _ in measured])
    return rows
