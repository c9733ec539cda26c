"""fla: fitness landscape analysis of neural networks.

Batched progressive gradient walks over feed-forward networks, their Hessian spectra, recorded to
Parquet; paths between the minima they find; energy landscapes of small networks. One subpackage a
capability (the README's Layout section is the map); TensorFlow is imported only by the modules
that compute, so that ``import fla`` and ``fla --help`` stay fast.

The modules of the flat layout fla had before its wings still import under their old names
(``fla.sample``, ``fla.neb``, ...), with a DeprecationWarning naming the new one.
"""

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

__version__ = "0.1.0"

MOVED = {  # the flat layout's modules -> where they live now
    "fla.errors": "fla.base.errors",
    "fla.store": "fla.base.store",
    "fla.compile_cache": "fla.base.compile_cache",
    "fla.allocator": "fla.base.allocator",
    "fla.problems": "fla.core.problems",
    "fla.networks": "fla.core.networks",
    "fla.objective": "fla.core.objective",
    "fla.exact_hessian": "fla.core.exact_hessian",
    "fla.hessian": "fla.curvature.lanczos",
    "fla.streams": "fla.walks.streams",
    "fla.measure": "fla.walks.measure",
    "fla.config": "fla.walks.config",
    "fla.resources": "fla.walks.resources",
    "fla.sample": "fla.walks.sample",
    "fla.study": "fla.studies.study",
    "fla.sweep": "fla.studies.sweep",
    "fla.neb": "fla.paths.neb",
    "fla.curves": "fla.paths.curves",
    "fla.landscape": "fla.paths.minima",
    "fla.connect": "fla.paths.connect",
    "fla.surfaces": "fla.paths.surfaces",
    "fla.landscape_study": "fla.landscapes.study",
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an old module name as its new module, with a DeprecationWarning."""

    specs: dict = {}

    def find_spec(self, name, path=None, target=None):
        return importlib.util.spec_from_loader(name, self) if name in MOVED else None

    def create_module(self, spec):
        warnings.warn(
            f"{spec.name} is now {MOVED[spec.name]}; import it from there",
            DeprecationWarning,
            stacklevel=2,
        )
        module = importlib.import_module(MOVED[spec.name])
        self.specs[spec.name] = module.__spec__, module.__loader__
        return module

    def exec_module(self, module):
        """The new module itself under both names, keeping its own spec (the import system set
        the old name's)."""
        old = next(name for name, new in MOVED.items() if new == module.__name__)
        module.__spec__, module.__loader__ = self.specs[old]
        sys.modules[old] = module


sys.meta_path.append(_MovedModules())
