"""The package's shape: layers, no cycles, no private imports, size limits (DESIGN.md).

Read from the source with ``ast``, so a violation fails here before it confuses a reader.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import causalrec

ROOT = Path(causalrec.__file__).parent
# DESIGN.md: causalrec/ holds at most 8,000 lines in all, no module over 600. Inside that total the library a
# learner reads and the exercise bank (course content: checks and hints per chapter) are budgeted apart, so
# that new exercises never crowd out library code or the reverse.
MAX_TOTAL_LINES = 8_000
MAX_LIBRARY_LINES = 7_040
MAX_BANK_LINES = 960
MAX_MODULE_LINES = 600
# Imports inside functions are allowed only at the lazy boundaries: the heavy libraries,
# and package modules that need them.
LAZY_LIBRARIES = {"torch", "dowhy", "tqdm", "matplotlib", "pydot"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str):
    """Yield (imported module, imported names, inside_function) for one module."""
    path = MODULES[module]
    tree = ast.parse(path.read_text())
    is_package = path.name == "__init__.py"
    function_nodes = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            function_nodes.update(id(n) for n in ast.walk(node) if n is not node)
    for node in ast.walk(tree):
        inside = id(node) in function_nodes
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], inside
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node, is_package)
            names = [a.name for a in node.names]
            submodules = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
            for sub in submodules:
                yield sub, [], inside
            if not submodules or len(submodules) < len(names):
                yield target, [n for n in names if f"{target}.{n}" not in MODULES], inside


def _package_edges():
    edges = {}
    for module in MODULES:
        edges[module] = {t for t, _, _ in _imports(module)
                         if t.startswith("causalrec") and t in MODULES and t != module
                         and not module.startswith(t + ".") and t != "causalrec"}
    return edges


def _needs_heavy(module, edges, seen=None) -> bool:
    seen = set() if seen is None else seen
    if module in seen:
        return False
    seen.add(module)
    top_level = {t.split(".")[0] for t, _, inside in _imports(module) if not inside}
    if top_level & LAZY_LIBRARIES:
        return True
    return any(_needs_heavy(t, edges, seen) for t in edges[module])


def test_no_import_cycles():
    edges = _package_edges()
    state: dict[str, int] = {}

    def visit(node, stack):
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt] if nxt in stack else [node, nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])


def test_layers_point_down():
    """A module imports only modules listed before it in ``causalrec._MODULES``
    (``_checks`` sits below them all and imports none of them)."""
    order = {name: i for i, name in enumerate(causalrec._MODULES)}

    def layer(module: str) -> str:
        return module.split(".")[1] if "." in module else "__init__"

    bad = []
    for module, targets in _package_edges().items():
        if layer(module) not in order:
            if layer(module) not in ("__init__", "__main__") and layer(module) != "_checks":
                bad.append(f"{module} is not listed in causalrec._MODULES")
            continue
        for target in targets:
            if layer(target) == layer(module) or layer(target) not in order:
                continue
            if order[layer(target)] > order[layer(module)]:
                bad.append(f"{module} imports {target}, a higher layer")
    assert not bad, "\n".join(bad)


def test_no_private_imports_across_modules():
    bad = []
    for module in MODULES:
        for target, names, _ in _imports(module):
            if not target.startswith("causalrec") or target == "causalrec._checks":
                continue
            same_package = target.rsplit(".", 1)[0] == module.rsplit(".", 1)[0] or target.startswith(module)
            private = [n for n in names if n.startswith("_") and n != "__future__"]
            if private and not same_package:
                bad.append(f"{module} imports {private} from {target}")
            if target.split(".")[-1].startswith("_") and target != "causalrec._checks" and not same_package:
                bad.append(f"{module} imports the private module {target}")
    assert not bad, "\n".join(bad)


def test_imports_inside_functions_only_at_lazy_boundaries():
    edges = _package_edges()
    bad = []
    for module in MODULES:
        for target, _, inside in _imports(module):
            if not inside or target.split(".")[0] in LAZY_LIBRARIES:
                continue
            if target in MODULES and _needs_heavy(target, edges):
                continue
            bad.append(f"{module} imports {target} inside a function")
    assert not bad, "\n".join(bad)


def test_size_limits():
    lines = {m: len(p.read_text().splitlines()) for m, p in MODULES.items()}
    too_long = {m: n for m, n in lines.items() if n > MAX_MODULE_LINES}
    assert not too_long, f"modules over {MAX_MODULE_LINES} lines: {too_long}"
    bank = sum(n for m, n in lines.items() if m.startswith("causalrec.exercises.bank."))
    library = sum(lines.values()) - bank
    assert sum(lines.values()) <= MAX_TOTAL_LINES, f"causalrec/ has {sum(lines.values())} lines"
    assert library <= MAX_LIBRARY_LINES, f"causalrec/ (without the exercise bank) has {library} lines"
    assert bank <= MAX_BANK_LINES, f"causalrec/exercises/bank/ has {bank} lines"


def test_flat_api_resolves():
    """Every name of the flat API exists where the table says."""
    missing = [name for name in causalrec._API if not hasattr(causalrec, name)]
    assert not missing
    assert set(causalrec._API) <= set(dir(causalrec))
