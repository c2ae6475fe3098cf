"""The documentation's code runs: every ```python block of a page, in order, in one namespace.

A page's blocks build on each other (a guide), so each page runs as one script. A block that
must not run here (it trains for minutes) is preceded by a ``<!-- not run: reason -->`` line.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^(<!-- not run: [^>]+ -->\n)?```python\n(.*?)^```", re.S | re.M)


def runnable_blocks(text: str) -> list[str]:
    return [code for skip, code in BLOCK.findall(text) if not skip]


PAGES = sorted(p for p in (ROOT / "docs").rglob("*.md") if BLOCK.search(p.read_text()))


def test_pages_with_code_are_found():
    assert ROOT / "docs" / "guides" / "new-env.md" in PAGES


_RUN: dict[Path, dict] = {}


def run_page(page: Path) -> dict:
    """Run the page's blocks once per session; return the namespace they leave."""
    if page not in _RUN:
        namespace: dict = {"__name__": f"docs_{page.stem}"}
        for i, code in enumerate(runnable_blocks(page.read_text())):
            where = f"{page.relative_to(ROOT)} block {i + 1}"
            try:
                exec(compile(code, where, "exec"), namespace)
            except Exception as err:  # name the block that failed
                raise AssertionError(f"{where} failed: {err!r}") from err
        _RUN[page] = namespace
    return _RUN[page]


@pytest.fixture
def minari_root(monkeypatch, session_data_dir):
    """Minari reads the same (temporary) cache as the package, as it does by default."""
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(session_data_dir))


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT / "docs")) for p in PAGES])
def test_page_code_runs(page, minari_root):
    run_page(page)


def test_the_new_env_guide_builds_an_env_mocoda_and_the_benchmark_accept(minari_root):
    namespace = run_page(ROOT / "docs" / "guides" / "new-env.md")
    import causal_envs

    assert causal_envs.check_causal_env(namespace["env"]) == ["CausalEnv"]
    augmented = namespace["augmented"]
    assert len(augmented) == 5_000 and augmented.metadata["n_generated"] == 5_000 - len(
        namespace["data"]
    )
    # the generated transitions carry the env's own labels
    env = namespace["env"].unwrapped
    new = slice(len(namespace["data"]), None)
    s, a, s2 = augmented.observations[new], augmented.actions[new], augmented.next_observations[new]
    assert (augmented.rewards[new] == env.reward_fn(s, a, s2)).all()
    table = namespace["result"]["errors_x100"]
    assert set(table) == {"unfactored", "global", "local"}
    assert all(0 < v < 100 for arch in table.values() for v in arch.values())
