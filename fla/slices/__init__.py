"""Loss-surface slices (Li, Xu, Taylor, Studer and Goldstein, NeurIPS 2018; Garipov et al. 2018):
the directions and planes a slice spans (directions), the networks fla can slice around and how
each is evaluated (subjects), and the grid evaluated in batched chunks, written and read back
verified (grid). ``fla slice`` is ``fla.slices.slice``.

Imports: fla.base, fla.core, fla.curvature, fla.walks, fla.zoo.
"""

__all__ = ["directions", "grid", "slice", "subjects"]  # its modules; each lists its own
