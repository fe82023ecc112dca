"""Write one figure of initmath.outputs.plots next to this file with ``initmath plot``
(exact curves and the simulated points of verification.figures); the scripts of this
folder are run from the repository root, which is put on the import path."""
import os
import sys


def write(name, filename):
    sys.path.insert(0, os.getcwd())
    from initmath.__main__ import main
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), filename)
    sys.exit(main(["plot", name, "--out", out]))
