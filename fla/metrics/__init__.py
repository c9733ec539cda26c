"""The fitness landscape measures of the field over [walks, steps] arrays of losses, one value a
walk, vectorised: ruggedness (FEM) and information content (entropy), neutrality (M1, M2),
gradient measures (G_avg, G_dev), fitness-distance correlation and dispersion (distance),
stagnation and the last and best values of a walk (summaries).

Imports: fla.base.
"""

__all__ = [
    "autocorrelation",
    "distance",
    "entropy",
    "gradients",
    "neutrality",
    "samples",
    "summaries",
    "tables",
]  # its modules; each lists its own
