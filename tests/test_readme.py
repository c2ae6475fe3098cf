"""The README's code blocks run as written (the SB3 example with fewer steps)."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_opens_with_the_two_commands():
    text = README.read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, flags=re.S).group(1)
    assert first_block.splitlines()[0].startswith("make demo")
    assert first_block.splitlines()[1].startswith("make test")
    ci = (README.parent / ".ci" / "run").read_text()
    assert "make test" in ci


def test_sb3_example_runs_a_few_hundred_steps(capsys):
    block = next(b for b in python_blocks() if "stable_baselines3" in b)
    assert "total_timesteps=20_000" in block
    exec(
        compile(block.replace("total_timesteps=20_000", "total_timesteps=300"), "README", "exec"),
        {},
    )
    assert "the goal" in capsys.readouterr().out


@pytest.mark.parametrize("keyword", ["local_mask", "get_dataset", "minari.load_dataset"])
def test_api_examples_run(keyword, session_data_dir, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(session_data_dir))
    blocks = python_blocks()
    setup = next(b for b in blocks if "local_mask" in b)
    block = next(b for b in blocks if keyword in b)
    namespace: dict = {}
    exec(compile(setup, "README", "exec"), namespace)
    if block is not setup:
        exec(compile(block, "README", "exec"), namespace)
