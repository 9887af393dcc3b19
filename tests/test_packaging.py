"""Set-up files agree with each other and with the README."""

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _conda_requirements():
    text = (ROOT / "environment.yml").read_text(encoding="utf-8").split("dependencies:", 1)[1]
    conda, pip = {}, {}
    in_pip = False
    for line in text.splitlines():
        stripped = line.split("#")[0].rstrip()
        if re.match(r"\s*- pip:\s*$", stripped):
            in_pip = True
            continue
        match = re.match(r"\s*- (\S.*)$", stripped)
        if not match or match.group(1) in ("pip", "-e .") or match.group(1).startswith("python="):
            continue
        req = Requirement(match.group(1).replace(" ", ""))
        (pip if in_pip else conda)[req.name] = req.specifier
    return conda, pip


def test_environment_yml_agrees_with_pyproject():
    project = _pyproject()["project"]
    wanted = {Requirement(r).name: Requirement(r).specifier
              for r in project["dependencies"] + project["optional-dependencies"]["dev"]
              + project["optional-dependencies"].get("lm", [])}   # the book's offline language model
    conda, pip = _conda_requirements()
    listed = {**conda, **pip}
    assert set(listed) == set(wanted), set(listed) ^ set(wanted)
    for name, spec in conda.items():
        assert spec == wanted[name], f"{name}: environment.yml {spec} vs pyproject {wanted[name]}"
    # torch is the one exact pin, and it must satisfy pyproject's range
    assert str(pip["torch"]).startswith("==")
    assert wanted["torch"].contains(str(pip["torch"])[2:])


def test_makefile_pins_the_same_torch_as_environment_yml():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    _, pip = _conda_requirements()
    assert f"TORCH_SPEC ?= torch{pip['torch']}" in makefile


def test_jupyter_book_is_held_below_2():
    dev = _pyproject()["project"]["optional-dependencies"]["dev"]
    spec = next(Requirement(r) for r in dev if r.startswith("jupyter-book")).specifier
    assert spec.contains("1.0.4") and not spec.contains("2.0.0")


def test_readme_shows_the_two_commands_and_never_the_pypi_name():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for command in ("make book", "make test", "make lab", 'pip install -e ".[dev,lm]"', '".[dev]"', "environment.yml"):
        assert command in readme, command
    assert not re.search(r"pip install causalrec\b", readme)


def test_ci_calls_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
