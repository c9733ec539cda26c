"""The bounded keeper of compiled programs (fla.base.programs): at most its limit, the least
recently used dropped first, the objects a key names by id kept alive with it."""

import gc
import weakref

import pytest

from fla.base.programs import Kept


class Thing:
    pass


def test_at_most_the_limit_and_the_least_recently_used_goes():
    kept, built = Kept(2), []
    make = lambda k: lambda: built.append(k) or f"program {k}"  # noqa: E731
    assert kept.get("a", make("a")) == "program a"
    kept.get("b", make("b"))
    assert kept.get("a", make("a")) == "program a"  # kept: not built again, now the newest
    kept.get("c", make("c"))  # "b" was used longest ago: it goes
    assert built == ["a", "b", "c"] and len(kept) == 2
    assert "a" in kept and "c" in kept and "b" not in kept


def test_an_entry_holds_what_its_key_names_by_id():
    kept, thing = Kept(1), Thing()
    alive = weakref.ref(thing)
    kept.get(("program", id(thing)), lambda: 1, holds=thing)
    del thing
    gc.collect()
    assert alive() is not None  # its id cannot be reused while the entry lives
    kept.get("other", lambda: 2)
    gc.collect()
    assert alive() is None


def test_a_limit_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        Kept(0)


def test_an_objectives_programs_trace_at_most_twice_whatever_the_batch():
    """fla's programs over one objective trace once, and once more when reduce_retracing makes the
    batch size generic; never again for another batch (TensorFlow's retracing warning, which
    fla.base.quiet drops, counts the programs of every objective together)."""
    import numpy as np
    import tensorflow as tf

    from fla.core.networks import MLP
    from fla.core.objective import Objective
    from fla.core.problems import xor
    from fla.curvature import sharpness
    from fla.paths.record import Energy

    objective = Objective(MLP(2, 3, 1, 1), xor(), tf.float64)
    energy = Energy(objective, tf.float64)
    surface = sharpness.Surface(objective)
    for batch in (1, 3, 7, 20, 2):
        theta = np.random.default_rng(batch).normal(size=(batch, objective.n_params))
        objective(theta), objective.gradient(theta), energy(theta), energy.values(theta)
        surface.gradient(theta), surface.loss(theta)
    programs = [objective._full, objective._grad, energy._v, energy._vg]
    programs += list(objective._sharpness_programs.values())
    counts = [p.experimental_get_tracing_count() for p in programs]
    assert all(1 <= n <= 2 for n in counts), counts
