"""What several test files share: running the command line in-process, checking that an error is
one line, taking a snapshot of every byte under a folder, an independent Philox."""

from __future__ import annotations

import hashlib
from pathlib import Path

from fla.cli import main

XOR = ["sample", "xor", "--width", "2", "--depth", "1", "--granularity", "macro", "--bound", "1"]
TINY = (
    'name = "tiny"\nproblems = ["xor"]\nwidths = [1]\ndepths = [1]\ngranularities = ["macro"]\n'
    "bounds = [1]\nseeds = [0]\nwalks = 6\nsteps = 4\n"
)


def run(argv, capsys):
    """(exit status, stderr stripped) of ``fla ARGV``, in this process."""
    status = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    return status, err


def one_line(err: str) -> bool:
    return len(err.splitlines()) == 1 and "Traceback" not in err


def snapshot(root) -> dict:
    """{relative path: SHA-256 of its bytes, or where a link points, or 'dir'} of everything under
    ``root``, links not followed."""
    root = Path(root)
    out = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_symlink():
            out[key] = f"link -> {path.readlink()}"
        elif path.is_dir():
            out[key] = "dir"
        else:
            out[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def make_mnist(folder, n_train=60, n_test=20, gz=True, seed=0):
    """Small IDX files in MNIST's real format and names."""
    import numpy as np

    from fla.core.readers import write_idx

    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ext = ".gz" if gz else ""
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, array in arrays.items():
        write_idx(folder / f"{name}{ext}", array)
    return arrays


def damage(path, how):
    """Damage the file ``path``: deleted, truncated, or one byte altered (same size)."""
    if how == "deleted":
        path.unlink()
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[:-50])
    else:  # one byte altered, same size
        raw = bytearray(path.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        path.write_bytes(bytes(raw))


def nan_on_calls(f, bad):
    """f, but NaN at every point on the batched calls whose number (from 0) satisfies ``bad(n)``:
    a counter inside the compiled program, so that failures strike at known steps, not by
    geometry."""
    import tensorflow as tf

    calls = tf.Variable(0, dtype=tf.int64)

    def loss(theta):
        n = calls.assign_add(1) - 1
        values = f(theta)
        return tf.where(
            bad(n), tf.fill(tf.shape(values), tf.constant(float("nan"), values.dtype)), values
        )

    return loss


def autodiff_hessians(f, theta, x, y):
    """The Hessians by differentiating the gradient (TensorFlow's batch_jacobian): independent of
    fla.core.exact_hessian's second-order backpropagation."""
    import tensorflow as tf

    with tf.GradientTape() as outer:
        outer.watch(theta)
        with tf.GradientTape() as inner:
            inner.watch(theta)
            loss = f.loss_at(theta, x, y)
        grad = inner.gradient(loss, theta)
    return outer.batch_jacobian(grad, theta).numpy()


def reference_philox(counter, key, rounds=10):
    """An independent Philox4x32 in Python integers, from the paper's definition (Salmon et al.
    2011)."""
    mask = 0xFFFFFFFF
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for r in range(rounds):
        p0, p1 = 0xD2511F53 * c0, 0xCD9E8D57 * c2
        c0, c1, c2, c3 = (
            ((p1 >> 32) ^ c1 ^ k0) & mask,
            p1 & mask,
            ((p0 >> 32) ^ c3 ^ k1) & mask,
            p0 & mask,
        )
        k0, k1 = (k0 + 0x9E3779B9) & mask, (k1 + 0xBB67AE85) & mask
    return c0, c1, c2, c3
