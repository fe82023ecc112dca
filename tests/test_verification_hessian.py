"""Fast fixed-seed subset of the E||W||_2 Monte Carlo checks (control included)."""
import pytest

pytest.importorskip("torch")

from verification import ok, run_check
from verification.hessian import checks


@pytest.mark.parametrize("check", checks(), ids=lambda c: c.name)
def test_quick_check_behaves_as_it_must(check):
    result = run_check(check, seed=0, quick=True)
    assert ok(result), (result.verdict, result.z)
