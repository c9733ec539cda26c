"""Every kind of report fla writes, rendered in headless Chromium at 1,400 px and saved as PNG, so
that what a reader sees is looked at, not guessed.

    python runs/screenshots.py --out DIR [--from FOLDER ...]

Without ``--from`` it makes small examples of each kind in DIR/runs (a study of XOR and iris, an
activations comparison, a landscape, a connection and a slice: about 3 minutes on 2 cores) and
reports on them; with ``--from`` it reports on the folders given. Each page, and every page a
report links beside it (a landscape's configurations), becomes DIR/NAME.png, cropped below its
last content. Needs Debian's chromium (``apt-get install chromium``).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WIDTH = 1400
CHROMIUM = [
    "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
    "--no-first-run", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--hide-scrollbars",
]  # fmt: skip
STUDY = (
    'name = "study"\nproblems = ["xor", "iris"]\nwidths = [1, 2, 10]\ndepths = [1, 2]\n'
    'granularities = ["micro", "macro"]\nbounds = [1, 10]\nseeds = [0]\nwalks = 30\n'
    "steps = { micro = 100, macro = 50 }\n"
)
ACTIVATIONS = (
    'name = "activations"\nproblems = ["xor"]\nwidths = [1, 4]\ndepths = [1]\n'
    'granularities = ["macro"]\nbounds = [1]\nseeds = [0]\nwalks = 30\nsteps = 50\n'
    'activations = ["elu", "tanh", "relu"]\nlosses = ["cross_entropy", "mse"]\n'
)
LANDSCAPE = "hidden = [1, 2, 3]\nl2 = [1e-2, 1e-4]\nchains = 32\nsteps = 20\nbudget = 10\n"


def fla(*args) -> None:
    subprocess.run([sys.executable, "-m", "fla.cli", *map(str, args)], check=True, cwd=ROOT)


def examples(runs: Path) -> list[Path]:
    """Small folders of every report kind; the folders to report on."""
    runs.mkdir(parents=True, exist_ok=True)
    (runs / "study.toml").write_text(STUDY)
    (runs / "activations.toml").write_text(ACTIVATIONS)
    (runs / "landscape.toml").write_text(LANDSCAPE)
    fla("sweep", runs / "study.toml", "--out", runs / "study", "-q")
    fla("sweep", runs / "activations.toml", "--out", runs / "activations", "-q")
    fla("landscape", runs / "landscape.toml", "--out", runs / "landscape", "-q")
    one = runs / "study" / "xor_w2_d1_micro_b1_s0"
    fla("connect", one, "--l2", "1e-3", "--out", runs / "connection", "-q")
    fla("slice", one, "--out", runs / "slice", "--resolution", "41", "-q")
    return [runs / name for name in ("study", "activations", "landscape", "connection", "slice")]


def shoot(page: Path, png: Path, height: int = 20000) -> None:
    """A screenshot of ``page`` WIDTH px wide, cropped below its last non-white row."""
    from PIL import Image, ImageChops

    profile = png.parent / ".chromium"
    subprocess.run(
        [*CHROMIUM, f"--user-data-dir={profile}", f"--window-size={WIDTH},{height}",
         f"--screenshot={png}", page.resolve().as_uri()],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    image = Image.open(png).convert("RGB")
    box = ImageChops.difference(image, Image.new("RGB", image.size, "white")).getbbox()
    if box:
        image.crop((0, 0, WIDTH, min(image.size[1], box[3] + 20))).save(png)
    shutil.rmtree(profile, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="folder for the screenshots")
    p.add_argument("--from", dest="folders", type=Path, nargs="*", help="folders to report on")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    folders = args.folders or examples(args.out / "runs")
    for folder in folders:
        fla("report", folder, "-q")
        pages = [folder / "report.html", *sorted((folder / "report_tables").glob("*.html"))]
        for page in pages:
            name = folder.name if page.name == "report.html" else f"{folder.name}_{page.stem}"
            shoot(page, args.out / f"{name}.png")
            print(f"{page} -> {args.out / name}.png")


if __name__ == "__main__":
    main()
