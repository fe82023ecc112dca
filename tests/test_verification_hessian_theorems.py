"""Fast fixed-seed subset of the Theorem 1 / Theorem 2 / Corollary 1 Monte Carlo checks
(negative controls included), Theorem 2's corrected bound on random networks, and
reproducibility."""
import pytest

torch = pytest.importorskip("torch")

from verification import ok, run_check
from verification.hessian_theorems import checks, error_exponent, theorem2_bound_ratios

BY_NAME = {check.name: check for check in checks()}
# The calibration checks take ~1 s per network on a loaded 2-core machine: report only.
FAST = [name for name in BY_NAME if "Corollary 1" not in name
        and "(n=4" not in name and "leaky" not in name]


@pytest.mark.parametrize("name", FAST)
def test_quick_check_behaves_as_it_must(name):
    result = run_check(BY_NAME[name], seed=0, quick=True)
    assert ok(result), (result.verdict, result.z)


def test_fast_subset_has_each_kind_of_control():
    controls = [name for name in FAST if BY_NAME[name].negative_control]
    assert any("Remark 2" in name for name in controls)
    assert any("as if exact" in name for name in controls)
    assert any("printed bound" in name for name in controls)


def test_error_exponent():
    """p = 2k - n + 2: the last layer of a depth-2 net is n - 2 = 0 layers from the end."""
    assert [error_exponent(3, k) for k in range(2)] == [-1, 1]
    assert [error_exponent(4, k) for k in range(3)] == [-2, 0, 2]


def test_corrected_theorem2_bound_holds():
    generator = torch.Generator().manual_seed(3)
    ratios = [theorem2_bound_ratios(a, 3, generator) for a in ("relu", "leaky_relu")
              for _ in range(6)]
    corrected = [c for c, _ in ratios]
    assert max(corrected) <= 1 + 1e-6
    assert min(corrected) > 0
    # (the printed bound (6) is refuted by its degree: the "= 1" check in the fast subset)


def test_reproducible():
    check = BY_NAME[FAST[0]]
    a = check.simulate(torch.Generator().manual_seed(5), 3)
    b = check.simulate(torch.Generator().manual_seed(5), 3)
    assert torch.equal(a, b)
