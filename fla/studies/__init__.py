"""Studies: study files -> configurations (study), and resumable, sharded, parallel sweeps over
them (sweep), and the sharpness measures at the ends of their walks (sharpness).

Imports: fla.base, fla.core, fla.curvature, fla.walks.
"""

__all__ = ["sharpness", "study", "sweep", "tasks"]  # its modules; each lists its own
