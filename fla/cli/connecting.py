"""``fla connect``, ``fla train``, ``fla models`` and ``fla landscape``: minima, the paths between
them, the CIFAR zoo and the energy landscapes of small networks."""

from __future__ import annotations

import os

from fla.base.errors import ConfigError


def add_connect_parser(commands) -> None:
    """The ``fla connect`` subcommand and its flags (its settings through ``fla.base.settings``).

    Args:
        commands: argparse's subparsers.
    """
    from fla.base.settings import add_flags
    from fla.paths.connect import ConnectFlags

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
    p.add_argument("--config", help="TOML settings (see fla/paths/connect.py; every key optional)")
    add_flags(p, ConnectFlags)
    p.add_argument(
        "--data-dir", help="folder with data files (default $FLA_DATA, else ~/.cache/fla)"
    )
    p.add_argument(
        "--out", required=True, help="output directory (inside RUN_DIR to have fla report show it)"
    )
    p.add_argument("-q", "--quiet", action="store_true")


def run_connect(args) -> int:
    """Run ``fla connect``.

    Args:
        args: its parsed flags.

    Returns:
        The exit status, 0 (errors are raised and turned into statuses by ``fla.cli.main``).
    """
    from fla.base.settings import from_flags
    from fla.paths.connect import ConnectFlags, connect
    from fla.zoo.connect import connect_models

    flags = from_flags(args, ConnectFlags)
    if args.models:
        connect_models(
            args.models,
            args.out,
            args.config,
            data_dir=args.data_dir,
            examples=flags.examples,
            quiet=args.quiet,
            methods=flags.method,
        )
    elif args.run_dir:
        connect(
            args.run_dir,
            args.out,
            args.config,
            data_dir=args.data_dir,
            quiet=args.quiet,
            methods=flags.method,
            l2=flags.l2,
        )
    else:
        raise ConfigError("give a RUN_DIR or --models DIR DIR ...")
    return 0


def add_train_parser(commands) -> None:
    """The ``fla train`` subcommand and its flags (its settings through ``fla.base.settings``).

    Args:
        commands: argparse's subparsers.
    """
    from fla.base.settings import add_flags
    from fla.zoo.train import TrainSettings

    p = commands.add_parser(
        "train",
        help="train a CIFAR ResNet or DenseNet with the published recipe",
        description="Trains with SGD and momentum, the step schedule and crop/flip "
        "augmentation of He et al. (ResNets) or Huang et al. (DenseNets); checkpoints "
        "every epoch and resumes a killed run from --out.",
    )
    add_flags(p, TrainSettings, positional=("arch",))
    p.add_argument(
        "--data-dir", help="folder with the CIFAR archives (default $FLA_DATA, else ~/.cache/fla)"
    )
    p.add_argument("--out", required=True)
    p.add_argument("-q", "--quiet", action="store_true")


def run_train(args) -> int:
    """Run ``fla train``.

    Args:
        args: its parsed flags.

    Returns:
        The exit status, 0 (errors are raised and turned into statuses by ``fla.cli.main``).
    """
    from fla.base.settings import from_flags
    from fla.zoo.train import TrainSettings, train

    settings = from_flags(args, TrainSettings)
    result = train(settings, out=args.out, data_dir=args.data_dir, quiet=args.quiet)
    print(
        f"{settings.arch} on {settings.dataset}: train loss {result['train_loss']:.4f}, error "
        f"{result['train_error']:.2%}; "
        f"test loss {result['test_loss']:.4f}, error {result['test_error']:.2%} -> {args.out}"
    )
    return 0


def add_models_parser(commands) -> None:
    """The ``fla models`` subcommand and its flags (its settings through ``fla.base.settings``).

    Args:
        commands: argparse's subparsers.
    """
    commands.add_parser("models", help="list the CIFAR architectures with their parameter counts")


def run_models(args) -> int:
    """Run ``fla models``.

    Args:
        args: its parsed flags.

    Returns:
        The exit status, 0 (errors are raised and turned into statuses by ``fla.cli.main``).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from fla.zoo.models import ARCHITECTURES, PAPER_PARAMS, build, trainable_params

    print(f"{'architecture':16s} {'CIFAR-10':>10s} {'CIFAR-100':>10s} {'paper':>8s}")
    for arch in ARCHITECTURES:
        counts = [trainable_params(build(arch, classes)) for classes in (10, 100)]
        print(f"{arch:16s} {counts[0]:10,d} {counts[1]:10,d} {PAPER_PARAMS[arch] / 1e6:7.2f}M")
    return 0


def add_landscape_parser(commands) -> None:
    """The ``fla landscape`` subcommand and its flags (its settings through ``fla.base.settings``).

    Args:
        commands: argparse's subparsers.
    """
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
    """Run ``fla landscape``.

    Args:
        args: its parsed flags.

    Returns:
        The exit status, 0 (errors are raised and turned into statuses by ``fla.cli.main``).
    """
    from fla.landscapes.study import run_study

    run_study(args.study, args.out, args.quiet)
    return 0
