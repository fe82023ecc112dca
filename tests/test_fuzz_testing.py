"""Fuzz tests of initmath.testing (issue 16): every call ends, within the budget, in a finite
plausible value or a one-line ValueError naming the argument.

Driven beyond their domains: min_samples, min_discrepancy, holm, moment_spread, the
false-alarm budget, and the argument validation of the three assertions (with a cheap init
and a small max_samples, so that calls which pass validation finish in well under a second;
a StatisticalAssertionError there is a verdict on the cheap init, not a defect).
"""
import dataclasses
import math
import warnings

import numpy as np
import pytest
from _fuzz import (
    NONFINITE,
    NOT_A_NUMBER,
    beyond_integers,
    beyond_reals,
    classify,
    examples,
    fuzz,
    integers,
    maybe_beyond,
    reals,
)
from hypothesis import given
from hypothesis import strategies as st

from initmath.testing import (
    FalseAlarmBudget,
    TestResult,
    false_alarm_budget,
    holm,
    min_discrepancy,
    min_samples,
)

LEVELS = reals(1e-300, 0.5, edges=(1e-6, 0.05))
POWERS = reals(0.5, 1 - 1e-12, edges=(0.9, 0.99))
BATCHES = integers(8, 4096)
# Beyond (0, inf): zero, negatives, nan, inf and non-numbers.
NOT_POSITIVE = st.one_of(st.sampled_from([0.0, 0, -5e-324, -1.0, -1e300]), NONFINITE,
                         NOT_A_NUMBER)
# (beyond_reals(0.5, ...) draws 0.5 - 1e-300 == 0.5, a valid power: spelled out here)
BAD_POWERS = st.one_of(st.sampled_from([0.4999999999999999, 0.0, -1.0, 1.0, 1 - 1e-13, 2.0]),
                       NONFINITE, NOT_A_NUMBER)
STAT_NAMES = ("discrepancy", "cv", "false_alarm", "power", "batches", "skewness", "samples")


def _sample_count(cv, batches):
    def check(n):
        if not isinstance(n, int) or n < 2:
            return f"not an integer >= 2: {n!r}"
        if cv is not None and n % int(batches):
            return f"{n} not a multiple of batches = {batches}"
        return None
    return check


def _positive(x):
    # 0 only by underflow (cv ~ 1e-320)
    return None if isinstance(x, float) and 0 <= x < math.inf else f"{x!r}"


def one_bad(valid, invalid):
    """(name, kwargs): every argument drawn from ``valid`` except at most the one named
    (None: all valid) drawn from ``invalid``, so each refusal is traced to its argument."""
    names = [None] * len(invalid) + list(invalid)      # half the calls all valid
    return st.sampled_from(names).flatmap(lambda bad: st.fixed_dictionaries(
        {k: invalid[k] if k == bad else v for k, v in valid.items()}).map(
        lambda kwargs: (bad, kwargs)))


def _expect(outcome, bad, detail=""):
    """A bad argument must be refused; valid ones give a value (or a stated refusal)."""
    if bad is not None:
        assert outcome == "ValueError", (bad, outcome, detail)


# --------------------------------------------------------------------------- sample sizes
MIN_SAMPLES_VALID = dict(discrepancy=reals(0.0, 1.0, low_open=True, high_open=True),
                         cv=st.one_of(st.none(), reals(0.0, 1e6, low_open=True)),
                         false_alarm=LEVELS, power=POWERS, batches=BATCHES,
                         skewness=reals(-1e3, 1e3))
MIN_SAMPLES_INVALID = dict(discrepancy=beyond_reals(0.0, 1.0, low_open=True, high_open=True),
                           cv=NOT_POSITIVE, false_alarm=beyond_reals(1e-300, 0.5),
                           power=BAD_POWERS,
                           batches=beyond_integers(8, 4096),
                           skewness=st.sampled_from([math.nan, "1", None, True, [1.0]]))


@examples(100)
@given(case=one_bad(MIN_SAMPLES_VALID, MIN_SAMPLES_INVALID))
def test_fuzz_min_samples(case):
    bad, kw = case
    if bad == "discrepancy" and kw["cv"] is not None and isinstance(kw["discrepancy"], float) \
            and kw["discrepancy"] >= 1:
        return                               # a relative error >= 1 is valid for a mean
    if bad == "batches" and kw["cv"] is None:
        kw["cv"] = 1.0                       # batches matter to mean tests only
    outcome, n = fuzz(min_samples, names=STAT_NAMES,
                      check=_sample_count(kw["cv"], kw["batches"]), **kw)
    _expect(outcome, bad, n)
    if outcome == "value":
        # min_discrepancy inverts it (on the same arguments)
        kw.pop("skewness")
        assert min_discrepancy(n, kw.pop("cv"), **{k: v for k, v in kw.items()
                                                   if k != "discrepancy"}) \
            <= kw["discrepancy"] * (1 + 1e-9)


@examples(80)
@given(case=one_bad(dict(samples=integers(2, 2 ** 53), cv=st.one_of(st.none(), reals(
    0.0, 1e6, low_open=True)), false_alarm=LEVELS, power=POWERS, batches=BATCHES),
    dict(samples=beyond_integers(2, 2 ** 53), cv=NOT_POSITIVE,
         false_alarm=beyond_reals(1e-300, 0.5), power=BAD_POWERS,
         batches=beyond_integers(8, 4096))))
def test_fuzz_min_discrepancy(case):
    bad, kw = case
    if bad == "batches" and kw["cv"] is None:
        kw["cv"] = 1.0
    if isinstance(kw["samples"], float) and kw["samples"].is_integer() and bad != "samples":
        kw["samples"] = int(kw["samples"])   # integral floats are not counts here
    outcome, _ = fuzz(min_discrepancy, names=STAT_NAMES, check=_positive, **kw)
    _expect(outcome, bad)


@examples(60)
@given(p_values=st.one_of(st.lists(reals(0.0, 1.0), max_size=6).map(np.array),
                          st.lists(st.one_of(reals(0.0, 1.0), beyond_reals(0.0, 1.0)),
                                   max_size=4),
                          NOT_A_NUMBER, beyond_reals(0.0, 1.0)),
       false_alarm=maybe_beyond(LEVELS, beyond_reals(1e-300, 0.5)))
def test_fuzz_holm(p_values, false_alarm):
    outcome, rejected = fuzz(holm, p_values, false_alarm, names=("p_values", "false_alarm"))
    if outcome == "value":
        p = np.asarray(p_values, dtype=float).ravel()
        assert rejected.dtype == bool and rejected.shape == p.shape
        # Holm rejects at least what Bonferroni rejects, and nothing above the level
        assert np.all(rejected[p <= false_alarm / max(p.size, 1)])
        assert not np.any(rejected[p > false_alarm])


@pytest.mark.parametrize("bad", [[math.nan], [1.5], [-0.1], "0.1", [None], [[0.1], [0.2, 0.3]],
                                 object()])
def test_holm_refuses_what_is_not_a_p_value(bad):
    with pytest.raises(ValueError, match="p_values"):
        holm(bad, 1e-6)


# --------------------------------------------------------------------------- budgets
@examples(60)
@given(total=maybe_beyond(LEVELS, beyond_reals(1e-300, 0.5)),
       calls=maybe_beyond(integers(1, 2 ** 53), beyond_integers(1, 2 ** 53)),
       seed=st.one_of(st.integers(-(2 ** 70), 2 ** 70), st.just(None)),
       label=st.one_of(st.text(max_size=8), st.just("t")),
       extra=st.integers(0, 2000))
def test_fuzz_false_alarm_budget(total, calls, seed, label, extra):
    names = ("total", "calls")
    outcome, _ = fuzz(FalseAlarmBudget, total, calls, 0 if seed is None else seed, label,
                      names=names)
    if outcome != "value":
        with pytest.raises(ValueError, match="total|calls"), \
                false_alarm_budget(total, calls, seed=seed, label=label):
            pass
        return
    with false_alarm_budget(total, calls, seed=seed, label=label) as budget:
        taken = [budget.take() for _ in range(min(calls, 50) + extra)]
    shares = [level for level, _ in taken]
    assert all(0 <= level <= total for level in shares)
    assert math.fsum(shares) <= total * (1 + 1e-12)
    assert len({seed for _, seed in taken}) == len(taken)
    assert all(0 <= s < 2 ** 63 for _, s in taken)


# --------------------------------------------------------------------------- assertions
torch = pytest.importorskip("torch")

from initmath.testing import (
    StatisticalAssertionError,
    assert_layer_law,
    assert_matches,
    assert_moment_preserved,
    moment_spread,
)


def _cheap(w):
    return torch.nn.init.normal_(w, std=0.5)


def _no_law_skewness(result):
    if isinstance(result, TestResult) and result.statistic == "law":
        assert math.isnan(result.batch_skewness)
        return dataclasses.replace(result, batch_skewness=0.0)
    return result


def _verdict(assertion):
    """The assertion's result, its StatisticalAssertionError's results (a verdict on the
    cheap init, not a defect), without its skewness warnings."""
    def call(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                result = assertion(*args, **kwargs)
            except StatisticalAssertionError as error:
                result = error.results
        # a law test has no batch skewness: nan by design (documented), not a defect
        return [_no_law_skewness(r) for r in result] if isinstance(result, list) \
            else _no_law_skewness(result)
    call.__name__ = assertion.__name__
    return call


def _spread_ok(spread):
    if not spread.cv >= 0:
        return f"cv {spread.cv}"
    return None


@examples(60)
@given(s=maybe_beyond(reals(0.0, 100.0, low_open=True),
                      beyond_reals(0.0, 100.0, low_open=True)),
       width=maybe_beyond(st.one_of(integers(1, 2 ** 20),
                                    st.lists(st.integers(1, 2 ** 20), min_size=2, max_size=5)),
                          st.one_of(beyond_integers(1, 2 ** 20), st.just([3]), st.just([]),
                                    st.just([4, 0]), st.just([4, 2.5]))),
       depth=maybe_beyond(integers(1, 10000), beyond_integers(1, 10000)),
       slope=maybe_beyond(reals(0.0, 1.0, edges=(0.3,)), beyond_reals(0.0, 1.0)))
def test_fuzz_moment_spread(s, width, depth, slope):
    """cv and skewness are finite, or inf where they overflow float64 (documented)."""
    outcome, detail, spread = classify(moment_spread, (s, width, depth, slope),
                                       names=("s", "width", "depth", "slope"),
                                       check=_spread_ok)
    if outcome == "nonfinite":
        assert spread.skewness == math.inf and not math.isnan(spread.cv), detail
    else:
        assert outcome in ("value", "ValueError"), (outcome, detail)


MOMENT_NAMES = ("init", "s", "width", "depth", "slope", "discrepancy", "samples", "max_samples",
                "false_alarm", "power", "batches")
BAD_INITS = st.sampled_from([None, "normal_", 3, torch.nn.ReLU()])
# samples=None is the default (sized from discrepancy): not a bad value
BAD_SAMPLES = beyond_integers(2, 2 ** 53).filter(lambda v: v is not None)
BAD_LEVELS = st.one_of(st.sampled_from([0.0, 0.6, 1.0, -1e-6, 1e-301]), NONFINITE,
                       NOT_A_NUMBER)


@examples(60)
@given(case=one_bad(
    # valid: sized so that most calls simulate (a few hundred networks), the rest refuse
    dict(init=st.just(_cheap), s=reals(0.5, 2.0), depth=st.integers(1, 2),
         width=st.one_of(st.integers(1, 6), st.lists(st.integers(1, 6), min_size=2, max_size=3)),
         slope=reals(0.0, 1.0, edges=(0.3,)), discrepancy=reals(0.2, 0.5),
         samples=st.one_of(st.none(), st.none(), st.integers(2, 8192)),
         false_alarm=st.one_of(st.none(), reals(1e-9, 0.5)), power=reals(0.5, 0.99),
         batches=st.sampled_from([8, 16, 32])),
    dict(init=BAD_INITS, s=beyond_reals(0.0, 100.0, low_open=True),
         depth=beyond_integers(1, 10000),
         width=st.one_of(beyond_integers(1, 2 ** 20), st.just([3]), st.just([4, 0]),
                         st.just([4, 2.5])),
         slope=beyond_reals(0.0, 1.0),
         discrepancy=beyond_reals(0.0, 0.5, low_open=True),
         samples=BAD_SAMPLES, false_alarm=BAD_LEVELS, power=BAD_POWERS,
         batches=beyond_integers(8, 4096))))
def test_fuzz_assert_moment_preserved(case):
    bad, kw = case
    if bad == "depth" and not isinstance(kw["width"], int):
        kw["width"] = 4                       # depth counts only with one width
    outcome, result = fuzz(_verdict(assert_moment_preserved), max_samples=8192, seed=1,
                           names=MOMENT_NAMES, **kw)
    _expect(outcome, bad, result)


@examples(40)
@given(case=one_bad(
    dict(width=st.integers(1, 6), depth=st.integers(1, 4), sigma=reals(0.3, 1.5),
         activation=st.sampled_from(["relu", "tanh", "identity"]), sigma_b=st.just(0.0),
         discrepancy=reals(0.05, 1.0, high_open=True),
         samples=st.one_of(st.none(), st.integers(2, 3000)),
         false_alarm=st.one_of(st.none(), LEVELS), power=POWERS),
    dict(width=beyond_integers(1, 2 ** 20), depth=beyond_integers(1, 1000),
         sigma=NOT_POSITIVE, activation=st.sampled_from(["no-such", 3, None, ""]),
         sigma_b=st.sampled_from([0.1, math.nan, "0", None, True, [0.0]]),
         discrepancy=beyond_reals(0.0, 1.0, low_open=True, high_open=True),
         samples=BAD_SAMPLES, false_alarm=BAD_LEVELS, power=BAD_POWERS)))
def test_fuzz_assert_layer_law(case):
    bad, kw = case
    outcome, result = fuzz(_verdict(assert_layer_law), _cheap, max_samples=6000, seed=2,
                           names=("init", "width", "depth", "sigma", "activation", "sigma_b",
                                  "discrepancy", "samples", "max_samples", "false_alarm",
                                  "power"), **kw)
    _expect(outcome, bad, result)


def _normal(generator, n):
    return 1.0 + torch.randn(n, generator=generator, dtype=torch.float64)


def _columns(k):
    def simulate(generator, n):
        return torch.stack([_normal(generator, n) for _ in range(k)], dim=1)
    return simulate


@examples(50)
@given(case=one_bad(
    dict(theory=st.one_of(reals(-10.0, 10.0), st.lists(reals(-10.0, 10.0), min_size=1,
                                                        max_size=3)),
         samples=st.one_of(st.none(), st.integers(2, 5000)), cv=reals(0.5, 5.0),
         discrepancy=reals(0.2, 0.5), false_alarm=st.one_of(st.none(), LEVELS),
         power=POWERS, batches=st.integers(8, 64), simulate=st.just(None)),
    dict(theory=st.sampled_from([math.nan, math.inf, "1", None, [], [[1.0]], [1.0, math.nan]]),
         samples=BAD_SAMPLES, cv=NOT_POSITIVE,
         discrepancy=beyond_reals(0.0, 1.0, low_open=True, high_open=True),
         false_alarm=BAD_LEVELS, power=BAD_POWERS, batches=beyond_integers(8, 4096),
         simulate=st.sampled_from([3, "x", [1.0]]))))
def test_fuzz_assert_matches(case):
    bad, kw = case
    if kw["simulate"] is None:                 # as many statistics as theory has
        kw["simulate"] = _columns(len(kw["theory"])) if isinstance(kw["theory"], list) \
            else _normal
    if bad in ("cv", "discrepancy"):
        kw["samples"] = None                   # they size the test only without samples
    if bad == "discrepancy" and isinstance(kw["discrepancy"], float) \
            and 1 <= kw["discrepancy"] < math.inf:
        return                                 # a relative error >= 1 is valid for a mean
    outcome, result = fuzz(_verdict(assert_matches), kw.pop("theory"), kw.pop("simulate"),
                           kw.pop("samples"), seed=3, max_samples=20_000,
                           names=("theory", "simulate", "samples", "cv", "discrepancy",
                                  "max_samples", "false_alarm", "power", "batches"), **kw)
    _expect(outcome, bad, result)


# --------------------------------------------------------------------------- reproducers
def test_min_samples_refuses_instead_of_overflowing():
    """min_samples(1e-300, cv=1) raised OverflowError (a float ** 2), the law version
    OverflowError from int(inf); now both refuse naming discrepancy."""
    with pytest.raises(ValueError, match="discrepancy"):
        min_samples(1e-300, 1.0)
    with pytest.raises(ValueError, match="discrepancy"):
        min_samples(1e-300)
    with pytest.raises(ValueError, match="skewness"):
        min_samples(0.1, 1.0, skewness="big")
    with pytest.raises(ValueError, match="samples"):
        min_discrepancy(10 ** 400, 1.0)


def test_budget_beyond_its_plan_never_overflows():
    """share(index) computed 2.0 ** (index - calls + 1): OverflowError after ~1000 calls
    beyond the plan (hypothesis shrinking can get there); the reserve is now shared as
    6 / (pi^2 j^2): still a valid level far past the plan."""
    budget = FalseAlarmBudget(1e-6, calls=1)
    assert budget.share(5000) == pytest.approx(1e-8 * 6 / (math.pi * 5000) ** 2, rel=1e-12)
    assert budget.share(10 ** 6) >= 1e-300
    with pytest.raises(ValueError, match="calls"):
        FalseAlarmBudget(1e-6, calls=10 ** 400)


def test_heavy_tails_refusal_names_depth():
    with pytest.raises(ValueError, match="depth=10"):
        assert_moment_preserved(_cheap, 4.0, 4, depth=10)


@pytest.mark.parametrize("width", [2 ** 20, [2 ** 20, 2 ** 20], [4096, 4096]])
def test_too_wide_to_simulate_is_refused(width):
    """A network of 2**40 weights was allocated (RuntimeError from torch), one of 2**24 ran
    for hours: now the work is estimated first and refused naming width."""
    with pytest.raises(ValueError, match="width"):
        assert_moment_preserved(_cheap, 2.0, width)


def test_layer_law_bounds_its_samples():
    with pytest.raises(ValueError, match="discrepancy"):
        assert_layer_law(_cheap, 4, 2, 0.5, discrepancy=1e-4)
    with pytest.raises(ValueError, match="samples"):
        assert_layer_law(_cheap, 4, 2, 0.5, samples=10 ** 9)
    with pytest.raises(ValueError, match="width"):
        assert_layer_law(_cheap, 2 ** 20, 1, 0.5)
