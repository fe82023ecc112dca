r"""The KL bound on the stationary SGD loss and the optimal init variance (Horii & Has 2025).

SGD with step lr = α, batch size b and per-example gradient-noise variance σ² has, in
its continuous-time limit, the Gibbs stationary law (the paper's (12))

.. math:: p_{ss}(W) = C_{1,loc}\, e^{-L(W)/\tau}, \qquad \tau = \frac{\alpha\sigma^2}{2b}.

For an init law :math:`p_0 = N(0, \sigma_0^2 I_K)`, taking the expectation of
:math:`\log p_{ss} - \log p_0` under :math:`p_{ss}` and using :math:`D(p_{ss}\|p_0) \ge 0`
gives (Proposition III.1, correct as printed with :math:`\bar L = L/K`)

.. math:: E_{ss}[L]/K \le \frac{\tau}{K}\Bigl[\frac K2\log(2\pi\sigma_0^2) + \log C_{1,loc}
          + \frac{E_{ss}\lVert W\rVert^2}{2\sigma_0^2}\Bigr],

with slack exactly :math:`(\tau/K) D(p_{ss}\|p_0)`.  It is minimal at
:math:`\sigma_0^2 = \bar V = E_{ss}\lVert W\rVert^2/K`, where it equals

.. math:: \frac{\tau}{2}\Bigl[\log(2\pi e \bar V) + \frac2K \log C_{1,loc}\Bigr]

(Theorem III.3 prints :math:`\log C_{1,loc}` instead of :math:`\frac2K\log C_{1,loc}`, and
(21) bounds the total :math:`E_{ss}[L]` by the per-parameter value; see docs/kl-bound.md).

Quadratic case :math:`L = \frac12 W^T A W`: per eigenmode λ the stationary variance is
:math:`\tau/\lambda` (continuous) or :math:`\tau/(\lambda(1 - \alpha\lambda/2))` (the SGD
recursion itself), so :math:`E_{ss}[L] = K\tau/2` in the continuous law.  The symbolic
derivation (sympy, imported only by the functions that need it) is
:func:`kl_bound_derivation`; the paper's printed equations are checked against it in
:mod:`initmath.papers.horii_has`.

References
----------
.. [1] H. Horii and S. Has, "Optimal condition for initialization variance in deep neural
   networks: an SGD dynamics perspective" (2025), Prop. III.1, Rem. III.2, Thm. III.3.
.. [2] S. Mandt, M. D. Hoffman and D. M. Blei, "Stochastic gradient descent as approximate
   Bayesian inference", JMLR 18 (2017).
"""
import functools
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from . import _kl_quadratic as _q
from . import _validate
from ._engine.evaluate import ldexp, unwrap

__all__ = [
    "DiscretizationError",
    "LeastSquaresStationary",
    "QuadraticStationary",
    "burn_in_steps",
    "discretization_error",
    "kl_bound_derivation",
    "kl_bound_derivation_latex",
    "kl_loss_bound",
    "least_squares_stationary",
    "optimal_init_sigma",
    "optimized_loss_bound",
    "quadratic_kl_divergence",
    "quadratic_stationary",
]


# Largest burn-in reported: counts beyond 2**53 are not exact in float64 (nor useful).
STEPS_MAX = 2 ** 53


# --------------------------------------------------------------------------- the bound
def kl_loss_bound(sigma0: ArrayLike, *, lr: ArrayLike, batch_size: ArrayLike,
                  noise_var: ArrayLike, K: ArrayLike, second_moment: ArrayLike,
                  log_C: ArrayLike) -> float | np.ndarray:
    r"""Proposition III.1: the KL upper bound on :math:`E_{ss}[L]/K` at init std sigma0.

    .. math:: \frac{\tau}{K}\Bigl[\frac K2\log(2\pi\sigma_0^2) + \log C_{1,loc}
              + \frac{E_{ss}\lVert W\rVert^2}{2\sigma_0^2}\Bigr],
              \qquad \tau = \frac{\alpha\sigma^2}{2b}.

    Parameters
    ----------
    sigma0 : float or array_like
        Standard deviation of the init law :math:`N(0, \sigma_0^2 I_K)`, > 0.
    lr, noise_var : float or array_like
        Learning rate α > 0 and per-example gradient-noise variance σ² > 0.
    batch_size, K : int or array_like
        Batch size b and number of parameters K, integers >= 1.
    second_moment : float or array_like
        :math:`E_{ss}\lVert W\rVert^2 > 0` (total, not per parameter).
    log_C : float or array_like
        :math:`\log C_{1,loc}`, the log normaliser of the stationary density.

    Returns
    -------
    float or ndarray
        All arguments broadcast together.

    Raises
    ------
    ValueError
        If an argument is outside its range or not finite (every positive argument may be
        any finite float > 0, K and batch_size integers in [1, 2**53], log_C any finite
        float), if the arguments do not broadcast together, or if the bound itself lies
        beyond float64's range (e.g. sigma0 = 1e-300 at tau = 0.05: 2.5e598).

    Notes
    -----
    Evaluated with :math:`\log\sigma_0` and with :math:`\tau` and
    :math:`E_{ss}\lVert W\rVert^2/(2K\sigma_0^2)` in scaled (mantissa, exponent)
    arithmetic, so no intermediate (:math:`\sigma_0^2`, :math:`\tau`) over- or underflows:
    the result is correct to a few ulps of its largest term whenever it is representable.
    The formula is the paper's (14) = (17), which follows from :math:`D(p_{ss}\|p_0)\ge0`
    when :math:`\bar L = L/K`; the slack is :math:`(\tau/K) D(p_{ss}\|p_0)`
    (:func:`quadratic_kl_divergence`).  :func:`kl_bound_derivation` derives it with sympy.

    Examples
    --------
    At the optimal sigma0 the bound is Theorem III.3's optimized bound:

    >>> import math
    >>> from initmath.kl import kl_loss_bound, optimal_init_sigma, optimized_loss_bound
    >>> args = dict(lr=0.01, batch_size=4, noise_var=2.0, K=10, second_moment=0.3, log_C=12.0)
    >>> best = kl_loss_bound(optimal_init_sigma(0.3, 10), **args)
    >>> math.isclose(best, optimized_loss_bound(**args), rel_tol=1e-14)
    True
    """
    sigma0 = _validate.real(sigma0, "sigma0", 0, low_open=True)
    _, tau, tau_f = _q.parameters(lr, batch_size, noise_var)
    K = _validate.positive_integer(K, "K")
    second_moment = _validate.real(second_moment, "second_moment", 0, low_open=True)
    log_C = _validate.real(log_C, "log_C")
    _validate.broadcast(sigma0=sigma0, lr=tau.mantissa, K=K, second_moment=second_moment,
                        log_C=log_C)
    with np.errstate(all="ignore"):             # the plain formula, where it is exact
        s2 = sigma0 ** 2
        quadratic_f = second_moment / (2 * s2)
        out = tau_f / K * (K / 2 * np.log(2 * np.pi * s2) + log_C + quadratic_f)
    if _normal(tau_f, s2, quadratic_f, out):
        return unwrap(out)
    # else tau [ (1/2) log(2 pi sigma0^2) + log_C / K + E||W||^2 / (2 K sigma0^2) ], the
    # logs taken of sigma0 itself and the last term and tau in scaled arithmetic, so that
    # sigma0 = 1e-300 or 1e300, lr = 5e-324 ... neither overflow nor underflow on the way
    logs = 0.5 * np.log(2 * np.pi) + np.log(sigma0) + log_C / K
    s = _q.Scaled.of(sigma0)
    quadratic = _q.Scaled.of(second_moment) / (_q.Scaled.of(2.0 * K) * s * s)
    total = _signed_sum(logs, quadratic)
    out = _signed_product(total, tau)
    return unwrap(_validate.finite_result(
        out, "the bound (of order lr*noise_var/batch_size * second_moment/(K*sigma0**2))",
        hint="rescale the loss so that the bound is within float64's range"))


_TINY, _MAX = np.finfo(float).tiny, np.finfo(float).max


def _normal(*arrays):
    """Every entry finite with |x| >= the smallest normal float (or exactly 0 for the
    last array, the result): the plain float64 formula then lost nothing on the way."""
    *parts, out = arrays
    for a in parts:
        a = np.abs(a)
        if not ((a >= _TINY) & (a <= _MAX)).all():     # nan fails both comparisons
            return False
    out = np.abs(out)
    return bool((((out >= _TINY) & (out <= _MAX)) | (out == 0)).all())


def _signed_sum(x, scaled):
    """x + scaled (x a float array of any sign, scaled a positive Scaled) as (sign, Scaled)."""
    mantissa, exponent = np.frexp(x)
    top = np.maximum(exponent, scaled.exponent)
    total = ldexp(mantissa, exponent - top) + ldexp(scaled.mantissa,
                                                            scaled.exponent - top)
    return _q.Scaled(total, top)._renormalise()


def _signed_product(scaled, tau):
    """The float64 value of scaled * tau (scaled may have a negative mantissa)."""
    return (scaled * tau).value()


def optimal_init_sigma(second_moment: ArrayLike, K: ArrayLike) -> float | np.ndarray:
    r"""The sigma0 minimising :func:`kl_loss_bound`: :math:`\sqrt{E_{ss}\lVert W\rVert^2/K}`.

    Parameters
    ----------
    second_moment : float or array_like
        :math:`E_{ss}\lVert W\rVert^2 > 0`.
    K : int or array_like
        Number of parameters, integer >= 1.

    Returns
    -------
    float or ndarray
        Correctly rounded to ~1 ulp for every finite second_moment > 0 (the ratio is
        scaled by an even power of 2, so a subnormal second_moment / K loses nothing).

    Notes
    -----
    :math:`\partial_{\sigma_0}` bound :math:`= \frac{\tau}{K\sigma_0^3}(K\sigma_0^2 -
    E_{ss}\lVert W\rVert^2)`: negative below, positive above, so this is the global minimum.

    Examples
    --------
    >>> from initmath.kl import optimal_init_sigma
    >>> float(optimal_init_sigma(8.0, 2))
    2.0
    """
    second_moment = _validate.real(second_moment, "second_moment", 0, low_open=True)
    K = _validate.positive_integer(K, "K")
    _validate.broadcast(second_moment=second_moment, K=K)
    # sqrt(second_moment / K) with the ratio scaled by an even power of 2 (exact), so a
    # subnormal second_moment / K neither underflows nor loses digits
    mantissa, exponent = np.frexp(second_moment)
    odd = exponent % 2
    return unwrap(ldexp(np.sqrt(np.ldexp(mantissa, odd) / K), (exponent - odd) // 2))


def optimized_loss_bound(*, lr: ArrayLike, batch_size: ArrayLike, noise_var: ArrayLike,
                         K: ArrayLike, second_moment: ArrayLike,
                         log_C: ArrayLike) -> float | np.ndarray:
    r"""Theorem III.3 (corrected): the bound on :math:`E_{ss}[L]/K` at the optimal sigma0.

    .. math:: \frac{\tau}{2}\Bigl[\log\bigl(2\pi e\,\bar V\bigr) + \frac2K\log C_{1,loc}\Bigr],
              \qquad \bar V = E_{ss}\lVert W\rVert^2/K, \quad \tau = \frac{\alpha\sigma^2}{2b}.

    The paper's (20) has :math:`\log C_{1,loc}` where the derivation gives
    :math:`\frac2K\log C_{1,loc}` (they agree only at K = 2); its (21) puts the total
    :math:`E_{ss}[L]` on the left of the same right-hand side.

    Parameters
    ----------
    lr, batch_size, noise_var, K, second_moment, log_C
        As in :func:`kl_loss_bound`.

    Returns
    -------
    float or ndarray

    Raises
    ------
    ValueError
        If an argument is outside its range (as in :func:`kl_loss_bound`) or the bound
        lies beyond float64's range.

    Examples
    --------
    Continuous law of an isotropic quadratic: the bound is tight, E[L]/K = tau/2.

    >>> import math
    >>> from initmath.kl import optimized_loss_bound, quadratic_stationary
    >>> law = quadratic_stationary([3.0] * 5, lr=0.1, batch_size=2, noise_var=1.0)
    >>> bound = optimized_loss_bound(lr=0.1, batch_size=2, noise_var=1.0, K=5,
    ...                              second_moment=law.second_moment, log_C=law.log_C)
    >>> math.isclose(bound, law.mean_loss, rel_tol=1e-12), math.isclose(bound, 0.1 / 4 / 2)
    (True, True)
    """
    _, tau, tau_f = _q.parameters(lr, batch_size, noise_var)
    K = _validate.positive_integer(K, "K")
    second_moment = _validate.real(second_moment, "second_moment", 0, low_open=True)
    log_C = _validate.real(log_C, "log_C")
    _validate.broadcast(lr=tau.mantissa, K=K, second_moment=second_moment, log_C=log_C)
    with np.errstate(all="ignore"):             # the plain formula, where it is exact
        ratio = 2 * np.pi * second_moment / K
        out = tau_f / 2 * (np.log(ratio) + 1 + 2 * log_C / K)
    if _normal(tau_f, ratio, out):
        return unwrap(out)
    half = (np.log(2 * np.pi) + np.log(second_moment) - np.log(K) + 1) / 2 + log_C / K
    out = (_q.Scaled.of(half) * tau).value()
    return unwrap(_validate.finite_result(
        out, "the bound (of order lr*noise_var/batch_size * log_C/K)",
        hint="rescale the loss so that the bound is within float64's range"))


# --------------------------------------------------------------------------- quadratic case
class QuadraticStationary(NamedTuple):
    """Stationary law of SGD on :math:`L = \\frac12 W^T A W` (a centred Gaussian).

    ``variances``: per-eigenmode variances (eigenvalue input, modes on the last axis) or
    None; ``covariance``: the K x K covariance (matrix input) or None; ``expected_loss``:
    :math:`E_{ss}[L]`; ``mean_loss``: :math:`E_{ss}[L]/K`; ``second_moment``:
    :math:`E_{ss}\\lVert W\\rVert^2`; ``log_C``: log of the density's normaliser.
    """
    variances: np.ndarray | None
    covariance: np.ndarray | None
    expected_loss: float
    mean_loss: float
    second_moment: float
    log_C: float


def _one_of(eigenvalues, A):
    if (eigenvalues is None) == (A is None):
        raise ValueError("give exactly one of eigenvalues and A")


def _boolean(discrete):
    if not isinstance(discrete, (bool, np.bool_)):
        raise ValueError(f"discrete must be True or False, got {discrete!r}")


def _mode_law(eigenvalues, lr, batch_size, noise_var, discrete, plain=False):
    """(eigenvalues, Scaled variances, tau * step factor as Scaled), parameters broadcast
    against the leading axes; with plain, the QuadraticStationary of the plain float64
    formulas instead if they stay in the normal range (else None)."""
    lam = _q.spectrum(eigenvalues)
    lr, tau, tau_f = _q.parameters(lr, batch_size, noise_var)
    _validate.broadcast(eigenvalues=lam[..., 0], lr=tau.mantissa)
    lr = lr[..., None]
    if discrete:
        _q.check_stable(lr, lam.max(axis=-1, keepdims=True))
    if plain:
        return _plain_law(lam, lr, tau_f[..., None], discrete)
    tau = _q.Scaled(tau.mantissa[..., None], tau.exponent[..., None])
    return lam, _q.mode_variances(lam, lr, tau, discrete), tau * _q.step_factor(lr, lam,
                                                                                 discrete)


def _plain_law(lam, lr, tau, discrete):
    """quadratic_stationary by the plain float64 formulas (validated lam, lr and tau with a
    trailing axis), or None where an intermediate leaves the normal range (the scaled
    route then takes over): ~10x faster."""
    with np.errstate(all="ignore"):
        loss = tau * _q.step_factor(lr, lam, discrete)
        v = loss / lam
        expected, second = loss.sum(axis=-1) / 2, v.sum(axis=-1)
    if not _normal(tau, loss, v, expected, second, second):
        return None
    return QuadraticStationary(v, None, unwrap(expected), unwrap(expected / lam.shape[-1]),
                               unwrap(second), unwrap(_q.gaussian_log_normaliser(np.log(v))))


def _matrix_law(A, lr, batch_size, noise_var, discrete):
    """(eigenvalues of A, its eigenvectors, Scaled mode variances, tau * step factor): the
    noise is isotropic, so the stationary covariance is a function of A (tau A^-1, times
    (I - lr A / 2)^-1 for the recursion) and shares its eigenvectors."""
    lam, scale, vectors = _q.matrix(A)
    if np.ndim(lr) or np.ndim(batch_size) or np.ndim(noise_var):
        raise ValueError("lr, batch_size and noise_var must be scalars when A is given")
    lam = lam * scale
    return (lam, vectors) + _mode_law(lam, lr, batch_size, noise_var, discrete)[1:]


_TOO_LARGE = "rescale the loss (eigenvalues or A) or lr so that tau/eigenvalue fits"


def quadratic_stationary(eigenvalues: ArrayLike | None = None, *, A: ArrayLike | None = None,
                         lr: ArrayLike, batch_size: ArrayLike, noise_var: ArrayLike,
                         discrete: bool = False) -> QuadraticStationary:
    r"""Exact stationary law of SGD with additive noise on :math:`L = \frac12 W^T A W`.

    The recursion :math:`W' = W - \alpha(AW + \xi)`, :math:`\xi \sim N(0, (\sigma^2/b) I)`,
    has a Gaussian stationary law N(0, C) with (``discrete=True``)
    :math:`C = (I - \alpha A)C(I - \alpha A) + (\alpha^2\sigma^2/b) I`; its continuous-time
    limit (``discrete=False``, the paper's (12)) has :math:`AC + CA = (\alpha\sigma^2/b) I`,
    i.e. :math:`C = \tau A^{-1}`, :math:`\tau = \alpha\sigma^2/(2b)`.  Per eigenmode λ:

    .. math:: v_{cont} = \frac{\tau}{\lambda}, \qquad
              v_{disc} = \frac{\tau}{\lambda\,(1 - \alpha\lambda/2)}
              \quad (0 < \alpha\lambda < 2).

    Parameters
    ----------
    eigenvalues : float or array_like, optional
        Eigenvalues of A (finite, > 0), modes on the last axis (a scalar is one mode,
        K = 1); leading axes broadcast against lr, batch_size, noise_var.  Works in
        scaled arithmetic and logs: K = 1e5 costs milliseconds, and tau / lambda is exact
        to rounding at any magnitude.
    A : array_like, optional
        Instead of eigenvalues: the symmetric positive definite K x K matrix, K <= 2000
        (scalar parameters).  The noise is isotropic, so the stationary covariance is a
        function of A; it is formed from A's eigendecomposition (the continuous law is
        tau A^-1, the discrete one tau A^-1 (I - lr A / 2)^-1, the solutions of the two
        Lyapunov equations).
    lr, noise_var : float or array_like
        α > 0 and σ² > 0.
    batch_size : int or array_like
        b >= 1.
    discrete : bool, default False
        The exact law of the recursion instead of the continuous-time one.

    Returns
    -------
    QuadraticStationary
        ``log_C = -(K/2) log 2π - (1/2) log det C``.

    Raises
    ------
    ValueError
        Unless exactly one of eigenvalues and A is given; for non-positive eigenvalues, a
        non-symmetric or indefinite A, bad parameters, or (discrete) α λ_max >= 2; or
        when a variance, E[L] or E‖W‖² lies beyond float64's range (tau / lambda
        > 1.8e308).  Values below it round towards 0 (log_C stays exact).

    Examples
    --------
    Equipartition: the continuous law has E[L] = K tau / 2 whatever the spectrum.

    >>> import math
    >>> from initmath.kl import quadratic_stationary
    >>> law = quadratic_stationary([0.5, 2.0, 7.0], lr=0.02, batch_size=8, noise_var=3.0)
    >>> math.isclose(law.expected_loss, 3 * (0.02 * 3.0 / 16) / 2, rel_tol=1e-14)
    True
    """
    _one_of(eigenvalues, A)
    _boolean(discrete)
    if A is not None:
        lam, vectors, v, loss = _matrix_law(A, lr, batch_size, noise_var, discrete)
    else:
        plain = _mode_law(eigenvalues, lr, batch_size, noise_var, discrete, plain=True)
        if plain is not None:
            return plain
        lam, v, loss = _mode_law(eigenvalues, lr, batch_size, noise_var, discrete)
    K = lam.shape[-1]
    variances = _validate.finite_result(
        v.value(), "a stationary variance lr*noise_var/(2*batch_size*eigenvalue)", _TOO_LARGE)
    expected = _validate.finite_result(
        (loss.sum(axis=-1) / 2.0).value(), "E_ss[L] = K*lr*noise_var/(4*batch_size)",
        _TOO_LARGE)
    second = _validate.finite_result(v.sum(axis=-1).value(), "E_ss||W||^2 (the sum of the "
                                     "variances lr*noise_var/(2*batch_size*eigenvalue))",
                                     _TOO_LARGE)
    mean = (loss.sum(axis=-1) / (2.0 * K)).value()
    log_C = _q.gaussian_log_normaliser(v.log())
    if A is not None:
        C = (vectors * variances) @ vectors.T
        return QuadraticStationary(None, (C + C.T) / 2, float(expected), float(mean),
                                   float(second), float(log_C))
    return QuadraticStationary(variances, None, unwrap(expected), unwrap(mean),
                               unwrap(second), unwrap(log_C))


def quadratic_kl_divergence(sigma0: ArrayLike, eigenvalues: ArrayLike | None = None, *,
                            A: ArrayLike | None = None, lr: ArrayLike, batch_size: ArrayLike,
                            noise_var: ArrayLike, discrete: bool = False) -> float | np.ndarray:
    r""":math:`D(p_{ss}\|N(0, \sigma_0^2 I))` for the Gaussian law of :func:`quadratic_stationary`.

    .. math:: D = \frac12\sum_{i=1}^K\Bigl(\frac{v_i}{\sigma_0^2} - 1
              - \log\frac{v_i}{\sigma_0^2}\Bigr),

    :math:`v_i` the eigenvalues of the stationary covariance.  For the continuous law the
    slack of :func:`kl_loss_bound` is exactly :math:`\frac{\alpha\sigma^2}{2bK} D`.

    Parameters
    ----------
    sigma0 : float or array_like
        Init standard deviation > 0; broadcasts against the leading axes of eigenvalues.
    eigenvalues, A, lr, batch_size, noise_var, discrete
        As in :func:`quadratic_stationary`.

    Returns
    -------
    float or ndarray
        >= 0, and 0 exactly when every :math:`v_i = \sigma_0^2`.

    Examples
    --------
    >>> import math
    >>> from initmath.kl import kl_loss_bound, quadratic_kl_divergence, quadratic_stationary
    >>> p = dict(lr=0.05, batch_size=2, noise_var=1.5)
    >>> law = quadratic_stationary([1.0, 4.0], **p)
    >>> slack = kl_loss_bound(0.3, K=2, second_moment=law.second_moment, log_C=law.log_C,
    ...                       **p) - law.mean_loss
    >>> math.isclose(slack, 0.05 * 1.5 / (2 * 2 * 2) * quadratic_kl_divergence(0.3, [1.0, 4.0],
    ...                                                                        **p))
    True
    """
    sigma0 = _validate.real(sigma0, "sigma0", 0, low_open=True)
    _one_of(eigenvalues, A)
    _boolean(discrete)
    if A is not None:
        v = _matrix_law(A, lr, batch_size, noise_var, discrete)[2]
    else:
        v = _mode_law(eigenvalues, lr, batch_size, noise_var, discrete)[1]
    _validate.broadcast(sigma0=sigma0, eigenvalues=v.mantissa[..., 0])
    return unwrap(_validate.finite_result(
        _q.kl_to_isotropic(v, sigma0), "the divergence (of order the largest ratio "
        "stationary variance / sigma0**2)", hint="sigma0 is far from the stationary scale"))


class DiscretizationError(NamedTuple):
    """Relative errors (continuous - discrete) / discrete of the continuous-time law."""
    variances: np.ndarray
    expected_loss: float
    second_moment: float


def discretization_error(eigenvalues: ArrayLike, *, lr: ArrayLike) -> DiscretizationError:
    r"""Relative error of the continuous-time stationary law against the SGD recursion.

    With :math:`x_i = \alpha\lambda_i` (0 < x < 2), as (continuous − discrete)/discrete:

    .. math:: \text{per mode: } -\frac{x_i}{2}, \qquad
              E_{ss}[L]: \frac{K}{\sum_i (1 - x_i/2)^{-1}} - 1, \qquad
              E_{ss}\lVert W\rVert^2: \frac{\sum_i \lambda_i^{-1}}
              {\sum_i \lambda_i^{-1}(1 - x_i/2)^{-1}} - 1.

    Independent of the noise variance and the batch size; always negative (the continuous
    law underestimates), first order in α.

    Parameters
    ----------
    eigenvalues : float or array_like
        Eigenvalues of A (finite, > 0), modes on the last axis (a scalar is one mode).
    lr : float or array_like
        α > 0 with α λ_max < 2; broadcasts against the leading axes.

    Notes
    -----
    Evaluated as :math:`-x_i/2`, :math:`-\sum g_i/\sum(1 + g_i)` and
    :math:`-\sum (g_i/\lambda_i)/\sum((1 + g_i)/\lambda_i)` with
    :math:`g = (x/2)/(1 - x/2)`, so the errors keep full relative accuracy as α → 0
    (no 1 − (1 − …) cancellation) and 1/λ never overflows.

    Returns
    -------
    DiscretizationError
        ``variances`` (per mode), ``expected_loss``, ``second_moment``.

    Examples
    --------
    >>> import numpy as np
    >>> from initmath.kl import discretization_error
    >>> err = discretization_error([0.1, 1.0], lr=0.5)
    >>> bool(np.allclose(err.variances, [-0.025, -0.25]))
    True
    """
    lam = _q.spectrum(eigenvalues)
    lr = _validate.real(lr, "lr", 0, low_open=True)[..., None]
    _validate.broadcast(eigenvalues=lam[..., 0], lr=lr[..., 0])
    _q.check_stable(lr, lam.max(axis=-1, keepdims=True))
    # with x = lr lam and g = 1/(1 - x/2) - 1 = (x/2)/(1 - x/2) >= 0, the three errors are
    # -x/2, -sum g / sum (1 + g) and -sum (g/lam) / sum ((1 + g)/lam): no 1 - (1 - ...)
    # cancellation as lr -> 0, and 1/lam taken as lam_min/lam in (0, 1] (no overflow)
    with np.errstate(under="ignore"):
        half = lr * lam / 2
        g = half / (1 - half)
        weight = lam.min(axis=-1, keepdims=True) / lam
    return DiscretizationError(
        unwrap(-np.broadcast_to(half, g.shape).copy()),
        unwrap(-g.sum(axis=-1) / (1 + g).sum(axis=-1)),
        unwrap(-(g * weight).sum(axis=-1) / ((1 + g) * weight).sum(axis=-1)))


def burn_in_steps(eigenvalues: ArrayLike, *, lr: ArrayLike,
                  tol: ArrayLike) -> np.integer | np.ndarray:
    r"""Steps after which every mode's distance to its stationary second moment has shrunk by tol.

    Mode i's second moment relaxes as :math:`E w_t^2 - v_i = (1 - \alpha\lambda_i)^{2t}
    (E w_0^2 - v_i)`, so the answer is the least t >= 1 with
    :math:`\rho^{2t} \le` tol, :math:`\rho = \max_i |1 - \alpha\lambda_i|` (the slowest mode:
    :math:`\lambda_{min}`, or :math:`\lambda_{max}` when :math:`\alpha\lambda_{max} > 1`).

    Parameters
    ----------
    eigenvalues : float or array_like
        Eigenvalues of A (finite, > 0), modes on the last axis (a scalar is one mode).
    lr : float or array_like
        α > 0 with 0 < α λ < 2 for every mode.
    tol : float or array_like
        Factor in (0, 1).

    Returns
    -------
    int or ndarray of int
        At most 2**53; :math:`\log\rho` is taken as ``log1p(-αλ)``, so a tiny αλ gives
        its true count, not 1.

    Raises
    ------
    ValueError
        For bad arguments, or when the count exceeds 2**53 (α λ_min below ~1e-16 / |log
        tol|): the recursion then never reaches stationarity in practice.

    Examples
    --------
    >>> from initmath.kl import burn_in_steps
    >>> t = burn_in_steps([0.01, 1.0], lr=0.1, tol=1e-6)
    >>> bool(0.999 ** (2 * t) <= 1e-6 < 0.999 ** (2 * (t - 1)))
    True
    """
    lam = _q.spectrum(eigenvalues)
    lr = _validate.real(lr, "lr", 0, low_open=True)[..., None]
    tol = _validate.real(tol, "tol", 0, 1, low_open=True, high_open=True)
    _validate.broadcast(eigenvalues=lam[..., 0], lr=lr[..., 0], tol=tol)
    _q.check_stable(lr, lam.max(axis=-1, keepdims=True))
    with np.errstate(divide="ignore", under="ignore", over="ignore"):  # x = 1: one step
        x = lr * lam
        # log |1 - x| without rounding 1 - x to 1 when lr * lam is tiny
        log_rho = np.where(x < 1, np.log1p(-np.minimum(x, 1)), np.log(np.abs(x - 1))).max(
            axis=-1)
        steps = np.ceil(np.log(tol) / (2 * log_rho))
    if not np.all(steps <= STEPS_MAX):
        raise ValueError(f"lr * min(eigenvalues) is too small: the burn-in would be "
                         f"~{steps.max():.3g} steps, beyond the limit "
                         f"{_validate.bound_text(STEPS_MAX)} (the relaxation time is "
                         f"~1/(2*lr*min(eigenvalues)) steps); use the continuous-time law")
    return unwrap(np.maximum(steps, 1).astype(np.int64))


# --------------------------------------------------------------------------- least squares
class LeastSquaresStationary(NamedTuple):
    """Exact stationary moments of minibatch SGD on least squares.

    ``mean`` (= the least-squares solution W*), ``second_moment_matrix`` E[W Wᵀ],
    ``expected_loss`` E[L], ``second_moment`` E‖W‖², ``distance`` E‖W − W*‖²,
    ``spectral_radius`` of the second-moment map (the per-step contraction of second
    moments), ``converges`` (spectral radius < 1; always True, since divergence raises).
    """
    mean: np.ndarray
    second_moment_matrix: np.ndarray
    expected_loss: float
    second_moment: float
    distance: float
    spectral_radius: float
    converges: bool


def least_squares_stationary(X: ArrayLike, y: ArrayLike, *, lr: float,
                             batch_size: int) -> LeastSquaresStationary:
    r"""Exact stationary moments of minibatch SGD on :math:`\frac1{2N}\lVert XW - y\rVert^2`.

    Each step draws b indices uniformly with replacement and uses the minibatch-mean
    gradient: :math:`W' = (I - \alpha H_B)W + \alpha c_B`, :math:`H_B = \frac1b\sum_j
    x_{i_j}x_{i_j}^T`, :math:`c_B = \frac1b\sum_j x_{i_j}y_{i_j}`.  The stationary mean is
    the least-squares solution :math:`W^*`; :math:`M = E[(W - W^*)(W - W^*)^T]` solves

    .. math:: M = M - \alpha(HM + MH) + \alpha^2\Bigl[\tfrac1b E_n[a_n M a_n]
              + (1 - \tfrac1b) HMH\Bigr] + \frac{\alpha^2}{b} E_n[e_n^2 a_n],

    :math:`a_n = x_n x_n^T`, :math:`H = E_n a_n`, :math:`e = XW^* - y`, a K² x K² linear
    system with the empirical 4th moments of the rows.  Then
    :math:`E[L] = L(W^*) + \frac12 \operatorname{tr}(HM)`.

    Parameters
    ----------
    X : array_like
        N x K data, finite, full column rank, K <= 40 and N K^4 <= 4e9 (the exact 4th
        moments cost N K^4 operations).  Any scale: the moments are computed for
        X / max|X| and y / max|y| and scaled back.
    y : array_like
        N targets.
    lr : float
        α > 0.
    batch_size : int
        b >= 1.

    Returns
    -------
    LeastSquaresStationary

    Raises
    ------
    ValueError
        For bad shapes, rank-deficient X, or an lr at which the second moments diverge
        (spectral radius of the second-moment map >= 1).

    Examples
    --------
    Interpolating data (y = X w exactly): no gradient noise at W*, the law is a point mass.

    >>> import numpy as np
    >>> from initmath.kl import least_squares_stationary
    >>> X = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    >>> law = least_squares_stationary(X, X @ [0.5, -1.0], lr=0.1, batch_size=1)
    >>> bool(np.allclose(law.mean, [0.5, -1.0])), round(law.distance, 12), law.converges
    (True, 0.0, True)
    """
    X, y = _q.least_squares_data(X, y)
    lr = _validate.real_scalar(lr, "lr", 0, low_open=True)
    batch_size = _validate.integer_scalar(batch_size, "batch_size")
    moments = _q.least_squares_moments(X, y, lr, batch_size)
    w, M = moments.minimizer, moments.deviation_moment
    with np.errstate(over="ignore"):
        distance = float(np.trace(M))
        second = distance + float(w @ w)
        matrix = M + np.outer(w, w)
    hint = "rescale X or y (the moments scale with y**2 and 1/X**2)"
    _validate.finite_result(matrix, "E[W W^T] (scale y**2/X**2)", hint=hint)
    _validate.finite_result(second, "E||W||^2 (scale y**2/X**2)", hint=hint)
    return LeastSquaresStationary(w, matrix, moments.expected_loss, second, distance,
                                  moments.spectral_radius, True)


# --------------------------------------------------------------------------- symbolic
@functools.cache
def _symbols():
    import sympy
    positive = dict(positive=True)
    names = dict(alpha="alpha", sigma="sigma", b="b", sigma0="sigma_0", C="C_1loc",
                 L="L", W2="W2", E_L="E_L", E_W2="E_W2", Vbar="Vbar", lam="lambda",
                 K1="K_1", K2="K_2")
    symbols = {key: sympy.Symbol(name, **positive) for key, name in names.items()}
    symbols["K"] = sympy.Symbol("K", positive=True, integer=True)
    symbols["w"] = sympy.Symbol("w", real=True)
    return symbols


_LATEX_NAMES = {"sigma_0": r"\sigma_0", "C_1loc": r"C_{1,\mathrm{loc}}", "L": "L(W)",
                "W2": r"\lVert W\rVert^2", "E_L": r"\mathbb{E}_{ss}[L]",
                "E_W2": r"\mathbb{E}_{ss}\lVert W\rVert^2", "Vbar": r"\bar V"}


def _expectation(expression, random_values):
    """E[expression] for an expression affine in the random symbols, by linearity.

    random_values maps each random symbol (L(W), ||W||^2) to the symbol of its mean;
    anything non-affine raises (sympy's linear_eq_to_matrix refuses it)."""
    import sympy
    randoms = list(random_values)
    coefficients, rest = sympy.linear_eq_to_matrix([expression], randoms)
    return sum((c * random_values[r] for c, r in zip(coefficients, randoms)), -rest[0])


def _tidy(expression):
    """Logs expanded, the common factor pulled out: alpha*sigma**2*(...)/(4*b)."""
    import sympy
    return sympy.factor_terms(sympy.expand(sympy.expand_log(expression, force=True)))


@functools.cache
def _derivation():
    """Every step, in order (sympy objects are immutable, so the dict is cached)."""
    import sympy
    s = _symbols()
    alpha, sigma, b, K, sigma0, C = (s[k] for k in ("alpha", "sigma", "b", "K", "sigma0", "C"))
    steps = {}
    steps["log p_ss"] = sympy.log(C) - 2 * b * s["L"] / (alpha * sigma ** 2)
    steps["log p_0"] = -K / 2 * sympy.log(2 * sympy.pi * sigma0 ** 2) - s["W2"] / (2 * sigma0 ** 2)
    kl = _tidy(_expectation(steps["log p_ss"] - steps["log p_0"],
                            {s["L"]: s["E_L"], s["W2"]: s["E_W2"]}))
    steps["D(p_ss||p_0)"] = kl
    # D is decreasing in E_ss[L], so D >= 0 <=> E_ss[L] <= the root of D = 0
    if not sympy.diff(kl, s["E_L"]).is_negative:
        raise ArithmeticError("D(p_ss||p_0) is not decreasing in E_ss[L]")
    (total,) = sympy.solve(sympy.Eq(kl, 0), s["E_L"])
    steps["bound on E_ss[L]"] = _tidy(total)
    bound = _tidy(total / K)
    steps["bound on E_ss[L]/K"] = bound
    steps["d bound/d sigma_0"] = sympy.factor(sympy.diff(bound, sigma0))
    (best,) = sympy.solve(steps["d bound/d sigma_0"], sigma0)
    steps["optimal sigma_0"] = best
    steps["optimized bound on E_ss[L]/K"] = _tidy(bound.subs(sigma0, best))
    steps["slack / D(p_ss||p_0)"] = sympy.simplify((bound - s["E_L"] / K) / kl)
    steps.update(_limit_steps(s, bound))
    steps.update(_quadratic_steps(s, steps["optimized bound on E_ss[L]/K"]))
    return steps


def _limit_steps(s, bound):
    """Remark III.2: the bound's sigma_0 -> 0 leading term and sigma_0 -> oo behaviour."""
    import sympy
    sigma0, K = s["sigma0"], s["K"]
    steps = {}
    small = bound.as_leading_term(sigma0)
    steps["sigma_0 -> 0: leading term"] = small
    steps["sigma_0 -> 0: K_1 = leading term / Vbar"] = sympy.simplify(
        small.subs(s["E_W2"], K * s["Vbar"]) / s["Vbar"])
    k2 = sympy.limit(bound / sympy.log(sigma0 ** 2), sigma0, sympy.oo)
    steps["sigma_0 -> oo: K_2 = lim bound / log sigma_0^2"] = k2
    steps["sigma_0 -> oo: lim bound - K_2 log sigma_0^2"] = _tidy(sympy.limit(
        bound - k2 * sympy.log(sigma0 ** 2), sigma0, sympy.oo))
    return steps


def _quadratic_steps(s, optimized):
    """The quadratic case: one mode by sympy's Gaussian integrals, K modes by products;
    optimized is the general optimized bound on E_ss[L]/K, evaluated here at K = 1."""
    import sympy
    alpha, sigma, b, K, lam, w = (s[k] for k in ("alpha", "sigma", "b", "K", "lam", "w"))
    steps = {}
    loss = lam * w ** 2 / 2
    gibbs = sympy.exp(-2 * b * loss / (alpha * sigma ** 2))
    normaliser = 1 / sympy.integrate(gibbs, (w, -sympy.oo, sympy.oo))
    steps["quadratic K=1: C_1loc"] = sympy.simplify(normaliser)
    steps["quadratic K=1: E_ss[L]"] = sympy.simplify(
        sympy.integrate(loss * normaliser * gibbs, (w, -sympy.oo, sympy.oo)))
    variance = sympy.simplify(sympy.integrate(w ** 2 * normaliser * gibbs,
                                              (w, -sympy.oo, sympy.oo)))
    steps["quadratic K=1: E_ss[w^2]"] = variance
    # independent modes: the density is a product, log C and the moments are sums
    lam_i, i = sympy.IndexedBase("lambda", positive=True), sympy.Symbol("i", integer=True)
    per_mode = {lam: lam_i[i]}
    steps["quadratic: log C_1loc"] = sympy.Sum(
        _tidy(sympy.log(steps["quadratic K=1: C_1loc"]).subs(per_mode)), (i, 1, K))
    steps["quadratic: E_ss[L]"] = sympy.Sum(
        steps["quadratic K=1: E_ss[L]"].subs(per_mode), (i, 1, K)).doit()
    steps["quadratic: E_ss||W||^2"] = sympy.Sum(variance.subs(per_mode), (i, 1, K))
    one_mode = optimized.subs({K: 1, s["E_W2"]: variance, s["C"]: normaliser})
    steps["quadratic K=1: optimized bound / E_ss[L]"] = sympy.simplify(
        _tidy(one_mode) / steps["quadratic K=1: E_ss[L]"])
    v = sympy.Symbol("v", positive=True)
    (discrete,) = sympy.solve(sympy.Eq(v, (1 - alpha * lam) ** 2 * v
                                       + alpha ** 2 * sigma ** 2 / b), v)
    steps["discrete K=1: E_ss[w^2]"] = sympy.factor(discrete)
    steps["discrete K=1: relative error of the continuous variance"] = sympy.simplify(
        variance / discrete - 1)
    return steps


def kl_bound_derivation() -> dict:
    r"""The derivation of Proposition III.1, Remark III.2 and Theorem III.3, step by step in sympy.

    Nothing is typed in but the two log-densities: sympy takes the expectation by
    linearity, solves :math:`D \ge 0` for :math:`E_{ss}[L]`, differentiates, solves for
    the optimal :math:`\sigma_0`, substitutes, takes the :math:`\sigma_0 \to 0` leading term
    and the :math:`\sigma_0 \to \infty` limit, and does the Gaussian integrals of the
    quadratic case (one mode with symbolic eigenvalue λ; K modes by the product structure)
    and the discrete recursion's fixed point.

    Returns
    -------
    dict
        Ordered step name -> sympy expression.  Symbols (all positive): ``alpha``,
        ``sigma`` (σ, the noise std), ``b``, ``K`` (integer), ``sigma_0``, ``C_1loc``,
        ``L`` = L(W) and ``W2`` = ‖W‖² (random), ``E_L`` = E_ss[L], ``E_W2`` = E_ss‖W‖²,
        ``Vbar`` = E_ss‖W‖²/K, ``lambda``.

    Notes
    -----
    The first call takes ~1.5 s (sympy's integrals); the result is cached.

    Examples
    --------
    >>> from initmath.kl import kl_bound_derivation
    >>> steps = kl_bound_derivation()
    >>> steps["optimal sigma_0"]
    sqrt(E_W2)/sqrt(K)
    >>> steps["quadratic K=1: optimized bound / E_ss[L]"]     # tight for one mode
    1
    """
    return dict(_derivation())


def kl_bound_derivation_latex() -> dict[str, str]:
    r"""The steps of :func:`kl_bound_derivation` as LaTeX strings (``sympy.latex``).

    Returns
    -------
    dict
        Step name -> LaTeX (E_ss[L] printed as :math:`\mathbb{E}_{ss}[L]` and so on).

    Examples
    --------
    >>> from initmath.kl import kl_bound_derivation_latex
    >>> kl_bound_derivation_latex()["optimal sigma_0"]
    '\\frac{\\sqrt{\\mathbb{E}_{ss}\\lVert W\\rVert^2}}{\\sqrt{K}}'
    """
    import sympy
    names = {symbol: _LATEX_NAMES[symbol.name] for symbol in _symbols().values()
             if symbol.name in _LATEX_NAMES}
    return {step: sympy.latex(expression, symbol_names=names)
            for step, expression in _derivation().items()}

