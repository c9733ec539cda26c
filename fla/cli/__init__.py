"""The ``fla`` command: one subcommand a capability, its flags and how it reports what went
wrong (one line and exit 2 for bad input, 3 for non-finite results, 130 when interrupted).
TensorFlow is imported inside the subcommands that need it; only the command line reaches into
``analysis``, lazily.

Imports: fla.base, core, curvature, walks, metrics, studies, paths, landscapes, zoo, slices.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from fla.base import allocator, compile_cache, quiet
from fla.base.errors import FlaError, NonFiniteError
from fla.base.version import __version__
from fla.cli.connecting import (
    add_connect_parser,
    add_landscape_parser,
    add_models_parser,
    add_train_parser,
    run_connect,
    run_landscape,
    run_models,
    run_train,
)
from fla.cli.measuring import add_sharpness_parser, add_spawn_parser, run_sharpness, run_spawn
from fla.cli.reading import (
    add_metrics_parser,
    add_plot_parser,
    add_report_parser,
    run_metrics,
    run_plot,
    run_report,
)
from fla.cli.sampling import (
    add_problems_parser,
    add_sample_parser,
    add_settings_parser,
    add_sweep_parser,
    run_problems,
    run_sample,
    run_settings,
    run_sweep,
)
from fla.cli.slicing import add_slice_parser, run_slice

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
    "settings": (add_settings_parser, run_settings),
    "metrics": (add_metrics_parser, run_metrics),
    "slice": (add_slice_parser, run_slice),
    "sharpness": (add_sharpness_parser, run_sharpness),
    "spawn": (add_spawn_parser, run_spawn),
}

# no XLA program: no compile cache and its write probe
COMPILE_NOTHING = ("models", "problems", "plot", "settings", "metrics")


# numbers as users write them, -1e3 and -.5 among them, are values, not flags
NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def parser() -> argparse.ArgumentParser:
    """The ``fla`` command's parser: one subcommand a capability (``COMMANDS``); numbers such as
    -1e3 are values, not flags.

    Returns:
        The argparse parser.
    """
    p = argparse.ArgumentParser(
        prog="fla",
        description="Loss-surface analysis of neural networks: "
        "progressive gradient walks, Hessian spectra, Parquet records.",
    )
    p.add_argument("--version", action="version", version=f"fla {__version__}")
    commands = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add, _ in COMMANDS.values():
        add(commands)
    for sub in [p, *commands.choices.values()]:
        sub._negative_number_matcher = NEGATIVE_NUMBER
    return p


def main(argv=None) -> int:
    """Run the ``fla`` command: bad input is one line and exit 2, non-finite results exit 3 (after
    writing them faithfully), an interruption 130.

    Args:
        argv: the arguments (default ``sys.argv[1:]``).

    Returns:
        The exit status.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    args = parser().parse_args(argv)
    try:
        if args.command not in COMPILE_NOTHING or args.command == "metrics":
            allocator.keep_freed_buffers()  # metrics: large arrays, allocated set after set
        if args.command not in COMPILE_NOTHING:
            compile_cache.enable()  # before TensorFlow's first compilation reads its flags
            quiet.import_tensorflow()  # its start-up lines tell a user nothing
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
            "(--walks), a smaller network, or --hessian lanczos/none",
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
    except Exception as exc:  # a compile-cache entry that is no program: named, removed
        entry = compile_cache.remove_unparsable(exc)
        if entry is None:
            if os.environ.get("FLA_TRACEBACK"):
                raise
            print(
                f"fla {args.command}: internal error: {type(exc).__name__}: "
                f"{(str(exc).splitlines() or [''])[0][:300]} (a bug: please report it, with the "
                "command; FLA_TRACEBACK=1 shows where)",
                file=sys.stderr,
            )
            return 1
        print(
            f"fla {args.command}: error: compile-cache entry {entry} is not a valid program (it "
            "was written damaged); it was removed: run the command again",
            file=sys.stderr,
        )
        return 2
