r"""Checks of initmath.kl on simulated SGD chains: the exact stationary moments of the
recursion, the discretization error of the paper's continuous-time law, and the KL bound
of Horii & Has (Proposition III.1, Theorem III.3).

What is simulated: n independent SGD chains in parallel (the rows of an (n, K) float64
tensor), started from W_0 ~ N(0, sigma0^2 I) and driven only by the check's torch
generator (CUDA when present, the CPU otherwise):

* additive-noise quadratic, W' = W - lr (A W + xi), xi ~ N(0, noise_var / b I), with A
  diagonal (given by its eigenvalues) or dense (a fixed rotation of the same spectrum);
* least squares on a fixed generated data set (:func:`regression_data`), with b indices
  drawn uniformly with replacement per chain and per step and the minibatch-mean
  gradient, exactly as SGD is run.

Statistics, and why the tolerance is honest: consecutive states of one chain are
correlated, so the samples are not the states but the chains.  Each chain runs a burn-in
of T steps and then contributes ONE number, the mean of the statistic over the window
of the next M steps.  Different chains are independent (their own draws from the same
generator), so the window means are iid across chains and the sample variance across
chains is their exact variance, whatever the autocorrelation inside a chain; the rule is
"iid".  The window only buys precision: for a Gaussian AR(1) mode with contraction rho
the window mean of u_t^2 has variance 2 v^2 g(rho^2, M),
g(r, M) = M^-2 sum_{s,t} r^|s-t| (:func:`window_variance`), from which the budgets are
computed.  All statistics are quadratic forms of a Gaussian state (or of a least-squares
state whose steps are non-expansive, below), so their tails are light.

Burn-in: T = initmath.kl.burn_in_steps(spectrum, lr, tol) with tol chosen so that the
remaining bias rho^(2T) x (initial gap) is below 1% of the error the check resolves.
This is itself checked: the mean over steps [2T, 3T) minus the mean over [T, 2T) must
vanish ("burn-in ... drift" checks, and a too-short burn-in as the negative
control).  For least squares the second moments relax at the spectral radius of the
second-moment map (LeastSquaresStationary.spectral_radius), not at max |1 - lr lambda|^2,
so burn_in_steps is given the single rate sqrt(radius).  The learning rate makes every
step non-expansive, lr max_n ||x_n||^2 <= 2, so the law has all moments (stochastic
gradient descent can otherwise have power-law tails, which would void the iid rule).

Checks (budgets resolve 1% of the statistic, or of the bound for the slack, with
probability 0.99; the "power (sigma)" column is an error of sigma0* = sqrt(E||W||^2 / K)
for the moment checks, sensitivity 2, and an error of the slack relative to the bound
for the bound checks, sensitivity bound / slack):

* E_ss[L] and E_ss||W||^2 against quadratic_stationary(discrete=True) at lr lambda_max =
  0.1 and 1.0; the continuous-time values (paper's (12)) as negative controls at 1.0,
  where they are 35-37% low; a dense rotated A through the Lyapunov solver; the optimal
  sigma0^2 = optimal_init_sigma(E||W||^2, K)^2 (and its continuous-time value, rejected).
* least squares: E[L] - L(W*) and E||W - W*||^2 against least_squares_stationary (E||W||^2
  itself is dominated by ||W*||^2 and would hide the fluctuations); the continuous-time
  SDE law (H C + C H = (lr / b) Sigma, Sigma the gradient covariance at W*) and the
  discrete law with the noise frozen at W* (no multiplicative noise) as negative controls.
* the bound: per chain, kl_loss_bound(sigma0, second_moment = its window mean of ||W||^2,
  log_C = the continuous law's) minus its window mean of L/K; the bound is affine in the
  second moment, so the mean of this is the slack at the simulated E||W||^2 and E[L].  It
  must equal the exact slack of the recursion, which is positive (the bound holds) at
  every sigma0 on a grid at lr lambda_max = 0.1.  At lr lambda_max = 1.0 and sigma0 =
  sigma0* the exact slack is NEGATIVE: the KL bound, derived for the continuous-time law,
  does not hold for the SGD recursion itself there; the check confirms the violation,
  and the continuous-time slack (tau / K) D(p_ss || p_0) > 0 is the rejected control.
"""
import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
from scipy import linalg

from initmath.kl import (
    burn_in_steps,
    kl_loss_bound,
    least_squares_stationary,
    optimal_init_sigma,
    quadratic_kl_divergence,
    quadratic_stationary,
)

from .core import Check, quick_samples, samples_for

AREA = "kl"
# Relative error of each statistic (of the bound, for the slack) detected with
# probability 0.99 at the default budget.
_TARGET = 0.01
# The burn-in leaves a bias below this fraction of the detectable error.
_BIAS_SHARE = 0.01
# The window is this many burn-in lengths, and at least _WINDOW_MIN steps: a window of
# M steps costs M, buys about M (1 - rho^2) / (1 + rho^2) independent samples, and the
# burn-in is paid once per chain.
_WINDOW_FACTOR = 4
_WINDOW_MIN = 16
# Quick runs: about this many chain-coordinate-steps per check (~0.2 s on 2 CPU cores).
_QUICK_WORK = 3e6

NOISE = dict(batch_size=8, noise_var=2.0)
SPECTRUM = np.geomspace(1.0, 2.0, 10)          # lambda_max / lambda_min = 2
SMALL, LARGE = 0.1, 1.0                        # lr * lambda_max
SIGMA0_GRID = (0.1, 0.3, 1.0, 3.0, 10.0)       # sigma0 / sigma0*


# ------------------------------------------------------------------ the simulator
class SGDProblem(NamedTuple):
    """One SGD recursion on a batch of chains, the rows of an (n, dim) float64 tensor on
    ``device``: ``step(w, generator)`` returns the next states, ``loss(w)`` the (n,)
    losses."""
    dim: int
    device: str
    step: Callable
    loss: Callable


def _tensor(value, device):
    return torch.as_tensor(np.asarray(value, dtype=np.float64), device=device)


def quadratic_sgd(eigenvalues=None, *, A=None, lr, batch_size, noise_var, device="cpu"):
    """W' = W - lr (A W + xi), xi ~ N(0, noise_var / batch_size I), L = W^T A W / 2, for A
    diagonal (``eigenvalues``) or a dense symmetric ``A`` (exactly one of the two)."""
    noise_scale = lr * math.sqrt(noise_var / batch_size)
    if A is None:
        lam = _tensor(eigenvalues, device)
        contraction = 1 - lr * lam

        def step(w, generator):
            return w * contraction - noise_scale * _normal(w.shape, generator)

        return SGDProblem(lam.numel(), device, step, lambda w: 0.5 * (w * w) @ lam)
    a = _tensor(A, device)
    contraction = torch.eye(len(a), dtype=a.dtype, device=device) - lr * a   # symmetric

    # w @ m as a broadcast multiply-add: on a busy CPU, BLAS's threads can make a
    # (100 x 10) @ (10 x 10) product take milliseconds; the dense case is for small K
    def times(w, m):
        return (w[:, :, None] * m).sum(dim=1)

    def step(w, generator):
        return times(w, contraction) - noise_scale * _normal(w.shape, generator)

    return SGDProblem(len(a), device, step, lambda w: 0.5 * (times(w, a) * w).sum(dim=1))


def least_squares_sgd(X, y, *, lr, batch_size, device="cpu"):
    """SGD on L(W) = ||X W - y||^2 / (2N): per chain and step, batch_size row indices drawn
    uniformly with replacement and the minibatch-mean gradient.

    The loss is evaluated as L(W*) + (W - W*)^T H (W - W*) / 2 (H = X^T X / N, W* the
    least-squares solution), which equals ||X W - y||^2 / (2N) exactly by the normal
    equations and costs K^2 instead of N K per chain."""
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    minimizer = np.linalg.lstsq(X, y, rcond=None)[0]
    min_loss = float(np.sum((X @ minimizer - y) ** 2)) / (2 * len(y))
    rows = _tensor(np.column_stack([X, y]), device)                 # (N, K + 1)
    hessian, center = _tensor(X.T @ X / len(y), device), _tensor(minimizer, device)
    K = X.shape[1]

    # products as broadcast multiply-adds and the batch by index_select: on a busy CPU,
    # BLAS threads and advanced indexing can take milliseconds on these small tensors
    def step(w, generator):
        batch = torch.randint(len(rows), (len(w) * batch_size,), generator=generator,
                              device=device)
        drawn = rows.index_select(0, batch).view(len(w), batch_size, K + 1)
        xb = drawn[:, :, :K]
        residual = (xb * w[:, None, :]).sum(dim=2) - drawn[:, :, K]   # (n, b)
        return w - (lr / batch_size) * (xb * residual[:, :, None]).sum(dim=1)

    def loss(w):
        u = w - center
        return min_loss + 0.5 * ((u[:, :, None] * hessian).sum(dim=1) * u).sum(dim=1)

    return SGDProblem(K, device, step, loss)


def _normal(shape, generator):
    return torch.randn(shape, generator=generator, device=generator.device,
                       dtype=torch.float64)


def window_means(problem, statistic, *, n, sigma0, starts, window, generator):
    """Each chain's mean of statistic(W_t) over t = s, ..., s + window - 1, for each s in
    ``starts``: a float64 tensor of shape (len(starts), n, ...).

    The n chains start from W_0 ~ N(0, sigma0^2 I) (the first draw of ``generator``, on
    its device); statistic(w) maps the (n, dim) states to per-chain values."""
    w = sigma0 * _normal((n, problem.dim), generator)
    end = max(starts) + window
    sums = [0.0] * len(starts)
    for t in range(end):
        active = [i for i, s in enumerate(starts) if s <= t < s + window]
        if active:
            value = statistic(w)
            for i in active:
                sums[i] = sums[i] + value
        if t + 1 < end:
            w = problem.step(w, generator)
    return torch.stack(sums) / window


def regression_data(N=64, K=4, seed=20250):
    """A fixed generated least-squares data set: X (N x K) with column scales 1 ... 0.7,
    y = X w + 0.5 noise (numpy, seeded; no downloads)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, K)) * np.linspace(1.0, 0.7, K)
    y = X @ rng.standard_normal(K) + 0.5 * rng.standard_normal(N)
    return X, y


# ------------------------------------------------------------------ budgets
def window_variance(weights, variances, contraction, window):
    """Variance of the window mean of sum_k weights_k u_k^2 over ``window`` consecutive
    steps, for independent stationary Gaussian AR(1) modes u_k (variance v_k, lag-one
    correlation contraction_k): sum_k 2 w_k^2 v_k^2 g(rho_k^2) with
    g(r) = (window + 2 sum_{h>=1} (window - h) r^h) / window^2."""
    lags = np.arange(1, window)
    r = np.asarray(contraction, float)[:, None] ** (2 * lags)
    g = (window + 2 * ((window - lags) * r).sum(axis=1)) / window ** 2
    return float(np.sum(2 * np.asarray(weights) ** 2 * np.asarray(variances) ** 2 * g))


def _burn_in(rate_eigenvalues, lr, gap, error):
    """Steps T after which the bias rho^(2T) gap is below _BIAS_SHARE of error."""
    return int(burn_in_steps(rate_eigenvalues, lr=lr, tol=min(0.5, _BIAS_SHARE * error / gap)))


def _window(burn_in):
    return max(_WINDOW_FACTOR * burn_in, _WINDOW_MIN)


def _budget(sd, error, work_per_chain):
    samples = samples_for(sd, error)
    return samples, quick_samples(samples, work_per_chain, _QUICK_WORK)


def _window_simulation(make_problem, make_statistic, sigma0, starts, window, combine):
    """simulate(generator, n, device): combine(window means) of n fresh chains."""
    def simulate_(generator, n):
        device = generator.device
        problem = make_problem(device)
        return combine(window_means(problem, make_statistic(problem), n=n, sigma0=sigma0,
                                    starts=starts, window=window, generator=generator))
    return simulate_


def _first_window(means):
    return means[0]


# ------------------------------------------------------------------ quadratic losses
def _dense(eigenvalues, seed=7):
    """Q diag(eigenvalues) Q^T for a fixed random rotation Q."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((len(eigenvalues),) * 2))
    return (q * eigenvalues) @ q.T


def _spec(eigenvalues, dense):
    """The keyword that gives A: its eigenvalues, or the dense rotated matrix."""
    return dict(A=_dense(eigenvalues)) if dense else dict(eigenvalues=eigenvalues)


class _Quadratic(NamedTuple):
    """A quadratic problem (spectrum, lr, diagonal or dense A) with its two exact laws."""
    eigenvalues: np.ndarray
    lr: float
    dense: bool
    discrete: object
    continuous: object

    @classmethod
    def at(cls, lr_lam_max, eigenvalues=SPECTRUM, dense=False):
        lr = lr_lam_max / eigenvalues.max()
        spec = _spec(eigenvalues, dense)
        return cls(eigenvalues, lr, dense,
                   *[quadratic_stationary(**spec, lr=lr, **NOISE, discrete=discrete)
                     for discrete in (True, False)])

    @property
    def K(self):
        return len(self.eigenvalues)

    @property
    def tau(self):
        """lr noise_var / (2 b), the temperature of the continuous law."""
        return self.lr * NOISE["noise_var"] / (2 * NOISE["batch_size"])

    @property
    def sigma0_star(self):
        return float(optimal_init_sigma(self.discrete.second_moment, self.K))

    def problem(self, device):
        return quadratic_sgd(**_spec(self.eigenvalues, self.dense), lr=self.lr,
                             device=device, **NOISE)

    def describe(self):
        return (f"{'dense' if self.dense else 'diagonal'} A, "
                f"lr*lam_max={self.lr * self.eigenvalues.max():g}")

    def params(self, sigma0, burn_in, window):
        return dict(K=self.K, lr=self.lr, lam_min=self.eigenvalues.min(),
                    lam_max=self.eigenvalues.max(), **NOISE, sigma0=sigma0,
                    burn_in=burn_in, window=window)

    @property
    def mode_variances(self):
        """Discrete stationary variance of each eigenmode (a rotation does not mix the
        modes: the noise and W_0 are isotropic)."""
        return quadratic_stationary(self.eigenvalues, lr=self.lr, **NOISE,
                                    discrete=True).variances

    def burn_in(self, weights, sigma0, error):
        """Burn-in for the statistic sum_k weights_k u_k^2 (u: eigenmode coordinates)."""
        gap = float(np.sum(np.abs(weights * (sigma0 ** 2 - self.mode_variances))))
        return _burn_in(self.eigenvalues, self.lr, gap, error)

    def window_sd(self, weights, window):
        """sd of one chain's window mean of sum_k weights_k u_k^2."""
        return math.sqrt(window_variance(weights, self.mode_variances,
                                         1 - self.lr * self.eigenvalues, window))

    def work(self, steps):
        """Chain-coordinate operations per chain (a dense A costs K per coordinate)."""
        return self.K * (self.K if self.dense else 1) * steps


def _square_norm(problem):
    return lambda w: (w * w).sum(dim=1)


def _mean_square(problem):
    return lambda w: (w * w).mean(dim=1)


def _loss(problem):
    return problem.loss


# name: (weights of the quadratic form in the eigenbasis, per-chain statistic of a
# problem, theory value from a law)
_STATISTICS = {
    "E_ss[L]": (lambda q: q.eigenvalues / 2, _loss, lambda q, law: law.expected_loss),
    "E_ss||W||^2": (lambda q: np.ones(q.K), _square_norm,
                    lambda q, law: law.second_moment),
    "sigma0*^2": (lambda q: np.full(q.K, 1 / q.K), _mean_square,
                  lambda q, law: float(optimal_init_sigma(law.second_moment, q.K)) ** 2),
}


def _moment_check(quadratic, statistic, *, law="discrete"):
    """The stationary mean of a statistic against the discrete law (or, as a negative
    control, the continuous-time one); chains start at 2 sigma0*."""
    weights, make_statistic, theory = _STATISTICS[statistic]
    exact = theory(quadratic, quadratic.discrete)
    sigma0 = 2 * quadratic.sigma0_star
    burn_in = quadratic.burn_in(weights(quadratic), sigma0, _TARGET * exact)
    window = _window(burn_in)
    samples, quick = _budget(quadratic.window_sd(weights(quadratic), window),
                             _TARGET * exact, quadratic.work(burn_in + window))
    return Check(name=f"{statistic} {law} law, {quadratic.describe()}", area=AREA,
                 params=quadratic.params(sigma0, burn_in, window),
                 simulate=_window_simulation(quadratic.problem, make_statistic, sigma0,
                                             [burn_in], window, _first_window),
                 theory=float(theory(quadratic, getattr(quadratic, law))), samples=samples,
                 quick_samples=quick, rule="iid", sensitivity=2.0,
                 negative_control=law != "discrete")


def _drift_check(quadratic, *, burn_in_share=1):
    """Mean of ||W_t||^2 over t in [2T, 3T) minus over [T, 2T) (T = the planned burn-in
    divided by burn_in_share), plus the exact E_ss||W||^2 so that the theory is that
    value (Check needs a nonzero theory; the power is then relative to it).  Chains
    start at 10 sigma0*, the far end of the bound's grid."""
    exact = quadratic.discrete.second_moment
    sigma0 = 10 * quadratic.sigma0_star
    weights = np.ones(quadratic.K)
    planned = quadratic.burn_in(weights, sigma0, _TARGET * exact)
    # adjacent windows are positively correlated: Var(difference) <= 2 Var(one); the
    # control (a shorter burn-in) gets the same budget
    samples, quick = _budget(math.sqrt(2) * quadratic.window_sd(weights, planned),
                             _TARGET * exact, quadratic.work(3 * planned))
    burn_in = window = planned // burn_in_share
    label = "planned" if burn_in_share == 1 else f"1/{burn_in_share} of the planned"
    return Check(name=f"burn-in: E||W||^2 after 2T - after T, T = {label} burn-in, "
                      f"{quadratic.describe()}", area=AREA,
                 params=quadratic.params(sigma0, burn_in, window),
                 simulate=_window_simulation(quadratic.problem, _square_norm, sigma0,
                                             [burn_in, 2 * burn_in], window,
                                             lambda m: m[1] - m[0] + exact),
                 theory=exact, samples=samples, quick_samples=quick, rule="iid",
                 sensitivity=2.0, negative_control=burn_in_share != 1)


def _slack_check(quadratic, factor, *, law="discrete"):
    """Per chain: kl_loss_bound at its window mean of ||W||^2 (log C of the continuous
    law, the one the bound is derived for) minus its window mean of L/K.  Theory: the
    exact slack of the recursion, or (negative control) the continuous law's
    (tau / K) D(p_ss || p_0)."""
    K, sigma0 = quadratic.K, factor * quadratic.sigma0_star
    bound_args = dict(lr=quadratic.lr, K=K, log_C=quadratic.continuous.log_C, **NOISE)
    bound = float(kl_loss_bound(sigma0, second_moment=quadratic.discrete.second_moment,
                                **bound_args))
    theories = {
        "discrete": bound - quadratic.discrete.mean_loss,
        "continuous": quadratic.tau / K * float(quadratic_kl_divergence(
            sigma0, quadratic.eigenvalues, lr=quadratic.lr, **NOISE))}
    # the slack is sum_k (tau / (2 K sigma0^2) - lam_k / (2 K)) u_k^2 + constant
    weights = quadratic.tau / (2 * K * sigma0 ** 2) - quadratic.eigenvalues / (2 * K)
    burn_in = quadratic.burn_in(weights, sigma0, _TARGET * bound)
    window = _window(burn_in)
    samples, quick = _budget(quadratic.window_sd(weights, window), _TARGET * bound,
                             quadratic.work(burn_in + window))

    def statistic(problem):
        return lambda w: torch.stack([(w * w).sum(dim=1), problem.loss(w)], dim=1)

    def slack(means):
        square_norm, loss = means[0].cpu().numpy().T
        return torch.from_numpy(kl_loss_bound(sigma0, second_moment=square_norm, **bound_args)
                                - loss / K)

    kind = {"discrete": "exact", "continuous": "continuous-time (tau/K) D"}[law]
    sign = "holds" if theories["discrete"] > 0 else "VIOLATED"
    return Check(name=f"KL bound slack at sigma0 = {factor:g} sigma0*, {kind} "
                      f"(bound {sign}), {quadratic.describe()}", area=AREA,
                 params=dict(quadratic.params(sigma0, burn_in, window), bound=bound),
                 simulate=_window_simulation(quadratic.problem, statistic, sigma0,
                                             [burn_in], window, slack),
                 theory=theories[law], samples=samples, quick_samples=quick, rule="iid",
                 sensitivity=bound / abs(theories[law]), negative_control=law != "discrete")


# ------------------------------------------------------------------ least squares
LS_BATCH = 4
# Budgets for least squares use the Gaussian window variance of the quadratic case with
# the exact second moments; the multiplicative noise makes the law non-Gaussian, so the
# variance is inflated by this factor (measured: 1.25; the reported power uses the
# sample variance).
_LS_VARIANCE_FACTOR = 1.5


class _LeastSquares(NamedTuple):
    """The fixed regression problem at lr = 2 / max_n ||x_n||^2 (non-expansive steps)."""
    X: np.ndarray
    y: np.ndarray
    lr: float
    law: object
    minimizer: np.ndarray      # numpy's lstsq, independent of the law's mean
    min_loss: float
    hessian: np.ndarray

    @classmethod
    def build(cls):
        X, y = regression_data()
        lr = 2 / float(np.max(np.sum(X * X, axis=1)))
        minimizer = np.linalg.lstsq(X, y, rcond=None)[0]
        return cls(X, y, lr, least_squares_stationary(X, y, lr=lr, batch_size=LS_BATCH),
                   minimizer, float(np.sum((X @ minimizer - y) ** 2)) / (2 * len(y)),
                   X.T @ X / len(y))

    def problem(self, device):
        return least_squares_sgd(self.X, self.y, lr=self.lr, batch_size=LS_BATCH,
                                 device=device)

    def gradient_noise(self):
        """Per-example gradient covariance at W*, over the batch size."""
        residuals = self.X @ self.minimizer - self.y
        return (self.X.T * residuals ** 2) @ self.X / (len(self.y) * LS_BATCH)

    @property
    def deviation(self):
        """Exact stationary E(W - W*)(W - W*)^T."""
        return self.law.second_moment_matrix - np.outer(self.law.mean, self.law.mean)

    def burn_in(self, form, sigma0, error):
        """Burn-in for the statistic (W - W*)^T form (W - W*): its bias is at most
        ||form||_F ||M_t - M||_F and M_t - M = T^t (M_0 - M), T the (symmetric)
        second-moment map, M_0 = sigma0^2 I + W* W*^T; so the rate is the spectral
        radius, given to burn_in_steps as one mode with |1 - lr lam|^2 = radius."""
        start = sigma0 ** 2 * np.eye(len(form)) + np.outer(self.minimizer, self.minimizer)
        gap = float(np.linalg.norm(form) * np.linalg.norm(start - self.deviation))
        rate = (1 - math.sqrt(self.law.spectral_radius)) / self.lr
        return _burn_in([rate], self.lr, gap, error)

    def window_sd(self, form, window):
        """sd of one chain's window mean of (W - W*)^T form (W - W*): the Gaussian formula
        in the eigenbasis of H, inflated by _LS_VARIANCE_FACTOR."""
        lam, q = np.linalg.eigh(self.hessian)
        variance = window_variance(np.diag(q.T @ form @ q), np.diag(q.T @ self.deviation @ q),
                                   1 - self.lr * lam, window)
        return math.sqrt(_LS_VARIANCE_FACTOR * variance)

    def params(self, sigma0, burn_in, window):
        return dict(N=len(self.y), K=self.X.shape[1], lr=self.lr, batch_size=LS_BATCH,
                    lr_lam_max=self.lr * float(np.linalg.eigvalsh(self.hessian)[-1]),
                    sigma0=sigma0, burn_in=burn_in, window=window)


def _continuous_deviation(ls):
    """E(W - W*)(W - W*)^T of the continuous-time SDE (Mandt et al.; the paper's
    framework with Sigma = the gradient covariance at W*): H C + C H = lr Sigma / b."""
    return linalg.solve_continuous_lyapunov(ls.hessian, ls.lr * ls.gradient_noise())


def _frozen_noise_deviation(ls):
    """The discrete recursion with additive noise frozen at its W* value (no
    multiplicative noise): C = (I - lr H) C (I - lr H) + lr^2 Sigma / b."""
    step = np.eye(len(ls.hessian)) - ls.lr * ls.hessian
    return linalg.solve_discrete_lyapunov(step, ls.lr ** 2 * ls.gradient_noise())


def _least_squares_check(ls, statistic, *, law="exact", drift=False):
    """E[L] - L(W*) or E||W - W*||^2 of the chains against least_squares_stationary (or a
    wrong law); drift: the burn-in check (mean over [2T, 3T) minus over [T, 2T), plus
    the exact value)."""
    form = ls.hessian / 2 if statistic == "E_ss[L] - L(W*)" else np.eye(ls.X.shape[1])
    exact = {"E_ss[L] - L(W*)": ls.law.expected_loss - ls.min_loss,
             "E_ss||W - W*||^2": ls.law.distance}[statistic]
    wrong = {"continuous-time SDE": _continuous_deviation,
             "frozen gradient noise": _frozen_noise_deviation}
    theory = exact if law == "exact" else float(np.sum(form * wrong[law](ls)))
    sigma0 = 1.0
    burn_in = ls.burn_in(form, sigma0, _TARGET * exact)
    window = burn_in if drift else _window(burn_in)
    starts = [burn_in, 2 * burn_in] if drift else [burn_in]
    samples, quick = _budget(math.sqrt(len(starts)) * ls.window_sd(form, window),
                             _TARGET * exact,
                             ls.X.shape[1] * LS_BATCH * (starts[-1] + window))

    def make_statistic(problem):
        if statistic == "E_ss[L] - L(W*)":
            return lambda w: problem.loss(w) - ls.min_loss
        minimizer = _tensor(ls.minimizer, problem.device)
        return lambda w: ((w - minimizer) ** 2).sum(dim=1)

    combine = (lambda m: m[1] - m[0] + exact) if drift else _first_window
    name = (f"least squares burn-in: {statistic} after 2T - after T" if drift else
            f"least squares {statistic} {law} law")
    return Check(name=name, area=AREA, params=ls.params(sigma0, burn_in, window),
                 simulate=_window_simulation(ls.problem, make_statistic, sigma0, starts,
                                             window, combine),
                 theory=theory, samples=samples, quick_samples=quick, rule="iid",
                 sensitivity=2.0, negative_control=law != "exact")


# ------------------------------------------------------------------ all checks
@functools.cache
def checks():
    small, large = _Quadratic.at(SMALL), _Quadratic.at(LARGE)
    dense = _Quadratic.at(LARGE, dense=True)
    out = [_moment_check(q, s) for q in (small, large) for s in ("E_ss[L]", "E_ss||W||^2")]
    out += [_moment_check(large, s, law="continuous") for s in ("E_ss[L]", "E_ss||W||^2")]
    out += [_moment_check(dense, "E_ss[L]"), _moment_check(dense, "sigma0*^2"),
            _moment_check(dense, "sigma0*^2", law="continuous")]
    out += [_drift_check(small), _drift_check(small, burn_in_share=4)]
    out += [_slack_check(small, factor) for factor in SIGMA0_GRID]
    out += [_slack_check(large, 1.0), _slack_check(large, 1.0, law="continuous")]
    ls = _LeastSquares.build()
    out += [_least_squares_check(ls, s) for s in ("E_ss[L] - L(W*)", "E_ss||W - W*||^2")]
    out += [_least_squares_check(ls, "E_ss[L] - L(W*)", law=law)
            for law in ("continuous-time SDE", "frozen gradient noise")]
    out.append(_least_squares_check(ls, "E_ss||W - W*||^2", drift=True))
    return tuple(out)
