"""The paper-cost estimate: its unit timings are real measurements, its report reads them."""

import numpy as np

from augment import DynamicsConfig, TrainingConfig
from benchmarks import ensemble_step, paper_cost


def test_unit_timings_are_measured_and_positive():
    cfg = DynamicsConfig(
        ensemble_size=2, hidden=(16,), embed_dim=8, training=TrainingConfig(batch_size=64)
    )
    assert paper_cost.ensemble_step_s("CausalNav2D-v0", cfg, "cpu", rows=1_000) > 0
    assert ensemble_step.training_steps(DynamicsConfig.authors_nav2d(), 35_000) == 600 * 29
    # the authors' models hold out 20,000 rows: those come on top of the rows trained on
    authors = DynamicsConfig.authors_nav2d(ensemble_size=2, hidden=(16,), embed_dim=8)
    assert paper_cost.ensemble_step_s("CausalNav2D-v0", authors, "cpu", rows=1_000) > 0
    assert ensemble_step.training_steps(DynamicsConfig(), 35_000) == 20 * 119
    data = paper_cost._random_transitions(4, 2, n=500)
    assert np.isfinite(data.observations).all() and len(data) == 500
    assert paper_cost.agent_update_s("td3bc", (16,), data, "cpu") > 0


def test_arithmetic_rates_are_measured_and_the_thread_count_restored():
    import torch

    from causal_envs.core.device import native_bf16

    before = torch.get_num_threads()
    r = paper_cost.arithmetic_rates("cpu", threads=1)
    assert torch.get_num_threads() == before
    assert r["fp32_gflops"] > 0 and r["bf16_gflops"] > 0 and r["threads"] == 1
    assert r["native_bf16"] == native_bf16(torch.device("cpu"))


def test_the_report_gives_cells_longest_cell_and_totals():
    result = {
        "device": "cpu",
        "profiles": {
            "toy": {"cells": 4, "longest_cell_h": 0.5, "total_h": 2.0},
            "huge": {"cells": 100, "longest_cell_h": 30.0, "total_h": 2400.0},
        },
    }
    text = paper_cost.report(result)
    assert "measured on cpu" in text
    toy = next(line for line in text.splitlines() if line.startswith("toy"))
    assert toy.split()[1:] == ["4", "30", "min", "2.0", "h", "1.0", "h", "/", "30", "min"]
    huge = next(line for line in text.splitlines() if line.startswith("huge"))
    assert "100.0 d" in huge and "50.0 d" in huge and "37.5 h" in huge


def test_csr_estimates_read_every_profiles_budgets(monkeypatch):
    """Every CSR paper profile's budgets (one per task or one for all) reach the estimate."""
    from benchmarks import csr

    units = {"env_step_s": 1e-3, "update_s": 1e-2, "dqn_env_step_s": 1e-4}
    monkeypatch.setattr(paper_cost, "csr_unit_s", lambda bench, device: units)
    for bench in csr.PROFILES_BY_BENCH:
        p = csr.PROFILES_BY_BENCH[bench]["paper"]
        out = paper_cost._csr(bench, "cpu")
        n_tasks = len(csr.make_sequence(p.sequence, seed=0, **p.seq_kwargs))
        assert out["env_steps_per_cell"] == sum(p.schedule.budget(i) for i in range(n_tasks))
        assert out["cells"] == len(p.seeds) * len(p.methods) and out["total_h"] > 0
