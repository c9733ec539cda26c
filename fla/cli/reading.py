"""``fla report``, ``fla plot`` and ``fla metrics``: the report, figures and landscape measures of
a run (drawn by ``analysis``)."""

from __future__ import annotations

from fla.base.errors import ConfigError


def add_report_parser(commands) -> None:
    """The ``fla report`` subcommand and its flags (its settings through ``fla.base.settings``).

    Args:
        commands: argparse's subparsers.
    """
    from analysis.settings import ReportSettings
    from fla.base.settings import add_flags

    p = commands.add_parser(
        "report",
        help="write an HTML report (figures embedded) and CSV tables of a run",
        description="Reads every complete configuration under RUN_DIR and writes "
        "RUN_DIR/report.html and the tables as CSV in report_tables/ beside it.",
    )
    p.add_argument("run_dir")
    p.add_argument("--out", help="HTML file (default RUN_DIR/report.html)")
    add_flags(p, ReportSettings)
    p.add_argument(
        "--data-dir", help="folder with data files (default $FLA_DATA, else ~/.cache/fla)"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress, only the result")


def existing_run_dir(path) -> None:
    """Refuse at once (before any heavy import) a RUN_DIR that is not a folder.

    Args:
        path: the RUN_DIR given.

    Raises:
        ConfigError: naming whether it is a file or does not exist.
    """
    from pathlib import Path

    if not Path(path).is_dir():
        what = "is a file" if Path(path).exists() else "does not exist"
        raise ConfigError(f"RUN_DIR {path} {what}; give a folder that fla sample or sweep wrote")


def run_report(args) -> int:
    """Run ``fla report``.

    Args:
        args: its parsed flags.

    Returns:
        The exit status, 0 (errors are raised and turned into statuses by ``fla.cli.main``).
    """
    from analysis.settings import ReportSettings
    from fla.base.settings import from_flags

    settings = from_flags(args, ReportSettings)
    existing_run_dir(args.run_dir)
    from analysis.report import write_report
    from fla.studies.tasks import whole_study

    partial = whole_study(args.run_dir, settings.partial)
    path = write_report(
        args.run_dir,
        args.out,
        settings.max_points,
        l2=settings.l2,
        data_dir=args.data_dir,
        partial=partial,
        quiet=args.quiet,
    )
    if not args.quiet:
        print(f"report -> {path}")
    return 0


def add_plot_parser(commands) -> None:
    """The ``fla plot`` subcommand and its flags (its settings through ``fla.base.settings``).

    Args:
        commands: argparse's subparsers.
    """
    from analysis.settings import PlotSettings
    from fla.base.settings import add_flags

    p = commands.add_parser("plot", help="draw one figure of a run (png, pdf or svg)")
    add_flags(p, PlotSettings, positional=("kind",))
    p.add_argument("run_dir")
    p.add_argument(
        "--out", required=True, help="figure file; its suffix (.png, .pdf, .svg) picks the format"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no line on success")


def run_plot(args) -> int:
    """Run ``fla plot``.

    Args:
        args: its parsed flags.

    Returns:
        The exit status, 0 (errors are raised and turned into statuses by ``fla.cli.main``).
    """
    from pathlib import Path

    from analysis.settings import PlotSettings
    from fla.base.outputs import claim_files
    from fla.base.settings import from_flags
    from fla.studies.tasks import whole_study

    settings = from_flags(args, PlotSettings)
    if Path(args.out).suffix.lower() not in (".png", ".pdf", ".svg"):
        raise ConfigError(f"--out must end in .png, .pdf or .svg, got {args.out}")
    existing_run_dir(args.run_dir)
    partial = whole_study(args.run_dir, settings.partial)
    with claim_files([args.out], "fla plot", args.run_dir):
        from analysis.report import write_plot

        write_plot(
            settings.kind, args.run_dir, args.out, partial=partial, **settings.figure_options()
        )
    if not args.quiet:
        print(f"{settings.kind} -> {args.out}" + (f" ({partial})" if partial else ""))
    return 0


def add_metrics_parser(commands) -> None:
    """The ``fla metrics`` subcommand and its flags (its settings through ``fla.base.settings``).

    Args:
        commands: argparse's subparsers.
    """
    from fla.base.settings import add_flags
    from fla.metrics.tables import MetricsSettings

    p = commands.add_parser(
        "metrics",
        help="the landscape measures of every configuration of a run, as a long table",
        description="Per configuration and measure: mean, standard deviation and a bootstrap 95% "
        "interval over walks, the walks left out and why, written as NAME.parquet, NAME.csv and "
        "their manifest NAME.json (NAME: RUN_DIR/metrics for a study, RUN_DIR.metrics beside one "
        "configuration's folder); --per-walk adds NAME.walks.parquet.",
    )
    p.add_argument("run_dir")
    p.add_argument("--out", help="NAME of the tables (a .parquet suffix is dropped)")
    add_flags(p, MetricsSettings)
    p.add_argument("-q", "--quiet", action="store_true", help="no per-configuration lines")


def run_metrics(args) -> int:
    """Run ``fla metrics``.

    Args:
        args: its parsed flags.

    Returns:
        The exit status, 0 (errors are raised and turned into statuses by ``fla.cli.main``).
    """
    from fla.base.settings import from_flags
    from fla.metrics.tables import MetricsSettings, write_metrics
    from fla.studies.tasks import whole_study

    settings = from_flags(args, MetricsSettings)
    existing_run_dir(args.run_dir)

    partial = whole_study(args.run_dir, settings.partial)
    write_metrics(
        args.run_dir,
        args.out,
        quiet=args.quiet,
        partial=partial,
        per_walk=settings.per_walk,
        neutrality_epsilon=settings.neutrality_epsilon,
    )
    return 0
