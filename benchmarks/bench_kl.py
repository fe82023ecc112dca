"""Speed of the KL bound and the exact SGD stationary laws (initmath.kl).

Usage::

    python benchmarks/bench_kl.py [--json PATH]

1. ``kl_loss_bound`` vectorized over 10^6 values of sigma0.
2. ``quadratic_stationary(eigenvalues, discrete=True)`` for K = 10^3 ... 10^6 modes
   (logs only, no determinant) and ``quadratic_kl_divergence`` at one sigma0.
3. ``quadratic_stationary(A=...)`` (scipy's Lyapunov solvers) for K = 10, 100, 500.
4. ``least_squares_stationary`` (the K^2 x K^2 moment system), N = 2000, K = 5 ... 40.
5. ``kl_bound_derivation`` and ``initmath.papers.horii_has.compare_with_paper`` (the
   printed equations against it) from cold caches (sympy).

On a shared machine with more runnable processes than cores, OpenBLAS' threads make
the dense LAPACK calls of 3. and 4. 100-200x slower (measured: K = 100 Lyapunov 0.63 s
instead of 3 ms); run with ``OPENBLAS_NUM_THREADS=1`` there.
"""

import numpy as np
import sympy
from _common import setup, time_calls, write_json

from initmath import kl
from initmath.papers import horii_has

SGD = dict(lr=0.01, batch_size=8, noise_var=1.0)


def bench_bound():
    sigma0 = np.logspace(-4, 2, 10 ** 6)
    _, t = time_calls(lambda: kl.kl_loss_bound(sigma0, K=100, second_moment=1.0, log_C=10.0,
                                               **SGD), 5)
    return {"n": sigma0.size, **t, "per_value_ns": 1e9 * t["best_s"] / sigma0.size}


def bench_modes():
    rows = {}
    for K in (10 ** 3, 10 ** 4, 10 ** 5, 10 ** 6):
        lam = np.logspace(-3, 1, K)
        _, law = time_calls(lambda: kl.quadratic_stationary(lam, discrete=True, **SGD), 5)
        _, div = time_calls(lambda: kl.quadratic_kl_divergence(0.1, lam, discrete=True, **SGD), 5)
        rows[K] = {"stationary_s": law["best_s"], "kl_s": div["best_s"]}
    return rows


def bench_matrix():
    rows = {}
    rng = np.random.default_rng(0)
    for K in (10, 100, 500):
        q, _ = np.linalg.qr(rng.normal(size=(K, K)))
        A = q @ np.diag(np.logspace(-2, 1, K)) @ q.T
        _, cont = time_calls(lambda: kl.quadratic_stationary(A=A, **SGD), 3)
        _, disc = time_calls(lambda: kl.quadratic_stationary(A=A, discrete=True, **SGD), 3)
        rows[K] = {"continuous_s": cont["best_s"], "discrete_s": disc["best_s"]}
    return rows


LEAST_SQUARES_N = 1500


def bench_least_squares():
    rows = {}
    rng = np.random.default_rng(1)
    for K in (5, 10, 20, 30, 40):       # N K^4 <= 4e9, the function's work limit, at K = 40
        X = rng.normal(size=(LEAST_SQUARES_N, K))
        y = X @ rng.normal(size=K) + rng.normal(size=LEAST_SQUARES_N)
        _, t = time_calls(lambda: kl.least_squares_stationary(X, y, lr=0.02, batch_size=4), 3)
        rows[K] = t["best_s"]
    return rows


def cold(function):
    kl._derivation.cache_clear()
    kl._symbols.cache_clear()
    sympy.core.cache.clear_cache()
    return function()


def bench_symbolic():
    _, derivation = time_calls(lambda: cold(kl.kl_bound_derivation), 3)
    _, compare = time_calls(lambda: cold(horii_has.compare_with_paper), 3)
    _, warm = time_calls(horii_has.compare_with_paper, 3)
    return {"derivation_cold_s": derivation["best_s"], "compare_cold_s": compare["best_s"],
            "compare_warm_s": warm["best_s"]}


def main(argv=None):
    args, info = setup(__doc__.splitlines()[0], argv)
    report = {"machine": info}
    report["bound"] = bound = bench_bound()
    print(f"1. kl_loss_bound, {bound['n']} sigma0 values: {bound['best_s']:.4f} s "
          f"({bound['per_value_ns']:.1f} ns per value)")
    report["modes"] = modes = bench_modes()
    print("2. quadratic_stationary / quadratic_kl_divergence from eigenvalues (discrete law)")
    for K, row in modes.items():
        print(f"   K = {K:>7d}: {1e3 * row['stationary_s']:8.3f} ms / {1e3 * row['kl_s']:8.3f} ms")
    report["matrix"] = matrix = bench_matrix()
    print("3. quadratic_stationary(A=...), continuous / discrete Lyapunov")
    for K, row in matrix.items():
        print(f"   K = {K:>4d}: {1e3 * row['continuous_s']:8.2f} ms / "
              f"{1e3 * row['discrete_s']:8.2f} ms")
    report["least_squares"] = least = bench_least_squares()
    print(f"4. least_squares_stationary, N = {LEAST_SQUARES_N}")
    for K, seconds in least.items():
        print(f"   K = {K:>2d}: {seconds:8.4f} s")
    report["symbolic"] = symbolic = bench_symbolic()
    print(f"5. kl_bound_derivation cold {symbolic['derivation_cold_s']:.2f} s, "
          f"compare_with_paper cold {symbolic['compare_cold_s']:.2f} s, "
          f"warm {1e3 * symbolic['compare_warm_s']:.1f} ms")
    write_json(report, args.json)
    return report


if __name__ == "__main__":
    main()
