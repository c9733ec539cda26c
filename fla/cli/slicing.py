"""``fla slice``: loss-surface slices around a network, through three networks, or along a walk
(``fla.slices.slice``)."""

from __future__ import annotations


def add_slice_parser(commands) -> None:
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
    p.add_argument("--at", help="the centre point (default walk=0, minimum=0 or model)")
    p.add_argument(
        "--direction",
        action="append",
        help="random | towards:POINT | hessian:K; once for a line, twice for a plane "
        "(default two random directions)",
    )
    p.add_argument("--plane", nargs=3, metavar="POINT", help="the plane through three networks")
    p.add_argument("--trajectory", type=int, metavar="WALK", help="a recorded walk's plane")
    p.add_argument(
        "--range",
        nargs=2,
        type=float,
        metavar=("LO", "HI"),
        help="coordinates of the grid on each axis (default -1 1; planes and trajectories: "
        "their marks with a margin)",
    )
    p.add_argument("--resolution", type=int, default=51, help="grid points a side (default 51)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random directions")
    p.add_argument(
        "--normalisation",
        choices=["filter", "none"],
        default="filter",
        help="random directions: filter-normalised (Li et al.) or as drawn",
    )
    p.add_argument(
        "--keep-biases",
        action="store_true",
        help="random directions: copy biases and BatchNorm parameters instead of zeroing them",
    )
    p.add_argument(
        "--examples",
        type=int,
        default=1024,
        help="trained models: training and test images evaluated per point (default 1024)",
    )
    p.add_argument(
        "--data-dir", help="folder with data files (default $FLA_DATA, else ~/.cache/fla)"
    )
    p.add_argument("-q", "--quiet", action="store_true")


def run_slice(args) -> int:
    from fla.base.errors import ConfigError
    from fla.slices.slice import make_slice

    if args.examples < 1:
        raise ConfigError(f"--examples must be at least 1, got {args.examples}")
    if args.trajectory is not None and args.trajectory < 0:
        raise ConfigError(f"--trajectory must be a walk number >= 0, got {args.trajectory}")
    make_slice(
        args.source,
        args.out,
        args.at,
        directions=args.direction,
        plane=args.plane,
        trajectory=args.trajectory,
        span=tuple(args.range) if args.range else None,
        resolution=args.resolution,
        seed=args.seed,
        normalisation=args.normalisation,
        keep_biases=args.keep_biases,
        examples=args.examples,
        data_dir=args.data_dir,
        quiet=args.quiet,
    )
    return 0
