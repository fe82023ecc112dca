"""Doctests of modules that need an optional extra (torch, matplotlib) are skipped where it
is not installed (the core of initmath installs without them)."""
import importlib.util

_NEEDS = {"torch": ["initmath/nn"], "matplotlib": ["initmath/outputs/plots.py"]}
collect_ignore = sorted({path for package, paths in _NEEDS.items()
                         if importlib.util.find_spec(package) is None for path in paths})
