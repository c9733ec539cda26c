"""TensorFlow started without its start-up lines.

TensorFlow's C++ runtime writes its first messages (oneDNN, CUDA drivers not found, absl's "All log
messages before absl::InitializeLog()") to the process's standard error before any logging setting
applies, and TF_CPP_MIN_LOG_LEVEL does not reach them; they tell a CPU user nothing. fla's commands
import TensorFlow once, here, with file descriptor 2 pointed at /dev/null, and run one tiny
compiled program so that the libraries XLA loads print their lines then too; every later message
(a real warning, an error) reaches standard error as usual, except one: TensorFlow's "triggered
tf.function retracing" warning, which counts the traces of every ``tf.function`` made from the same
code together, so that fla's programs built once per objective (one per configuration of a study,
each traced once or twice: ``reduce_retracing`` generalises the batch size at the second) read as
one function retraced again and again (``RetracingNoise``). What the warning guards against,
a program traced anew for every call, is tested instead: each objective's programs trace at most
twice whatever the batch (``tests/test_programs.py``).

    >>> tf = import_tensorflow()
"""

from __future__ import annotations

import logging
import os
import sys


class RetracingNoise(logging.Filter):
    """Drops TensorFlow's retracing warning (module docstring); every other record passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Drop TensorFlow's retracing warning; every other record passes.

        Args:
            record: a log record.

        Returns:
            False for the retracing warning.
        """
        return "triggered tf.function retracing" not in record.getMessage()


def import_tensorflow(threads: int | None = None):
    """TensorFlow, imported (and XLA loaded) with its start-up lines silenced, its thread pools
    pinned to ``threads`` threads when given (before its runtime starts, the only time they can be);
    a second call returns the module at once. Call ``fla.base.compile_cache.enable`` first:
    TensorFlow reads its XLA flags at the first compilation, which happens here.

    Args:
        threads: TensorFlow's intra- and inter-op threads, or None.

    Returns:
        The tensorflow module.
    """
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        import tensorflow as tf

        if threads:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        tf.get_logger().addFilter(RetracingNoise())
        tf.function(lambda x: x + 1.0, jit_compile=True)(tf.constant(0.0))
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)
    return tf
