"""Fuzz tests of initmath.kl (issue 13): every call ends in a finite value or a one-line
ValueError naming an argument, within the budget; plus an oracle layer (mpmath at 40 digits
against the float64 results over the whole domain, edges included) and the reproducers.

CI: ~10 s.  Hunting: ``INITMATH_FUZZ=long python -m pytest tests/test_fuzz_kl.py``."""
import math
import sys

import mpmath
import numpy as np
import pytest
from _fuzz import (
    NOT_A_NUMBER,
    arrays,
    beyond_integers,
    beyond_reals,
    examples,
    fuzz,
    integers,
    maybe_beyond,
    reals,
)
from hypothesis import example, given
from hypothesis import strategies as st

from initmath import kl
from initmath.papers import horii_has

# reals(0, sys.float_info.max) overflows in _fuzz's log-uniform part (10.0 ** 308.25):
# the strategies stop at 1e308, the largest float appears in explicit examples
BIG = 1e308
MAX = sys.float_info.max
POSITIVE = reals(0, BIG, low_open=True)
NOT_POSITIVE = beyond_reals(0, BIG, low_open=True)
ANY_REAL = reals(-BIG, BIG)
COUNT = integers(1, 2 ** 53)
BOUND_NAMES = ("sigma0", "lr", "batch_size", "noise_var", "K", "second_moment", "log_C")
SGD_NAMES = ("eigenvalues", "A", "lr", "batch_size", "noise_var", "sigma0", "discrete", "tol")


def _maybe_array(valid, invalid):
    """A value (mostly valid), sometimes an array of valid ones or a wrong-kind value."""
    return st.one_of(maybe_beyond(valid, invalid), arrays(valid, 3))


def _scalar(*values):
    return all(np.ndim(v) == 0 and isinstance(v, (int, float)) and not isinstance(v, bool)
               for v in values)


def _mp(x):
    return mpmath.mpf(float(x)) if not isinstance(x, int) else mpmath.mpf(x)


def _close(got, want, rel=1e-12, scale=None, atol=1e-322):
    """got == want to rel (relative to scale, default |want|), or absolutely at the
    subnormal end; want an mpmath number."""
    scale = abs(want) if scale is None else scale
    return abs(mpmath.mpf(float(got)) - want) <= rel * scale + atol


# --------------------------------------------------------------------------- the bound
def _bound_reference(sigma0, lr, b, nv, K, M, log_C):
    """(value, scale of the terms) of Proposition III.1 at 40 digits."""
    with mpmath.workdps(40):
        tau = _mp(lr) * _mp(nv) / (2 * _mp(b))
        s = _mp(sigma0)
        terms = [mpmath.log(2 * mpmath.pi * s * s) / 2, _mp(log_C) / _mp(K),
                 _mp(M) / (2 * _mp(K) * s * s)]
        return tau * sum(terms), tau * sum(abs(t) for t in terms)


def _check_bound(args):
    def check(result):
        if not _scalar(*args):
            return None
        want, scale = _bound_reference(*args)
        if not _close(result, want, rel=1e-13, scale=scale):
            return f"{float(result)!r} != {mpmath.nstr(want, 17)}"
    return check


@examples(300)
@given(sigma0=_maybe_array(POSITIVE, NOT_POSITIVE), lr=_maybe_array(POSITIVE, NOT_POSITIVE),
       batch_size=maybe_beyond(COUNT, beyond_integers()),
       noise_var=_maybe_array(POSITIVE, NOT_POSITIVE), K=maybe_beyond(COUNT, beyond_integers()),
       second_moment=_maybe_array(POSITIVE, NOT_POSITIVE),
       log_C=maybe_beyond(ANY_REAL, st.one_of(NOT_A_NUMBER, st.sampled_from([math.nan]))))
@example(sigma0=1e300, lr=0.1, batch_size=1, noise_var=1.0, K=1.0, second_moment=1.0,
         log_C=0.0)
@example(sigma0=1e-300, lr=0.1, batch_size=1, noise_var=1.0, K=1.0, second_moment=1.0,
         log_C=0.0)
@example(sigma0=1e-150, lr=1e-300, batch_size=2 ** 53, noise_var=5e-324, K=2 ** 53,
         second_moment=1e300, log_C=-1e308)
def test_kl_loss_bound(sigma0, lr, batch_size, noise_var, K, second_moment, log_C):
    args = (sigma0, lr, batch_size, noise_var, K, second_moment, log_C)
    fuzz(kl.kl_loss_bound, sigma0, lr=lr, batch_size=batch_size, noise_var=noise_var, K=K,
         second_moment=second_moment, log_C=log_C, names=BOUND_NAMES, check=_check_bound(args))


@examples(200)
@given(lr=_maybe_array(POSITIVE, NOT_POSITIVE), batch_size=maybe_beyond(COUNT, beyond_integers()),
       noise_var=maybe_beyond(POSITIVE, NOT_POSITIVE), K=maybe_beyond(COUNT, beyond_integers()),
       second_moment=_maybe_array(POSITIVE, NOT_POSITIVE),
       log_C=maybe_beyond(ANY_REAL, NOT_A_NUMBER))
@example(lr=5e-324, batch_size=1, noise_var=1e308, K=1, second_moment=5e-324, log_C=1e308)
def test_optimized_loss_bound(lr, batch_size, noise_var, K, second_moment, log_C):
    def check(result):
        if not _scalar(lr, batch_size, noise_var, K, second_moment, log_C):
            return None
        with mpmath.workdps(40):
            tau = _mp(lr) * _mp(noise_var) / (2 * _mp(batch_size))
            terms = [(mpmath.log(2 * mpmath.pi * _mp(second_moment) / _mp(K)) + 1) / 2,
                     _mp(log_C) / _mp(K)]
            want, scale = tau * sum(terms), tau * sum(abs(t) for t in terms)
        if not _close(result, want, rel=1e-13, scale=scale):
            return f"{float(result)!r} != {mpmath.nstr(want, 17)}"
    fuzz(kl.optimized_loss_bound, lr=lr, batch_size=batch_size, noise_var=noise_var, K=K,
         second_moment=second_moment, log_C=log_C, names=BOUND_NAMES, check=check)


@examples(200)
@given(second_moment=_maybe_array(POSITIVE, NOT_POSITIVE),
       K=maybe_beyond(COUNT, beyond_integers()))
@example(second_moment=5e-324, K=3)
@example(second_moment=MAX, K=1)
def test_optimal_init_sigma(second_moment, K):
    def check(result):
        if _scalar(second_moment, K):
            with mpmath.workdps(40):
                want = mpmath.sqrt(_mp(second_moment) / _mp(K))
            if not _close(result, want, rel=4e-16):
                return f"{float(result)!r} != {mpmath.nstr(want, 17)}"
    fuzz(kl.optimal_init_sigma, second_moment, K, names=("second_moment", "K"), check=check)


# --------------------------------------------------------------------------- quadratic laws
EIGEN = reals(0, BIG, low_open=True)
EIGENVALUES = st.one_of(EIGEN, arrays(EIGEN, 4), st.just([]), NOT_A_NUMBER,
                        arrays(st.sampled_from([-1.0, 0.0, math.nan, math.inf]), 2))


def _mode_reference(lam, lr, b, nv, discrete):
    """Per-mode variances at 40 digits."""
    with mpmath.workdps(40):
        tau = _mp(lr) * _mp(nv) / (2 * _mp(b))
        return [tau / (_mp(x) * ((1 - _mp(lr) * _mp(x) / 2) if discrete else 1))
                for x in np.atleast_1d(lam)]


def _check_law(lam, lr, b, nv, discrete):
    def check(law):
        if not _scalar(lr, b, nv) or np.ndim(lam) > 1:
            return None
        v = _mode_reference(lam, lr, b, nv, discrete)
        with mpmath.workdps(40):
            log_C = -sum(mpmath.log(2 * mpmath.pi * x) for x in v) / 2
            loss = sum(_mp(x) * y for x, y in zip(np.atleast_1d(lam), v)) / 2
            second = sum(v)
        for got, want, what in ((law.log_C, log_C, "log_C"), (law.expected_loss, loss, "E[L]"),
                                (law.second_moment, second, "E|W|^2")):
            if not _close(got, want, rel=1e-13, scale=abs(want) + (1 if what == "log_C" else 0)):
                return f"{what} {float(got)!r} != {mpmath.nstr(want, 17)}"
        for got, want in zip(law.variances, v):
            if not _close(got, want, rel=1e-14):
                return f"variance {float(got)!r} != {mpmath.nstr(want, 17)}"
    return check


@examples(300)
@given(eigenvalues=maybe_beyond(st.one_of(EIGEN, arrays(EIGEN, 4)), EIGENVALUES),
       lr=_maybe_array(POSITIVE, NOT_POSITIVE), batch_size=maybe_beyond(COUNT, beyond_integers()),
       noise_var=maybe_beyond(POSITIVE, NOT_POSITIVE), discrete=st.booleans())
@example(eigenvalues=[1.0], lr=5e-324, batch_size=1, noise_var=1.0, discrete=False)
@example(eigenvalues=[5e-324, 1e308], lr=1e-310, batch_size=1, noise_var=1.0, discrete=True)
@example(eigenvalues=[5e-324, MAX], lr=1e-308, batch_size=2 ** 53, noise_var=MAX, discrete=True)
def test_quadratic_stationary(eigenvalues, lr, batch_size, noise_var, discrete):
    fuzz(kl.quadratic_stationary, eigenvalues, lr=lr, batch_size=batch_size,
         noise_var=noise_var, discrete=discrete, names=SGD_NAMES,
         check=_check_law(eigenvalues, lr, batch_size, noise_var, discrete))


@examples(60)
@given(lam=arrays(reals(1e-3, 1e3), 3), angle=st.floats(0, 3.2), scale=st.integers(-300, 300),
       lr=POSITIVE, discrete=st.booleans())
def test_quadratic_stationary_matrix_agrees_with_modes(lam, angle, scale, lr, discrete):
    """A full matrix at any scale: the same law as its eigenvalues (or the same ValueError)."""
    K = len(lam)
    rotation = np.linalg.qr(np.cos(angle * np.arange(1, K * K + 1)).reshape(K, K)
                            + 2 * np.eye(K))[0]
    lam = lam * 10.0 ** scale
    A = (rotation * lam) @ rotation.T
    A = (A + A.T) / 2
    sgd = dict(lr=lr, batch_size=3, noise_var=0.5, discrete=discrete)
    outcome, by_matrix = fuzz(kl.quadratic_stationary, A=A, names=SGD_NAMES, **sgd)
    if outcome == "value":
        lam = np.linalg.eigvalsh(A / np.abs(A).max()) * np.abs(A).max()
        by_modes = kl.quadratic_stationary(lam, **sgd)
        assert by_matrix.log_C == pytest.approx(by_modes.log_C, rel=1e-9, abs=1e-9)
        for field in ("expected_loss", "second_moment"):
            assert getattr(by_matrix, field) == pytest.approx(getattr(by_modes, field),
                                                              rel=1e-9, abs=1e-300)


@examples(200)
@given(sigma0=_maybe_array(POSITIVE, NOT_POSITIVE),
       eigenvalues=maybe_beyond(st.one_of(EIGEN, arrays(EIGEN, 4)), EIGENVALUES),
       lr=maybe_beyond(POSITIVE, NOT_POSITIVE), discrete=st.booleans())
@example(sigma0=1.0, eigenvalues=[1.0 + 1e-9], lr=2.0, discrete=False)
def test_quadratic_kl_divergence(sigma0, eigenvalues, lr, discrete):
    def check(result):
        if not _scalar(sigma0, lr) or np.ndim(eigenvalues) > 1:
            return None
        v = _mode_reference(eigenvalues, lr, 1, 1.0, discrete)
        with mpmath.workdps(40):
            r = [x / _mp(sigma0) ** 2 for x in v]
            want = sum(x - 1 - mpmath.log(x) for x in r) / 2
            scale = sum(abs(x - 1) for x in r) * 1e-3     # d/du (e^u - 1 - u) = e^u - 1
        if not _close(result, want, rel=1e-12, scale=abs(want) + scale):
            return f"{float(result)!r} != {mpmath.nstr(want, 17)}"
    fuzz(kl.quadratic_kl_divergence, sigma0, eigenvalues, lr=lr, batch_size=1, noise_var=1.0,
         discrete=discrete, names=SGD_NAMES, check=check)


@examples(200)
@given(eigenvalues=maybe_beyond(st.one_of(EIGEN, arrays(EIGEN, 4)), EIGENVALUES),
       lr=_maybe_array(POSITIVE, NOT_POSITIVE))
@example(eigenvalues=5e-324, lr=0.05)
@example(eigenvalues=[1e-300, 1.0], lr=1e-20)
def test_discretization_error(eigenvalues, lr):
    def check(err):
        if not _scalar(lr) or np.ndim(eigenvalues) > 1:
            return None
        with mpmath.workdps(800):                 # the "- 1" cancels up to ~650 digits
            lam = [_mp(x) for x in np.atleast_1d(eigenvalues)]
            x = [_mp(lr) * value for value in lam]
            inflation = [1 / (1 - y / 2) for y in x]
            loss = len(lam) / sum(inflation) - 1
            second = sum(1 / v for v in lam) / sum(i / v for i, v in zip(inflation, lam)) - 1
        for got, want in ((err.expected_loss, loss), (err.second_moment, second),
                          *zip(err.variances, [-y / 2 for y in x])):
            if not _close(got, want, rel=1e-13):
                return f"{float(got)!r} != {mpmath.nstr(want, 17)}"
    fuzz(kl.discretization_error, eigenvalues, lr=lr, names=SGD_NAMES, check=check)


@examples(200)
@given(eigenvalues=maybe_beyond(st.one_of(EIGEN, arrays(EIGEN, 4)), EIGENVALUES),
       lr=_maybe_array(POSITIVE, NOT_POSITIVE),
       tol=maybe_beyond(reals(0, 1, low_open=True, high_open=True),
                        beyond_reals(0, 1, low_open=True, high_open=True)))
@example(eigenvalues=[1.0], lr=1e-20, tol=0.5)
@example(eigenvalues=np.array([1e-30]), lr=1.0, tol=0.9999999999999999)
@example(eigenvalues=[1.0], lr=1e-15, tol=5e-324)
@example(eigenvalues=[1.0, 3.0], lr=0.5, tol=0.5)
def test_burn_in_steps(eigenvalues, lr, tol):
    def check(steps):
        if not _scalar(lr, tol) or np.ndim(eigenvalues) > 1:
            return None
        with mpmath.workdps(40):
            # log|1 - x| by log1p: 40 digits of 1 - 1e-30 keep only 10 (found by the long run)
            log_rho = max(mpmath.log1p(-_mp(lr) * _mp(x)) if _mp(lr) * _mp(x) < 1
                          else mpmath.log(abs(1 - _mp(lr) * _mp(x)))
                          for x in np.atleast_1d(eigenvalues))
            exact = (mpmath.log(_mp(tol)) / (2 * log_rho) if mpmath.isfinite(log_rho)
                     else mpmath.mpf(0))
        want = max(int(mpmath.ceil(exact)), 1)
        near = abs(exact - mpmath.nint(exact)) <= 1e-9 * abs(exact)
        if steps != want and not (near and abs(int(steps) - want) <= 1):
            return f"{steps} != {want}"
    fuzz(kl.burn_in_steps, eigenvalues, lr=lr, tol=tol, names=SGD_NAMES, check=check)


# --------------------------------------------------------------------------- least squares
@examples(60)
@given(N=st.integers(1, 6), K=st.integers(1, 3), seed=st.integers(0, 2 ** 16),
       x_scale=st.sampled_from([0, -300, -150, 150, 300, -20, 20]),
       y_scale=st.sampled_from([0, -300, 300, 40]), lr=maybe_beyond(POSITIVE, NOT_POSITIVE),
       batch_size=maybe_beyond(integers(1, 2 ** 53), beyond_integers()))
def test_least_squares_stationary(N, K, seed, x_scale, y_scale, lr, batch_size):
    """Outcome contract, and scale invariance: (c X, d y, lr / c^2) has W = (d/c) W0."""
    rng = np.random.default_rng(seed)
    X0, y0 = rng.standard_normal((N, K)), rng.standard_normal(N)
    c, d = 10.0 ** x_scale, 10.0 ** y_scale
    names = ("X", "y", "lr", "batch_size")
    outcome, law = fuzz(kl.least_squares_stationary, X0 * c, y0 * d, lr=lr,
                        batch_size=batch_size, names=names)
    # (N > K: with N <= K the data are interpolated and the noise is pure roundoff)
    if outcome == "value" and isinstance(lr, float) and 1e-200 < lr * c * c < 1e200 and N > K:
        base = kl.least_squares_stationary(X0, y0, lr=lr * c * c, batch_size=batch_size)
        np.testing.assert_allclose(law.mean, base.mean * (d / c), rtol=1e-9,
                                   # results below float64's normal range keep fewer digits
                                   atol=1e-12 * np.abs(base.mean).max() * (d / c) + 1e-307)
        assert law.expected_loss == pytest.approx(base.expected_loss * d * d, rel=1e-8,
                                                  abs=1e-300)
        assert law.distance == pytest.approx(base.distance * (d / c) ** 2, rel=1e-8,
                                             abs=1e-300)


def test_least_squares_bad_shapes_and_work_bound():
    names = ("X", "y", "lr", "batch_size")
    for X, y in ((np.ones((3, 2)), np.ones(3)), (np.zeros((2, 2)), np.ones(2)),
                 ("X", np.ones(2)), (np.ones((2, 2, 2)), np.ones(2)),
                 (np.ones((10 ** 6, 40)), np.ones(10 ** 6))):
        assert fuzz(kl.least_squares_stationary, X, y, lr=0.1, batch_size=1,
                    names=names)[0] == "ValueError"
    for bad in ([0.1, 0.2], np.array([1, 2])):
        assert fuzz(kl.least_squares_stationary, np.eye(2), np.ones(2), lr=bad, batch_size=1,
                    names=names)[0] == "ValueError"


# --------------------------------------------------------------------------- symbolic
@pytest.mark.parametrize("module, name", [(kl, "kl_bound_derivation"),
                                          (kl, "kl_bound_derivation_latex"),
                                          (horii_has, "printed_equations"),
                                          (horii_has, "compare_with_paper")])
def test_symbolic_functions_take_no_arguments_and_finish(module, name):
    outcome, result = fuzz(getattr(module, name), names=("none",))
    assert outcome == "value" and len(result) >= 6


# --------------------------------------------------------------------------- reproducers
def test_reproducer_burn_in_tiny_lr_is_a_value_error_not_one():
    """rho = 1 - 1e-20 rounds to 1 in float64; log1p gives the true ~3.47e19 steps, which
    is beyond the documented limit 2**53 (and beyond int64 precision)."""
    with pytest.raises(ValueError, match=r"lr .*3\.47e\+19"):
        kl.burn_in_steps([1.0], lr=1e-20, tol=0.5)
    # just inside: lr = 1e-15 needs log(2)/(2e-15) = 3.4657e14 steps, exactly
    want = math.ceil(mpmath.log(2) / (2 * -mpmath.log1p(-mpmath.mpf(1e-15))))
    assert kl.burn_in_steps([1.0], lr=1e-15, tol=0.5) == want


def test_reproducer_kl_loss_bound_extreme_sigma0():
    args = dict(lr=0.1, batch_size=1, noise_var=1.0, K=1.0, second_moment=1.0, log_C=0.0)
    want = float(_bound_reference(1e300, 0.1, 1, 1.0, 1, 1.0, 0.0)[0])
    assert want == pytest.approx(34.58472332157092, rel=1e-15)
    assert kl.kl_loss_bound(1e300, **args) == pytest.approx(want, rel=1e-15)
    # sigma0 = 1e-300: the true bound is 2.5e598, beyond float64: a ValueError, not nan
    with pytest.raises(ValueError, match="sigma0"):
        kl.kl_loss_bound(1e-300, **args)
    # with tau small enough the same sigma0 has a representable bound
    tiny_tau = dict(args, lr=1e-300, noise_var=1e-300)
    want = float(_bound_reference(1e-300, 1e-300, 1, 1e-300, 1, 1.0, 0.0)[0])
    assert kl.kl_loss_bound(1e-300, **tiny_tau) == pytest.approx(want, rel=1e-14)


def test_reproducer_log_C_at_the_smallest_lr():
    law = kl.quadratic_stationary([1.0], lr=5e-324, batch_size=1, noise_var=1.0)
    with mpmath.workdps(40):
        want = -(mpmath.log(2 * mpmath.pi) + mpmath.log(mpmath.mpf(5e-324) / 2)) / 2
    assert law.log_C == pytest.approx(float(want), rel=1e-15)
    assert law.variances[0] == 0.0 and law.expected_loss == 0.0   # 2.5e-324 rounds to 0


def test_reproducer_discretization_error_with_a_scalar_eigenvalue():
    """A scalar is one eigenvalue (K = 1), like a 1-element list, in every function."""
    err = kl.discretization_error(5e-324, lr=0.05)
    assert err == kl.discretization_error([5e-324], lr=0.05)
    assert err.second_moment == 0.0 and err.expected_loss == 0.0   # -1.2e-325 rounds to -0
    err = kl.discretization_error([1e-300, 1.0], lr=1e-20)
    assert err.variances[1] == -5e-21                                # was 0 (1 - (1 - x))
    with mpmath.workdps(800):
        x, lam = mpmath.mpf(1e-20), [mpmath.mpf(1e-300), mpmath.mpf(1)]
        inflation = [1 / (1 - x * v / 2) for v in lam]
        want = sum(1 / v for v in lam) / sum(i / v for i, v in zip(inflation, lam)) - 1
    assert err.second_moment == pytest.approx(float(want), rel=1e-13)
