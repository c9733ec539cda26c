"""Failed path searches are caught, retried and marked (fla.paths.search)."""

from dataclasses import dataclass

import numpy as np
import pytest
import tensorflow as tf

from fla.base.errors import FlaError
from fla.paths.explore import explore
from fla.paths.record import Energy, PathRecord
from fla.paths.search import REGION, failure, retries, search


def record(points, losses):
    points = np.asarray(points, float)
    return PathRecord("test", points, np.asarray(losses), np.asarray(losses), points)


A, B = np.array([0.0, 0.0]), np.array([1.0, 0.0])
LINE = record([A, (A + B) / 2, B], [0.5, 1.0, 0.0])  # saddle 1, barrier 0.5: allowed 1e-3 above


@pytest.mark.parametrize(
    "saddle, failed",
    [(1.0, False), (1.0 + 1e-3 + 1e-12, False), (1.0011, True)],  # the second: exactly allowed
)
def test_a_saddle_above_the_straight_lines_is_a_failure(saddle, failed):
    path = record([A, (A + B) / 2, B], [0.5, saddle, 0.0])
    assert (failure(path, LINE, A, b=B) is not None) is failed


@pytest.mark.parametrize(
    "reach, failed", [(REGION - 1e-6, False), (REGION, False), (REGION + 1e-6, True)]
)
def test_a_path_that_leaves_the_minimas_region_is_a_failure(reach, failed):
    path = record([A, [0.5, reach], B], [0.5, 0.2, 0.0])  # low, but far from the segment
    why = failure(path, LINE, A, b=B)
    assert (why is not None) is failed
    assert why is None or "leaves the minima's region" in why


@dataclass(frozen=True)
class Band:
    """A band method that runs away (to a loss of 10^4) unless it has ``works_from`` pivots, and
    raises when told to."""

    name = "autoneb"
    pivots: int = 2
    climb: bool = True
    works_from: int = 8
    raises: bool = False

    def connect(self, energy, a, b):
        if self.raises and self.pivots < self.works_from:
            raise FlaError("non-finite band")
        mid = (a + b) / 2
        if self.pivots < self.works_from:
            mid = mid + np.array([0.0, 3000.0])
        points = np.stack([a, mid, b])
        return record(points, energy.values(points))


def bowl():
    return Energy(lambda t: tf.reduce_sum(t * t, axis=1) * 0.01 + 0.1, tf.float64)


def test_a_failed_search_is_retried_with_more_images_and_says_so():
    path = search(bowl(), Band(), A, b=B)
    assert not path.failed and path.attempts == 2
    assert path.search == "ok after 1 retries (autoneb; autoneb pivots 8)"


def test_the_curve_retry_rescues_a_band_that_always_runs_away():
    path = search(bowl(), Band(works_from=10**6), A, b=B)
    assert not path.failed and path.attempts == 4 and path.method == "bezier"
    assert path.search.endswith(
        "(autoneb; autoneb pivots 8; autoneb pivots 8, climb False; bezier)"
    )


def test_a_search_that_fails_every_attempt_keeps_its_best_and_is_marked(monkeypatch):
    import fla.paths.search as searching

    far = Band(works_from=10**6)
    monkeypatch.setattr(searching, "retries", lambda m: [Band(pivots=8, works_from=10**6)])
    path = search(bowl(), far, A, b=B)
    assert path.failed and path.attempts == 2
    assert path.search.startswith("failed after 2 attempts (autoneb; autoneb pivots 8): its saddle")
    assert path.line_saddle_loss < path.saddle_loss


def test_methods_that_raise_are_retried():
    path = search(bowl(), Band(raises=True), A, b=B)
    assert not path.failed and path.attempts == 2


def test_the_retries_of_bands_and_curves():
    from fla.paths.curves import Bezier
    from fla.paths.neb import NEB, AutoNEB

    assert [type(m).__name__ for m in retries(AutoNEB())] == ["AutoNEB", "AutoNEB", "Bezier"]
    assert retries(AutoNEB())[0].pivots == 8 and not retries(AutoNEB())[1].climb
    assert [m.pivots for m in retries(NEB())[:1]] == [40]
    assert [type(m).__name__ for m in retries(NEB())] == ["NEB", "Bezier"]  # NEB does not climb
    assert [type(m).__name__ for m in retries(Bezier())] == ["Bezier", "AutoNEB"]
    assert retries(Bezier())[0].bends == 8


def test_a_failed_pair_enters_the_tree_with_the_straight_lines_saddle(monkeypatch):
    import fla.paths.search as searching

    monkeypatch.setattr(searching, "retries", lambda m: [])
    minima = np.array([A, B])
    paths, tree = explore(bowl(), minima, np.array([0.1, 0.11]), method=Band(works_from=10**6))
    (path,) = paths.values()
    assert path.failed and tree == [(0, 1, pytest.approx(path.line_saddle_loss))]
