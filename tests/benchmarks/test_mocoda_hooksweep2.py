import json

import numpy as np
import pytest

from benchmarks import mocoda_hooksweep2 as bench
from benchmarks.mocoda_profiles import HOOKSWEEP2_DATASETS
from benchmarks.results import output_dir


@pytest.mark.smoke
def test_smoke_profile_runs_resumes_and_relabels_with_target_goals(capsys):
    state = bench.main("smoke", fresh=True)
    p = bench.PROFILES["smoke"]
    assert len(state["cells"]) == len(HOOKSWEEP2_DATASETS) * len(p.agents)
    for cell in state["cells"].values():
        assert 0.0 <= cell["success_rate"] <= 1.0
        assert len(cell["curve_success"]) == p.n_updates // p.eval_every
    out = capsys.readouterr().out
    verdict = bench.claim_verdict(list(state["cells"].values()))
    assert "sweep both" in out and f"verdict: {verdict}" in out
    path = output_dir() / "mocoda_hooksweep2_smoke.json"
    assert json.loads(path.read_text())["summary"]["table"]["emp"]["td3bc"]["seeds"] == 1
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
    assert "resuming: 6 finished cells" in capsys.readouterr().out
    assert again["cells"].keys() == state["cells"].keys()
    for key, cell in state["cells"].items():
        assert again["cells"][key]["train_seconds"] == cell["train_seconds"]
