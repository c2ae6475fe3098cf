"""The README opens with the two commands, and each of its code blocks runs on its own."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_opens_with_the_two_commands():
    text = README.read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, flags=re.S).group(1)
    assert first_block.splitlines()[0].startswith("make demo")
    assert first_block.splitlines()[1].startswith("make test")
    ci = (README.parent / ".ci" / "run").read_text()
    assert "make test" in ci


def test_readme_links_resolve():
    for target in re.findall(r"\]\((docs/[^)#]+)", README.read_text()):
        assert (README.parent / target).exists(), target


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_each_block_runs_standalone(index, capsys, monkeypatch, session_data_dir):
    """Each block runs in a fresh namespace (the SB3 one with fewer steps); Minari reads the
    package's (temporary) cache, as it does by default."""
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(session_data_dir))
    block = BLOCKS[index]
    if "stable_baselines3" in block:
        assert "total_timesteps=20_000" in block
        block = block.replace("total_timesteps=20_000", "total_timesteps=300")
    exec(compile(block, f"README block {index + 1}", "exec"), {"__name__": "readme"})
    if "stable_baselines3" in BLOCKS[index]:
        assert "the goal" in capsys.readouterr().out
