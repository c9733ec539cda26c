"""``fla slice``: loss-surface slices around a network, through three networks, or along a walk
(``fla.slices.slice``)."""

from __future__ import annotations


def add_slice_parser(commands) -> None:
    """The ``fla slice`` subcommand and its flags (its settings through ``fla.base.settings``).

    Args:
        commands: argparse's subparsers.
    """
    from fla.base.settings import add_flags
    from fla.slices.slice import SliceSettings

    p = commands.add_parser(
        "slice",
        help="the loss on a line or plane through networks fla knows (Li et al. 2018 directions)",
        description="Evaluate the training and test loss and accuracy on a 1D or 2D grid: around "
        "a point along random filter-normalised, towards-another-network or Hessian-eigenvector "
        "directions; on the plane through three networks; or on a walk's principal plane. "
        "SOURCE is a sampling run of one configuration, a connection run or a trained model. "
        "Points: walk=W[,step=S] (runs), minimum=I, saddle=A-B[,method=M], bend=A-B,method=bezier "
        "(connection runs), model (trained models), or another folder of the same network.",
    )
    p.add_argument("source")
    p.add_argument("--out", required=True, help="folder for slice.parquet and its manifest")
    add_flags(p, SliceSettings)
    p.add_argument(
        "--data-dir", help="folder with data files (default $FLA_DATA, else ~/.cache/fla)"
    )
    p.add_argument("-q", "--quiet", action="store_true")


def run_slice(args) -> int:
    """Run ``fla slice``.

    Args:
        args: its parsed flags.

    Returns:
        The exit status, 0 (errors are raised and turned into statuses by ``fla.cli.main``).
    """
    from fla.base.settings import given
    from fla.slices.slice import SliceSettings, make_slice

    settings = SliceSettings(**given(args, SliceSettings))
    make_slice(args.source, args.out, settings, data_dir=args.data_dir, quiet=args.quiet)
    return 0
