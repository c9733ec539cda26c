"""The ``fla`` command. TensorFlow is imported inside the subcommands that need it."""

from __future__ import annotations

import argparse
import math
import os
import sys

from fla import __version__
from fla.base import allocator, compile_cache
from fla.base.errors import ConfigError, FlaError, NonFiniteError


def add_sample_parser(commands) -> None:
    """One flag per setting of :class:`fla.walks.config.SampleConfig` (as study files take them)."""
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
    from fla.walks.config import settings
    from fla.walks.sample import SampleConfig, sample

    given = {f.name: getattr(args, f.name) for f in settings()}
    config = SampleConfig(**{k: v for k, v in given.items() if v is not None})
    config.validate()  # before TensorFlow is imported: bad flags fail fast
    sample(config, args.out, data_dir=args.data_dir, quiet=args.quiet)
    return 0


def add_sweep_parser(commands) -> None:
    p = commands.add_parser(
        "sweep",
        help="run a whole study (TOML) as a resumable batch job",
        description="Run every configuration of a study file (see runs/*.toml), each into its own "
        "directory under --out. Run again after an interruption to do only what is missing.",
    )
    p.add_argument("study", help="study file, e.g. runs/quick.toml")
    p.add_argument("--out", help="output directory (default runs/<study name>)")
    p.add_argument("--jobs", type=int, default=1, help="configurations run in parallel (default 1)")
    p.add_argument(
        "--backend",
        choices=["local", "dask"],
        default="local",
        help="local: joblib worker processes; dask: a dask.distributed cluster",
    )
    p.add_argument(
        "--scheduler", help="dask scheduler address (default: a local cluster of --jobs workers)"
    )
    p.add_argument(
        "--data-dir", help="folder with data files (default $FLA_DATA, else ~/.cache/fla)"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")


def run_sweep(args) -> int:
    from fla.studies.sweep import sweep

    sweep(
        args.study,
        args.out,
        jobs=args.jobs,
        backend=args.backend,
        scheduler=args.scheduler,
        data_dir=args.data_dir,
        quiet=args.quiet,
    )
    return 0


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


def check_l2(value: float, flag: str = "--l2") -> float:
    if not (math.isfinite(value) and value >= 0):
        raise ConfigError(f"{flag} must be a finite number >= 0, got {value}")
    return value


def run_report(args) -> int:
    from analysis.report import write_report

    path = write_report(args.run_dir, args.out, args.max_points, check_l2(args.l2), args.data_dir)
    print(f"report -> {path}")
    return 0


def add_plot_parser(commands) -> None:
    p = commands.add_parser("plot", help="draw one figure of a run (png, pdf or svg)")
    p.add_argument(
        "kind",
        choices=["lg", "curvature", "accuracy"],
        help="lg: l-g clouds; curvature: curvature breakdown; accuracy: accuracy at the last step",
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
    p.add_argument(
        "--color",
        choices=["curvature", "test_loss"],
        default="curvature",
        help="lg: colour points by",
    )
    p.add_argument("--logx", action="store_true", help="lg: logarithmic loss axis")
    p.add_argument(
        "--linear-y", action="store_true", help="lg: linear gradient-norm axis (default log)"
    )


def run_plot(args) -> int:
    from pathlib import Path

    from analysis.report import write_plot

    if Path(args.out).suffix.lower() not in (".png", ".pdf", ".svg"):
        raise ConfigError(f"--out must end in .png, .pdf or .svg, got {args.out}")
    write_plot(
        args.kind,
        args.run_dir,
        args.out,
        args.problem,
        args.granularity,
        args.bound,
        args.color,
        args.logx,
        not args.linear_y,
    )
    print(f"{args.kind} -> {args.out}")
    return 0


def add_connect_parser(commands) -> None:
    p = commands.add_parser(
        "connect",
        help="polish a run's walk endpoints into minima and connect them "
        "(AutoNEB, NEB, Bezier curves, PolyChains)",
        description="Reads one configuration's directory, polishes its walk endpoints into "
        "minima, merges duplicates and connects them with a path method (Draxler et al.'s "
        "landscape exploration, AutoNEB by default); further methods run on the same pairs. "
        "Writes minima, paths and tree as Parquet under --out.",
    )
    p.add_argument(
        "run_dir",
        nargs="?",
        help="one configuration's directory (with run.json and endpoints.parquet)",
    )
    p.add_argument(
        "--models",
        nargs="+",
        help="instead of RUN_DIR: trained CIFAR model directories (fla train)",
    )
    p.add_argument(
        "--examples",
        type=int,
        default=1024,
        help="--models: training images the path losses are taken on (default 1024)",
    )
    p.add_argument("--config", help="TOML settings (see fla/paths/connect.py; every key optional)")
    p.add_argument(
        "--l2",
        type=float,
        default=None,
        metavar="LAMBDA",
        help="add LAMBDA |theta|^2 to the loss (isolated minima; recorded in the outputs); "
        "overrides the "
        "config's l2 (default 0)",
    )
    p.add_argument(
        "--method",
        action="append",
        metavar="{autoneb,neb,bezier,polychain}",
        help="path method; repeat to compare several on the same pairs (the first explores); "
        "overrides the config's methods (default autoneb)",
    )
    p.add_argument(
        "--data-dir", help="folder with data files (default $FLA_DATA, else ~/.cache/fla)"
    )
    p.add_argument(
        "--out", required=True, help="output directory (inside RUN_DIR to have fla report show it)"
    )
    p.add_argument("-q", "--quiet", action="store_true")


def run_connect(args) -> int:
    from fla.paths.connect import connect
    from fla.zoo.connect import connect_models

    if args.models:
        connect_models(
            args.models,
            args.out,
            args.config,
            args.data_dir,
            args.examples,
            args.quiet,
            args.method,
        )
    elif args.run_dir:
        l2 = None if args.l2 is None else check_l2(args.l2)
        connect(
            args.run_dir,
            args.out,
            args.config,
            data_dir=args.data_dir,
            quiet=args.quiet,
            methods=args.method,
            l2=l2,
        )
    else:
        raise ConfigError("give a RUN_DIR or --models DIR DIR ...")
    return 0


def add_train_parser(commands) -> None:
    p = commands.add_parser(
        "train",
        help="train a CIFAR ResNet or DenseNet with the published recipe",
        description="Trains with SGD and momentum, the step schedule and crop/flip "
        "augmentation of He et al. (ResNets) or Huang et al. (DenseNets); checkpoints "
        "every epoch and resumes a killed run from --out.",
    )
    p.add_argument(
        "arch",
        help="resnet20, resnet32, resnet44, resnet56, densenet40, densenet_bc100 (see fla models)",
    )
    p.add_argument("--dataset", choices=["cifar10", "cifar100"], required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--epochs", type=int, help="override the recipe's epochs (milestones scale with it)"
    )
    p.add_argument("--batch-size", type=int, help="override the recipe's batch size")
    p.add_argument(
        "--limit", type=int, help="use only the first N images of each split (smoke runs)"
    )
    p.add_argument(
        "--data-dir", help="folder with the CIFAR archives (default $FLA_DATA, else ~/.cache/fla)"
    )
    p.add_argument("--out", required=True)
    p.add_argument("-q", "--quiet", action="store_true")


def run_train(args) -> int:
    from fla.zoo.train import train

    result = train(
        args.arch,
        args.dataset,
        args.seed,
        args.out,
        args.data_dir,
        args.epochs,
        args.batch_size,
        args.limit,
        args.quiet,
    )
    print(
        f"{args.arch} on {args.dataset}: train loss {result['train_loss']:.4f}, error "
        f"{result['train_error']:.2%}; "
        f"test loss {result['test_loss']:.4f}, error {result['test_error']:.2%} -> {args.out}"
    )
    return 0


def add_models_parser(commands) -> None:
    commands.add_parser("models", help="list the CIFAR architectures with their parameter counts")


def run_models(args) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from fla.zoo.models import ARCHITECTURES, PAPER_PARAMS, build, trainable_params

    print(f"{'architecture':16s} {'CIFAR-10':>10s} {'CIFAR-100':>10s} {'paper':>8s}")
    for arch in ARCHITECTURES:
        counts = [trainable_params(build(arch, classes)) for classes in (10, 100)]
        print(f"{arch:16s} {counts[0]:10,d} {counts[1]:10,d} {PAPER_PARAMS[arch] / 1e6:7.2f}M")
    return 0


def add_problems_parser(commands) -> None:
    commands.add_parser(
        "problems", help="list the problems with their sizes, minimal widths and data sources"
    )


def run_problems(args) -> int:
    from fla.core.problems import REGISTRY

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


def add_landscape_parser(commands) -> None:
    p = commands.add_parser(
        "landscape",
        help="minima, transition states and disconnectivity graphs of 2-N_h-2 tanh "
        "XOR networks (Mehta et al. 2018)",
        description="Basin-hopping minima, climbing-image NEB plus eigenvector-following "
        "transition states and their databases, over the N_h and lambda of a study file "
        "(see fla/landscapes/study.py); resumable. fla report DIR draws them.",
    )
    p.add_argument(
        "study",
        help="study TOML file (keys: hidden, l2, chains, steps, step, temperature, bound, "
        "budget, gtol, seed)",
    )
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("-q", "--quiet", action="store_true")


def run_landscape(args) -> int:
    from fla.landscapes.study import run_study

    run_study(args.study, args.out, args.quiet)
    return 0


COMMANDS = {
    "sample": (add_sample_parser, run_sample),
    "sweep": (add_sweep_parser, run_sweep),
    "connect": (add_connect_parser, run_connect),
    "train": (add_train_parser, run_train),
    "models": (add_models_parser, run_models),
    "problems": (add_problems_parser, run_problems),
    "report": (add_report_parser, run_report),
    "plot": (add_plot_parser, run_plot),
    "landscape": (add_landscape_parser, run_landscape),
}

# no XLA program: no compile cache and its write probe
COMPILE_NOTHING = (
    "models",
    "problems",
    "plot",
)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fla",
        description="Loss-surface analysis of neural networks: "
        "progressive gradient walks, Hessian spectra, Parquet records.",
    )
    p.add_argument("--version", action="version", version=f"fla {__version__}")
    commands = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add, _ in COMMANDS.values():
        add(commands)
    return p


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    args = parser().parse_args(argv)
    try:
        if args.command not in COMPILE_NOTHING:
            allocator.keep_freed_buffers()
            compile_cache.enable()
        return COMMANDS[args.command][1](args)
    except NonFiniteError as exc:
        print(f"fla {args.command}: non-finite results: {exc}", file=sys.stderr)
        return 3
    except (FlaError, FileNotFoundError) as exc:
        print(f"fla {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print(
            f"fla {args.command}: error: out of memory beyond fla's estimate; use fewer walks "
            f"(--walks), a "
            "smaller network, or --hessian lanczos/none",
            file=sys.stderr,
        )
        return 2
    # disk full, file too large, permissions, I/O errors: one line, not a traceback
    except OSError as exc:
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(
            f"fla {args.command}: error: {exc.strerror or exc}{where}; nothing unfinished was kept",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print(
            f"fla {args.command}: interrupted; finished work is kept, unfinished work removed",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
