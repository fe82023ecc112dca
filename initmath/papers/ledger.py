"""The ledger's types: a printed claim, the evidence computed for it, and how evidence is made.

Every paper module builds its :class:`Claim` objects from these pieces and nothing else
of the package, so the papers depend on the ledger and never on each other.
"""
import dataclasses
import json
import pathlib
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

STATUSES = ("confirmed", "corrected", "refuted", "not checkable")
# A printed formula agrees with initmath's when every relative difference is below this.
RTOL = 1e-10
# The reason given for a training claim whose experiment has no table in this report.
NOT_RUN = "training experiment not run in this report"
# ... and for one that python -m experiments does not reproduce at all.
NO_EXPERIMENT = NOT_RUN + " (python -m experiments does not reproduce it)"


class Evidence(NamedTuple):
    """What ``Claim.evaluate()`` computed: the status, the numbers behind it, the
    corrected statement (None unless corrected or refuted) and a note."""
    status: str
    numbers: dict
    corrected: str | None = None
    note: str = ""


@dataclasses.dataclass(frozen=True)
class Claim:
    """One printed result: ``paper`` (a key of :data:`initmath.papers.PAPERS`), ``label``
    (e.g. "Theorem 1 (i)"), ``printed`` (the statement, short and faithful), ``evaluate``
    (-> :class:`Evidence`), the names of the Monte Carlo checks of :mod:`verification` that
    back it, ``checks``, and the numbers of the docs/errata.md entries it belongs to,
    ``errata``."""
    paper: str
    label: str
    printed: str
    evaluate: Callable[[], Evidence]
    checks: tuple = ()
    errata: tuple = ()


def relative_error(printed: ArrayLike, true: ArrayLike) -> float:
    """Largest |printed/true - 1| over broadcast arrays, as a float."""
    return float(np.max(np.abs(np.asarray(printed, float) / np.asarray(true, float) - 1)))


def verdict(holds: Any, numbers: dict, corrected: str, *, failure: str = "corrected",
            note: str = "") -> Evidence:
    """Evidence whose status follows from a computed truth value: ``confirmed`` when
    ``holds``, else ``failure`` ("corrected" or "refuted") with the ``corrected`` text."""
    holds = bool(holds)
    return Evidence("confirmed" if holds else failure, numbers, None if holds else corrected,
                    note)


def not_checkable(reason: str, numbers: dict | None = None) -> Callable[[], Evidence]:
    """An ``evaluate`` for a claim with nothing to compute; ``reason`` says why."""
    return lambda: Evidence("not checkable", dict(numbers or {}), None, reason)


def from_experiment(directory: pathlib.Path, judge: Callable[..., Evidence],
                    *stems: str) -> Callable[[], Evidence]:
    """An ``evaluate`` for a training-experiment claim: ``judge(*tables)`` on the rows of
    the tables ``directory/<stem>.json`` written by ``python -m experiments --out
    directory``, or not checkable (with the command that writes them) when one is absent.
    The directory is read when the claim is evaluated."""
    def evaluate():
        paths = [directory / f"{stem}.json" for stem in stems]
        if not all(path.exists() for path in paths):
            return Evidence("not checkable", {}, None,
                            f"{NOT_RUN}: run python -m experiments --out {directory}")
        return judge(*(json.loads(path.read_text())["rows"] for path in paths))
    return evaluate
