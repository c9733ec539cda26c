"""Attractor counting on synthetic data with known clusters; lazy reading; figures and the
report."""

import html

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from analysis.attractors import attractor_table, attractors, cluster_losses
from analysis.data import count_by, open_run, sample_rows
from analysis.report import write_plot, write_report
from fla.base.errors import DamagedRunError
from fla.base.store import ENDPOINT_SCHEMA, POINT_SCHEMA, table, write_manifest


def synthetic_points(rng, clusters, n_moving=400):
    """Stationary clusters (loss, n, curvature) plus moving points with large gradients."""
    frames = []
    for loss, n, curvature in clusters:
        frames.append(
            pd.DataFrame(
                {
                    "loss": loss + rng.normal(0, 1e-4, n),
                    "grad_norm": rng.uniform(0, 5e-3, n),
                    "curvature": curvature,
                }
            )
        )
    frames.append(
        pd.DataFrame(
            {
                "loss": rng.uniform(0, 3, n_moving),
                "grad_norm": rng.uniform(0.05, 2, n_moving),
                "curvature": "saddle",
            }
        )
    )
    return pd.concat(frames, ignore_index=True)


def test_cluster_losses_cuts_at_gaps():
    labels = cluster_losses(np.array([0.5, 0.0, 0.51, 0.001, 2.0]), gap=0.1)
    assert list(labels) == [1, 0, 1, 0, 2]


def test_attractors_of_a_surface_with_known_minima():
    rng = np.random.default_rng(0)
    points = synthetic_points(
        rng,
        [(0.0, 300, "convex"), (0.3466, 120, "convex"), (0.6931, 60, "flat"), (1.2, 3, "convex")],
    )
    table = attractors(points, total_points=len(points))
    assert len(table) == 3  # the 3-point cluster is a transient
    np.testing.assert_allclose(table.loss, [0.0, 0.3466, 0.6931], atol=1e-3)
    assert list(table.points) == [300, 120, 60]
    np.testing.assert_allclose(table.share, np.array([300, 120, 60]) / len(points))
    assert list(table.curvature) == ["convex", "convex", "flat"]
    assert list(table.lowest) == [True, False, False]
    assert list(table.local_minimum) == ["unverified"] * 3  # no quench yet: no verdict


def write_fake_run(folder, points: pd.DataFrame, **constants):
    folder.mkdir(parents=True)
    n = len(points)
    base = {
        "problem": "xor",
        "width": 2,
        "depth": 1,
        "n_params": 9,
        "activation": "elu",
        "granularity": "macro",
        "bound": 1.0,
        "step_size": 0.2,
        "seed": 0,
        **constants,
    }
    cols = {
        "walk": np.arange(n, dtype=np.int32) % 10,
        "step": np.arange(n, dtype=np.int32) // 10,
        "loss": points.loss.to_numpy(np.float32),
        "grad_norm": points.grad_norm.to_numpy(np.float32),
        "accuracy": np.ones(n, np.float32),
        "curvature": pa.array(points.curvature.tolist(), pa.string()),
    }
    pq.write_table(table(POINT_SCHEMA, base, cols, n=n), folder / "points.parquet")
    ends = {"walk": np.arange(10, dtype=np.int32), "step": np.full(10, 10, np.int32)}
    pq.write_table(table(ENDPOINT_SCHEMA, base, ends, n=10), folder / "endpoints.parquet")
    write_manifest(folder, {"rows": n}, ["points.parquet", "endpoints.parquet"])


def test_attractor_table_and_lazy_reading_of_a_run(tmp_path):
    rng = np.random.default_rng(1)
    write_fake_run(
        tmp_path / "a", synthetic_points(rng, [(0.0, 200, "convex"), (0.5, 50, "convex")])
    )
    write_fake_run(tmp_path / "b", synthetic_points(rng, [(0.7, 80, "flat")]), width=4, n_params=17)
    write_fake_run(tmp_path / "incomplete", synthetic_points(rng, [(0.1, 80, "flat")]), width=20)
    (tmp_path / "incomplete" / "run.json").unlink()
    with pytest.raises(DamagedRunError, match="incomplete: no readable manifest"):
        open_run(tmp_path)  # never silently dropped
    (tmp_path / "incomplete" / "points.parquet").rename(tmp_path / "incomplete.parquet.bak")
    dataset = open_run(tmp_path)
    counts = count_by(dataset, ["width", "curvature"])
    assert set(counts.width) == {2, 4}  # the incomplete configuration is not read
    assert counts.set_index(["width", "curvature"])["count"].to_dict() == {
        (2, "convex"): 250,
        (2, "saddle"): 400,
        (4, "flat"): 80,
        (4, "saddle"): 400,
    }
    sampled = sample_rows(dataset, ["loss"], max_rows=100, filter=pc.field("width") == 2)
    assert 50 <= len(sampled) <= 150
    table = attractor_table(dataset)
    assert table.groupby("width").size().to_dict() == {2: 2, 4: 1}
    np.testing.assert_allclose(table.loss, [0.0, 0.5, 0.7], atol=1e-3)


def test_report_and_plots_from_a_real_run(tmp_path):
    from fla.walks.sample import SampleConfig, sample

    for width, bound in [(2, 1.0), (4, 10.0)]:
        sample(
            SampleConfig(
                "xor", width=width, depth=1, granularity="macro", bound=bound, walks=10, steps=20
            ),
            tmp_path / "run" / f"w{width}",
            quiet=True,
        )
    out = write_report(tmp_path / "run")
    page = out.read_text()
    assert page.count("<img") == 6 and "Attractors" in page and "reduced" in page
    assert "Landscape measures" in page and "best_loss" in page
    assert len(list((tmp_path / "run" / "report_tables").glob("*.csv"))) >= 3
    for kind, suffix in [("lg", ".png"), ("curvature", ".svg"), ("accuracy", ".pdf")]:
        path = write_plot(kind, tmp_path / "run", tmp_path / f"{kind}{suffix}")
        assert path.stat().st_size > 5_000


def test_curvature_breakdown_matches_the_data_and_sets_exact_beside_block_hessians(tmp_path):
    from analysis.figures import curvature_breakdown
    from fla.walks.sample import SampleConfig, sample

    base = dict(
        problem="xor", width=2, depth=1, granularity="macro", bound=1.0, walks=12, steps=10, seed=2
    )
    for method in ("exact", "blocks"):
        sample(SampleConfig(**base, hessian=method), tmp_path / "run" / method, quiet=True)
    fig, table = curvature_breakdown(open_run(tmp_path / "run"))
    assert fig.axes[0].get_title().startswith("block-diagonal") or fig.axes[
        0
    ].get_title().startswith("exact")
    assert len([ax for ax in fig.axes if ax.get_title()]) == 2  # one row of panels per method
    for method, label in (
        ("exact", "exact Hessian"),
        ("blocks", "block-diagonal Hessian (reference code)"),
    ):
        df = pq.read_table(
            tmp_path / "run" / method / "points.parquet", columns=["curvature"]
        ).to_pandas()
        expected = df.curvature.value_counts(normalize=True)
        row = table[table.method == label].iloc[0]
        for name, share in expected.items():
            assert row[name] == pytest.approx(share)
        assert sum(
            row.get(c, 0.0) for c in ("convex", "concave", "saddle", "flat", "unknown")
        ) == pytest.approx(1.0)
    page = write_report(tmp_path / "run").read_text()
    assert "block-diagonal Hessian (reference code)" in page and "exact Hessian" in page
    # one configuration sampled with two Hessians: counted once, in the singular
    assert "240 sampled points in 1 configuration." in page and "1 configurations" not in page
    text = html.unescape(page)
    assert "averaged over configurations" not in text and "the walks' end is " in text


def test_quenches_verify_attractors_and_name_the_asymptotic_basin(tmp_path):
    """XOR 2-2-1 micro walks in [-1, 1]: the near-zero attractor is the asymptotic basin (no L2),
    the ln 2 plateau is not a minimum (a quench leaves it downwards); with an L2 term every quench
    ends at a minimum whose Hessian, recomputed here, is positive definite."""
    from analysis.attractors import classify_quench, verify_attractors
    from fla.walks.sample import SampleConfig, sample

    sample(
        SampleConfig(
            "xor",
            width=2,
            depth=1,
            granularity="micro",
            bound=1.0,
            walks=30,
            steps=400,
            hessian="none",
        ),
        tmp_path / "run",
        quiet=True,
    )
    table = attractor_table(open_run(tmp_path / "run"))
    plain = verify_attractors(tmp_path / "run", table)
    lowest, plateau = (
        plain.loc[plain.loss.idxmin()],
        plain.loc[(plain.loss - np.log(2)).abs().idxmin()],
    )
    assert lowest.loss < 0.01 and lowest.verified == "asymptotic basin" and lowest["index"] is None
    assert abs(plateau.loss - np.log(2)) < 0.01 and plateau.verified.startswith("loss decreases")
    assert plateau.quenched_loss < plateau.loss_min
    # one verdict per attractor: the quench's, whatever the sampled class said
    assert lowest.local_minimum == "no" and plateau.local_minimum == "no"
    assert set(plain.local_minimum) <= {"yes", "no", "unverified"}
    assert (plain.local_minimum == "unverified").sum() == plain.verified.isna().sum()
    regularised = verify_attractors(tmp_path / "run", table, l2=1e-2)
    assert (regularised.local_minimum == "unverified").all()  # another loss was quenched
    checked = regularised.dropna(subset=["verified"])
    assert (
        len(checked) >= 2 and (checked.verified == "minimum").all() and (checked.l2 == 1e-2).all()
    )
    assert (checked["index"] == 0).all() and (checked.null_space == 0).all()
    assert (
        classify_quench(0.3, 0.1, 1e-9, l2=0.0, negative=0)
        == "loss decreases (plateau or saddle region)"
    )
    assert classify_quench(0.0, 0.5, 1e-3, l2=0.0, negative=None) == "not converged"
    assert classify_quench(0.0, 0.5, 1e-9, l2=1e-3, negative=2) == "saddle (index 2)"


def test_the_quench_decides_local_minimum_where_the_sampled_class_disagrees():
    """A table whose sampled classes and verdicts disagree: the verdict wins, in both directions,
    and an attractor without a quench is unverified, never True or False from its class."""
    from analysis.attractors import verdict

    rows = [  # (sampled class, verdict, lowest) -> local_minimum
        ("convex", "saddle (index 1)", False, "no"),
        ("convex", "loss decreases (plateau or saddle region)", False, "no"),
        ("flat", "minimum", False, "yes"),
        ("saddle", "minimum", False, "yes"),
        ("convex", "minimum", True, "no"),  # the lowest attractor is not a local minimum
        ("convex", None, False, "unverified"),
        ("flat", None, True, "unverified"),
    ]
    for sampled, verified, lowest, expected in rows:
        assert verdict(verified, lowest, 0.0) == expected, (sampled, verified)
    assert verdict("minimum", False, 1e-3) == "unverified"


def test_recorded_points_let_every_attractor_be_verified(tmp_path):
    """With --record-params the stationary points themselves are quenched, so attractors that no
    walk ends in (passed through mid-walk) are verified too."""
    from analysis.attractors import verify_attractors
    from fla.walks.sample import SampleConfig, sample

    config = dict(
        problem="xor",
        width=2,
        depth=1,
        granularity="micro",
        bound=1.0,
        walks=30,
        steps=400,
        hessian="none",
    )
    sample(SampleConfig(**config), tmp_path / "ends", quiet=True)
    sample(SampleConfig(**config, record_params=True), tmp_path / "points", quiet=True)
    ends = verify_attractors(tmp_path / "ends", attractor_table(open_run(tmp_path / "ends")))
    points = verify_attractors(tmp_path / "points", attractor_table(open_run(tmp_path / "points")))
    assert (
        points.verified.notna().all()
        and points.verified.notna().sum() > ends.verified.notna().sum()
    )


@pytest.mark.slow  # 9 s: four runs and their report
def test_the_report_keeps_activations_apart_and_losses_apart(tmp_path):
    """Configurations that differ only in their hidden units or their loss are configurations of
    their own: their own rows, their own l-g clouds with the loss named on the axis, attractors
    verified with their own network and loss."""
    from fla.cli import main

    study = tmp_path / "study.toml"
    study.write_text(
        'name = "a"\nproblems = ["xor"]\nwidths = [1]\ndepths = [1]\ngranularities = ["macro"]\n'
        'bounds = [1]\nseeds = [0]\nactivations = ["elu", "relu"]\nwalks = 8\nsteps = 30\n'
        'losses = ["cross_entropy", "mse"]\n'
    )
    assert main(["sweep", str(study), "--out", str(tmp_path / "out"), "-q"]) == 0
    page = write_report(tmp_path / "out").read_text()
    for name in ("", ", relu", ", squared error", ", relu, squared error"):
        assert f"l-g clouds: xor, macro, [-1, 1]{name}<" in page
    tables = tmp_path / "out" / "report_tables"
    configs = pd.read_csv(next(tables.glob("*_points_per_configuration_and_seed.csv")))
    pairs = sorted(zip(configs.activation, configs.loss_function))
    assert pairs == [
        ("elu", "cross_entropy"), ("elu", "mse"), ("relu", "cross_entropy"), ("relu", "mse")
    ]  # fmt: skip
    assert (configs["count"] == 8 * 30).all()
    attractors = pd.read_csv(next(tables.glob("*_attractors_what_each_attractor_is.csv")))
    drawn = [pd.read_csv(p) for p in (tmp_path / "out" / "report_tables").glob("*_l_g_clouds_*")]
    medians = {round(float(t.loss_median.iloc[0]), 9) for t in drawn}
    assert len(drawn) == 4 and len(medians) == 4  # each figure draws its own configuration
    assert set(attractors.loss_function) <= {"cross_entropy", "mse"}
