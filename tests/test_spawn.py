"""Walks spawned from one point (fla.walks.spawn, fla spawn): the copies' streams are a function of
(seed, walk, copy, step) alone, the walk to K is the run's own, the barriers are Frankle et al.'s,
and stable_from is the first K from which every later K is stable."""

import numpy as np
import pandas as pd
import pytest
from helpers import one_line, reference_philox, run

from fla.base.errors import ConfigError, DamagedRunError
from fla.core.problems import xor
from fla.studies.spawn import (
    SpawnSettings,
    barriers,
    check_against_run,
    line_profiles,
    load_settings,
    summary,
    verified_spawn,
)
from fla.walks import streams
from fla.walks.config import SampleConfig
from fla.walks.sample import sample
from fla.walks.spawn import spawned_ends

CONFIG = SampleConfig(
    "xor", width=2, depth=1, granularity="macro", bound=1.0, walks=6, steps=12, seed=11,
    hessian="none",
)  # fmt: skip


@pytest.fixture(scope="module")
def walked(tmp_path_factory):
    out = tmp_path_factory.mktemp("spawn") / "run"
    sample(CONFIG, out, quiet=True)
    return out


def test_a_copys_draws_are_philox_with_the_copy_in_the_counters_last_word():
    """Copy c of walk w at step t draws key (seed, stream), counter (block, 0, t, c); copy 0 is the
    walk itself."""
    for copy in (0, 1, 7):
        words = streams.words_of_walks(
            streams.copy_seed(11, copy), streams.DELTA, 5, walks=np.array([0, 3]), n=9
        ).numpy()
        for row, w in enumerate((0, 3)):
            expected = [
                reference_philox((w * 3 + i // 4, 0, 5, copy), (11, streams.DELTA))[i % 4]
                for i in range(9)
            ]
            assert list(words[row]) == expected
    with pytest.raises(ValueError):
        streams.copy_seed(2**32, 1)


def test_copies_walk_on_from_the_runs_point_each_on_its_own_streams(walked):
    starts, ends, losses, _ = spawned_ends(CONFIG, xor(), at=[0, 2, 5], copies=3)
    check_against_run(walked, [0, 2, 5], losses)  # the walk to each K is the run's, bit for bit
    # the start at K = 0 is the walk's own start; each copy's end differs from every other's
    np.testing.assert_array_equal(starts[0], streams.start_points(11, 0, 6, n_params=9, bound=1.0))
    for i in range(3):
        for c in range(3):
            for d in range(c + 1, 3):
                assert (np.abs(ends[i, c] - ends[i, d]).max(axis=1) > 0).all()
    # a copy is a function of (seed, walk, copy, step) alone: not of the other K or the copies
    # spawned beside it
    alone_starts, alone_ends, _, _ = spawned_ends(CONFIG, xor(), at=[5], copies=2)
    np.testing.assert_array_equal(alone_starts[0], starts[2])
    np.testing.assert_array_equal(alone_ends[0], ends[2, :2])


def test_a_walk_that_does_not_give_the_recorded_losses_is_refused(walked):
    _, _, losses, _ = spawned_ends(CONFIG, xor(), at=[3], copies=2)
    changed = losses.copy()
    changed[0, 2] = np.nextafter(changed[0, 2], np.float32(1))  # one ulp
    with pytest.raises(DamagedRunError, match="do not give the losses it recorded"):
        check_against_run(walked, [3], changed)


def test_barriers_are_the_highest_value_above_the_mean_of_the_ends():
    profile = np.array([[0.0, 1.0, 0.5], [0.2, 0.1, 0.2], [0.0, 0.25, 0.5]])
    np.testing.assert_allclose(barriers(profile), [0.75, 0.0, 0.25])


def test_line_profiles_end_at_the_ends_losses():
    from fla.core.networks import MLP
    from fla.core.objective import Objective

    objective = Objective(MLP(2, 2, 1, 1), xor())
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 3, 9)).astype(np.float32)
    loss, error = line_profiles(objective, a, b, points=5, x=xor().x_train, y=xor().y_train)
    direct, accuracy = objective.loss_and_accuracy_at(a, xor().x_train, xor().y_train)
    np.testing.assert_allclose(loss[:, 0], direct.numpy(), rtol=1e-6)
    np.testing.assert_allclose(error[:, 0], 1 - accuracy.numpy(), atol=1e-7)
    assert loss.shape == error.shape == (3, 5)


@pytest.mark.parametrize(
    "medians, expected",
    [
        ([0.1, 0.01, 0.03, 0.01, 0.0], 3),  # stable at 1, not at 2: from 3 on
        ([0.1, 0.02, 0.02, 0.02, 0.02], 1),  # exactly the threshold counts as stable
        ([0.0, 0.0, 0.0, 0.0, 0.03], None),  # the last K unstable: never from then on
        ([0.0] * 5, 0),
    ],
)
def test_stable_from_is_the_first_k_from_which_every_later_k_is_stable(medians, expected):
    rows = pd.DataFrame(
        {
            "at": np.repeat([0, 5, 10, 20, 50], 3),
            # three pairs a K: the median is the middle one
            "error_barrier": np.concatenate([[0.0, m, 1.0] for m in medians]),
            "loss_barrier": 0.0,
            "distance": 1.0,
        }
    )
    table, stable_from = summary(rows, SpawnSettings())
    expected_k = None if expected is None else [0, 5, 10, 20, 50][expected]
    assert stable_from == expected_k
    np.testing.assert_allclose(table.error_barrier_median, medians)
    np.testing.assert_allclose(
        table.stable_share, [(np.array([0.0, m, 1.0]) <= 0.02).mean() for m in medians]
    )


def test_fla_spawn_writes_verified_outputs(walked, tmp_path, capsys):
    status, err = run(
        ["spawn", walked, "--at", "0", "6", "--copies", "3", "--out", tmp_path / "o", "-q"], capsys
    )
    assert status == 0, err
    rows = pd.read_parquet(tmp_path / "o" / "spawn.parquet")
    assert len(rows) == 2 * 3 * 6  # K, pairs of 3 copies, walks
    assert set(zip(rows.copy_a, rows.copy_b)) == {(1, 2), (1, 3), (2, 3)}
    assert (rows.error_barrier >= 0).all() and np.isfinite(rows.loss_barrier).all()
    manifest = verified_spawn(tmp_path / "o")
    assert manifest["settings"]["at"] == [0, 6] and manifest["settings"]["copies"] == 3
    from fla.base.files import checksum

    for name in ("spawn.parquet", "summary.csv"):
        assert manifest["files"][name]["sha256"] == checksum(tmp_path / "o" / name)
    table = pd.read_csv(tmp_path / "o" / "summary.csv")
    assert list(table["at"]) == [0, 6] and list(table.pairs) == [18, 18]


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--at", "12"], "--at must name steps in 0 .. 11"),
        (["--copies", "1"], "copies must be an integer >= 2"),
        (["--stable-error", "2"], "stable_error"),
    ],
)
def test_bad_spawn_settings_are_refused_by_name(walked, tmp_path, capsys, argv, words):
    status, err = run(["spawn", walked, *argv, "--out", tmp_path / "o"], capsys)
    assert status == 2 and one_line(err) and words in err, err
    assert not (tmp_path / "o").exists()


def test_only_gradient_walks_spawn(tmp_path):
    from dataclasses import replace

    random_walks = replace(CONFIG, sampler="random")
    with pytest.raises(ConfigError, match="progressive gradient walks"):
        spawned_ends(random_walks, xor(), at=[0], copies=2)


def test_a_settings_file_and_flags_over_it(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text("at = [3, 1]\ncopies = 4\n")
    assert load_settings(path, copies=None) == SpawnSettings(at=(3, 1), copies=4)
    assert load_settings(path, copies=3).copies == 3
    with pytest.raises(ConfigError, match="unknown key 'copy'"):
        load_settings(at=[1], copy=2)


def test_the_report_shows_the_barriers_against_k(walked, tmp_path, capsys):
    from analysis.report import write_report

    assert run(["spawn", walked, "--at", "0", "6", "--out", tmp_path / "o", "-q"], capsys)[0] == 0
    page = write_report(tmp_path / "o").read_text()
    assert "Spawned walks: o" in page and page.count("<img") == 1
    assert "linearly connected basin" in page


def test_a_diverged_copy_is_counted_and_left_out_never_a_nan_answer():
    rows = pd.DataFrame(
        {
            "at": [0, 0, 0, 5, 5],
            "error_barrier": [0.0, 0.01, np.nan, np.nan, np.nan],
            "loss_barrier": [0.0, 0.1, np.nan, np.nan, np.nan],
            "distance": 1.0,
        }
    )
    table, stable_from = summary(rows, SpawnSettings())
    assert list(table.pairs) == [2, 0] and list(table.nonfinite_pairs) == [1, 2]
    assert table.error_barrier_median[0] == pytest.approx(0.005)
    assert stable_from is None  # the last K has no finite pair: not stable


def test_spawning_more_than_memory_holds_is_refused_before_walking(monkeypatch):
    from fla.base import machine

    # 4 K x 3 points (theta_K, two ends) x 6 walks x D = 9 x 4 B = 2,592 B; 0.4 of 5,000 is 2,000
    monkeypatch.setattr(machine, "available_bytes", lambda: 5_000)
    with pytest.raises(ConfigError, match="ask fewer --at or --copies"):
        spawned_ends(CONFIG, xor(), at=[0, 1, 2, 3], copies=2)
    monkeypatch.setattr(machine, "available_bytes", lambda: 10**6)
    spawned_ends(CONFIG, xor(), at=[0, 1, 2, 3], copies=2)
