"""Sharpness and flatness measures (fla.curvature.sharpness) against closed forms on quadratic
losses, the invariance the papers claim (Dinh et al. 2017), and the ascent's own promises: it never
leaves its set, and its worst case is at least the best of many random points of the set."""

import numpy as np
import pytest
import tensorflow as tf

from fla.core.networks import MLP
from fla.core.objective import Objective
from fla.core.problems import xor
from fla.curvature import sharpness as sh


class Quadratic:
    """L(theta) = 1/2 sum_i h_i (theta_i - c_i)^2 [B], with the Surface interface; ``batches(m)``
    gives isotropic quadratics h (one number) about the centres ``batch_centres``."""

    def __init__(self, h, c, batch_centres=None):
        self.h, self.c = np.asarray(h, float), np.asarray(c, float)
        self.batch_centres = batch_centres
        self.x = np.zeros((len(batch_centres) if batch_centres is not None else 1, 1))
        self.seen = []

    def loss(self, theta):
        theta = np.atleast_2d(theta)
        self.seen.append(theta.copy())
        return 0.5 * (self.h * (theta - self.c) ** 2).sum(axis=1)

    def error(self, theta):
        return self.loss(theta)

    def gradient(self, theta):
        return self.loss(theta), self.h * (np.atleast_2d(theta) - self.c)

    def batches(self, m):
        return [Quadratic(self.h, c, [c]) for c in self.batch_centres]


def test_epsilon_sharpness_of_a_diagonal_quadratic_is_its_far_vertex():
    """The box's far vertex, coordinate by coordinate (Keskar et al.'s Metric 2.1 by hand)."""
    rng = np.random.default_rng(0)
    h, c = rng.uniform(0.5, 3, 6), rng.normal(size=6)
    x = c + rng.normal(size=(4, 6)) * 0.01
    surface = Quadratic(h, c)
    eps = 1e-2
    got = sh.epsilon_sharpness(surface, x, sh.EpsilonSharpness(epsilon=eps, steps=40))
    bound = eps * (np.abs(x) + 1)
    far = np.where(x >= c, x + bound, x - bound)
    base = surface.loss(x)
    expected = (surface.loss(far) - base) / (1 + base) * 100
    np.testing.assert_allclose(got["eps_sharpness"], expected, rtol=1e-9)
    assert got["converged"].all() and (got["steps"] < 40).all()


def test_the_ascent_stays_in_its_set_and_beats_random_points_of_it():
    """On a network's loss (not convex): every point evaluated lies in the box, and the worst case
    is at least the largest rise among 2,000 uniform points of the box."""
    network = MLP(2, 3, 1, 1)
    objective = Objective(network, xor(), tf.float64)
    surface = sh.Surface(objective)
    theta = np.random.default_rng(1).uniform(-2, 2, (3, network.n_params))
    eps = 0.05
    bound = eps * (np.abs(theta) + 1)
    seen = []
    real = surface.gradient
    surface.gradient = lambda t: seen.append(t.copy()) or real(t)
    found = sh.worst_case(surface, theta, scale=bound, rho=1.0, p="inf", steps=30, tol=1e-6)
    for points in seen:
        assert (np.abs(points - theta) <= bound * (1 + 1e-12)).all()
    samples = np.random.default_rng(2).uniform(-1, 1, (2000, *theta.shape)) * bound
    rises = surface.loss((theta[None] + samples).reshape(-1, theta.shape[1])).reshape(2000, 3)
    rises = rises - found["base"]
    assert (found["rise"] >= rises.max(axis=0) - 1e-12).all()


def test_m_sharpness_averages_each_batchs_worst_case():
    """Isotropic quadratics L_B = h/2 |theta - c_B|^2: the worst case in the ball of radius rho is
    h/2 (|theta - c_B| + rho)^2 - L_B(theta); m-sharpness is their mean (Foret et al.)."""
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(4, 5))
    theta = rng.normal(size=(2, 5))
    surface = Quadratic(np.full(5, 2.0), np.zeros(5), batch_centres=centres)
    rho = 0.3
    got = sh.m_sharpness(surface, theta, sh.MSharpness(m=1, rho=rho, steps=60, tol=1e-12))
    distance = np.linalg.norm(theta[:, None] - centres[None], axis=2)
    expected = (2.0 / 2 * ((distance + rho) ** 2 - distance**2)).mean(axis=1)
    np.testing.assert_allclose(got["m_sharpness"], expected, rtol=1e-6)


def test_pac_bayes_sigma_of_a_quadratic_matches_its_closed_form():
    """At the minimum of L = 1/2 sum h_i z_i^2, E L(u) = sigma^2 / 2 sum h_i for u ~ N(0, sigma^2):
    sigma = sqrt(2 tau / sum h); magnitude-aware, E = 1/2 sum h_i (sigma'^2 w_i^2 + eps^2)."""
    rng = np.random.default_rng(4)
    h, w = rng.uniform(0.5, 2, 8), rng.uniform(0.5, 2, (1, 8))
    surface = Quadratic(h, w[0])
    tau, eps = 0.05, 0.06  # the floor: a quarter of the threshold
    settings = sh.PacBayes(threshold=tau, quantity="loss", samples=4000, epsilon=eps)
    got = sh.pac_bayes_flatness(surface, w, settings)
    sigma = np.sqrt(2 * tau / h.sum())
    mag = np.sqrt((2 * tau - eps**2 * h.sum()) / (h * w[0] ** 2).sum())
    np.testing.assert_allclose(got["sigma"], sigma, rtol=0.05)
    np.testing.assert_allclose(got["sigma_mag"], mag, rtol=0.05)
    np.testing.assert_allclose(got["pacbayes_flatness"], 1 / got["sigma"] ** 2)
    assert got["sigma_error"][0] < 0.01 * tau


def relu_pair(a: float):
    """A ReLU 2-4-1 network on XOR at a point, and the same function with its hidden layer's
    weights and biases scaled by a and its output weights by 1/a (Dinh et al. 2017)."""
    network = MLP(2, 4, 1, 1, activation="relu")
    objective = Objective(network, xor(), tf.float64)
    theta = np.random.default_rng(5).uniform(-2, 2, (1, network.n_params))
    (w1, b1), (w2, _) = network.slices()
    scaled = theta.copy()
    scaled[:, w1] *= a
    scaled[:, b1] *= a
    scaled[:, w2] /= a
    return sh.Surface(objective), theta, scaled


def test_rescaling_a_relu_layer_changes_plain_sharpness_not_adaptive_sharpness():
    surface, theta, scaled = relu_pair(5.0)
    np.testing.assert_allclose(surface.loss(theta), surface.loss(scaled), rtol=1e-12)
    plain = sh.EpsilonSharpness(epsilon=1e-2, steps=20)
    a = sh.epsilon_sharpness(surface, theta, plain)["eps_sharpness"]
    b = sh.epsilon_sharpness(surface, scaled, plain)["eps_sharpness"]
    assert abs(a[0] - b[0]) > 0.1 * max(abs(a[0]), abs(b[0]))
    adaptive = sh.AdaptiveSharpness(rho=0.1, p="2", eta=0.0, samples=16, steps=20)
    x = sh.adaptive_sharpness(surface, theta, adaptive)
    y = sh.adaptive_sharpness(surface, scaled, adaptive)
    np.testing.assert_allclose(y["adaptive_worst"], x["adaptive_worst"], rtol=1e-7)
    np.testing.assert_allclose(y["adaptive_average"], x["adaptive_average"], rtol=1e-7)


def test_hessian_measures_agree_with_the_spectrum_past_the_exact_limit():
    """D = 603 > 500: Lanczos's largest eigenvalue and Hutchinson's trace and Frobenius norm
    against the float64 spectrum of the same Hessian."""
    rng = np.random.default_rng(6)
    x = rng.normal(size=(30, 5))
    from fla.core.problems import Problem

    problem = Problem("toy", x, rng.integers(0, 3, 30), x[:0], np.zeros(0, int), n_inputs=5,
                      n_outputs=3, kind="multiclass")  # fmt: skip
    objective = Objective(MLP(5, 20, 2, 3), problem, tf.float64)
    theta = rng.uniform(-1, 1, (2, objective.n_params))
    eigs = np.linalg.eigvalsh(objective.hessian(theta).numpy())
    got = sh.hessian_measures(objective, theta, steps=200, samples=400)
    np.testing.assert_allclose(got["hessian_max"], eigs[:, -1], rtol=1e-6)
    frobenius = np.sqrt((eigs**2).sum(axis=1))
    np.testing.assert_allclose(got["hessian_frobenius"], frobenius, rtol=0.1)
    spread = np.sqrt(2 * (frobenius**2) / 400)  # Hutchinson's standard error, at most
    assert (np.abs(got["hessian_trace"] - eigs.sum(axis=1)) <= 4 * spread).all()
    small = Objective(MLP(2, 2, 1, 1), xor(), tf.float64)
    t = rng.uniform(-1, 1, (3, small.n_params))
    exact = np.linalg.eigvalsh(small.hessian(t).numpy())
    got = sh.hessian_measures(small, t)
    np.testing.assert_allclose(got["hessian_trace"], exact.sum(axis=1), rtol=1e-12)


@pytest.mark.parametrize("p", ["2", "inf"])
def test_the_worst_case_of_a_ball_never_leaves_it(p):
    surface = Quadratic(np.ones(4), np.zeros(4))
    theta = np.random.default_rng(7).normal(size=(3, 4))
    scale = np.abs(theta) + 0.1
    found = sh.worst_case(surface, theta, scale=scale, rho=0.2, p=p, steps=10, tol=1e-9)
    u = found["delta"] / scale
    norm = np.abs(u).max(axis=1) if p == "inf" else np.linalg.norm(u, axis=1)
    assert (norm <= 0.2 * (1 + 1e-12)).all()
    for points in surface.seen[1:]:
        v = (points - theta) / scale
        n = np.abs(v).max(axis=1) if p == "inf" else np.linalg.norm(v, axis=1)
        assert (n <= 0.2 * (1 + 1e-12)).all()


def test_pac_bayes_sigma_is_unbounded_where_no_noise_raises_the_quantity():
    """A flat surface: no sigma raises the expected loss by the threshold; sigma is infinite and
    the flatness measure 0, not the last sigma doubled."""
    surface = Quadratic(np.zeros(3), np.zeros(3))
    got = sh.pac_bayes_flatness(surface, np.ones((2, 3)), sh.PacBayes(quantity="loss"))
    assert np.isinf(got["sigma"]).all() and (got["pacbayes_flatness"] == 0).all()
    steep = Quadratic(np.full(3, 1e-20), np.zeros(3))  # the threshold reached at sigma ~ 1e9
    got = sh.pac_bayes_flatness(steep, np.zeros((1, 3)), sh.PacBayes(quantity="loss"))
    assert np.isfinite(got["sigma"]).all() and got["sigma"][0] > 2**20


def test_two_means_is_the_least_squares_split():
    from itertools import combinations

    from fla.studies.sharpness import two_means

    values = np.random.default_rng(8).normal(size=9) + np.r_[np.zeros(4), 3 * np.ones(5)]
    best = min(
        (
            sum(((values[list(g)] - values[list(g)].mean()) ** 2).sum() for g in (a, b)),
            set(b),
        )
        for k in range(1, 9)
        for a in combinations(range(9), k)
        if (b := tuple(sorted(set(range(9)) - set(a))))
        and values[list(a)].max() < values[list(b)].min()
    )
    assert set(np.flatnonzero(two_means(values))) == best[1]
    assert not two_means(np.ones(5)).any() and not two_means(np.ones(1)).any()


@pytest.fixture(scope="module")
def iris_runs(tmp_path_factory):
    from fla.cli import main

    root = tmp_path_factory.mktemp("sharp")
    for width in (2, 3):
        argv = ["sample", "iris", "--width", str(width), "--depth", "1", "--granularity",
                "macro", "--bound", "1", "--walks", "6", "--steps", "30", "--hessian", "none",
                "--record-params",
                "--out", str(root / "study" / f"w{width}"), "-q"]  # fmt: skip
        assert main(argv) == 0
    return root


def write_settings(folder):
    path = folder / "s.toml"
    path.write_text(
        "[epsilon]\nsteps = 3\n[adaptive]\nsteps = 3\nsamples = 4\n[m]\nsteps = 2\nm = 20\n"
        "[pacbayes]\nsamples = 2\nbisections = 3\n"
    )
    return str(path)


def test_fla_sharpness_measures_every_end_resumes_and_refuses_other_settings(iris_runs, capsys):
    import pandas as pd

    from fla.cli import main
    from fla.studies.sharpness import summary

    root = iris_runs
    settings = write_settings(root)
    out = root / "out"
    argv = ["sharpness", str(root / "study"), "--out", str(out), "--settings", settings,
            "--patterns", "50", "-q"]  # fmt: skip
    assert main(argv) == 0
    points = pd.read_parquet(out / "sharpness.parquet")
    assert len(points) == 12 and set(points.width) == {2, 3}
    assert (points.patterns == 50).all()
    np.testing.assert_allclose(points.loss_gap, points.test_loss - points.train_loss)
    for column in ("eps_sharpness", "adaptive_worst", "m_sharpness", "sigma", "hessian_trace"):
        assert points[column].notna().all(), column
    # the summary: tau of each measure with the loss gap, per configuration, from the points
    table = pd.read_csv(out / "summary.csv")
    assert (table.cluster.isin(["all", "steep", "shallow", "one"])).all()
    pd.testing.assert_frame_equal(table, summary(points).reset_index(drop=True), check_dtype=False)
    # the report: the measures against the gaps, and the claim in numbers
    assert main(["report", str(out)]) == 0
    page = (out / "report.html").read_text()
    assert "Sharpness: out" in page and "measured on 50 training patterns" in page
    claims = "Of the configurations with both clusters" in page or "claim is not tested" in page
    assert claims and page.count("<img") == 2
    # (the report in the folder is fla report's own: resuming leaves it be)
    # a damaged part is measured again; the rest is kept
    manifest = __import__("json").loads((out / "sharpness.json").read_text())
    parts = sorted(n for n in manifest["files"] if n.startswith("parts/"))
    assert len(parts) == 2
    kept = (out / parts[0]).read_bytes()
    (out / parts[1]).write_bytes(b"damaged")
    capsys.readouterr()
    assert main(argv[:-1]) == 0
    measured = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  ")]
    assert len(measured) == 1 and parts[1].split("/")[1].removesuffix(".parquet") in measured[0]
    assert (out / parts[0]).read_bytes() == kept
    pd.testing.assert_frame_equal(pd.read_parquet(out / "sharpness.parquet"), points)
    # other settings into the same folder: refused, nothing changed
    before = (out / "sharpness.json").read_bytes()
    assert main([*argv[:-2], "40", "-q"]) == 2
    assert "other settings" in capsys.readouterr().err
    assert (out / "sharpness.json").read_bytes() == before


def test_fla_sharpness_measures_the_points_asked_and_names_a_bad_one(iris_runs, capsys):
    import pandas as pd

    from fla.cli import main

    root = iris_runs
    run = root / "study" / "w2"
    out = root / "at"
    argv = ["sharpness", str(run), "--out", str(out), "--measures", "epsilon", "--patterns",
            "50", "--at", "walk=1,step=10", "--at", "ends", "-q"]  # fmt: skip
    assert main(argv) == 0
    points = pd.read_parquet(out / "sharpness.parquet")
    assert list(points.point) == ["walk=1,step=10"] + [f"walk={w},step=30" for w in range(6)]
    recorded = pd.read_parquet(run / "points.parquet", columns=["walk", "step", "loss"])
    assert points.train_loss.iloc[0] != points.train_loss.iloc[2]  # another point of walk 1
    assert len(recorded[(recorded.walk == 1) & (recorded.step == 10)]) == 1
    for bad, words in (("walk=1", "walk=W,step=S"), ("walk=1,step=999", "no parameters")):
        assert main([*argv[:2], "--out", str(root / "bad"), "--at", bad, "-q"]) == 2
        err = capsys.readouterr().err.strip()
        assert words in err and len(err.splitlines()) == 1
        assert not (root / "bad").exists()


def test_fla_sharpness_names_a_missing_run_and_an_unknown_measure(tmp_path, capsys):
    from fla.cli import main

    out = tmp_path / "out"
    assert main(["sharpness", str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    assert "RUN_DIR" in capsys.readouterr().err and not out.exists()
    assert main(["sharpness", str(tmp_path), "--out", str(out), "--measures", "flatness"]) == 2
    err = capsys.readouterr().err.strip()
    assert "epsilon, adaptive, m, pacbayes, hessian" in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_a_point_whose_loss_is_not_finite_is_left_out_and_named(iris_runs, capsys, monkeypatch):
    import json

    import pandas as pd

    from fla.cli import main
    from fla.studies import sharpness as command

    real = command.points_of

    def diverged(folder, at):
        labels, theta = real(folder, at)
        theta[2] = np.nan  # a diverged walk's end
        return labels, theta

    monkeypatch.setattr(command, "points_of", diverged)
    out = iris_runs / "diverged"
    argv = ["sharpness", str(iris_runs / "study" / "w2"), "--out", str(out), "--measures",
            "epsilon", "--patterns", "50", "-q"]  # fmt: skip
    assert main(argv) == 3
    assert "1 point left out" in capsys.readouterr().err
    points = pd.read_parquet(out / "sharpness.parquet")
    assert len(points) == 5 and "walk=2,step=30" not in set(points.point)
    assert np.isfinite(points.eps_sharpness).all()
    manifest = json.loads((out / "sharpness.json").read_text())
    assert list(manifest["left_out"].values()) == [["walk=2,step=30"]]


def test_points_measured_in_calls_of_any_size_give_the_same_deterministic_measures(
    iris_runs, monkeypatch
):
    """Calls bounded by the draws' memory: epsilon-sharpness (no random draws) and the exact
    Hessian measures are the same point by point, one point a call or all at once."""
    from fla.studies import sharpness as command

    settings = command.load_settings(measures=("epsilon", "hessian"), patterns=50)
    folder = iris_runs / "study" / "w3"
    whole, _ = command.measure_configuration(folder, settings)
    monkeypatch.setattr(command, "DRAWS_BYTES", 1)
    assert command.points_a_call(10**6, settings) == 1
    one_by_one, _ = command.measure_configuration(folder, settings)
    for column in ("eps_sharpness", "hessian_max", "hessian_trace"):
        np.testing.assert_allclose(one_by_one[column], whole[column], rtol=1e-6)
