"""Energy landscapes of small networks (Mehta, Zhao, Bernal and Wales 2018): their networks and
symmetries (model), the database of minima and transition states (database), batched compiled
quenches (quench), basin-hopping (basin_hopping), transition states (transition_states), their
files (tables) and the ``fla landscape`` study (study).

Imports: fla.base, fla.core, fla.curvature, fla.paths.
"""

__all__ = [
    "basin_hopping",
    "database",
    "model",
    "quench",
    "study",
    "tables",
    "transition_states",
]  # its modules; each lists its own
