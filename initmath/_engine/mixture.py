"""The law of one coordinate, Y = b (R g)^2 / keep^2: one type for every layer.

Per unit input norm and unit weight variance, a layer's output coordinates are iid
copies of Y, with g ~ N(0, 1), R = r_i with probability w_i and b ~ Bernoulli(keep):

* a fixed slope a (leaky ReLU; a = 0 is ReLU, a = 1 linear): R = 1 or a with
  probability 1/2 each (the sign of the pre-activation);
* inverted dropout with keep probability q: b / q^2 multiplies Y, an atom at zero of
  mass 1 - q;
* randomized slopes (RReLU): the slope a is replaced by the nodes of a quadrature rule
  for its law, either inside the mixture (per neuron) or as one row per node (per layer).

The roots r = sqrt(C) (slopes, not their squares) and the keep probability are kept
apart, so that slopes down to 5e-324 and keep probabilities down to 1e-300 stay
representable in float64: :func:`initmath._engine.laplace.log_moment_roots` takes this
form and splits tiny scales off exactly.  :meth:`Mixture.scales` gives the squared form
with the atom explicit (c = 0), which the other routes take.  Float64 mixtures are
arrays with the mixture on the last axis (one row per leading index); mpmath mixtures
are object arrays of mpmath numbers.
"""
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike


class Mixture(NamedTuple):
    """Y = b (R g)^2 / keep^2 with R = roots[..., i] with probability weights[..., i]."""

    roots: np.ndarray
    weights: np.ndarray
    keep: Any = 1

    def scales(self) -> tuple[np.ndarray, np.ndarray]:
        """(c, w): the scales C = (R / keep)^2 and their weights, with the dropout atom
        (c = 0, weight 1 - keep) first where keep < 1."""
        if np.all(np.asarray(self.keep) == 1):
            return self.roots * self.roots, self.weights
        keep = np.asarray(self.keep)[..., None]
        column = self.roots.shape[:-1] + (1,)
        c = np.concatenate([np.zeros(column, self.roots.dtype), (self.roots / keep) ** 2],
                           axis=-1)
        w = np.concatenate([np.broadcast_to(1 - keep, column), self.weights * keep], axis=-1)
        return c, w


def atom(c: np.ndarray, w: np.ndarray) -> np.ndarray:
    """P(C = 0) of float64 mixture rows (c, w)."""
    return np.where(c == 0, w, 0).sum(axis=-1)


def slope(a: ArrayLike, keep: Any = 1) -> Mixture:
    """phi_a's coordinate (R = 1 or a, probability 1/2 each) under inverted dropout.

    a: a float or array (rows along its axes), or an mpmath number; keep likewise.
    """
    a = np.asarray(a)
    roots = np.stack([np.ones_like(a), a], axis=-1)
    return Mixture(roots, np.full(roots.shape, 0.5), keep)


def slope_scales(a: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """(c, w) = ([1, a^2], [1/2, 1/2]) of phi_a's coordinate (rows for an array a)."""
    return slope(a).scales()


def random_slopes(slopes: ArrayLike, weights: ArrayLike, dtype: Any = float) -> Mixture:
    """Per-neuron random slopes: R = 1 with probability 1/2, slopes[j] with weights[j] / 2.

    slopes, weights: the nodes and probability weights of a rule for the slope's law;
    dtype float for float64, object to keep mpmath numbers.
    """
    roots = np.array([1, *slopes], dtype)
    return Mixture(roots, np.array([1, *weights], dtype) * 0.5)
