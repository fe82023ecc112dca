r"""Large-width expansions of the critical variance, derived symbolically.

A layer maps x to phi_a(W x) with W a d x d matrix of iid N(0, sigma^2) entries and
phi_a(z) = z for z > 0, a z otherwise.  Per unit input norm and unit weight variance the
squared output norm is Z = Y_1 + ... + Y_d with iid Y = b phi_a(g)^2 / q^2, g ~ N(0, 1),
b ~ Bernoulli(q) (inverted dropout with keep probability q; q = 1 means no dropout).
The s-th moment of the layer output is multiplied by sigma^s E[Z^(s/2)] per layer, so
the critical variance that preserves it is

.. math:: \bar\sigma^2(s, d) = \bigl(E[Z^{h}]\bigr)^{-1/h}, \qquad h = s/2 .

Derivation (everything below is done by sympy).  With m_1 = E[Y] write
Z = d m_1 (1 + U).  The cumulants of U are kappa_j(U) = d^(1-j) lambda_j with
lambda_j = kappa_j(Y) / m_1^j, so E[U^j] = O(d^-ceil(j/2)) and

.. math:: E[Z^h] = (d m_1)^h \sum_{j \ge 0} \binom{h}{j} E[U^j]

is an asymptotic series in epsilon = 1/d.  Raising it to -1/h and expanding in epsilon
gives a universal series in (h, lambda_2, lambda_3, ...), computed once per order; the
activation and dropout enter only through m_1 and the lambda_j, which follow from

.. math:: E[Y^r] = q^{1-2r}\, \tfrac12 (1 + a^{2r})\, (2r-1)!! .

The series is asymptotic, not convergent: terms exponentially small in d (the atom of
Z at 0 of mass (1 - q/2)^d for ReLU) are invisible to it.
"""
import math
import numbers
from fractions import Fraction
from functools import cache
from typing import Any

import sympy

from . import _validate

__all__ = [
    "critical_sigma_expansion",
    "critical_variance_expansion",
    "d",
]

d = sympy.Symbol("d", positive=True)
# Largest supported order.  With numeric (rational) s, a and keep_prob the series is
# computed in exact rational arithmetic, O(order^3) operations: order 60 takes well under
# a second.  Symbolic arguments make every coefficient a rational function whose size
# grows quickly with the order: ORDER_MAX_SYMBOLIC keeps those within the work budget.
ORDER_MAX = 60
ORDER_MAX_SYMBOLIC = 7
# Work estimated beyond this (seconds) is refused up front, half the library's budget.
_WORK_LIMIT_S = 15.0


def _power_series_coefficients(h, lam, order, one, simplify):
    """F_0..F_{order-1} of (E[(1+U)^h])^(-1/h) = sum_k F_k eps^k for numbers h, lam.

    lam[j] = lambda_j = kappa_j(Y) / m_1^j (j = 2..order), so that kappa_j(U) =
    eps^(j-1) lambda_j.  Truncated power series in eps (lists of ``order`` coefficients):
    the moments of U from its cumulants, E(1+U)^h = sum_j binom(h, j) E[U^j] (E U^j =
    O(eps^ceil(j/2)), so j <= 2(order-1) suffices), then the power -1/h by J.C.P.
    Miller's recurrence.  ``one`` is the unit of the coefficient field (Fraction(1) or
    sympy.Integer(1)); ``simplify`` normalises a coefficient (identity for Fractions).
    """
    zero = one - one
    top = 2 * (order - 1)
    mom = [[one] + [zero] * (order - 1)]
    for n in range(1, top + 1):
        row = [zero] * order
        for j in range(2, min(n, order) + 1):
            weight = math.comb(n - 1, j - 1) * lam[j]
            prev = mom[n - j]
            for k in range(order - (j - 1)):
                if prev[k] != 0:
                    row[k + j - 1] += weight * prev[k]
        mom.append([simplify(x) for x in row])
    series = [zero] * order
    binomial = one
    for j in range(top + 1):
        if j:
            binomial = simplify(binomial * (h - (j - 1)) / j)
        for k in range(order):
            series[k] += binomial * mom[j][k]
    series = [simplify(x) for x in series]          # series[0] == 1
    return _miller_power(series, -one / h, one, simplify)


def _miller_power(series, alpha, one, simplify):
    """Coefficients of P(eps)^alpha for a truncated series P with P(0) = 1."""
    out = [one]
    for n in range(1, len(series)):
        acc = one - one
        for k in range(1, n + 1):
            acc += ((alpha + 1) * k - n) * series[k] * out[n - k]
        out.append(simplify(acc / n))
    return out


@cache
def _variance_coefficients(s, a, q, order):
    """(c_1, ..., c_order) of critical_variance_expansion for already-converted args."""
    numeric = all(isinstance(x, sympy.Rational) for x in (s, a, q))
    if numeric:
        one, simplify = Fraction(1), (lambda x: x)
        s, a, q = (Fraction(int(x.p), int(x.q)) for x in (s, a, q))
    else:
        one, simplify = sympy.Integer(1), sympy.cancel
    moments = [one] + [q ** (1 - 2 * r) * (1 + a ** (2 * r)) / 2
                       * sympy.factorial2(2 * r - 1).__int__() for r in range(1, order + 1)]
    cumulants = [one - one]
    for n in range(1, order + 1):
        cumulants.append(simplify(moments[n] - sum(
            math.comb(n - 1, j - 1) * cumulants[j] * moments[n - j] for j in range(1, n))))
    m1 = moments[1]
    lam = [None, None] + [simplify(cumulants[j] / m1 ** j) for j in range(2, order + 1)]
    f = _power_series_coefficients(s / 2, lam, order, one, simplify)
    if numeric:
        return tuple(sympy.Rational(x.numerator, x.denominator)
                     for x in (fk / m1 for fk in f))
    return tuple(sympy.factor(sympy.cancel(fk / m1)) for fk in f)


def _exact(value, name):
    """value as an exact sympy number, or unchanged if it is symbolic."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number or a sympy expression, not a bool")
    if isinstance(value, sympy.Basic):
        if value.free_symbols:
            if d in value.free_symbols:
                raise ValueError(f"{name} must not contain the expansion variable d")
            return value
        # sympy Floats are read through their decimal digits, like Python floats.
        return sympy.Rational(str(value)) if isinstance(value, sympy.Float) else value
    if isinstance(value, str):
        try:
            return sympy.Rational(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name}={value!r} is not a decimal or fraction string") from None
    if isinstance(value, numbers.Integral):
        return sympy.Integer(int(value))
    if isinstance(value, Fraction):
        return sympy.Rational(value.numerator, value.denominator)
    if isinstance(value, numbers.Real) and math.isfinite(value):
        # Shortest round-trip decimal: 0.8 means 4/5, not its binary neighbour.
        return sympy.Rational(repr(float(value)))
    raise ValueError(f"{name}={value!r} is not a finite real number")


def _check_range(value, name, low, low_open, high, high_open, allowed):
    if value.free_symbols:
        return
    if not value.is_real or (value <= low if low_open else value < low) or (
            high is not None and (value >= high if high_open else value > high)):
        raise ValueError(f"{name} must lie in {allowed}, got {value}")


def _convert(s, a, keep_prob):
    s, a, q = _exact(s, "s"), _exact(a, "a"), _exact(keep_prob, "keep_prob")
    _check_range(s, "s", 0, True, None, False, "(0, inf)")
    _check_range(a, "a", 0, False, 1, False, "[0, 1]")
    _check_range(q, "keep_prob", 0, True, 1, False, "(0, 1]")
    return s, a, q


def _rational_bits(x):
    return (x.p.bit_length() + x.q.bit_length()) if isinstance(x, sympy.Rational) else 64


def _check_work(order, s, a, q):
    """Refuse an order whose exact rational arithmetic would exceed the work budget.

    The coefficients are rationals of ~order * B bits, B the bits of s, a and keep_prob
    (1e-300 alone is ~1000 bits); the series costs ~order^3 operations on them.  The
    estimate is calibrated on one core of the reference machine (order 20 with a = 5e-324
    and keep_prob = 1e-300: ~10 s) and errs high.
    """
    if any(getattr(x, "free_symbols", None) for x in (s, a, q)):
        return
    bits = sum(_rational_bits(x) for x in (s, a, q))
    seconds = 4.4e-6 * order ** 3 * (1 + order * bits / 1000) ** 1.5
    if seconds > _WORK_LIMIT_S:
        raise ValueError(
            f"order={order} would take ~{seconds:.2g} s here (exact rationals of "
            f"~{order * bits:.2g} bits from s, a and keep_prob with long decimal expansions;"
            f" limit {_WORK_LIMIT_S:g} s): use a lower order or shorter s, a, keep_prob")


def _check_order(order, *args):
    """order as an int in [1, ORDER_MAX] (ORDER_MAX_SYMBOLIC if any of args is symbolic)."""
    if isinstance(order, bool) or not isinstance(order, numbers.Integral):
        raise ValueError(f"order must be an integer in [1, {ORDER_MAX}], got {order!r}")
    symbolic = any(getattr(x, "free_symbols", None) for x in args)
    top = ORDER_MAX_SYMBOLIC if symbolic else ORDER_MAX
    if not 1 <= order <= top:
        raise ValueError(f"order must be an integer in [1, {top}]"
                         + (" for symbolic s, a or keep_prob" if symbolic else "")
                         + f", got {_validate.shown(order)}")
    _check_work(int(order), *args)
    return int(order)


def critical_variance_expansion(s: Any, a: Any = 0, order: int = 3, *,
                                keep_prob: Any = 1) -> sympy.Expr:
    r"""Expansion of the critical variance :math:`\bar\sigma^2(s, d)` in powers of 1/d.

    .. math::

        \bar\sigma^2(s, d) = E\bigl[Z^{s/2}\bigr]^{-2/s}
            = \frac{c_1}{d} + \frac{c_2}{d^2} + \dots + \frac{c_N}{d^N}
              + O(d^{-N-1}),

    with :math:`c_1 = 2q/(1+a^2)` and :math:`c_2 = \frac{2-s}{4}\,\kappa_2(Y)/m_1^3`;
    all coefficients are derived by sympy from the cumulants of
    :math:`Y = b\,\phi_a(g)^2/q^2` (see the module docstring).

    Parameters
    ----------
    s : number, str or sympy expression
        Order of the preserved moment, s > 0.  Floats are read through their shortest
        decimal representation (0.8 means 4/5); strings such as ``"0.8"`` or ``"4/5"``
        are parsed exactly.  A symbolic value gives coefficients symbolic in it.
    a : number, str or sympy expression, default 0
        Negative slope of the activation, 0 <= a <= 1 (0: ReLU, 1: linear).
    order : int, default 3
        Number N >= 1 of terms kept.
    keep_prob : number, str or sympy expression, default 1
        Keep probability q of inverted dropout, 0 < q <= 1.

    Returns
    -------
    sympy.Expr
        ``c_1/d + ... + c_N/d**N`` in the module symbol :data:`d`, without an O-term.

    Raises
    ------
    ValueError
        If a numeric argument is outside its range or ``order`` is not a positive int.

    Notes
    -----
    Results are cached.  At s = 2 (h = 1) every coefficient beyond :math:`c_1`
    vanishes: :math:`\bar\sigma^2(2, d) = 2q/(d(1+a^2))` exactly.  The paper's
    Corollary 4 and Remark 13 agree with :math:`c_1, c_2` here; its small-a formula in
    Corollary 10 does not (see ``docs/errata.md``).

    References
    ----------
    .. [1] M. Gurbuzbalaban and Y. Hu, "Fractional moment-preserving initialization
       schemes for training deep neural networks", AISTATS 2021, Corollaries 4 and 10,
       Remark 13.

    Examples
    --------
    >>> from initmath.asymptotics import critical_variance_expansion, d
    >>> critical_variance_expansion(1, order=3)
    2/d + 5/(2*d**2) + 49/(16*d**3)
    >>> critical_variance_expansion(2, a="0.5", order=4, keep_prob="0.8")  # exact at s = 2
    32/(25*d)
    """
    s, a, q = _convert(s, a, keep_prob)
    coefficients = _variance_coefficients(s, a, q, _check_order(order, s, a, q))
    return sympy.Add(*(c / d ** k for k, c in enumerate(coefficients, start=1)))


def critical_sigma_expansion(s: Any, a: Any = 0, order: int = 3, *,
                             keep_prob: Any = 1) -> sympy.Expr:
    r"""Expansion of the critical standard deviation :math:`\bar\sigma(s, d)`.

    .. math::

        \bar\sigma(s, d) = \sqrt{\bar\sigma^2(s, d)}
            = \frac{b_1}{d^{1/2}} + \frac{b_2}{d^{3/2}} + \dots + \frac{b_N}{d^{N-1/2}}
              + O(d^{-N-1/2}),

    the square root of :func:`critical_variance_expansion` re-expanded in 1/d.

    Parameters
    ----------
    s, a, order, keep_prob
        As in :func:`critical_variance_expansion`.

    Returns
    -------
    sympy.Expr
        ``b_1/sqrt(d) + ... + b_N/d**(N - 1/2)`` in the module symbol :data:`d`.

    References
    ----------
    .. [1] M. Gurbuzbalaban and Y. Hu, AISTATS 2021, Corollary 4 (second display).

    Examples
    --------
    >>> import sympy
    >>> from initmath.asymptotics import critical_sigma_expansion, d
    >>> sigma = critical_sigma_expansion(1, order=2)
    >>> sigma
    sqrt(2)/sqrt(d) + 5*sqrt(2)/(8*d**(3/2))
    >>> sympy.expand(sigma**2 - (2/d + sympy.Rational(5, 2)/d**2)) * d**3
    25/32
    """
    s, a, q = _convert(s, a, keep_prob)
    order = _check_order(order, s, a, q)
    c = _variance_coefficients(s, a, q, order)
    relative = [sympy.cancel(ck / c[0]) for ck in c]
    root = _miller_power(relative, sympy.Rational(1, 2), sympy.Integer(1), sympy.cancel)
    return sympy.Add(*(sympy.factor(sympy.sqrt(c[0]) * root[k])
                       / d ** sympy.Rational(2 * k + 1, 2) for k in range(order)))
