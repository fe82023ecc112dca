"""Hypothesis profiles: "ci" (default) draws the same examples on every run, so a
failure in CI is reproducible; "explore" draws fresh random ones, for hunting bugs:
``python -m pytest --hypothesis-profile=explore``.

The ``repository`` marker: a test that reads files of the repository checkout (README.md,
docs/) is skipped when the tests run outside one -- against an installed wheel, from a copy
of tests/ (``.ci/run`` does that).
"""
import pathlib

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None)
settings.register_profile("explore", deadline=None, max_examples=500)
settings.load_profile("ci")

ROOT = pathlib.Path(__file__).resolve().parents[1]
IN_CHECKOUT = (ROOT / "README.md").is_file() and (ROOT / "docs").is_dir()


def pytest_configure(config):
    config.addinivalue_line("markers", "repository: reads files of the repository checkout "
                                       "(README.md, docs/); skipped outside one")


def pytest_collection_modifyitems(config, items):
    if IN_CHECKOUT:
        return
    skip = pytest.mark.skip(reason="needs the repository checkout (README.md, docs/)")
    for item in items:
        if "repository" in item.keywords:
            item.add_marker(skip)
