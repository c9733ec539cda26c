"""Minima, transition states and disconnectivity graphs of tanh XOR networks (Mehta et al. 2018),
checked against facts derived independently, not numbers from the paper's figures."""

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from analysis.connections import at_thresholds
from fla.cli import main
from fla.curvature.classes import hessian_index
from fla.landscapes.basin_hopping import basin_hopping, quench
from fla.landscapes.database import Database
from fla.landscapes.model import auc, canonical_tanh, mehta_network, objective
from fla.landscapes.transition_states import connect_unconnected

GTOL = 1e-7


def test_the_all_zero_network_is_stationary_for_any_lambda():
    """At theta = 0 the softmax is uniform, every hidden unit outputs 0 and XOR has two patterns of
    each class, so every derivative of the cross-entropy vanishes; the L2 term's gradient is 0
    there."""
    for l2 in (1e-1, 1e-4):
        f = objective(3, l2)
        assert np.abs(f.gradient(np.zeros((1, f.n_params))).numpy()).max() < 1e-15
        assert f(np.zeros((1, f.n_params))).numpy()[0] == pytest.approx(np.log(2), rel=1e-12)


def test_the_l2_term_covers_weights_and_biases():
    f0, f1 = objective(2, 0.0), objective(2, 0.01)
    theta = np.random.default_rng(0).normal(size=(3, f0.n_params))
    np.testing.assert_allclose(
        f1(theta).numpy() - f0(theta).numpy(), 0.01 * (theta**2).sum(axis=1), rtol=1e-12
    )


def pad(theta, hidden):
    """A 2-hidden-2 parameter vector with one more hidden unit, all of its weights and bias zero."""
    w1, b1 = theta[: 2 * hidden].reshape(2, hidden), theta[2 * hidden : 3 * hidden]
    w2, b2 = theta[3 * hidden : 5 * hidden].reshape(hidden, 2), theta[5 * hidden :]
    return np.concatenate(
        [
            np.hstack([w1, np.zeros((2, 1))]).ravel(),
            np.append(b1, 0.0),
            np.vstack([w2, np.zeros((1, 2))]).ravel(),
            b2,
        ]
    )


def test_a_minimum_padded_with_a_zero_unit_is_stationary_one_size_up():
    """Mehta et al., Appendix A: a zero unit's weights get no gradient from the loss (its output and
    outgoing weights are 0), and the L2 gradient of zeros is zero."""
    f, bigger = objective(2, 1e-3), objective(3, 1e-3)
    minima, losses, grads = quench(
        f, np.random.default_rng(1).uniform(-1, 1, (3, f.n_params)), GTOL
    )
    for theta, loss, g in zip(minima, losses, grads):
        assert g < GTOL
        padded = pad(theta, 2)[None]
        assert bigger(padded).numpy()[0] == pytest.approx(loss, rel=1e-12)
        assert np.linalg.norm(bigger.gradient(padded).numpy()) < 10 * GTOL


def test_canonical_form_removes_permutations_and_tanh_sign_flips():
    network, f = mehta_network(3), objective(3, 1e-2)
    theta = np.random.default_rng(2).normal(size=network.n_params)
    w1, b1 = theta[:6].reshape(2, 3), theta[6:9]
    w2, b2 = theta[9:15].reshape(3, 2), theta[15:]
    sign, order = np.array([-1.0, 1.0, -1.0]), [2, 0, 1]
    copy = np.concatenate(
        [(w1 * sign)[:, order].ravel(), (b1 * sign)[order], (w2 * sign[:, None])[order].ravel(), b2]
    )
    assert f(copy[None]).numpy()[0] == pytest.approx(f(theta[None]).numpy()[0], rel=1e-12)
    both = canonical_tanh(network, np.stack([theta, copy]))
    np.testing.assert_allclose(both[0], both[1], atol=1e-15)
    assert (both[:, 6:9] >= 0).all() and (np.diff(both[0, 6:9]) >= 0).all()


def test_auc_counts_ordered_pairs():
    labels = np.array([0, 1, 1, 0])
    assert list(
        auc(np.array([[0.1, 0.9, 0.8, 0.2], [0.9, 0.1, 0.2, 0.8], [0.5, 0.5, 0.5, 0.5]]), labels)
    ) == [1, 0, 0.5]


@pytest.mark.slow  # 5 s
def test_basin_hopping_and_transition_states_are_verified_stationary_points():
    f = objective(2, 1e-3)
    db = Database(mehta_network(2))
    stats = basin_hopping(
        db,
        f,
        chains=4,
        steps=6,
        step=1.0,
        temperature=0.1,
        rng=np.random.default_rng([0, 2]),
        gtol=GTOL,
    )
    assert stats["quenches"] == 28 and len(db.minima) >= 2
    result = connect_unconnected(db, f, budget=6, gtol=GTOL)
    assert result["searches"] >= 1 and db.transition_states
    minima = np.array([m["params"] for m in db.minima])
    for points, index in ((minima, 0), (np.array([t["params"] for t in db.transition_states]), 1)):
        assert (np.linalg.norm(f.gradient(points).numpy(), axis=1) < GTOL).all()
        # recomputed here
        negative, zero = hessian_index(np.linalg.eigvalsh(f.hessian(points).numpy()))
        assert (negative == index).all() and (zero == 0).all()
    for t in db.transition_states:  # the two minima of a transition state differ and lie below it
        assert 0 <= t["a"] != t["b"] >= 0 and t["loss"] > max(
            db.minima[t["a"]]["loss"], db.minima[t["b"]]["loss"]
        )
    # no two stored minima are the same one (alignment finds none equal)
    for i, m in enumerate(db.minima):
        assert not any(
            db.same(n, m["loss"], m["params"], eigenvalues=m["eigenvalues"]) for n in db.minima[:i]
        )
    assert db.find(db.minima[0]["loss"], db.minima[0]["params"], db.minima[0]["eigenvalues"]) == 0


def test_thresholds_raise_each_saddle_to_the_next_level():
    edges = pd.DataFrame({"a": [0, 1], "b": [1, 2], "saddle_loss": [0.12, 0.3]})
    assert list(at_thresholds(edges, np.array([0.1, 0.2, 0.3, 0.4])).saddle_loss) == [0.2, 0.3]


@pytest.mark.slow  # 17 s
def test_fla_landscape_study_resumes_verifies_and_reports(tmp_path, capsys):
    study = tmp_path / "study.toml"
    study.write_text("hidden = [1, 2]\nl2 = [1e-2]\nchains = 2\nsteps = 2\nbudget = 2\n")
    out = tmp_path / "out"
    assert main(["landscape", str(study), "--out", str(out), "-q"]) == 0
    counts = pd.read_csv(out / "counts.csv")
    assert list(counts.hidden) == [1, 2] and (counts.minima >= 1).all()
    for row in counts.itertuples():
        meta = json.loads((out / f"h{row.hidden}_l0.01" / "landscape.json").read_text())
        assert meta["minima"] == row.minima and meta["settings"]["l2"] == 0.01
    assert main(["landscape", str(study), "--out", str(out)]) == 0
    assert "0 run, 2 already done and verified" in capsys.readouterr().out
    damaged = out / "h2_l0.01" / "minima.parquet"
    damaged.write_bytes(damaged.read_bytes()[:-10])
    assert main(["landscape", str(study), "--out", str(out)]) == 0
    assert "1 run, 1 already done and verified" in capsys.readouterr().out
    assert main(["report", str(out)]) == 0
    page = (out / "report.html").read_text()
    # the main page holds the counts and links each configuration's own page
    counts_section = page.split("<h2 id='landscapes-minima-and-transition-states-per-n-h-lambda'>")[
        1
    ]
    assert "<img" in counts_section.split("<table")[0]  # counts, transition states, ratio vs N_h
    assert "Disconnectivity graph" not in page
    for h in (1, 2):
        assert f"href='report_tables/landscape_h{h}_l0.01.html'" in page
        own = (out / "report_tables" / f"landscape_h{h}_l0.01.html").read_text()
        assert f"Disconnectivity graph, N_h = {h}, lambda = 0.01, coloured by AUC" in own
        assert f"P(class 1) of the global minimum of N_h = {h}" in own and "<img" in own
    seeded = json.loads((out / "h2_l0.01" / "landscape.json").read_text())
    assert seeded["settings"]["seeded_from"] == "h1_l0.01" and seeded["seeds"]["zero network"] == 1
    assert "found_by" in pq.read_table(out / "h2_l0.01" / "minima.parquet").column_names
    damaged.write_bytes(damaged.read_bytes()[:-10])  # a report on a damaged landscape: one line
    assert main(["report", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "h2_l0.01" in err and "minima.parquet" in err and len(err.splitlines()) == 1
    study.write_text("hidden = [0]\n")
    assert main(["landscape", str(study), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "key 'hidden' must be a non-empty list of distinct integers >= 1" in err


def test_alignment_finds_the_nearest_equivalent_copy():
    """A permuted, sign-flipped copy of a network is aligned back onto it exactly (the same
    function)."""
    from fla.landscapes.model import align

    network, f = mehta_network(4), objective(4, 1e-3)
    theta = np.random.default_rng(3).normal(size=network.n_params)
    w1, b1 = theta[:8].reshape(2, 4), theta[8:12]
    w2, b2 = theta[12:20].reshape(4, 2), theta[20:]
    sign, order = np.array([1.0, -1.0, -1.0, 1.0]), [3, 1, 0, 2]
    copy = np.concatenate(
        [(w1 * sign)[:, order].ravel(), (b1 * sign)[order], (w2 * sign[:, None])[order].ravel(), b2]
    )
    aligned = align(network, theta, copy)
    np.testing.assert_allclose(aligned, theta, atol=1e-14)
    assert f(aligned[None]).numpy()[0] == pytest.approx(f(copy[None]).numpy()[0], rel=1e-12)
    other = np.random.default_rng(4).normal(size=network.n_params)
    assert (
        np.linalg.norm(align(network, theta, other) - theta)
        <= np.linalg.norm(other - theta) + 1e-12
    )


def test_a_second_study_on_the_same_folder_is_refused(tmp_path, capsys):
    from fla.base.files import folder_lock

    study = tmp_path / "study.toml"
    study.write_text("hidden = [1]\nl2 = [1e-1]\nchains = 1\nsteps = 0\nbudget = 0\n")
    (tmp_path / "out").mkdir()
    with folder_lock(tmp_path / "out"):
        assert main(["landscape", str(study), "--out", str(tmp_path / "out")]) == 2
    assert "is being written by another fla process" in capsys.readouterr().err
    assert main(["landscape", str(study), "--out", str(tmp_path / "out"), "-q"]) == 0


def test_a_saddle_whose_descent_reaches_no_minimum_is_not_a_transition_state(monkeypatch):
    """Each stored transition state joins two stored minima: where one of the two descents from a
    refined saddle ends at no verified minimum (store_minima's -1), the search reports it and
    stores nothing, and the database refuses such an entry outright."""
    from fla.landscapes import transition_states as ts

    f = objective(2, 1e-3)
    db = Database(mehta_network(2))
    basin_hopping(
        db, f, chains=4, steps=6, step=1.0, temperature=0.1, rng=np.random.default_rng([0, 2])
    )
    assert len(db.minima) >= 2
    real = ts.store_minima

    def one_loose_end(db, f, points, *, losses, grads, gtol):
        return [-1] + real(db, f, points[1:], losses=losses[1:], grads=grads[1:], gtol=gtol)

    monkeypatch.setattr(ts, "store_minima", one_loose_end)
    result = ts.transition_state(db, f, 0, b=1)
    assert (result["found"], result["reason"]) == (
        False,
        "a descent from the saddle did not reach a minimum",
    )
    assert db.transition_states == []
    with pytest.raises(ValueError, match="two stored minima"):
        db.add_transition_state(0.5, db.minima[0]["params"], db.minima[0]["eigenvalues"], a=-1, b=0)


@pytest.mark.slow  # 12 s; its neighbour on descents that reach no minimum stays fast
def test_a_descent_that_stops_at_a_saddle_is_pushed_on_to_a_minimum():
    """The N_h = 2 network's best two-unit minimum, padded with a zero unit, is a stationary point
    of index 1 in the 2-3-2 network (Mehta et al., Appendix A): a quench started on it stays
    there; ``descend`` leaves it along its lowest mode and reaches a minimum below it."""
    from fla.landscapes.model import connected_units, padded
    from fla.landscapes.quench import Quencher
    from fla.landscapes.transition_states import descend

    f2 = objective(2, 1e-2)
    x, loss, grad, _ = Quencher(f2, batch=32)(
        np.random.default_rng(5).uniform(-1, 1, (32, f2.n_params)), 1e-9
    )
    two = (connected_units(mehta_network(2), x) == 2) & (grad <= 1e-9)
    saddle = padded(x[two][np.argmin(loss[two])][None], 3)
    f3 = objective(3, 1e-2)
    start = f3(saddle).numpy()[0]
    stayed, _, g = quench(f3, saddle, GTOL)
    assert g[0] <= GTOL and hessian_index(np.linalg.eigvalsh(f3.hessian(stayed).numpy()))[0][0] == 1
    ends, losses, grads = descend(f3, saddle, gtol=GTOL, displacement=1e-2)
    negative, _ = hessian_index(np.linalg.eigvalsh(f3.hessian(ends).numpy()))
    assert grads[0] <= GTOL and negative[0] == 0 and losses[0] < start - 1e-6
