"""torch-facing initmath: initializers in the style of torch.nn.init and curvature tools.

Importing :mod:`initmath` never imports torch; importing :mod:`initmath.nn` does.
"""
