"""Studies: study files -> configurations (study), and resumable, sharded, parallel sweeps over
them (sweep), the sharpness measures at the ends of their walks (sharpness), and walks spawned
from their own points with the barriers between the copies' ends (spawn).

Imports: fla.base, fla.core, fla.curvature, fla.walks.
"""

__all__ = ["sharpness", "spawn", "study", "sweep", "tasks"]  # its modules; each lists its own
