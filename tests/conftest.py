import atexit
import os
import shutil
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("FLA_TRACEBACK", "1")  # a bug in a test's command raises, with its traceback
# The suite's compile cache is its own (hermetic; shared by the processes the tests start).
os.environ["FLA_COMPILE_CACHE"] = tempfile.mkdtemp(prefix="fla-test-xla-")
atexit.register(shutil.rmtree, os.environ["FLA_COMPILE_CACHE"], True)

import numpy as np
import pytest

from fla.core.problems import Problem


def numpy_logits(layers, theta, x):
    """Independent forward pass from the documented flat layout (row-major W [in, out], then b)."""
    offset, h = 0, x
    for k, (fan_in, fan_out) in enumerate(layers):
        w = theta[offset : offset + fan_in * fan_out].reshape(fan_in, fan_out)
        offset += fan_in * fan_out
        b = theta[offset : offset + fan_out]
        offset += fan_out
        z = h @ w + b
        h = z if k == len(layers) - 1 else np.where(z > 0, z, np.expm1(np.minimum(z, 0)))
    return h


@pytest.fixture
def multiclass_problem():
    """A small 3-class problem with 5 inputs, train and test splits."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 5)).astype(np.float32)
    y = rng.integers(0, 3, 12).astype(np.int32)
    return Problem("toy3", x[:8], y[:8], x[8:], y[8:], n_inputs=5, n_outputs=3, kind="multiclass")
