"""Reading, drawing and tabulating fla runs: l-g clouds, curvature breakdowns, accuracy, attractors,
and the HTML report. It reads fla's data contract (fla.store); fla's library never imports it."""
