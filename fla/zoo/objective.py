"""The batched objective over a Keras model's weights: theta [B, D] -> loss [B].

theta holds the model's trainable variables, flattened and concatenated in
``model.trainable_variables`` order. Each row is evaluated with ``model.stateless_call`` on fixed
patterns; the B rows run inside one compiled program (``tf.map_fn``), so NEB and the Hessian tools
use it as they use the MLP objective.

BatchNorm: losses are taken with the batch's own statistics (training-mode BatchNorm). A pivot
between two minima is a new network whose moving averages were never estimated, and the minima's own
moving averages belong to other weights; batch statistics are defined for every point of a path and
treat minima and saddles alike (Draxler et al. likewise evaluate their paths with batch statistics).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


class KerasObjective:
    """The batched objective over a Keras model's weights: theta [B, D] -> loss [B] on fixed
    patterns (module docstring); NEB and the Hessian tools use it as they use the MLP objective.
    """

    def __init__(self, model, x, y, *, chunk: int = 500):
        """The objective of ``model`` on patterns.

        Args:
            model: the Keras model.
            x: [N, 32, 32, 3] float32 images (normalised).
            y: [N] labels.
            chunk: patterns a batch in ``evaluate``.
        """
        self.model = model
        self.dtype = tf.float32
        self.shapes = [tuple(v.shape) for v in model.trainable_variables]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        self.n_params = sum(self.sizes)
        self.non_trainable = [tf.convert_to_tensor(v.value) for v in model.non_trainable_variables]
        self.x = tf.constant(x, tf.float32)
        self.y = tf.constant(y, tf.int32)
        self.chunk = chunk
        self._loss_and_error = tf.function(
            self.loss_and_error, reduce_retracing=True, autograph=False
        )

    def flatten(self) -> np.ndarray:
        """The model's current trainable weights as one flat vector.

        Returns:
            [D] float32.
        """
        return np.concatenate([v.numpy().ravel() for v in self.model.trainable_variables]).astype(
            np.float32
        )

    def unflatten(self, row):
        """One flat vector as the model's trainable variables.

        Args:
            row: [D] a tensor.

        Returns:
            The variables' tensors, in ``model.trainable_variables`` order.
        """
        parts = tf.split(row, self.sizes)
        return [tf.reshape(p, s) for p, s in zip(parts, self.shapes)]

    def loss_and_error(self, row, x, y):
        """The mean cross-entropy and error of one weight vector, BatchNorm with the batch's
        statistics.

        Args:
            row: [D] the weights.
            x: the images.
            y: their labels.

        Returns:
            (loss, error) scalars.
        """
        logits, _ = self.model.stateless_call(
            self.unflatten(row), self.non_trainable, x, training=True
        )
        logits = tf.cast(logits, tf.float32)
        loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
        )
        error = 1.0 - tf.reduce_mean(
            tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), y), tf.float32)
        )
        return loss, error

    def loss_at_train(self, theta):
        """The losses of weight vectors on the objective's patterns (a TensorFlow function,
        differentiable).

        Args:
            theta: [B, D] weight vectors.

        Returns:
            [B] losses.
        """
        return tf.map_fn(
            lambda row: self.loss_and_error(row, self.x, self.y)[0],
            theta,
            fn_output_signature=tf.float32,
        )

    def evaluate(
        self, theta: np.ndarray, x: np.ndarray, y: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The mean loss and error of each weight vector, in batches of ``chunk`` patterns.

        Args:
            theta: [B, D] weight vectors.
            x: the images.
            y: their labels.

        Returns:
            (loss [B], error [B]).
        """
        fn = self._loss_and_error
        losses, errors = np.zeros(len(theta)), np.zeros(len(theta))
        for b, row in enumerate(np.asarray(theta, np.float32)):
            parts = [
                (
                    len(idx),
                    *fn(
                        tf.constant(row),
                        tf.constant(x[idx], tf.float32),
                        tf.constant(y[idx], tf.int32),
                    ),
                )
                for idx in np.array_split(np.arange(len(x)), max(1, len(x) // self.chunk))
            ]
            weights = np.array([n for n, _, _ in parts], float)
            losses[b] = np.dot(weights, [float(loss) for _, loss, _ in parts]) / weights.sum()
            errors[b] = np.dot(weights, [float(e) for _, _, e in parts]) / weights.sum()
        return losses, errors
