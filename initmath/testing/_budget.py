"""A test's false-alarm budget and seeds, shared by all its statistical assertions.

A property test runs one assertion per hypothesis example, often a hundred of them; at
1e-6 each, the test as a whole would fail a correct formula with probability up to 1e-4.
A :class:`FalseAlarmBudget` holds the test's total (the family-wise rate) and the number
of assertions planned, and hands each assertion its share (Bonferroni across the
examples): ``(1 - RESERVE) * total / calls`` to each planned call; calls beyond the plan
(hypothesis reruns examples while it shrinks a failure, or an example asserts more than
once) share the reserve as ``RESERVE * total * 6 / (pi**2 j**2)``, j = 1, 2, ..., so the
shares never sum past
the total however many calls come.  Each call also gets its own seed, a hash of the
base seed, the test's label and the call's index: reruns draw the same samples.

The base seed is 0 unless the environment variable ``INITMATH_SEED`` says otherwise: an
integer, or ``random`` for a fresh seed per process (nightly runs; the pytest plugin
prints it so a failure can be replayed with ``INITMATH_SEED=<seed>``).
"""
import contextlib
import contextvars
import dataclasses
import hashlib
import math
import os
import secrets

from ._statistics import FALSE_ALARM, check_level

RESERVE = 0.01
_ACTIVE = contextvars.ContextVar("initmath_testing_budget", default=None)
_DEVICE = contextvars.ContextVar("initmath_testing_device", default=None)
_FRESH = secrets.randbits(32)      # drawn once per process, used when INITMATH_SEED=random


def base_seed():
    """The base seed: INITMATH_SEED (an integer, or "random": fresh per process) or 0."""
    text = os.environ.get("INITMATH_SEED", "").strip()
    if not text:
        return 0
    if text.lower() == "random":
        return _FRESH
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"INITMATH_SEED must be an integer or 'random', got {text!r}") \
            from None


def derived_seed(seed, label, index):
    """A 63-bit seed for call ``index`` of the test ``label``: independent of the others."""
    digest = hashlib.sha256(f"{seed}/{label}/{index}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


@dataclasses.dataclass
class FalseAlarmBudget:
    """The family-wise false-alarm budget of one test (see the module docstring).

    total: the probability that the whole test fails correct code; calls: the number of
    statistical assertions planned (hypothesis examples times assertions per example);
    seed, label: the base seed and the test's name, from which each call's seed derives.
    ``used`` counts the calls so far and ``spent`` their shares.
    """
    total: float = FALSE_ALARM
    calls: int = 1
    seed: int = 0
    label: str = ""
    used: int = 0
    spent: float = 0.0

    def __post_init__(self):
        self.total = check_level(self.total, "total")
        if isinstance(self.calls, bool) or not isinstance(self.calls, int) \
                or not 1 <= self.calls <= 2 ** 53:
            raise ValueError(f"calls must be an integer in [1, 2**53], got {self.calls!r}")

    def share(self, index):
        """The false-alarm rate of call ``index`` (0-based)."""
        if index < self.calls:
            return (1 - RESERVE) * self.total / self.calls
        # sum over j >= 1 of 6 / (pi^2 j^2) = 1: the reserve is never exceeded, and the
        # shares shrink slowly (call j past the plan still gets ~6e-7 RESERVE total at
        # j = 1000), never underflowing the way halves would
        extra = index - self.calls + 1
        return RESERVE * self.total * 6 / (math.pi * extra) ** 2

    def take(self):
        """(false-alarm rate, seed) for the next call, which is counted as spent."""
        index = self.used
        self.used += 1
        level = self.share(index)
        self.spent += level
        return level, derived_seed(self.seed, self.label, index)


def active_budget():
    """The budget of the running test.

    Returns
    -------
    FalseAlarmBudget or None
        The innermost open :func:`false_alarm_budget` (the pytest plugin opens one for
        each test marked ``statistical``), or None outside any.

    Examples
    --------
    >>> from initmath.testing import active_budget, false_alarm_budget
    >>> active_budget() is None
    True
    >>> with false_alarm_budget(1e-6, calls=4):
    ...     active_budget().calls
    4
    """
    return _ACTIVE.get()


@contextlib.contextmanager
def false_alarm_budget(total=FALSE_ALARM, calls=1, *, seed=None, label=""):
    """Share a family-wise false-alarm rate ``total`` among ``calls`` statistical assertions.

    Every assertion of :mod:`initmath.testing` made inside the block without its own
    ``false_alarm=`` takes its share from this budget, and its seed from ``seed``,
    ``label`` and its index.  The pytest plugin opens one around each test marked
    ``@pytest.mark.statistical``, with calls = the test's hypothesis ``max_examples``
    times the marker's ``per_example``.

    Parameters
    ----------
    total : float, default 1e-6
        The probability that any of the assertions fails correct code, in [1e-300, 0.5].
    calls : int, default 1
        The assertions planned, >= 1: each gets ``0.99 * total / calls``; calls beyond
        share the remaining 1% (``0.01 * total * 6 / (pi**2 j**2)`` for the j-th).
    seed : int, optional
        Default: :func:`base_seed` (``INITMATH_SEED`` or 0).
    label : str, default ""
        The test's name, so that two tests draw different samples.

    Returns
    -------
    context manager
        Yielding the :class:`FalseAlarmBudget`.

    Examples
    --------
    >>> from initmath.testing import false_alarm_budget
    >>> with false_alarm_budget(1e-6, calls=100) as budget:
    ...     level, seed = budget.take()
    >>> level == 0.99 * 1e-6 / 100
    True
    """
    budget = FalseAlarmBudget(total, calls, base_seed() if seed is None else seed, label)
    token = _ACTIVE.set(budget)
    try:
        yield budget
    finally:
        _ACTIVE.reset(token)


def level_and_seed(false_alarm, seed):
    """What an assertion uses: its own false_alarm / seed when given; otherwise the active
    budget's share and seed; otherwise the default 1e-6 and the base seed."""
    budget = active_budget()
    if budget is not None and (false_alarm is None or seed is None):
        share, budget_seed = budget.take()
        false_alarm = share if false_alarm is None else false_alarm
        seed = budget_seed if seed is None else seed
    level = check_level(FALSE_ALARM if false_alarm is None else false_alarm)
    return level, base_seed() if seed is None else seed


@contextlib.contextmanager
def device_scope(device):
    """Inside the block, assertions called without ``device=`` simulate on ``device`` (the
    pytest plugin's device: CUDA when present); outside any block they use the CPU."""
    token = _DEVICE.set(device)
    try:
        yield device
    finally:
        _DEVICE.reset(token)


def default_device():
    """The device of the enclosing :func:`device_scope`, or "cpu"."""
    device = _DEVICE.get()
    return "cpu" if device is None else device
