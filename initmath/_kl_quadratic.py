"""Exact stationary laws of SGD on quadratic losses (internals of :mod:`initmath.kl`).

Two recursions, both linear in W:

* additive noise, W' = W - lr (A W + xi), xi ~ N(0, (noise_var / b) I): the stationary law
  is Gaussian; per eigenmode (eigenvalue lam, x = lr lam) its variance is
  tau / lam for the continuous-time limit and tau / (lam (1 - x/2)) for the recursion,
  tau = lr noise_var / (2 b);
* least squares with minibatches drawn with replacement: W' = (I - lr H_B) W + lr c_B,
  whose stationary second moments solve a K^2 x K^2 linear system (see
  :func:`least_squares_moments`).
"""
from typing import NamedTuple

import numpy as np
from scipy.sparse import linalg as sparse_linalg

from . import _validate
from ._engine.evaluate import ldexp

# Largest K for least squares: the dense K^2 x K^2 system (K = 40: 2.6 M entries, ~1 s).
LEAST_SQUARES_K_MAX = 40
# Rows of the data matrix per chunk when accumulating the 4th-moment matrix (bounds memory
# at ~_ROW_CHUNK * K^2 floats).
_ROW_CHUNK = 4096
# Up to this size (K <= 8) the second-moment map's eigenvalues are found densely.
_DENSE_EIGEN_MAX = 64
# Largest K for a full matrix A (an O(K^3) eigendecomposition, ~2 s at K = 2000).
MATRIX_K_MAX = 2000
# Largest N K^4 for least squares (the 4th-moment matrix): ~WORK_RATE_S s per 1e9, so
# 4e9 keeps a call within a few seconds, far inside _validate.WORK_BUDGET_S.
LEAST_SQUARES_WORK_MAX = 4 * 10 ** 9
WORK_RATE_S = 1.0


_LN2 = float(np.log(2.0))


class Scaled(NamedTuple):
    """A positive float array as mantissa * 2**exponent (mantissa in [0.5, 1), exponent an
    int64 array): products and quotients of the SGD parameters, eigenvalues and variances
    stay exact to rounding however far they fall outside float64's exponent range (lr =
    5e-324, eigenvalues 1e-300, ...), and are rounded to float64 only at the end."""
    mantissa: np.ndarray
    exponent: np.ndarray

    @classmethod
    def of(cls, x):
        mantissa, exponent = np.frexp(np.asarray(x, dtype=float))
        return cls(mantissa, exponent.astype(np.int64))

    def _renormalise(self):
        mantissa, shift = np.frexp(self.mantissa)
        return Scaled(mantissa, self.exponent + shift)

    def __mul__(self, other):
        other = other if isinstance(other, Scaled) else Scaled.of(other)
        return Scaled(self.mantissa * other.mantissa, self.exponent + other.exponent
                      )._renormalise()

    def __truediv__(self, other):
        other = other if isinstance(other, Scaled) else Scaled.of(other)
        return Scaled(self.mantissa / other.mantissa, self.exponent - other.exponent
                      )._renormalise()

    def __add__(self, other):
        other = other if isinstance(other, Scaled) else Scaled.of(other)
        top = np.maximum(self.exponent, other.exponent)
        return Scaled(ldexp(self.mantissa, self.exponent - top)
                      + ldexp(other.mantissa, other.exponent - top), top)._renormalise()

    def value(self):
        """The float64 value (inf beyond the range, correctly rounded towards 0 below it)."""
        return ldexp(self.mantissa, self.exponent)

    def log(self):
        """log of the (positive) value, accurate to a few ulps even near 1."""
        with np.errstate(divide="ignore", invalid="ignore"):
            inside = np.abs(self.exponent) < 1000
            direct = np.log(np.where(inside, self.value(), 1.0))
            return np.where(inside, direct, np.log(self.mantissa) + self.exponent * _LN2)

    def sum(self, axis=-1):
        """Sum along an axis (positive entries), in the scale of the largest entry."""
        top = self.exponent.max(axis=axis, keepdims=True)
        total = ldexp(self.mantissa, self.exponent - top).sum(axis=axis)
        return Scaled(total, np.squeeze(top, axis=axis))._renormalise()


def parameters(lr, batch_size, noise_var):
    """Validated lr and tau = lr noise_var / (2 batch_size), as a :class:`Scaled` (the
    law is exp(-L/tau); tau itself may leave float64's range) and as the plain float64
    product (for the fast path where every intermediate is a normal float)."""
    lr = _validate.real(lr, "lr", 0, low_open=True)
    batch_size = _validate.positive_integer(batch_size, "batch_size")
    noise_var = _validate.real(noise_var, "noise_var", 0, low_open=True)
    _validate.broadcast(lr=lr, batch_size=batch_size, noise_var=noise_var)
    with np.errstate(all="ignore"):
        plain = lr * noise_var / (2.0 * batch_size)
    return lr, Scaled.of(lr) * Scaled.of(noise_var) / Scaled.of(2.0 * batch_size), plain


def spectrum(eigenvalues):
    """Eigenvalues of A as a float array with the modes on the last axis (a scalar is one
    eigenvalue, K = 1)."""
    lam = np.atleast_1d(_validate.real(eigenvalues, "eigenvalues", 0, low_open=True))
    if lam.shape[-1] == 0:
        raise ValueError("eigenvalues must contain at least one eigenvalue, got an empty array")
    return lam


def matrix(A):
    """A as a symmetric positive definite float matrix, or ValueError."""
    A = _validate.real(A, "A")
    if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] == 0:
        raise ValueError(f"A must be a square K x K matrix (K >= 1), got shape {A.shape}")
    if A.shape[0] > MATRIX_K_MAX:
        raise ValueError(f"A must be at most {MATRIX_K_MAX} x {MATRIX_K_MAX} (an "
                         f"eigendecomposition; pass its eigenvalues instead), got K = "
                         f"{A.shape[0]}")
    scale = np.abs(A).max()
    if scale == 0:
        raise ValueError("A must be positive definite, got the zero matrix")
    if not np.allclose(A / scale, A.T / scale, rtol=1e-12, atol=1e-12):
        raise ValueError("A must be symmetric, got a matrix with A != A.T")
    lam, vectors = np.linalg.eigh((A / scale + A.T / scale) / 2)
    if lam[0] <= 0:
        raise ValueError("A must be positive definite, got a smallest eigenvalue <= 0")
    return lam, scale, vectors


def check_stable(lr, lam_max):
    """Raise unless the recursion is stable: 0 < lr lam_max < 2 for every parameter set."""
    with np.errstate(over="ignore"):
        x = np.asarray(lr * lam_max)
    if not np.all(x < 2):
        raise ValueError(f"lr must satisfy lr * max(eigenvalues) < 2 for the discrete "
                         f"recursion to have a stationary law, got lr * max(eigenvalues) = "
                         f"{x.max()!r}")


def step_factor(lr, lam, discrete):
    """The discrete/continuous variance ratio 1 / (1 - lr lam / 2) (1 if continuous)."""
    with np.errstate(under="ignore"):
        return 1 / (1 - lr * lam / 2) if discrete else np.ones(np.broadcast(lr, lam).shape)


def mode_variances(lam, lr, tau, discrete):
    """Stationary variance tau factor / lam of each eigenmode (modes on the last axis), as
    a Scaled array; lam a float array, lr and tau with a trailing axis of length 1."""
    return Scaled(tau.mantissa, tau.exponent) * step_factor(lr, lam, discrete) / Scaled.of(lam)


def gaussian_log_normaliser(log_variances):
    """log C for N(0, diag(v)): -(K/2) log(2 pi) - (1/2) sum log v (last axis)."""
    return -0.5 * (log_variances.shape[-1] * np.log(2 * np.pi) + log_variances.sum(axis=-1))


def kl_to_isotropic(v, sigma0):
    """D(N(0, diag v) || N(0, sigma0^2 I)) = (1/2) sum (r - 1 - log r), r = v / sigma0^2.

    Written with u = log r as expm1(u) - u, which keeps full relative accuracy as r -> 1;
    r is formed in scaled arithmetic, so v and sigma0^2 may each leave float64's range."""
    s = Scaled.of(sigma0[..., None])
    u = (v / (s * s)).log()
    with np.errstate(over="ignore"):
        return 0.5 * (np.expm1(u) - u).sum(axis=-1)


# --------------------------------------------------------------------------- least squares
class LeastSquaresMoments(NamedTuple):
    minimizer: np.ndarray        # W*, the least-squares solution (= the stationary mean)
    deviation_moment: np.ndarray  # M = E[(W - W*)(W - W*)^T]
    expected_loss: float         # E[L] = L(W*) + tr(H M) / 2
    min_loss: float              # L(W*)
    spectral_radius: float       # of the second-moment map T


def least_squares_data(X, y):
    """Validated X (N x K, full column rank, K <= LEAST_SQUARES_K_MAX) and y (N,)."""
    X = _validate.real(X, "X")
    y = _validate.real(y, "y")
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"X must be an N x K matrix with N, K >= 1, got shape {X.shape}")
    if y.shape != X.shape[:1]:
        raise ValueError(f"y must have shape ({X.shape[0]},) to match X, got {y.shape}")
    if X.shape[1] > LEAST_SQUARES_K_MAX:
        raise ValueError(f"X must have at most {LEAST_SQUARES_K_MAX} columns (the exact "
                         f"moments need a K^2 x K^2 system), got K = {X.shape[1]}")
    if X.shape[0] * X.shape[1] ** 4 > LEAST_SQUARES_WORK_MAX:
        raise ValueError(f"X must have N * K**4 <= {LEAST_SQUARES_WORK_MAX:.0e} (the 4th-moment "
                         f"matrix costs N K^4 operations, ~{WORK_RATE_S:g} s per 1e9), got "
                         f"N = {X.shape[0]}, K = {X.shape[1]}: subsample the rows of X and y")
    if not np.any(X) or np.linalg.matrix_rank(X / np.abs(X).max()) < X.shape[1]:
        raise ValueError("X must have full column rank K: otherwise the least-squares "
                         "solution, and the stationary mean, are not unique")
    return X, y


def fourth_moment_matrix(X):
    """F = (1/N) sum_n (x_n x_n^T) kron (x_n x_n^T), the K^2 x K^2 empirical 4th moments."""
    N, K = X.shape
    F = np.zeros((K * K, K * K))
    for start in range(0, N, _ROW_CHUNK):
        rows = X[start:start + _ROW_CHUNK]
        Z = (rows[:, :, None] * rows[:, None, :]).reshape(len(rows), K * K)
        F += Z.T @ Z
    return F / N


def deviation_map(X, lr, batch_size):
    """(D, H) with I - T = lr D, T the second-moment map below, without the cancellation
    of forming T first (lr -> 0 leaves D = H kron I + I kron H, not 0)."""
    K = X.shape[1]
    H = X.T @ X / X.shape[0]
    eye = np.eye(K)
    sandwich = (fourth_moment_matrix(X) + (batch_size - 1) * np.kron(H, H)) / batch_size
    return np.kron(H, eye) + np.kron(eye, H) - lr * sandwich, H


def second_moment_map(X, lr, batch_size):
    """T with vec E[(I - lr H_B) M (I - lr H_B)] = T vec M, H_B the minibatch Hessian.

    E[H_B M H_B] = (1/b) E_n[a_n M a_n] + (1 - 1/b) H M H with a_n = x_n x_n^T, because
    the b indices are iid; vec(a M a) = (a kron a) vec M for symmetric a (row-major vec)."""
    D, H = deviation_map(X, lr, batch_size)
    return np.eye(len(D)) - lr * D, H


def largest_eigenvalue(T):
    """Spectral radius of the second-moment map T (a symmetric matrix).

    M -> E[B M B] is completely positive, so its spectral radius is its largest
    eigenvalue (Evans & Hoegh-Krohn 1978), found by Lanczos: a dense symmetric
    eigensolver on the K^2 x K^2 matrix is ~20x slower at K = 40."""
    if len(T) <= _DENSE_EIGEN_MAX:
        return float(np.linalg.eigvalsh(T)[-1])
    return float(sparse_linalg.eigsh(T, k=1, which="LA", return_eigenvectors=False)[0])


def least_squares_moments(X, y, lr, batch_size):
    """Exact stationary mean and deviation second moment of minibatch SGD on least squares.

    With U = W - W*, residuals e = X W* - y and zeta_B the minibatch mean of x_n e_n
    (E zeta_B = 0 by the normal equations), U' = (I - lr H_B) U - lr zeta_B.  U_t is
    independent of the fresh batch, so at stationarity E U = 0 and
    M = T(M) + lr^2 E[zeta_B zeta_B^T], E[zeta_B zeta_B^T] = X^T diag(e^2) X / (N b).

    Worked in units where max|X| = max|y| = 1 (X = c X~, y = d y~: W = (d/c) V with V the
    SGD of (X~, y~) at lr c^2), and with I - T = lr D solved as D (no cancellation as
    lr -> 0), so neither huge or tiny data nor a tiny lr overflows or loses the answer."""
    c = float(np.abs(X).max())
    d = float(np.abs(y).max()) or 1.0
    X, y = X / c, y / d
    with np.errstate(over="ignore"):
        lr_n = lr * c * c
    D, H = deviation_map(X, lr_n, batch_size) if np.isfinite(lr_n) else (None, None)
    converges = D is not None and np.all(np.isfinite(D))
    if converges:
        try:
            np.linalg.cholesky(D)
        except np.linalg.LinAlgError:
            converges = False
    if not converges:
        raise ValueError(f"lr = {lr!r} makes minibatch SGD diverge in second moment "
                         f"(spectral radius of the second-moment map >= 1)")
    radius = largest_eigenvalue(np.eye(len(D)) - lr_n * D)
    N, K = X.shape
    minimizer = np.linalg.lstsq(X, y, rcond=None)[0]
    residuals = X @ minimizer - y
    noise = (X.T * residuals ** 2) @ X / (N * batch_size)
    G = np.linalg.solve(D, noise.ravel()).reshape(K, K)      # M = lr d^2 G
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        factor = (Scaled.of(lr) * Scaled.of(d) * Scaled.of(d)).value()
        M = factor * ((G + G.T) / 2)
        min_loss = d * d * (float(residuals @ residuals) / (2 * N))
        expected = d * d * (float(residuals @ residuals) / (2 * N)
                            + lr_n * float(np.sum(H * G)) / 2)
        w = (d / c) * minimizer
    hint = "rescale X or y (the moments scale with y**2 and 1/X**2)"
    for value, what in ((w, "the least-squares solution (d/c scale of y and X)"),
                        (M, "E[(W - W*)(W - W*)^T] (scale lr * y**2)"),
                        (expected, "E[L] (scale y**2)")):
        _validate.finite_result(value, what, hint=hint)
    return LeastSquaresMoments(w, M, float(expected), float(min_loss), float(radius))
