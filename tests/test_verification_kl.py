"""Monte Carlo checks of initmath.kl on simulated SGD chains: the fast fixed-seed subset
(negative controls included), reproducibility, and the simulator against the recursion
recomputed by hand."""
import functools
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from verification import (
    core,
    kl,
    ok,
    run_check,
)

CHECKS = {c.name: c for c in kl.checks()}


@functools.cache
def quick_result(name):
    return run_check(CHECKS[name], seed=0, quick=True)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_quick_check_behaves_as_it_must(name):
    result = quick_result(name)
    assert ok(result), (result.verdict, result.z)


def test_every_formula_has_a_negative_control():
    controls = [name for name, c in CHECKS.items() if c.negative_control]
    for topic in ("E_ss[L] continuous", "E_ss||W||^2 continuous", "sigma0*^2 continuous",
                  "1/4 of the planned burn-in", "continuous-time (tau/K) D",
                  "continuous-time SDE", "frozen gradient noise"):
        assert sum(topic in name for name in controls) == 1, topic


def test_the_bound_holds_on_the_small_lr_grid_and_fails_at_large_lr():
    """The slack estimate is positive (negative) beyond the check's own threshold."""
    holds = [n for n in CHECKS if "(bound holds)" in n]
    violated = [n for n in CHECKS if "exact (bound VIOLATED)" in n]
    assert len(holds) == len(kl.SIGMA0_GRID) and len(violated) == 1
    for name in holds:
        r = quick_result(name)
        assert r.theory > 0 and r.estimate - r.threshold * r.standard_error > 0, name
    r = quick_result(violated[0])
    assert r.theory < 0 and r.estimate + r.threshold * r.standard_error < 0


def test_same_seed_same_statistic_and_another_seed_differs():
    for name in ("E_ss[L] discrete law, dense A, lr*lam_max=1",
                 "least squares E_ss||W - W*||^2 exact law"):
        check = CHECKS[name]
        first, again = (core.run_chunk(check, 3, 64, seed=5, device="cpu") for _ in range(2))
        other = core.run_chunk(check, 3, 64, seed=6, device="cpu")
        assert first == again and first != other


# ------------------------------------------------------------------ the simulator by hand
N_CHAINS, SIGMA0 = 5, 0.7


def two_steps(problem, seed):
    """W_2 of N_CHAINS chains from window_means (window of one step at t = 2)."""
    generator = torch.Generator().manual_seed(seed)
    return kl.window_means(problem, lambda w: w, n=N_CHAINS, sigma0=SIGMA0, starts=[2],
                           window=1, generator=generator)[0].numpy()


def test_quadratic_simulator_is_the_recursion_diagonal_and_dense():
    lam = np.array([0.5, 1.0, 3.0])
    lr, b, noise_var = 0.2, 4, 1.5
    q, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((3, 3)))
    for A in (np.diag(lam), (q * lam) @ q.T):
        generator = torch.Generator().manual_seed(11)
        w = SIGMA0 * torch.randn(N_CHAINS, 3, generator=generator, dtype=torch.float64).numpy()
        for _ in range(2):
            xi = torch.randn(N_CHAINS, 3, generator=generator, dtype=torch.float64).numpy()
            w = np.array([row - lr * (A @ row + math.sqrt(noise_var / b) * noise)
                          for row, noise in zip(w, xi)])
        spec = dict(eigenvalues=lam) if np.allclose(A, np.diag(lam)) else dict(A=A)
        problem = kl.quadratic_sgd(**spec, lr=lr, batch_size=b, noise_var=noise_var)
        np.testing.assert_allclose(two_steps(problem, 11), w, rtol=1e-13, atol=1e-15)


def test_least_squares_simulator_draws_real_minibatches():
    X, y = kl.regression_data(N=10, K=3, seed=2)
    lr, b = 0.1, 3
    generator = torch.Generator().manual_seed(4)
    w = SIGMA0 * torch.randn(N_CHAINS, 3, generator=generator, dtype=torch.float64).numpy()
    for _ in range(2):
        rows = torch.randint(len(y), (N_CHAINS, b), generator=generator).numpy()
        w = np.array([wi - lr * np.mean([X[j] * (X[j] @ wi - y[j]) for j in batch], axis=0)
                      for wi, batch in zip(w, rows)])
    problem = kl.least_squares_sgd(X, y, lr=lr, batch_size=b)
    np.testing.assert_allclose(two_steps(problem, 4), w, rtol=1e-13, atol=1e-15)
    # the loss is the data's
    state = torch.as_tensor(w)
    expected = [np.sum((X @ wi - y) ** 2) / (2 * len(y)) for wi in w]
    np.testing.assert_allclose(problem.loss(state).numpy(), expected, rtol=1e-13)


def test_window_means_average_the_right_steps():
    """A deterministic recursion (no noise: W_t = 0.5^t W_0) makes every window mean exact."""
    problem = kl.SGDProblem(1, "cpu", lambda w, generator: 0.5 * w, lambda w: w[:, 0])
    generator = torch.Generator().manual_seed(0)
    means = kl.window_means(problem, lambda w: torch.stack([w[:, 0], w[:, 0] ** 2], dim=1),
                            n=3, sigma0=1.0, starts=[1, 4], window=3, generator=generator)
    w0 = torch.randn(3, 1, generator=torch.Generator().manual_seed(0),
                     dtype=torch.float64)[:, 0].numpy()
    assert means.shape == (2, 3, 2)
    for row, start in zip(means.numpy(), (1, 4)):
        factors = 0.5 ** np.arange(start, start + 3)
        np.testing.assert_allclose(row[:, 0], w0 * factors.mean(), rtol=1e-14)
        np.testing.assert_allclose(row[:, 1], w0 ** 2 * (factors ** 2).mean(), rtol=1e-14)


def test_window_variance_is_the_double_sum_of_the_autocovariance():
    weights, v, rho, window = np.array([0.5, 2.0]), np.array([0.3, 1.1]), np.array([0.9, -0.4]), 7
    lags = np.abs(np.subtract.outer(np.arange(window), np.arange(window)))
    brute = sum(2 * w ** 2 * s ** 2 * np.mean(r ** (2 * lags))
                for w, s, r in zip(weights, v, rho))
    assert kl.window_variance(weights, v, rho, window) == pytest.approx(brute, rel=1e-13)
    # one step: the variance of a chi-square form, 2 sum w^2 v^2
    one_step = 2 * np.sum(weights ** 2 * v ** 2)
    assert kl.window_variance(weights, v, rho, 1) == pytest.approx(one_step)


def test_window_variance_predicts_the_simulated_spread():
    """The budget formula against the sample variance of simulated window means."""
    check = CHECKS["E_ss||W||^2 discrete law, diagonal A, lr*lam_max=1"]
    quadratic = kl._Quadratic.at(kl.LARGE)
    window = check.params["window"]
    values = check.simulate(torch.Generator().manual_seed(9), 2000)
    predicted = quadratic.window_sd(np.ones(quadratic.K), window)
    # sample sd of 2000 values: relative s.e. ~ 1.7%; allow 8%
    assert float(values.std()) == pytest.approx(predicted, rel=0.08)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_reaches_the_same_verdicts():
    for name in (
        "E_ss[L] discrete law, dense A, lr*lam_max=1",
        "least squares E_ss[L] - L(W*) continuous-time SDE law",
    ):
        assert ok(run_check(CHECKS[name], seed=0, device="cuda", quick=True))
