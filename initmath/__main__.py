"""``python -m initmath``: a table of critical sigmas sigma_a(s, d) = I_a(s, d)^(-1/s).

Example::

    python -m initmath --s 0.5 1 2 --d 16 64 1024 --a 0.01
"""
import argparse

import numpy as np

from .critical_variance import critical_sigma


def main(argv=None):
    parser = argparse.ArgumentParser(prog="initmath", description=__doc__.splitlines()[0])
    parser.add_argument("--s", type=float, nargs="+", default=[0.5, 0.8, 1.0, 1.5, 2.0],
                        help="moment orders s > 0")
    parser.add_argument("--d", type=int, nargs="+", default=[16, 64, 256, 1024, 10**6],
                        help="layer widths d >= 1")
    parser.add_argument("--a", type=float, default=0.0, help="negative slope in [0, 1]")
    parser.add_argument("--keep-prob", type=float, default=1.0, help="dropout keep probability")
    args = parser.parse_args(argv)
    try:
        table = critical_sigma(np.array(args.s)[:, None], np.array(args.d)[None, :], args.a,
                               keep_prob=args.keep_prob)
    except ValueError as error:
        parser.error(str(error))
    print(f"critical sigma, a = {args.a:g}, keep_prob = {args.keep_prob:g} "
          f"(rows: s, columns: d; s = 2 is Kaiming/He)")
    print("s \\ d".rjust(8) + "".join(f"{d:>14d}" for d in args.d))
    for s, row in zip(args.s, table):
        print(f"{s:8g}" + "".join(f"{x:14.8g}" for x in row))


if __name__ == "__main__":
    main()
