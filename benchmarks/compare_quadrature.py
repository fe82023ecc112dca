"""initmath's Gaussian expectations against the quadratures of the infinite-width tools.

Usage::

    python benchmarks/compare_quadrature.py [--json PATH]

The mean-field quantities of any activation are Gaussian expectations:
E phi(sqrt(q) z)^2 (the length map) and E phi(u1) phi(u2), (u1, u2) ~ N(0, q [[1, c], [c, 1]])
(the correlation map).  Compared, per value, for their error and time:

- ``gauss-hermite-25``: a Gauss-Hermite rule of 25 nodes (a 25 x 25 product rule for the
  pair, u2 = c u1 + sqrt(1 - c^2) z2), the default numerical quadrature of
  neural-tangents' ``stax.ElementwiseNumerical`` (``deg=25``), which ignores kinks;
- ``gauss-legendre-1e5``: 100,000 Gauss-Legendre nodes on [-10 sqrt(q), 10 sqrt(q)], the
  brute-force rule of DKS/TAT's tables (the 1-D value only; building the rule itself,
  ``scipy.special.roots_legendre``, is timed once);
- ``initmath``: ``initmath.mean_field.variance_map`` and ``correlation_map`` (float64).

References: ``variance_map(..., dps=30)`` for the length map; for the pair, the closed
forms of ReLU (the arc-cosine kernel) and erf (the arcsine kernel), and initmath's own
float64 value for the others (tested against those closed forms to 4e-16).
"""
import functools
import math
import time

import numpy as np
from _common import setup, time_calls, write_json
from scipy import special

from initmath.activations import activation
from initmath.mean_field import correlation_map, variance_map

ACTIVATIONS = ("relu", "gelu", "tanh", "silu", "elu", "hardtanh", "selu", "hardswish")
Q = (0.1, 1.0, 10.0, 100.0)
C = (0.0, 0.5, 0.9, 0.99)
HERMITE_DEGREE = 25
LEGENDRE_NODES = 100_000
LEGENDRE_HALF_WIDTH = 10.0


def _hermite():
    """Nodes and weights of E f(z), z ~ N(0, 1), with HERMITE_DEGREE nodes."""
    x, w = np.polynomial.hermite_e.hermegauss(HERMITE_DEGREE)
    return x, w / math.sqrt(2 * math.pi)


@functools.cache
def _legendre_nodes():
    """The 100,000-node Gauss-Legendre rule on [-1, 1] and the seconds it took to build."""
    start = time.perf_counter()
    x, w = special.roots_legendre(LEGENDRE_NODES)
    return x, w, time.perf_counter() - start


def _legendre(q):
    x, w, _ = _legendre_nodes()
    half = LEGENDRE_HALF_WIDTH * math.sqrt(q)
    u = half * x
    return u, half * w * np.exp(-u * u / (2 * q)) / math.sqrt(2 * math.pi * q)


def length_hermite(phi, q):
    x, w = _hermite()
    return float(w @ phi.numpy(math.sqrt(q) * x) ** 2)


def length_legendre(phi, q, rule):
    u, w = rule
    return float(w @ phi.numpy(u) ** 2)


def pair_hermite(phi, q, c):
    x, w = _hermite()
    u1 = math.sqrt(q) * x[:, None]
    u2 = math.sqrt(q) * (c * x[:, None] + math.sqrt(1 - c * c) * x[None, :])
    return float(w @ (phi.numpy(u1) * phi.numpy(u2)) @ w)


def pair_reference(name, phi, q, c):
    """ReLU: (q / 2 pi) (sqrt(1 - c^2) + (pi - arccos c) c); else initmath's float64."""
    if name == "relu":
        return q / (2 * math.pi) * (math.sqrt(1 - c * c) + (math.pi - math.acos(c)) * c)
    return float(correlation_map(c, phi, 1.0, q=q)) * float(variance_map(q, phi, 1.0))


def _relative(value, reference, scale=None):
    """|value - reference| relative to the reference, or to ``scale`` (the pair's errors
    are relative to E phi(u)^2, i.e. errors of the correlation c': the pair vanishes for
    an odd phi at c = 0)."""
    return abs(value - reference) / abs(reference if scale is None else scale)


def length_rows():
    rows = []
    for name in ACTIVATIONS:
        phi = activation(name)
        for q in Q:
            reference = float(variance_map(q, phi, 1.0, dps=30))
            rule = _legendre(q)
            rows.append({"activation": name, "q": q,
                         "gauss-hermite-25": _relative(length_hermite(phi, q), reference),
                         "gauss-legendre-1e5": _relative(length_legendre(phi, q, rule),
                                                         reference),
                         "initmath": _relative(float(variance_map(q, phi, 1.0)), reference)})
    return rows


def pair_rows():
    rows = []
    for name in ("relu", "gelu", "tanh", "elu"):
        phi = activation(name)
        scale = float(variance_map(1.0, phi, 1.0))
        for c in C:
            reference = pair_reference(name, phi, 1.0, c)
            initmath = float(correlation_map(c, phi, 1.0, q=1.0)) * scale
            rows.append({"activation": name, "c": c,
                         "gauss-hermite-25": _relative(pair_hermite(phi, 1.0, c), reference,
                                                       scale),
                         "initmath": _relative(initmath, reference, scale)
                         if name == "relu" else None})
    return rows


def erf_pair_error():
    """The arcsine kernel (2/pi) arcsin(2 q c / (1 + 2 q)) against the Hermite rule, q = 1."""
    phi_erf = type("Erf", (), {"numpy": staticmethod(special.erf)})
    scale = 2 / math.pi * math.asin(2 / 3)                       # E erf(z)^2
    return {c: _relative(pair_hermite(phi_erf, 1.0, c), 2 / math.pi * math.asin(2 * c / 3),
                         scale) for c in C}


def timings():
    phi = activation("gelu")
    rule = _legendre(1.0)
    calls = {"gauss-hermite-25 (1-D)": lambda: length_hermite(phi, 1.0),
             "gauss-legendre-1e5 (1-D, rule built)": lambda: length_legendre(phi, 1.0, rule),
             "initmath variance_map": lambda: variance_map(1.0, phi, 1.0),
             "gauss-hermite-25 (pair)": lambda: pair_hermite(phi, 1.0, 0.5),
             "initmath correlation_map": lambda: correlation_map(0.5, phi, 1.0, q=1.0)}
    seconds = {label: time_calls(call, 5)[1]["best_s"] for label, call in calls.items()}
    seconds["gauss-legendre-1e5 rule construction (once)"] = _legendre_nodes()[2]
    return seconds


def main(argv=None):
    args, info = setup(__doc__.splitlines()[0], argv)
    report = {"machine": info, "length": length_rows(), "pair": pair_rows(),
              "erf_pair_hermite": erf_pair_error(), "seconds": timings()}
    print("1. E phi(sqrt(q) z)^2: relative error against dps = 30")
    print(f"   {'activation':<10} {'q':>6} {'GH-25':>10} {'GL-1e5':>10} {'initmath':>10}")
    for row in report["length"]:
        print(f"   {row['activation']:<10} {row['q']:>6g} {row['gauss-hermite-25']:>10.1e} "
              f"{row['gauss-legendre-1e5']:>10.1e} {row['initmath']:>10.1e}")
    print("2. E phi(u1) phi(u2) at q = 1: Gauss-Hermite 25 x 25 against the reference, error "
          "relative to E phi(u)^2")
    for row in report["pair"]:
        print(f"   {row['activation']:<10} c = {row['c']:<5g} {row['gauss-hermite-25']:.1e}"
              + (f"   initmath {row['initmath']:.1e}" if row["initmath"] is not None else ""))
    print("   erf (closed form):", {c: f"{e:.1e}" for c, e in report["erf_pair_hermite"].items()})
    print("3. seconds per value (best of 5)")
    for label, seconds in report["seconds"].items():
        print(f"   {label:<42} {seconds * 1e3:9.3f} ms")
    write_json(report, args.json)
    return report


if __name__ == "__main__":
    main()
