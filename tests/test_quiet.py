"""TensorFlow started by fla: no start-up lines, its pools pinned, one misleading warning dropped
(fla.base.quiet)."""

import subprocess
import sys

import pytest

START = """
from fla.base import quiet
tf = quiet.import_tensorflow(1)
threading = tf.config.threading
print(threading.get_intra_op_parallelism_threads(), threading.get_inter_op_parallelism_threads())
tf.get_logger().warning("5 out of the last 5 calls to <f> triggered tf.function retracing.")
tf.get_logger().warning("a real warning")
"""


@pytest.mark.slow  # a process of its own
def test_tensorflow_starts_silent_pinned_and_keeps_real_warnings():
    done = subprocess.run(
        [sys.executable, "-c", START], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.split() == ["1", "1"]
    assert done.stderr.strip().splitlines() == ["WARNING:tensorflow:a real warning"], done.stderr
