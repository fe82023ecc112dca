"""Time the paper's printed series against initmath's fast method at s = 1, d = 1024, a = 0.01.

Usage::

    python benchmarks/bench_series_speedup.py [--repeat N] [--json PATH]

Times ``initmath._engine.series.series_moment_factor(1.0, 1024, 0.01, rtol=1e-13)`` (the
paper's series, vectorized), a naive term-by-term loop over the same equations, and
``initmath.moment_factor(1.0, 1024, 0.01)``; prints the
times (best and median of N calls after one warm-up call), their relative difference,
the speed-up, and the machine and date, and optionally writes all of it as JSON.
"""
import math

from _common import setup, time_calls, write_json
from scipy.special import betaln, gammaln

from initmath import moment_factor
from initmath._engine.series import series_moment_factor

S, D, A = 1.0, 1024, 0.01
SERIES_RTOL = 1e-13


def naive_theorem_7(s, d, a, rtol=SERIES_RTOL):
    """Eqs. (4.2)-(4.3) typed in term by term: loops over n and k, log-gamma values.

    The baseline a reader of the paper would write; binomial weights below 1e-20 and
    k-terms below rtol of the running inner sum are skipped.
    """
    h, total = s / 2, 0.0
    for n in range(d + 1):
        log_weight = gammaln(d + 1) - gammaln(n + 1) - gammaln(d - n + 1) - d * math.log(2)
        if log_weight < -46:
            continue
        q, inner, k = (d - n) / 2, 0.0, 0
        while True:
            w = 0.5 * (1 - a * a) ** k * (
                math.exp(gammaln(q + k) - gammaln(k + 1) - gammaln(q)) * n if q > 0 else 0.0)
            w += 0.5 * (1 - a * a) ** k * a * a * (d - n) * math.exp(
                gammaln(q + k + 1) - gammaln(k + 1) - gammaln(q + 1))
            term = w * math.exp(betaln(k + 1 - h, d / 2 + h))
            inner += term
            k += 1
            if term < rtol * inner:
                break
        total += math.exp(log_weight) * inner
    return 2 ** h / math.gamma(1 - h) * total


def main(argv=None):
    args, info = setup(__doc__.splitlines()[0], argv, repeat={
        "type": int, "default": 20, "help": "timed calls per method"})
    report = {
        "machine": info,
        "case": {"s": S, "d": D, "a": A, "series_rtol": SERIES_RTOL},
    }
    series_value, series_time = time_calls(
        lambda: series_moment_factor(S, D, A, rtol=SERIES_RTOL), args.repeat)
    report["series"] = {"value": series_value, **series_time}
    naive_value, naive_time = time_calls(lambda: naive_theorem_7(S, D, A),
                                          max(1, args.repeat // 10))
    report["naive"] = {"value": naive_value, **naive_time}

    fast_value, fast_time = time_calls(lambda: moment_factor(S, D, A), args.repeat)
    report["fast"] = {"value": float(fast_value), **fast_time}
    report["rel_diff"] = abs(float(fast_value) / series_value - 1)
    report["speedup"] = series_time["best_s"] / fast_time["best_s"]
    report["speedup_naive"] = naive_time["best_s"] / fast_time["best_s"]
    report["naive_rel_diff"] = abs(float(fast_value) / naive_value - 1)

    print(f"case     I_a(s={S}, d={D}, a={A})")
    print(f"series   {series_value!r:<22} best {series_time['best_s'] * 1e3:9.3f} ms, "
          f"median {series_time['median_s'] * 1e3:9.3f} ms (rtol {SERIES_RTOL:g})")
    fast = report["fast"]
    print(f"fast     {fast['value']!r:<22} best {fast['best_s'] * 1e3:9.3f} ms, "
          f"median {fast['median_s'] * 1e3:9.3f} ms")
    print(f"rel diff {report['rel_diff']:.3e}")
    print(f"speed-up {report['speedup']:.3g}x (series best / fast best)")
    print(f"naive    {naive_value!r:<22} best {naive_time['best_s'] * 1e3:9.3f} ms "
          f"(a direct loop over eqs. 4.2-4.3), rel diff {report['naive_rel_diff']:.3e}")
    print(f"speed-up {report['speedup_naive']:.3g}x (naive best / fast best)")

    write_json(report, args.json)
    return report


if __name__ == "__main__":
    main()
