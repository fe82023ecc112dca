"""Monte Carlo verification of initmath's formulas with torch (CUDA when present).

Installed with the ``torch`` extra (``pip install initmath[torch]``).  The checks
themselves are added by later work; the critical variance's own tests live in
``tests/``.
"""
