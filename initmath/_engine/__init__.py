"""The numerical core: the law of Z = Y_1 + ... + Y_d, a sum of d iid coordinates.

Every fractional-moment and Lyapunov quantity in initmath is a functional of Z, where
Y = C g^2 with g ~ N(0, 1) and C drawn from a finite mixture (slopes, dropout, random
slopes; c = 0 is the atom at zero).  The routes that compute these functionals are
mathematically independent and share only infrastructure.

Routes:

- :mod:`.laplace`: E[Z^h] from a one-dimensional integral of the Laplace transform
  M(t)^d (derivative and Frullani forms), float64 and mpmath;
- :mod:`.logmoments`: the cumulants and the characteristic function of log Z'
  (Z' = Z | Z > 0) from Frullani integrals and a 1/d series, float64;
- :mod:`.hypergeometric`: E[Z^h] for a leaky ReLU with dropout as binomial sums of Gauss
  hypergeometric functions, mpmath;
- :mod:`.series`: the paper's printed Theorem 1 / Theorem 7 series, float64 and mpmath.

Infrastructure:

- :mod:`.mixture`: the one coordinate law (:class:`.mixture.Mixture`) and its builders
  (fixed slope, inverted dropout, random slopes);
- :mod:`.backend`: the float64 and mpmath backends the quadrature is written against;
- :mod:`.quadrature`: the one quadrature plan (u-lattice, double-exponential map,
  Chernoff tail cut, nodes) and the atom split of the Frullani integrands;
- :mod:`.evaluate`: the guard-digit rule and the elementwise scalar/array/dps driver.
"""
