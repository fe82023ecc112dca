r"""Every numbered result and numeric claim of the four papers, checked by initmath now.

A :class:`Claim` records one statement as printed, an ``evaluate()`` that recomputes the
evidence with initmath (in well under a second) and the tests and Monte Carlo checks
(:mod:`verification`) that back it.  The status comes from the computed numbers
wherever a computation exists (a relative error below 1e-10 confirms a formula; a
printed formula that misses corrects it), so the report cannot drift from the code:

* ``confirmed`` -- the statement holds as printed;
* ``corrected`` -- a nearby statement holds and is given (right formula, right order);
* ``refuted`` -- the statement is false and no nearby statement is intended;
* ``not checkable`` -- nothing to compute (training experiments await issue 9, the
  formula is in an unavailable supplement, ...); the reason is given.

:func:`claims_report` renders the whole registry as Markdown (``docs/paper-claims.md``),
optionally with the verdicts of a ``python -m verification --json`` run.  This module
imports sympy on first use (through :mod:`initmath.kl` and :mod:`initmath.asymptotics`);
``import initmath`` does not import it.

Examples
--------
>>> from initmath.claims import STATUSES, all_claims
>>> claim = next(c for c in all_claims() if c.label == "Theorem 1 (i)")
>>> evidence = claim.evaluate()
>>> evidence.status in STATUSES, evidence.status
(True, 'corrected')
>>> evidence.numbers["printed sigma / true sigma at s = 2"]      # agree only at Kaiming
1.0
"""
import dataclasses
import json
import pathlib
from collections import Counter
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

__all__ = [
    "PAPERS",
    "STATUSES",
    "Claim",
    "Evidence",
    "all_claims",
    "claims_report",
    "not_checkable",
    "relative_error",
    "verdict",
]

STATUSES = ("confirmed", "corrected", "refuted", "not checkable")
PAPERS = {
    "gurbuzbalaban-hu-2021": "Gürbüzbalaban & Hu (2021), *Fractional moment-preserving "
                             "initialization schemes for training deep neural networks*",
    "skorski-2020": "Skorski (2020), *Revisiting initialization of neural networks*",
    "juston-2026": "Juston et al. (2026), *LDLT L-Lipschitz network weight "
                   "parameterization initialization* (abstract)",
    "horii-has-2025": "Horii & Has (2025), *Optimal condition for initialization variance "
                      "in deep neural networks: an SGD dynamics perspective*",
}
# A printed formula agrees with initmath's when every relative difference is below this.
RTOL = 1e-10
ISSUE_9 = "training experiment not run in this report (issue 9, training experiments)"
# Tables written by `python -m experiments --out docs/experiments` (one JSON per table).
EXPERIMENTS_DIR = pathlib.Path(__file__).resolve().parents[1] / "docs" / "experiments"


class Evidence(NamedTuple):
    """What ``Claim.evaluate()`` computed: the status, the numbers behind it, the
    corrected statement (None unless corrected or refuted) and a note."""
    status: str
    numbers: dict
    corrected: str | None = None
    note: str = ""


@dataclasses.dataclass(frozen=True)
class Claim:
    """One printed result: ``paper`` (a key of :data:`PAPERS`), ``label`` (e.g.
    "Theorem 1 (i)"), ``printed`` (the statement, short and faithful), ``evaluate``
    (-> :class:`Evidence`), backing pytest node ids ``tests``, verification check names
    ``checks`` and the numbers of the docs/errata.md entries it belongs to, ``errata``."""
    paper: str
    label: str
    printed: str
    evaluate: Callable[[], Evidence]
    tests: tuple = ()
    checks: tuple = ()
    errata: tuple = ()


def relative_error(printed, true):
    """Largest |printed/true - 1| over broadcast arrays, as a float."""
    return float(np.max(np.abs(np.asarray(printed, float) / np.asarray(true, float) - 1)))


def verdict(holds, numbers, corrected, *, failure="corrected", note=""):
    """Evidence whose status follows from a computed truth value: ``confirmed`` when
    ``holds``, else ``failure`` ("corrected" or "refuted") with the ``corrected`` text."""
    holds = bool(holds)
    return Evidence("confirmed" if holds else failure, numbers, None if holds else corrected,
                    note)


def from_experiment(judge, *stems):
    """An ``evaluate`` for a training-experiment claim: ``judge(*tables)`` on the rows of
    the experiment tables ``stems`` (``EXPERIMENTS_DIR/<stem>.json``), or not checkable
    when those results are absent."""
    def evaluate():
        paths = [EXPERIMENTS_DIR / f"{stem}.json" for stem in stems]
        if not all(path.exists() for path in paths):
            return Evidence("not checkable", {}, None,
                            ISSUE_9 + ": run python -m experiments --out docs/experiments")
        return judge(*(json.loads(path.read_text())["rows"] for path in paths))
    return evaluate


def not_checkable(reason, numbers=None):
    """An ``evaluate`` for a claim with nothing to compute; ``reason`` says why."""
    return lambda: Evidence("not checkable", dict(numbers or {}), None, reason)


def all_claims():
    """The registry: every claim of the four papers, paper by paper, in paper order."""
    from . import _claims_gh, _claims_horii, _claims_juston, _claims_skorski
    return [claim for module in (_claims_gh, _claims_skorski, _claims_juston, _claims_horii)
            for claim in module.claims()]


# --------------------------------------------------------------------------- rendering
def _number(value):
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    if isinstance(value, (list, tuple, np.ndarray)):
        return "[" + ", ".join(map(_number, value)) + "]"
    return str(value)


def _load_verification(verification_json):
    """Check name -> result dict, and a one-line description of the run."""
    if verification_json is None:
        return None, "not run in this report (pass `--verification results.json`)"
    record = verification_json
    if not isinstance(record, dict):
        with open(verification_json) as f:
            record = json.load(f)
    if not isinstance(record.get("checks"), list):
        raise ValueError("verification_json must be the record written by `python -m "
                         f"verification --json PATH` (with a 'checks' list), got {record!r:.80}")
    results = {row["name"]: row for row in record["checks"]}
    run = (f"{len(results)} checks run {record.get('date', '?')} on "
           f"{record.get('device', '?')} ({record.get('device_name', '?')}), "
           f"seed {record.get('seed', '?')}{', quick budgets' if record.get('quick') else ''}")
    return results, run


def _check_line(name, results):
    if results is None:
        return f"`{name}`: not run in this report"
    row = results.get(name)
    if row is None:
        return f"`{name}`: not in the given verification run"
    return f"`{name}`: {row['verdict']}, z = {row['z']:+.2f}"


def _claim_section(claim, evidence, results):
    lines = [f"### {claim.label}", "", f"- **Printed:** {claim.printed}",
             f"- **Status:** **{evidence.status}**"]
    if evidence.corrected:
        heading = "Correct statement" if evidence.status == "corrected" else "What is true"
        lines.append(f"- **{heading}:** {evidence.corrected}")
    if evidence.note:
        lines.append(f"- **Note:** {evidence.note}")
    if evidence.numbers:
        lines.append("- **Numbers (computed now):** " + "; ".join(
            f"{key}: {_number(value)}" for key, value in evidence.numbers.items()))
    if claim.tests:
        lines.append("- **Tests:** " + ", ".join(f"`{node}`" for node in claim.tests))
    if claim.checks:
        lines.append("- **Monte Carlo checks:** " + "; ".join(
            _check_line(name, results) for name in claim.checks))
    if claim.errata:
        lines.append("- **Errata:** " + ", ".join(f"[#{n}](errata.md)" for n in claim.errata))
    return "\n".join(lines) + "\n"


def _summary(evaluated):
    counts = Counter((claim.paper, evidence.status) for claim, evidence in evaluated)
    header = "| paper | " + " | ".join(STATUSES) + " | total |"
    lines = [header, "|---" * (len(STATUSES) + 2) + "|"]
    for paper in PAPERS:
        row = [counts[paper, status] for status in STATUSES]
        lines.append(f"| {PAPERS[paper].split(',')[0]} | " + " | ".join(map(str, row))
                     + f" | {sum(row)} |")
    totals = [sum(counts[p, status] for p in PAPERS) for status in STATUSES]
    lines.append("| **all** | " + " | ".join(f"**{t}**" for t in totals)
                 + f" | **{sum(totals)}** |")
    return "\n".join(lines) + "\n"


def claims_report(verification_json=None):
    r"""The paper-claims report as Markdown, generated from the code.

    Every claim of :func:`all_claims` is evaluated now; the report has a summary count
    per status and paper, then one section per paper with, for each claim, the printed
    statement, the computed status and numbers, the corrected statement, the backing
    tests and the Monte Carlo checks with their verdicts and z.

    Parameters
    ----------
    verification_json : str, path or dict, optional
        The record written by ``python -m verification --json PATH`` (or the parsed
        dict); without it the checks are listed as "not run in this report".

    Returns
    -------
    str
        Markdown (``docs/paper-claims.md`` is this output).

    Raises
    ------
    ValueError
        If verification_json is not a verification record, or a claim's evaluation
        returns a status outside :data:`STATUSES`.

    Notes
    -----
    Takes about 3 s, most of it sympy's derivation of the KL bound (cached after the
    first call) and the symbolic 1/d expansions.

    Examples
    --------
    >>> from initmath.claims import claims_report
    >>> report = claims_report()
    >>> report.startswith("# Paper claims")
    True
    >>> "not run in this report" in report
    True
    """
    results, run = _load_verification(verification_json)
    evaluated = [(claim, claim.evaluate()) for claim in all_claims()]
    for claim, evidence in evaluated:
        if evidence.status not in STATUSES:
            raise ValueError(f"claim {claim.paper} {claim.label!r}: status must be one of "
                             f"{STATUSES}, got {evidence.status!r}")
    parts = ["# Paper claims, checked by initmath", "",
             "Generated by `initmath claims` (`initmath.claims.claims_report`) — do not edit "
             "by hand. Every status below was computed when this file was written, from the "
             "numbers shown; the tests named re-check each one (`python -m pytest -q NODE`). "
             "Errata with derivations: [errata.md](errata.md). Regenerate with "
             "`initmath claims --out docs/paper-claims.md --verification results.json` "
             "(the JSON from `python -m verification --json results.json`).", "",
             f"Monte Carlo verification: {run}.", "",
             "Statuses: *confirmed* (holds as printed), *corrected* (a nearby statement "
             "holds and is given), *refuted* (false), *not checkable* (the reason is given).",
             "", "## Summary", "", _summary(evaluated)]
    for paper, title in PAPERS.items():
        parts += [f"## {title}", ""]
        parts += [_claim_section(claim, evidence, results)
                  for claim, evidence in evaluated if claim.paper == paper]
    return "\n".join(parts)
