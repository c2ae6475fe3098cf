import json

import pytest

from benchmarks import csr_detection_curves as bench
from benchmarks.results import output_dir


def test_a_new_variable_is_needed_from_the_first_task_that_expands_the_state():
    changes = [
        frozenset(),
        frozenset({"distribution_shift"}),
        frozenset({"state_expansion"}),
        frozenset({"action_expansion"}),
    ]
    assert [bench.needs_new_variable(changes, i) for i in range(4)] == [
        False,
        False,
        True,
        True,
    ]


@pytest.mark.smoke
def test_smoke_profile_draws_a_curve_per_task_from_pixels(capsys):
    state = bench.main("smoke", fresh=True)
    p = bench.PROFILES["smoke"]
    (cell,) = state["cells"].values()
    assert cell["tau"] > 0 and len(cell["tasks"]) == 4
    detect_steps = p.agent["detect_steps"]
    marks = [0, *range(p.every, detect_steps + 1, p.every)]
    marks += [] if detect_steps % p.every == 0 else [detect_steps]
    for t in cell["tasks"]:
        assert [u for u, _ in t["curve"]] == marks  # before, every `every`, after
        assert t["curve"][0][1] == t["error_before"]
        assert t["decision"] in ("distribution_shift", "space_expansion")
        assert t["right"] == ((t["decision"] == "space_expansion") == t["needs_new_variable"])
    assert [t["needs_new_variable"] for t in cell["tasks"]] == [False, False, True, True]
    assert cell["tasks"][3]["new_actions"] == 4  # the six forces: the policy's two, and four
    out = capsys.readouterr().out
    assert "decisions right:" in out and "task 3 friction" in out
    path = output_dir() / "csr_detection_curves_smoke.json"
    assert json.loads(path.read_text())["summary"]["decisions"] == 4
    assert (output_dir() / "csr_detection_curves_smoke.png").stat().st_size > 0
