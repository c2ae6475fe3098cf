import json

import numpy as np
import pytest

from benchmarks import mocoda_hooksweep2 as bench
from benchmarks.mocoda_profiles import HOOKSWEEP2_DATASETS
from benchmarks.render import hooksweep2_agents
from benchmarks.results import output_dir


@pytest.mark.smoke
def test_smoke_profile_runs_resumes_and_relabels_with_target_goals(capsys):
    state = bench.main("smoke", fresh=True)
    p = bench.PROFILES["smoke"]
    n_trained = len(HOOKSWEEP2_DATASETS) * len(p.agents)
    assert len(state["cells"]) == n_trained + len(bench.BASELINES)
    trained = [c for c in state["cells"].values() if c["dataset"] != bench.NO_DATA]
    for cell in trained:
        assert len(cell["curve_success"]) == p.n_updates // p.eval_every
    out = capsys.readouterr().out
    verdict = bench.claim_verdict(list(state["cells"].values()))
    assert "sweep both" in out and f"verdict: {verdict}" in out
    assert "no data (the same episodes): zero policy" in out
    path = output_dir() / "mocoda_hooksweep2_smoke.json"
    table = json.loads(path.read_text())["summary"]["table"]
    assert (
        table["emp"]["td3bc"]["seeds"] == 1
        and table["emp"]["td3bc"]["interval"] == "range of 1 seed"
    )
    assert set(table[bench.NO_DATA]) == set(bench.BASELINES)
    page = hooksweep2_agents(str(path))  # the results page's table of this record
    assert "| none | zero policy |" in page and "| MOCODA-P | bcq |" in page
    assert f"Verdict ({verdict.outcome})" in page and "Source: [mocoda_hooksweep2_smoke" in page
    assert (output_dir() / "mocoda_hooksweep2_smoke_curves.png").stat().st_size > 0

    # the datasets, from MoCoDA's cache now (nothing trained again): [state, target goal]
    # observations, target-task rewards, the fit's record and the expert's success rate
    from causal_envs.envs.hooksweep.model import GOAL_BASE, HookSweep2Model

    cached = bench.seed_datasets(0, p, "smoke", "cpu")
    assert "found in the cache" in capsys.readouterr().out
    for name in HOOKSWEEP2_DATASETS:
        data = cached[name]
        assert (
            data.metadata["cached"] and data.metadata["config"]["recipe"] == "hooksweep2-v1-boxes"
        )
        assert data.metadata["source_transitions"] == p.n_expert
        assert 0 <= data.metadata["expert_success_rate"] <= 1
        assert len(data) == p.total_size and data.observations.shape[1] == 22
        goals = data.observations[:, 16:].astype(np.float64)
        shift = goals[:, [0, 3]] - GOAL_BASE[[0, 3]]
        assert (np.sign(shift[:, 0]) == np.sign(shift[:, 1])).all()  # both to one side
        s2 = data.next_observations.astype(np.float64)
        expected, success = HookSweep2Model.reward(np.c_[s2[:, 6:9], s2[:, 11:14]], goals, s2[:, 2])
        np.testing.assert_allclose(data.rewards, expected, atol=1e-5)
        # the authors' offline labels: a transition that reaches the goals ends its episode
        np.testing.assert_array_equal(data.terminals, success)
    assert cached["mocoda"].metadata["fit"]["models"]["local"]["seconds"] > 0

    # a re-run resumes: no cell is trained again
    again = bench.main("smoke")
    assert f"resuming: {n_trained + len(bench.BASELINES)} finished cells" in capsys.readouterr().out
    assert again["cells"] == state["cells"]  # the stored records, their timings included


def test_the_baselines_hold_the_arm_still_or_act_at_random_reproducibly():
    obs = np.zeros((3, 22), dtype=np.float32)
    np.testing.assert_array_equal(bench.baseline_policy("zero", 0)(obs), np.zeros((3, 4)))
    a, b = bench.baseline_policy("random", 1)(obs), bench.baseline_policy("random", 1)(obs)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (3, 4) and np.abs(a).max() <= 1 and a.std() > 0
    with pytest.raises(ValueError, match="unknown baseline"):
        bench.baseline_policy("expert", 0)


def test_with_the_boxes_left_where_they_start_no_episode_succeeds():
    """The zero policy leaves both boxes at their start, which no target goal accepts: a
    success rate above the baselines' comes from moving the boxes."""
    ev = bench.evaluate_sweep(bench.baseline_policy("zero", 0), n_episodes=20, seed=1_000)
    assert ev["success_rate"] == 0.0
