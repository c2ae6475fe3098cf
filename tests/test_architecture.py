"""The shape of the house: dependencies point one way, no import circles, deferred imports
justified.

The import graph is read from the source (every ``import`` statement, module level and
function level alike, so a circle hidden behind a deferred import is still a circle). Edges go
to the module imported; ``from package import name`` counts as an import of ``package``
(its ``__init__``) unless ``name`` is a submodule.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("causal_envs", "augment", "agents", "benchmarks")
#: the layers, lowest first: a package may import only the ones before it
ALLOWED = {
    "causal_envs": set(),
    "augment": {"causal_envs"},
    "agents": {"causal_envs"},  # the offline and CSR agents need nothing of MoCoDA
    "benchmarks": {"causal_envs", "augment", "agents"},
}
#: inside causal_envs, the sub-layers, lowest first (the package root is the composition root)
ENV_LAYERS = ("core", "context", "envs", "wrappers", "tasks", "datasets", "sb3", "cli")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The project module ``name`` refers to (itself or its nearest package), or None."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(path: Path) -> list[tuple[str, ast.stmt, bool]]:
    """(imported project module, statement, deferred?) for every import in ``path``."""
    tree = ast.parse(path.read_text())
    deferred_nodes = {
        id(n)
        for f in ast.walk(tree)
        if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
        for n in ast.walk(f)
        if isinstance(n, ast.Import | ast.ImportFrom)
    }
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names
            ]
        else:
            continue
        for t in targets:
            resolved = _resolve(t)
            if resolved is not None and resolved != me:
                out.append((resolved, node, id(node) in deferred_nodes))
            elif resolved is None and id(node) in deferred_nodes:
                out.append((t, node, True))
    return out


GRAPH = {m: {t for t, _, _ in _imports(p) if t in MODULES} for m, p in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_anywhere():
    assert _cycles(GRAPH) == [], "import circles (each a group of modules that import in a ring)"


@pytest.mark.parametrize("package", PACKAGES)
def test_packages_import_only_lower_layers(package):
    for mod, targets in GRAPH.items():
        if mod.split(".")[0] != package:
            continue
        bad = {t for t in targets if t.split(".")[0] not in ALLOWED[package] | {package}}
        assert not bad, f"{mod} imports {bad} (allowed: {sorted(ALLOWED[package])})"


def test_causal_envs_sub_layers_point_down():
    def layer(mod: str) -> int | None:
        parts = mod.split(".")
        return ENV_LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in ENV_LAYERS else None

    for mod, targets in GRAPH.items():
        own = layer(mod) if mod.startswith("causal_envs.") else None
        if own is None:
            continue
        for t in targets:
            other = layer(t) if t.startswith("causal_envs") else None
            if t == "causal_envs" and ENV_LAYERS[own] != "cli":
                pytest.fail(f"{mod} imports the composition root causal_envs/__init__")
            assert other is None or other <= own, f"{mod} ({ENV_LAYERS[own]}) imports {t}"


def test_core_imports_nothing_of_the_package_above_it():
    for mod, targets in GRAPH.items():
        if mod.startswith("causal_envs.core"):
            assert all(t.startswith("causal_envs.core") for t in targets), (mod, targets)


def test_every_deferred_import_says_why():
    """An import inside a function costs a reader a question; it must buy start-up time (or
    an optional dependency) and say so in a ``# deferred: ...`` comment."""
    missing = []
    for path in MODULES.values():
        lines = path.read_text().splitlines()
        for target, node, deferred in _imports(path):
            if not deferred:
                continue
            here = lines[node.lineno - 1]
            above = lines[node.lineno - 2] if node.lineno > 1 else ""
            end = lines[node.end_lineno - 1]
            if "deferred:" not in here + above + end:
                missing.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {target}")
    assert not missing, "deferred imports without a '# deferred: reason' comment:\n" + "\n".join(
        missing
    )


def test_every_causal_envs_module_has_a_layer():
    """A module outside the layers would have no arrow checked (context and sb3 once were)."""
    for mod in GRAPH:
        parts = mod.split(".")
        if parts[0] == "causal_envs" and len(parts) > 1:
            assert parts[1] in ENV_LAYERS, f"{mod} is in no layer of {ENV_LAYERS}"
