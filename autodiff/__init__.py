"""autodiff: automatic differentiation for NumPy."""
