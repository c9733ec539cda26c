"""The plumbing every wing uses: the Parquet contract and its manifests, atomic writes and
locks (store), the settings kit (settings), the errors fla reports as one line (errors), the
persistent compile cache (compile_cache) and the malloc settings (allocator).

Imports: nothing from fla.
"""

__all__ = [
    "allocator",
    "compile_cache",
    "errors",
    "files",
    "machine",
    "outputs",
    "programs",
    "quiet",
    "settings",
    "store",
    "version",
]  # its modules; each lists its own
