"""Dependencies point one way: benchmarks -> agents, augment -> causal_envs."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "causal_envs": {"augment", "agents", "benchmarks"},
    "augment": {"agents", "benchmarks"},
    "agents": {"benchmarks"},
}
CORE_FORBIDDEN = {"causal_envs.envs.nav2d", "causal_envs.datasets"}


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_upward_imports(package):
    for path in (ROOT / package).rglob("*.py"):
        bad = {n for n in imports_of(path) if n.split(".")[0] in FORBIDDEN[package]}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_core_imports_no_env():
    for path in (ROOT / "causal_envs" / "core").rglob("*.py"):
        names = imports_of(path)
        bad = {n for n in names if any(n.startswith(f) for f in CORE_FORBIDDEN)}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"
