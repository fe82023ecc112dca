"""Timings of the Laplace-transform engine (initmath._engine.laplace).

(a) scalar float64 call: N=1, h=0.5, c=[1, 1e-4], w=[.5, .5], d from 1 to 1e9;
(b) vectorised float64: N=10^4 rows, h ~ U[0.025, 2], d log-uniform integers in
    [1, 1e6], leaky-ReLU slope a ~ U[0, 1] (target >= 1.5e5 rows/s);
(b') large h (derivative order m ~ h): scalar calls at h = 10, 100, 500;
(c) log_moment_mp at 30+15 digits.
Run: python benchmarks/bench_laplace_engine.py
"""
import timeit

import mpmath
import numpy as np
from _common import setup

from initmath._engine.laplace import log_moment, log_moment_mp


def main(argv=None):
    setup(__doc__.splitlines()[0], argv)
    print("(timings: best of 5)")
    c = np.array([[1.0, 1e-4]])
    w = np.array([[0.5, 0.5]])
    print("(a) scalar, h=0.5, c=[1,1e-4] (target <= 60 us)")
    for d in (1, 10, 100, 10**4, 10**6, 10**9):
        h_, d_ = np.array([0.5]), np.array([float(d)])
        n, _t = timeit.Timer(lambda: log_moment(h_, d_, c, w)).autorange()
        best = min(timeit.repeat(lambda: log_moment(h_, d_, c, w), number=n, repeat=5)) / n
        print(f"    d={d:>10}: {best * 1e6:7.1f} us")
    rng = np.random.default_rng(0)
    n_rows = 10**4
    h = rng.uniform(0.025, 2.0, n_rows)
    d = np.floor(np.exp(rng.uniform(0, np.log(1e6), n_rows)))
    a = rng.uniform(0, 1, n_rows)
    cc = np.stack([np.ones(n_rows), a * a], axis=1)
    ww = np.full((n_rows, 2), 0.5)
    best = min(timeit.repeat(lambda: log_moment(h, d, cc, ww), number=1, repeat=5))
    print(f"(b) vectorised, N={n_rows}: {best * 1e3:.1f} ms = {n_rows / best:.3g} rows/s "
          "(target >= 1.5e5)")
    print("(b') scalar float64 at large h, d=1000, c=[1, 0.25]")
    for hh in (10.0, 100.0, 500.0):
        args = (np.array([hh]), np.array([1000.0]), np.array([[1.0, 0.25]]), w)
        best = min(timeit.repeat(lambda: log_moment(*args), number=3, repeat=3)) / 3
        print(f"    h={hh:g}: {best * 1e3:.2f} ms")
    print("(c) log_moment_mp at 30+15 digits (target <= 0.15 s for d <= 1e6)")
    cases = [(0.5, 10, 0.01), (1.5, 10, 0.01), (0.1, 1000, 0.3), (2.0, 10**6, 1e-4),
             (0.3, 7, 0.0), (2.9, 3, 0.01), (1.0, 10**7, 0.3)]
    for hh, dd, aa in cases:
        with mpmath.workdps(45):
            args = (mpmath.mpf(hh), dd, [mpmath.mpf(1), mpmath.mpf(aa) ** 2],
                    [mpmath.mpf(1) / 2] * 2)
            best = min(timeit.repeat(lambda: log_moment_mp(*args), number=1, repeat=3))
        print(f"    h={hh} d={dd} a={aa}: {best:.3f} s")
    for k in (16, 32):
        x, gw = np.polynomial.legendre.leggauss(k)
        with mpmath.workdps(45):
            args = (mpmath.mpf(1.3), 1000, [mpmath.mpf((xi + 1) / 2) ** 2 for xi in x],
                    [mpmath.mpf(g / 2) for g in gw])
            best = min(timeit.repeat(lambda: log_moment_mp(*args), number=1, repeat=3))
        print(f"    Gauss-Legendre mixture K={k}, h=1.3, d=1000: {best:.3f} s")


if __name__ == "__main__":
    main()
