"""Plant each bug of tests/mutants.toml in a copy of the repository and report whether its tests
catch it.

    python bench/mutants.py [--only TEXT ...]

Each mutant replaces one exact text of one file (which must occur exactly once, or the list is out
of date and the script says so) and runs the tests named with it; a mutant is caught when they run
and fail (pytest's status 1). Exit status 1 if any mutant survives or the list is stale. Takes a few
minutes (one pytest process a mutant).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def copy_repository(dest: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in files:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, target)


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--only",
        action="append",
        help="run only the mutants whose description contains this text (repeatable: any)",
    )
    args = p.parse_args()
    mutants = tomllib.loads((ROOT / "tests" / "mutants.toml").read_text())["mutant"]
    if args.only:
        mutants = [m for m in mutants if any(text in m["why"] for text in args.only)]
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "repo"
        copy_repository(copy)
        for m in mutants:
            path = copy / m["file"]
            clean = path.read_text()
            found = clean.count(m["original"])
            if found != 1:
                print(
                    f"STALE     {m['why']}: the original text occurs {found} times in {m['file']}"
                )
                failures += 1
                continue
            path.write_text(clean.replace(m["original"], m["mutant"]))
            t0 = time.time()
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    "-q",
                    "-x",
                    "-p",
                    "no:cacheprovider",
                    "-m",
                    "slow or not slow",
                    *m["tests"].split(),
                ],
                cwd=copy,
                capture_output=True,
                text=True,
            )
            path.write_text(clean)
            # tests ran and failed (2-4: errors that prove nothing; 5: no test ran)
            caught = done.returncode == 1
            failures += not caught
            status = (
                "caught"
                if caught
                else ("SURVIVED" if done.returncode == 0 else f"ERROR {done.returncode}")
            )
            print(f"{status:9s} {m['why']}  [{m['tests']}; {time.time() - t0:.0f} s]", flush=True)
    print(f"{len(mutants) - failures} of {len(mutants)} mutants caught")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
