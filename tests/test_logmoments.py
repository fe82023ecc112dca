"""Tests of initmath._engine.logmoments (the law of log Z', Z' = Z | Z > 0) against exact
references.

References: a = 1 (Z ~ chi2_d): kappa_1 = psi(d/2) + log 2, kappa_j = polygamma(j-1, d/2);
a = 0 (ReLU): mixture over n ~ Bin(d, 1/2), n >= 1, of chi2_n (raw moments mixed, 40 digits);
general a: one-sided mpmath.diff of the hypergeometric log E Z^h at h = 0 (60 digits).
"""
import mpmath
import numpy as np
import pytest
from scipy import special

from initmath._engine.hypergeometric import log_moment_factor_mp
from initmath._engine.logmoments import (
    _frullani_cumulants,
    _prepare,
    _series_cumulants,
    characteristic_function,
    log_cumulants,
)


def _rows(ds, a):
    ds = np.asarray(ds, float)
    return ds, np.tile([1.0, a * a], (len(ds), 1)), np.tile([0.5, 0.5], (len(ds), 1))


def chi2_ref(d, order=4):
    with mpmath.workdps(40):
        x = mpmath.mpf(d) / 2
        return [mpmath.digamma(x) + mpmath.log(2)] + [mpmath.polygamma(j - 1, x)
                                                      for j in range(2, order + 1)]


def _moments_to_cumulants(mom):
    kap = [None]
    for k in range(1, len(mom)):
        kap.append(mom[k] - sum(mpmath.binomial(k - 1, i - 1) * kap[i] * mom[k - i]
                                for i in range(1, k)))
    return kap[1:]


def relu0_ref(d, order=4, dps=40):
    with mpmath.workdps(dps):
        d, l2 = int(d), mpmath.log(2)
        p0 = mpmath.mpf(2) ** -d
        mom = [mpmath.mpf(0)] * (order + 1)
        for n in range(1, d + 1):
            lw = mpmath.log(mpmath.binomial(d, n)) - d * l2
            if lw < -2.4 * dps - 20:
                continue
            wn = mpmath.exp(lw) / (1 - p0)
            x = mpmath.mpf(n) / 2
            kap = [0, mpmath.digamma(x) + l2] + [mpmath.polygamma(j - 1, x)
                                                 for j in range(2, order + 1)]
            m = [mpmath.mpf(1)]
            for k in range(1, order + 1):
                m.append(sum(mpmath.binomial(k - 1, i - 1) * kap[i] * m[k - i]
                             for i in range(1, k + 1)))
            for k in range(order + 1):
                mom[k] += wn * m[k]
        return _moments_to_cumulants(mom)


def general_ref(d, a, order=4, dps=60):
    """K(h) = log E Z^h has K(0) = 0 (no atom for a > 0): one-sided derivatives at 0."""
    with mpmath.workdps(dps):
        def f(h):
            return mpmath.mpf(0) if h == 0 else log_moment_factor_mp(h, d, a)
        return [mpmath.diff(f, 0, j, direction=1) for j in range(1, order + 1)]


def _rel(got, ref):
    return abs((got - float(ref)) / float(ref))


DS = [1, 2, 3, 10, 1000, 1e6, 1e9]
TOL = [1e-12, 1e-12, 1e-8, 1e-8]


def test_chi2_closed_form():
    ds, c, w = _rows(DS + [100, 299, 300, 301, 1e4, 1e5, 1e7], 1.0)
    k = log_cumulants(ds, c, w)
    for i, d in enumerate(ds):
        ref = chi2_ref(d)
        for j in range(4):
            # kappa_1 may be ~0 (d ~ 2): absolute error scaled by max(1, |kappa_1|)
            scale = max(1.0, abs(float(ref[j]))) if j == 0 else abs(float(ref[j]))
            assert abs(k[i, j] - float(ref[j])) / scale < TOL[j], (d, j, k[i, j], ref[j])


@pytest.mark.parametrize("d", [1, 2, 3, 10, 100, 300, 1000, 2000])
def test_relu_atom_mixture(d):
    ds, c, w = _rows([d], 0.0)
    k = log_cumulants(ds, c, w)[0]
    ref = relu0_ref(d)
    for j in range(4):
        assert _rel(k[j], ref[j]) < TOL[j], (d, j, k[j], ref[j])


@pytest.mark.parametrize("a", [1e-3, 0.3, 0.7])
@pytest.mark.parametrize("d", [1, 2, 3, 7])
def test_general_a_hypergeometric(a, d):
    ds, c, w = _rows([d], a)
    k = log_cumulants(ds, c, w)[0]
    ref = general_ref(d, a)
    for j in range(4):
        assert _rel(k[j], ref[j]) < TOL[j], (d, a, j, k[j], ref[j])


@pytest.mark.parametrize("a", [0.0, 1e-3, 0.5, 1.0])
def test_series_matches_integral_in_overlap(a):
    """Both routes are exact up to rounding/truncation: they must agree where both work."""
    ds, c, w = _rows([300, 600, 1200], a)
    d, _, w2, _, chat, atom = _prepare(ds, c, w)
    fr = _frullani_cumulants(d, chat, w2, atom, 4)
    se = _series_cumulants(d, chat, w2, 4)
    np.testing.assert_allclose(se[:, :2], fr[:, :2], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(se[:, 2:], fr[:, 2:], rtol=1e-9)


def test_batch_equals_rows_and_order():
    rng = np.random.default_rng(3)
    ds = np.exp(rng.uniform(0, np.log(1e9), 40))
    a = rng.uniform(0, 1, 40)
    c = np.stack([np.ones(40), a * a], 1)
    w = np.full((40, 2), 0.5)
    k = log_cumulants(ds, c, w, order=4)
    for i in range(0, 40, 7):
        np.testing.assert_allclose(log_cumulants(ds[i:i + 1], c[i:i + 1], w[i:i + 1])[0],
                                   k[i], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(log_cumulants(ds, c, w, order=2), k[:, :2], rtol=1e-13,
                               atol=1e-15)
    assert np.all(k[:, 1] > 0)


def test_scale_invariance_of_higher_cumulants():
    """log(s Z) shifts kappa_1 by log s and leaves the others alone."""
    ds, c, w = _rows([1, 5, 50, 5000, 1e8], 0.4)
    k1 = log_cumulants(ds, c, w)
    k2 = log_cumulants(ds, 3.7 * c, w)
    np.testing.assert_allclose(k2[:, 0], k1[:, 0] + np.log(3.7), rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(k2[:, 1:], k1[:, 1:], rtol=1e-12)


def _phi_chi2(u, d):
    return np.exp(1j * u * np.log(2) + special.loggamma(d / 2 + 1j * u) - special.loggamma(d / 2))


def _phi_relu(u, d):
    n = np.arange(1, d + 1)
    lw = (special.gammaln(d + 1) - special.gammaln(n + 1) - special.gammaln(d - n + 1)
          - d * np.log(2) - np.log1p(-2.0 ** -d))
    return np.exp(
        lw[None]
        + 1j * u[:, None] * np.log(2)
        + special.loggamma(n[None] / 2 + 1j * u[:, None])
        - special.loggamma(n[None] / 2)
    ).sum(axis=1)


@pytest.mark.parametrize("d", [1, 3, 10, 100])
def test_characteristic_function_small_d(d):
    u = np.linspace(-25, 25, 201)
    np.testing.assert_allclose(
        characteristic_function(u, d, [1.0, 1.0], [0.5, 0.5]), _phi_chi2(u, d), rtol=0, atol=5e-13
    )
    np.testing.assert_allclose(
        characteristic_function(u, d, [1.0, 0.0], [0.5, 0.5]), _phi_relu(u, d), rtol=0, atol=5e-13
    )


@pytest.mark.parametrize("d", [1e4, 1e6])
def test_characteristic_function_large_d(d):
    u = np.linspace(-5, 5, 101) * np.sqrt(d)
    # phase u log E Z is ill-conditioned: allow |u| |log E Z| ulps on top of 1e-13
    with mpmath.workdps(30):  # scipy's loggamma difference loses ~d/2 ulps here
        ref = np.array(
            [
                complex(
                    mpmath.exp(
                        1j * ui * mpmath.log(2)
                        + mpmath.loggamma(mpmath.mpf(d) / 2 + 1j * ui)
                        - mpmath.loggamma(mpmath.mpf(d) / 2)
                    )
                )
                for ui in u
            ]
        )
    err = np.abs(characteristic_function(u, d, [1.0, 1.0], [0.5, 0.5]) - ref)
    assert np.all(err <= 1e-13 + 4e-16 * np.abs(u) * np.log(d)), err.max()


@pytest.mark.parametrize("d,a", [(2, 0.3), (7, 0.0), (50, 0.7), (1e5, 0.5)])
def test_characteristic_function_identities(d, a):
    c, w = [1.0, a * a], [0.5, 0.5]
    u = np.array([0.0, 0.7, 3.0, -0.7, -3.0])
    phi = characteristic_function(u, d, c, w)
    assert phi[0] == 1
    np.testing.assert_allclose(phi[3:], np.conj(phi[1:3]), rtol=0, atol=1e-15)
    assert np.all(np.abs(phi) <= 1 + 1e-14)
    # kappa_1 = -i phi'(0) by a central difference: Re = sin(eps k1)/eps e^(-eps^2 k2/2) + ...
    eps = 1e-5
    fd = characteristic_function(np.array([eps, -eps]), d, c, w)
    k1 = ((fd[0] - fd[1]) / (2j * eps)).real
    kap = log_cumulants([d], [c], [w], order=3)[0]
    k1_exact = np.sin(eps * kap[0]) / eps  # up to O(eps^2 (k3 + k1 k2)) < 1e-9 here
    assert abs(k1 - k1_exact) < 1e-13 / eps + 1e-9 * max(1, abs(kap[0]))
