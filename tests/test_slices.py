"""Loss-surface slices (issue 27): filter normalisation against a loop over filters, Hessian
eigenvectors against an exact eigendecomposition, planes and trajectories by their geometry, the
grid against an independent forward pass, reproducibility, the files verified, the figures, and
every bad input one line through the command line."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import numpy_logits

from fla.base.errors import ConfigError, DataError
from fla.cli import main
from fla.slices import directions as dirs
from fla.slices.grid import read_slice

XOR_RUN = [
    "sample", "xor", "--width", "3", "--depth", "1", "--granularity", "macro", "--bound", "1",
    "--walks", "6", "--steps", "60", "--record-params", "-q",
]  # fmt: skip


def run(argv, capsys):
    status = main([str(a) for a in argv])
    return status, capsys.readouterr().err.strip()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("slices")
    assert main(XOR_RUN + ["--out", str(root / "run")]) == 0
    plain = XOR_RUN[:2] + ["--width", "2"] + XOR_RUN[4:-2] + ["-q", "--out", str(root / "plain")]
    assert main(plain) == 0  # another network (XOR 2-2-1), no recorded parameters
    assert (
        main(["connect", str(root / "run"), "--out", str(root / "con"), "--l2", "1e-3", "-q"]) == 0
    )
    return root


def xor_losses(theta):
    """Independent training loss of XOR 2-3-1 networks theta [P, 13]."""
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float64)
    y = np.array([0, 1, 1, 0], np.float64)
    z = np.stack([numpy_logits([(2, 3), (3, 1)], t, x)[:, 0] for t in theta])
    return (np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))).mean(1)


# -- directions ----------------------------------------------------------------------------------
def test_filter_normalisation_rescales_each_filter_to_its_weights():
    layout = [((3, 3, 2, 4), "conv"), ((4,), "vector"), ((5, 3), "dense"), ((3,), "vector")]
    rng = np.random.default_rng(1)
    n = sum(int(np.prod(s)) for s, _ in layout)
    theta, d = rng.normal(size=n), rng.normal(size=n)
    got = dirs.split(dirs.filter_normalised(d, theta, layout), layout)
    w, raw = dirs.split(theta, layout), dirs.split(d, layout)
    for c in range(4):  # one filter per output channel: a [3, 3, 2] block
        expected = raw[0][..., c] / np.linalg.norm(raw[0][..., c]) * np.linalg.norm(w[0][..., c])
        np.testing.assert_allclose(got[0][..., c], expected, rtol=1e-8)
    for unit in range(3):  # one filter per output unit: a column of the dense kernel
        col = raw[2][:, unit] / np.linalg.norm(raw[2][:, unit]) * np.linalg.norm(w[2][:, unit])
        np.testing.assert_allclose(got[2][:, unit], col, rtol=1e-8)
    assert not got[1].any() and not got[3].any()  # biases, BatchNorm zeroed by default
    kept = dirs.split(dirs.filter_normalised(d, theta, layout, keep_biases=True), layout)
    np.testing.assert_array_equal(kept[1], w[1])


def test_keras_layout_names_convolutions_dense_layers_and_vectors():
    import keras

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, use_bias=False)(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    kinds = [kind for _, kind in dirs.keras_layout(model)]
    assert kinds == ["conv", "vector", "vector", "dense", "vector"]


def test_random_directions_are_reproducible_from_their_seed():
    layout = [((2, 3), "dense"), ((3,), "vector")]
    theta = np.arange(9.0)
    a = dirs.random_directions(theta, layout, 2, seed=5, normalisation="filter", keep_biases=False)
    np.testing.assert_array_equal(
        a,
        dirs.random_directions(theta, layout, 2, seed=5, normalisation="filter", keep_biases=False),
    )
    assert not np.allclose(
        a,
        dirs.random_directions(theta, layout, 2, seed=6, normalisation="filter", keep_biases=False),
    )


def test_plane_places_the_three_networks_and_shares_one_scale():
    rng = np.random.default_rng(2)
    w1, w2, w3 = rng.normal(size=(3, 20))
    origin, basis = dirs.plane(w1, w2, w3)
    c, off = dirs.coordinates(np.stack([w1, w2, w3]), origin, basis)
    np.testing.assert_allclose(c[:2], [[0, 0], [1, 0]], atol=1e-12)
    np.testing.assert_allclose(off, 0, atol=1e-12)
    assert abs(basis[0] @ basis[1]) < 1e-9
    assert np.linalg.norm(basis[0]) == pytest.approx(np.linalg.norm(basis[1]))
    np.testing.assert_allclose(origin + c[2] @ basis, w3, atol=1e-12)
    with pytest.raises(ConfigError, match="one line"):
        dirs.plane(w1, w2, w1 + 2 * (w2 - w1))


def test_principal_directions_of_a_planar_trajectory_explain_all_of_it():
    rng = np.random.default_rng(3)
    frame = np.linalg.qr(rng.normal(size=(30, 2)))[0].T  # two orthonormal directions in 30-D
    steps = np.cumsum(rng.normal(size=(40, 2)) * [3.0, 1.0], axis=0)
    points = 5.0 + steps @ frame
    basis, explained = dirs.principal_directions(points)
    assert explained.sum() == pytest.approx(1.0) and explained[0] > explained[1]
    _, off = dirs.coordinates(points, points[-1], basis)
    np.testing.assert_allclose(off, 0, atol=1e-9)
    with pytest.raises(ConfigError, match="two dimensions"):
        dirs.principal_directions(np.outer(np.arange(10.0), np.ones(5)))


def test_top_eigenvectors_match_an_exact_eigendecomposition():
    import tensorflow as tf

    from fla.core.networks import MLP
    from fla.core.objective import Objective
    from fla.core.problems import xor
    from fla.curvature.lanczos import Hessian

    objective = Objective(MLP(2, 3, 1, 1), xor(), dtype=tf.float64)
    theta = np.random.default_rng(4).normal(size=(1, 13))
    values, vectors, done = Hessian(objective, theta).top_eigenvectors(2, max_steps=13)
    exact_values, exact_vectors = np.linalg.eigh(objective.hessian(theta).numpy()[0])
    assert done.all()
    np.testing.assert_allclose(values[0], exact_values[::-1][:2], rtol=1e-8)
    for k in range(2):
        assert abs(vectors[0, k] @ exact_vectors[:, -1 - k]) == pytest.approx(1.0, abs=1e-8)


# -- slices through the command line -------------------------------------------------------------
def test_a_random_plane_matches_an_independent_forward_pass_and_reproduces(runs, capsys):
    out = runs / "s_random"
    status, err = run(["slice", runs / "run", "--out", out, "--resolution", "9", "-q"], capsys)
    assert status == 0, err
    manifest, grid, marks = read_slice(out)
    frame = grid.to_pandas()
    assert len(frame) == 81 and manifest["definition"]["seed"] == 0
    table = pq.read_table(out / "directions.parquet").to_pandas()
    origin, x, y = (np.array(v) for v in table["values"])
    endpoint = pq.read_table(runs / "run" / "endpoints.parquet").to_pandas()
    np.testing.assert_allclose(origin, endpoint.params[endpoint.walk == 0].iloc[0], rtol=1e-7)
    assert not x[6:9].any() and not x[12:].any()  # biases of both layers zeroed
    theta = origin + frame.a.to_numpy()[:, None] * x + frame.b.to_numpy()[:, None] * y
    np.testing.assert_allclose(frame.train_loss, xor_losses(theta), rtol=2e-5, atol=1e-6)
    centre = frame[(frame.i == 4) & (frame.j == 4)].train_loss.iloc[0]
    assert marks.to_pandas().loss.iloc[0] == pytest.approx(centre, rel=1e-6)
    assert json.loads(grid.schema.metadata[b"fla.slice"])["seed"] == 0
    again = runs / "s_again"
    assert run(["slice", runs / "run", "--out", again, "--resolution", "9", "-q"], capsys)[0] == 0
    assert read_slice(again)[1].equals(grid)  # the same directions from the same seed


def test_a_line_towards_another_walk_reaches_it(runs, capsys):
    out = runs / "s_line"
    argv = ["slice", runs / "run", "--out", out, "--direction", "towards:walk=3", "-q"]
    assert run(argv + ["--resolution", "11", "--range", "0", "1"], capsys)[0] == 0
    _, grid, marks = read_slice(out)
    frame, marks = grid.to_pandas(), marks.to_pandas()
    assert frame.b.isna().all() and len(frame) == 11
    end = pq.read_table(runs / "run" / "endpoints.parquet").to_pandas()
    walk3 = np.array(end.params[end.walk == 3].iloc[0])[None]
    assert frame.train_loss.iloc[-1] == pytest.approx(xor_losses(walk3)[0], rel=2e-5)
    assert list(marks.label) == ["walk=0", "walk=3"] and marks.a.tolist() == [0.0, 1.0]


def test_hessian_directions_are_the_top_eigenvectors(runs, capsys):
    import tensorflow as tf

    from fla.core.networks import MLP
    from fla.core.objective import Objective
    from fla.core.problems import xor

    out = runs / "s_hessian"
    argv = ["slice", runs / "run", "--out", out, "--resolution", "5", "-q"]
    assert run(argv + ["--direction", "hessian:1", "--direction", "hessian:2"], capsys)[0] == 0
    table = pq.read_table(out / "directions.parquet").to_pandas()
    origin, x, y = (np.array(v) for v in table["values"])
    exact = Objective(MLP(2, 3, 1, 1), xor(), dtype=tf.float64).hessian(origin[None])
    vectors = np.linalg.eigh(exact.numpy()[0])[1]
    assert abs(x @ vectors[:, -1]) == pytest.approx(1, abs=1e-3)
    assert abs(y @ vectors[:, -2]) == pytest.approx(1, abs=1e-3)


def test_the_plane_through_two_minima_and_their_saddle_draws_the_path(runs, capsys):
    out = runs / "s_plane"
    pairs = pq.read_table(runs / "con" / "paths.parquet").to_pandas()
    a, b = int(pairs.a.iloc[0]), int(pairs.b.iloc[0])
    refs = [f"minimum={a}", f"minimum={b}", f"saddle={a}-{b}"]
    argv = ["slice", runs / "con", "--out", out, "--plane", *refs, "--resolution", "15", "-q"]
    status, err = run(argv, capsys)
    assert status == 0, err
    manifest, grid, marks = read_slice(out)
    marks = marks.to_pandas()
    points, path = marks[marks.kind == "point"], marks[marks.kind == "path"].sort_values("order")
    np.testing.assert_allclose(points[["a", "b"]].to_numpy()[:2], [[0, 0], [1, 0]], atol=1e-9)
    assert points.loss.iloc[2] == pytest.approx(pairs.saddle_loss.iloc[0], rel=1e-4)
    # the path starts and ends at the two minima, which lie in the plane
    np.testing.assert_allclose(path[["a", "b"]].to_numpy()[[0, -1]], [[0, 0], [1, 0]], atol=1e-6)
    assert path.off.iloc[0] == pytest.approx(0, abs=1e-6) and len(path) > 3
    frame = grid.to_pandas()  # the grid covers every mark
    assert frame.a.min() < marks.a.min() and frame.b.max() > marks.b.max()


def test_a_trajectory_on_its_principal_plane(runs, capsys):
    out = runs / "s_walk"
    argv = ["slice", runs / "run", "--out", out, "--trajectory", "2", "--resolution", "9", "-q"]
    assert run(argv, capsys)[0] == 0
    manifest, _, marks = read_slice(out)
    marks = marks.to_pandas()
    walk = marks[marks.kind == "trajectory"].sort_values("order")
    assert len(walk) == 60 and walk.order.tolist() == list(range(60))
    assert walk[["a", "b"]].iloc[-1].tolist() == [0.0, 0.0]  # around the last point
    ev = manifest["definition"]["explained_variance"]
    assert 0 < ev[1] <= ev[0] and sum(ev) <= 1 + 1e-9


def test_figures_and_the_report_show_slices(runs, capsys, tmp_path):
    import shutil

    from analysis.report import write_report

    folder = runs / "s_fig"
    argv = ["slice", runs / "run", "--out", folder, "--resolution", "7", "-q"]
    assert run(argv + ["--direction", "random"], capsys)[0] == 0
    plane = ["slice", runs / "run", "--out", runs / "s_fig2", "--resolution", "5", "-q"]
    assert run(plane, capsys)[0] == 0  # each test makes what it draws: no order between tests
    for name in ("s_fig", "s_fig2"):
        png = tmp_path / f"{name}.png"
        assert run(["plot", "slice", runs / name, "--out", png], capsys)[0] == 0
        assert png.stat().st_size > 10_000
    shown = tmp_path / "shown"
    shutil.copytree(folder, shown / "s_fig")
    page = write_report(shown, tmp_path / "r.html").read_text()
    assert "Loss-surface slice: s_fig" in page


def test_contour_levels_of_non_finite_slices_are_one_line():
    from analysis.slices import levels

    lv, log = levels(np.array([1e-3, np.inf, 10.0, np.nan]))
    assert log and lv[0] == pytest.approx(1e-3) and lv[-1] == pytest.approx(10.0)
    with pytest.raises(DataError, match="non-finite"):
        levels(np.array([np.nan, np.inf]))


def test_a_damaged_slice_is_named(runs, capsys, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    made = runs / "s_damage"
    assert run(["slice", runs / "run", "--out", made, "--resolution", "3", "-q"], capsys)[0] == 0
    shutil.copytree(made, copy)
    data = bytearray((copy / "slice.parquet").read_bytes())
    data[len(data) // 2] ^= 1
    (copy / "slice.parquet").write_bytes(bytes(data))
    with pytest.raises(DataError, match="slice.parquet does not match its checksum"):
        read_slice(copy)
    status, err = run(["plot", "slice", copy, "--out", tmp_path / "x.png"], capsys)
    assert status == 2 and "damaged" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--at", "walk=99"], "has walks 0..5"),
        (["--at", "walk=1,step=999"], "recorded steps 0..59"),
        (["--at", "minimum=0"], "expected walk=W or walk=W,step=S"),
        (["--direction", "towards:walk=0"], "the centre itself"),
        (["--direction", "towards:PLAIN"], "need the same network"),
        (["--direction", "sideways"], "expected random, towards:POINT or hessian:K"),
        (["--direction", "hessian:0"], "K must be an integer from 1 to 20"),
        (["--resolution", "1"], "--resolution must be an integer from 2 to 2001"),
        (["--range", "1", "1"], "--range must be two finite numbers LO < HI"),
        (["--range", "-1", "inf"], "--range must be two finite numbers LO < HI"),
        (["--plane", "walk=0", "walk=1", "walk=0"], "lie on one line"),
        (["--plane", "walk=0", "walk=1", "walk=2", "--direction", "random"], "give one of"),
        (["--trajectory", "0", "--at", "walk=1"], "--at is the centre of --direction slices"),
        (["--normalisation", "filter", "--out-inside"], "lies inside"),
    ],
)
def test_bad_slices_are_one_line(runs, capsys, extra, message, tmp_path):
    out = tmp_path / "out"
    if "--out-inside" in extra:
        extra, out = extra[:-1], runs / "run" / "slices"
    extra = [e.replace("PLAIN", str(runs / "plain")) for e in extra]
    status, err = run(["slice", runs / "run", "--out", out, "-q"] + extra, capsys)
    assert status == 2 and message in err and len(err.splitlines()) == 1, err
    assert not (out / "slice.json").exists() and not (out / "slice.parquet").exists()


def test_trajectories_need_recorded_parameters_and_grids_need_memory(runs, capsys, monkeypatch):
    out = runs.parent / "nothing"
    status, err = run(["slice", runs / "plain", "--out", out, "--trajectory", "0"], capsys)
    assert status == 2 and "--record-params" in err
    monkeypatch.setenv("FLA_MEMORY_BYTES", "100000")
    status, err = run(["slice", runs / "run", "--out", out, "--resolution", "2001"], capsys)
    assert status == 2 and "more than the" in err and "smaller --resolution" in err
    assert not (out / "slice.parquet").exists()
    twice = ["slice", runs / "run", "--out", runs / "s_twice", "--resolution", "3", "-q"]
    assert run(twice, capsys)[0] == 0
    status, err = run(twice, capsys)
    assert status == 2 and "already holds a slice" in err


@pytest.mark.slow
def test_a_resnet_slice_filter_normalises_per_channel_and_reaches_another_model(
    tmp_path, capsys, monkeypatch
):
    import keras
    import tensorflow as tf

    from fla.zoo.cifar import write_binary
    from fla.zoo.train import Trainer

    rng = np.random.default_rng(0)
    images = lambda n: rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)  # noqa: E731
    labels = lambda n: rng.integers(0, 10, n)  # noqa: E731
    write_binary(
        tmp_path / "data",
        "cifar10",
        images(64),
        y_train=labels(64),
        x_test=images(32),
        y_test=labels(32),
    )
    for seed in (0, 1):
        trainer = Trainer(
            "resnet20",
            "cifar10",
            seed,
            out=tmp_path / f"m{seed}",
            data_dir=tmp_path / "data",
            epochs=1,
            batch_size=32,
        )
        trainer.run(quiet=True)
    common = ["--examples", "16", "--data-dir", tmp_path / "data", "-q"]
    out = tmp_path / "random"
    argv = ["slice", tmp_path / "m0", "--out", out, "--resolution", "3", "--direction", "random"]
    assert run(argv + common, capsys)[0] == 0
    model = trainer.model  # seed 1's; the layout is the architecture's
    layout = dirs.keras_layout(model)
    table = pq.read_table(out / "directions.parquet").to_pandas()
    origin, x = (np.array(v) for v in table["values"])
    for w, d, (shape, kind) in zip(dirs.split(origin, layout), dirs.split(x, layout), layout):
        if kind == "vector":
            assert not d.any()  # BatchNorm's scale and shift, the classifier's bias
            continue
        axes = tuple(range(len(shape) - 1))
        norms = [np.sqrt((v * v).sum(axes)) for v in (d, w)]
        np.testing.assert_allclose(*norms, rtol=1e-6, atol=1e-9)
    # the centre's loss, taken independently through Keras (batch statistics, training mode)
    from fla.zoo.cifar import load_cifar, normalise

    with np.load(tmp_path / "m0" / "weights.npz") as data:
        for i, v in enumerate(model.weights):
            v.assign(data[f"w{i}"])
        x_train, y_train, *_ = load_cifar("cifar10", tmp_path / "data")
        x16 = normalise(x_train[:16], data["mean"], data["std"])
    logits = model(tf.constant(x16, tf.float32), training=True)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y_train[:16], logits)
    frame = read_slice(out)[1].to_pandas()
    assert frame.train_loss.iloc[1] == pytest.approx(float(loss), rel=1e-4)
    line = tmp_path / "line"
    argv = ["slice", tmp_path / "m0", "--out", line, "--direction", f"towards:{tmp_path / 'm1'}"]
    assert run(argv + ["--resolution", "2", "--range", "0", "1"] + common, capsys)[0] == 0
    marks = read_slice(line)[2].to_pandas()
    frame = read_slice(line)[1].to_pandas()
    assert frame.train_loss.iloc[-1] == pytest.approx(marks.loss.iloc[1], rel=1e-5)
    # a forward pass's activations are estimated before anything runs: 16 images need ~40 MiB
    monkeypatch.setenv("FLA_MEMORY_BYTES", str(30 * 2**20))
    status, err = run(argv[:3] + [tmp_path / "small"] + argv[4:] + common, capsys)
    assert status == 2 and "fewer --examples" in err and not (tmp_path / "small").exists()
