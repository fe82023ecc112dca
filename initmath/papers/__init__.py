r"""The paper ledger: every numbered result and numeric claim of the four papers, checked now.

A :class:`Claim` records one statement as printed, an ``evaluate()`` that recomputes the
evidence with initmath (in well under a second) and the Monte Carlo checks
(:mod:`verification`) and errata entries that back it.  The status comes from the
computed numbers wherever a computation exists (a relative error below 1e-10 confirms a
formula; a printed formula that misses corrects it), so the report cannot drift from the
code:

* ``confirmed`` -- the statement holds as printed;
* ``corrected`` -- a nearby statement holds and is given (right formula, right order);
* ``refuted`` -- the statement is false and no nearby statement is intended;
* ``not checkable`` -- nothing to compute (a training experiment without its table, a
  formula in an unavailable supplement, ...); the reason is given.

One module per paper (:mod:`~initmath.papers.gurbuzbalaban_hu`,
:mod:`~initmath.papers.skorski`, :mod:`~initmath.papers.juston`,
:mod:`~initmath.papers.horii_has`) holds its claims and the printed formulas they are
checked against; :mod:`~initmath.papers.ledger` holds the types they share.

Training claims are judged from the JSON tables that ``python -m experiments --out DIR``
writes.  ``experiments_dir`` names DIR; by default it is :data:`EXPERIMENTS_DIR`,
``docs/experiments`` relative to the current working directory: the reference run
committed in the repository checkout, found when initmath is run from the checkout's
root.  Where a table is absent its claims are ``not checkable``, with the command that
writes it as the reason.

:func:`claims_report` renders the whole ledger as Markdown (``docs/paper-claims.md``),
optionally with the verdicts of a ``python -m verification --json`` run.  This package
imports sympy (through :mod:`initmath.kl` and :mod:`initmath.asymptotics`); ``import
initmath`` does not import it.

Examples
--------
>>> from initmath.papers import STATUSES, all_claims
>>> claim = next(c for c in all_claims() if c.label == "Theorem 1 (i)")
>>> evidence = claim.evaluate()
>>> evidence.status in STATUSES, evidence.status
(True, 'corrected')
>>> evidence.numbers["printed sigma / true sigma at s = 2"]      # agree only at Kaiming
1.0
"""
import os
import pathlib

from . import _report, gurbuzbalaban_hu, horii_has, juston, skorski
from .ledger import STATUSES, Claim, Evidence, not_checkable, relative_error, verdict

__all__ = [
    "EXPERIMENTS_DIR",
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

_PAPER_MODULES = (gurbuzbalaban_hu, skorski, juston, horii_has)
PAPERS = {module.PAPER: module.TITLE for module in _PAPER_MODULES}
# Where the experiment tables are looked for by default (relative: the working directory).
EXPERIMENTS_DIR = pathlib.Path("docs", "experiments")


def all_claims(experiments_dir: str | os.PathLike | None = None) -> list[Claim]:
    """The ledger: every claim of the four papers, paper by paper, in paper order.

    Parameters
    ----------
    experiments_dir : str or path, optional
        The folder of the training-experiment tables (``python -m experiments --out
        DIR``); default :data:`EXPERIMENTS_DIR`.  It is read when a claim is evaluated.

    Returns
    -------
    list of Claim
    """
    directory = pathlib.Path(EXPERIMENTS_DIR if experiments_dir is None else experiments_dir)
    return [claim for module in _PAPER_MODULES for claim in module.claims(directory)]


def claims_report(verification_json: str | os.PathLike | dict | None = None,
                  experiments_dir: str | os.PathLike | None = None) -> str:
    r"""The paper-claims report as Markdown, generated from the code.

    Every claim of :func:`all_claims` is evaluated now; the report has a summary count
    per status and paper, then one section per paper with, for each claim, the printed
    statement, the computed status and numbers, the corrected statement, the Monte Carlo
    checks with their verdicts and z, and the errata entries.

    Parameters
    ----------
    verification_json : str, path or dict, optional
        The record written by ``python -m verification --json PATH`` (or the parsed
        dict); without it the checks are listed as "not run in this report".
    experiments_dir : str or path, optional
        The folder of the training-experiment tables, as in :func:`all_claims`.

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
    >>> from initmath.papers import claims_report
    >>> report = claims_report()
    >>> report.startswith("# Paper claims")
    True
    >>> "not run in this report" in report
    True
    """
    results, run = _report.load_verification(verification_json)
    claims = all_claims() if experiments_dir is None else all_claims(experiments_dir)
    evaluated = [(claim, claim.evaluate()) for claim in claims]
    _report.check_statuses(evaluated)
    return _report.render(evaluated, PAPERS, results, run)
