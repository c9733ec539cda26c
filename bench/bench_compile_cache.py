"""Why fla traces its programs under stable names (fla.base.compile_cache.stable_names), printed.

    python bench/bench_compile_cache.py [--configs 3]

TensorFlow keys a cached XLA program by its HLO module, whose name holds a number from one counter
per process; so a process that traces programs in another order than the process that filled the
cache gets other names and compiles everything again (a sweep's workers take the next unit as they
finish one, so their orders differ from run to run). A first process samples a few XOR
architectures in one order and fills an empty cache; then, each from a copy of that cache, a second
process samples them in the reverse order, once with the names fixed (fla's way) and once with
TensorFlow's counter (the hook off). Printed for each: the second process's wall time and how many
programs it could not load (the entries it published anew).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURES = [(2, 1), (4, 2), (20, 3), (4, 1), (2, 2), (8, 2)]

PROCESS = """
import contextlib, sys, tempfile
from fla.base import compile_cache
if sys.argv[1] == "off":
    compile_cache.stable_names = lambda *key: contextlib.nullcontext()
compile_cache.enable()
from fla.walks.sample import SampleConfig, sample
for spec in sys.argv[2:]:
    width, depth = map(int, spec.split("x"))
    config = SampleConfig("xor", width=width, depth=depth, granularity="macro", bound=1.0,
                          walks=64, steps=20)
    sample(config, tempfile.mkdtemp(), quiet=True)
compile_cache.publish()
"""


def entries(cache: Path) -> int:
    return sum(1 for p in cache.rglob("*.pb") if ".work-" not in str(p.parent))


def run(cache: Path, names: str, specs: list[str]) -> float:
    env = {"FLA_COMPILE_CACHE": str(cache), "TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", PROCESS, names, *specs], cwd=ROOT, env=env, check=True)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", type=int, default=3, help="XOR architectures (at most 6)")
    args = p.parse_args()
    specs = [f"{w}x{d}" for w, d in ARCHITECTURES[: args.configs]]
    with tempfile.TemporaryDirectory() as tmp:
        filled = Path(tmp) / "filled"
        seconds = run(filled, "on", specs)
        print(
            f"first process, {' '.join(specs)}, empty cache: {seconds:.1f} s, "
            f"{entries(filled)} programs compiled and cached"
        )
        for names in ("on", "off"):
            cache = Path(tmp) / names
            shutil.copytree(filled, cache)
            before = entries(cache)
            seconds = run(cache, names, specs[::-1])
            label = "fixed names (fla)" if names == "on" else "TensorFlow's counter"
            print(
                f"second process, reverse order, {label:22s}: {seconds:5.1f} s, "
                f"{entries(cache) - before} programs compiled anew"
            )


if __name__ == "__main__":
    main()
