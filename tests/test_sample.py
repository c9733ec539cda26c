"""The walk rule, the recorded values, determinism and the Parquet contract, on real sampling
runs."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import tensorflow as tf
from helpers import make_mnist

from fla.core.networks import MLP
from fla.core.objective import Objective
from fla.core.registry import load_problem
from fla.curvature.classes import curvature_class
from fla.walks import streams
from fla.walks.config import CurvatureAt, plan
from fla.walks.sample import SampleConfig, sample

COLUMNS = [
    "problem",
    "width",
    "depth",
    "n_params",
    "activation",
    "granularity",
    "bound",
    "step_size",
    "seed",
    "walk",
    "step",
    "loss",
    "grad_norm",
    "accuracy",
    "test_loss",
    "test_accuracy",
    "curvature",
    "eig_min",
    "eig_max",
    "eigenvalues",
    "params",
]


def by_walk(df, column):
    """[walks, steps, ...] array of a column, whatever the row order."""
    df = df.sort_values(["walk", "step"])
    values = (
        np.stack(df[column].to_numpy()) if df[column].dtype == object else df[column].to_numpy()
    )
    return values.reshape(df.walk.nunique(), df.step.nunique(), *values.shape[1:])


def check_walk_rule(params, endpoints, grads, s):
    """Each coordinate moves by at most s against the sign of its gradient (zero moves +)."""
    moves = np.diff(np.concatenate([params, endpoints[:, None]], 1), axis=1)
    assert np.abs(moves).max() <= s * (1 + 1e-5)
    assert np.abs(moves).max() > 0.9 * s  # the bound is reached, not a smaller one
    clear = np.abs(grads) > 1e-4  # signs of gradients near zero may differ between XLA and eager
    assert (np.sign(moves[clear]) == -np.sign(grads[clear])).all()
    assert (moves[grads == 0] >= 0).all()


@pytest.fixture(scope="module")
def xor_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("xor") / "run"
    config = SampleConfig(
        "xor",
        width=2,
        depth=1,
        granularity="macro",
        bound=1.0,
        walks=12,
        steps=15,
        seed=3,
        record_params=True,
    )
    sample(config, out, quiet=True)
    return config, out


def test_xor_walk_rule_and_recorded_values(xor_run):
    config, out = xor_run
    df = pq.read_table(out / "points.parquet").to_pandas()
    ends = pq.read_table(out / "endpoints.parquet").to_pandas().sort_values("walk")
    params = by_walk(df, "params")
    f = Objective(MLP(2, 2, 1, 1), load_problem("xor"))
    flat = params.reshape(-1, 9)
    grads = f.gradient(flat).numpy().reshape(params.shape)
    check_walk_rule(params, np.stack(ends.params.to_numpy()), grads, s=0.2)
    np.testing.assert_allclose(by_walk(df, "loss").ravel(), f(flat).numpy(), rtol=1e-5)
    np.testing.assert_allclose(
        by_walk(df, "grad_norm").ravel(), np.linalg.norm(grads.reshape(-1, 9), axis=1), rtol=1e-4
    )
    assert (np.abs(params[:, 0]) <= 1).all()  # initial points in [-b, b]
    hess = f.hessian(flat).numpy().astype(np.float64)
    exact = np.linalg.eigvalsh(hess)
    eigs = by_walk(df, "eigenvalues").reshape(-1, 9)
    np.testing.assert_allclose(eigs, exact, atol=1e-5 * np.abs(exact).max())
    assert list(by_walk(df, "curvature").ravel()) == list(curvature_class(exact))
    np.testing.assert_allclose(by_walk(df, "eig_min").ravel(), exact[:, 0], atol=1e-5)
    assert df.test_loss.isna().all() and (df.hessian == "exact").all()


def test_parquet_contract(xor_run):
    config, out = xor_run
    table = pq.read_table(out / "points.parquet")
    assert table.num_rows == 12 * 15
    assert set(COLUMNS) <= set(table.column_names)
    assert str(table.schema.field("eigenvalues").type) == "list<element: float>"
    assert str(table.schema.field("params").type) == "list<element: float>"
    df = table.to_pandas()
    assert sorted(zip(df.walk, df.step)) == [(w, s) for w in range(12) for s in range(15)]
    row = df.iloc[0]
    assert (
        row.problem,
        row.width,
        row.depth,
        row.n_params,
        row.activation,
        row.granularity,
        row.bound,
        row.step_size,
        row.seed,
    ) == ("xor", 2, 1, 9, "elu", "macro", 1.0, 0.2, 3)
    ends = pq.read_table(out / "endpoints.parquet")
    assert ends.num_rows == 12 and (ends.column("step").to_numpy() == 15).all()
    meta = json.loads(pq.read_metadata(out / "points.parquet").metadata[b"fla"])
    manifest = json.loads((out / "run.json").read_text())
    assert meta == {k: v for k, v in manifest.items() if k != "files"}
    assert (
        manifest["files"]["points.parquet"]["rows"] == 180
        and manifest["files"]["endpoints.parquet"]["rows"] == 12
    )
    for key in (
        "fla_version",
        "tensorflow_version",
        "config",
        "device",
        "allocator",
        "start_time",
        "end_time",
    ):
        assert key in meta
    at_start = json.loads(table.schema.metadata[b"fla"])
    assert at_start["config"] == meta["config"] and at_start["start_time"] == meta["start_time"]
    assert meta["config"]["walks"] == 12 and meta["rows"] == 180
    assert not list(out.glob(".*"))  # no temporary files left


def test_same_seed_same_data_other_seed_other_data(xor_run, tmp_path):
    config, out = xor_run
    sample(config, tmp_path / "again", quiet=True)
    first, again = (
        pq.read_table(d / "points.parquet").replace_schema_metadata()
        for d in (out, tmp_path / "again")
    )
    assert first.equals(again)
    fields = {k: v for k, v in config.__dict__.items() if k != "activation"}
    sample(SampleConfig(**{**fields, "seed": 4}), tmp_path / "other", quiet=True)
    other = pq.read_table(tmp_path / "other" / "points.parquet")
    assert not np.allclose(other.column("loss").to_numpy(), first.column("loss").to_numpy())


def test_defaults_follow_the_study():
    xor = ((2, 1), True)
    micro = plan(SampleConfig("xor", width=2, depth=1, granularity="micro", bound=10.0), *xor)
    macro = plan(SampleConfig("xor", width=2, depth=1, granularity="macro", bound=1.0), *xor)
    assert (micro.walks, micro.steps, micro.step_size, micro.hessian) == (90, 1000, 0.2, "exact")
    assert (macro.walks, macro.steps, macro.step_size) == (90, 100, 0.2)
    wide = plan(SampleConfig("xor", width=20, depth=2, granularity="macro", bound=1.0), *xor)
    # above 200
    assert wide.n_params == 501 and wide.hessian == "lanczos" and wide.hessian_at.kind == "last"
    assert macro.hessian_at == CurvatureAt("all", None, "all")


def test_full_is_the_older_name_of_the_exact_hessian(tmp_path):
    """``--hessian exact`` is the word the plan and the ``hessian`` column use; ``full`` plans and
    records the same curvature, and its run keeps the word it was given (old study files resume)."""
    xor = ((2, 1), True)
    base = dict(problem="xor", width=2, depth=1, granularity="macro", bound=1.0, walks=4, steps=3)
    plans = {h: plan(SampleConfig(**base, hessian=h), *xor) for h in ("exact", "full", "blocks")}
    assert plans["exact"] == plans["full"] and plans["blocks"].hessian == "blocks"
    for hessian in ("exact", "full"):
        sample(SampleConfig(**base, hessian=hessian), tmp_path / hessian, quiet=True)
    exact, full = (pq.read_table(tmp_path / h / "points.parquet") for h in ("exact", "full"))
    assert set(exact.column("hessian").to_pylist()) == {"exact"}
    assert exact.equals(full)  # every column, bit for bit (the schema's metadata aside)
    run = json.loads((tmp_path / "full" / "run.json").read_text())
    assert run["config"]["hessian"] == "full" and run["plan"]["hessian"] == "exact"


@pytest.mark.parametrize("batching", ["shared", "per_walk"])
def test_minibatch_walks_record_the_batch_that_drives_the_step(tmp_path, batching):
    make_mnist(tmp_path / "data", n_train=50, n_test=30)
    config = SampleConfig(
        "mnist",
        width=3,
        depth=1,
        granularity="micro",
        bound=1.0,
        walks=5,
        steps=4,
        batch_size=10,
        record_params=True,
        batching=batching,
        seed=1,
    )
    sample(config, tmp_path / "run", data_dir=tmp_path / "data", quiet=True)
    df = pq.read_table(tmp_path / "run" / "points.parquet").to_pandas()
    assert len(df) == 20 and df.test_loss.notna().all()
    assert (df.curvature.notna() == (df.step == 3)).all()  # auto: Lanczos at each walk's last step
    params = by_walk(df, "params")
    ends = np.stack(
        pq.read_table(tmp_path / "run" / "endpoints.parquet").to_pandas().sort_values("walk").params
    )
    problem = load_problem("mnist", tmp_path / "data")
    f = Objective(MLP(784, 3, 1, 10), problem)
    walks = np.arange(5)
    for t in range(4):
        # rebuilt from the documented streams, independently of the sampler
        if batching == "shared":
            train = np.broadcast_to(streams.shared_batch(1, t, 50, size=10, salt=0), (5, 10))
            test = np.broadcast_to(streams.shared_batch(1, t, 30, size=10, salt=1), (5, 10))
            assert len(set(train[0])) == 10  # without replacement
        else:
            words = lambda stream: (
                streams.words_of_walks(1, stream, t, walks=walks, n=10).numpy().astype(np.uint64)
            )
            train = ((words(streams.TRAIN_BATCH) * 50) >> 32).astype(np.int64)
            test = ((words(streams.TEST_BATCH) * 30) >> 32).astype(np.int64)
            assert len({tuple(b) for b in train}) == 5  # each walk its own batch
        x, y = problem.x_train[train], problem.y_train[train]
        loss, acc, grad = (v.numpy() for v in f.gradient_at(tf.constant(params[:, t]), x, y))
        np.testing.assert_allclose(by_walk(df, "loss")[:, t], loss, rtol=1e-5)
        np.testing.assert_allclose(by_walk(df, "accuracy")[:, t], acc)
        xt, yt = problem.x_test[test], problem.y_test[test]
        np.testing.assert_allclose(
            by_walk(df, "test_loss")[:, t],
            f.loss_at(tf.constant(params[:, t]), xt, yt).numpy(),
            rtol=1e-5,
        )
        nxt = params[:, t + 1] if t < 3 else ends
        check_walk_rule(params[:, t : t + 1], nxt, grad[:, None], s=0.02)


def test_exact_spectra_at_every_kth_step_and_below_a_gradient_norm(tmp_path):
    base = dict(
        problem="xor", width=2, depth=1, granularity="macro", bound=1.0, walks=6, steps=10, seed=5
    )
    sample(SampleConfig(**base, hessian_at="every:3"), tmp_path / "every", quiet=True)
    df = pq.read_table(tmp_path / "every" / "points.parquet").to_pandas()
    has = df.eigenvalues.notna()
    assert (has == (df.step % 3 == 0)).all() and (df.hessian.notna() == has).all()
    assert (df.curvature.notna() == has).all() and (df.eig_min.notna() == has).all()
    threshold = float(np.median(df.grad_norm))
    sample(SampleConfig(**base, hessian_at=f"grad-below:{threshold}"), tmp_path / "low", quiet=True)
    low = pq.read_table(tmp_path / "low" / "points.parquet").to_pandas()
    assert (low.eigenvalues.notna() == (low.grad_norm < threshold)).all()
    # where curvature is taken changes nothing else
    np.testing.assert_array_equal(low.loss, df.loss)


@pytest.mark.slow  # 5 s
def test_lanczos_at_the_last_step_matches_the_exact_spectrum_of_the_same_batch(tmp_path):
    make_mnist(tmp_path / "data", n_train=50, n_test=30)
    config = SampleConfig(
        "mnist",
        width=3,
        depth=1,
        granularity="micro",
        bound=1.0,
        walks=4,
        steps=3,
        batch_size=10,
        record_params=True,
        seed=2,
        lanczos_tol=1e-6,
        lanczos_steps=400,
    )
    sample(config, tmp_path / "run", data_dir=tmp_path / "data", quiet=True)
    df = pq.read_table(tmp_path / "run" / "points.parquet").to_pandas()
    last = df[df.step == 2].sort_values("walk")
    assert (df.hessian.notna() == (df.step == 2)).all() and (last.hessian == "lanczos").all()
    assert df.eigenvalues.isna().all()  # no full spectrum from Lanczos
    problem = load_problem("mnist", tmp_path / "data")
    f = Objective(MLP(784, 3, 1, 10), problem, dtype=tf.float64)
    batch = streams.shared_batch(2, 2, 50, size=10, salt=0)
    x, y = problem.x_train[batch], problem.y_train[batch]
    params = np.stack(last.params).astype(np.float64)
    exact = np.linalg.eigvalsh(f.hessian_at(tf.constant(params), x, y).numpy())
    scale = np.abs(exact).max()
    np.testing.assert_allclose(last.eig_min, exact[:, 0], atol=1e-4 * scale)
    np.testing.assert_allclose(last.eig_max, exact[:, -1], atol=1e-4 * scale)
    # the paper's class: a softmax over 10 classes forces zero eigenvalues at every point
    assert (np.abs(exact) <= 1e-5 * scale).sum(axis=1).min() >= 3 + 1
    assert list(last.curvature) == ["flat"] * 4
    # the reduced class, what the data does: both signs significant in the float64 spectrum
    negative, positive = exact[:, 0] < -1e-5 * scale, exact[:, -1] > 1e-5 * scale
    assert (negative & positive).all()
    assert list(last.reduced_curvature) == ["saddle"] * 4


def test_classes_from_extreme_eigenvalues_claim_only_what_they_prove():
    from fla.curvature.classes import CLASSES, extreme_codes

    codes = extreme_codes([1.0, -3.0, -1.0, 1e-9, 0.5, np.nan], [2.0, -1.0, 2.0, 3.0, 0.5, 1.0])
    assert [CLASSES[c] if c >= 0 else None for c in codes] == [
        "convex",
        "concave",
        "saddle",
        "flat",
        "convex",
        None,
    ]


def test_block_spectra_are_the_union_of_each_blocks_own_spectrum(tmp_path):
    """--hessian blocks: one block per weight matrix and per bias vector, cross-block terms
    dropped."""
    config = SampleConfig(
        "xor",
        width=3,
        depth=2,
        granularity="macro",
        bound=1.0,
        walks=5,
        steps=4,
        seed=9,
        hessian="blocks",
        record_params=True,
    )
    sample(config, tmp_path / "run", quiet=True)
    df = pq.read_table(tmp_path / "run" / "points.parquet").to_pandas()
    assert (df.hessian == "blocks").all()
    net = MLP(2, 3, 2, 1)
    params = np.stack(df.params)
    hess = Objective(net, load_problem("xor")).hessian(params).numpy().astype(np.float64)
    blocks = [s for pair in net.slices() for s in pair]
    assert len(blocks) == 6
    expected = np.sort(
        np.concatenate([np.linalg.eigvalsh(hess[:, s, s]) for s in blocks], axis=1), axis=1
    )
    scale = np.abs(expected).max()
    np.testing.assert_allclose(np.stack(df.eigenvalues), expected, atol=1e-5 * scale)
    full = np.linalg.eigvalsh(hess)
    assert not np.allclose(full, expected, atol=1e-3 * scale)  # the cross-block terms matter
    assert list(df.curvature) == list(curvature_class(expected))


def test_recorded_moves_are_drawn_uniformly_from_0_to_s(xor_run):
    """Kolmogorov-Smirnov: the sizes of all recorded moves against U(0, s) (s = 0.2), with a fixed
    seed."""
    from scipy import stats

    config, out = xor_run
    df = pq.read_table(out / "points.parquet").to_pandas()
    ends = np.stack(pq.read_table(out / "endpoints.parquet").to_pandas().sort_values("walk").params)
    params = by_walk(df, "params")
    moves = np.abs(np.diff(np.concatenate([params, ends[:, None]], 1), axis=1)).ravel()
    assert len(moves) == 12 * 15 * 9
    assert stats.kstest(moves, stats.uniform(0, 0.2).cdf).pvalue > 0.01
    # the test can tell a smaller s
    assert stats.kstest(moves, stats.uniform(0, 0.18).cdf).pvalue < 1e-3


def test_the_activation_is_a_setting_of_runs_and_studies(tmp_path):
    """--activation picks the hidden units; ELU, the default, leaves manifests and folder names as
    they were; a study's activations list is one more axis of its grid."""
    from fla.studies.study import config_name, load_study

    config = SampleConfig(
        problem="xor", width=3, depth=1, granularity="macro", bound=1.0, walks=4, steps=5,
        activation="relu", hessian="exact", record_params=True,
    )  # fmt: skip
    sample(config, tmp_path / "relu", quiet=True)
    meta = json.loads((tmp_path / "relu" / "run.json").read_text())
    assert meta["config"]["activation"] == "relu"
    assert SampleConfig(**meta["config"]) == config
    table = pq.read_table(tmp_path / "relu" / "points.parquet").to_pandas()
    assert set(table.activation) == {"relu"}
    # the stored spectra are those of the ReLU network, not the ELU one
    last = table[table.step == 4].sort_values("walk")
    f = Objective(MLP(2, 3, 1, 1, "relu"), load_problem("xor"), dtype=tf.float64)
    expected = np.linalg.eigvalsh(f.hessian(np.stack(last.params).astype(np.float64)).numpy())
    scale = np.abs(expected).max()
    np.testing.assert_allclose(np.stack(last.eigenvalues), expected, atol=1e-5 * scale)
    assert (
        "activation"
        not in SampleConfig(
            problem="xor", width=3, depth=1, granularity="macro", bound=1.0
        ).fields()
    )
    study = tmp_path / "study.toml"
    study.write_text(
        'name = "a"\nproblems = ["xor"]\nwidths = [1]\ndepths = [1]\ngranularities = ["macro"]\n'
        'bounds = [1]\nseeds = [0]\nactivations = ["elu", "silu"]\n'
    )
    names = [config_name(c) for c in load_study(study).configurations()]
    assert names == ["xor_w2_d1_macro_b1_s0", "xor_w2_d1_macro_b1_s0_silu"]
    study.write_text(study.read_text() + 'walk_bounds = "reflect"\n')
    names = [config_name(c) for c in load_study(study).configurations()]
    assert names == ["xor_w2_d1_macro_b1_s0_reflect", "xor_w2_d1_macro_b1_s0_silu_reflect"]


def test_bounded_activations_bound_the_predicted_logits():
    """The range check's prediction: a tanh or sigmoid unit passes at most 1, so deep bounded
    networks at bound 10 are not refused as ELU ones of the same size are."""
    from fla.walks.resources import LOGIT_LIMIT, predicted_logit_scale

    problem = load_problem("xor")
    for activation in ("tanh", "sigmoid"):
        net = MLP(2, 50, 12, 1, activation)
        scale = predicted_logit_scale(net, problem, 10.0)
        assert scale == pytest.approx(10 / np.sqrt(3) * np.sqrt(50 + 1))
    assert predicted_logit_scale(MLP(2, 50, 12, 1), problem, 10.0) > LOGIT_LIMIT


def test_reflected_gradient_walks_stay_in_the_box_and_follow_the_rule(tmp_path):
    """--walk-bounds reflect: every point inside [-b, b]^D; each move is the walk rule's move,
    folded back inside by as much as it overshot (Malan and Engelbrecht's reflection)."""
    b, s = 0.5, 0.1  # macro: s = 10% of 2b
    config = SampleConfig(
        problem="xor", width=2, depth=1, granularity="macro", bound=b, walks=16, steps=60,
        seed=4, record_params=True, walk_bounds="reflect",
    )  # fmt: skip
    sample(config, tmp_path / "run", quiet=True)
    df = pq.read_table(tmp_path / "run" / "points.parquet").to_pandas()
    ends = pq.read_table(tmp_path / "run" / "endpoints.parquet").to_pandas().sort_values("walk")
    params, end = by_walk(df, "params"), np.stack(ends.params.to_numpy())
    after = np.concatenate([params[:, 1:], end[:, None]], 1)
    assert np.abs(params).max() <= b and np.abs(end).max() <= b
    f = Objective(MLP(2, 2, 1, 1), load_problem("xor"))
    grads = f.gradient(params.reshape(-1, 9)).numpy().reshape(params.shape)
    # the unfolded target: the point itself, or its mirror image in the wall it crossed
    candidates = np.stack([after, 2 * b - after, -2 * b - after])
    moves = -np.sign(grads)[None] * (candidates - params[None])  # along the rule's direction
    fits = (moves >= -1e-6) & (moves <= s * (1 + 1e-5))
    clear = np.abs(grads) > 1e-4
    assert fits.any(axis=0)[clear].all()
    reflected = ~fits[0] & fits.any(axis=0) & clear
    assert reflected.sum() > 10  # the walls were met, and reflected from
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["config"]["walk_bounds"] == "reflect"
    with pytest.raises(Exception, match="applies to gradient walks"):
        SampleConfig(
            problem="xor", width=2, depth=1, granularity="macro", bound=b, sampler="random",
            walk_bounds="reflect",
        ).validate()  # fmt: skip


def test_the_loss_and_the_regulariser_are_settings_recorded_apart(tmp_path):
    """--loss mse --regulariser weight_elimination: the recorded loss is the data loss, the penalty
    its own column, the gradient norm and the spectrum those of their sum (recomputed
    independently at the recorded points); saturation per hidden layer is recorded at every point;
    folder names, manifests and the Parquet columns say what was walked."""
    from fla.core.regularisers import Regulariser
    from fla.studies.study import config_name

    config = SampleConfig(
        problem="xor", width=3, depth=2, granularity="macro", bound=1.0, walks=8, steps=6,
        activation="tanh", loss="mse", regulariser="weight_elimination", lambda_=0.01, w0=0.5,
        hessian="exact", record_params=True,
    )  # fmt: skip
    sample(config, tmp_path / "run", quiet=True)
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert SampleConfig(**meta["config"]) == config
    df = pq.read_table(tmp_path / "run" / "points.parquet").to_pandas()
    assert set(df.loss_function) == {"mse"} and set(df.regulariser) == {"weight_elimination"}
    assert set(df["lambda"]) == {0.01} and set(df.w0) == {0.5}
    params = np.stack(df.params).astype(np.float64)
    network = MLP(2, 3, 2, 1, "tanh")
    walked = Objective(
        network, load_problem("xor"), tf.float64, loss="mse",
        regulariser=Regulariser("weight_elimination", 0.01, 0.5),
    )  # fmt: skip
    data = Objective(network, load_problem("xor"), tf.float64, loss="mse")
    np.testing.assert_allclose(df.loss, data(params).numpy(), rtol=1e-5)
    u = params**2 / 0.25
    np.testing.assert_allclose(df.penalty, 0.01 * (u / (1 + u)).sum(1), rtol=1e-5)
    grads = np.linalg.norm(walked.gradient(params).numpy(), axis=1)
    np.testing.assert_allclose(df.grad_norm, grads, rtol=1e-4, atol=1e-7)
    expected = np.linalg.eigvalsh(walked.hessian(params).numpy())
    np.testing.assert_allclose(
        np.stack(df.eigenvalues), expected, atol=1e-5 * np.abs(expected).max()
    )
    phi = np.stack(df.saturation)
    assert phi.shape == (len(df), 2) and ((phi >= 0) & (phi <= 1)).all()
    h1 = params[:, :6].reshape(-1, 2, 3).transpose(0, 1, 2)
    first = np.tanh(load_problem("xor").x_train @ h1 + params[:, None, 6:9])
    np.testing.assert_allclose(phi[:, 0], np.abs(first).mean((1, 2)), rtol=1e-5)
    assert np.stack(df.saturated_units).shape == (len(df), 2)
    assert config_name(config).endswith("_s0_tanh_mse_we-0.01-w0.5")
    plain = SampleConfig(problem="xor", width=3, depth=2, granularity="macro", bound=1.0)
    assert not {"loss", "regulariser", "lambda_", "w0"} & set(plain.fields())
    sample(
        SampleConfig(
            problem="xor", width=2, depth=1, granularity="macro", bound=1, walks=4, steps=3
        ),
        tmp_path / "plain",
        quiet=True,
    )
    df = pq.read_table(tmp_path / "plain" / "points.parquet").to_pandas()
    assert df.penalty.isna().all() and df.saturation.isna().all()
    assert set(df.loss_function) == {"cross_entropy"} and set(df.regulariser) == {"none"}


@pytest.mark.parametrize(
    "settings,message",
    [
        ({"loss": "hinge"}, "--loss must be one of cross_entropy, mse, got 'hinge'"),
        ({"regulariser": "l1"}, "--regulariser must be one of none, l2, weight_elimination"),
        ({"regulariser": "l2", "lambda_": -0.1}, "--lambda must be a finite number >= 0"),
        ({"regulariser": "l2", "lambda_": float("nan")}, "--lambda must be a finite number"),
        (
            {"regulariser": "weight_elimination", "lambda_": 0.1, "w0": 0.0},
            "--w0 must be a finite number > 0",
        ),
        ({"regulariser": "l2"}, "--regulariser l2 needs its weight: set --lambda"),
        ({"lambda_": 0.1}, "--lambda weighs a regulariser; set --regulariser"),
        ({"regulariser": "l2", "lambda_": 0.1, "w0": 2.0}, "--w0 is weight elimination's scale"),
        ({"activation": "swish"}, "--activation must be one of elu, tanh, sigmoid, relu"),
    ],
)
def test_bad_loss_and_regulariser_settings_are_refused_in_one_line(settings, message):
    config = SampleConfig(
        problem="xor", width=2, depth=1, granularity="macro", bound=1.0, **settings
    )
    with pytest.raises(Exception, match=message.replace("(", r"\(").replace(")", r"\)")):
        config.validate()
