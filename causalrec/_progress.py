"""Progress bars that behave in terminals and notebooks alike.

``tqdm.auto`` picks the widget bar inside Jupyter, and when ipywidgets is missing it
prints a warning on stderr at import time (which also breaks a warnings-as-errors
book build). Here the widget bar is used only when ipywidgets is installed, and
tqdm is imported only when a bar is made.
"""

from __future__ import annotations

import importlib.util


def progress_bar(*args, **kwargs):
    """A ``tqdm`` bar: the notebook widget when ipywidgets is available, else the text bar.

    Accepts tqdm's arguments (``iterable``, ``total``, ``desc``, ``disable``, ...).

    >>> bar = progress_bar(range(3), disable=True)
    >>> list(bar)
    [0, 1, 2]
    """
    if importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.auto import tqdm
    else:
        from tqdm.std import tqdm
    return tqdm(*args, **kwargs)
