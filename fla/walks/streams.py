"""Counter-based random streams: every draw of a walk is a function of (seed, walk, step) alone.

The generator is Philox4x32-10 (Salmon, Moraes, Dror and Shaw, "Parallel random numbers: as easy as
1, 2, 3", SC'11). It maps a 128-bit counter (words c0..c3) and a 64-bit key (k0, k1) to four
uint32 words. fla computes it two ways that give the same bits:

- ``philox4x32`` in plain TensorFlow integer ops, which XLA compiles into each walk step (Delta
  and per-walk mini-batches are drawn inside the step, fused with the update; measured faster than
  the native kernel on CPU, bench/bench_walks.py) and which runs the same on any device;
- TensorFlow's native stateless Philox kernel (``StatelessRandomUniformFullIntV2``, ``alg=1``),
  for contiguous ranges of walks outside XLA (the walks' starting points).

``tests/test_walk_identity.py`` checks both against Random123's published known-answer vectors and
an independent pure-Python implementation, and against each other.

How fla keys and counts its streams, so that a walk's draws never depend on which chunk, shard,
worker, curvature policy, memory layout or compiled path runs it:

    key     = (seed, stream)
    counter = block + 2^64 * step + 2^96 * copy,   block = walk * ceil(n / 4) + i // 4
                                                   (word i % 4 of the block)

for coordinate (or batch slot) i of walk ``walk``; ``stream`` is ``START`` (theta_0, step 0),
``DELTA`` (the step's Delta), ``TRAIN_BATCH`` or ``TEST_BATCH`` (per-walk mini-batch
indices). ``copy`` is 0 for a run's own walks; copy c of a walk spawned from one of its points
(``fla.walks.spawn``) draws with c, passed as the high word of a 64-bit seed (``copy_seed``), so
its draws are a function of (seed, walk, copy, step) alone and no copy shares a walk's draws. A
word x becomes a uniform float32 in [0, 1) as (x >> 8) * 2^-24 (24 bits, exact), and an
index in [0, n) as floor(x * n / 2^32) (bias below n / 2^32: 1.4e-5 for n = 60,000). Shared
mini-batches are a function of (seed, step) (``shared_batch``).

    >>> u = uniforms_of_walks(seed=0, stream=DELTA, step=5, walks=np.arange(3), n=9)  # [3, 9]
"""

from __future__ import annotations

import numpy as np

M0, M1 = 0xD2511F53, 0xCD9E8D57  # Philox4x32 multipliers
W0, W1 = 0x9E3779B9, 0xBB67AE85  # Weyl key increments
ROUNDS = 10
START, DELTA, TRAIN_BATCH, TEST_BATCH = 0, 1, 2, 3
# the samplers' draws (fla.walks.samplers): start sides, the start's boundary dimension, the
# dimension a Manhattan step moves, a uniform sample's coordinates
SIDE, EDGE, DIMENSION, UNIFORM = 4, 5, 6, 7


def philox4x32(counter, key, rounds: int = ROUNDS):
    """Philox4x32-``rounds`` (Salmon et al. 2011) in plain TensorFlow integer ops, which XLA
    compiles into each walk step. Each 32-bit word is held in the low half of a uint64 lane
    throughout, so that a round is 64-bit multiplies (one 32 x 32 -> 64 bit product each), shifts,
    masks and xors with no narrowing in between, which XLA's CPU code computes faster than words
    narrowed to 32 bits every round (``python bench/bench_walks.py`` times both for an MNIST step's
    draws).

    Args:
        counter: (c0, c1, c2, c3), broadcastable uint32 tensors.
        key: (k0, k1), broadcastable uint32 tensors.
        rounds: the rounds (10 for Philox4x32-10).

    Returns:
        The four uint32 output words, of the broadcast shape.
    """
    import tensorflow as tf

    u64 = tf.uint64
    widen = lambda x: tf.cast(tf.cast(x, tf.uint32), u64)
    c = [widen(x) for x in counter]
    shape = tf.broadcast_dynamic_shape(
        tf.broadcast_dynamic_shape(tf.shape(c[0]), tf.shape(c[1])),
        tf.broadcast_dynamic_shape(tf.shape(c[2]), tf.shape(c[3])),
    )
    c = [tf.broadcast_to(x, shape) for x in c]
    k0, k1 = (widen(k) for k in key)
    low, shift = tf.constant(0xFFFFFFFF, u64), tf.constant(32, u64)
    high_half = lambda x: tf.bitwise.right_shift(x, shift)
    low_half = lambda x: tf.bitwise.bitwise_and(x, low)
    xor = tf.bitwise.bitwise_xor
    for r in range(rounds):
        if r:
            k0, k1 = low_half(k0 + tf.constant(W0, u64)), low_half(k1 + tf.constant(W1, u64))
        p0, p1 = c[0] * tf.constant(M0, u64), c[2] * tf.constant(M1, u64)
        c = [
            xor(xor(high_half(p1), c[1]), k0),
            low_half(p1),
            xor(xor(high_half(p0), c[3]), k1),
            low_half(p0),
        ]
    return [tf.cast(x, tf.uint32) for x in c]


def copy_seed(seed: int, copy: int) -> int:
    """The 64-bit seed whose streams are copy ``copy`` of seed ``seed``'s walks: the seed in the
    key, the copy in the counter's last word (module docstring).

    Args:
        seed: the run's seed, in [0, 2^32).
        copy: the copy (1, 2, ...; 0 is the run's own walks), in [0, 2^31).

    Returns:
        seed + 2^32 copy.

    Raises:
        ValueError: a seed or copy out of range.
    """
    if not (0 <= seed < 2**32 and 0 <= copy < 2**31):
        raise ValueError(f"seed must lie in [0, 2^32) and copy in [0, 2^31), got {seed}, {copy}")
    return seed + (copy << 32)


def blocks_per_walk(n: int) -> int:
    """The Philox blocks of four words one walk's n words take.

    Args:
        n: words a walk.

    Returns:
        ceil(n / 4).
    """
    return (n + 3) // 4


def words_of_walks(
    seed, stream: int, step, *, walks, n: int, feature_major: bool = False, coordinates=None
):
    """Words of any walks at (stream, step), by ``philox4x32``.

    Args:
        seed: the seed (a 64-bit ``copy_seed`` for spawned copies).
        stream: the stream (``START``, ``DELTA``, ...).
        step: one step, or one per walk [B].
        walks: [B] walk indices.
        n: words a walk.
        feature_major: the words as [n, B] instead of [B, n].
        coordinates: (lo, hi): only the words of coordinates lo .. hi - 1, computing only the Philox
            blocks they fall in (the walk draws each layer's Delta beside that layer's update).

    Returns:
        [B, n] (or [n, B], or the coordinates' rows) uint32 words.
    """
    import tensorflow as tf

    words, (skip, count) = _blocks(
        seed, stream, step, walks=walks, n=n, feature_major=feature_major, coordinates=coordinates
    )
    if feature_major:  # the four words of a block are four consecutive rows
        return tf.reshape(tf.stack(words, axis=1), [-1, tf.shape(walks)[0]])[skip : skip + count]
    return tf.reshape(tf.stack(words, axis=-1), [tf.shape(walks)[0], -1])[:, skip : skip + count]


def packed_words_of_walks(seed, stream: int, step, *, walks, n: int, coordinates=None):
    """The feature-major words of ``words_of_walks``, one Philox block per complex128 element.

    A bit pattern, not a number: the real part holds words 0 and 1 of the block (low and high half),
    the imaginary part words 2 and 3; ``unpack_words`` gives the words back, bit for bit. XLA's CPU
    code computes each element of a fused loop on its own, so the words of a block used one by one
    (the Delta fused into the update) cost four evaluations of its ten rounds; written as an output
    of a compiled program, a block is one element and one evaluation (``bench/bench_walks.py``
    prints both ways of writing an MNIST step's words). Inside one program XLA would fold the
    packing away, so pack and unpack must sit in different programs.

    Args:
        seed: the seed.
        stream: the stream.
        step: one step, or one per walk.
        walks: [B] walk indices.
        n: words a walk.
        coordinates: (lo, hi) the coordinates wanted.

    Returns:
        [blocks, B] complex128 packed blocks.
    """
    import tensorflow as tf

    words, _ = _blocks(
        seed, stream, step, walks=walks, n=n, feature_major=True, coordinates=coordinates
    )
    wide = [tf.cast(w, tf.uint64) for w in words]
    shift = tf.constant(32, tf.uint64)
    pair = lambda lo, hi: tf.bitcast(
        tf.bitwise.bitwise_or(lo, tf.bitwise.left_shift(hi, shift)), tf.float64
    )
    return tf.complex(pair(wide[0], wide[1]), pair(wide[2], wide[3]))


def unpack_words(packed, n: int, coordinates=None):
    """The words of ``packed_words_of_walks``, bit for bit.

    Args:
        packed: its packed blocks.
        n: words a walk.
        coordinates: (lo, hi) the coordinates wanted.

    Returns:
        [hi - lo, B] uint32 words.
    """
    import tensorflow as tf

    lo, hi = _coordinates(n, coordinates)
    low, shift = tf.constant(0xFFFFFFFF, tf.uint64), tf.constant(32, tf.uint64)
    words = []
    for part in (tf.math.real(packed), tf.math.imag(packed)):
        bits = tf.bitcast(part, tf.uint64)
        words += [tf.bitwise.bitwise_and(bits, low), tf.bitwise.right_shift(bits, shift)]
    words = tf.reshape(
        tf.stack([tf.cast(w, tf.uint32) for w in words], axis=1), [-1, tf.shape(packed)[1]]
    )
    skip = lo - 4 * (lo // 4)
    return words[skip : skip + hi - lo]


def _coordinates(n: int, coordinates) -> tuple[int, int]:
    lo, hi = coordinates or (0, n)
    if not 0 <= lo < hi <= n:  # beyond n the blocks would be the next walk's
        raise ValueError(f"coordinates must satisfy 0 <= lo < hi <= {n}, got {coordinates}")
    return lo, hi


def _blocks(seed, stream: int, step, *, walks, n: int, feature_major: bool, coordinates):
    """The four word tensors of the Philox blocks holding coordinates lo .. hi - 1 ([blocks, B]
    feature-major, else [B, blocks]), and (skip, count): where those coordinates lie in their
    words."""
    import tensorflow as tf

    per_walk = blocks_per_walk(n)
    lo, hi = _coordinates(n, coordinates)
    first, last = lo // 4, (hi + 3) // 4
    walks = tf.cast(walks, tf.int64)
    counted = tf.range(first, last, dtype=tf.int64)
    if feature_major:
        block = walks[None, :] * per_walk + counted[:, None]
    else:
        block = walks[:, None] * per_walk + counted[None, :]
    low = tf.cast(tf.bitwise.bitwise_and(block, tf.constant(0xFFFFFFFF, tf.int64)), tf.uint32)
    high = tf.cast(tf.bitwise.right_shift(block, tf.constant(32, tf.int64)), tf.uint32)
    step = tf.cast(step, tf.uint32)
    if step.shape.rank == 1:  # one step per walk
        step = step[None, :] if feature_major else step[:, None]
    seed = tf.cast(seed, tf.int64)
    copy = tf.cast(tf.bitwise.right_shift(seed, tf.constant(32, tf.int64)), tf.uint32)
    words = philox4x32(
        (low, high, step, copy),
        (
            tf.cast(tf.bitwise.bitwise_and(seed, 0xFFFFFFFF), tf.uint32),
            tf.constant(stream, tf.uint32),
        ),
    )
    return words, (lo - 4 * first, hi - lo)


def words_of_walk_range(seed, stream: int, step, *, first, count: int, n: int):
    """Words of a contiguous range of walks by TensorFlow's native Philox kernel (not under XLA: XLA
    lowers it to another stream); equal to ``words_of_walks`` of the same walks.

    Args:
        seed: the seed.
        stream: the stream.
        step: the step.
        first: the first walk.
        count: the walks.
        n: words a walk.

    Returns:
        [count, n] uint32 words.
    """
    import tensorflow as tf

    per_walk = blocks_per_walk(n)
    key = tf.cast(seed, tf.uint64) + tf.constant(stream << 32, tf.uint64)
    counter = tf.stack([tf.cast(first, tf.uint64) * per_walk, tf.cast(step, tf.uint64)])
    words = tf.raw_ops.StatelessRandomUniformFullIntV2(
        shape=[count, 4 * per_walk], key=key[None], counter=counter, alg=1, dtype=tf.uint32
    )
    return words[:, :n]


def to_uniform(words, dtype=None):
    """uint32 words as uniforms in [0, 1): (x >> 8) * 2^-24, exact.

    Args:
        words: uint32 words.
        dtype: the floats' type (default float32).

    Returns:
        Uniforms, of the words' shape.
    """
    import tensorflow as tf

    u = tf.cast(tf.bitwise.right_shift(words, tf.constant(8, tf.uint32)), tf.float32) * (2.0**-24)
    return u if dtype in (None, tf.float32) else tf.cast(u, dtype)


def to_index(words, n: int):
    """uint32 words as indices in [0, n): floor(x * n / 2^32).

    Args:
        words: uint32 words.
        n: the range.

    Returns:
        int32 indices, of the words' shape.
    """
    import tensorflow as tf

    scaled = tf.cast(words, tf.uint64) * tf.constant(n, tf.uint64)
    return tf.cast(tf.bitwise.right_shift(scaled, tf.constant(32, tf.uint64)), tf.int32)


def walk_batch(seed, stream: int, step, *, walks, size: int, n: int):
    """Per-walk mini-batch indices (``TRAIN_BATCH`` or ``TEST_BATCH``).

    Args:
        seed: the seed.
        stream: the stream.
        step: one step, or one per walk.
        walks: [B] walk indices.
        size: the batch size.
        n: the patterns.

    Returns:
        [B, size] int32 indices in [0, n).
    """
    return to_index(words_of_walks(seed, stream, step, walks=walks, n=size), n)


def uniforms_of_walks(seed, stream, step, *, walks, n):
    """Uniforms of any walks at (stream, step), in numpy.

    Args:
        seed: the seed.
        stream: the stream.
        step: the step.
        walks: [B] walk indices.
        n: uniforms a walk.

    Returns:
        [B, n] float32 uniforms in [0, 1).
    """
    return to_uniform(words_of_walks(seed, stream, step, walks=walks, n=n)).numpy()


def start_points(seed: int, first: int, count: int, *, n_params: int, bound: float) -> np.ndarray:
    """theta_0 of a range of walks, uniform in [-bound, bound)^D (stream ``START``).

    Args:
        seed: the seed.
        first: the first walk.
        count: the walks.
        n_params: D.
        bound: b.

    Returns:
        [count, D] float32.
    """
    import tensorflow as tf

    u = to_uniform(words_of_walk_range(seed, START, 0, first=first, count=count, n=n_params))
    return ((2.0 * u - 1.0) * tf.constant(bound, tf.float32)).numpy()


def shared_batch(seed: int, step: int, n: int, *, size: int, salt: int) -> np.ndarray:
    """A mini-batch shared by all walks of a step: a function of (seed, step, salt) alone, drawn by
    numpy's Philox4x64 keyed by them.

    Args:
        seed: the seed.
        step: the step.
        n: the patterns.
        size: the batch size.
        salt: 0 for the training batch, 1 for the test batch.

    Returns:
        [size] distinct indices in [0, n).
    """
    rng = np.random.Generator(np.random.Philox(key=np.array([seed, 2 * step + salt], np.uint64)))
    return rng.choice(n, size, replace=False).astype(np.int32)
