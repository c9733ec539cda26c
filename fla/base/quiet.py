"""TensorFlow started without its start-up lines.

TensorFlow's C++ runtime writes its first messages (oneDNN, CUDA drivers not found, absl's "All log
messages before absl::InitializeLog()") to the process's standard error before any logging setting
applies, and TF_CPP_MIN_LOG_LEVEL does not reach them; they tell a CPU user nothing. fla's commands
import TensorFlow once, here, with file descriptor 2 pointed at /dev/null, and run one tiny
compiled program so that the libraries XLA loads print their lines then too; every later message
(a real warning, an error) reaches standard error as usual.

    >>> tf = import_tensorflow()
"""

from __future__ import annotations

import os
import sys


def import_tensorflow():
    """TensorFlow, imported (and XLA loaded) with its start-up lines silenced; a second call
    returns the module at once."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        import tensorflow as tf

        tf.function(lambda x: x + 1.0, jit_compile=True)(tf.constant(0.0))
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)
    return tf
