"""The patterns of one walk step: every training pattern (full batches), the step's batch shared by
all walks (indices drawn on the host, a function of (seed, step)), or one batch per walk drawn in
the step from the streams keyed by (seed, walk, step) (``streams.walk_batch``)."""

from __future__ import annotations

from fla.walks import streams


def step_patterns(
    program, seed, walks, *, step, shared_train, shared_test, x_train, y_train, x_test, y_test
):
    """The patterns of one step of a ``fla.walks.program.WalkProgram``: the whole training set, the
    step's shared batch, or each walk's own (drawn from its stream).

    Args:
        program: the walk program (its batching and batch size).
        seed: the run's seed.
        walks: [B] the walks' indices.
        step: the step.
        shared_train: [size] the step's shared training batch (shared batching).
        shared_test: [size] its shared test batch.
        x_train: the training inputs.
        y_train: their labels.
        x_test: the test inputs (None without a test set).
        y_test: their labels.

    Returns:
        (x, y, x_test, y_test) of the step.
    """
    import tensorflow as tf

    if program.batching == "full":
        return x_train, y_train, x_test, y_test
    if program.batching == "shared":
        return (
            tf.gather(x_train, shared_train),
            tf.gather(y_train, shared_train),
            tf.gather(x_test, shared_test),
            tf.gather(y_test, shared_test),
        )
    size = program.batch_size
    train = streams.walk_batch(
        seed, streams.TRAIN_BATCH, step, walks=walks, size=size, n=program.n_train
    )
    if not program.n_test:
        return tf.gather(x_train, train), tf.gather(y_train, train), x_test, y_test
    test = streams.walk_batch(
        seed, streams.TEST_BATCH, step, walks=walks, size=size, n=program.n_test
    )
    return (
        tf.gather(x_train, train),
        tf.gather(y_train, train),
        tf.gather(x_test, test),
        tf.gather(y_test, test),
    )
