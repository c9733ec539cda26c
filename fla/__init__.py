"""fla: fitness landscape analysis of neural networks.

Batched progressive gradient walks over feed-forward ELU networks, their Hessian spectra, recorded
to Parquet. TensorFlow is imported only by the modules that compute (objective, walks, curvature),
so that ``import fla`` and ``fla --help`` stay fast.
"""

__version__ = "0.1.0"
