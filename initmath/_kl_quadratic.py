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
from scipy import linalg
from scipy.sparse import linalg as sparse_linalg

from . import _validate

# Largest K for least squares: the dense K^2 x K^2 system (K = 40: 2.6 M entries, ~1 s).
LEAST_SQUARES_K_MAX = 40
# Rows of the data matrix per chunk when accumulating the 4th-moment matrix (bounds memory
# at ~_ROW_CHUNK * K^2 floats).
_ROW_CHUNK = 4096
# Up to this size (K <= 8) the second-moment map's eigenvalues are found densely.
_DENSE_EIGEN_MAX = 64


def temperature(lr, batch_size, noise_var):
    """tau = lr noise_var / (2 batch_size), validated (the law is exp(-L/tau))."""
    lr = _validate.real(lr, "lr", 0, low_open=True)
    batch_size = _validate.positive_integer(batch_size, "batch_size")
    noise_var = _validate.real(noise_var, "noise_var", 0, low_open=True)
    return lr, lr * noise_var / (2.0 * batch_size)


def spectrum(eigenvalues):
    """Eigenvalues of A as a float array with the modes on the last axis (a scalar is K = 1)."""
    lam = np.atleast_1d(_validate.real(eigenvalues, "eigenvalues", 0, low_open=True))
    if lam.shape[-1] == 0:
        raise ValueError("eigenvalues must contain at least one eigenvalue, got an empty array")
    return lam


def matrix(A):
    """A as a symmetric positive definite float matrix, or ValueError."""
    A = _validate.real(A, "A")
    if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] == 0:
        raise ValueError(f"A must be a square K x K matrix (K >= 1), got shape {A.shape}")
    if not np.allclose(A, A.T, rtol=1e-12, atol=1e-12 * np.abs(A).max()):
        raise ValueError("A must be symmetric, got a matrix with A != A.T")
    if np.linalg.eigvalsh(A)[0] <= 0:
        raise ValueError("A must be positive definite, got a smallest eigenvalue <= 0")
    return (A + A.T) / 2


def check_stable(lr, lam_max):
    """Raise unless the recursion is stable: 0 < lr lam_max < 2 for every parameter set."""
    x = np.asarray(lr * lam_max)
    if not np.all(x < 2):
        raise ValueError(f"lr must satisfy lr * lambda_max < 2 for the discrete recursion "
                         f"to have a stationary law, got lr * lambda_max = {x.max()!r}")


def log_step_factor(lr, lam, discrete):
    """log of the discrete/continuous variance ratio 1 / (1 - lr lam / 2) (0 if continuous)."""
    return -np.log1p(-lr * lam / 2) if discrete else np.zeros_like(lr * lam)


def mode_log_variances(lam, lr, tau, discrete):
    """log of the stationary variance of each eigenmode (modes on the last axis)."""
    return np.log(tau) - np.log(lam) + log_step_factor(lr, lam, discrete)


def gaussian_log_normaliser(log_variances):
    """log C for N(0, diag(v)): -(K/2) log(2 pi) - (1/2) sum log v (last axis)."""
    return -0.5 * (log_variances.shape[-1] * np.log(2 * np.pi) + log_variances.sum(axis=-1))


def lyapunov_covariance(A, lr, noise_var, batch_size, discrete):
    """Stationary covariance for a full A by scipy's Lyapunov solvers."""
    K = A.shape[0]
    if discrete:
        # C = (I - lr A) C (I - lr A) + lr^2 (noise_var / b) I
        step = np.eye(K) - lr * A
        C = linalg.solve_discrete_lyapunov(step, lr ** 2 * noise_var / batch_size * np.eye(K))
    else:
        # A C + C A = (lr noise_var / b) I, the Ito diffusion's Lyapunov equation
        C = linalg.solve_continuous_lyapunov(A, lr * noise_var / batch_size * np.eye(K))
    return (C + C.T) / 2


def kl_to_isotropic(log_variances, sigma0):
    """D(N(0, diag v) || N(0, sigma0^2 I)) = (1/2) sum (r - 1 - log r), r = v / sigma0^2.

    Written with u = log r as expm1(u) - u, which keeps full relative accuracy as r -> 1."""
    u = log_variances - 2 * np.log(sigma0)[..., None]
    return 0.5 * (np.expm1(u) - u).sum(axis=-1)


# --------------------------------------------------------------------------- least squares
class LeastSquaresMoments(NamedTuple):
    minimizer: np.ndarray        # W*, the least-squares solution (= the stationary mean)
    deviation_moment: np.ndarray  # M = E[(W - W*)(W - W*)^T]
    hessian: np.ndarray          # H = X^T X / N
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
    if np.linalg.matrix_rank(X) < X.shape[1]:
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


def second_moment_map(X, lr, batch_size):
    """T with vec E[(I - lr H_B) M (I - lr H_B)] = T vec M, H_B the minibatch Hessian.

    E[H_B M H_B] = (1/b) E_n[a_n M a_n] + (1 - 1/b) H M H with a_n = x_n x_n^T, because
    the b indices are iid; vec(a M a) = (a kron a) vec M for symmetric a (row-major vec)."""
    K = X.shape[1]
    H = X.T @ X / X.shape[0]
    eye = np.eye(K)
    sandwich = (fourth_moment_matrix(X) + (batch_size - 1) * np.kron(H, H)) / batch_size
    return np.eye(K * K) - lr * (np.kron(H, eye) + np.kron(eye, H)) + lr ** 2 * sandwich, H


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
    M = T(M) + lr^2 E[zeta_B zeta_B^T], E[zeta_B zeta_B^T] = X^T diag(e^2) X / (N b)."""
    T, H = second_moment_map(X, lr, batch_size)
    radius = largest_eigenvalue(T)
    if radius >= 1:
        raise ValueError(f"lr = {lr!r} makes minibatch SGD diverge in second moment "
                         f"(spectral radius of the second-moment map {radius:.6g} >= 1)")
    minimizer = np.linalg.lstsq(X, y, rcond=None)[0]
    residuals = X @ minimizer - y
    N, K = X.shape
    noise = (X.T * residuals ** 2) @ X / (N * batch_size)
    M = np.linalg.solve(np.eye(K * K) - T, lr ** 2 * noise.ravel()).reshape(K, K)
    return LeastSquaresMoments(minimizer, (M + M.T) / 2, H, float(residuals @ residuals) / (2 * N),
                               float(radius))
