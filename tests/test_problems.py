import gzip

import numpy as np
import pytest
from helpers import make_mnist

from fla.base.errors import ConfigError, DataError
from fla.core.readers import read_idx, write_idx
from fla.core.registry import load_problem


@pytest.mark.parametrize("gz", [True, False])
def test_idx_reader_round_trips(tmp_path, gz):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / ("a.idx.gz" if gz else "a.idx")
    write_idx(path, array)
    np.testing.assert_array_equal(read_idx(path), array)


def test_idx_reader_reads_big_endian_int32(tmp_path):
    values = np.array([1, -2, 70000], dtype=">i4")
    (tmp_path / "x").write_bytes(
        bytes([0, 0, 0x0C, 1]) + np.array([3], ">u4").tobytes() + values.tobytes()
    )
    np.testing.assert_array_equal(read_idx(tmp_path / "x"), [1, -2, 70000])


def test_idx_reader_refuses_bad_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    write_idx(tmp_path / "short", np.zeros((4, 5), np.uint8))
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-3])
    with pytest.raises(DataError, match="header says shape"):
        read_idx(tmp_path / "short")
    with gzip.open(tmp_path / "broken.gz", "wb") as f:
        f.write(b"\x00\x00\x08\x01")
    (tmp_path / "broken.gz").write_bytes((tmp_path / "broken.gz").read_bytes()[:-6])
    with pytest.raises(DataError, match="cannot read IDX"):
        read_idx(tmp_path / "broken.gz")


@pytest.mark.parametrize("gz, subfolder", [(True, ""), (False, "mnist")])
def test_mnist_from_data_dir_and_env(tmp_path, monkeypatch, gz, subfolder):
    arrays = make_mnist(tmp_path / subfolder, gz=gz)
    monkeypatch.setenv("FLA_DATA", str(tmp_path))
    for problem in (load_problem("mnist", tmp_path), load_problem("mnist")):
        assert problem.x_train.shape == (60, 784) and problem.x_test.shape == (20, 784)
        assert (
            problem.x_train.dtype == np.float32
            and 0 <= problem.x_train.min()
            and problem.x_train.max() <= 1
        )
        np.testing.assert_allclose(
            problem.x_train[3] * 255, arrays["train-images-idx3-ubyte"][3].ravel(), atol=1e-4
        )
        np.testing.assert_array_equal(problem.y_test, arrays["t10k-labels-idx1-ubyte"])
        assert (problem.n_inputs, problem.n_outputs, problem.kind, problem.batch_size) == (
            784,
            10,
            "multiclass",
            100,
        )


def test_missing_mnist_file_names_file_and_folders(tmp_path):
    make_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\[\.gz\].*looked in .*--data-dir"):
        load_problem("mnist", tmp_path)


def test_unknown_problem():
    with pytest.raises(
        ConfigError, match="unknown problem 'xorr'; choose one of: xor, mnist, fashion_mnist, iris"
    ):
        load_problem("xorr")


def test_xor_patterns():
    p = load_problem("xor")
    np.testing.assert_array_equal(p.y_train, [0, 1, 1, 0])
    assert p.x_test is None and p.batch_size is None and p.kind == "binary"
