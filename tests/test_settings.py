"""The settings kit: one declaration gives the checks, the words of the errors and the flags, for
every settings file and method fla reads."""

import argparse
import dataclasses
import math
from dataclasses import dataclass

import pytest

from fla.base.errors import ConfigError
from fla.base.settings import (
    add_flags,
    boolean,
    build,
    choice,
    integer,
    list_of,
    number,
    read_toml,
    setting,
)


@dataclass(frozen=True)
class Example:
    count: int = setting(3, "how many", integer(at_least=1))
    rate: float = setting(0.5, "a share", number(at_least=0, below=1))
    size: float = setting(1.0, "a size", number(above=0))
    mode: str = setting("fast", "how", choice("fast", "slow"))
    verbose: bool = setting(False, "talk", boolean())
    sizes: tuple = setting((1, 2), "sizes", list_of(integer(at_least=1), "integers >= 1"))


def test_values_are_checked_and_named_as_the_caller_writes_them():
    assert build(Example, {"count": 5}).count == 5
    with pytest.raises(ConfigError, match=r"^f.toml: key 'count' must be an integer >= 1, got 0$"):
        build(Example, {"count": 0}, "f.toml: ", lambda name: f"key {name!r}")
    with pytest.raises(ConfigError, match=r"rate must be a finite number in \[0, 1\), got 1.0"):
        build(Example, {"rate": 1.0})
    with pytest.raises(ConfigError, match="mode must be one of fast, slow, got 'quick'"):
        build(Example, {"mode": "quick"})
    with pytest.raises(ConfigError, match="verbose must be true or false, got 1"):
        build(Example, {"verbose": 1})
    with pytest.raises(ConfigError, match="sizes must be a non-empty list of distinct integers"):
        build(Example, {"sizes": [2, 2]})
    with pytest.raises(ConfigError, match="count must be an integer >= 1, got True"):
        build(Example, {"count": True})  # a bool is no number


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, 1e400])
@pytest.mark.parametrize("key", ["rate", "size"])  # bounded on both sides, and only below
def test_non_finite_numbers_are_refused_everywhere(key, value):
    with pytest.raises(ConfigError, match="must be a finite number"):
        build(Example, {key: value})


def test_an_unknown_key_is_refused_listing_the_known_ones():
    with pytest.raises(
        ConfigError, match="^s: unknown key 'colour'; expected count, mode, rate, size"
    ):
        build(Example, {"colour": 1}, "s: ")


def test_flags_come_from_the_same_declaration():
    parser = argparse.ArgumentParser()
    add_flags(parser, Example)
    args = parser.parse_args(["--count", "4", "--mode", "slow", "--verbose"])
    assert (args.count, args.mode, args.verbose, args.rate) == (4, "slow", True, None)
    with pytest.raises(SystemExit):
        parser.parse_args(["--mode", "quick"])


def test_a_settings_file_that_is_missing_or_not_toml_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="study file .* not found"):
        read_toml(tmp_path / "none.toml", "study file")
    (tmp_path / "bad.toml").write_text("a = [")
    with pytest.raises(ConfigError, match="study file .* is not valid TOML"):
        read_toml(tmp_path / "bad.toml", "study file")


def settings_classes():
    from analysis.settings import PlotSettings, ReportSettings
    from fla.landscapes.study import LandscapeStudy
    from fla.metrics.tables import MetricsSettings
    from fla.paths.connect import ConnectFlags, ConnectSettings, Merge, Polish
    from fla.paths.methods import methods
    from fla.slices.slice import SliceSettings
    from fla.studies.sharpness import SECTIONS, SharpnessSettings
    from fla.studies.spawn import SpawnSettings
    from fla.studies.study import StudyFile
    from fla.studies.sweep import SweepSettings
    from fla.walks.config import SampleConfig
    from fla.zoo.train import TrainSettings

    return [
        SampleConfig,
        StudyFile,
        ConnectSettings,
        ConnectFlags,
        Polish,
        Merge,
        LandscapeStudy,
        ReportSettings,
        PlotSettings,
        MetricsSettings,
        SweepSettings,
        TrainSettings,
        SliceSettings,
        SharpnessSettings,
        *SECTIONS.values(),
        SpawnSettings,
        *methods().values(),
    ]


@pytest.mark.parametrize("cls", settings_classes(), ids=lambda c: c.__name__)
def test_every_setting_fla_reads_is_declared_with_the_kit(cls):
    for f in dataclasses.fields(cls):
        if f.init and f.default_factory is dataclasses.MISSING:  # not a section (its own class)
            assert {"help", "kind"} <= set(f.metadata), f"{cls.__name__}.{f.name}"
            assert f.metadata["kind"](f.default) or f.metadata["required"] or f.default is None, (
                f"{cls.__name__}.{f.name}'s default {f.default!r} fails its own check"
            )


@pytest.mark.parametrize("kind", ["connect", "landscape", "study"])
def test_fla_settings_prints_a_template_that_reads_back_as_the_defaults(kind, capsys, tmp_path):
    import tomllib

    from fla.cli import main

    assert main(["settings", kind]) == 0
    text = capsys.readouterr().out
    given = tomllib.loads(text)  # valid TOML, every key with its default
    if kind == "connect":
        from fla.paths.connect import load_settings

        path = tmp_path / "c.toml"
        path.write_text(text)
        defaults = load_settings()
        settings = load_settings(path)
        assert {k: settings[k] for k in defaults} == defaults
        assert set(given) >= {"polish", "merge", "autoneb", "neb", "bezier", "polychain"}
    elif kind == "landscape":
        from fla.landscapes.study import load_study

        path = tmp_path / "l.toml"
        path.write_text(text)
        assert load_study(path) == load_study(tmp_path / "l.toml")
        assert given["chains"] == 128 and given["hidden"] == [1, 2, 3]
    else:
        assert "problems" not in given and given["hessian"] == "auto"  # the grid is the user's
        assert "# problems =" in text and "# width =" not in text and "sampler =" not in text
        from fla.studies.study import load_study

        grid = 'problems = ["xor"]\nwidths = [1]\ndepths = [1]\ngranularities = ["macro"]\n'
        path = tmp_path / "s.toml"
        path.write_text(text + grid + "bounds = [1]\nseeds = [0]\n")
        assert len(load_study(path).configurations()) == 1  # the template is a valid study


# the command line's own plumbing: what to read, where to write, how loudly; all else is a setting
PLUMBING = {
    "run_dir",
    "source",
    "study",
    "models",
    "out",
    "data_dir",
    "quiet",
    "settings",
    "config",
}


def commands():
    from fla.cli import parser

    (sub,) = [a for a in parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return sub.choices


@pytest.mark.parametrize("name", sorted(commands()))
def test_every_flag_of_every_command_is_a_setting_declared_with_the_kit(name):
    """Each command's settings come from one declaration (help, type, check); only its inputs,
    output and verbosity are plain argparse."""
    plumbing = PLUMBING | ({"kind"} if name == "settings" else set())
    for action in commands()[name]._actions:
        if action.dest != "help" and action.dest not in plumbing:
            assert hasattr(action, "declared_by"), f"fla {name} {action.option_strings}"
            assert action.dest in {f.name for f in dataclasses.fields(action.declared_by)}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["report", "R", "--max-points", "0"], "--max-points must be an integer >= 1, got 0"),
        (["report", "R", "--l2", "-1"], "--l2 must be a finite number >= 0, got -1.0"),
        (
            ["plot", "lg", "R", "--out", "f.png", "--bound", "0"],
            "--bound must be a finite number > 0",
        ),
        (
            ["metrics", "R", "--neutrality-epsilon", "1"],
            "--neutrality-epsilon must be a finite number in [0, 1), got 1.0",
        ),
        (["sweep", "S", "--jobs", "0"], "--jobs must be an integer >= 1, got 0"),
        (["connect", "R", "--out", "o", "--l2", "-1e-3"], "--l2 must be a finite number >= 0"),
        (["connect", "--models", "a", "b", "--out", "o", "--examples", "0"], "--examples must"),
        (["train", "resnet20", "--dataset", "cifar10", "--out", "o", "--epochs", "0"], "--epochs"),
        (["train", "resnet20", "--dataset", "cifar10", "--out", "o", "--seed", "-1"], "--seed"),
        (["sharpness", "R", "--out", "o", "--measures", "epsilon,steep"], "measures of"),
    ],
    ids=lambda v: v[0] if isinstance(v, list) else None,
)
def test_a_bad_flag_is_refused_as_the_flag_is_written_before_any_work(
    argv, message, capsys, tmp_path, monkeypatch
):
    from fla.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written


def test_flags_show_list_defaults_as_they_are_written():
    parser = argparse.ArgumentParser()
    add_flags(parser, Example)
    (sizes,) = [a for a in parser._actions if a.dest == "sizes"]
    assert sizes.help == "sizes (default 1,2)"
