"""The fitness landscape measures against values derived by hand on short walks and on functions
whose answers are known, the invariances their definitions imply, and the differences from the
reference code that the README names (each shown on a small walk)."""

import math

import numpy as np
import pytest

from fla.metrics.distance import dispersion, fitness_distance_correlation
from fla.metrics.entropy import entropy, epsilon_star, fem, information_content
from fla.metrics.gradients import gradient_measures
from fla.metrics.neutrality import neutrality
from fla.metrics.summaries import last_and_best, stagnation

log6 = lambda x: math.log(x) / math.log(6)


def walks(*rows):
    return np.array(rows, np.float64)


def test_entropy_of_a_hand_derived_string_counts_all_six_kinds_and_the_last_pair():
    """losses 0 1 1 0 0 2: d = 1 0 -1 0 2. At epsilon 0 the string 1 0 -1 0 1 has four pairs of four
    kinds: H = log6 4. The reference code skips the last pair (0 1) and the kind (-1 1) and divides
    by n - 2 = 3: it would find log6 3. At epsilon in [1, 2): 0 0 0 0 1, one pair (0 1) of four."""
    f = walks([0, 1, 1, 0, 0, 2])
    h = entropy(f, np.array([0.0, 1.0, 1.5, 2.0]))[0]
    np.testing.assert_allclose(h, [log6(4), -0.25 * log6(0.25), -0.25 * log6(0.25), 0.0])
    assert abs(h[0] - log6(3)) > 0.1  # what the reference code's count would give
    assert epsilon_star(f)[0] == 2.0 and fem(f)[0] == pytest.approx(log6(4))


def test_fem_of_known_walks():
    n = 41  # 40 differences, 39 pairs: the alternating walk's pairs split 20 / 19
    alternating = np.arange(n) % 2.0
    constant, ramp = np.zeros(n), 0.3 * np.arange(n)
    values = fem(walks(constant, ramp, alternating))
    p = np.array([20, 19]) / 39
    assert values[0] == 0 and values[1] == 0
    assert values[2] == pytest.approx(-(p * np.log(p) / np.log(6)).sum())


def test_fem_is_the_maximum_over_epsilon_not_h_at_0():
    """d = 3 1 3 1 3 1: all rises, H(0) = 0; for epsilon in [1, 3) the string 1 0 1 0 1 0 has 3
    pairs (1 0) and 2 (0 1) of 5. At the scale of micro walks (d ~ 1e-4) the reference code's
    search for epsilon* cannot go below 0.1 and sees only H(0)."""
    f = np.concatenate([[0], np.cumsum([3, 1, 3, 1, 3, 1])])
    expected = -(0.6 * log6(0.6) + 0.4 * log6(0.4))
    assert entropy(walks(f), np.array([0.0]))[0, 0] == 0
    assert fem(walks(f))[0] == pytest.approx(expected)
    assert fem(walks(f * 1e-4))[0] == pytest.approx(expected)


def test_fem_and_neutrality_do_not_change_when_the_loss_is_scaled_or_shifted():
    f = np.cumsum(np.random.default_rng(0).normal(size=(5, 200)), axis=1)
    f[:, 50:80] = f[:, 49:50]  # a flat stretch
    for g in (3.7 * f + 11.0, 1e-6 * f - 2.0):
        np.testing.assert_allclose(fem(g), fem(f), atol=1e-12)
        for a, b in zip(neutrality(g), neutrality(f)):
            np.testing.assert_allclose(a, b)
        np.testing.assert_allclose(
            gradient_measures(g, 0.02, 1.0, 9)[0], gradient_measures(f, 0.02, 1.0, 9)[0]
        )


def test_neutrality_of_known_walks():
    """A ramp has no neutral structure (the reference code, which scales the differences, finds the
    ramp's equal differences neutral); a constant walk is neutral throughout; a walk that ends
    flat has a neutral run that reaches its end, which M2 counts (the reference code's does not)."""
    m1, m2 = neutrality(
        walks(np.arange(10.0), np.zeros(10), [0, 1, 2, 3, 3, 3, 3] + [3] * 0 + [3, 3, 3])
    )
    np.testing.assert_allclose(m1, [0, 1, 5 / 8])
    np.testing.assert_allclose(m2, [0, 1, 5 / 8])
    m1, m2 = neutrality(walks([0, 0, 0, 1, 2, 2, 2, 2, 5, 6]))  # neutral: 0-2, 4-7 (2 + 3 of 8)
    np.testing.assert_allclose((m1[0], m2[0]), (3 / 8, 2 / 8))


def test_gradient_measures_of_known_walks():
    s, b, d, n = 0.2, 1.0, 9, 11
    ramp = 0.5 * np.arange(n)  # g_t = (0.5 / 5) / (0.2 / 18) = 9 at every step
    g_avg, g_dev = gradient_measures(walks(ramp, np.zeros(n)), s, b, d)
    np.testing.assert_allclose(g_avg, [9.0, 0.0])
    np.testing.assert_allclose(g_dev, [0.0, 0.0], atol=1e-12)
    zigzag = walks([0, 1, 0, 1, 0])  # |g_t| = 1 / (0.2 / 18) = 90
    assert gradient_measures(zigzag, s, b, d)[0][0] == pytest.approx(90.0)


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


def test_information_content_of_an_alternating_walk():
    """d = +1 -1 +1 ...: H(epsilon) = entropy of the alternating string below 1 and 0 from 1 up;
    M(epsilon) = 1 below 1 and 0 from 1 up, so eps_s and eps_05 both sit at 10^0 (the grid's
    steps are 0.02 decades)."""
    f = walks(np.arange(41) % 2.0, np.zeros(41))
    ic = information_content(f)
    p = np.array([20, 19]) / 39
    assert ic["h_max"][0] == pytest.approx(-(p * np.log(p) / np.log(6)).sum())
    assert ic["m0"][0] == 1.0 and 0 <= ic["eps_s"][0] < 0.021 and -0.021 < ic["eps_05"][0] < 0
    assert ic["h_max"][1] == 0 and ic["m0"][1] == 0 and ic["eps_05"][1] == -np.inf


def test_pair_counts_match_a_direct_count_on_random_walks():
    """The interval sums against counting each epsilon's string directly."""
    rng = np.random.default_rng(3)
    f = np.round(np.cumsum(rng.normal(size=(4, 60)), axis=1), 1)  # ties and flat steps
    eps = np.array([0.0, 0.05, 0.1, 0.3, 0.7, 1.5, 10.0])
    ours = entropy(f, eps)
    d = np.diff(f, axis=1)
    for w in range(len(f)):
        for e, epsilon in enumerate(eps):
            s = np.where(d[w] < -epsilon, -1, np.where(d[w] > epsilon, 1, 0))
            pairs = [(a, b) for a, b in zip(s[:-1], s[1:]) if a != b]
            counts = np.array([pairs.count(k) for k in set(pairs)]) / (len(s) - 1)
            assert ours[w, e] == pytest.approx(-(counts * np.log(counts) / np.log(6)).sum())


def test_partial_information_matches_a_direct_count_of_alternations():
    from fla.metrics.entropy import partial_information

    f = np.cumsum(np.random.default_rng(4).normal(size=(10, 80)), axis=1)
    d = np.diff(f, axis=1)
    for eps in (0.0, 0.5, 1.5):
        ours = partial_information(f, np.full(10, eps))
        for w in range(10):
            s = [int(np.sign(x)) for x in d[w] if abs(x) > eps]
            mu = sum(1 for i, x in enumerate(s) if i == 0 or x != s[i - 1])
            assert ours[w] == pytest.approx(mu / d.shape[1])
