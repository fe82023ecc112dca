"""Hypothesis profiles: "ci" (default) draws the same examples on every run, so a
failure in CI is reproducible; "explore" draws fresh random ones, for hunting bugs:
``python -m pytest --hypothesis-profile=explore``."""
from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None)
settings.register_profile("explore", deadline=None, max_examples=500)
settings.load_profile("ci")
