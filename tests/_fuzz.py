"""Fuzz harness: drive a public function over its domain and beyond it, and classify each call.

The contract (issue 13, ``docs/domain.md``): every call ends, within ``BUDGET_S`` seconds, in
either a finite, plausible value or a one-line ``ValueError`` that names the offending
argument.  Anything else is a defect, classified as

==================  =======================================================================
``value``           a result whose numbers are all finite (and pass the caller's ``check``)
``ValueError``      a one-line ValueError whose message names one of the arguments
``unclear-message`` a ValueError that names no argument, or runs over several lines
``nonfinite``       a result holding nan or inf
``implausible``     a finite result that the caller's ``check`` rejects
``wrong-exception`` any other exception type (IndexError, OverflowError, TypeError, ...)
``timeout``         longer than the budget
==================  =======================================================================

Switches (environment variables):

* ``INITMATH_FUZZ=long``: many more examples, freshly random (not derandomized): the nightly
  / hunting mode, ``INITMATH_FUZZ=long python -m pytest tests/test_fuzz_*.py``.
* ``INITMATH_FUZZ_BUDGET=SECONDS``: the per-call time limit (default 30, the library's budget).
* ``INITMATH_FUZZ_RECORD=FILE``: append one JSON line per call (function, outcome, detail) and
  never fail, so the same suite counts outcomes on any checkout (``python tests/_fuzz.py FILE``
  prints the table per outcome class).
"""
import collections
import dataclasses
import json
import math
import numbers
import os
import re
import signal
import sys
import time
from contextlib import contextmanager

import mpmath
import numpy as np
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from initmath.testing import strategies

LONG = os.environ.get("INITMATH_FUZZ") == "long"
RECORD = os.environ.get("INITMATH_FUZZ_RECORD")
# The library's budget for one call (initmath._validate.WORK_BUDGET_S); a record run over an
# old checkout may lower it (INITMATH_FUZZ_BUDGET=5) to count its hangs faster.
BUDGET_S = float(os.environ.get("INITMATH_FUZZ_BUDGET", 30.0))
OK = ("value", "ValueError")


def examples(n):
    """Hypothesis settings for a fuzz test with n examples in CI (50 n, fresh, in long mode)."""
    return settings(max_examples=50 * n if LONG else n, deadline=None, derandomize=not LONG,
                    database=None,
                    # a record run counts the generated inputs only, not shrinking attempts
                    phases=[Phase.explicit, Phase.generate] if RECORD else list(Phase),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.data_too_large])


class Timeout(BaseException):
    """Raised by the alarm inside a call that runs past its budget (a BaseException, so the
    library's own ``except Exception`` cannot swallow it)."""


@contextmanager
def time_limit(seconds):
    def alarm(signum, frame):
        raise Timeout
    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def numbers_in(result, depth=0):
    """The real numbers a result holds: scalars, arrays, tuples, dicts, dataclasses, objects."""
    if depth > 4 or result is None or isinstance(result, (str, bytes, bool, np.bool_)):
        return
    if type(result).__module__.startswith("sympy"):
        # exact sympy values (an Integer beyond 1.8e308 is finite) are judged by sympy itself
        import sympy
        if result.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo):
            yield math.nan
    elif isinstance(result, (numbers.Real, np.generic, mpmath.mpf)):
        yield float(result) if not isinstance(result, mpmath.mpf) else (
            0.0 if mpmath.isfinite(result) else math.nan)
    elif isinstance(result, np.ndarray):
        if result.dtype.kind in "iuf":
            yield from result.astype(float).ravel()
        elif result.dtype == object:
            for item in result.ravel():
                yield from numbers_in(item, depth + 1)
    elif isinstance(result, dict):
        for item in result.values():
            yield from numbers_in(item, depth + 1)
    elif isinstance(result, (tuple, list)):
        for item in result:
            yield from numbers_in(item, depth + 1)
    elif dataclasses.is_dataclass(result):
        for field in dataclasses.fields(result):
            yield from numbers_in(getattr(result, field.name), depth + 1)
    elif hasattr(result, "__dict__") and not callable(result):
        for key, item in vars(result).items():
            if not key.startswith("_"):
                yield from numbers_in(item, depth + 1)


def names_argument(message, names):
    """Whether message names one of the arguments as a word of its own ("s must be ..."),
    not merely as a letter inside another word ("sigma" does not name s)."""
    return any(re.search(rf"(?<![\w.]){re.escape(name)}(?![\w(])", message) for name in names)


def classify(fn, args=(), kwargs=None, *, names, budget=BUDGET_S, check=None):
    """(outcome, detail, result) of fn(*args, **kwargs); names are the argument names a
    ValueError may cite (its message must contain one of them)."""
    kwargs = kwargs or {}
    start = time.perf_counter()
    result = None
    try:
        with time_limit(budget):
            result = fn(*args, **kwargs)
    except Timeout:
        return "timeout", f"> {budget:g} s", None
    except ValueError as error:
        message = str(error)
        if "\n" in message.strip() or not names_argument(message, names):
            return "unclear-message", message, None
        return "ValueError", message, None
    except Exception as error:
        return "wrong-exception", f"{type(error).__name__}: {error}", None
    elapsed = time.perf_counter() - start
    values = list(numbers_in(result))
    if not all(math.isfinite(v) for v in values):
        return "nonfinite", repr(result)[:200], result
    problem = check(result) if check is not None else None
    if problem:
        return "implausible", problem, result
    return "value", f"{elapsed:.3g} s", result


def _record(label, outcome, detail, args, kwargs):
    with open(RECORD, "a") as out:
        out.write(json.dumps({"function": label, "outcome": outcome, "detail": detail[:300],
                              "call": f"{args!r} {kwargs!r}"[:300]}) + "\n")


def fuzz(fn, *args, names, label=None, budget=BUDGET_S, check=None, **kwargs):
    """Call fn and assert the contract (or, with INITMATH_FUZZ_RECORD, only record the
    outcome).  Returns (outcome, result) so a test can go on to check the value."""
    label = label or getattr(fn, "__name__", repr(fn))
    outcome, detail, result = classify(fn, args, kwargs, names=names, budget=budget,
                                       check=check)
    if RECORD:
        _record(label, outcome, detail, args, kwargs)
    else:
        assert outcome in OK, f"{label}(*{args!r}, **{kwargs!r}) -> {outcome}: {detail}"
    return outcome, result


# --------------------------------------------------------------------------- strategies
# The generic ones are public (initmath.testing.strategies); the fuzz harness also draws [],
# an empty array, among the "non-numbers", to check that broadcasting functions return an
# empty result for it rather than crash.
NOT_A_NUMBER = strategies.not_numbers(include_empty=True)
NONFINITE = strategies.nonfinite()
reals = strategies.reals


def beyond_reals(low, high, *, low_open=False, high_open=False):
    """Reals just and far outside the interval, non-finite values and non-numbers."""
    return strategies.beyond_reals(low, high, low_open=low_open, high_open=high_open,
                                   include_empty=True)


def integers(low=1, high=2 ** 53):
    """Valid integers: small, anywhere up to high, the ends, and integral floats."""
    return st.one_of(st.integers(low, min(high, low + 64)), st.integers(low, high),
                     st.sampled_from(sorted({low, high, low + 1, max(low, high - 1)})),
                     st.integers(low, min(high, 2 ** 20)).map(float))


def beyond_integers(low=1, high=2 ** 53):
    """Integers out of range (including ones that overflow int64), non-integers, junk."""
    return strategies.beyond_integers(low, high, include_empty=True)


def arrays(strategy, max_size=4):
    """A numpy array (1-d, 1 to max_size entries) drawn from strategy."""
    return st.lists(strategy, min_size=1, max_size=max_size).map(np.array)


def maybe_beyond(valid, invalid, p_invalid=0.25):
    """Mostly valid values, sometimes invalid ones (so one bad argument at a time dominates)."""
    return st.one_of(valid, valid, valid, invalid) if p_invalid <= 0.25 else st.one_of(
        valid, invalid)


# --------------------------------------------------------------------------- report
def summarize(path):
    """Counts per outcome class (and per function for the defects) from a record file."""
    with open(path) as lines:
        rows = [json.loads(line) for line in lines]
    total = collections.Counter(row["outcome"] for row in rows)
    print(f"{len(rows)} calls")
    for outcome, count in total.most_common():
        print(f"  {outcome:16s} {count}")
    bad = collections.Counter((row["function"], row["outcome"]) for row in rows
                              if row["outcome"] not in OK)
    for (function, outcome), count in sorted(bad.items()):
        print(f"  {function:40s} {outcome:16s} {count}")


if __name__ == "__main__":
    summarize(sys.argv[1])
