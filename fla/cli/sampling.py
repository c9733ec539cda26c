"""``fla sample``, ``fla sweep``, ``fla problems`` and ``fla settings``: sampling one
configuration or a study, and what can be set."""

from __future__ import annotations


def add_sample_parser(commands) -> None:
    """The ``fla sample`` subcommand and its flags (its settings through ``fla.base.settings``).

    Args:
        commands: argparse's subparsers.
    """
    from fla.base.settings import add_flags
    from fla.walks.config import SampleConfig

    p = commands.add_parser(
        "sample",
        help="sample a loss surface with progressive gradient walks into Parquet",
        description="Progressive gradient walks (Bosman et al.) over one network configuration. "
        "Writes points.parquet (one row per sampled point), endpoints.parquet (each walk's final "
        "parameters) and run.json (the manifest: metadata, files and checksums) under --out.",
    )
    add_flags(p, SampleConfig, positional=("problem",))
    p.add_argument(
        "--data-dir", help="folder with data files (default $FLA_DATA, else ~/.cache/fla)"
    )
    p.add_argument("--out", required=True, help="output directory (new or empty)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")


def run_sample(args) -> int:
    """Run ``fla sample``.

    Args:
        args: its parsed flags.

    Returns:
        The exit status, 0 (errors are raised and turned into statuses by ``fla.cli.main``).
    """
    from fla.base.settings import given
    from fla.walks.sample import SampleConfig, sample

    config = SampleConfig(**given(args, SampleConfig))
    config.validate()  # before TensorFlow is imported: bad flags fail fast
    sample(config, args.out, data_dir=args.data_dir, quiet=args.quiet)
    return 0


def add_sweep_parser(commands) -> None:
    """The ``fla sweep`` subcommand and its flags (its settings through ``fla.base.settings``).

    Args:
        commands: argparse's subparsers.
    """
    from fla.base.settings import add_flags
    from fla.studies.sweep import SweepSettings

    p = commands.add_parser(
        "sweep",
        help="run a whole study (TOML) as a resumable batch job",
        description="Run every configuration of a study file (see runs/*.toml), each into its own "
        "directory under --out. Run again after an interruption to do only what is missing.",
    )
    p.add_argument("study", help="study file, e.g. runs/quick.toml")
    p.add_argument("--out", help="output directory (default runs/<study name>)")
    add_flags(p, SweepSettings)
    p.add_argument(
        "--data-dir", help="folder with data files (default $FLA_DATA, else ~/.cache/fla)"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")


def run_sweep(args) -> int:
    """Run ``fla sweep``.

    Args:
        args: its parsed flags.

    Returns:
        The exit status, 0 (errors are raised and turned into statuses by ``fla.cli.main``).
    """
    from fla.base.settings import given
    from fla.studies.sweep import SweepSettings, sweep

    # sweep checks its settings first thing, for Python callers as for the command line
    sweep(
        args.study, args.out, **given(args, SweepSettings), data_dir=args.data_dir, quiet=args.quiet
    )
    return 0


def add_problems_parser(commands) -> None:
    """The ``fla problems`` subcommand and its flags (its settings through ``fla.base.settings``).

    Args:
        commands: argparse's subparsers.
    """
    commands.add_parser(
        "problems", help="list the problems with their sizes, minimal widths and data sources"
    )


def run_problems(args) -> int:
    """Run ``fla problems``.

    Args:
        args: its parsed flags.

    Returns:
        The exit status, 0 (errors are raised and turned into statuses by ``fla.cli.main``).
    """
    from fla.core.registry import REGISTRY

    print(
        f"{'problem':14s} {'kind':10s} {'inputs':>6s} {'classes':>7s} {'h':>3s} {'batch':>5s}  data"
    )
    for spec in REGISTRY.values():
        batch = "full" if spec.batch_size is None else str(spec.batch_size)
        print(
            f"{spec.name:14s} {spec.kind:10s} {spec.n_inputs:6d} {spec.n_classes:7d} "
            f"{spec.minimal_width:3d} "
            f"{batch:>5s}  {spec.source}; {spec.citation}"
        )
    print(
        "csv:PATH       your own CSV or Parquet table: numeric features and a class column "
        "(--target, default "
        "the last); h = the number of classes"
    )
    return 0


def add_settings_parser(commands) -> None:
    """The ``fla settings`` subcommand and its flags (its settings through ``fla.base.settings``).

    Args:
        commands: argparse's subparsers.
    """
    p = commands.add_parser(
        "settings",
        help="print every setting of a settings file, with its default, help and accepted values",
    )
    p.add_argument("kind", choices=["study", "connect", "landscape"])


def run_settings(args) -> int:
    """Run ``fla settings``.

    Args:
        args: its parsed flags.

    Returns:
        The exit status, 0 (errors are raised and turned into statuses by ``fla.cli.main``).
    """
    import dataclasses

    from fla.base.settings import describe

    if args.kind == "study":
        from fla.studies.study import LISTED, StudyFile
        from fla.walks.config import GRID, SampleConfig

        own = set(GRID) | {f.name for f in dataclasses.fields(StudyFile)} | set(LISTED)
        scalar = describe(SampleConfig).splitlines()
        scalar = [line for line in scalar if line.lstrip("# ").split(" ")[0] not in own]
        text = describe(StudyFile) + "\n# every setting of fla sample, for every configuration:\n"
        print(text + "\n".join(scalar))
    elif args.kind == "connect":
        from fla.paths.connect import ConnectSettings, Merge, Polish
        from fla.paths.methods import methods

        parts = [describe(ConnectSettings), describe(Polish, "polish"), describe(Merge, "merge")]
        parts += [describe(cls, name) for name, cls in methods().items()]
        print("\n\n".join(parts))
    else:
        from fla.landscapes.study import LandscapeStudy

        print(describe(LandscapeStudy))
    return 0
