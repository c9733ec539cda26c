"""Reading, drawing and tabulating fla runs: l-g clouds, curvature breakdowns, accuracy, attractors,
path profiles, disconnectivity graphs and the HTML report. It reads runs through fla's public
modules (the data contract of fla.base.store, fla.core, fla.curvature, fla.paths, fla.landscapes),
never through a command module; of fla, only the command line imports it, lazily."""
