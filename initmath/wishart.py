r"""Exact moments of the real Wishart matrix :math:`S = W W^T`.

W is an :math:`m \times n` matrix of iid :math:`N(0, \sigma^2)` entries, so S is
:math:`m \times m` Wishart with n degrees of freedom and scale :math:`\Sigma = \sigma^2 I_m`.
Every moment :math:`E[\operatorname{tr} S^{k_1} \cdots \operatorname{tr} S^{k_r}]` is
:math:`\sigma^{2k}` (:math:`k = \sum k_i`) times an integer polynomial in m and n.

Method (James 1964; Hanlon, Stanley & Stembridge 1992).  Expand the power sum
:math:`p_\mu = \prod_i \operatorname{tr} S^{\mu_i}` in Jack polynomials :math:`J_\lambda`
at :math:`\alpha = 2` (zonal polynomials, :math:`C_\lambda = 2^k k!\, J_\lambda / j_\lambda`),
:math:`p_\mu = \sum_{\lambda \vdash k} a_{\mu\lambda} J_\lambda`.  James' theorem
:math:`E[C_\lambda(S)] = 2^k (n/2)_\lambda\, C_\lambda(\Sigma)` with the generalized
Pochhammer symbol :math:`(a)_\lambda = \prod_i (a - (i-1)/2)_{\lambda_i}` and
:math:`J_\lambda(I_m) = \prod_{(i,j) \in \lambda} (m - (i-1) + 2(j-1))` gives

.. math:: E[p_\mu(S)] = \sigma^{2k} \sum_{\lambda \vdash k} a_{\mu\lambda}\,
          c_\lambda(m)\, c_\lambda(n), \qquad
          c_\lambda(x) = \prod_{(i,j) \in \lambda} \bigl(x - (i-1) + 2(j-1)\bigr),

(:math:`E[J_\lambda(S)] = \sigma^{2k} c_\lambda(m) c_\lambda(n)`, visibly symmetric in m
and n).  For a single power sum the coefficients are closed form (Stanley 1989):
:math:`a_{(k)\lambda} = 2k\,\theta_\lambda / j_\lambda` with
:math:`\theta_\lambda = \prod_{(i,j) \in \lambda,\,(i,j) \ne (1,1)} (2(j-1) - (i-1))` and
:math:`j_\lambda = \prod_{s \in \lambda} (2a(s) + l(s) + 1)(2a(s) + l(s) + 2)` (arm a,
leg l).  For a product of power sums they come from an exact triangular solve against
:math:`J_\lambda` in the monomial basis, built by the Laplace-Beltrami recursion.  All
arithmetic is on integers and Fractions over the partitions of k; sympy only assembles
the final polynomial.
"""
import functools
import math
import numbers
from collections.abc import Iterable
from fractions import Fraction

import numpy as np
import sympy

from . import _validate

# An integer, a rational (Fraction, "3/2"), a float or a sympy symbol/expression.
Symbolic = int | float | Fraction | str | sympy.Expr

__all__ = [
    "marchenko_pastur_moment",
    "wishart_mixed_moment",
    "wishart_spectral_moment",
    "wishart_trace_moment",
    "wishart_trace_moment_latex",
]

# Largest total order.  tr S^k sums over the p(k) partitions of k (p(40) = 37338, 0.5 s);
# a mixed moment needs the whole Jack table, ~p(k)^2 work (k = 24: ~4 s).
K_MAX = 40
MIXED_K_MAX = 24


# --------------------------------------------------------------------------- partitions
@functools.cache
def _partitions(k):
    """Partitions of k in decreasing lexicographic order (a linear extension of dominance)."""
    def below(rest, largest):
        if rest == 0:
            yield ()
            return
        for first in range(min(rest, largest), 0, -1):
            for tail in below(rest - first, first):
                yield (first,) + tail
    return tuple(below(k, k))


def _conjugate(lam):
    return tuple(sum(1 for part in lam if part > j) for j in range(lam[0])) if lam else ()


def _hook_norm(lam):
    """j_lambda = <J_lambda, J_lambda> at alpha = 2: prod (2a + l + 1)(2a + l + 2)."""
    conj = _conjugate(lam)
    return math.prod((2 * (part - j - 1) + conj[j] - i) * (2 * (part - j - 1) + conj[j] - i + 1)
                     for i, part in enumerate(lam) for j in range(part))


def _content_polynomial(lam):
    """Integer coefficients (constant first) of c_lambda(x) = prod (x - i + 2j), 0-based cells."""
    coefficients = [1]
    for i, part in enumerate(lam):
        for j in range(part):
            shift = 2 * j - i
            coefficients = [a * shift + b for a, b in zip(coefficients + [0], [0] + coefficients)]
    return coefficients


# --------------------------------------------------------------------------- p_mu -> J_lambda
def _single_power_weights(k):
    """a_{(k) lambda} = 2k theta_lambda / j_lambda for every lambda |- k (zeros left out)."""
    weights = {}
    for lam in _partitions(k):
        theta = math.prod(2 * j - i for i, part in enumerate(lam) for j in range(part)
                          if (i, j) != (0, 0))
        if theta:
            weights[lam] = Fraction(2 * k * theta, _hook_norm(lam))
    return weights


@functools.cache
def _raisings(k):
    """For each partition nu of k (by index): the (index of mu, d) with mu = nu after raising
    two parts u >= v to u + t, v - t and d = (u - v + 2t) * (number of such part pairs), the
    off-diagonal entries of the Laplace-Beltrami operator on monomials."""
    index = {lam: position for position, lam in enumerate(_partitions(k))}
    table = []
    for nu in _partitions(k):
        multiplicity = {part: nu.count(part) for part in set(nu)}
        entries = []
        for u, mult_u in multiplicity.items():
            for v, mult_v in multiplicity.items():
                if v > u or (v == u and mult_u < 2):
                    continue
                pairs = mult_u * (mult_u - 1) // 2 if u == v else mult_u * mult_v
                rest = list(nu)
                rest.remove(u)
                rest.remove(v)
                for t in range(1, v + 1):
                    mu = tuple(sorted(rest + [u + t] + ([v - t] if v > t else []), reverse=True))
                    entries.append((index[mu], (u - v + 2 * t) * pairs))
        table.append(entries)
    return table


def _eigenvalue(lam):
    """Laplace-Beltrami eigenvalue at alpha = 2, up to a constant: 2 n(lambda') - n(lambda)."""
    return sum(part * (part - 1) - i * part for i, part in enumerate(lam))


@functools.cache
def _jack_monomial_table(k):
    """J_lambda (alpha = 2) in the monomial basis: one integer list per lambda |- k, indexed
    like _partitions(k).  D J = e J with D lower triangular on monomials gives
    (e_lambda - e_nu) c_nu = sum over raisings mu of nu of d c_mu; the leading coefficient
    is the hook product prod (2a + l + 1), and the coefficients are integers."""
    partitions, raisings = _partitions(k), _raisings(k)
    eigenvalues = [_eigenvalue(lam) for lam in partitions]
    table = []
    for top, lam in enumerate(partitions):
        conj = _conjugate(lam)
        coefficients = [0] * len(partitions)
        coefficients[top] = math.prod(2 * (part - j - 1) + conj[j] - i
                                      for i, part in enumerate(lam) for j in range(part))
        for nu in range(top + 1, len(partitions)):
            total = sum(d * coefficients[mu] for mu, d in raisings[nu])
            if total:                       # then nu < mu <= lambda: eigenvalues differ
                coefficients[nu] = total // (eigenvalues[top] - eigenvalues[nu])
        table.append(coefficients)
    return table


def _power_sum_monomials(mu):
    """p_mu in the monomial basis, {partition: integer coefficient}."""
    expansion = {(): 1}
    for r in mu:
        product = {}
        for nu, coefficient in expansion.items():
            for part in set(nu) | {0}:
                parts = list(nu)
                if part:
                    parts.remove(part)
                grown = tuple(sorted(parts + [part + r], reverse=True))
                product[grown] = product.get(grown, 0) + coefficient * grown.count(part + r)
        expansion = product
    return expansion


@functools.cache
def _power_sum_weights(mu):
    """a_{mu lambda} with p_mu = sum a J_lambda: a triangular solve in the monomial basis."""
    k = sum(mu)
    partitions, table = _partitions(k), _jack_monomial_table(k)
    monomials = _power_sum_monomials(mu)
    residual = [Fraction(monomials.get(lam, 0)) for lam in partitions]
    weights = {}
    for top, lam in enumerate(partitions):
        if residual[top]:
            weight = residual[top] / table[top][top]
            weights[lam] = weight
            row = table[top]
            for nu in range(top, len(partitions)):
                if row[nu]:
                    residual[nu] -= weight * row[nu]
    return weights


@functools.cache
def _moment_coefficients(mu):
    """E[p_mu(S)] / sigma^(2k) as {(i, j): integer coefficient of m^i n^j}."""
    weights = _single_power_weights(mu[0]) if len(mu) == 1 else _power_sum_weights(mu)
    scale = math.lcm(*(w.denominator for w in weights.values()))
    size = sum(mu) + 1
    matrix = [[0] * size for _ in range(size)]
    for lam, weight in weights.items():
        poly = _content_polynomial(lam)
        scaled = [weight.numerator * (scale // weight.denominator) * c for c in poly]
        for i, a in enumerate(scaled):
            if a:
                row = matrix[i]
                for j, b in enumerate(poly):
                    row[j] += a * b
    return {(i, j): value // scale for i, row in enumerate(matrix)
            for j, value in enumerate(row) if value}


# --------------------------------------------------------------------------- arguments
def _order(k, name, high):
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, numbers.Integral) or not (
            1 <= k <= high):
        raise ValueError(f"{name} must be an integer in [1, {high}], got {_validate.shown(k)}")
    return int(k)


def _symbol(value, name):
    """A str name or a sympy expression with free symbols as sympy, else None."""
    if isinstance(value, str):
        if not value.isidentifier():
            raise ValueError(f"{name} given as a string must be a symbol name, got {value!r}")
        return sympy.Symbol(value)
    if isinstance(value, sympy.Basic) and value.free_symbols:
        if value.is_positive is False or value.is_real is False:
            raise ValueError(f"{name} must be a positive symbol or expression, got {value!r}")
        return value
    return None


def _real(value):
    """value as a float if it is a finite real number (no bool), else None (Python ints
    beyond float64's range included: the callers compare those exactly)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        return None
    try:
        number = float(value)
    except (OverflowError, TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _dimension(value, name):
    """m or n: an integer in [1, D_MAX] (integral floats such as 64.0 accepted) or a symbol."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    symbol = _symbol(value, name)
    if symbol is not None:
        return symbol
    allowed = f"an integer in [1, {_validate.bound_text(_validate.D_MAX)}] or a symbol"
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        if not 1 <= int(value) <= _validate.D_MAX:       # exact, however large
            raise ValueError(f"{name} must be {allowed}, got {_validate.shown(value)}")
        return sympy.Integer(int(value))
    number = _real(value)
    if number is None or not 1 <= number <= _validate.D_MAX or number != int(number):
        raise ValueError(f"{name} must be {allowed}, got {_validate.shown(value)}")
    return sympy.Integer(int(number))


def _scale(value, name, low_open):
    """sigma2 (> 0) or ratio (>= 0): a finite real number, exact when rational, or a symbol."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    symbol = _symbol(value, name)
    if symbol is not None:
        return symbol
    allowed = (f"{name} must be a finite real number {'>' if low_open else '>='} 0 "
               f"or a symbol")
    if isinstance(value, numbers.Rational) and not isinstance(value, (bool, np.bool_)):
        exact = sympy.Rational(int(value.numerator), int(value.denominator))
        if exact < 0 or (low_open and exact == 0):
            raise ValueError(f"{allowed}, got {_validate.shown(value)}")
        return exact                                    # exact at any size
    number = _real(value)
    if number is None or number < 0 or (low_open and number == 0):
        raise ValueError(f"{allowed}, got {_validate.shown(value)}")
    return sympy.Float(number)


def _float_in_range(result, scale, name):
    """result, unless scale came from a float (so the result is a sympy Float, rounded to
    15 digits) and the result lies beyond float64's range: then a ValueError, since an
    inexact number is only meaningful as a float64 (exact inputs give exact results of
    any size)."""
    if isinstance(scale, sympy.Float) and result.is_number and abs(result) > _FLOAT_MAX:
        raise ValueError(f"{name} was given as a float and the result "
                         f"{sympy.Float(result, 6)} is beyond float64's range; pass {name} "
                         f"exactly (int, Fraction or sympy Rational) for an exact result")
    return result


_FLOAT_MAX = sympy.Float(1.7976931348623157e308)


def _polynomial(mu, m, n):
    """E[p_mu(S)] at sigma = 1 for validated m, n: an Integer or a polynomial in m, n."""
    coefficients = _moment_coefficients(tuple(sorted(mu, reverse=True)))
    if m.is_Integer and n.is_Integer:
        return sympy.Integer(sum(c * int(m) ** i * int(n) ** j
                                 for (i, j), c in coefficients.items()))
    return sympy.Add(*(c * m ** i * n ** j for (i, j), c in coefficients.items()))


# --------------------------------------------------------------------------- public
_REFERENCES = """
    References
    ----------
    .. [1] A. T. James, "Distributions of matrix variates and latent roots derived from
       normal samples", Ann. Math. Statist. 35 (1964), 475-501.
    .. [2] R. J. Muirhead, *Aspects of Multivariate Statistical Theory*, Wiley (1982),
       Ch. 7.
    .. [3] R. P. Stanley, "Some combinatorial properties of Jack symmetric functions",
       Adv. Math. 77 (1989), 76-115.
    .. [4] P. J. Hanlon, R. P. Stanley and J. R. Stembridge, "Some combinatorial aspects of
       the spectra of normally distributed random matrices", Contemp. Math. 138 (1992),
       151-174.
"""


def _document(function):
    function.__doc__ = function.__doc__.replace("{references}", _REFERENCES)
    return function


@_document
def wishart_trace_moment(k: int, m: Symbolic, n: Symbolic, sigma2: Symbolic = 1) -> sympy.Expr:
    r"""Exact :math:`E[\operatorname{tr} S^k]` for :math:`S = W W^T`, W an m x n matrix of
    iid :math:`N(0, \sigma^2)` entries.

    .. math:: E[\operatorname{tr} S^k] = \sigma^{2k} \sum_{\lambda \vdash k}
              \frac{2k\,\theta_\lambda}{j_\lambda}\, c_\lambda(m)\, c_\lambda(n)

    with :math:`\theta_\lambda, j_\lambda, c_\lambda` as in the module docstring (zonal
    polynomials and James' theorem).  The polynomial is symmetric in m and n, has integer
    coefficients and total degree k + 1; its top-degree part is
    :math:`\sum_{j=1}^k N(k, j)\, m^j n^{k+1-j}` (Narayana numbers).

    Parameters
    ----------
    k : int
        Power, an integer in [1, 40].
    m, n : int, str or sympy expression
        Numbers of rows and columns of W: integers in [1, 2**53] (integral floats such
        as 64.0 are accepted; larger integers are compared exactly and refused), or
        symbols (a name such as ``"m"`` or a sympy expression).
    sigma2 : number, str or sympy expression, default 1
        Entry variance :math:`\sigma^2 > 0`, finite; exact when int, Fraction or sympy
        Rational (of any size), a sympy Float for a float, or a symbol.

    Returns
    -------
    sympy.Expr
        An Integer or Rational for integer m, n and rational sigma2 (exact, of any size:
        k = 40 at m = n = 2**53 has ~1300 digits); a sympy Float for a float sigma2;
        otherwise ``sigma2**k`` times the polynomial in m, n.  At most ~0.5 s (k = 40,
        cold cache).

    Raises
    ------
    ValueError
        If k is not an integer in [1, 40] (bools and floats included), m or n is not an
        integer in [1, 2**53] or a symbol, sigma2 is not a finite number > 0 or a symbol,
        or sigma2 is a float and the result lies beyond float64's range (pass it exactly
        instead).
    {references}
    Examples
    --------
    >>> import sympy
    >>> from initmath.wishart import wishart_trace_moment
    >>> wishart_trace_moment(2, "m", "n")
    m**2*n + m*n**2 + m*n
    >>> wishart_trace_moment(3, 3, 5, sigma2=sympy.Rational(1, 2))
    1605/8
    >>> m, n, s = sympy.symbols("m n s", positive=True)
    >>> wishart_trace_moment(1, m, n, s)
    m*n*s
    """
    k = _order(k, "k", K_MAX)
    scale = _scale(sigma2, "sigma2", True)
    return _float_in_range(scale ** k * _polynomial((k,), _dimension(m, "m"),
                                                    _dimension(n, "n")), scale, "sigma2")


@_document
def wishart_mixed_moment(ks: Iterable[int], m: Symbolic, n: Symbolic,
                         sigma2: Symbolic = 1) -> sympy.Expr:
    r"""Exact :math:`E[\operatorname{tr} S^{k_1} \cdots \operatorname{tr} S^{k_r}]`.

    The product of power sums :math:`p_\mu`, :math:`\mu = (k_1, \dots, k_r)`, is expanded
    in zonal (Jack, :math:`\alpha = 2`) polynomials of degree :math:`k = \sum k_i` by an
    exact triangular solve, then James' theorem gives

    .. math:: E[p_\mu(S)] = \sigma^{2k} \sum_{\lambda \vdash k} a_{\mu\lambda}\,
              c_\lambda(m)\, c_\lambda(n).

    Parameters
    ----------
    ks : sequence of int
        The powers :math:`k_1, \dots, k_r`, each an integer >= 1; their sum is at most
        24 when r > 1 (~4 s cold at 24; at most 40 for a single power,
        :func:`wishart_trace_moment`).
    m, n, sigma2
        As in :func:`wishart_trace_moment`.

    Returns
    -------
    sympy.Expr

    Raises
    ------
    ValueError
        If ks is not a non-empty sequence of positive integers within those bounds, or
        m, n, sigma2 are rejected as in :func:`wishart_trace_moment`.
    {references}
    Examples
    --------
    :math:`\operatorname{tr} S / \sigma^2` is :math:`\chi^2_{mn}`, so
    :math:`E[(\operatorname{tr} S)^2] = \sigma^4\, mn (mn + 2)`; and since
    :math:`\operatorname{tr} S^k` is homogeneous of degree 2k in W,
    :math:`E[\operatorname{tr} S \operatorname{tr} S^k] = (mn + 2k)\,
    E[\operatorname{tr} S^k]` at unit variance:

    >>> import sympy
    >>> from initmath.wishart import wishart_mixed_moment, wishart_trace_moment
    >>> sympy.factor(wishart_mixed_moment([1, 1], "m", "n"))
    m*n*(m*n + 2)
    >>> wishart_mixed_moment((2, 1), 2, 3), (6 + 4) * wishart_trace_moment(2, 2, 3)
    (360, 360)
    """
    if isinstance(ks, (str, bytes, dict)) or not isinstance(ks, Iterable) or (
            isinstance(ks, np.ndarray) and ks.ndim != 1):
        raise ValueError("ks must be a non-empty sequence of integers >= 1, "
                         f"got {_validate.shown(ks)}")
    ks = list(ks)
    if len(ks) > MIXED_K_MAX:
        raise ValueError(f"ks must be non-empty with sum at most {MIXED_K_MAX}, got "
                         f"{len(ks)} entries")
    mu = tuple(_order(k, f"ks[{i}]", K_MAX) for i, k in enumerate(ks))
    high = K_MAX if len(mu) == 1 else MIXED_K_MAX
    if not 1 <= sum(mu) <= high:
        raise ValueError(f"ks must be non-empty with sum at most {high}, got {_validate.shown(ks)}")
    scale = _scale(sigma2, "sigma2", True)
    return _float_in_range(scale ** sum(mu) * _polynomial(mu, _dimension(m, "m"),
                                                          _dimension(n, "n")), scale, "sigma2")


def wishart_spectral_moment(k: int, m: Symbolic, n: Symbolic) -> sympy.Expr:
    r"""k-th moment of the expected spectral measure of S / n (unit entry variance).

    .. math:: \frac1m E[\operatorname{tr} (S/n)^k] = \frac{E[\operatorname{tr} S^k]}{m n^k}
              \;\longrightarrow\; \sum_{j=1}^k N(k, j)\, c^{j-1}

    as :math:`m, n \to \infty` with :math:`m/n \to c` (:func:`marchenko_pastur_moment`).

    Parameters
    ----------
    k, m, n
        As in :func:`wishart_trace_moment`.

    Returns
    -------
    sympy.Expr
        A Rational for integer m, n, else the expanded Laurent polynomial.

    Raises
    ------
    ValueError
        As in :func:`wishart_trace_moment`.

    Examples
    --------
    >>> from initmath.wishart import wishart_spectral_moment
    >>> wishart_spectral_moment(2, "m", "n")
    m/n + 1 + 1/n
    >>> wishart_spectral_moment(2, 100, 200)
    301/200
    """
    k = _order(k, "k", K_MAX)
    m, n = _dimension(m, "m"), _dimension(n, "n")
    return sympy.expand(_polynomial((k,), m, n) / (m * n ** k))


def marchenko_pastur_moment(k: int, ratio: Symbolic) -> sympy.Expr:
    r"""k-th moment of the Marchenko-Pastur law with ratio c = m / n and unit variance.

    .. math:: \int x^k\, d\mu_c(x) = \sum_{j=1}^k N(k, j)\, c^{j-1}, \qquad
              N(k, j) = \frac1k \binom kj \binom k{j-1}

    (Narayana polynomial), the limit of :func:`wishart_spectral_moment`.

    Parameters
    ----------
    k : int
        Order, an integer in [1, 40].
    ratio : number, str or sympy expression
        c >= 0 finite (exact when rational, of any size), or a symbol; a float ratio
        whose moment lies beyond float64's range is refused.

    Returns
    -------
    sympy.Expr

    Raises
    ------
    ValueError
        If k is not an integer in [1, 40] or ratio is not a finite number >= 0 or a symbol.

    References
    ----------
    .. [1] Z. Bai and J. W. Silverstein, *Spectral Analysis of Large Dimensional Random
       Matrices*, 2nd ed., Springer (2010), Sec. 3.1.

    Examples
    --------
    >>> from initmath.wishart import marchenko_pastur_moment
    >>> marchenko_pastur_moment(3, "c")
    c**2 + 3*c + 1
    >>> marchenko_pastur_moment(4, 1)      # Catalan number C_4
    14
    """
    k = _order(k, "k", K_MAX)
    c = _scale(ratio, "ratio", False)
    return _float_in_range(sympy.Add(*(math.comb(k, j) * math.comb(k, j - 1) // k
                                       * c ** (j - 1) for j in range(1, k + 1))), c, "ratio")


def wishart_trace_moment_latex(k: int) -> str:
    r"""LaTeX of :math:`E[\operatorname{tr} S^k]` as a polynomial in m, n and sigma,
    for a table of moments.

    Parameters
    ----------
    k : int
        Power, an integer in [1, 40].

    Returns
    -------
    str

    Raises
    ------
    ValueError
        If k is not an integer in [1, 40].

    Examples
    --------
    >>> from initmath.wishart import wishart_trace_moment_latex
    >>> print(wishart_trace_moment_latex(2))
    \sigma^{4} \left(m^{2} n + m n^{2} + m n\right)
    """
    m, n, sigma = sympy.symbols("m n sigma")
    return sympy.latex(wishart_trace_moment(k, m, n, sigma ** 2))
