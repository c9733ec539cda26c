"""``fla landscape STUDY.toml --out DIR``: minima and transition states of 2-N_h-2 tanh XOR networks
over a grid of N_h and lambda (Mehta, Zhao, Bernal and Wales 2018; see
``fla.landscapes``).

Each (N_h, lambda) gets a folder ``h{N_h}_l{lambda}`` with ``minima.parquet`` (loss, Hessian
eigenvalues, AUC on the four training patterns, connected hidden units, times found, canonical
parameters), ``transition_states.parquet`` (loss, Hessian index and eigenvalues, the two minima it
connects, parameters) and ``landscape.json`` (settings, counts, time, and each file's size and
SHA-256), written last. Run again, the study skips every folder whose files verify against its
``landscape.json`` and whose settings equal the study's, and redoes the others; a second live
``fla landscape`` on the same folder is refused (the sweep's lock). The study table
``counts.csv`` holds the numbers of minima and transition states per (N_h, lambda) and their ratio.

Study keys (all optional), declared once in ``LandscapeStudy``:

    hidden = [1, 2, 3]                  # N_h
    l2 = [1e-1, 1e-2, 1e-3]             # lambda
    chains = 128                        # basin-hopping chains, run as one batch
    steps = 100                         # basin-hopping steps per chain
    step = 1.0                          # first perturbation: U[-step, step] a parameter
    temperature = 0.1                   # Metropolis temperature (loss units)
    bound = 1.0                         # chains start uniform in [-bound, bound]^D
    patience = 5                        # steps without a new minimum before a chain restarts
    budget = 30                         # transition-state searches per (N_h, lambda)
    gtol = 1e-7                         # gradient norm below which a point is stationary
    seed = 0
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fla.base.errors import ConfigError
from fla.base.files import atomic_path, file_record, write_json, write_table
from fla.base.settings import build, integer, list_of, number, read_toml, setting
from fla.landscapes.tables import FILES, minima_table, transition_table, verified


@dataclass(frozen=True)
class LandscapeStudy:
    """The keys of a landscape study file."""

    hidden: tuple = setting((1, 2, 3), "N_h", list_of(integer(at_least=1), "integers >= 1"))
    l2: tuple = setting(
        (1e-1, 1e-2, 1e-3), "lambda", list_of(number(above=0), "finite numbers > 0")
    )
    chains: int = setting(128, "basin-hopping chains, run as one batch", integer(at_least=1))
    steps: int = setting(100, "basin-hopping steps per chain", integer(at_least=0))
    step: float = setting(1.0, "first perturbation, U[-step, step] a parameter", number(above=0))
    temperature: float = setting(0.1, "Metropolis temperature (loss units)", number(above=0))
    bound: float = setting(1.0, "chains start uniform in [-bound, bound]^D", number(above=0))
    patience: int = setting(
        5, "steps without a new minimum before a chain restarts", integer(at_least=1)
    )
    budget: int = setting(30, "transition-state searches per (N_h, lambda)", integer(at_least=0))
    gtol: float = setting(1e-7, "gradient norm below which a point is stationary", number(above=0))
    seed: int = setting(0, "seed of the chains' draws", integer(at_least=0))


def load_study(path) -> dict:
    """A landscape study's settings, defaults filled in.

    Args:
        path: the study TOML file (``fla settings landscape`` prints its template).

    Returns:
        The settings as a dict.

    Raises:
        ConfigError: naming a bad or unknown key.
    """
    given = read_toml(path, "landscape study")
    study = build(LandscapeStudy, given, f"{path}: ", lambda name: f"key {name!r}")
    return {**dataclasses.asdict(study), "hidden": list(study.hidden), "l2": list(study.l2)}


def folder_name(hidden: int, l2: float) -> str:
    """The folder of one configuration.

    Args:
        hidden: N_h.
        l2: lambda.

    Returns:
        E.g. ``h3_l0.01``.
    """
    return f"h{hidden}_l{l2!r}"


def configuration_settings(study: dict, hidden: int, l2: float) -> dict:
    """The settings one configuration records and is verified against.

    Args:
        study: the study's settings.
        hidden: N_h.
        l2: lambda.

    Returns:
        {"hidden", "l2", chains, steps, step, temperature, bound, patience, budget, gtol, seed}.
    """
    keys = ("chains", "steps", "step", "temperature", "bound", "patience", "budget", "gtol", "seed")
    return {"hidden": hidden, "l2": l2, **{k: study[k] for k in keys}}


def seeds_for(hidden: int, smaller) -> np.ndarray:
    """The all-zero network and the minima of the N_h - 1 network padded with a zero unit:
    stationary points of the N_h network (Mehta et al., Appendix A).

    Args:
        hidden: N_h.
        smaller: [M, D'] the N_h - 1 network's minima, or None.

    Returns:
        [S, D] the seeds.
    """
    from fla.landscapes.model import mehta_network, padded

    zero = np.zeros((1, mehta_network(hidden).n_params))
    if smaller is None or not len(smaller) or hidden < 2:
        return zero
    return np.concatenate([zero, padded(smaller, hidden)])


def run_configuration(folder: Path, settings: dict, quiet: bool, *, smaller=None) -> dict:
    """One (N_h, lambda): basin-hopping, then transition states between unconnected minima; writes
    minima.parquet, transition_states.parquet and landscape.json (last).

    Args:
        folder: the configuration's folder.
        settings: its settings (``configuration_settings``).
        quiet: no summary line.
        smaller: [M, D'] the N_h - 1 network's minima, to seed with.

    Returns:
        The metadata written to landscape.json.
    """
    from fla.landscapes.basin_hopping import basin_hopping
    from fla.landscapes.database import Database
    from fla.landscapes.model import mehta_network, objective
    from fla.landscapes.transition_states import connect_unconnected

    start = time.time()
    f = objective(settings["hidden"], settings["l2"])
    db = Database(mehta_network(settings["hidden"]), gtol=settings["gtol"])
    rng = np.random.default_rng([settings["seed"], settings["hidden"]])
    hops = basin_hopping(
        db,
        f,
        settings["chains"],
        steps=settings["steps"],
        step=settings["step"],
        temperature=settings["temperature"],
        rng=rng,
        gtol=settings["gtol"],
        bound=settings["bound"],
        seeds=seeds_for(settings["hidden"], smaller),
        patience=settings["patience"],
    )
    hops_seconds = time.time() - start
    searches = connect_unconnected(db, f, settings["budget"], gtol=settings["gtol"])
    folder.mkdir(parents=True, exist_ok=True)
    write_table(folder / "minima.parquet", minima_table(db, f))
    write_table(folder / "transition_states.parquet", transition_table(db))
    meta = {
        "settings": settings,
        "minima": len(db.minima),
        "transition_states": len(db.transition_states),
        "basin_hopping": hops,
        "seeds": {
            "zero network": 1,
            "padded minima of N_h - 1": 0 if smaller is None else len(smaller),
        },
        "quenches_per_second": round(hops["quenches"] / max(hops_seconds, 1e-9), 1),
        "searches": searches,
        "seconds": round(time.time() - start, 2),
        "files": {name: file_record(folder / name) for name in FILES},
    }
    write_json(folder / "landscape.json", {"command": "fla landscape", **meta})
    if not quiet:
        print(
            f"  {folder.name}: {meta['minima']} minima, {meta['transition_states']} transition "
            f"states ({meta['seconds']} s)"
        )
    return meta


def check_resources(study: dict) -> None:
    """Refuse before any work a study that cannot run: chains that memory cannot hold (basin-hopping
    keeps about a dozen [chains, D] float64 arrays, D of the largest N_h), exact Hessians too large,
    an L2 term that overflows float64 for chains perturbed as far as ``step`` takes them, or more
    than ``MAX_SECONDS`` of quenches.

    Args:
        study: the study's settings.

    Raises:
        ConfigError: naming the key to change.
    """
    from fla.base.machine import check_memory
    from fla.landscapes.model import mehta_network

    d = mehta_network(max(study["hidden"])).n_params
    check_memory(
        12 * 8 * study["chains"] * d,
        f"basin-hopping {study['chains']:,} chains of D = {d}",
        "use fewer chains (key 'chains')",
    )
    check_memory(  # every minimum's and transition state's index: exact float64 Hessians
        16 * 8 * d * d,
        f"the exact Hessians of N_h = {max(study['hidden'])} (D = {d:,})",
        "use smaller networks (key 'hidden')",
    )
    reach = max(study["l2"]) * d * (study["bound"] + 10 * study["step"]) ** 2
    if not reach < PENALTY_MAX:
        raise ConfigError(
            f"key 'l2' {max(study['l2']):g} with key 'step' {study['step']:g}: the L2 term of "
            f"chains perturbed that far overflows float64 (about {reach:.0e}); give smaller ones"
        )
    seconds = estimated_seconds(study)
    if seconds > MAX_SECONDS:
        raise ConfigError(
            f"key 'steps' {study['steps']:,} x key 'chains' {study['chains']:,} over "
            f"{len(study['hidden']) * len(study['l2'])} configurations would take about "
            f"{seconds / 86400:,.0f} days at {QUENCH_RATE:,} quenches a second; give fewer"
        )


PENALTY_MAX = 1e300  # lambda |theta|^2 of perturbed chains stays finite in float64
QUENCH_RATE = 500  # quenches a second: below bench/bench_quench.py's 1,300-4,700 for N_h <= 6
MAX_SECONDS = 30 * 86400  # a study estimated to take longer is refused


def estimated_seconds(study: dict) -> float:
    """A generous estimate of a study's basin-hopping time: its quenches at ``QUENCH_RATE``.

    Args:
        study: the study's settings.

    Returns:
        Seconds.
    """
    quenches = study["chains"] * max(study["steps"], 1) * len(study["hidden"]) * len(study["l2"])
    return quenches / QUENCH_RATE


def run_study(study_path, out, quiet: bool = False) -> list[dict]:
    """Every (N_h, lambda) of a study (``fla landscape``), skipping those already done and verified;
    writes counts.csv and its manifest.

    Args:
        study_path: the study TOML file.
        out: the study's output folder.
        quiet: no progress.

    Returns:
        One row of counts.csv per configuration: hidden, l2, minima, transition_states, ratio,
            seconds.
    """
    from fla.base.outputs import claim_folder

    study = load_study(study_path)
    check_resources(study)
    out = Path(out)
    if not quiet:
        print(
            f"{len(study['hidden']) * len(study['l2'])} configurations: about "
            f"{estimated_seconds(study) / 60:.1f} minutes of basin-hopping at {QUENCH_RATE:,} "
            "quenches a second (the transition-state searches come after)"
        )
    with claim_folder(out, "fla landscape", (COUNTS, STUDY), own=study_entries(study), resume=True):
        return _run_study(study, out, quiet)


COUNTS, STUDY = "counts.csv", "landscape_study.json"  # what a landscape study writes at its top


def study_entries(study: dict):
    """What a landscape study's folder may hold when it resumes (``fla.base.outputs.claim_folder``):
    its configurations' folders, holding only what a configuration writes; its counts.csv as its
    manifest lists it; and the reports fla report wrote into it.

    Args:
        study: the study's settings.

    Returns:
        own(entry) -> whether the folder's entry is the study's.
    """
    from fla.base.outputs import leftover, owned_by, report_output

    names = {folder_name(h, l2) for h in study["hidden"] for l2 in study["l2"]}
    inside = (*FILES, "landscape.json")

    def own(entry: Path) -> bool:
        if entry.is_dir() and entry.name in names:
            return all(f.name in inside or leftover(f, inside) for f in entry.iterdir())
        if entry.name in (COUNTS, STUDY):
            return owned_by(entry, "fla landscape")
        return report_output(entry)

    return own


def _run_study(study: dict, out: Path, quiet: bool) -> list[dict]:
    from fla.landscapes.tables import read_landscape

    rows, done, minima = [], 0, {}
    total, start = len(study["hidden"]) * len(study["l2"]), time.time()
    for hidden in sorted(study["hidden"]):
        for l2 in study["l2"]:
            if not quiet and rows:
                left = (time.time() - start) / len(rows) * (total - len(rows))
                print(
                    f"  {len(rows)} of {total} configurations, about {left:.0f} s left", flush=True
                )
            settings = configuration_settings(study, hidden, l2)
            settings["seeded_from"] = folder_name(hidden - 1, l2) if hidden - 1 in minima else None
            folder = out / folder_name(hidden, l2)
            if verified(folder, settings):
                meta, done = json.loads((folder / "landscape.json").read_text()), done + 1
            else:
                meta = run_configuration(
                    folder, settings, quiet, smaller=minima.get(hidden - 1, {}).get(l2)
                )
            table = read_landscape(folder)[1]
            minima.setdefault(hidden, {})[l2] = (
                np.stack(table.params.to_numpy()) if len(table) else None
            )
            rows.append(
                {
                    "hidden": hidden,
                    "l2": l2,
                    "minima": meta["minima"],
                    "transition_states": meta["transition_states"],
                    "ratio": meta["transition_states"] / meta["minima"] if meta["minima"] else None,
                    "seconds": meta["seconds"],
                }
            )
    import pandas as pd

    with atomic_path(out / COUNTS) as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)
    record = {
        "command": "fla landscape",
        "study": study,
        "files": {COUNTS: file_record(out / COUNTS)},
    }
    write_json(out / STUDY, record)
    if not quiet:
        print(f"{len(rows) - done} run, {done} already done and verified -> {out / 'counts.csv'}")
    return rows
