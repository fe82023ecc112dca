"""Helpers shared by the tests of the verification checks (import after
``pytest.importorskip("torch")``)."""
import math

import torch


def generator(seed):
    """A seeded CPU generator, as a check's chunk receives one."""
    return torch.Generator().manual_seed(seed)


def mean_and_error(values):
    """(mean, standard error) of a tensor of iid samples, in float64."""
    values = values.to(torch.float64)
    return float(values.mean()), float(values.std()) / math.sqrt(values.numel())


def assert_seeds_reproduce(check, n):
    """The same seed draws the same n samples; another seed draws others."""
    first, again = (check.simulate(generator(7), n) for _ in range(2))
    assert torch.equal(first, again)
    assert not torch.equal(first, check.simulate(generator(8), n))
