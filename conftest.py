"""Doctests of modules that need torch are skipped where torch is not installed (the core
of initmath installs without it)."""
import importlib.util

collect_ignore = [] if importlib.util.find_spec("torch") else ["initmath/torch_tools.py",
                                                               "initmath/torch.py"]
