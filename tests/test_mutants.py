"""The planted-bug catalogue (tests/mutants.toml): every bug planted in a copy of the checkout is
caught by the tests named with it, and no entry is stale. Slow: one pytest process a mutant."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_every_planted_bug_is_caught():
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "mutants.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    print(done.stdout)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
