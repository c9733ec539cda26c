"""Studies: study files -> configurations (study), and resumable, sharded, parallel sweeps over
them (sweep).

Imports: fla.base, fla.core, fla.curvature, fla.walks.
"""

__all__ = ["study", "sweep", "tasks"]  # its modules; each lists its own
