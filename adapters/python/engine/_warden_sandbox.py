"""The import sandbox of warden's Python engine (app.py): the modules a
script can import, and a finder that makes every other import fail with a
message that lists them (and, for popular native packages, says what to use
instead). Builtin and frozen modules are still found (the finder goes just
before the path finder); the path finder could find nothing at run time
anyway. ``app.py`` imports the listed modules and calls ``install()`` last.
"""

import sys

#: The modules a script can import (sorted); app.py imports each of them at
#: build time (its docstring lists them too).
AVAILABLE_MODULES = sorted(
    [
        "abc",
        "array",
        "base64",
        "bisect",
        "calendar",
        "collections",
        "contextlib",
        "copy",
        "csv",
        "dataclasses",
        "datetime",
        "decimal",
        "difflib",
        "enum",
        "fractions",
        "functools",
        "hashlib",
        "heapq",
        "html",
        "io",
        "itertools",
        "json",
        "logging",
        "math",
        "numbers",
        "operator",
        "pprint",
        "random",
        "re",
        "secrets",
        "statistics",
        "string",
        "struct",
        "textwrap",
        "time",
        "typing",
        "unicodedata",
        "urllib.parse",
        "uuid",
        "warden",
        "zlib",
    ]
)


# What to use instead of popular native packages (none has a WASI build).
_INSTEAD = {
    "numpy": "the statistics module (mean, median, stdev, variance, quantiles,"
    " correlation, linear_regression), math (fsum, prod, sqrt, dist) and lists",
    "pandas": "csv, statistics and lists of dicts",
    "scipy": "statistics and math",
    "matplotlib": "nothing here draws; return the numbers as JSON",
}


class _SandboxFinder:
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        top = name.split(".")[0]
        instead = _INSTEAD.get(top)
        hint = (
            f" ({top} is a native package with no WASI build); use {instead} instead;"
            if instead
            else ";"
        )
        raise ModuleNotFoundError(
            f"module {name!r} is not available in the warden Python sandbox{hint}"
            f" available: {', '.join(AVAILABLE_MODULES)}",
            name=name,
        )

    @classmethod
    def invalidate_caches(cls):
        pass


def install():
    """Put the finder just before the path finder."""
    meta = sys.meta_path
    for i, finder in enumerate(meta):
        if getattr(finder, "__name__", "") == "PathFinder":
            meta.insert(i, _SandboxFinder)
            return
    meta.append(_SandboxFinder)
