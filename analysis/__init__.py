"""Reading, drawing and tabulating fla runs: l-g clouds, curvature breakdowns, accuracy, attractors,
path profiles, disconnectivity graphs, sharpness against generalisation, spawned walks' barriers
and the HTML report. It reads runs through fla's public modules (the data contract of
fla.base.store, fla.core, fla.curvature, fla.paths, fla.landscapes), never through a command
module; of fla, only the command line imports it, lazily."""

__all__ = [
    "attractors",
    "connections",
    "data",
    "figures",
    "landscape_sections",
    "measures",
    "page",
    "report",
    "settings",
    "sharpness_sections",
    "slices",
    "spawn_sections",
]  # its modules; each lists its own
