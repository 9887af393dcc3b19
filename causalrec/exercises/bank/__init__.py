"""Exercise checks, one module per chapter (``chNN.py``), loaded on first use."""
