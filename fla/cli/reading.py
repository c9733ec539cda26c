"""``fla report``, ``fla plot`` and ``fla metrics``: the report, figures and landscape measures of
a run (drawn by ``analysis``)."""

from __future__ import annotations

import math

from fla.base.errors import ConfigError


def add_report_parser(commands) -> None:
    p = commands.add_parser(
        "report",
        help="write an HTML report (figures embedded) and CSV tables of a run",
        description="Reads every complete configuration under RUN_DIR and writes "
        "RUN_DIR/report.html and the tables as CSV in report_tables/ beside it.",
    )
    p.add_argument("run_dir")
    p.add_argument("--out", help="HTML file (default RUN_DIR/report.html)")
    p.add_argument("--max-points", type=int, default=20_000, help="points drawn per l-g panel")
    p.add_argument(
        "--l2",
        type=float,
        default=0.0,
        metavar="LAMBDA",
        help="verify attractors by quenching with the loss plus LAMBDA |theta|^2 (default 0)",
    )
    p.add_argument(
        "--data-dir", help="folder with data files (default $FLA_DATA, else ~/.cache/fla)"
    )
    add_partial_flag(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress, only the result")


def add_partial_flag(p) -> None:
    p.add_argument(
        "--partial",
        action="store_true",
        help="read a study that is not whole (a killed or unfinished sweep), labelling the output "
        "as partial; without it such a study is refused with what is missing",
    )


def check_l2(value: float, flag: str = "--l2") -> float:
    if not (math.isfinite(value) and value >= 0):
        raise ConfigError(f"{flag} must be a finite number >= 0, got {value}")
    return value


def existing_run_dir(path) -> None:
    """ConfigError at once (before any heavy import) if RUN_DIR is not a folder."""
    from pathlib import Path

    if not Path(path).is_dir():
        what = "is a file" if Path(path).exists() else "does not exist"
        raise ConfigError(f"RUN_DIR {path} {what}; give a folder that fla sample or sweep wrote")


def run_report(args) -> int:
    existing_run_dir(args.run_dir)
    from analysis.report import write_report
    from fla.studies.tasks import whole_study

    partial = whole_study(args.run_dir, args.partial)
    path = write_report(
        args.run_dir,
        args.out,
        args.max_points,
        l2=check_l2(args.l2),
        data_dir=args.data_dir,
        partial=partial,
        quiet=args.quiet,
    )
    if not args.quiet:
        print(f"report -> {path}")
    return 0


def add_plot_parser(commands) -> None:
    p = commands.add_parser("plot", help="draw one figure of a run (png, pdf or svg)")
    p.add_argument(
        "kind",
        choices=["lg", "curvature", "accuracy", "metrics", "slice"],
        help="lg: l-g clouds; curvature: curvature breakdown; accuracy: accuracy at the last step; "
        "metrics: each landscape measure against width and depth; slice: a folder of fla slice",
    )
    p.add_argument("run_dir")
    p.add_argument(
        "--out", required=True, help="figure file; its suffix (.png, .pdf, .svg) picks the format"
    )
    p.add_argument("--problem", help="lg: which problem (default the first)")
    p.add_argument(
        "--granularity",
        choices=["micro", "macro"],
        help="lg: which granularity (default the first)",
    )
    p.add_argument("--bound", type=float, help="lg: which initialisation range (default the first)")
    p.add_argument("--activation", help="lg: which hidden activation (default the first)")
    p.add_argument("--loss", help="lg: which loss, cross_entropy or mse (default the first)")
    p.add_argument(
        "--color",
        choices=["curvature", "test_loss"],
        default="curvature",
        help="lg: colour points by",
    )
    p.add_argument(
        "--rule",
        choices=["paper", "reduced"],
        default="paper",
        help="curvature: the paper's classes (any zero eigenvalue: flat) or the reduced "
        "Hessian's (the architecture's null directions set aside)",
    )
    p.add_argument(
        "--logx",
        action="store_true",
        help="lg: logarithmic loss axis (default: when the losses span more than two decades)",
    )
    p.add_argument(
        "--linear-y", action="store_true", help="lg: linear gradient-norm axis (default log)"
    )
    add_partial_flag(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no line on success")


def run_plot(args) -> int:
    from pathlib import Path

    from fla.base.outputs import claim_files
    from fla.studies.tasks import whole_study

    if Path(args.out).suffix.lower() not in (".png", ".pdf", ".svg"):
        raise ConfigError(f"--out must end in .png, .pdf or .svg, got {args.out}")
    existing_run_dir(args.run_dir)
    partial = whole_study(args.run_dir, args.partial)
    with claim_files([args.out], "fla plot", args.run_dir):
        draw_plot(args, partial)
    if not args.quiet:
        print(f"{args.kind} -> {args.out}" + (f" ({partial})" if partial else ""))
    return 0


def draw_plot(args, partial) -> None:
    from analysis.report import write_plot

    write_plot(
        args.kind,
        args.run_dir,
        args.out,
        problem=args.problem,
        granularity=args.granularity,
        bound=args.bound,
        color=args.color,
        logx=True if args.logx else None,
        logy=not args.linear_y,
        partial=partial,
        activation=args.activation,
        loss=args.loss,
        rule={"paper": "curvature", "reduced": "reduced_curvature"}[args.rule],
    )


def add_metrics_parser(commands) -> None:
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
    p.add_argument(
        "--per-walk",
        action="store_true",
        help="also write every walk's (or sample set's) value of every measure",
    )
    p.add_argument(
        "--neutrality-epsilon",
        type=float,
        default=1e-5,
        metavar="EPSILON",
        help="neutral structures: losses scaled to [0, 1] within EPSILON (default 1e-5; walks "
        "whose float32 losses do not resolve it are left out and counted)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no per-configuration lines")
    add_partial_flag(p)


def run_metrics(args) -> int:
    existing_run_dir(args.run_dir)
    from fla.metrics.tables import write_metrics
    from fla.studies.tasks import whole_study

    epsilon = args.neutrality_epsilon
    if not (math.isfinite(epsilon) and 0 <= epsilon < 1):
        raise ConfigError(f"--neutrality-epsilon must lie in [0, 1), got {epsilon}")
    partial = whole_study(args.run_dir, args.partial)
    write_metrics(
        args.run_dir,
        args.out,
        quiet=args.quiet,
        partial=partial,
        per_walk=args.per_walk,
        neutrality_epsilon=epsilon,
    )
    return 0
