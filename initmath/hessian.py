r"""Spectral-norm ("Hessian") initialization of a dense layer (Skorski 2020, Cor. 2).

A layer :math:`x \mapsto W x` with a :math:`d_{out} \times d_{in}` matrix of iid
:math:`N(0, \sigma^2)` entries has Jacobian :math:`W`; the scheme picks
:math:`\sigma` so that :math:`E\lVert W\rVert_2 = 1`.  Since
:math:`\lVert W\rVert_2 = \sigma \lVert G\rVert_2` with :math:`G` standard Gaussian,

.. math:: \sigma = 1 / E\lVert G\rVert_2 = 1 / E\sqrt{\lambda_{max}(G^T G)},

where :math:`G^T G` (or :math:`G G^T`) is a real Wishart matrix :math:`W_p(n, I)`,
:math:`n = \max(d_{in}, d_{out})`, :math:`p = \min(d_{in}, d_{out})`.

With an activation :math:`f(z) = \max(z, az)` the layer's Jacobian is :math:`D_a W`
(``a=``; see :func:`expected_norm` for why its law is that of :math:`D_a G` with slopes
iid uniform on {1, a}, independent of G).

``method=`` chooses how :math:`E\lVert G\rVert_2` is obtained (details in
:mod:`initmath._spectral_norm`):

* ``"gordon"`` -- the paper's :math:`\sqrt n + \sqrt p` (Gordon's inequality makes it
  an upper bound, so this sigma is a lower bound on the exact one);
* ``"tracy-widom"`` -- :math:`E\sqrt{\mu + s T}` with :math:`T \sim TW_1` and
  Johnstone's (2001) centering :math:`\mu = (\sqrt{n-1/2} + \sqrt{p-1/2})^2` and scale
  :math:`s = \sqrt\mu\,(1/\sqrt{n-1/2} + 1/\sqrt{p-1/2})^{1/3}`; the expectation is a
  fixed quadrature against the :math:`TW_1` density, itself computed once from
  Bornemann's (2010) Fredholm determinant;
* ``"exact"`` -- for p <= 128: p = 1 is
  :math:`E\chi_n = \sqrt2\,\Gamma(\frac{n+1}2)/\Gamma(\frac n2)`, p >= 2 the exact CDF
  :math:`F(x) = P(\lambda_{max} \le x) = \mathrm{Pf}\,A(x)/\mathrm{Pf}\,A(\infty)`
  (de Bruijn 1955) in an orthonormal Laguerre basis, in float64, and
  :math:`E\sqrt{\lambda_{max}} = \int_0^\infty (1 - F(u^2))\,du` (about 1e-15 relative,
  checked against an independent 20 + 3p digit mpmath evaluation in the monomial basis).

References
----------
.. [1] M. Skorski, "Revisiting initialization of neural networks" (2020), Cor. 2, Rem. 3.
.. [2] I. M. Johnstone, "On the distribution of the largest eigenvalue in principal
   components analysis", Ann. Statist. 29 (2001) 295-327.
.. [3] F. Bornemann, "On the numerical evaluation of distributions in random matrix
   theory: a review", Markov Process. Related Fields 16 (2010) 803-866.
.. [4] M. Chiani, "Distribution of the largest eigenvalue for real Wishart and Gaussian
   random matrices and a simple approximation for the Tracy-Widom distribution",
   J. Multivariate Anal. 129 (2014) 69-81.
.. [5] X. Glorot and Y. Bengio, "Understanding the difficulty of training deep
   feedforward neural networks", AISTATS 2010.
.. [6] N. G. de Bruijn, "On some multiple integrals involving determinants",
   J. Indian Math. Soc. 19 (1955) 133-151.
.. [7] N. El Karoui, "Tracy-Widom limit for the largest eigenvalue of a large class of
   complex sample covariance matrices", Ann. Probab. 35 (2007) 663-714.
.. [8] S. Chevet, "Series de variables aleatoires gaussiennes a valeurs dans
   E (x) F", Seminaire sur la geometrie des espaces de Banach (1977-1978), exp. 19.
"""
import math

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import gammaln

from . import _spectral_norm, _validate
from ._engine.evaluate import elementwise, unwrap
from ._spectral_norm import EXACT_MAX_MIN_WIDTH, tw1_moments

__all__ = [
    "expected_norm",
    "glorot_sigma",
    "hessian_glorot_ratio",
    "hessian_sigma",
    "tw1_moments",
]

METHODS = ("gordon", "tracy-widom", "exact")


def _widths(d_in, d_out):
    d_in = _validate.positive_integer(d_in, "d_in")
    d_out = _validate.positive_integer(d_out, "d_out")
    return _validate.broadcast(d_in=d_in, d_out=d_out)


# --------------------------------------------------------------------------- Glorot / ratio
def glorot_sigma(d_in: ArrayLike, d_out: ArrayLike) -> float | np.ndarray:
    r"""Glorot/Xavier standard deviation :math:`\sqrt{2/(d_{in} + d_{out})}`.

    Parameters
    ----------
    d_in, d_out : int or array_like of int
        Fan-in and fan-out, integers in [1, 2**53] (broadcast together; the sum is taken in
        float64, so it never overflows).

    Returns
    -------
    float or ndarray

    Raises
    ------
    ValueError
        If d_in or d_out is not an integer in [1, 2**53].

    Examples
    --------
    >>> from initmath.hessian import glorot_sigma
    >>> float(glorot_sigma(3, 5))
    0.5
    """
    d_in, d_out = _widths(d_in, d_out)
    return unwrap(np.sqrt(2.0 / (d_in.astype(float) + d_out)))


def hessian_glorot_ratio(d_in: ArrayLike, d_out: ArrayLike) -> float | np.ndarray:
    r"""Ratio of the paper's scheme to Glorot's,
    :math:`\frac{1/(\sqrt{d_{in}} + \sqrt{d_{out}})}{\sqrt{2/(d_{in}+d_{out})}}
    = \frac{\sqrt{(d_{in}+d_{out})/2}}{\sqrt{d_{in}} + \sqrt{d_{out}}}`.

    With :math:`r = d_{in}/d_{out}` this is
    :math:`\sqrt{(1+r)/2}/(1+\sqrt r)`, which is 1/2 at r = 1 (square layers) and
    increases to :math:`1/\sqrt2` as r tends to 0 or infinity, so over all shapes it lies
    in :math:`[1/2, 1/\sqrt2)` (the supremum is not attained).  The paper's Remark 3
    ("between 1 and :math:`1/\sqrt2`", "both close for skewed layers") drops Glorot's
    factor :math:`\sqrt2`: the inequality it quotes,
    :math:`\sqrt{a+b} \le \sqrt a + \sqrt b \le \sqrt2\sqrt{a+b}`, gives
    :math:`[1/2, 1/\sqrt2]`, and the two schemes are never closer than a factor
    :math:`\sqrt2`.

    Parameters
    ----------
    d_in, d_out : int or array_like of int
        Integers in [1, 2**53].

    Returns
    -------
    float or ndarray

    Raises
    ------
    ValueError
        If d_in or d_out is not an integer in [1, 2**53].

    Examples
    --------
    >>> from initmath.hessian import hessian_glorot_ratio
    >>> float(hessian_glorot_ratio(64, 64))
    0.5
    >>> bool(hessian_glorot_ratio(1, 10**8) < 2 ** -0.5)
    True
    """
    d_in, d_out = _widths(d_in, d_out)
    d_in, d_out = d_in.astype(float), d_out.astype(float)
    return unwrap(np.sqrt((d_in + d_out) / 2.0) / (np.sqrt(d_in) + np.sqrt(d_out)))


# --------------------------------------------------------------------------- widths, slopes
def _exact_identity_range(d_in, d_out):
    p = np.minimum(d_in, d_out)
    if np.any(p > EXACT_MAX_MIN_WIDTH):
        bad = p[p > EXACT_MAX_MIN_WIDTH].flat[0]
        raise ValueError(f"method='exact' is implemented for min(d_in, d_out) <= "
                         f"{EXACT_MAX_MIN_WIDTH}; got min(d_in, d_out) = {bad}. "
                         f"Use method='tracy-widom'.")


def _exact_identity(n, p):
    _exact_identity_range(n, p)
    return elementwise(lambda n_i, p_i: _spectral_norm.exact_norm(_number(n_i), int(p_i)),
                       n, p, dtype=float)


def _number(x):
    """An int when x is integral (the exact route's cache key), else a float (a Gauss node
    of the ReLU mixture)."""
    x = float(x)
    return int(x) if x.is_integer() else x


def _identity_norm(d_in, d_out, method):
    """E||G||_2 for standard Gaussian d_out x d_in matrices (arrays) by ``method``."""
    n, p = np.maximum(d_in, d_out), np.minimum(d_in, d_out)
    if method == "gordon":
        return np.sqrt(n) + np.sqrt(p)
    if method == "tracy-widom":
        return _spectral_norm.johnstone_norm(n, p)
    return _exact_identity(n, p)


# At most this many numbers k of active units are summed one by one; beyond, the mixture
# over k is a Gauss rule for the binomial law (the summand is smooth in k there).
_DIRECT_TERMS_MAX = 512
_GAUSS_NODES = 16
# Hoeffding: P(|K - d/2| >= z sqrt(d) / 2) <= 2 exp(-z^2 / 2) = 5.7e-20 at z = 9.5.
_BINOMIAL_Z = 9.5


def _binomial_window(d):
    half_width = _BINOMIAL_Z * math.sqrt(d) / 2
    return max(0, math.floor(d / 2 - half_width)), min(d, math.ceil(d / 2 + half_width))


def _wide_binomial(d_out):
    """True if the ReLU mixture over d_out units is the Gauss rule (16 values, not one per
    likely number of active units)."""
    lo, hi = _binomial_window(int(d_out))
    return hi - lo + 1 > _DIRECT_TERMS_MAX


def _binomial_terms(d_out):
    """Numbers k of unit slopes among d_out fair coins with non-negligible probability
    (dropped mass < 1e-18) and their probabilities; for a wide law (more than
    _DIRECT_TERMS_MAX such k) instead the nodes and weights of the _GAUSS_NODES-point Gauss
    rule of Bin(d_out, 1/2) (Krawtchouk: monic recurrence x P_j = P_{j+1} + d/2 P_j
    + j (d - j + 1)/4 P_{j-1}), real nodes within d/2 +- 4 sqrt(d) / 2.  The work and memory
    are bounded whatever d_out (no O(d_out) arrays)."""
    d = int(d_out)
    lo, hi = _binomial_window(d)
    if hi - lo + 1 > _DIRECT_TERMS_MAX:
        j = np.arange(1, _GAUSS_NODES, dtype=float)
        nodes, vectors = np.linalg.eigh(np.diag(np.sqrt(j * (d - j + 1)) / 2, 1)
                                        + np.diag(np.sqrt(j * (d - j + 1)) / 2, -1))
        return d / 2 + nodes, vectors[0] ** 2
    if d <= 64:
        k = np.arange(d + 1)
        pmf = np.exp(gammaln(d + 1) - gammaln(k + 1) - gammaln(d - k + 1)
                     - d * math.log(2.0))
    else:
        # log pmf(k) - log pmf(lo) as a running sum of log((d - j) / (j + 1)) (no
        # cancellation of numbers of size d log d), normalised over the window.
        k = np.arange(lo, hi + 1)
        steps = np.log1p((d - 2 * k[:-1] - 1) / (k[:-1] + 1.0))
        log_pmf = np.concatenate([[0.0], np.cumsum(steps)])
        pmf = np.exp(log_pmf - log_pmf.max())
        pmf /= pmf.sum()
    keep = pmf > 1e-18 / (d + 1)
    return k[keep], pmf[keep]


def _relu_mixture(d_in, d_out, method):
    """E||D G|| for slopes {1, 0}: sum over k = #active rows of P(k) E||G_k||."""
    k, pmf = _binomial_terms(d_out)
    active = k > 0
    return float(pmf[active] @ _identity_norm(d_in, k[active], method))


_NO_EXACT_SLOPE = ("method='exact' with 0 < a < 1 needs d_in == 1 or d_out == 1 (the largest "
                   "eigenvalue of a Wishart matrix with two covariance levels has no exact law "
                   "here); use method='tracy-widom'")


def _column_norm(d_out, a):
    r"""E||D g|| for one column g (d_in = 1): with M(t) = E exp(-t||Dg||^2)
    = [((1+2t)^{-1/2} + (1+2a^2 t)^{-1/2})/2]^{d_out},
    :math:`E\sqrt Z = \frac{1}{2\sqrt\pi}\int_0^\infty (1 - M(t))\,t^{-3/2}\,dt`
    (integrated in v = log t over [-80 - log d_out, 100]: below, the integrand is about
    :math:`d_{out} e^{v/2}` and above at most :math:`e^{-v/2}`, so both cut tails are below
    e^-40 of the value; log M by log1p while M is near 1, so that small t loses nothing)."""
    from scipy.integrate import quad  # ~0.15 s to import; only this route needs it

    def integrand(v):
        t = math.exp(v)
        x, y = math.log1p(2 * t), math.log1p(2 * a * a * t)
        mean = (math.exp(-x / 2) + math.exp(-y / 2)) / 2
        log_mean = (math.log(mean) if mean < 0.5
                    else math.log1p((math.expm1(-x / 2) + math.expm1(-y / 2)) / 2))
        return -math.expm1(d_out * log_mean) * math.exp(-v / 2)
    value, _ = quad(integrand, -80 - math.log(d_out), 100, epsabs=0, epsrel=1e-13, limit=400)
    return value / (2 * math.sqrt(math.pi))


def _slope_norm(d_in, d_out, a, method):
    """E||D_a G||, D_a = diag of iid slopes uniform on {1, a} (scalar widths)."""
    if method == "gordon":                  # Chevet: E||DG|| <= ||D|| sqrt(d_in) + E||D||_F
        return math.sqrt(d_in) + math.sqrt(d_out * (1 + a * a) / 2)
    if method == "exact":
        if d_out == 1:
            return (1 + a) / 2 * float(_spectral_norm.chi_mean(d_in))
        if d_in == 1:
            return _column_norm(d_out, a)
        if a == 0:
            return _relu_mixture(d_in, d_out, method)
        raise ValueError(_NO_EXACT_SLOPE)
    if a == 0:
        return _relu_mixture(d_in, d_out, method)
    k, pmf = _binomial_terms(d_out)
    # k = 0: every row has slope a, so the norm is a E||G||
    norms = np.where(k > 0, _spectral_norm.two_level_norm(d_in, np.maximum(k, 1), d_out - k, a),
                     a * float(_identity_norm(d_in, d_out, method)))
    return float(pmf @ norms)

# --------------------------------------------------------------------------- work bound
# Seconds for one new exact value (n x p): ~1 ms plus ~0.3 us per panel and p^2 (measured
# 0.1 s at p = 128 on the 2-core reference machine; the model errs high by about 2x).
def _exact_seconds(n, p):
    if p <= 1:
        return 2e-5
    panels = min(math.sqrt(n) + math.sqrt(p), 2 * math.sqrt(p) + 2) + 2 * _spectral_norm._MARGIN
    return 1e-3 + 0.3e-6 * panels * p * p


def _seconds(d_in, d_out, a, method):
    """Estimated seconds of one (d_in, d_out, a) value by method (scalars; a None = linear);
    raises the range error of method='exact' with a = 0 before any work."""
    if method == "gordon":
        return 1e-6 if a is None else 1e-5
    if a is None:
        return (_exact_seconds(max(d_in, d_out), min(d_in, d_out)) if method == "exact"
                else 1e-6)
    if method == "tracy-widom":
        return 3e-4 if a in (0.0, 1.0) else 3e-3
    if d_out == 1 or a == 1:
        return _exact_seconds(max(d_in, d_out), min(d_in, d_out))
    if d_in == 1:
        return 0.05
    k, _ = _binomial_terms(d_out)
    widest = min(d_in, float(k.max()))
    if widest > EXACT_MAX_MIN_WIDTH:
        raise ValueError(f"method='exact' with a=0 mixes exact values over the likely numbers "
                         f"k of active units (up to {int(k.max())} of d_out = {d_out}) and "
                         f"needs min(d_in, k) <= {EXACT_MAX_MIN_WIDTH}; use "
                         "method='tracy-widom'")
    return sum(_exact_seconds(max(d_in, x), min(d_in, x)) for x in k if x > 0)


def _check_work(d_in, d_out, a, method):
    """Raise up front if the values would take longer than _validate.WORK_BUDGET_S."""
    if method == "gordon" and a is None:
        return
    columns = [d_in.ravel(), d_out.ravel()] + ([] if a is None else [a.ravel()])
    combos = np.unique(np.stack([c.astype(float) for c in columns]), axis=1)
    if method == "tracy-widom" and a is None:
        seconds = 1e-6 * combos.shape[1]
    else:
        seconds = 0.0
        for column in combos.T:
            slope = None if a is None else float(column[2])
            seconds += _seconds(int(column[0]), int(column[1]), slope, method)
            if seconds > _validate.WORK_BUDGET_S:
                break
    if seconds > _validate.WORK_BUDGET_S:
        raise ValueError(f"method={method!r} for these {combos.shape[1]} shape(s) would take "
                         f"about {seconds:.0f} s or more (budget {_validate.WORK_BUDGET_S} s); "
                         + ("use method='tracy-widom' (within 0.1% of exact from widths ~16 on) "
                            "or fewer shapes per call" if method == "exact" else
                            "pass fewer shapes per call"))


# --------------------------------------------------------------------------- public
def expected_norm(d_in: ArrayLike, d_out: ArrayLike, *, a: ArrayLike | None = None,
                  method: str = "exact") -> float | np.ndarray:
    r""":math:`E\lVert D_a G\rVert_2` for a :math:`d_{out} \times d_{in}` matrix G of iid
    N(0, 1) entries (``a=None``: :math:`E\lVert G\rVert_2`).

    With a slope a, :math:`D_a` is the diagonal of activation derivatives of a layer
    :math:`x \mapsto f(Wx)` with :math:`f(z) = z` for z > 0 and az otherwise, at a random
    input: the Jacobian is :math:`D_a W`.  Its law is that of :math:`D_a G` with the slopes
    iid uniform on {1, a} and independent of G: writing :math:`W = c\hat x^T + V`,
    :math:`c = W\hat x`, the slopes depend on the signs of c only, and flipping the sign of
    row i (which leaves the norm unchanged) makes row i of :math:`[c, V]` independent of its
    sign.

    Parameters
    ----------
    d_in, d_out : int or array_like of int
        Integers in [1, 2**53] (broadcast together).  Without a slope the value is
        symmetric in them.
    a : None, float or array_like, optional
        Negative-side slope in [0, 1] (0: ReLU, 1 or None: linear); broadcast with the widths.
    method : {"exact", "tracy-widom", "gordon"}
        See the module docstring.  ``"exact"`` needs min(d_in, d_out) <= 128 (the other
        width anything up to 2**53); with 0 < a < 1 it needs d_in == 1 or d_out == 1; with
        a = 0 it needs min(d_in, k) <= 128 for every likely number k of active units.

    Returns
    -------
    float or ndarray

    Raises
    ------
    ValueError
        If d_in or d_out is not an integer in [1, 2**53], a is outside [0, 1], method is
        unknown, method="exact" outside its range, or the values asked for would take more
        than ``_validate.WORK_BUDGET_S`` = 30 s (estimated up front from the arguments:
        e.g. "exact" for thousands of shapes, or a slope with ~10**5 shapes); the message
        says what to use instead.

    Notes
    -----
    Domain edges.  For n - p >= 2**12 the exact route evaluates its basis functions in the
    offset :math:`u - \sqrt{n-p}` (the direct form loses ~eps (n-p) log(n-p) relative and
    broke Gordon's bound at (16, 2**53)); :math:`E\chi_n` uses the Stirling series of
    :math:`\Gamma(x+\frac12)/\Gamma(x)` from n = 16 on.  The mixture over the number k of
    active units sums the k within 9.5 standard deviations of d_out/2 (dropped mass
    < 1e-19) while there are at most 512 of them, and beyond is a 16-point Gauss rule for
    Bin(d_out, 1/2) (Krawtchouk), the summand being smooth in k there (the exact route
    takes a real k as the Wishart degrees of freedom): the work is bounded for any d_out.

    Gordon's inequality gives :math:`E\lVert G\rVert_2 \le \sqrt{d_{in}} + \sqrt{d_{out}}`;
    with slopes, Chevet's inequality :math:`E\lVert DG\rVert \le \lVert D\rVert\sqrt{d_{in}}
    + \lVert D\rVert_F` and Jensen give :math:`\sqrt{d_{in}} + \sqrt{d_{out}(1+a^2)/2}`
    ("gordon" with a).  Exact with slopes: d_out = 1: :math:`\frac{1+a}2 E\chi_{d_in}`;
    d_in = 1: a one-dimensional integral of the Laplace transform of :math:`\lVert D g\rVert^2`;
    a = 0: :math:`\sum_k \binom{d_{out}}{k}2^{-d_{out}}E\lVert G_{k \times d_{in}}\rVert` over
    the number k of active units.  "tracy-widom" with a = 0 mixes Johnstone's values over k;
    with 0 < a < 1 it uses El Karoui's edge for the two-level covariance
    :math:`I_k \oplus a^2 I_{d_{out}-k}`.

    Tracy-Widom against exact (no slope): -33% at (1, 1), -21% at (2, 2), -1.4% at (8, 8),
    -0.4% at (16, 16), -0.16% at (64, 8), -0.12% at (64, 16), -0.04% at (64, 64), +0.05% at
    (1000, 3).  "exact" costs about 1 ms (8 x 8), 10 ms (32 x 32), 30 ms (64 x 64) per new
    shape (cached); with a = 0 one such value per likely number of active units.

    Examples
    --------
    >>> import math
    >>> from initmath.hessian import expected_norm
    >>> math.isclose(expected_norm(1, 2), math.sqrt(math.pi / 2), rel_tol=1e-14)
    True
    >>> math.isclose(expected_norm(2, 2), math.sqrt(math.pi), rel_tol=1e-13)
    True

    A ReLU layer with one output keeps the norm of its column half the time:

    >>> math.isclose(expected_norm(5, 1, a=0.0), expected_norm(5, 1) / 2, rel_tol=1e-14)
    True
    """
    d_in, d_out = _widths(d_in, d_out)
    _validate.choice(method, "method", METHODS)
    if a is None:
        if method == "exact":
            _exact_identity_range(d_in, d_out)
        _check_work(d_in, d_out, None, method)
        return unwrap(_identity_norm(d_in, d_out, method))
    a = _validate.real(a, "a", 0.0, 1.0)
    if method == "exact" and np.any((a > 0) & (a < 1) & (d_in > 1) & (d_out > 1)):
        raise ValueError(_NO_EXACT_SLOPE)          # before any (slow) exact value
    d_in, d_out, a = _validate.broadcast(d_in=d_in, d_out=d_out, a=a)
    _check_work(d_in, d_out, a, method)

    def norm(d_in_i, d_out_i, a_i):
        widths = int(d_in_i), int(d_out_i)
        return (float(_identity_norm(*widths, method)) if a_i == 1
                else _slope_norm(*widths, float(a_i), method))

    return unwrap(elementwise(norm, d_in, d_out, a, dtype=float))


def hessian_sigma(d_in: ArrayLike, d_out: ArrayLike, *, a: ArrayLike | None = None,
                  method: str = "gordon") -> float | np.ndarray:
    r"""Standard deviation :math:`\sigma` with :math:`E\lVert J\rVert_2 = 1` for the
    Jacobian :math:`J = D_a W` of a layer with :math:`W_{ij} \sim N(0, \sigma^2)`,
    :math:`W` of shape :math:`d_{out} \times d_{in}` (``a=None``: :math:`J = W`).

    :math:`\sigma = 1 / E\lVert D_a G\rVert_2` (see :func:`expected_norm`); with
    ``method="gordon"`` and no slope this is the paper's Eq. (8),
    :math:`1/(\sqrt{d_{in}} + \sqrt{d_{out}})`, which makes :math:`E\lVert W\rVert_2 < 1`.

    Parameters
    ----------
    d_in, d_out : int or array_like of int
        Fan-in and fan-out, integers in [1, 2**53] (broadcast together).
    a : None, float or array_like, optional
        Negative-side slope of the activation in [0, 1]: 0 for ReLU, 0.01 for the default
        leaky ReLU, None (or 1) for a linear layer / the paper's smooth activations with
        slope 1.
    method : {"gordon", "tracy-widom", "exact"}
        ``"gordon"`` (paper; Chevet's bound with a slope), ``"tracy-widom"`` (any widths)
        or ``"exact"`` (min(d_in, d_out) <= 128; with 0 < a < 1 only for d_in or
        d_out equal to 1).

    Returns
    -------
    float or ndarray

    Raises
    ------
    ValueError
        As :func:`expected_norm` (widths outside [1, 2**53], a outside [0, 1], unknown
        method, "exact" outside its range, work beyond the 30 s budget).

    Examples
    --------
    >>> from initmath.hessian import hessian_sigma
    >>> float(hessian_sigma(16, 9))
    0.14285714285714285
    >>> bool(hessian_sigma(1, 4, method="exact") > hessian_sigma(1, 4))   # Gordon bound
    True
    >>> hessian_sigma([64, 256], 64, method="tracy-widom").round(5)
    array([0.06432, 0.04237])

    A ReLU layer passes about half of its rows, so it needs a larger sigma, though by
    far less than He's factor sqrt(2) (the norm is governed by the longer side):

    >>> s_linear, s_relu = hessian_sigma(64, 64, method="exact"), hessian_sigma(
    ...     64, 64, a=0.0, method="exact")
    >>> round(float(s_relu / s_linear), 4)
    1.1819
    """
    return unwrap(1.0 / np.asarray(expected_norm(d_in, d_out, a=a, method=method)))
