"""CIFAR readers on archives written here in the real formats; models; training and resume; NEB
between two tiny trained models."""

import io
import json
import pickle
import tarfile

import numpy as np
import pyarrow.parquet as pq
import pytest

from fla.base.errors import ConfigError, DataError
from fla.zoo.cifar import load_cifar, write_binary
from fla.zoo.models import PAPER_PARAMS, build, trainable_params
from fla.zoo.train import Trainer, augment, learning_rate, recipe


def synthetic(n_train=64, n_test=32, classes=10, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, 256, (n_train, 32, 32, 3), dtype=np.uint8),
        rng.integers(0, classes, n_train),
        rng.integers(0, 256, (n_test, 32, 32, 3), dtype=np.uint8),
        rng.integers(0, classes, n_test),
    )


def write(folder, name, data):
    """``write_binary`` of a ``synthetic`` (x_train, y_train, x_test, y_test)."""
    x, y, xt, yt = data
    write_binary(folder, name, x, y_train=y, x_test=xt, y_test=yt)


def python_batch(x, y, key):
    return pickle.dumps(
        {b"data": x.transpose(0, 3, 1, 2).reshape(len(x), -1), key: list(map(int, y))}, protocol=2
    )


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_binary_reader(tmp_path, name):
    data = synthetic(classes=100 if name == "cifar100" else 10)
    write(tmp_path, name, data)
    for got, expected in zip(load_cifar(name, tmp_path), data):
        np.testing.assert_array_equal(got, expected)


def test_python_archive_reader_and_preference_for_binary(tmp_path):
    x, y, xt, yt = synthetic()
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz") as tar:
        files = {
            f"data_batch_{i}": python_batch(x[i - 1 :: 5], y[i - 1 :: 5], b"labels")
            for i in range(1, 6)
        }
        files["test_batch"] = python_batch(xt, yt, b"labels")
        for name, raw in files.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    got = load_cifar("cifar10", tmp_path)
    order = np.concatenate([np.arange(i, 64, 5) for i in range(5)])
    np.testing.assert_array_equal(got[0], x[order])
    np.testing.assert_array_equal(got[1], y[order])
    np.testing.assert_array_equal(got[2], xt)
    # both present: the binary version is read
    write(tmp_path, "cifar10", synthetic(seed=1))
    np.testing.assert_array_equal(load_cifar("cifar10", tmp_path)[0], synthetic(seed=1)[0])


def test_a_crafted_pickle_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned",))

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(pickle.dumps({b"data": Evil(), b"labels": [0]}, protocol=2))
    with pytest.raises(DataError, match="refusing to unpickle"):
        load_cifar("cifar10", tmp_path)


def test_missing_data_names_what_was_looked_for(tmp_path):
    with pytest.raises(DataError, match="cifar-10-batches-bin/ or cifar-10-binary.tar.gz"):
        load_cifar("cifar10", tmp_path)


@pytest.mark.parametrize("arch", sorted(PAPER_PARAMS))
def test_parameter_counts_match_the_papers(arch):
    for classes in (10, 100):
        assert trainable_params(build(arch, classes)) == exact_params(arch, classes)
    count = exact_params(arch, 10)
    # the papers round to 0.01M / 0.1M
    assert abs(count - PAPER_PARAMS[arch]) / PAPER_PARAMS[arch] < 0.05
    assert build(arch, 100).output_shape == (None, 100)


def exact_params(arch: str, classes: int) -> int:
    """Trainable parameters counted from the papers' definitions (bias-free convolutions,
    BatchNorm's gamma and beta, a dense classifier): He et al. Sec. 4.2 (option A shortcuts have no
    parameters); Huang et al. Sec. 3 (DenseNet-BC: 1x1 bottlenecks of 4k maps, transitions
    compressing by 0.5)."""
    if arch.startswith("resnet"):
        n = {"resnet20": 3, "resnet32": 5, "resnet44": 7, "resnet56": 9}[arch]
        total, c = 9 * 3 * 16 + 2 * 16, 16
        for f in (16, 32, 64):
            for _ in range(n):
                total += 9 * c * f + 2 * f + 9 * f * f + 2 * f
                c = f
        return total + c * classes + classes
    k, bc = 12, arch == "densenet_bc100"
    per_block = 16 if bc else 12
    c = 2 * k if bc else 16
    total = 9 * 3 * c
    for block in range(3):
        for _ in range(per_block):
            if bc:
                total += 2 * c + c * 4 * k + 2 * 4 * k + 9 * 4 * k * k
            else:
                total += 2 * c + 9 * c * k
            c += k
        if block < 2:
            out = c // 2 if bc else c
            total += 2 * c + c * out
            c = out
    return total + 2 * c + c * classes + classes


def test_recipes_and_augmentation():
    r = recipe("resnet20")
    assert (r.epochs, r.batch_size, r.milestones) == (164, 128, (82, 123))
    assert [learning_rate(r, e) for e in (0, 81, 82, 123)] == pytest.approx([0.1, 0.1, 0.01, 0.001])
    d = recipe("densenet40", epochs=30)
    assert (d.batch_size, d.milestones, d.nesterov) == (64, (15, 22), True)
    x = np.arange(2 * 32 * 32 * 3, dtype=np.uint8).reshape(2, 32, 32, 3)
    out = augment(x, np.random.default_rng(0))
    assert out.shape == x.shape
    # every output row is a shifted (and maybe flipped) crop of the padded input
    for img, orig in zip(out, x):
        padded = np.pad(orig, ((4, 4), (4, 4), (0, 0)))
        assert any(
            (padded[dy : dy + 32, dx : dx + 32] == img).all()
            or (padded[dy : dy + 32, dx : dx + 32][:, ::-1] == img).all()
            for dy in range(9)
            for dx in range(9)
        )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("zoo")
    write(root / "data", "cifar10", synthetic())
    outs = []
    for seed in (0, 1):
        out = root / f"model{seed}"
        trainer = Trainer(
            "resnet20", "cifar10", seed, out=out, data_dir=root / "data", epochs=1, batch_size=32
        )
        trainer.run(quiet=True)
        outs.append(out)
    return root, outs


@pytest.mark.slow
def test_training_writes_results_and_resumes_from_its_checkpoint(trained, tmp_path):
    root, (out, _) = trained
    result = json.loads((out / "result.json").read_text())
    assert (
        result["recipe"]["epochs"] == 1
        and 0 <= result["test_error"] <= 1
        and np.isfinite(result["train_loss"])
    )
    with np.load(out / "checkpoint.npz") as data:
        assert int(data["epoch"]) == 1

    def trainer(out, epochs):
        return Trainer(
            "resnet20", "cifar10", 0, out=out, data_dir=root / "data", epochs=epochs, batch_size=32
        )

    # two epochs at once, and two epochs killed after the first and resumed: the same weights
    whole = trainer(tmp_path / "whole", 2)
    whole.run(quiet=True)
    killed = trainer(tmp_path / "killed", 2)
    saved = killed.save_checkpoint

    def kill_after_first_epoch():
        saved()
        raise KeyboardInterrupt

    killed.save_checkpoint = kill_after_first_epoch
    with pytest.raises(KeyboardInterrupt):
        killed.run(quiet=True)
    resumed = trainer(tmp_path / "killed", 2)
    assert resumed.restore() and resumed.epoch == 1 and len(resumed.history) == 1
    resumed.run(quiet=True)
    assert [h["epoch"] for h in resumed.history] == [1, 2]
    for a, b in zip(resumed.model.weights, whole.model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # a one-epoch run's checkpoint is not the first epoch of a two-epoch run (its learning-rate
    # schedule is another): refused, not extended
    with pytest.raises(ConfigError, match="holds the checkpoint of another training run"):
        trainer(out, 2).restore()


@pytest.mark.slow
def test_autoneb_between_two_trained_models(trained, tmp_path):
    from fla.zoo.connect import connect_models

    root, outs = trained
    config = tmp_path / "c.toml"
    config.write_text(
        "budget = 1\nmethods = ['autoneb', 'polychain']\n[autoneb]\nschedule = [[0.01, 3], [0.01, "
        "3]]\n"
        "[polychain]\nsteps = 3\n"
    )
    summary = connect_models(
        outs, tmp_path / "connect", config, data_dir=root / "data", examples=32, quiet=True
    )
    assert summary["paths"] == 2 and summary["pairs"] == 1
    table = pq.read_table(tmp_path / "connect" / "table1.parquet").to_pandas()
    assert list(table.kind) == ["minimum", "minimum", "saddle"]
    assert np.isfinite(
        table[["train_loss", "test_loss", "eig_min", "eig_max"]].to_numpy(float)
    ).all()
    assert (table.eig_min <= table.eig_max).all()
    path = pq.read_table(tmp_path / "connect" / "paths.parquet").to_pandas().iloc[0]
    assert path.saddle_loss >= max(path.point_losses[0], path.point_losses[-1]) - 1e-6
    assert summary["saddle_to_minimum_train_loss"] > 0
    # the second model's channels weight-matched to the first's: the same function, its straight
    # line from the first model, and each method again between the matched endpoints
    aligned = pq.read_table(tmp_path / "connect" / "alignment.parquet").to_pandas().iloc[0]
    assert bool(aligned.weight_matched_relabelled)
    assert aligned.weight_matched_distance < aligned.distance
    assert aligned.weight_matched_line_losses[-1] == pytest.approx(
        aligned.line_losses[-1], rel=1e-4
    )
    for method in ("autoneb", "polychain"):
        assert np.isfinite(aligned[f"weight_matched_{method}_barrier"])
    from analysis.report import write_report

    page = write_report(tmp_path / "connect").read_text()
    # disconnectivity graph, path profiles, profiles up to permutation, tree
    assert "Table 1" in page and page.count("<img") == 4
    assert "Barriers up to permutation" in page


@pytest.mark.slow
def test_the_gpu_recipe_mixed_precision_trains_on_the_cpu_too(trained, tmp_path):
    root, _ = trained
    trainer = Trainer(
        "resnet20",
        "cifar10",
        0,
        out=tmp_path / "mp",
        data_dir=root / "data",
        epochs=1,
        batch_size=32,
        mixed_precision=True,
    )
    assert (
        trainer.model.layers[1].compute_dtype == "float16"
        and trainer.model.layers[1].dtype == "float32"
    )
    result = trainer.run(quiet=True)
    assert result["mixed_precision"] and np.isfinite(result["train_loss"])
    import keras

    assert keras.mixed_precision.global_policy().name == "float32"
