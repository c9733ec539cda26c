"""Polishing, permutation-aware merging, the exploration loop, and fla connect end to end."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import tensorflow as tf

from analysis.connections import disconnectivity_graph, linkage, read_connection
from fla.cli import main
from fla.core.networks import MLP
from fla.core.objective import Objective
from fla.core.problems import xor
from fla.paths.alignment import weight_matching
from fla.paths.explore import explore, spanning_tree
from fla.paths.minima import canonical, merge, polish
from fla.paths.neb import AutoNEB
from fla.paths.record import Energy
from fla.paths.surfaces import MUELLER_BROWN, mueller_brown
from fla.walks.sample import SampleConfig, sample


def permute_hidden(network, theta, order):
    """theta with the units of the first hidden layer permuted by ``order`` (the same function)."""
    (w, b), (w2, _) = network.slices()[:2]
    (fan_in, fan_out), (_, out2) = network.layers[:2]
    out = theta.copy()
    out[w] = theta[w].reshape(fan_in, fan_out)[:, order].ravel()
    out[b] = theta[b][order]
    out[w2] = theta[w2].reshape(fan_out, out2)[order].ravel()
    return out


def test_canonical_form_merges_permuted_copies():
    network = MLP(2, 4, 2, 1)
    f = Objective(network, xor(), tf.float64)
    theta = np.random.default_rng(0).normal(size=network.n_params)
    copy = permute_hidden(network, theta, [2, 0, 3, 1])
    assert not np.allclose(copy, theta)
    np.testing.assert_allclose(
        f(np.stack([theta, copy])).numpy()[0], f(copy[None]).numpy()[0], rtol=1e-12
    )
    both = canonical(network, np.stack([theta, copy]))
    np.testing.assert_allclose(both[0], both[1])
    np.testing.assert_allclose(f(both).numpy(), f(theta[None]).numpy()[0], rtol=1e-12)
    kept, labels = merge(both, f(both).numpy())
    assert len(kept) == 1 and list(labels) == [0, 0]


def test_polish_finds_the_mueller_brown_minima_in_one_batch():
    energy = Energy(mueller_brown, tf.float64)
    starts = np.array([[-0.5, 1.3], [0.5, 0.1], [0.0, 0.5], [-0.6, 1.5]])
    minima, losses, grads = polish(energy, starts, gtol=1e-8)
    expected = [MUELLER_BROWN["minima"][k] for k in ("A", "B", "C", "A")]
    np.testing.assert_allclose(minima, [p for p, _ in expected], atol=1e-4)
    np.testing.assert_allclose(losses, [v for _, v in expected], rtol=1e-6)
    kept, labels = merge(minima, losses, loss_tol=1e-6, distance_tol=1e-4)
    assert len(kept) == 3 and labels[0] == labels[3]


def test_spanning_tree_and_single_linkage():
    edges = {(0, 1): 5.0, (0, 2): 3.0, (1, 2): 4.0, (2, 3): 1.0}
    tree = spanning_tree(4, edges)
    assert tree == [(1, 2, 4.0), (0, 2, 3.0), (2, 3, 1.0)]
    import pandas as pd

    z = linkage(4, pd.DataFrame(tree, columns=["a", "b", "saddle_loss"]))
    assert list(z[:, 2]) == [1.0, 3.0, 4.0] and list(z[:, 3]) == [2, 3, 4]


def test_exploration_on_mueller_brown_finds_the_known_barriers():
    energy = Energy(mueller_brown, tf.float64)
    minima = np.array([MUELLER_BROWN["minima"][k][0] for k in ("A", "B", "C")])
    losses = np.array([MUELLER_BROWN["minima"][k][1] for k in ("A", "B", "C")])
    paths, tree = explore(energy, minima, losses, method=AutoNEB(pivots=4), budget=3)
    assert set(paths) == {
        (0, 1),
        (0, 2),
        (1, 2),
    }  # A is lowest: A-B, A-C, then the pair across the cut
    saddles = {k: p.saddle_loss for k, p in paths.items()}
    s1, s2 = MUELLER_BROWN["saddles"]["S1"][1], MUELLER_BROWN["saddles"]["S2"][1]
    assert saddles[(0, 2)] == pytest.approx(s1, rel=1e-2)  # A-C crosses S1
    assert saddles[(1, 2)] == pytest.approx(s2, rel=1e-2)  # B-C crosses S2
    assert sorted(e[2] for e in tree) == pytest.approx(sorted([s1, s2]), rel=1e-2)


@pytest.mark.slow  # 4-8 s; its fast neighbours cover the same code
def test_fla_connect_end_to_end(tmp_path, capsys):
    run = tmp_path / "run"
    sample(
        SampleConfig("xor", width=2, depth=1, granularity="macro", bound=1.0, walks=6, steps=30),
        run,
        quiet=True,
    )
    config = tmp_path / "connect.toml"
    config.write_text(
        "max_minima = 4\nbudget = 4\nmethods = ['autoneb', 'bezier']\n[polish]\nmax_iter = 300\n"
        "[autoneb]\nschedule = [[0.1, 60], [0.01, 60]]\n[bezier]\nsteps = 200\n"
    )
    assert (
        main(
            [
                "connect",
                str(run),
                "--config",
                str(config),
                "--out",
                str(run.parent / "connect"),
                "-q",
            ]
        )
        == 0
    )
    data = read_connection(run.parent / "connect")
    minima, paths, tree = data["minima"], data["paths"], data["tree"]
    assert 1 <= len(minima) <= 4 and len(paths) <= 2 * 4 and len(tree) <= len(minima) - 1
    assert minima.loss.iloc[0] == minima.loss.min()
    f = Objective(MLP(2, 2, 1, 1), xor(), tf.float64)
    np.testing.assert_allclose(
        f(np.stack(minima.params)).numpy(), minima.loss, rtol=1e-4, atol=1e-7
    )
    # recomputed independently
    grads = np.linalg.norm(f.gradient(np.stack(minima.params)).numpy(), axis=1)
    assert (grads < 1e-4).all()
    np.testing.assert_allclose(grads, minima.grad_norm, atol=1e-6)
    assert set(paths.method) == {"autoneb", "bezier"}
    assert sorted(
        zip(paths.a[paths.method == "bezier"], paths.b[paths.method == "bezier"])
        # the same pairs
    ) == sorted(zip(paths.a[paths.method == "autoneb"], paths.b[paths.method == "autoneb"]))
    for row in paths.itertuples():
        assert row.saddle_loss >= max(minima.loss[row.a], minima.loss[row.b]) - 1e-9
        assert row.line_barrier >= -1e-9 and row.position[0] == 0 and row.position[-1] == 1
        kept = "bezier" if "bezier" in row.search.split("; ")[-1] else row.method
        assert len(row.dense_losses) == ((row.points - 1) * 10 + 1 if kept == "autoneb" else 61)
        np.testing.assert_allclose(
            row.dense_losses[[0, -1]], minima.loss[[row.a, row.b]], rtol=1e-9
        )
    # each pair's straight line before and after aligning b to a: the same function at b's end
    aligned = pq.read_table(run.parent / "connect" / "alignment.parquet").to_pandas()
    first = paths[paths.method == "autoneb"]
    assert list(zip(aligned.a, aligned.b)) == sorted(zip(first.a, first.b))
    np.testing.assert_allclose(
        aligned.line_barrier, first.sort_values(["a", "b"]).line_barrier, rtol=1e-6, atol=1e-9
    )
    for row in aligned.itertuples():
        a, b = np.stack(minima.params[[row.a, row.b]])
        moved = weight_matching(MLP(2, 2, 1, 1), a, b).apply(MLP(2, 2, 1, 1), b)
        np.testing.assert_allclose(f(moved[None]).numpy(), f(b[None]).numpy(), rtol=1e-12)
        assert row.weight_matched_distance <= row.distance + 1e-12
        assert row.weight_matched_line_barrier >= -1e-9
    summary = json.loads((run.parent / "connect" / "connect.json").read_text())
    assert summary["minima"] == len(minima)
    assert sum(summary["candidates_went"].values()) == summary["candidates"] == 6
    assert summary["candidates_went"]["minima"] == minima.members.sum()
    disconnectivity_graph(minima, tree)
    # out holds a connection run
    assert main(["connect", str(run), "--out", str(run.parent / "connect"), "-q"]) == 2
    assert "already holds" in capsys.readouterr().err
    assert main(["connect", str(tmp_path), "--out", str(tmp_path / "x")]) == 2


@pytest.mark.slow  # 30 s: the case
def test_no_connection_is_reported_above_its_straight_line_unless_marked_failed(tmp_path, capsys):
    """The run where AutoNEB's band ran off to saddles of 10^4 beside straight lines of 1.0
    (XOR 2-2-1, 20 micro walks from [-1, 1], --l2 1e-3): every pair's path is now at most its
    straight line's saddle, or marked failed on the console and in paths.parquet."""
    run = tmp_path / "run"
    config = SampleConfig("xor", width=2, depth=1, granularity="micro", bound=1.0, walks=20)
    sample(config, run, quiet=True)
    assert main(["connect", str(run), "--l2", "1e-3", "--out", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    paths = read_connection(tmp_path / "c")["paths"]
    for row in paths.itertuples():
        dense = np.asarray(row.dense_losses)
        line = np.asarray(row.line_losses)
        above = row.saddle_loss > row.line_saddle_loss + 1e-3 * max(row.line_barrier, 1.0)
        assert row.failed or not above, row
        assert dense.max() < 10 * line.max() or row.failed
    for row in paths[paths.failed].itertuples():
        assert f"{row.a}-{row.b}" in out and "FAILED" in out


def test_connect_reports_the_asymptotic_basin_and_takes_an_l2_term(tmp_path, capsys):
    """Without L2, XOR's zero-loss set lies at infinity: polished points with vanishing loss are one
    asymptotic basin, not minima; with --l2 every minimum is isolated (positive definite
    Hessian)."""
    run = tmp_path / "run"
    sample(
        SampleConfig(
            "xor",
            width=2,
            depth=1,
            granularity="macro",
            bound=1.0,
            walks=12,
            steps=100,
            hessian="none",
        ),
        run,
        quiet=True,
    )
    config = tmp_path / "c.toml"
    config.write_text("budget = 1\n[autoneb]\nschedule = [[0.1, 100]]\n")
    assert (
        main(["connect", str(run), "--config", str(config), "--out", str(tmp_path / "plain"), "-q"])
        == 0
    )
    plain = json.loads((tmp_path / "plain" / "connect.json").read_text())
    assert plain["l2"] == 0.0 and plain["asymptotic_basin"]["points"] >= 1
    assert (read_connection(tmp_path / "plain")["minima"].loss >= 1e-6).all()
    assert (
        main(
            [
                "connect",
                str(run),
                "--config",
                str(config),
                "--l2",
                "1e-3",
                "--out",
                str(tmp_path / "l2"),
                "-q",
            ]
        )
        == 0
    )
    summary = json.loads((tmp_path / "l2" / "connect.json").read_text())
    assert (
        summary["l2"] == 1e-3
        and summary["settings"]["l2"] == 1e-3
        and summary["asymptotic_basin"]["points"] == 0
    )
    minima = read_connection(tmp_path / "l2")["minima"]
    f = Objective(MLP(2, 2, 1, 1), xor(), tf.float64, l2=1e-3)
    np.testing.assert_allclose(f(np.stack(minima.params)).numpy(), minima.loss, rtol=1e-9)
    assert (np.linalg.eigvalsh(f.hessian(np.stack(minima.params)).numpy())[:, 0] > 0).all()
    far = tmp_path / "far"
    sample(
        SampleConfig(
            "xor",
            width=10,
            depth=1,
            granularity="macro",
            bound=10.0,
            walks=4,
            steps=50,
            hessian="none",
        ),
        far,
        quiet=True,
    )
    assert main(["connect", str(far), "--config", str(config), "--out", str(tmp_path / "x")]) == 2
    assert "all 4 polished points lie in one asymptotic basin" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    assert main(["connect", str(far), "--l2", "-1", "--out", str(tmp_path / "y")]) == 2


def test_polishing_never_steps_into_nan():
    """Mueller-Brown made NaN for x > 0.5: a start at (0.45, 0.1) whose descent heads for minimum B
    (x = 0.62) ends finite, on the allowed side."""

    def walled(theta):
        return tf.where(theta[:, 0] > 0.5, tf.constant(np.nan, theta.dtype), mueller_brown(theta))

    minima, losses, grads = polish(
        Energy(walled, tf.float64), np.array([[0.45, 0.1], [-0.5, 1.3]]), gtol=1e-8
    )
    assert np.isfinite(minima).all() and np.isfinite(losses).all() and np.isfinite(grads).all()
    assert minima[0, 0] <= 0.5
    np.testing.assert_allclose(minima[1], MUELLER_BROWN["minima"]["A"][0], atol=1e-4)


def test_a_connection_run_without_paths_is_reported(tmp_path):
    from analysis.report import write_report

    run = tmp_path / "run"
    sample(
        SampleConfig(
            "xor",
            width=2,
            depth=1,
            granularity="macro",
            bound=1.0,
            walks=4,
            steps=30,
            hessian="none",
        ),
        run,
        quiet=True,
    )
    (tmp_path / "c.toml").write_text("budget = 0\n")
    assert (
        main(
            [
                "connect",
                str(run),
                "--config",
                str(tmp_path / "c.toml"),
                "--l2",
                "1e-2",
                "--out",
                str(run.parent / "connect"),
                "-q",
            ]
        )
        == 0
    )
    assert "No paths in connect" in write_report(run.parent).read_text()


def test_relabelled_copies_with_tied_biases_are_merged_as_one_minimum():
    """XOR's symmetric solutions have two hidden units with one bias: sorting by bias leaves a
    relabelled copy apart; merging up to weight matching makes it one minimum."""
    from fla.paths.alignment import weight_matched

    network = MLP(2, 2, 1, 1)
    theta = np.array([3.46, -3.5, -3.5, 3.46, -0.84, -0.84, 4.73, 4.73, -1.0])
    copy = permute_hidden(network, theta, [1, 0])
    both = canonical(network, np.stack([theta, copy]))
    assert np.linalg.norm(both[0] - both[1]) > 1  # the sort by bias cannot tell the units apart
    losses = np.zeros(2)
    assert len(merge(both, losses)[0]) == 2
    kept, labels = merge(both, losses, align=weight_matched(network))
    assert len(kept) == 1 and list(labels) == [0, 0]
    third = theta + 0.1  # not a copy
    kept, labels = merge(np.stack([theta, copy, third]), np.zeros(3), align=weight_matched(network))
    assert list(labels) == [0, 0, 1]
