"""A walk is fixed by its seed: the random streams, and what must not change a walk (issue 9)."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import tensorflow as tf
from helpers import make_mnist, reference_philox

from fla.base.errors import ConfigError
from fla.walks import sample as sample_module
from fla.walks import streams
from fla.walks.sample import SampleConfig, sample

# Random123's published known-answer vectors for Philox4x32-10: counter (4 words), key (2 words) ->
# 4 words.
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


@pytest.mark.parametrize("counter, key, expected", KAT)
def test_philox_reproduces_the_published_known_answers(counter, key, expected):
    assert reference_philox(counter, key) == expected
    words = streams.philox4x32(
        [tf.constant(c, tf.uint32) for c in counter], [tf.constant(k, tf.uint32) for k in key]
    )
    assert tuple(int(w) for w in words) == expected
    compiled = tf.function(
        lambda: streams.philox4x32(
            [tf.constant(c, tf.uint32) for c in counter], [tf.constant(k, tf.uint32) for k in key]
        ),
        jit_compile=True,
    )
    assert tuple(int(w) for w in compiled()) == expected


def test_both_generators_give_every_walk_its_own_stream():
    seed, n = 7, 13
    walks = np.arange(16, 48)
    native = streams.words_of_walk_range(seed, streams.DELTA, 5, first=16, count=32, n=n).numpy()
    ours = streams.words_of_walks(seed, streams.DELTA, 5, walks=walks, n=n).numpy()
    np.testing.assert_array_equal(native, ours)
    compiled = tf.function(
        lambda w: streams.words_of_walks(seed, streams.DELTA, 5, walks=w, n=n), jit_compile=True
    )
    np.testing.assert_array_equal(compiled(tf.constant(walks)).numpy(), ours)
    transposed = tf.function(
        lambda w: streams.words_of_walks(seed, streams.DELTA, 5, walks=w, n=n, feature_major=True),
        jit_compile=True,
    )
    np.testing.assert_array_equal(transposed(tf.constant(walks)).numpy(), ours.T)
    # against the reference: walk 17, coordinate 6 is block 17 * 4 + 1, word 2, counter (block, 0,
    # step, 0)
    expected = reference_philox((17 * 4 + 1, 0, 5, 0), (seed, streams.DELTA))[2]
    assert ours[1, 6] == expected
    # a walk's draws do not depend on the walks drawn with it
    np.testing.assert_array_equal(
        streams.words_of_walks(seed, streams.DELTA, 5, walks=walks[5:6], n=n).numpy(), ours[5:6]
    )


def test_words_of_a_coordinate_range_are_that_range_of_the_walks_words():
    walks, n = np.array([0, 3, 7]), 23
    for feature_major in (False, True):
        whole = streams.words_of_walks(
            9, streams.DELTA, 2, walks=walks, n=n, feature_major=feature_major
        ).numpy()
        for lo, hi in [(0, 23), (5, 6), (6, 17), (21, 23)]:
            part = streams.words_of_walks(
                9,
                streams.DELTA,
                2,
                walks=walks,
                n=n,
                feature_major=feature_major,
                coordinates=(lo, hi),
            ).numpy()
            np.testing.assert_array_equal(part, whole[lo:hi] if feature_major else whole[:, lo:hi])
    for bad in [(0, 24), (5, 5), (-1, 3)]:
        with pytest.raises(ValueError, match="coordinates"):
            streams.words_of_walks(9, streams.DELTA, 2, walks=walks, n=n, coordinates=bad)


def test_packed_words_drawn_in_one_program_and_unpacked_in_another_are_the_walks_words():
    """The words a large network's step draws for the next (streams.packed_words_of_walks) are bit
    patterns carried in complex128: among 400,000 blocks many read as NaN, whose bits must
    survive."""
    import tensorflow as tf

    walks, n = np.arange(100, 300), 7999
    whole = streams.words_of_walks(
        4, streams.DELTA, 6, walks=walks, n=n, feature_major=True
    ).numpy()
    for lo, hi in [(0, n), (5, 6), (6, 7850), (7850, n)]:
        draw = tf.function(
            lambda: streams.packed_words_of_walks(
                4, streams.DELTA, 6, walks=walks, n=n, coordinates=(lo, hi)
            ),
            jit_compile=True,
            autograph=False,
        )
        unpack = tf.function(
            lambda p: streams.unpack_words(p, n, (lo, hi)), jit_compile=True, autograph=False
        )
        packed = draw()
        np.testing.assert_array_equal(unpack(packed).numpy(), whole[lo:hi])
        if hi - lo == n:
            assert np.isnan(packed.numpy().real).sum() > 50  # the bit patterns this test must carry


def test_uniforms_and_indices_are_in_range_and_uniform():
    from scipy import stats

    u = streams.uniforms_of_walks(0, streams.DELTA, 3, walks=np.arange(200), n=50).ravel()
    assert u.min() >= 0 and u.max() < 1
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    idx = streams.to_index(
        streams.words_of_walks(0, streams.TRAIN_BATCH, 1, walks=np.arange(100), n=100), 7
    ).numpy()
    assert idx.min() == 0 and idx.max() == 6
    assert stats.chisquare(np.bincount(idx.ravel(), minlength=7)).pvalue > 1e-3


def walk_table(out):
    df = pq.read_table(
        out / "points.parquet", columns=["walk", "step", "loss", "grad_norm", "params"]
    ).to_pandas()
    df = df.sort_values(["walk", "step"]).reset_index(drop=True)
    ends = pq.read_table(out / "endpoints.parquet").to_pandas().sort_values("walk")
    return df, np.stack(ends.params)


def assert_same_walks(a, b):
    (da, ea), (db, eb) = a, b
    np.testing.assert_array_equal(da.walk, db.walk)
    np.testing.assert_array_equal(da.loss.to_numpy(), db.loss.to_numpy())
    np.testing.assert_array_equal(da.grad_norm.to_numpy(), db.grad_norm.to_numpy())
    np.testing.assert_array_equal(ea, eb)
    if da.params.notna().all() and db.params.notna().all():
        np.testing.assert_array_equal(np.stack(da.params), np.stack(db.params))


@pytest.mark.parametrize("width, depth", [(2, 1), pytest.param(20, 2, marks=pytest.mark.slow)])
def test_curvature_and_records_do_not_change_the_walk(tmp_path, width, depth):
    base = dict(
        problem="xor",
        width=width,
        depth=depth,
        granularity="macro",
        bound=1.0,
        walks=40,
        steps=6,
        seed=5,
    )
    variants = [
        dict(hessian="none", record_params=True),
        dict(hessian="exact", hessian_at="all"),
        dict(hessian="lanczos", hessian_at="every:2", record_params=True),
        dict(hessian="blocks", hessian_at="last"),
        dict(hessian="exact", hessian_at="grad-below:3"),
    ]
    runs = []
    for i, extra in enumerate(variants):
        sample(SampleConfig(**base, **extra), tmp_path / str(i), quiet=True)
        runs.append(walk_table(tmp_path / str(i)))
    for other in runs[1:]:
        assert_same_walks(runs[0], other)


def test_curvature_at_the_last_step_is_measured_at_the_last_points_whether_or_not_they_are_recorded(
    tmp_path,
):
    """Without --record-params, a last-step-only measurement walks the other steps without returning
    their points; what it measures is the same as when every point is recorded."""
    base = dict(
        problem="xor",
        width=3,
        depth=2,
        granularity="macro",
        bound=1.0,
        walks=20,
        steps=7,
        seed=2,
        hessian_at="last",
    )
    columns = ["walk", "step", "eig_min", "eig_max", "curvature", "eigenvalues", "params"]
    for hessian in ("exact", "lanczos"):
        tables = []
        for record in (True, False):
            out = tmp_path / f"{hessian}{record}"
            sample(SampleConfig(**base, hessian=hessian, record_params=record), out, quiet=True)
            tables.append(
                pq.read_table(out / "points.parquet", columns=columns)
                .to_pandas()
                .sort_values(["walk", "step"], ignore_index=True)
            )
        recorded, walked = tables
        assert walked.params.isna().all() and recorded.params.notna().all()
        last = recorded.step == 6
        assert recorded.eig_min[last].notna().all() and recorded.eig_min[~last].isna().all()
        for name in ("eig_min", "eig_max", "curvature"):
            assert recorded[name].equals(walked[name])
        if hessian == "exact":
            from fla.core.networks import MLP
            from fla.core.objective import Objective
            from fla.core.registry import load_problem

            params = np.stack(recorded.params[last]).astype(np.float64)
            f = Objective(MLP(2, 3, 2, 1), load_problem("xor"), dtype=tf.float64)
            expected = np.linalg.eigvalsh(f.hessian(params).numpy())
            np.testing.assert_allclose(
                np.stack(walked.eigenvalues[last]), expected, atol=1e-5 * np.abs(expected).max()
            )


# the layer-blocks form is also pinned, fast, by test_a_walk_kept_in_per_layer_blocks_is_...
@pytest.mark.parametrize(
    "batching",
    [
        "shared",
        pytest.param("shared-layer-blocks", marks=pytest.mark.slow),
        pytest.param("per_walk", marks=pytest.mark.slow),  # 7 s
    ],
)
def test_minibatch_walks_do_not_depend_on_curvature_or_on_being_run_in_shards(
    tmp_path, monkeypatch, batching
):
    from fla.walks import config as config_module
    from fla.walks import program as walks

    if batching == "shared-layer-blocks":  # the walk state of large networks: one block per layer
        monkeypatch.setattr(walks, "LAYER_BLOCKS_MIN_PARAMS", 0)
        # not the whole-vector program built before
        monkeypatch.setattr(
            sample_module, "_PROGRAMS", sample_module.Kept(sample_module.WALK_PROGRAMS)
        )
        batching = "shared"
    make_mnist(tmp_path / "data", n_train=80, n_test=30)
    base = dict(
        problem="mnist",
        width=3,
        depth=2,
        granularity="micro",
        bound=1.0,
        walks=40,
        steps=3,
        batch_size=10,
        seed=4,
        batching=batching,
    )
    # 16 walks a program: 3 chunks, the last padded
    monkeypatch.setattr(config_module, "CHUNK_FLOATS", 16 * 2407)
    runs = []
    for i, extra in enumerate(
        [
            dict(hessian="none", record_params=True),
            dict(hessian="lanczos", hessian_at="all"),
            dict(hessian="exact", hessian_at="grad-below:{}", record_params=True),
        ]
    ):
        # three full spectra of D = 2407, not 120
        if extra.get("hessian_at", "").startswith("grad-below"):
            extra["hessian_at"] = extra["hessian_at"].format(
                np.sort(runs[0][0].grad_norm)[2] * (1 + 1e-6)
            )
        sample(
            SampleConfig(**base, **extra), tmp_path / str(i), data_dir=tmp_path / "data", quiet=True
        )
        runs.append(walk_table(tmp_path / str(i)))
        assert json.loads((tmp_path / str(i) / "run.json").read_text())["plan"]["chunk"] == 16
    for other in runs[1:]:
        assert_same_walks(runs[0], other)
    config = SampleConfig(**base, record_params=True, hessian="none")
    shards = [(0, 32), (32, 40)]
    for lo, hi in shards:
        sample(
            config,
            tmp_path / f"shard{lo}",
            data_dir=tmp_path / "data",
            quiet=True,
            walk_range=(lo, hi),
        )
    parts = [walk_table(tmp_path / f"shard{lo}") for lo, _ in shards]
    import pandas as pd

    joined = (
        pd.concat([p[0] for p in parts], ignore_index=True),
        np.concatenate([p[1] for p in parts]),
    )
    assert_same_walks(runs[0], joined)
    with pytest.raises(ConfigError, match="multiple of the chunk"):
        sample(config, tmp_path / "bad", data_dir=tmp_path / "data", quiet=True, walk_range=(8, 40))


def test_a_walk_kept_in_per_layer_blocks_is_the_walk_kept_whole(tmp_path, monkeypatch):
    """Large networks keep their walk state as one block per layer, each drawing its own Delta
    beside its update: the same points, losses and endpoints as the whole vector, and the same
    gradient norms up to the order of their sums."""
    from fla.walks import program as walks

    make_mnist(tmp_path / "data", n_train=80, n_test=30)
    config = SampleConfig(
        problem="mnist",
        width=5,
        depth=2,
        granularity="micro",
        bound=1.0,
        walks=20,
        steps=4,
        batch_size=10,
        seed=8,
        batching="shared",
        hessian="none",
        record_params=True,
    )
    runs = []
    for threshold in (10**9, 0):
        monkeypatch.setattr(walks, "LAYER_BLOCKS_MIN_PARAMS", threshold)
        # a program of this layout, not a cached one
        monkeypatch.setattr(
            sample_module, "_PROGRAMS", sample_module.Kept(sample_module.WALK_PROGRAMS)
        )
        sample(config, tmp_path / str(threshold), data_dir=tmp_path / "data", quiet=True)
        runs.append(walk_table(tmp_path / str(threshold)))
    (whole, whole_ends), (layered, layered_ends) = runs
    np.testing.assert_array_equal(np.stack(whole.params), np.stack(layered.params))
    np.testing.assert_array_equal(whole_ends, layered_ends)
    np.testing.assert_array_equal(whole.loss.to_numpy(), layered.loss.to_numpy())
    np.testing.assert_allclose(whole.grad_norm.to_numpy(), layered.grad_norm.to_numpy(), rtol=1e-6)


def test_each_walk_moves_by_the_draws_of_its_own_documented_stream(tmp_path, monkeypatch):
    """Independently of the sampler: walk w's move at step t is +-s times the uniforms of Philox at
    key (seed, DELTA), counter (w * ceil(D/4) + i // 4, 0, t, 0), word i % 4
    (fla/walks/streams.py)."""
    from fla.walks import config as config_module

    # chunks of 16 walks: walk 20 is 4th of its chunk
    monkeypatch.setattr(config_module, "CHUNK_FLOATS", 16 * 9)
    config = SampleConfig(
        "xor",
        width=2,
        depth=1,
        granularity="macro",
        bound=1.0,
        walks=40,
        steps=3,
        seed=11,
        hessian="none",
        record_params=True,
    )
    sample(config, tmp_path / "run", quiet=True)
    df, ends = walk_table(tmp_path / "run")
    params = np.stack(df.params).reshape(40, 3, 9)
    path = np.concatenate([params, ends[:, None]], 1)
    for w in (0, 20, 39):
        for t in range(3):
            words = [
                reference_philox((w * 3 + i // 4, 0, t, 0), (11, streams.DELTA))[i % 4]
                for i in range(9)
            ]
            expected = (
                (np.array(words, np.uint64) >> 8).astype(np.float32)
                * np.float32(2.0**-24)
                * np.float32(0.2)
            )
            np.testing.assert_allclose(np.abs(path[w, t + 1] - path[w, t]), expected, atol=1e-6)
        start = [
            reference_philox((w * 3 + i // 4, 0, 0, 0), (11, streams.START))[i % 4]
            for i in range(9)
        ]
        u = (np.array(start, np.uint64) >> 8).astype(np.float32) * np.float32(2.0**-24)
        np.testing.assert_allclose(path[w, 0], (2 * u - 1) * 1.0, atol=1e-7)


@pytest.mark.parametrize("batching", ["full", pytest.param("per_walk", marks=pytest.mark.slow)])
def test_measuring_saturation_does_not_change_the_walk(batching):
    """The hidden layers' saturation is read off the step's own forward pass: a tanh walk with it
    recorded is bitwise the walk without it (loss, gradient norm and the points)."""
    from fla.core.networks import MLP
    from fla.core.objective import Objective
    from fla.core.registry import load_problem
    from fla.walks.program import WalkProgram

    problem = load_problem("iris")
    objective = Objective(MLP(4, 6, 2, 3, "tanh"), problem)
    theta0 = np.random.default_rng(0).uniform(-1, 1, (16, objective.n_params)).astype(np.float32)
    results = []
    for measured in (True, False):
        program = WalkProgram(objective, batching=batching, batch_size=20)
        program.saturation = measured  # read when the step is traced
        results.append(program.run(theta0, 0.2, 3, 0, 0, 5, record_params=True))
    (theta_a, rec_a), (theta_b, rec_b) = results
    assert "saturation" in rec_a and "saturation" not in rec_b
    np.testing.assert_array_equal(theta_a, theta_b)
    for name in ("loss", "grad_norm", "params", "accuracy"):
        np.testing.assert_array_equal(rec_a[name], rec_b[name])


def test_a_squared_error_walk_with_a_penalty_keeps_the_walk_identity_promises(
    tmp_path, monkeypatch
):
    """The same walks whatever curvature is asked for and however the run is split into shards,
    on the squared error with weight elimination and tanh units (their saturation recorded)."""
    from fla.walks import config as config_module

    monkeypatch.setattr(config_module, "CHUNK_FLOATS", 16 * 55)  # 16 walks a program
    base = dict(
        problem="iris", width=5, depth=1, granularity="macro", bound=1.0, walks=32, steps=4,
        seed=2, activation="tanh", loss="mse", regulariser="weight_elimination", lambda_=0.01,
        record_params=True,
    )  # fmt: skip
    sample(SampleConfig(**base, hessian="none"), tmp_path / "a", quiet=True)
    sample(SampleConfig(**base, hessian="exact"), tmp_path / "b", quiet=True)
    for lo, hi in [(0, 16), (16, 32)]:
        sample(
            SampleConfig(**base, hessian="none"),
            tmp_path / f"s{lo}",
            quiet=True,
            walk_range=(lo, hi),
        )
    whole = walk_table(tmp_path / "a")
    assert_same_walks(whole, walk_table(tmp_path / "b"))
    parts = [walk_table(tmp_path / f"s{lo}") for lo in (0, 16)]
    import pandas as pd

    joined = (
        pd.concat([p[0] for p in parts], ignore_index=True),
        np.concatenate([p[1] for p in parts]),
    )
    assert_same_walks(whole, joined)
