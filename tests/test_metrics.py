"""The fitness landscape measures against values derived by hand on short walks and on functions
whose answers are known, in floating point as users produce it (``linspace``, not only integers),
the invariances their definitions imply, and the differences from the reference code (each shown
on a small walk)."""

import math

import numpy as np
import pytest

from fla.metrics.autocorrelation import autocorrelation, correlation_length
from fla.metrics.distance import dispersion, fitness_distance_correlation
from fla.metrics.entropy import (
    IC_EPSILON,
    entropy,
    epsilon_star,
    fem,
    fem_max,
    information_content,
    partial_information,
)
from fla.metrics.gradients import gradient_measures
from fla.metrics.neutrality import neutrality, scaled_resolution
from fla.metrics.summaries import last_and_best, stagnation

log6 = lambda x: math.log(x) / math.log(6)


def walks(*rows):
    return np.array(rows, np.float64)


def alternating_entropy(pairs_up, pairs_down):
    p = np.array([pairs_up, pairs_down]) / (pairs_up + pairs_down)
    return float(-(p * np.log(p) / np.log(6)).sum())


def test_entropy_of_a_hand_derived_string_counts_all_six_kinds_and_the_last_pair():
    """losses 0 1 1 0 0 2: d = 1 0 -1 0 2. At epsilon 0 the string 1 0 -1 0 1 has four pairs of four
    kinds: H = log6 4. The reference code skips the last pair (0 1) and the kind (-1 1) and divides
    by n - 2 = 3: it would find log6 3. At epsilon in [1, 2): 0 0 0 0 1, one pair (0 1) of four."""
    f = walks([0, 1, 1, 0, 0, 2])
    h = entropy(np.diff(f), np.array([0.0, 1.0, 1.5, 2.0]))[0]
    np.testing.assert_allclose(h, [log6(4), -0.25 * log6(0.25), -0.25 * log6(0.25), 0.0])
    assert abs(h[0] - log6(3)) > 0.1  # what the reference code's count would give
    assert epsilon_star(f)[0] == 2.0
    assert fem(f)[0] == pytest.approx(log6(4)) and fem_max(f)[0] == pytest.approx(log6(4))


LINE = np.linspace(0.0, 1.0, 200)  # differences equal only up to their last bit


@pytest.mark.parametrize(
    "losses",
    [LINE, 0.3 * np.arange(41), np.full(41, 0.7), np.linspace(3.0, -2.0, 77), LINE**0 * 1e-12],
)
def test_straight_lines_and_constants_are_smooth(losses):
    """FEM, its exact maximum and h_max of a straight line or a constant are 0, as users make them
    (np.linspace rounds its steps differently in the last bit)."""
    f = walks(losses)
    assert fem(f)[0] == 0.0 and fem_max(f)[0] == 0.0
    assert information_content(f, np.diff(f) ** 0)["h_max"][0] == 0.0


@pytest.mark.parametrize("n", [41, 40])
def test_an_alternating_walk(n):
    """f = 0 1 0 1 ...: every change is +-1, so for epsilon < 1 the string alternates (pairs
    (1 -1) and (-1 1), split ceil/floor of n - 2) and from 1 on it is all zeros: FEM = its
    entropy, the exact maximum the same; M = 1 below 1 and 0 from 1 (M0 = 1), so eps_05 is the
    last grid epsilon below 1 and eps_s the first at or above it."""
    f = walks(np.arange(n) % 2.0)
    pairs = n - 2
    expected = alternating_entropy((pairs + 1) // 2, pairs // 2)
    assert fem(f)[0] == pytest.approx(expected) and fem_max(f)[0] == pytest.approx(expected)
    ic = information_content(f)
    below, above = IC_EPSILON[IC_EPSILON < 1].max(), IC_EPSILON[IC_EPSILON >= 1].min()
    assert ic["h_max"][0] == pytest.approx(expected) and ic["m0"][0] == 1.0
    assert ic["eps_05"][0] == np.log10(below) and ic["eps_s"][0] == np.log10(above)
    assert ic["eps_max"][0] == np.log10(np.median(IC_EPSILON[IC_EPSILON < 1]))


def test_fem_uses_the_papers_schedule_and_fem_max_the_exact_maximum():
    """d = (1, -0.9, 0.6, -0.6) repeated, eps* = 1: for epsilon in [0.6, 0.9) the string is
    (1 -1 0 0) with three kinds of pairs, H = 3 x (1/4) log6 4; on the paper's schedule (..., 1/4,
    1/2, 1) H is at most log6 2 (at 1/2: 1 -1 1 -1; at 1: zeros), so FEM = log6 2 (taken where
    every symbol is signed) and the exact maximum is the larger."""
    d = np.tile([1.0, -0.9, 0.6, -0.6], 10)
    f = walks(np.concatenate([[0], np.cumsum(d)]))
    sched = np.array([0, 1 / 128, 1 / 64, 1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2, 1])
    grid = np.linspace(0, 1, 30001)
    assert fem(f)[0] == pytest.approx(entropy(d[None], sched).max())
    assert fem_max(f)[0] == pytest.approx(entropy(d[None], grid).max())
    pairs = len(d) - 1  # 39: 10 (1 -1), 10 (-1 0), 10 (0 1) less the last
    assert fem_max(f)[0] == pytest.approx(
        -(np.array([10, 10, 9]) / pairs * np.log(np.array([10, 10, 9]) / pairs) / np.log(6)).sum()
    )
    assert fem_max(f)[0] > fem(f)[0] + 0.15  # the schedule misses the maximum here


def test_fem_max_is_the_maximum_over_a_fine_grid_on_random_walks():
    rng = np.random.default_rng(7)
    f = np.cumsum(rng.normal(size=(6, 40)), axis=1)
    for w in range(len(f)):
        d = np.diff(f[w])
        breakpoints = np.unique(np.concatenate([[0.0], np.abs(d)]))
        assert fem_max(f[w : w + 1])[0] == pytest.approx(entropy(d[None], breakpoints).max())


def test_fem_and_neutrality_do_not_change_when_the_loss_is_scaled_or_shifted():
    f = np.cumsum(np.random.default_rng(0).normal(size=(5, 200)), axis=1)
    f[:, 50:80] = f[:, 49:50]  # a flat stretch
    lengths = np.full((5, 199), 0.02)
    for g in (3.7 * f + 11.0, 1e-6 * f - 2.0):
        np.testing.assert_allclose(fem(g), fem(f), atol=1e-12)
        np.testing.assert_allclose(fem_max(g), fem_max(f), atol=1e-12)
        for a, b in zip(neutrality(g), neutrality(f)):
            np.testing.assert_allclose(a, b)
        np.testing.assert_allclose(
            gradient_measures(g, lengths, 1.0, n_params=9)[0],
            gradient_measures(f, lengths, 1.0, n_params=9)[0],
        )


def test_information_content_is_taken_on_slopes():
    """Slopes, not differences: d = 1 1 1 with steps 1, 2, 0.5 are slopes 1, 0.5, 2, so at
    epsilon in [0.5, 1) the string is 1 0 1 (H = entropy of (1 0), (0 1)) where the differences
    alone give 1 1 1 (H = 0)."""
    f = walks([0.0, 1.0, 2.0, 3.0])
    eps = np.array([0.0, 0.6])
    on_slopes = entropy(np.array([[1.0, 0.5, 2.0]]), eps)[0]
    assert on_slopes[1] == pytest.approx(alternating_entropy(1, 1))
    ic = information_content(f, np.array([[1.0, 2.0, 0.5]]))
    assert ic["h_max"][0] == pytest.approx(alternating_entropy(1, 1))
    assert information_content(f)["h_max"][0] == 0.0  # unit steps: the differences


def test_eps_05_is_taken_against_half_of_m0():
    """M0 = 0.5 (a walk that turns every other step): the paper's eps_05 is the largest epsilon
    with M > 0.25, which exists; the rule M > 0.5 would have none."""
    d = np.array([1, 1, -1, -1] * 10, float)
    f = walks(np.concatenate([[0], np.cumsum(d)]))
    ic = information_content(f)
    assert ic["m0"][0] == pytest.approx(0.5)
    assert np.isfinite(ic["eps_05"][0]) and ic["eps_05"][0] == np.log10(
        IC_EPSILON[IC_EPSILON < 1].max()
    )
    constant = information_content(walks(np.zeros(20)))
    assert constant["m0"][0] == 0 and np.isnan(constant["eps_05"][0])  # M0 = 0: undefined


def test_neutrality_of_known_walks():
    """A ramp has no neutral structure (the reference code, which scales the differences, finds the
    ramp's equal differences neutral); a constant walk is neutral throughout; a walk that ends
    flat has a neutral run that reaches its end, which M2 counts (the reference code's does not)."""
    m1, m2 = neutrality(walks(np.arange(10.0), np.zeros(10), [0, 1, 2, 3, 3, 3, 3, 3, 3, 3]))
    np.testing.assert_allclose(m1, [0, 1, 5 / 8])
    np.testing.assert_allclose(m2, [0, 1, 5 / 8])
    m1, m2 = neutrality(walks([0, 0, 0, 1, 2, 2, 2, 2, 5, 6]))  # neutral: 0-2, 4-7 (2 + 3 of 8)
    np.testing.assert_allclose((m1[0], m2[0]), (3 / 8, 2 / 8))


def test_neutrality_refuses_an_epsilon_its_losses_do_not_resolve():
    """float32 losses near 0.7 spanning 0.3: one resolution unit of the scaled losses is 4 float32
    ulps x 0.7 / 0.3 = 1.1e-6; epsilon 1e-8 counts only exact ties there and gives NaN, an epsilon
    at the resolution exactly is resolved."""
    f = (0.55 + 0.15 * np.sin(np.arange(300) / 7.0)).astype(np.float32)[None]
    level = scaled_resolution(f)[0]
    assert level == pytest.approx(4 * np.finfo(np.float32).eps * f.max() / np.ptp(f), rel=1e-6)
    assert np.isnan(neutrality(f, 1e-8)[0][0])
    assert np.isfinite(neutrality(f, level)[0][0]) and np.isnan(neutrality(f, level * 0.999)[0][0])
    assert np.isfinite(neutrality(f.astype(np.float64), 1e-8)[0][0])  # float64: 1e-8 resolved


def test_gradient_measures_use_each_steps_length():
    s, b, d, n = 0.2, 1.0, 9, 11
    ramp = 0.5 * np.arange(n)  # g_t = (0.5 / 5) / (0.2 / 18) = 9 at every step
    g_avg, g_dev = gradient_measures(walks(ramp, np.zeros(n)), s, b, n_params=d)
    np.testing.assert_allclose(g_avg, [9.0, 0.0])
    np.testing.assert_allclose(g_dev, [0.0, 0.0], atol=1e-12)
    zigzag = walks([0, 1, 0, 1, 0])  # |g_t| = 1 / (0.2 / 18) = 90
    assert gradient_measures(zigzag, s, b, n_params=d)[0][0] == pytest.approx(90.0)
    # a reflected step of length 0.05 changes the loss as much: its gradient is 4 x as steep
    lengths = np.array([[0.2, 0.05, 0.2, 0.2]])
    g = gradient_measures(zigzag, lengths, b, n_params=d)[0][0]
    assert g == pytest.approx((90 * 3 + 360) / 4)
    lengths[0, 1] = 0.0  # a step that went nowhere has no gradient
    assert gradient_measures(zigzag, lengths, b, n_params=d)[0][0] == pytest.approx(90.0)


def test_autocorrelation_and_correlation_length_of_known_walks():
    """Alternating: rho(1) = -(n - 1) / n (the estimator's 1/n); a sine of period 40: rho(1) near
    cos(2 pi / 40); white noise: rho(1) near 0; a constant: undefined (NaN); a smooth random walk
    never above 1 (the unbiased 1/(n - k) covariance would put it there)."""
    n = 4000
    alternating = walks(np.arange(n) % 2.0)
    assert autocorrelation(alternating)[0, 0] == pytest.approx(-(n - 1) / n)  # 1/n: |rho| < 1
    sine = walks(np.sin(2 * np.pi * np.arange(n) / 40))
    assert autocorrelation(sine, (1, 10))[0] == pytest.approx([math.cos(np.pi / 20), 0], abs=2e-3)
    rho = autocorrelation(sine)[0, 0]
    assert correlation_length(sine)[0] == pytest.approx(-1 / math.log(rho), rel=1e-12)
    exact = -1 / math.log(math.cos(np.pi / 20))  # 80.7; the estimator's finite-n bias
    assert correlation_length(sine)[0] == pytest.approx(exact, rel=0.05)
    noise = walks(np.random.default_rng(0).normal(size=n))
    assert abs(autocorrelation(noise)[0, 0]) < 0.05
    assert np.isnan(autocorrelation(walks(np.zeros(10)))[0, 0])
    assert np.isnan(correlation_length(walks(np.zeros(10)))[0])
    smooth = np.cumsum(np.random.default_rng(1).normal(size=(50, 200)), axis=1) ** 2
    assert (np.abs(autocorrelation(smooth)) <= 1).all()
    assert np.isfinite(correlation_length(smooth)).all()


def test_fitness_distance_correlation_and_dispersion_of_known_sets():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (2, 50, 3))
    distance = np.linalg.norm(x - x[:, :1], axis=2)  # the first point of each set is the best
    fdc = fitness_distance_correlation(x, np.stack([distance[0], 1.0 - 0 * distance[1]]))
    np.testing.assert_allclose(fdc, [1.0, 0.0], atol=1e-12)
    x[:, 7] = 0.0  # a sphere sampled at its minimum: distance |x|, loss |x|^2
    sphere = fitness_distance_correlation(x, (x**2).sum(axis=2))
    for w in range(2):
        r = np.linalg.norm(x[w], axis=1)
        np.testing.assert_allclose(sphere[w], np.corrcoef(r**2, r)[0, 1])
    points = rng.uniform(-1, 1, (1, 20, 2))
    points[0, :2] = [[-1, -1], [1, -1]]  # the two best (k = 10% of 20): 2 apart, scaled 1
    losses = np.concatenate([[0.0, 1.0], 10 + np.arange(18.0)])[None]
    best, dm = dispersion(points, losses, bound=1.0)
    assert best[0] == pytest.approx(1.0 / math.sqrt(2))
    x_all = (points[0] + 1) / 2
    all_pairs = np.linalg.norm(x_all[:, None] - x_all[None], axis=2).sum() / (20 * 19)
    assert dm[0] == pytest.approx(best[0] - all_pairs / math.sqrt(2))


def test_stagnation_and_last_and_best():
    share, longest = stagnation(walks([0, 1, 1, 1, 2, 2], np.zeros(6)))
    np.testing.assert_allclose(share, [3 / 5, 1.0])
    np.testing.assert_array_equal(longest, [2, 5])
    result = last_and_best(walks([3, 1, np.nan, 2]))
    assert result["last"][0] == 2 and result["best"][0] == 1
    assert last_and_best(walks([0.2, 0.9, 0.5]), lower_is_better=False)["best"][0] == 0.9


def test_pair_counts_match_a_direct_count_on_random_walks():
    """The interval sums against counting each epsilon's string directly."""
    rng = np.random.default_rng(3)
    f = np.round(np.cumsum(rng.normal(size=(4, 60)), axis=1), 1)  # ties and flat steps
    eps = np.array([0.0, 0.05, 0.1, 0.3, 0.7, 1.5, 10.0])
    d = np.diff(f, axis=1)
    ours = entropy(d, eps)
    for w in range(len(f)):
        for e, epsilon in enumerate(eps):
            s = np.where(d[w] < -epsilon, -1, np.where(d[w] > epsilon, 1, 0))
            pairs = [(a, b) for a, b in zip(s[:-1], s[1:]) if a != b]
            counts = np.array([pairs.count(k) for k in set(pairs)]) / (len(s) - 1)
            assert ours[w, e] == pytest.approx(-(counts * np.log(counts) / np.log(6)).sum())


def test_partial_information_matches_a_direct_count_of_alternations():
    f = np.cumsum(np.random.default_rng(4).normal(size=(10, 80)), axis=1)
    d = np.diff(f, axis=1)
    for eps in (0.0, 0.5, 1.5):
        ours = partial_information(d, np.full(10, eps))
        for w in range(10):
            s = [int(np.sign(x)) for x in d[w] if abs(x) > eps]
            mu = sum(1 for i, x in enumerate(s) if i == 0 or x != s[i - 1])
            assert ours[w] == pytest.approx(mu / d.shape[1])
