"""The numerical core: the law of Z = Y_1 + ... + Y_d, a sum of d iid coordinates.

Every fractional-moment and Lyapunov quantity in initmath is a functional of Z, where
Y = C g^2 with g ~ N(0, 1) and C drawn from a finite mixture (slopes, dropout, random
slopes; c = 0 is the atom at zero).  The routes that compute these functionals are
mathematically independent and share only infrastructure:

- :mod:`.evaluate`: the guard-digit rule and the elementwise scalar/array/dps driver.
"""
