"""The exact Hessian of an MLP's loss by second-order backpropagation, B networks at once.

For the networks of ``fla.core.networks`` (``a_k = W^_k h^_{k-1}``, with ``h^_{k-1} =
[sigma(a_{k-1}); 1]`` and ``h^_0 = [x; 1]``, the bias being ``W^_k``'s last input row) and a loss
l(z) of the logits z = a_L averaged over N patterns, the Hessian is assembled layer pair by layer
pair from quantities one forward and one backward pass give (Bishop 1992, "Exact calculation of the
Hessian matrix for the multilayer perceptron"; in matrix form, Naumov 2017):

- forward Jacobians between pre-activations, A_{m,l} = da_m / da_l = W_m diag(sigma'(a_{m-1}))
  A_{m-1,l}, A_{l,l} = I (W without its bias row);
- backpropagated gradients g_k = dl / da_k: g_L = l'(z), g_k = sigma'(a_k) * (W_{k+1}^T g_{k+1});
- backpropagated curvature M_k = d^2 l / da_k da_k^T: M_L = l''(z) (for the cross-entropy
  p (1 - p) for a sigmoid, diag(p) - p p^T for a softmax; for the squared error their
  ``fla.core.losses.output_derivatives``; formed without cancellation), and
  M_k = diag(sigma'(a_k)) W_{k+1}^T M_{k+1} W_{k+1} diag(sigma'(a_k)) +
  diag(sigma''(a_k) * W_{k+1}^T g_{k+1}).

Then, for the weights W^_m[j, i] (input j, output i) and W^_l[q, k] with l <= m,

    d^2 l / dW^_m[j,i] dW^_l[q,k] = (M_m A_{m,l})[i,k] h^_{m-1,j} h^_{l-1,q}
                                    + [l < m] g_m[i] sigma'(a_{m-1,j}) A_{m-1,l}[j,k] h^_{l-1,q}

(the second term is zero for the bias row j). Summed over patterns this is about N D^2 multiply-adds
in a few batched matrix products, where differentiating the gradient by automatic differentiation
costs D backward passes: at D = 81 on XOR it is several times faster (``python
bench/bench_hessian.py``). ``tests/test_objective.py`` checks it against finite differences and
against TensorFlow's ``batch_jacobian`` for both activations, binary and softmax losses, depths 1 to
3 and L2.
"""

from __future__ import annotations

from fla.core.losses import output_derivatives
from fla.core.networks import LEAKY_SLOPE


def activation_derivatives(activation: str, a):
    """(sigma(a), sigma'(a), sigma''(a)) of a hidden activation, in forms that do not cancel.

    - ELU (alpha = 1): the negative branch as expm1(a) (as TensorFlow's ELU computes it; exp(a) - 1
    loses the digits of small |a|). - tanh: sigma' = 4 sigmoid(2a) sigmoid(-2a) = 1 / cosh^2(a) (1 -
    tanh^2(a) rounds to 0 in float32 once |a| > 9, where the derivative is still 6e-8); sigma'' = -2
    tanh(a) sigma'. - sigmoid: sigma' = sigmoid(a) sigmoid(-a) (never s (1 - s)); sigma'' = -sigma'
    tanh(a / 2), as 1 - 2 sigmoid(a) = -tanh(a / 2). - SiLU (swish, a sigmoid(a); Elfwing et al.
    2018): sigma' = sigmoid(a) (1 + a sigmoid(-a)), sigma'' = sigmoid(a) sigmoid(-a) (2 - a tanh(a /
    2)). - ReLU and leaky ReLU (slope 0.01 below zero): piecewise linear, sigma'' = 0 everywhere,
    including at the kink a = 0 where it is undefined (a Dirac delta in the distributional sense):
    the Hessian of the piece the point lies on, which is what automatic differentiation gives too.
    At a = 0 itself sigma' is taken as the left slope (0, or 0.01), as TensorFlow's gradients take
    it.

    Args:
        activation: a name of ``fla.core.networks.ACTIVATIONS``.
        a: pre-activations, any shape.

    Returns:
        (sigma(a), sigma'(a), sigma''(a)), each of a's shape.
    """
    import tensorflow as tf

    zero, one = tf.zeros_like(a), tf.ones_like(a)
    if activation == "elu":
        positive = a > 0
        negative = tf.minimum(a, 0.0)
        e = tf.exp(negative)
        return (
            tf.where(positive, a, tf.math.expm1(negative)),
            tf.where(positive, one, e),
            tf.where(positive, zero, e),
        )
    if activation == "tanh":
        t = tf.tanh(a)
        d = 4.0 * tf.sigmoid(2.0 * a) * tf.sigmoid(-2.0 * a)
        return t, d, -2.0 * t * d
    if activation == "sigmoid":
        d = tf.sigmoid(a) * tf.sigmoid(-a)
        return tf.sigmoid(a), d, -d * tf.tanh(0.5 * a)
    if activation == "silu":
        s, d = tf.sigmoid(a), tf.sigmoid(a) * tf.sigmoid(-a)
        return a * s, s * (1.0 + a * tf.sigmoid(-a)), d * (2.0 - a * tf.tanh(0.5 * a))
    low = 0.0 if activation == "relu" else LEAKY_SLOPE
    positive = a > 0
    return tf.where(positive, a, low * a), tf.where(positive, one, low * one), zero


def forward(network, theta, x):
    """The forward pass the exact Hessian needs.

    Args:
        network: the ``fla.core.networks.MLP``.
        theta: [B, D] parameters.
        x: [B, N, n_in] patterns (``mlp_hessian`` broadcasts shared ones).

    Returns:
        (weights: per layer ``W^_k`` [B, in + 1, out]; inputs: per layer ``h^_{k-1}`` [B, N, in +
            1]; slopes and second derivatives: per hidden layer sigma'(a_k) and sigma''(a_k) [B, N,
            out]; logits [B, N, C]).
    """
    import tensorflow as tf

    weights = [
        network.layer_weights(block, k, False) for k, block in enumerate(network.split(theta))
    ]
    inputs, slopes, second_derivatives = [], [], []
    h = x
    for k, w in enumerate(weights):
        inputs.append(tf.concat([h, tf.ones_like(h[..., :1])], -1))
        a = tf.matmul(inputs[-1], w)
        if k < len(weights) - 1:
            h, slope, second = activation_derivatives(network.activation, a)
            slopes.append(slope)
            second_derivatives.append(second)
    return weights, inputs, slopes, second_derivatives, a


def backward(weights, slopes, second_derivatives, *, g_out, m_out):
    """Backpropagated gradients and curvatures (Bishop 1992): g_k = sigma'(a_k) (g_{k+1} W_{k+1}^T)
    and M_k = sigma'(a_k) (W_{k+1} M_{k+1} W_{k+1}^T) sigma'(a_k) + diag(sigma''(a_k) g_{k+1}
    W_{k+1}^T).

    Args:
        weights: per layer W^_k [B, in + 1, out].
        slopes: per hidden layer sigma'(a_k) [B, N, u_k].
        second_derivatives: per hidden layer sigma''(a_k) [B, N, u_k].
        g_out: [B, N, C] the mean loss's gradient at the logits (``output_derivatives`` / N).
        m_out: [B, N, C, C] its Hessian at the logits.

    Returns:
        (per layer g_k [B, N, u_k], per layer M_k [B, N, u_k, u_k]).
    """
    import tensorflow as tf

    grads, curvatures = [None] * len(weights), [None] * len(weights)
    grads[-1], curvatures[-1] = g_out, m_out
    for k in range(len(weights) - 2, -1, -1):
        w = weights[k + 1][:, None, :-1, :]  # W_{k+1}^T [B, 1, u_k, u_{k+1}] (bias row dropped)
        back = tf.linalg.matvec(w, grads[k + 1])
        grads[k] = slopes[k] * back
        spread = w @ curvatures[k + 1] @ tf.linalg.matrix_transpose(w)
        curvatures[k] = slopes[k][..., :, None] * spread * slopes[k][..., None, :] + tf.linalg.diag(
            second_derivatives[k] * back
        )
    return grads, curvatures


def row_of_blocks(m, weights, inputs, *, slopes, grads, curvatures):
    """The Hessian blocks between layer m's weights and those of layers l = 0 .. m.

    Args:
        m: the layer.
        weights: per layer W^_k [B, in + 1, out].
        inputs: per layer h^_{k-1} [B, N, in + 1].
        slopes: per hidden layer sigma'(a_k).
        grads: ``backward``'s g_k.
        curvatures: ``backward``'s M_k.

    Returns:
        [[B, D_m, D_l]] one block per l.
    """
    import tensorflow as tf

    # W_k [B, 1, u_k, u_{k-1}]
    matrix = lambda k: tf.linalg.matrix_transpose(weights[k][:, None, :-1, :])
    batch = tf.shape(inputs[0])[0]
    blocks, reach_back = [None] * (m + 1), None  # reach_back: A_{m-1, l}
    for l in range(m, -1, -1):
        if l == m:
            reach = curvatures[m]  # M_m A_{m, m}
        else:
            if l == m - 1:
                jacobian = tf.linalg.diag(slopes[m - 1])
            else:
                reach_back = matrix(l + 1) if l == m - 2 else reach_back @ matrix(l + 1)
                reach_back = reach_back * slopes[l][..., None, :]
                jacobian = slopes[m - 1][..., :, None] * reach_back  # sigma'(a_{m-1}) A_{m-1, l}
            reach = curvatures[m] @ (matrix(m) @ jacobian)  # M_m A_{m, l}
        block = tf.einsum("bnj,bnik,bnq->bjiqk", inputs[m], reach, inputs[l])
        if l < m:
            cross = tf.einsum("bni,bnjk,bnq->bjiqk", grads[m], jacobian, inputs[l])
            # zero for the bias row j
            block += tf.pad(cross, [[0, 0], [0, 1], [0, 0], [0, 0], [0, 0]])
        shape = tf.shape(block)
        block = tf.reshape(block, [batch, shape[1] * shape[2], shape[3] * shape[4]])
        # exactly symmetric
        blocks[l] = 0.5 * (block + tf.linalg.matrix_transpose(block)) if l == m else block
    return blocks


def mlp_hessian(network, kind: str, theta, *, x, y, loss: str = "cross_entropy"):
    """Exact Hessians of the mean data loss by second-order backpropagation through the layers
    (Bishop 1992): about N D^2 operations a point, several times faster than differentiating the
    gradient.

    Args:
        network: the ``fla.core.networks.MLP``.
        kind: ``binary`` or ``multiclass``, the problem's output.
        theta: [B, D] parameters (a tensor).
        x: [N, n_in] patterns shared by all networks, or [B, N, n_in] one set each.
        y: [N] or [B, N] integer labels.
        loss: ``cross_entropy`` or ``mse`` (``fla.core.losses.LOSSES``).

    Returns:
        [B, D, D] Hessians.
    """
    import tensorflow as tf

    x = tf.convert_to_tensor(x, theta.dtype)
    if x.shape.rank == 2:
        x = tf.broadcast_to(x, tf.concat([tf.shape(theta)[:1], tf.shape(x)], 0))
    y = tf.broadcast_to(y, tf.shape(x)[:2])
    weights, inputs, slopes, second_derivatives, logits = forward(network, theta, x)
    scale = 1.0 / tf.cast(tf.shape(x)[1], theta.dtype)  # the mean over patterns
    g_out, m_out = output_derivatives(loss, kind, logits, y=y)
    grads, curvatures = backward(
        weights, slopes, second_derivatives, g_out=g_out * scale, m_out=m_out * scale
    )
    rows = [
        row_of_blocks(m, weights, inputs, slopes=slopes, grads=grads, curvatures=curvatures)
        for m in range(len(weights))
    ]
    full = [
        [rows[m][l] if l <= m else tf.linalg.matrix_transpose(rows[l][m]) for l in range(len(rows))]
        for m in range(len(rows))
    ]
    return tf.concat([tf.concat(r, 2) for r in full], 1)


def mlp_hvp(network, kind: str, theta, *, v, x, y, loss: str = "cross_entropy"):
    """Hessian-vector products of the mean data loss by Pearlmutter's R-operator (Neural Computation
    1994, Sec. 4, "R{backprop}"): one forward pass of the directional derivatives R{a_k} = d a_k / d
    theta . v beside the pre-activations, and one backward pass of R{g_k} beside the gradients,

        R{a_k} = R{h^_{k-1}} W^_k + h^_{k-1} V^_k,      R{h_k} = sigma'(a_k) R{a_k},
        R{g_L} = l''(z) R{z},
        R{g_k} = sigma'(a_k) (R{g_{k+1}} W_{k+1}^T + g_{k+1} V_{k+1}^T)
                 + sigma''(a_k) R{a_k} (g_{k+1} W_{k+1}^T),
        (H v)_{W^_k} = R{h^_{k-1}}^T g_k + h^_{k-1}^T R{g_k},

    with V^_k the blocks of v laid out as the weights. The output derivatives and the activations'
    are those of the exact Hessian (``fla.core.losses.output_derivatives``,
    ``activation_derivatives``), formed without cancellation, so the products keep their relative
    accuracy at losses down to 1e-30 in float32, where differentiating TensorFlow's gradient twice
    rounds p (1 - p) to 0 or to one float32 step.

    Args:
        network: the ``fla.core.networks.MLP``.
        kind: ``binary`` or ``multiclass``, the problem's output.
        theta: [B, D] parameters (a tensor).
        v: [B, D] one vector per network.
        x: [N, n_in] patterns shared by all networks, or [B, N, n_in] one set each.
        y: [N] or [B, N] integer labels.
        loss: ``cross_entropy`` or ``mse``.

    Returns:
        [B, D] H(theta_b) v_b.
    """
    import tensorflow as tf

    x = tf.convert_to_tensor(x, theta.dtype)
    y = tf.broadcast_to(y, tf.concat([tf.shape(theta)[:1], tf.shape(x)[-2:-1]], 0))
    weights, inputs, slopes, seconds, logits = forward(network, theta, x)
    directions = [
        network.layer_weights(block, k, False) for k, block in enumerate(network.split(v))
    ]
    moves = [tf.matmul(inputs[0], directions[0])]  # R{a_k}, [B, N, out]
    for k in range(1, len(weights)):
        moved = slopes[k - 1] * moves[-1]
        moved = tf.concat([moved, tf.zeros_like(moved[..., :1])], -1)  # R{h^_k}: the ones stay
        moves.append(tf.matmul(moved, weights[k]) + tf.matmul(inputs[k], directions[k]))
    scale = 1.0 / tf.cast(tf.shape(x)[-2], theta.dtype)  # the mean over patterns
    g_out, m_out = output_derivatives(loss, kind, logits, y=y)
    grad, moved_grad = g_out * scale, tf.linalg.matvec(m_out, moves[-1]) * scale
    products = [None] * len(weights)
    for k in range(len(weights) - 1, -1, -1):
        products[k] = sum_patterns(inputs[k], moved_grad)
        if k == 0:
            break
        moved_input = slopes[k - 1] * moves[k - 1]
        products[k] += sum_patterns(
            tf.concat([moved_input, tf.zeros_like(moved_input[..., :1])], -1), grad
        )
        back = tf.matmul(grad, weights[k][:, :-1, :], transpose_b=True)
        moved_back = tf.matmul(moved_grad, weights[k][:, :-1, :], transpose_b=True) + tf.matmul(
            grad, directions[k][:, :-1, :], transpose_b=True
        )
        grad, moved_grad = (
            slopes[k - 1] * back,
            slopes[k - 1] * moved_back + seconds[k - 1] * moves[k - 1] * back,
        )
    batch = tf.shape(theta)[0]
    return tf.concat([tf.reshape(p, [batch, -1]) for p in products], 1)


def sum_patterns(inputs, grads):
    """sum_n inputs[n, j] grads[n, o] per network: a layer's weight gradient.

    Args:
        inputs: [N, in] shared or [B, N, in].
        grads: [B, N, out].

    Returns:
        [B, in, out].
    """
    import tensorflow as tf

    if inputs.shape.rank == 2:
        return tf.einsum("nj,bno->bjo", inputs, grads)
    return tf.matmul(inputs, grads, transpose_a=True)
