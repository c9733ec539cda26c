"""fla: fitness landscape analysis of neural networks.

Batched progressive gradient walks over feed-forward networks, their Hessian spectra, recorded to
Parquet; the field's landscape measures; paths between the minima they find; energy landscapes of
small networks; loss-surface slices. One subpackage a capability (docs/layout.md is the map);
TensorFlow is imported only by the modules that compute, so that ``import fla`` and ``fla --help``
stay fast.

From Python (``fla.api``):

    >>> import fla
    >>> run = fla.open("runs/quick")
    >>> run.points(["loss", "grad_norm"], width=2)
"""

from fla.base.version import __version__

__all__ = ["Results", "open", "sample", "sweep", "__version__"]


def __getattr__(name):
    """fla.open, fla.sample, fla.sweep and fla.Results, imported when first used."""
    if name in ("Results", "open", "sample", "sweep"):
        from fla import api

        return getattr(api, name)
    raise AttributeError(f"module 'fla' has no attribute {name!r}")
