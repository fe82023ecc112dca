"""The public critical-variance API: closed forms, limits, monotonicity, precision, errors."""
import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

from initmath import (
    critical_sigma,
    critical_sigmas,
    critical_variance,
    kaiming_sigma,
    log_moment_factor,
    moment_factor,
    rrelu_critical_sigma,
    rrelu_critical_variance,
    rrelu_moment_factor,
)

S_VALUES = [0.05, 0.3, 1.0, 1.7, 2.0, 3.0, 4.0]
D_VALUES = [1, 2, 3, 7, 64, 1000, 10**5, 10**7]
A_VALUES = [0.0, 1e-4, 0.01, 0.3, 0.7, 1.0]


def linear_log_moment(s, d):
    """a = 1: Z ~ chi2_d, log I = (s/2) log 2 + log Gamma((d+s)/2) - log Gamma(d/2), at
    30 digits (float64 gammaln differences cancel catastrophically at large d)."""
    with mpmath.workdps(30):
        return np.array(
            [
                float(
                    s / 2 * mpmath.log(2)
                    + mpmath.loggamma((mpmath.mpf(int(di)) + s) / 2)
                    - mpmath.loggamma(mpmath.mpf(int(di)) / 2)
                )
                for di in np.ravel(d)
            ]
        )


def linear_critical_variance(s, d):
    """Corollary 10: sigma_1^2 = (1/2) (Gamma(d/2) / Gamma((d+s)/2))^(2/s)."""
    return np.exp(-2 / s * linear_log_moment(s, d))


# ------------------------------------------------------------------ closed forms
@pytest.mark.parametrize("a", A_VALUES)
@pytest.mark.parametrize("q", [1.0, 0.8, 0.3])
def test_second_moment_is_kaiming(a, q):
    d = np.array(D_VALUES)
    np.testing.assert_allclose(
        critical_variance(2.0, d, a, keep_prob=q), 2 * q / (d * (1 + a * a)), rtol=1e-13
    )


@pytest.mark.parametrize("s", S_VALUES + [7.5, 20.0])
def test_linear_activation_closed_form(s):
    d = np.array(D_VALUES)
    np.testing.assert_allclose(
        critical_variance(s, d, 1.0), linear_critical_variance(s, d), rtol=1e-12
    )


@pytest.mark.parametrize("a", A_VALUES)
def test_fourth_moment_from_coordinate_moments(a):
    """E Z^2 = d E[Y^2] + d(d-1) E[Y]^2 with E Y = (1+a^2)/2, E Y^2 = 3(1+a^4)/2."""
    d = np.array(D_VALUES, dtype=float)
    m1, m2 = (1 + a * a) / 2, 3 * (1 + a**4) / 2
    np.testing.assert_allclose(moment_factor(4.0, d, a), d * m2 + d * (d - 1) * m1**2, rtol=1e-12)


def test_small_s_limit_is_geometric_mean():
    """a > 0: sigma -> exp(-E log Z / 2) as s -> 0; for a = 1, E log Z = psi(d/2) + log 2."""
    d = np.array([1, 2, 10, 1000, 10**6])
    limit = np.exp(-0.5 * (special.digamma(d / 2) + math.log(2)))
    np.testing.assert_allclose(critical_sigma(1e-9, d, 1.0), limit, rtol=1e-8)
    # The approach is linear in s: halving s halves the gap (no cancellation at tiny s).
    # The gap is ~ s Var(log Z) / 8 ~ s / (4d): keep d small enough for it to be seen.
    small = d[:4]
    gap = [critical_sigma(s, small, 1.0) / limit[:4] - 1 for s in (2e-6, 1e-6)]
    np.testing.assert_allclose(gap[0] / gap[1], 2.0, rtol=1e-3)


@pytest.mark.parametrize("a", [0.0, 1e-3, 0.3])
@pytest.mark.parametrize("d", [1, 10, 40, 10**4, 10**7])
def test_tiny_s_float64_matches_high_precision(a, d):
    """At s = 1e-9 sigma = exp(-log(I)/s) amplifies any absolute error of log I by 1e9:
    float64 must still agree with 30 digits (ReLU with d < 40 overflows, correctly)."""
    s = 1e-9
    reference = critical_sigma(s, d, a, dps=30)
    if a == 0 and d < 40:
        # issue 13: an overflowing float64 value raises (it was a silent inf)
        assert reference > 1e300
        with pytest.raises(ValueError, match="critical sigma is not representable"):
            critical_sigma(s, d, a)
        return
    assert math.isclose(critical_sigma(s, d, a), float(reference), rel_tol=1e-12)


def test_relu_diverges_at_small_s_through_the_atom():
    """P(Z = 0) = 2^-d: log I -> log(1 - 2^-d), so -s log sigma = log I stays finite
    while sigma = I^(-1/s) overflows."""
    d = np.array([1, 2, 5])  # the O(s) term s E[log Z] / 2 must stay below 2^-d
    s = 1e-7
    np.testing.assert_allclose(log_moment_factor(s, d), np.log1p(-(0.5**d)), rtol=1e-5)
    with pytest.raises(ValueError, match="not representable"):  # was a silent inf
        critical_sigma(1e-7, 1)
    # d = 1: I = E|g|^s / 2 in closed form; sigma ~ 2^(1/s) is huge but finite here.
    s = 1e-3
    abs_moment = 2 ** (s / 2) * special.gamma((s + 1) / 2) / math.sqrt(math.pi)
    assert math.isclose(critical_sigma(s, 1), 2.0**1000 * abs_moment ** (-1 / s), rel_tol=1e-11)


@pytest.mark.parametrize("d", [1, 5])
def test_slope_whose_square_underflows_is_not_relu(d):
    """a = 1e-223: a^2 underflows float64, but the n = 0 term 2^-d a^s E chi_d^s still
    moves sigma at small s (found by hypothesis: ReLU's value was 1.3e-11 off)."""
    s, a = 0.0546875, 8.352966431317673e-223
    reference = float(critical_sigma(s, d, a, dps=30))
    assert math.isclose(critical_sigma(s, d, a), reference, rel_tol=1e-13)
    if d == 1:
        assert not math.isclose(critical_sigma(s, d, 0.0), reference, rel_tol=1e-12)


def test_no_overflow_for_large_moments_and_widths():
    s, d = 200.0, 10**9
    log_i = log_moment_factor(s, d, 1.0)
    exact = linear_log_moment(s, d)[0]
    assert math.isclose(log_i, exact, rel_tol=1e-13)
    with pytest.raises(ValueError, match="log_moment_factor"):  # was a silent inf
        moment_factor(s, d, 1.0)
    assert math.isclose(
        critical_variance(s, d, 1.0), linear_critical_variance(s, d)[0], rel_tol=1e-12
    )


# ------------------------------------------------------------------ monotonicity
@settings(max_examples=60, deadline=None)
@given(s=st.floats(0.05, 6.0), d=st.integers(1, 10**6), a=st.floats(0.0, 0.95))
def test_strictly_decreasing_in_a_d_and_s(s, d, a):
    """Corollary 9: sigma is strictly decreasing in a, d and s."""
    base = critical_sigma(s, d, a)
    assert critical_sigma(s, d, a + 0.05) < base
    assert critical_sigma(s, d + 1, a) < base
    assert critical_sigma(s * 1.05, d, a) < base


# ------------------------------------------------------------------ independent routes
@pytest.mark.parametrize("s", [0.3, 1.0, 1.9])
@pytest.mark.parametrize("d", [1, 4, 33])
@pytest.mark.parametrize("a", [0.0, 0.05, 0.5, 1.0])
def test_three_routes_agree_in_float64(s, d, a):
    laplace = moment_factor(s, d, a, method="laplace")
    hypergeometric = moment_factor(s, d, a, method="hypergeometric")
    series = moment_factor(s, d, a, method="series")
    assert math.isclose(laplace, hypergeometric, rel_tol=2e-14)
    assert math.isclose(series, hypergeometric, rel_tol=2e-14)


@pytest.mark.parametrize(
    "s, d, a",
    [
        (0.05, 1, 0.0),
        (0.05, 3, 0.01),
        (0.5, 1000, 1e-4),
        (1.0, 64, 0.01),
        (1.5, 10**4, 0.3),
        (2.5, 10**5, 0.0),
        (4.0, 10**7, 0.7),
        (3.3, 17, 1.0),
        (1.0, 10**7, 0.01),
    ],
)
def test_float64_matches_50_digit_reference(s, d, a):
    reference = critical_sigma(s, d, a, dps=50)
    assert abs(critical_sigma(s, d, a) / float(reference) - 1) < 1e-12


@settings(max_examples=150, deadline=None)
@given(
    s=st.floats(0.05, 4.0),
    log_d=st.floats(0.0, 7.0),
    a=st.floats(0.0, 1.0),
    exact_zero=st.booleans(),
)
def test_float64_matches_50_digit_reference_anywhere(s, log_d, a, exact_zero):
    d = int(round(10**log_d))
    a = 0.0 if exact_zero else a
    reference = critical_sigma(s, d, a, dps=50)
    assert abs(critical_sigma(s, d, a) / float(reference) - 1) < 1e-12


@pytest.mark.parametrize(
    "s, d, a, q",
    [
        (20.0, 10, 0.3, 1.0),
        (100.0, 1000, 0.0, 1.0),
        (1000.0, 5, 0.5, 1.0),
        (7.0, 40, 0.2, 0.6),
        (0.5, 3000, 0.0, 0.9),
        (2.5, 1, 0.0, 0.3),
    ],
)
def test_large_s_and_dropout_match_high_precision(s, d, a, q):
    reference = log_moment_factor(s, d, a, keep_prob=q, dps=30)
    value = log_moment_factor(s, d, a, keep_prob=q)
    # log I is what float64 can hold for s up to 1000; a few ulp of |log I| (or 1e-15).
    assert abs(value - float(reference)) < 8e-16 * max(1.0, abs(value))


@pytest.mark.parametrize("method", ["hypergeometric", "laplace"])
@pytest.mark.parametrize(
    "s, d, a, q", [(1.0, 10, 0.01, 1.0), (0.3, 3000, 0.0, 1.0), (3.0, 500, 0.5, 0.7)]
)
def test_high_precision_is_correct_to_the_digits_asked(method, s, d, a, q):
    low = critical_sigma(s, d, a, keep_prob=q, dps=30, method=method)
    high = critical_sigma(s, d, a, keep_prob=q, dps=60, method="hypergeometric")
    with mpmath.workdps(60):
        assert abs(low / high - 1) < mpmath.mpf(10) ** -29
    assert isinstance(low, mpmath.mpf)


def test_series_at_high_precision_agrees():
    a = critical_sigma(0.7, 9, 0.2, dps=40, method="series")
    b = critical_sigma(0.7, 9, 0.2, dps=40, method="hypergeometric")
    with mpmath.workdps(40):
        assert abs(a / b - 1) < mpmath.mpf(10) ** -39


def test_high_precision_broadcasts_to_object_arrays():
    out = critical_variance([1.0, 2.0], 8, dps=25)
    assert out.dtype == object and out.shape == (2,)
    with mpmath.workdps(25):
        assert out[1] == mpmath.mpf(1) / 4


# ------------------------------------------------------------------ dropout
@pytest.mark.parametrize("s", [0.5, 1.0, 3.0])
@pytest.mark.parametrize("a", [0.0, 0.3])
def test_dropout_matches_the_exact_sum_over_kept_units(s, a):
    """E Z_q^h = q^(-2h) sum_k Bin(k; d, q) I_a(s, k), summed here directly."""
    d, q = 12, 0.6
    k = np.arange(1, d + 1)
    weights = special.comb(d, k) * q**k * (1 - q) ** (d - k)
    direct = q ** (-s) * np.sum(weights * moment_factor(s, k, a))
    assert math.isclose(moment_factor(s, d, a, keep_prob=q), direct, rel_tol=1e-13)


@settings(max_examples=40, deadline=None)
@given(s=st.floats(0.05, 4.0), d=st.integers(1, 40), a=st.floats(0.0, 1.0), q=st.floats(0.02, 1.0))
def test_dropout_float64_matches_the_hypergeometric_sum(s, d, a, q):
    """Heavy atoms (small q, small d) put the mass of Z far from its mean: a regression
    test for the quadrature range (it once lost 9 digits at q = 0.05, d = 1)."""
    reference = log_moment_factor(s, d, a, keep_prob=q, dps=25, method="hypergeometric")
    value = log_moment_factor(s, d, a, keep_prob=q)
    assert abs(value - float(reference)) < 2e-15 * max(1.0, abs(value))


def test_dropout_with_keep_prob_one_is_no_dropout():
    s, d = np.meshgrid([0.4, 1.0, 2.7], [1, 5, 300])
    np.testing.assert_allclose(
        critical_sigma(s, d, 0.2, keep_prob=1.0 - 1e-15), critical_sigma(s, d, 0.2), rtol=1e-12
    )


# ------------------------------------------------------------------ variable widths
def test_widths_norm_convention_uses_fan_out():
    widths = [784, 256, 10]
    sigma = critical_sigmas(1.0, widths, 0.1)
    np.testing.assert_array_equal(sigma, critical_sigma(1.0, np.array([256, 10]), 0.1))


def test_widths_per_neuron_convention_is_he_at_s_2():
    widths = [784, 256, 10]
    sigma = critical_sigmas(2.0, widths, 0.1, convention="per-neuron")
    np.testing.assert_allclose(sigma**2, 2 / (np.array(widths[:-1]) * 1.01), rtol=1e-13)


def test_widths_per_neuron_preserves_the_unit_moment():
    """sigma_k^s I(s, d_{k+1}) d_k^{s/2} / d_{k+1}^{s/2} = 1 for every layer."""
    widths = np.array([30, 100, 7, 50])
    s = 0.8
    sigma = critical_sigmas(s, widths, convention="per-neuron")
    factor = sigma**s * moment_factor(s, widths[1:]) * (widths[:-1] / widths[1:]) ** (s / 2)
    np.testing.assert_allclose(factor, 1.0, rtol=1e-13)


def test_widths_high_precision():
    sigma = critical_sigmas(1.0, [4, 8], convention="per-neuron", dps=30)
    with mpmath.workdps(30):
        expected = critical_sigma(1.0, 8, dps=30) * mpmath.sqrt(2)
        assert abs(sigma[0] / expected - 1) < mpmath.mpf(10) ** -29


# ------------------------------------------------------------------ randomized leaky ReLU
def test_rrelu_second_moment_both_modes():
    lower, upper = 1 / 8, 1 / 3
    e_a2 = (upper**3 - lower**3) / (3 * (upper - lower))
    d = np.array([1, 10, 1000])
    for mode in ("per-neuron", "per-layer"):
        np.testing.assert_allclose(
            rrelu_moment_factor(2.0, d, mode=mode), d * (1 + e_a2) / 2, rtol=1e-13
        )


@pytest.mark.parametrize("lower, upper", [(0.0, 1.0), (1 / 8, 1 / 3), (0.0, 0.05)])
@pytest.mark.parametrize("s", [0.2, 1.0, 3.0])
def test_rrelu_single_unit_closed_form(lower, upper, s):
    """d = 1: E Z^h = E|g|^s (1/2 + E[a^s]/2), the same in both modes."""
    e_abs = 2 ** (s / 2) * special.gamma((s + 1) / 2) / math.sqrt(math.pi)
    e_as = (upper ** (s + 1) - lower ** (s + 1)) / ((s + 1) * (upper - lower))
    for mode in ("per-neuron", "per-layer"):
        assert math.isclose(
            rrelu_moment_factor(s, 1, lower, upper, mode=mode),
            e_abs * (0.5 + 0.5 * e_as),
            rel_tol=1e-13,
        )


@pytest.mark.parametrize("d", [2, 30, 10**4])
def test_rrelu_per_layer_is_the_average_of_fixed_slopes(d):
    from scipy import integrate

    lower, upper, s = 0.0, 0.4, 0.6
    value, _ = integrate.quad(
        lambda a: moment_factor(s, d, a), lower, upper, epsabs=0, epsrel=1e-13, limit=200
    )
    assert math.isclose(
        rrelu_moment_factor(s, d, lower, upper, mode="per-layer"),
        value / (upper - lower),
        rel_tol=1e-12,
    )


def test_rrelu_degenerate_interval_is_fixed_slope():
    for mode in ("per-neuron", "per-layer"):
        assert math.isclose(
            rrelu_critical_sigma(1.3, 77, 0.2, 0.2, mode=mode),
            critical_sigma(1.3, 77, 0.2),
            rel_tol=1e-13,
        )


def test_rrelu_modes_differ_as_jensen_says():
    """Per-neuron slopes average inside Z, per-layer outside: for s < 2 (x^(s/2)
    concave) the per-neuron factor is larger, for s > 2 smaller."""
    d = 3
    assert rrelu_moment_factor(1.0, d, 0.0, 1.0) > rrelu_moment_factor(
        1.0, d, 0.0, 1.0, mode="per-layer"
    )
    assert rrelu_moment_factor(4.0, d, 0.0, 1.0) < rrelu_moment_factor(
        4.0, d, 0.0, 1.0, mode="per-layer"
    )


def test_rrelu_per_neuron_matches_monte_carlo_and_rejects_per_layer():
    """Brute-force E Z^h with iid slopes per unit; the per-layer formula is the negative
    control and must fall outside the Monte Carlo interval."""
    rng = np.random.default_rng(20261125)
    d, s, n = 2, 0.25, 2_000_000
    g = rng.standard_normal((n, d))
    slope = rng.uniform(0.0, 1.0, (n, d))
    z = np.sum(np.where(g > 0, g, slope * g) ** 2, axis=1) ** (s / 2)
    mean, error = z.mean(), z.std() / math.sqrt(n)
    assert abs(rrelu_moment_factor(s, d, 0.0, 1.0) - mean) < 4 * error
    assert abs(rrelu_moment_factor(s, d, 0.0, 1.0, mode="per-layer") - mean) > 4 * error


@pytest.mark.parametrize("mode", ["per-neuron", "per-layer"])
def test_rrelu_high_precision(mode):
    """dps=20 and dps=30 agree to 20 digits; float64 agrees to 1e-13 (an independent
    check of the float tanh-sinh rule, which has far fewer nodes)."""
    low = rrelu_critical_sigma(0.6, 9, 1 / 8, 1 / 3, mode=mode, dps=20)
    high = rrelu_critical_sigma(0.6, 9, 1 / 8, 1 / 3, mode=mode, dps=30)
    with mpmath.workdps(30):
        assert abs(low / high - 1) < mpmath.mpf(10) ** -19
    assert math.isclose(
        rrelu_critical_sigma(0.6, 9, 1 / 8, 1 / 3, mode=mode), float(high), rel_tol=1e-13
    )


def test_rrelu_variance_and_sigma_are_consistent():
    s, d = 0.7, 40
    assert math.isclose(
        rrelu_critical_variance(s, d), rrelu_critical_sigma(s, d) ** 2, rel_tol=1e-14
    )
    assert math.isclose(rrelu_critical_sigma(s, d) ** -s, rrelu_moment_factor(s, d), rel_tol=1e-13)


# ------------------------------------------------------------------ bad input
BAD = [
    dict(s=0.0),
    dict(s=-1.0),
    dict(s=1000.5),
    dict(s=math.nan),
    dict(s=math.inf),
    dict(s=True),
    dict(s="1"),
    dict(d=0),
    dict(d=-3),
    dict(d=2.5),
    dict(d=math.nan),
    dict(d=True),
    dict(d=[4, 0]),
    dict(a=-0.1),
    dict(a=1.5),
    dict(a=math.nan),
    dict(a=False),
    dict(keep_prob=0.0),
    dict(keep_prob=1.2),
    dict(keep_prob=math.nan),
    dict(dps=0),
    dict(dps=2.0),
    dict(dps=True),
    dict(method="fast"),
]


@pytest.mark.parametrize("bad", BAD, ids=lambda b: ",".join(f"{k}={v!r}" for k, v in b.items()))
@pytest.mark.parametrize(
    "function", [moment_factor, critical_sigma, critical_variance, log_moment_factor]
)
def test_bad_input_raises_value_error_naming_the_argument(function, bad):
    kwargs = dict(s=1.0, d=10, a=0.1)
    kwargs.update(bad)
    name = next(iter(bad))
    with pytest.raises(ValueError, match=name):
        function(**kwargs)


def test_series_outside_its_domain_raises():
    with pytest.raises(ValueError, match="s < 2"):
        critical_sigma(3.0, 10, 0.5, method="series")
    with pytest.raises(ValueError, match="dropout"):
        critical_sigma(1.0, 10, 0.5, keep_prob=0.5, method="series")


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(widths=[10]), "widths"),
        (dict(widths=[10, 0]), "widths"),
        (dict(widths=[10, 2.5]), "widths"),
        (dict(convention="fan_in"), "convention"),
        (dict(s=[1.0, 2.0]), "s"),
    ],
)
def test_critical_sigmas_bad_input(bad, match):
    kwargs = dict(s=1.0, widths=[10, 20])
    kwargs.update(bad)
    with pytest.raises(ValueError, match=match):
        critical_sigmas(**kwargs)


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(lower=0.5, upper=0.2), "lower"),
        (dict(lower=-0.1), "lower"),
        (dict(upper=1.5), "upper"),
        (dict(upper=math.nan), "upper"),
        (dict(mode="x"), "mode"),
        (dict(d=0), "d"),
        (dict(s=0), "s"),
    ],
)
def test_rrelu_bad_input(bad, match):
    kwargs = dict(s=1.0, d=10)
    kwargs.update(bad)
    with pytest.raises(ValueError, match=match):
        rrelu_moment_factor(**kwargs)


def test_output_types_follow_the_input():
    assert isinstance(critical_sigma(1.0, 10), float)
    assert critical_sigma(np.ones((2, 3)), [1, 2, 3]).shape == (2, 3)
    assert isinstance(critical_sigma(1.0, 10, dps=20), mpmath.mpf)


def test_rrelu_defaults_are_torchs_and_the_papers_are_swapped():
    """Remark 8 prints l = 1/3, u = 1/8 (an empty interval); torch uses [1/8, 1/3]."""
    import inspect

    torch = pytest.importorskip("torch")
    layer = torch.nn.RReLU()
    signature = inspect.signature(rrelu_moment_factor)
    assert (layer.lower, layer.upper) == (
        signature.parameters["lower"].default,
        signature.parameters["upper"].default,
    )
    assert layer.lower < layer.upper
    with pytest.raises(ValueError, match="lower"):
        rrelu_moment_factor(1.0, 10, 1 / 3, 1 / 8)


@pytest.mark.parametrize("s, a", [(0.5, 0.0), (1.0, 0.01), (1.5, 0.5), (3.0, 1.0)])
def test_expansion_converges_at_the_right_rate(s, a):
    """critical_variance - (3-term expansion) = c_4/d^4 + O(d^-5): d^4 * error -> c_4."""
    from initmath import critical_variance_expansion
    from initmath.asymptotics import d as symbol_d

    three = critical_variance_expansion(s, a, order=3)
    c4 = float(critical_variance_expansion(s, a, order=4).coeff(symbol_d, -4))
    scaled = []
    for d in (200, 400, 800):
        exact = critical_variance(s, d, a, dps=40)
        with mpmath.workdps(40):
            error = exact - mpmath.mpf(str(three.subs(symbol_d, d).evalf(45)))
        scaled.append(float(error) * d**4)
    # Richardson: scaled = c4 + c5/d, so 2*scaled(2d) - scaled(d) -> c4 with O(d^-2) error.
    assert abs((2 * scaled[2] - scaled[1]) / c4 - 1) < 0.01
    assert abs(scaled[2] - c4) < abs(scaled[0] - c4)


def test_kaiming_sigma_is_the_s2_critical_sigma():
    d = np.array([1, 2, 16, 64, 1000])[:, None]
    a = np.array([0.0, 0.01, 0.5, 1.0])[None, :]
    np.testing.assert_allclose(kaiming_sigma(d, a), critical_sigma(2.0, d, a), rtol=1e-13)
    assert isinstance(kaiming_sigma(64), float)
    with pytest.raises(ValueError, match="d must"):
        kaiming_sigma(0)
    with pytest.raises(ValueError, match="a must"):
        kaiming_sigma(8, 1.5)
