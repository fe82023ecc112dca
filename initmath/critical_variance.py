r"""Fractional-moment critical variance of a ReLU / leaky-ReLU / linear layer.

A layer maps :math:`x \mapsto \phi_a(W x)` with a :math:`d \times d_{in}` matrix
:math:`W` of iid :math:`N(0, \sigma^2)` entries, zero bias and
:math:`\phi_a(z) = z` for :math:`z > 0`, :math:`a z` otherwise.  Since
:math:`W x \sim N(0, \sigma^2 \lVert x\rVert^2 I_d)`,

.. math:: E\lVert x_{k+1}\rVert^s = \sigma^s I_a(s, d)\, E\lVert x_k\rVert^s, \qquad
          I_a(s, d) = E\bigl[Z^{s/2}\bigr], \quad Z = \lVert\phi_a(g)\rVert^2,
          \ g \sim N(0, I_d),

so the s-th moment is preserved exactly by the critical value
:math:`\bar\sigma_a(s, d) = I_a(s, d)^{-1/s}` (Gurbuzbalaban & Hu 2021).

Three independent routes compute :math:`I_a` (``method=``): ``"laplace"`` (a
one-dimensional integral of the Laplace transform :math:`M(t)^d`, cost independent of
d; :mod:`initmath._engine.laplace`), ``"hypergeometric"`` (a sum of Gauss hypergeometric
functions over the number of positive coordinates; :mod:`initmath._engine.hypergeometric`)
and ``"series"`` (the paper's Theorem 1 / Theorem 7 series exactly as printed;
:mod:`initmath._engine.series`).  The layer's coordinate law (slope, dropout, random
slopes) is a :class:`initmath._engine.mixture.Mixture`.  See ``docs/critical-variance.md``
for the derivations.
"""
import functools
import math

import mpmath
import numpy as np
from numpy.typing import ArrayLike
from scipy.special import logsumexp

from . import _docs, _validate
from ._engine.evaluate import at_precision, elementwise, guard_digits, unwrap
from ._engine.hypergeometric import log_moment_factor_mp, work_estimate
from ._engine.laplace import H_MAX, log_moment_mp, log_moment_roots, work_estimate_mp
from ._engine.mixture import random_slopes, slope
from ._engine.series import series_moment_factor

__all__ = [
    "critical_sigma",
    "critical_sigmas",
    "critical_variance",
    "kaiming_sigma",
    "log_moment_factor",
    "moment_factor",
    "rrelu_critical_sigma",
    "rrelu_critical_variance",
    "rrelu_moment_factor",
]

METHODS = ("auto", "laplace", "hypergeometric", "series")
# Largest moment order: the Laplace route's derivative form needs m ~ s/2 Taylor
# coefficients per node, and by s = 1000 the moments are far beyond any use.
S_MAX = 2.0 * H_MAX
# Smallest moment order: the routes work with h = s/2, which must be a normal float64
# (below it s/2 rounds to 0 or loses bits; sigma-bar there is beyond float64 anyway).
S_MIN = 2.0 ** -1021
# Smallest keep probability: p times a mixture weight must stay a normal float64 (at
# subnormal p the products round to 0 and P(unit alive) is lost); far below any real use.
KEEP_PROB_MIN = 1e-300
# Work estimated beyond this is refused up front: half the budget, as the estimates
# (summands or nodes times a measured unit cost) are good to a factor of ~2.
_WORK_LIMIT_S = _validate.WORK_BUDGET_S / 2
# What the public functions return: float64 (a scalar or an array) or mpmath numbers.
Result = float | np.ndarray | mpmath.mpf
# Digits of a float64 result obtained from an mpmath route.
_FLOAT_DPS = 20


# --------------------------------------------------------------------------- core
def _check(s, d, a, keep_prob, dps, method):
    """Validated, broadcast arguments: float/int arrays (and the originals for mpmath)."""
    arrays = _validate.broadcast(s=_validate.real(s, "s", S_MIN, S_MAX),
                                 d=_validate.positive_integer(d, "d"),
                                 a=_validate.real(a, "a", 0, 1),
                                 keep_prob=_validate.real(keep_prob, "keep_prob",
                                                          KEEP_PROB_MIN, 1))
    dps = _validate.dps_or_none(dps)
    _validate.choice(method, "method", METHODS)
    return arrays, dps


def _log_moment_float(s, d, a, q, method):
    """log I for float64 arrays of equal shape (flattened work, reshaped result)."""
    shape = s.shape
    s, d, a, q = (x.ravel() for x in (s, d, a, q))
    if method in ("auto", "laplace"):
        # Z_q = Z~ / q^2 with Z~ = sum_i b_i phi_a(g_i)^2: the engine takes slopes (not
        # their squares) and the keep probability, so neither a^2 nor 1/q^2 can leave
        # float64's range (tiny slopes and keep_prob down to 5e-324 included).
        out = log_moment_roots(s / 2, d.astype(float), *slope(a, q))
        return (out - s * np.log(q)).reshape(shape)
    out = np.empty(s.shape)
    for i in range(s.size):
        if method == "series":
            out[i] = _log_series(s[i], d[i], a[i], q[i], None)
        else:
            with mpmath.workdps(_FLOAT_DPS):
                out[i] = float(_log_moment_mp(mpmath.mpf(s[i]), int(d[i]), mpmath.mpf(a[i]),
                                              mpmath.mpf(q[i]), method))
    return out.reshape(shape)


def _log_series(s, d, a, q, dps):
    if q != 1:
        raise ValueError("method='series' (the paper's Theorems 1 and 7) has no dropout; "
                         "use keep_prob=1 or another method")
    value = series_moment_factor(s, int(d), a, dps=dps)
    return math.log(value) if dps is None else mpmath.log(value)


def _log_moment_mp(s, d, a, q, method):
    """log I at the current mpmath precision for one set of exact mpmath arguments.

    "auto" takes the route whose up-front work estimate is smaller; an explicit route
    (or auto's best) estimated beyond the work budget raises instead of running for
    minutes (the estimates count the summands / quadrature nodes the routes will use).
    """
    h = s / 2
    if method == "series":
        return _log_series(s, d, a, q, mpmath.mp.dps)
    c, w = slope(a, q).scales()
    prec = mpmath.mp.prec
    costs = {}
    if method in ("auto", "hypergeometric"):
        costs["hypergeometric"] = work_estimate(h, d, a, q, prec)
    if method in ("auto", "laplace"):
        costs["laplace"] = work_estimate_mp(h, d, c, w, prec)
    route = min(costs, key=costs.get)
    if costs[route] > _WORK_LIMIT_S:
        raise ValueError(_too_slow(costs[route], method, s, d))
    if route == "hypergeometric":
        return log_moment_factor_mp(h, d, a, q)
    return log_moment_mp(h, d, c, w)


def _too_slow(seconds, method, s, d, what=""):
    where = (f"at s={mpmath.nstr(s, 6)}, d={d}{what}, "
             f"{mpmath.mp.dps} working digits")
    if method in ("hypergeometric", "laplace"):
        other = "laplace" if method == "hypergeometric" else "hypergeometric"
        return (f"method={method!r} would take ~{seconds:.3g} s (beyond the "
                f"{_WORK_LIMIT_S:g} s work limit) {where}; use method='auto' "
                f"(or {other!r}), or dps=None for float64")
    return (f"this value would take ~{seconds:.3g} s by any method (beyond the "
            f"{_WORK_LIMIT_S:g} s work limit) {where}; ask for fewer digits "
            f"(dps) or use dps=None for float64")


def _guard_digits(s, d):
    """Extra digits so that exp(-log(I)/s) keeps dps digits: log I is computed to an
    absolute error of ~10^-(dps+guard), and |log I| ~ (s/2) log d grows, 1/s too."""
    return guard_digits(1 / s, 1 + s * math.log(d))


# What each public function returns, as a function of log I: log I itself, I,
# sigma = I^(-1/s) or sigma^2 = I^(-2/s).  Working from log I avoids overflow.
_FORMS = {"log": lambda s, log_i, exp: log_i,
          "moment": lambda s, log_i, exp: exp(log_i),
          "sigma": lambda s, log_i, exp: exp(-log_i / s),
          "variance": lambda s, log_i, exp: exp(-2 * log_i / s)}


_WHAT = {"log": "log I", "moment": "the moment factor I", "sigma": "the critical sigma",
         "variance": "the critical variance"}


def _finish_float(s, log_i, form):
    with np.errstate(over="ignore", under="ignore"):
        out = _FORMS[form](s, log_i, np.exp)
    hint = "use log_moment_factor (log I = -s log sigma) or dps= for an mpmath number"
    _validate.finite_result(out, _WHAT[form], hint=hint)
    if form != "log" and np.any(out == 0):     # exp(log I) underflowed: not the value
        raise _validate.NotRepresentableError(
            f"{_WHAT[form]} underflows float64 for these arguments (s, d, a, keep_prob); {hint}")
    return unwrap(out)


def _evaluate(s, d, a, keep_prob, dps, method, form):
    """The public quantity ``form`` (a key of _FORMS) of I_a(s, d), elementwise."""
    (sf, df, af, qf), dps = _check(s, d, a, keep_prob, dps, method)
    if dps is None:
        return _finish_float(sf, _log_moment_float(sf, df, af, qf, method), form)
    def value(s, d, a, q):
        # Converted at the working precision: a Fraction or a long mpf stays exact.
        s, a, q = map(_validate.mp_number, (s, a, q))
        return _FORMS[form](s, _log_moment_mp(s, d, a, q, method), mpmath.exp)

    def kernel(s_float, d, s, a, q):
        d = int(d)
        return at_precision(value, dps, _guard_digits(float(s_float), d), s, d, a, q)

    originals = [np.asarray(x, dtype=object) for x in (s, a, keep_prob)]
    return unwrap(elementwise(kernel, sf, df, *originals))


# --------------------------------------------------------------------------- public
# Docstring fragments shared by the public functions (with initmath._docs.DOCDICT).
_FRAGMENTS = {
    "keep_prob": """\
keep_prob : float or array_like, default 1
    Keep probability q in (0, 1] of inverted dropout applied to the layer's output,
    x_{k+1} = (b / q) * phi_a(W x_k), b_i iid Bernoulli(q).  The masked norms then
    form an exact iid product and the moment factor is E[Z_q^(s/2)] with
    Z_q = sum_i (b_i / q^2) phi_a(g_i)^2.""",
    "method": """\
method : {"auto", "laplace", "hypergeometric", "series"}
    Algorithm; all agree to the requested precision.  "auto" uses "laplace" in
    float64, and at high precision "hypergeometric" for d <= 16 or s > 16,
    "laplace" otherwise.  "series" is the paper's printed series (a = 0: Theorem 1; 0 < a <= 1:
    Theorem 7, only for s <= 2 and keep_prob = 1): slow, an independent check.""",
    "raises": """\
Raises
------
ValueError
    If s is outside (0, 1000], d is not a positive integer, a is outside [0, 1], keep_prob is
    outside (0, 1], any value is NaN, infinite or a bool, dps is not a positive
    integer, method is unknown, or "series" is asked outside its domain.""",
    "references": """\
References
----------
.. [1] M. Gurbuzbalaban and Y. Hu, "Fractional moment-preserving initialization
   schemes for training deep neural networks", AISTATS 2021, Theorems 1 and 7,
   Remark 13.""",
}
_FRAGMENTS["parameters"] = "\n".join(
    ["Parameters", "----------", _docs.DOCDICT["s"], _docs.DOCDICT["d"], _docs.DOCDICT["a"],
     _FRAGMENTS["keep_prob"], _docs.DOCDICT["dps"], _FRAGMENTS["method"]])
_fill = _docs.fill(**_FRAGMENTS)


@_fill
def log_moment_factor(s: ArrayLike, d: ArrayLike, a: ArrayLike = 0.0, *,
                      keep_prob: ArrayLike = 1.0, dps: int | None = None,
                      method: str = "auto") -> Result:
    r"""Natural logarithm of the moment factor, :math:`\log I_a(s, d)`.

    Use it when :math:`I_a(s, d)` itself would overflow float64 (large s and d); see
    :func:`moment_factor`.

    %(parameters)s

    Returns
    -------
    float, ndarray, mpmath.mpf or object ndarray

    %(raises)s

    Examples
    --------
    >>> import math
    >>> from initmath import log_moment_factor
    >>> x = log_moment_factor(1000.0, 10**6, 0.5)         # I itself overflows float64
    >>> math.isclose(x, 500 * math.log(625000.0), rel_tol=1e-4)
    True
    """
    return _evaluate(s, d, a, keep_prob, dps, method, "log")


@_fill
def moment_factor(s: ArrayLike, d: ArrayLike, a: ArrayLike = 0.0, *, keep_prob: ArrayLike = 1.0,
                  dps: int | None = None, method: str = "auto") -> Result:
    r"""Moment factor :math:`I_a(s, d) = E\lVert\phi_a(g)\rVert^s`, :math:`g \sim N(0, I_d)`.

    It is the factor by which one layer multiplies the s-th moment of the norm at unit
    weight variance: :math:`E\lVert x_{k}\rVert^s = \lVert x_0\rVert^s\,
    (\sigma^s I_a(s, d))^k`.

    %(parameters)s

    Returns
    -------
    float, ndarray, mpmath.mpf or object ndarray
        :math:`I_a(s, d)`; a float64 result beyond the float64 range raises ValueError
        (use :func:`log_moment_factor` or ``dps``).

    %(raises)s

    Notes
    -----
    With :math:`n \sim \mathrm{Bin}(d, 1/2)` positive coordinates,
    :math:`Z = \chi^2_n + a^2 \chi^2_{d-n}`, and

    .. math::

        I_a(s, d) = 2^{s/2} \frac{\Gamma(\frac{d+s}{2})}{\Gamma(\frac d2)}
            \sum_{n=0}^d \binom dn 2^{-d}\,
            {}_2F_1\bigl(-\tfrac s2, \tfrac{d-n}2; \tfrac d2; 1-a^2\bigr),

    equivalently, with :math:`M(t) = \frac12[(1+2t)^{-1/2} + (1+2a^2t)^{-1/2}]`
    and 0 < s < 2,

    .. math::

        I_a(s, d) = \frac{s/2}{\Gamma(1-s/2)} \int_0^\infty
            \bigl(1 - M(t)^d\bigr)\, t^{-s/2-1}\, dt .

    %(references)s

    Examples
    --------
    The second moment is the mean of Z, :math:`d(1 + a^2)/2`; for a = 1 (linear)
    :math:`I_1(s, d) = 2^{s/2}\Gamma(\frac{d+s}2)/\Gamma(\frac d2)`:

    >>> import math
    >>> from initmath import moment_factor
    >>> math.isclose(moment_factor(2.0, 10, 0.5), 10 * 1.25 / 2, rel_tol=1e-13)
    True
    >>> exact = math.sqrt(2) * math.gamma(5.5) / math.gamma(5)
    >>> math.isclose(moment_factor(1.0, 10, 1.0), exact, rel_tol=1e-13)
    True
    >>> import mpmath
    >>> x = moment_factor(1, 10, 1, dps=30)
    >>> mpmath.nstr(x, 30)
    '3.08432775979986389945689869029'
    >>> with mpmath.workdps(40):
    ...     exact = mpmath.sqrt(2) * mpmath.gamma(5.5) / mpmath.gamma(5)
    ...     mpmath.almosteq(x, exact, rel_eps=mpmath.mpf(10) ** -30)
    True
    """
    return _evaluate(s, d, a, keep_prob, dps, method, "moment")


@_fill
def critical_sigma(s: ArrayLike, d: ArrayLike, a: ArrayLike = 0.0, *, keep_prob: ArrayLike = 1.0,
                   dps: int | None = None, method: str = "auto") -> Result:
    r"""Critical standard deviation :math:`\bar\sigma_a(s, d) = I_a(s, d)^{-1/s}`.

    Initializing :math:`W_{ij} \sim N(0, \bar\sigma^2)` makes
    :math:`E\lVert x_k\rVert^s = \lVert x_0\rVert^s` at every depth k.

    %(parameters)s

    Returns
    -------
    float, ndarray, mpmath.mpf or object ndarray

    %(raises)s

    Notes
    -----
    At s = 2 this is Kaiming/He, :math:`\sqrt{2/(d(1+a^2))}`.  As :math:`s \to 0+`
    it tends to :math:`\exp(-\frac12 E\log Z)` for a > 0; for ReLU the atom
    :math:`P(Z = 0) = 2^{-d}` makes it diverge like :math:`(1 - 2^{-d})^{-1/s}`.
    The paper prints :math:`1/\sqrt{I_0}` (Theorem 1) and :math:`1/(\sqrt s\, I_a)`
    (Theorem 7), right only at s = 2 and s = 1 respectively (``docs/errata.md``).

    %(references)s

    Examples
    --------
    >>> import math
    >>> from initmath import critical_sigma
    >>> math.isclose(critical_sigma(2.0, 100, 0.1), math.sqrt(2 / (100 * 1.01)), rel_tol=1e-13)
    True
    >>> critical_sigma([0.5, 1.0, 2.0], 64)      # decreasing in s
    array([0.17943259, 0.17852803, 0.1767767 ])
    """
    return _evaluate(s, d, a, keep_prob, dps, method, "sigma")


@_fill
def critical_variance(s: ArrayLike, d: ArrayLike, a: ArrayLike = 0.0, *,
                      keep_prob: ArrayLike = 1.0, dps: int | None = None,
                      method: str = "auto") -> Result:
    r"""Critical variance :math:`\bar\sigma_a^2(s, d) = I_a(s, d)^{-2/s}`.

    %(parameters)s

    Returns
    -------
    float, ndarray, mpmath.mpf or object ndarray

    %(raises)s

    Notes
    -----
    For large d, :math:`\bar\sigma_a^2 = \frac{2q}{(1+a^2)d}
    + \frac{(2-s)[6(1+a^4) - q(1+a^2)^2]}{2(1+a^2)^3 d^2} + O(d^{-3})` (see
    :func:`initmath.critical_variance_expansion` for any order and q).

    %(references)s

    Examples
    --------
    >>> import math
    >>> from initmath import critical_variance
    >>> math.isclose(critical_variance(2.0, 64), 2 / 64, rel_tol=1e-13)
    True
    >>> math.isclose(critical_variance(0.8, 64), 2 / 64 + 3 / 64**2, rel_tol=1e-3)  # Cor. 4
    True
    """
    return _evaluate(s, d, a, keep_prob, dps, method, "variance")


@_fill
def kaiming_sigma(d: ArrayLike, a: ArrayLike = 0.0) -> float | np.ndarray:
    r"""He/Kaiming standard deviation :math:`\sqrt{2/((1+a^2)d)}`, the s = 2 case of
    :func:`critical_sigma` (:math:`I_a(2, d) = (1+a^2)d/2`) in closed form.

    Parameters
    ----------
    %(d)s
    %(a)s

    Returns
    -------
    float or ndarray

    Raises
    ------
    ValueError
        If d is not an integer >= 1 or a is outside [0, 1].

    Examples
    --------
    >>> import math
    >>> from initmath.critical_variance import critical_sigma, kaiming_sigma
    >>> math.isclose(kaiming_sigma(64, 0.01), critical_sigma(2.0, 64, 0.01), rel_tol=1e-13)
    True
    """
    d = _validate.positive_integer(d, "d")
    a = _validate.real(a, "a", 0.0, 1.0)
    return unwrap(np.sqrt(2.0 / ((1 + a * a) * d)))


@_fill
def critical_sigmas(s: float, widths: ArrayLike, a: float = 0.0, *, convention: str = "norm",
                    keep_prob: float = 1.0, dps: int | None = None,
                    method: str = "auto") -> np.ndarray | list:
    r"""One critical sigma per layer of a chain of widths :math:`d_0 \to d_1 \to \dots \to d_L`.

    Layer k maps :math:`\mathbb{R}^{d_k} \to \mathbb{R}^{d_{k+1}}` with
    :math:`W^{(k)}_{ij} \sim N(0, \sigma_k^2)`.  Since
    :math:`W^{(k)} x \sim N(0, \sigma_k^2 \lVert x\rVert^2 I_{d_{k+1}})`, the layer
    multiplies :math:`E\lVert x\rVert^s` by :math:`\sigma_k^s I_a(s, d_{k+1})`: the
    factor depends on the fan-out (Remark 3 of the paper).

    Parameters
    ----------
    s : float
        Order of the preserved moment, 0 < s <= 1000.
    widths : sequence of int
        :math:`d_0, \dots, d_L` (input width first), L >= 1 layers.
    a, keep_prob, dps, method
        As in :func:`critical_sigma` (scalars).
    convention : {"norm", "per-neuron"}
        ``"norm"`` (the paper's): preserve :math:`E\lVert x_k\rVert^s`,
        :math:`\sigma_k = I_a(s, d_{k+1})^{-1/s}`.  ``"per-neuron"``: preserve
        :math:`E[(\lVert x_k\rVert/\sqrt{d_k})^s]`, the s-th moment of a typical unit,
        :math:`\sigma_k = \sqrt{d_{k+1}/d_k}\, I_a(s, d_{k+1})^{-1/s}`; at s = 2
        this is He initialization, :math:`\sigma_k^2 = 2/((1+a^2) d_k)` (fan-in).
        With constant width the two coincide.

    Returns
    -------
    ndarray of shape (L,) (float64), or a list of mpmath.mpf when dps is given.

    Raises
    ------
    ValueError
        For fewer than two widths, a width that is not a positive integer, an unknown
        convention, or any argument rejected by :func:`critical_sigma`.

    Examples
    --------
    >>> import numpy as np
    >>> from initmath import critical_sigmas
    >>> sig = critical_sigmas(2.0, [784, 256, 10], convention="per-neuron")
    >>> np.allclose(sig**2, [2 / 784, 2 / 256], rtol=1e-13)     # He, fan-in
    True
    >>> np.allclose(critical_sigmas(2.0, [784, 256, 10]) ** 2, [2 / 256, 2 / 10], rtol=1e-13)
    True
    """
    _validate.choice(convention, "convention", ("norm", "per-neuron"))
    widths = _validate.positive_integer(widths, "widths")
    if widths.ndim != 1 or widths.size < 2:
        raise ValueError(f"widths must be a 1-d sequence of at least two widths "
                         f"d_0, ..., d_L, got {widths.tolist()!r}")
    for name, value in (("s", s), ("a", a), ("keep_prob", keep_prob)):
        _validate.scalar(value, name)
    sigma = critical_sigma(s, widths[1:], a, keep_prob=keep_prob, dps=dps, method=method)
    if convention == "norm":
        return sigma if dps is None else list(sigma)
    if dps is None:
        return sigma * np.sqrt(widths[1:] / widths[:-1])
    with mpmath.workdps(dps):
        return [+(sk * mpmath.sqrt(mpmath.mpf(int(fan_out)) / int(fan_in)))
                for sk, fan_out, fan_in in zip(sigma, widths[1:], widths[:-1])]


# --------------------------------------------------------------- randomized leaky ReLU
# Tanh-sinh rule for the uniform law on [lower, upper]: a = lower + (upper - lower)
# expit(pi sinh(tau)), tau on a grid of spacing STEP in |tau| <= TAU_MAX.  Its weights
# decay double-exponentially, so it keeps full accuracy for integrands with algebraic
# end-point singularities, such as I_a near a = 0 (the ReLU atom makes I_a - I_0 ~ a^s
# for small d).  The discretisation error is ~exp(-pi^2 / STEP) and the truncation error
# ~exp(-pi e^TAU_MAX / 2): both are set from the digits wanted.
@functools.lru_cache(maxsize=64)
def _slope_rule(lower, upper, digits):
    """Nodes and probability weights (mpf tuples) for ``digits`` correct digits."""
    with mpmath.workdps(digits + guard_digits()):
        e_folds = (digits + 5) * mpmath.log(10)
        step = mpmath.pi ** 2 / e_folds
        tau_max = mpmath.log(2 * e_folds / mpmath.pi)
        count = int(tau_max / step)
        nodes, weights = [], []
        for k in range(-count, count + 1):
            y = mpmath.pi * mpmath.sinh(k * step)
            fraction = 1 / (1 + mpmath.exp(-y))
            nodes.append(lower + (upper - lower) * fraction)
            weights.append(mpmath.cosh(k * step) * fraction * (1 - fraction))
        total = mpmath.fsum(weights)
        return tuple(nodes), tuple(w / total for w in weights)


def _rrelu_log_float(h, d, slopes, weights, mode):
    if mode == "per-neuron":
        # Each coordinate draws its own slope: one mixture with a node per slope.
        roots, probs, _ = random_slopes(slopes, weights)
        return log_moment_roots(h, d, np.tile(roots, (h.size, 1)), np.tile(probs, (h.size, 1)))
    # One slope per layer: I averages over it, E_a[I_a(s, d)].
    slopes, weights = np.array(slopes, dtype=float), np.array(weights, dtype=float)
    rows = np.repeat(np.arange(h.size), slopes.size)
    log_i = log_moment_roots(h[rows], d[rows], *slope(np.tile(slopes, h.size)))
    log_i = log_i.reshape(h.size, slopes.size)     # (also for an empty s)
    return logsumexp(log_i, b=weights, axis=-1)


def _rrelu_log_mp(s, d, slopes, weights, mode):
    prec, h = mpmath.mp.prec, s / 2
    if mode == "per-neuron":
        c, w = random_slopes(slopes, weights, object).scales()
        cost = work_estimate_mp(h, d, c, w, prec)
        if cost > _WORK_LIMIT_S:
            raise ValueError(_too_slow(cost, "auto", s, d, f", {len(slopes)} slope nodes"))
        return log_moment_mp(h, d, c, w)
    # Per layer: one fixed-slope value per slope node, each by its cheaper route.
    cost = sum(min(work_estimate(h, d, a, 1, prec),
                   work_estimate_mp(h, d, *slope(a).scales(), prec)) for a in slopes)
    if cost > _WORK_LIMIT_S:
        raise ValueError(_too_slow(cost, "auto", s, d, f", {len(slopes)} slope nodes"))
    logs = [_log_moment_mp(s, d, a, 1, "auto") for a in slopes]
    top = max(logs)
    return top + mpmath.log(mpmath.fsum(w * mpmath.exp(x - top) for w, x in zip(weights, logs)))


def _rrelu_evaluate(s, d, lower, upper, mode, dps, form):
    """The public quantity ``form`` of I for randomized slopes, as in _evaluate."""
    s = _validate.real(s, "s", S_MIN, S_MAX)
    d = _validate.positive_integer(d, "d")
    lower, upper = _validate.real(lower, "lower", 0, 1), _validate.real(upper, "upper", 0, 1)
    if lower.ndim or upper.ndim or lower > upper:
        raise ValueError(f"lower and upper must be scalars with 0 <= lower <= upper <= 1, "
                         f"got lower={lower.tolist()!r}, upper={upper.tolist()!r}")
    _validate.choice(mode, "mode", ("per-neuron", "per-layer"))
    dps = _validate.dps_or_none(dps)
    if lower == upper:            # one slope: the fixed-slope factor (and its routes)
        return _evaluate(s, d, float(lower), 1.0, dps, "auto", form)
    s, d = _validate.broadcast(s=s, d=d)
    lower, upper = mpmath.mpf(float(lower)), mpmath.mpf(float(upper))
    if dps is None:
        rule = _slope_rule(lower, upper, 17)
        log_i = _rrelu_log_float(s.ravel() / 2, d.ravel().astype(float), *rule, mode)
        return _finish_float(s, log_i.reshape(s.shape), form)
    def value(s, d):
        s = mpmath.mpf(s)
        log_i = _rrelu_log_mp(s, d, *_slope_rule(lower, upper, mpmath.mp.dps), mode)
        return _FORMS[form](s, log_i, mpmath.exp)

    def kernel(s, d):
        s, d = float(s), int(d)
        return at_precision(value, dps, _guard_digits(s, d), s, d)

    return unwrap(elementwise(kernel, s, d))


# The text shared by the three randomized-slope functions.
_fill_rrelu = _docs.fill(rrelu=r"""Randomized leaky ReLU (Xu et al. 2015; ``torch.nn.RReLU``)
uses slopes :math:`a \sim U[\mathrm{lower}, \mathrm{upper}]`.  Two sampling schemes
give different exact answers:

* ``mode="per-neuron"`` (torch.nn.RReLU in training mode: every unit draws its own
  slope, afresh each forward pass): the output coordinates stay iid, each a mixture
  :math:`Y = g^2` (g > 0) or :math:`a^2 g^2` (g < 0, a uniform), so
  :math:`M(t) = \frac12 (1+2t)^{-1/2} + \frac12 E_a (1+2a^2 t)^{-1/2}` and
  :math:`I = E[Z^{s/2}]` with :math:`E e^{-tZ} = M(t)^d`.
* ``mode="per-layer"`` (one slope per layer, independent across layers): the
  factor averages over the slope, :math:`I = E_a[I_a(s, d)]`.  This is what
  Remark 8 of the paper computes by replacing :math:`w_{k,n}` with
  :math:`E[w_{k,n}]` in Theorem 7.

They differ: per-neuron slopes average inside Z, per-layer ones outside (a convex
order argument), so the per-neuron factor is the larger for s < 2 and the smaller
for s > 2; they agree at s = 2, where both give :math:`d(1 + E a^2)/2`.

The average over the slope uses a tanh-sinh rule (35 nodes in float64, more at
higher precision), exact to the working precision also when lower = 0.

Parameters
----------
%(s)s
%(d)s
lower, upper : float, default 1/8 and 1/3
    The slope interval, 0 <= lower <= upper <= 1.  The defaults are
    torch.nn.RReLU's (the paper's Remark 8 prints them swapped, l = 1/3, u = 1/8).
mode : {"per-neuron", "per-layer"}
    Sampling scheme, see above.
dps : int, optional
    None (default): float64 with numpy broadcasting over s and d.  An int: mpmath
    numbers correct to that many digits (slow: 0.3-4 s per value at 20 digits;
    per-layer, every slope node costs one fixed-slope value).

Returns
-------
float, ndarray or mpmath.mpf
    The moment factor I(s, d), the critical sigma :math:`I^{-1/s}` or the critical
    variance :math:`I^{-2/s}` (see the first line), broadcast over s and d.

Raises
------
ValueError
    For arguments outside the ranges above (NaN, bools and non-integer d included).

References
----------
.. [1] B. Xu, N. Wang, T. Chen and M. Li, "Empirical evaluation of rectified
   activations in convolutional network", 2015.
.. [2] M. Gurbuzbalaban and Y. Hu, AISTATS 2021, Remark 8.""")


@_fill_rrelu
def rrelu_moment_factor(s: ArrayLike, d: ArrayLike, lower: float = 1 / 8, upper: float = 1 / 3, *,
                        mode: str = "per-neuron", dps: int | None = None) -> Result:
    r"""Moment factor I(s, d) of a randomized leaky ReLU layer.

    %(rrelu)s

    Examples
    --------
    >>> import math
    >>> from initmath import rrelu_moment_factor
    >>> e_a2 = (1/3**3 - 1/8**3) / 3 / (1/3 - 1/8)             # E a^2
    >>> math.isclose(rrelu_moment_factor(2.0, 50), 50 * (1 + e_a2) / 2, rel_tol=1e-13)
    True
    >>> bool(rrelu_moment_factor(1.0, 50, mode="per-layer") < rrelu_moment_factor(1.0, 50))
    True
    """
    return _rrelu_evaluate(s, d, lower, upper, mode, dps, "moment")


@_fill_rrelu
def rrelu_critical_sigma(s: ArrayLike, d: ArrayLike, lower: float = 1 / 8, upper: float = 1 / 3,
                         *, mode: str = "per-neuron", dps: int | None = None) -> Result:
    r"""Critical sigma :math:`I(s, d)^{-1/s}` of a randomized leaky ReLU layer.

    %(rrelu)s

    Examples
    --------
    >>> import math
    >>> from initmath import rrelu_critical_sigma, critical_sigma
    >>> math.isclose(rrelu_critical_sigma(1.0, 64, 0.2, 0.2), critical_sigma(1.0, 64, 0.2),
    ...              rel_tol=1e-13)
    True
    """
    return _rrelu_evaluate(s, d, lower, upper, mode, dps, "sigma")


@_fill_rrelu
def rrelu_critical_variance(s: ArrayLike, d: ArrayLike, lower: float = 1 / 8,
                            upper: float = 1 / 3, *, mode: str = "per-neuron",
                            dps: int | None = None) -> Result:
    r"""Critical variance :math:`I(s, d)^{-2/s}` of a randomized leaky ReLU layer.

    %(rrelu)s

    Examples
    --------
    >>> import math
    >>> from initmath import rrelu_critical_variance
    >>> e_a2 = (1/3**3 - 1/8**3) / 3 / (1/3 - 1/8)
    >>> math.isclose(rrelu_critical_variance(2.0, 50, mode="per-layer"),
    ...              2 / (50 * (1 + e_a2)), rel_tol=1e-13)
    True
    """
    return _rrelu_evaluate(s, d, lower, upper, mode, dps, "variance")
