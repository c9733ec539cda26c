"""``fla sharpness``: sharpness and flatness measures at the ends of a run's walks
(``fla.studies.sharpness``); ``fla spawn``: walks spawned from their own points and the barriers
between the copies' ends (``fla.studies.spawn``)."""

from __future__ import annotations


def add_sharpness_parser(commands) -> None:
    """The ``fla sharpness`` subcommand and its flags (its settings through ``fla.base.settings``).

    Args:
        commands: argparse's subparsers.
    """
    from fla.base.settings import add_flags
    from fla.studies.sharpness import SharpnessSettings

    p = commands.add_parser(
        "sharpness",
        help="sharpness and flatness measures at walk ends, beside their generalisation gaps",
        description="Measure each walk end of RUN_DIR (a sampling run or a study folder): "
        "Keskar et al.'s epsilon-sharpness, adaptive sharpness (Kwon et al.; Andriushchenko et "
        "al.), m-sharpness (Foret et al.), PAC-Bayes flatness (Jiang et al.) and the Hessian's "
        "largest eigenvalue, trace and Frobenius norm, with the loss and accuracy gaps and the "
        "steep/shallow gradient cluster of each point. Resumable: run again to go on.",
    )
    p.add_argument("run_dir")
    p.add_argument("--out", required=True, help="folder for sharpness.parquet and summary.csv")
    p.add_argument(
        "--settings",
        help="TOML file: measures, patterns, seed and sections [epsilon], [adaptive], [m], "
        "[pacbayes] of each measure's settings (their defaults: docs/sharpness.md); flags "
        "override it",
    )
    add_flags(p, SharpnessSettings)
    p.add_argument(
        "--data-dir", help="folder with data files (default $FLA_DATA, else ~/.cache/fla)"
    )
    p.add_argument("-q", "--quiet", action="store_true")


def run_sharpness(args) -> int:
    """Run ``fla sharpness``.

    Args:
        args: its parsed flags.

    Returns:
        The exit status, 0 (errors are raised and turned into statuses by ``fla.cli.main``).
    """
    from fla.base.settings import given
    from fla.studies.sharpness import SharpnessSettings, load_settings, measure_sharpness

    settings = load_settings(args.settings, **given(args, SharpnessSettings))
    measure_sharpness(args.run_dir, args.out, settings, data_dir=args.data_dir, quiet=args.quiet)
    return 0


def add_spawn_parser(commands) -> None:
    """The ``fla spawn`` subcommand and its flags (its settings through ``fla.base.settings``).

    Args:
        commands: argparse's subparsers.
    """
    from fla.base.settings import add_flags
    from fla.studies.spawn import SpawnSettings

    p = commands.add_parser(
        "spawn",
        help="copies of each walk spawned at step K, and the barriers between their ends",
        description="Walk each walk of RUN_DIR (one configuration of progressive gradient "
        "walks) again to its point after K steps, spawn copies there that walk on with fresh "
        "streams, and measure the loss and error barriers along the straight lines between the "
        "copies' ends (Frankle et al. 2020's instability analysis): the step from which the walks "
        "stay in one linearly connected basin.",
    )
    p.add_argument("run_dir")
    p.add_argument("--out", required=True, help="folder for spawn.parquet, summary.csv, spawn.json")
    p.add_argument("--settings", help="TOML file of the settings below (flags override it)")
    add_flags(p, SpawnSettings)
    p.add_argument(
        "--data-dir", help="folder with data files (default $FLA_DATA, else ~/.cache/fla)"
    )
    p.add_argument("-q", "--quiet", action="store_true")


def run_spawn(args) -> int:
    """Run ``fla spawn``.

    Args:
        args: its parsed flags.

    Returns:
        The exit status, 0 (errors are raised and turned into statuses by ``fla.cli.main``).
    """
    from fla.base.settings import given
    from fla.studies.spawn import SpawnSettings, load_settings, spawn

    settings = load_settings(args.settings, **given(args, SpawnSettings))
    spawn(args.run_dir, args.out, settings, data_dir=args.data_dir, quiet=args.quiet)
    return 0
