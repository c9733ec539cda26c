"""The integrity of what fla reads and writes, driven through the command line: data provenance
(checksums of the data as stored), one writer per folder, folders that are links, whole or
partial studies, outputs verified on read, inputs checked for meaning. Each case: its exit
status, one line naming the real cause, what is left on disk."""

import fcntl
import gzip
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from helpers import TINY, XOR, damage, make_mnist, one_line, run

from fla.base.files import LOCK
from fla.core.readers import write_idx


def csv_problem(path, rows=40, seed=0, scale=1.0, classes=2):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, 3)) * scale, columns=["a", "b", "c"])
    frame["class"] = np.arange(rows) % classes
    frame.to_csv(path, index=False)
    return path


def study_of(tmp_path, text, name="s.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.slow  # 12 s: three sweeps
def test_a_resumed_sweep_redoes_the_configurations_whose_data_changed(tmp_path, capsys):
    """Provenance: every manifest records the size and SHA-256 of the files its run read; a resume
    redoes a configuration whose data changed; the report lists the data of each."""
    data = csv_problem(tmp_path / "data.csv")
    study = study_of(
        tmp_path,
        TINY.replace('problems = ["xor"]', f'problems = ["csv:{data}"]').replace(
            "bounds = [1]", "bounds = [1, 2]"
        ),
    )
    out = tmp_path / "out"
    assert run(["sweep", study, "--out", out, "-q"], capsys)[0] == 0
    folders = sorted(p for p in out.iterdir() if p.is_dir())
    inputs = json.loads((folders[0] / "run.json").read_text())["problem"]["inputs"]
    assert inputs[0]["file"] == str(data.resolve()) and len(inputs[0]["sha256"]) == 64
    shutil.rmtree(folders[1])
    csv_problem(data, seed=1)  # the data rewritten before the resume
    from fla.studies.sweep import sweep

    summary = sweep(study, out, quiet=True)
    assert summary["ran"] == 2 and summary["skipped"] == 0  # both rest on the new data
    for folder in folders:
        recorded = json.loads((folder / "run.json").read_text())["problem"]["inputs"]
        assert recorded[0]["sha256"] != inputs[0]["sha256"]
    assert run(["report", out], capsys)[0] == 0
    tables = out / "report_tables"
    listed = pd.read_csv(next(tables.glob("*_the_data_each_configuration_read*.csv")))
    assert set(listed.sha256) == {recorded[0]["sha256"][:16]} and len(listed) == 2
    manifest = json.loads((folders[0] / "run.json").read_text())
    del manifest["problem"]["inputs"]  # as an older fla wrote it: one row saying so
    (folders[0] / "run.json").write_text(json.dumps(manifest))
    assert run(["report", out], capsys)[0] == 0
    listed = pd.read_csv(next(tables.glob("*_the_data_each_configuration_read*.csv")))
    assert len(listed) == 2 and listed.file.str.startswith("(not recorded").sum() == 1


def test_two_writers_never_share_a_folder(tmp_path, capsys):
    """A folder another fla process is writing is refused, and so is a folder inside a study that a
    running sweep writes; the other writer's files stay as they were."""
    out = tmp_path / "out"
    out.mkdir()
    (out / ".points.parquet.1.tmp").write_bytes(b"x")  # the live writer's file
    with open(out / LOCK, "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("pid 1 on elsewhere\n")
        held.flush()
        status, err = run(XOR + ["--walks", "4", "--steps", "3", "--out", out, "-q"], capsys)
        assert status == 2 and "being written by another fla process" in err and one_line(err)
        status, err = run(
            XOR + ["--walks", "4", "--steps", "3", "--out", out / "xor_w2_d1", "-q"], capsys
        )
        assert status == 2 and "which another fla process is writing" in err and one_line(err)
    assert sorted(p.name for p in out.iterdir()) == sorted([".points.parquet.1.tmp", LOCK])
    # the lock a killed process leaves holds no one: the next run goes ahead and removes it
    (out / ".points.parquet.1.tmp").unlink()
    assert run(XOR + ["--walks", "4", "--steps", "3", "--out", out, "-q"], capsys)[0] == 0
    assert not (out / LOCK).exists() and (out / "run.json").is_file()


def resume_refused_through_a_link(folder, outside, study, capsys) -> None:
    """Move a finished folder of a sweep elsewhere, unfinished (its manifest gone), with a link in
    its place: resuming the sweep is refused in one line and nothing is written through."""
    out = next(p for p in folder.parents if (p / "study.json").is_file())
    folder.rename(outside)
    (outside / "run.json").unlink()  # incomplete: a resume would redo it
    folder.symlink_to(outside)
    kept = sorted(p.name for p in outside.iterdir())
    status, err = run(["sweep", study, "--out", out, "-q"], capsys)
    assert status == 2 and "is a link" in err and one_line(err)
    assert sorted(p.name for p in outside.iterdir()) == kept


def test_a_configuration_folder_that_is_a_link_is_never_written_through(tmp_path, capsys):
    study = study_of(tmp_path, TINY)
    out = tmp_path / "out"
    assert run(["sweep", study, "--out", out, "-q"], capsys)[0] == 0
    folder = next(p for p in out.iterdir() if p.is_dir())
    resume_refused_through_a_link(folder, tmp_path / "elsewhere", study, capsys)
    (tmp_path / "empty").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "empty")
    status, err = run(XOR + ["--out", tmp_path / "link", "-q"], capsys)
    assert status == 2 and "is a link" in err and one_line(err)
    assert not list((tmp_path / "empty").iterdir())


def test_a_shard_folder_that_is_a_link_is_never_written_through(tmp_path, capsys):
    """A link deeper than the study's own entries (a configuration's shard): the sweep's task
    planning refuses it, not only the output folder's check of its top level."""
    tiny = TINY.replace("walks = 6", "walks = 1100").replace("steps = 4", "steps = 2")
    study = study_of(tmp_path, tiny + "shard_walks = 1024\n")
    out = tmp_path / "out"
    assert run(["sweep", study, "--out", out, "-q"], capsys)[0] == 0
    shard = sorted(out.glob("*/walks_1024-1100"))[0]
    resume_refused_through_a_link(shard, tmp_path / "elsewhere", study, capsys)


def test_a_partial_study_is_refused_or_labelled_and_a_copy_is_counted_once(tmp_path, capsys):
    study = study_of(tmp_path, TINY.replace("bounds = [1]", "bounds = [1, 2]"))
    out = tmp_path / "out"
    assert run(["sweep", study, "--out", out, "-q"], capsys)[0] == 0
    first, second = sorted(p for p in out.iterdir() if p.is_dir())
    shutil.copytree(first, out / "backup" / first.name)  # a copy: counted once
    shutil.copytree(first, out / "copy-of-first")
    assert run(["report", out], capsys)[0] == 0
    configs = pd.read_csv(
        next((out / "report_tables").glob("*_points_per_configuration_and_seed.csv"))
    )
    assert len(configs) == 2 and (configs["count"] == 6 * 4).all()
    shutil.rmtree(second)  # a killed sweep's study: one configuration missing
    for command in (["report", out], ["metrics", out, "-q"]):
        status, err = run(command, capsys)
        assert status == 2 and "holds 1 of its study's 2 tasks" in err and one_line(err)
        assert second.name in err and "--partial" in err
    status, err = run(["plot", "accuracy", out, "--out", tmp_path / "a.png"], capsys)
    assert status == 2 and "--partial" in err
    assert run(["report", out, "--partial"], capsys)[0] == 0
    assert "PARTIAL: 1 OF 2 TASKS" in (out / "report.html").read_text()
    # a copy whose points differ is two results claiming one configuration: named
    shutil.copytree(first, out / "other")
    damage(out / "other" / "points.parquet", "altered")
    manifest = json.loads((out / "other" / "run.json").read_text())
    manifest["files"]["points.parquet"] = {"bytes": 0, "sha256": "0" * 64}
    status, err = run(["report", out, "--partial"], capsys)
    assert status == 2 and "other" in err and one_line(err)


def connected(tmp_path, capsys):
    study = study_of(tmp_path, TINY)
    out = tmp_path / "out"
    assert run(["sweep", study, "--out", out, "-q"], capsys)[0] == 0
    folder = next(p for p in out.iterdir() if p.is_dir())
    (tmp_path / "c.toml").write_text("budget = 0\nmax_minima = 2\n[polish]\nmax_iter = 200\n")
    argv = ["connect", folder, "--config", tmp_path / "c.toml", "--l2", "0.01", "-q"]
    status, err = run(argv + ["--out", folder / "connect"], capsys)
    assert status == 2 and "which this command reads" in err and one_line(err)
    assert run(argv + ["--out", out / "connect"], capsys)[0] == 0
    return out


@pytest.mark.parametrize("how", ["truncated", "altered"])
def test_connection_outputs_are_verified_on_read(tmp_path, capsys, how):
    out = connected(tmp_path, capsys)
    files = json.loads((out / "connect" / "connect.json").read_text())["files"]
    assert set(files) >= {"minima.parquet", "paths.parquet", "tree.parquet"}
    assert run(["report", out], capsys)[0] == 0
    damage(out / "connect" / "minima.parquet", how)
    status, err = run(["report", out], capsys)
    assert status == 2 and "minima.parquet" in err and "fla connect again" in err
    assert one_line(err)


def test_outputs_never_land_on_inputs_and_each_report_has_its_tables(tmp_path, capsys):
    study = study_of(tmp_path, TINY)
    out = tmp_path / "out"
    assert run(["sweep", study, "--out", out, "-q"], capsys)[0] == 0
    points = next(out.glob("*/points.parquet"))
    before = points.read_bytes()
    status, err = run(["report", out, "--out", points], capsys)
    assert status == 2 and "would overwrite points.parquet, an input" in err and one_line(err)
    assert points.read_bytes() == before
    for name in ("a", "b"):
        assert run(["report", out, "--out", tmp_path / f"{name}.html"], capsys)[0] == 0
    assert (tmp_path / "a_tables").is_dir() and (tmp_path / "b_tables").is_dir()
    from fla.base.store import verify_files

    manifest = json.loads((tmp_path / "a_tables" / "tables.json").read_text())
    assert manifest["files"] and verify_files(tmp_path / "a_tables", manifest["files"]) is None


def write_csv(path, frame):
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda p: csv_problem(p, scale=1e300),
            "holds values too large to standardise",
        ),
        (
            lambda p: write_csv(
                p, pd.DataFrame({"a": 1e20 + np.arange(30) * 1e3, "class": np.arange(30) % 2})
            ),
            "varies only in its last digits",
        ),
        (
            lambda p: write_csv(
                p, pd.DataFrame({"a": np.arange(40.0), "target": np.linspace(0, 1, 40)})
            ),
            "classes of 'target' (e.g. 0.0, 1 pattern(s)) get no test pattern",
        ),
    ],
    ids=["overflow", "lost-digits", "one-pattern-classes"],
)
def test_data_whose_preprocessing_means_nothing_is_refused(tmp_path, capsys, make, message):
    path = make(tmp_path / "d.csv")
    argv = ["sample", f"csv:{path}", "--width", "2", "--depth", "1", "--granularity", "macro"]
    status, err = run(argv + ["--bound", "1", "--out", tmp_path / "out", "-q"], capsys)
    assert status == 2 and message in err and one_line(err), err
    assert not (tmp_path / "out").exists()


def idx_of_type(folder, kind):
    arrays = make_mnist(folder, n_train=20, n_test=10, gz=False)
    path = folder / "train-images-idx3-ubyte"
    if kind == "int16":
        images = arrays["train-images-idx3-ubyte"].astype(">i2")
        header = bytes([0, 0, 0x0B, 3]) + np.array(images.shape, ">u4").tobytes()
        path.write_bytes(header + images.tobytes())
    elif kind == "nan-floats":
        images = np.full((20, 28, 28), np.nan, ">f4")
        header = bytes([0, 0, 0x0D, 3]) + np.array(images.shape, ">u4").tobytes()
        path.write_bytes(header + images.tobytes())
    else:  # no patterns
        write_idx(path, np.zeros((0, 28, 28), np.uint8))
        write_idx(folder / "train-labels-idx1-ubyte", np.zeros(0, np.uint8))


@pytest.mark.parametrize(
    "kind, message",
    [
        ("int16", "stored as int16, not unsigned bytes"),
        ("nan-floats", "stored as float32, not unsigned bytes"),
        ("empty", "hold no patterns"),
    ],
)
def test_image_files_of_other_types_or_none_are_refused(tmp_path, capsys, kind, message):
    idx_of_type(tmp_path / "mnist", kind)
    argv = ["sample", "mnist", "--width", "2", "--depth", "1", "--granularity", "macro"]
    argv += ["--bound", "1", "--data-dir", tmp_path / "mnist", "--out", tmp_path / "out", "-q"]
    status, err = run(argv, capsys)
    assert status == 2 and message in err and one_line(err), err
    assert "--bound" not in err and not (tmp_path / "out").exists()


def test_resources_are_estimated_before_the_work(tmp_path, capsys, monkeypatch):
    status, err = run(XOR + ["--walks", "1000000000000", "--out", tmp_path / "out", "-q"], capsys)
    assert status == 2 and "would write at least" in err and one_line(err)
    assert not (tmp_path / "out").exists()
    monkeypatch.setenv("FLA_MEMORY_BYTES", "abc")
    status, err = run(XOR + ["--out", tmp_path / "out", "-q"], capsys)
    assert status == 2 and "FLA_MEMORY_BYTES must be a number of bytes" in err and one_line(err)
    monkeypatch.delenv("FLA_MEMORY_BYTES")
    (tmp_path / "l.toml").write_text("hidden = [2]\nl2 = [0.1]\nchains = 1000000000\n")
    status, err = run(["landscape", tmp_path / "l.toml", "--out", tmp_path / "land"], capsys)
    assert status == 2 and "basin-hopping 1,000,000,000 chains" in err and one_line(err)
    assert "--walks" not in err


@pytest.mark.parametrize(
    "text", ["gtol = inf", "l2 = [inf]", "bound = inf", "step = inf", "temperature = nan"]
)
def test_non_finite_landscape_settings_are_one_line(tmp_path, capsys, text):
    (tmp_path / "l.toml").write_text(f"hidden = [1]\n{text}\n")
    status, err = run(["landscape", tmp_path / "l.toml", "--out", tmp_path / "land"], capsys)
    assert status == 2 and "finite" in err and one_line(err), err


def test_plot_names_what_the_run_holds(tmp_path, capsys):
    study = study_of(tmp_path, TINY)
    out = tmp_path / "out"
    assert run(["sweep", study, "--out", out, "-q"], capsys)[0] == 0
    status, err = run(["plot", "lg", out, "--bound", "77", "--out", tmp_path / "f.png"], capsys)
    assert status == 2 and "--bound 77 is not in this run; it holds bound 1" in err
    assert one_line(err) and not (tmp_path / "f.png").exists()
    status, err = run(["plot", "lg", out, "--loss", "mse", "--out", tmp_path / "f.png"], capsys)
    assert status == 2 and "--loss mse is not in this run; it holds loss cross_entropy" in err
    assert (
        run(["plot", "lg", out, "--activation", "elu", "--out", tmp_path / "f.png"], capsys)[0] == 0
    )


def test_a_manifest_without_endpoints_is_named_not_hidden(tmp_path, capsys):
    study = study_of(tmp_path, TINY.replace("bounds = [1]", "bounds = [1, 2]"))
    out = tmp_path / "out"
    assert run(["sweep", study, "--out", out, "-q"], capsys)[0] == 0
    folder = sorted(p for p in out.iterdir() if p.is_dir())[0]
    manifest = json.loads((folder / "run.json").read_text())
    del manifest["files"]["endpoints.parquet"]
    (folder / "run.json").write_text(json.dumps(manifest))
    status, err = run(["report", out, "--partial"], capsys)
    assert status == 2 and folder.name in err and "lists no endpoints.parquet" in err
    assert one_line(err)


def test_a_gzip_data_file_is_checksummed_as_stored(tmp_path, capsys):
    """Provenance of compressed data: the checksum is of the file's bytes, so a recompression is a
    change (the run is redone), which is what a manifest can promise."""
    from fla.core.registry import input_provenance

    make_mnist(tmp_path / "m", n_train=20, n_test=10, gz=True)
    first = input_provenance("mnist", tmp_path / "m")
    path = tmp_path / "m" / "t10k-labels-idx1-ubyte.gz"
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw, compresslevel=1, mtime=1))
    second = input_provenance("mnist", tmp_path / "m")
    assert [r["sha256"] for r in first][:3] == [r["sha256"] for r in second][:3]
    assert first[3]["sha256"] != second[3]["sha256"] and len(first) == 4


@pytest.mark.slow  # four processes
def test_a_compile_cache_entry_that_is_no_program_is_named_and_removed(tmp_path):
    """Entries whose bytes match their checksum but are no program (written damaged): those not
    even in a cache entry's wire form are never handed to TensorFlow (compiled anew, replaced);
    one in that form whose contents TensorFlow cannot parse is named in one line and removed, and
    the next run compiles anew."""
    import hashlib
    import os
    import subprocess
    import sys

    from fla.base.compile_cache import well_formed

    env = {**os.environ, "FLA_COMPILE_CACHE": str(tmp_path / "cache")}

    def sample(out):
        argv = XOR + ["--walks", "4", "--steps", "3", "--out", str(tmp_path / out), "-q"]
        return subprocess.run(
            [sys.executable, "-m", "fla.cli", *argv], env=env, capture_output=True, text=True
        )

    def damage(data):
        for entry in entries:
            entry.write_bytes(data)
            entry.with_name(entry.name + ".sha256").write_text(hashlib.sha256(data).hexdigest())

    assert sample("a").returncode == 0
    entries = list((tmp_path / "cache").glob("*/*.pb"))
    assert entries and all(well_formed(e.read_bytes()) for e in entries)
    garbage = np.random.default_rng(0).bytes(2000)
    damage(garbage)
    assert not well_formed(garbage) and sample("b").returncode == 0
    assert all(well_formed(e.read_bytes()) for e in entries)  # compiled anew, published
    shell = b"".join(bytes([8 * field + 2, 100]) + garbage[:100] for field in (1, 2, 3))
    damage(shell)
    assert well_formed(shell)
    done = sample("c")
    err = [line for line in done.stderr.splitlines() if line.startswith("fla ")]
    assert done.returncode == 2 and len(err) == 1 and "is not a valid program" in err[0]
    assert "Traceback" not in done.stderr and not (tmp_path / "c").exists()
    for _ in entries:  # one damaged entry named and removed a run
        done = sample("c")
        if done.returncode == 0:
            break
        assert "is not a valid program" in done.stderr
    assert done.returncode == 0
