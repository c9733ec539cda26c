"""The samplers beside the gradient walk (random, Manhattan, uniform): each recorded walk against an
independent step-by-step simulation of its paper's rule (explicit reflection and direction flips,
not the fold the program uses), their starts, their identity under sharding, their study key and
folder names, and the measures fla metrics takes from them."""

import numpy as np
import pyarrow.parquet as pq
import pytest

from fla.metrics.gradients import gradient_measures
from fla.metrics.tables import run_metrics
from fla.studies.study import config_name
from fla.walks import streams
from fla.walks.sample import SampleConfig, sample

B, S, WALKS, STEPS, D = 1.0, 0.2, 6, 40, 9  # XOR 2-2-1 macro at bound 1: s = 0.2


def walk(tmp_path, sampler, **extra):
    config = SampleConfig(
        "xor",
        width=2,
        depth=1,
        granularity="macro",
        bound=B,
        walks=WALKS,
        steps=STEPS,
        record_params=True,
        sampler=sampler,
        seed=3,
        **extra,
    )
    out = tmp_path / sampler
    sample(config, out, quiet=True)
    df = pq.read_table(out / "points.parquet").to_pandas().sort_values(["walk", "step"])
    ends = pq.read_table(out / "endpoints.parquet").to_pandas().sort_values("walk")
    points = np.stack(df.params).reshape(WALKS, STEPS, D)
    return np.concatenate([points, np.stack(ends.params)[:, None]], axis=1), df, out


def words(stream, step, n):
    return streams.words_of_walk_range(3, stream, step, first=0, count=WALKS, n=n)


def reflect(x, direction):
    """The papers' boundary rule: a coordinate past a bound comes back by its overshoot and its
    direction flips."""
    over, under = x > B, x < -B
    x = np.where(over, 2 * B - x, np.where(under, -2 * B - x, x))
    return x, np.where(over | under, -direction, direction)


def check_start(x0):
    upper = (words(streams.SIDE, 0, D).numpy() & 1).astype(bool)
    assert (x0[upper] >= 0).all() and (x0[~upper] <= 0).all()  # each in the half its bit chose
    on_edge = np.isclose(np.abs(x0), B)
    assert (on_edge.sum(axis=1) == 1).all()  # one dimension on the boundary
    edge = streams.to_index(words(streams.EDGE, 0, 1), D).numpy()[:, 0]
    assert on_edge[np.arange(WALKS), edge].all()
    return np.where(upper, -1.0, 1.0)  # the upper half walks down


def test_progressive_random_walks_follow_the_papers_rule(tmp_path):
    x, df, _ = walk(tmp_path, "random")
    assert (df.sampler == "random").all() and (np.abs(x) <= B + 1e-6).all()
    direction, expected = check_start(x[:, 0]), x[:, 0].astype(np.float64)
    for t in range(STEPS):
        delta = streams.to_uniform(words(streams.DELTA, t, D)).numpy() * S
        expected, direction = reflect(expected + direction * delta, direction)
        np.testing.assert_allclose(x[:, t + 1], expected, atol=2e-5)
    assert (np.diff(np.sign(x[:, 1:] - x[:, :-1]), axis=1) != 0).any()  # some reflections


def test_manhattan_walks_move_one_dimension_by_exactly_s(tmp_path):
    x, _, _ = walk(tmp_path, "manhattan")
    direction, expected = check_start(x[:, 0]), x[:, 0].astype(np.float64)
    chosen = []
    for t in range(STEPS):
        k = streams.to_index(words(streams.DIMENSION, t, 1), D).numpy()[:, 0]
        chosen += list(k)
        step = np.zeros_like(expected)
        step[np.arange(WALKS), k] = S
        expected, direction = reflect(expected + direction * step, direction)
        np.testing.assert_allclose(x[:, t + 1], expected, atol=2e-5)
    moved = np.abs(np.diff(x, axis=1)) > 1e-6
    assert (moved.sum(axis=2) == 1).all()
    assert len(set(chosen)) == D  # every dimension is chosen


def test_uniform_samples_are_fresh_draws_of_their_own_stream(tmp_path):
    x, _, _ = walk(tmp_path, "uniform")
    np.testing.assert_allclose(x[:, 0], streams.start_points(3, 0, WALKS, n_params=D, bound=B))
    for t in range(1, STEPS + 1):
        u = streams.to_uniform(words(streams.UNIFORM, t, D)).numpy()
        np.testing.assert_allclose(x[:, t], (2 * u - 1) * B, atol=1e-6)


def test_random_walks_are_the_same_whole_or_in_shards(tmp_path):
    config = SampleConfig(
        "xor",
        width=2,
        depth=1,
        granularity="micro",
        bound=B,
        walks=1040,
        steps=6,
        hessian="none",
        sampler="random",
    )
    sample(config, tmp_path / "whole", quiet=True)
    sample(config, tmp_path / "tail", quiet=True, walk_range=(1024, 1040))
    whole = pq.read_table(tmp_path / "whole" / "endpoints.parquet").to_pandas()
    tail = pq.read_table(tmp_path / "tail" / "endpoints.parquet").to_pandas()
    np.testing.assert_array_equal(
        np.stack(whole[whole.walk >= 1024].sort_values("walk").params),
        np.stack(tail.sort_values("walk").params),
    )


def test_the_sampler_names_the_folder_and_gradient_walks_keep_their_name():
    base = dict(problem="xor", width=2, depth=1, granularity="macro", bound=1.0)
    assert config_name(SampleConfig(**base)) == "xor_w2_d1_macro_b1_s0"
    assert config_name(SampleConfig(**base, sampler="random")) == "xor_w2_d1_macro_b1_s0_random"
    assert "sampler" not in SampleConfig(**base).fields()  # manifests as before samplers


def test_fla_metrics_takes_each_samplers_measures(tmp_path):
    for sampler in ("random", "manhattan", "uniform"):
        walk(tmp_path, sampler)
    table = run_metrics(tmp_path)
    measures = {s: set(table[table.sampler == s].measure) for s in table.sampler.unique()}
    assert {"fem", "m1", "m2", "ic_h_max", "ic_m0"} <= measures["random"]
    assert {"g_avg", "g_dev"} <= measures["manhattan"]
    assert {"fdc", "dispersion", "dm"} <= measures["uniform"]
    g_avg = table[(table.sampler == "manhattan") & (table.measure == "g_avg")]["mean"].iloc[0]
    assert np.isfinite(g_avg) and g_avg > 0
    # recorded step lengths are the distances between the recorded points, and G divides by them
    rows = pq.read_table(tmp_path / "manhattan" / "points.parquet").to_pandas()
    rows = rows.sort_values(["walk", "step"])
    params = np.stack(rows.params).reshape(WALKS, STEPS, -1).astype(np.float64)
    lengths = np.linalg.norm(np.diff(params, axis=1), axis=2)
    recorded = rows.step_length.to_numpy().reshape(WALKS, STEPS)[:, :-1]
    np.testing.assert_allclose(recorded, lengths, rtol=1e-5, atol=1e-7)
    step = rows.step_size.iloc[0]
    assert (lengths < step * (1 - 1e-3)).any()  # some steps reflected off the boundary
    losses = rows.loss.to_numpy().reshape(WALKS, STEPS)
    expected = gradient_measures(losses, lengths, B, n_params=9)[0].mean()
    assert g_avg == pytest.approx(expected, rel=1e-5)
    assert (
        abs(gradient_measures(losses, step, B, n_params=9)[0].mean() - expected) > 1e-3 * expected
    )


@pytest.mark.parametrize("bad", ["walk", "random_walk"])
def test_an_unknown_sampler_is_refused_listing_the_valid_ones(bad):
    from fla.base.errors import ConfigError

    with pytest.raises(ConfigError, match="--sampler must be one of gradient, random, manhattan"):
        SampleConfig(
            "xor", width=2, depth=1, granularity="macro", bound=1.0, sampler=bad
        ).validate()


def test_start_points_are_uniform_in_the_bound():
    """theta_0 (gradient walks, uniform samples) is uniform in [-b, b)^D, float32."""
    theta = streams.start_points(0, 0, 10_000, n_params=9, bound=10.0)
    assert theta.shape == (10_000, 9) and theta.dtype == np.float32
    assert theta.min() >= -10 and theta.max() < 10
    assert abs(theta.mean()) < 0.1 and abs(theta.std() - 20 / np.sqrt(12)) < 0.05
