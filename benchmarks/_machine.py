"""What every benchmark records about the machine it ran on.

The benchmarks run as scripts (``python benchmarks/bench_X.py``), so this file
is imported as the top-level module ``_machine``. Versions of optional
packages (torch, DoWhy, Cornac) are recorded only when installed.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import time

_PACKAGES = ("numpy", "pandas", "torch", "dowhy", "scikit-learn", "cornac")


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (the machine may be shared: quote them with medians)."""
    return [round(x, 2) for x in os.getloadavg()]


def machine(**extra) -> dict:
    """A JSON-ready description of this machine and run; ``extra`` keys are added (e.g. a load before)."""
    import causalrec

    info = {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "causalrec": causalrec.__version__}
    try:
        import torch
    except ImportError:
        pass
    else:
        info["torch_default_threads"] = torch.get_num_threads()
    info.update({name: version for name in _PACKAGES if (version := _version(name)) is not None})
    info["date_utc"] = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    info["load_average_1_5_15"] = load_average()
    info.update(extra)
    return info


def write_json(path, result: dict) -> None:
    """Write a benchmark's result as indented JSON (one trailing newline), creating its folder."""
    import json
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
