"""The documentation's code runs: every ```python block of a page, in order, in one namespace.

A page's blocks build on each other (a guide), so each page runs as one script; a block that
must not run is fenced as ```text or ```bash instead.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
PAGES = sorted(p for p in (ROOT / "docs").rglob("*.md") if BLOCK.search(p.read_text()))


def test_pages_with_code_are_found():
    assert ROOT / "docs" / "guides" / "new-env.md" in PAGES


_RUN: dict[Path, dict] = {}


def run_page(page: Path) -> dict:
    """Run the page's blocks once per session; return the namespace they leave."""
    if page not in _RUN:
        namespace: dict = {"__name__": f"docs_{page.stem}"}
        for i, code in enumerate(BLOCK.findall(page.read_text())):
            where = f"{page.relative_to(ROOT)} block {i + 1}"
            try:
                exec(compile(code, where, "exec"), namespace)
            except Exception as err:  # name the block that failed
                raise AssertionError(f"{where} failed: {err!r}") from err
        _RUN[page] = namespace
    return _RUN[page]


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT / "docs")) for p in PAGES])
def test_page_code_runs(page):
    run_page(page)


def test_the_new_env_guide_builds_an_env_mocoda_and_the_benchmark_accept():
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
