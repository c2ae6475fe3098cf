"""agents.csr.continual: Algorithm 1 over a task sequence with fixed budgets."""

import pytest

from agents.csr import CSRAgent, CSRConfig, Schedule, WorldModelParams, run_sequence
from causal_envs.tasks import make_sequence

TINY = {
    "world": WorldModelParams(latent_dim=4, hidden=16),
    "batch_size": 4,
    "seq_len": 8,
    "prefill": 100,
    "adapt_collect": 100,
    "detect_steps": 5,
    "expand_steps": 5,
    "sa_trials": 2,
    "sa_train_steps": 3,
}
SCHEDULE = Schedule(
    source_steps=300, task_steps=(150, 150, 250), eval_every=100, eval_episodes=2, curve_episodes=1
)


def _run(adaptation: str = "csr", seed: int = 5):
    seq = make_sequence("cartpole", seed=seed, obs_type="state", friction_slot=True)
    first = seq.make(0)
    world = TINY["world"]
    if adaptation == "finetune":
        world = WorldModelParams(latent_dim=4, hidden=16, structured=False, use_theta=False)
    config = CSRConfig(**{**TINY, "world": world}, adaptation=adaptation, seed=seed, device="cpu")
    agent = CSRAgent(first.observation_space.shape, int(first.action_space.n), config)
    return run_sequence(agent, [task.make for task in seq.tasks], SCHEDULE)


def test_every_task_gets_its_budget_and_a_zero_shot_score():
    agent, results = _run("finetune")
    assert [r.task for r in results] == [0, 1, 2, 3]
    assert results[0].steps == 300 and results[0].zero_shot is None
    # Dreamer trains every later task for exactly its budget, its adaptation's data included
    assert [r.steps for r in results[1:]] == [150, 150, 250]
    for r in results[1:]:
        assert r.zero_shot is not None and r.decision == "fine_tune" and r.trained
        assert r.tau_recorded is None  # Dreamer decides nothing
    assert agent.env_steps == 300 + 150 + 150 + 250


def test_a_distribution_shift_returns_the_model_untrained():
    _, results = _run("adarl")
    for r in results[1:]:
        assert r.decision == "distribution_shift" and not r.trained
        assert r.final == r.adapted and len(r.curve) == 1
        assert r.steps <= 200  # the adaptation's data only (a probe more with new actions)
    assert results[0].tau_recorded is not None and results[0].threshold_steps > 0


def test_the_same_seed_gives_the_same_run():
    a = [(r.final, r.zero_shot, r.decision, r.steps) for r in _run("csr")[1]]
    b = [(r.final, r.zero_shot, r.decision, r.steps) for r in _run("csr")[1]]
    assert a == b


def test_schedule_refuses_bad_budgets():
    with pytest.raises(ValueError, match=r"Schedule\.source_steps"):
        Schedule(source_steps=0, task_steps=10)
    with pytest.raises(ValueError, match=r"Schedule\.task_steps"):
        Schedule(source_steps=10, task_steps=(10, -1))
    short = Schedule(source_steps=10, task_steps=(10,))
    with pytest.raises(ValueError, match="budgets for 1 later tasks, not task 3"):
        short.budget(2)
    with pytest.raises(ValueError, match="at least one task"):
        run_sequence(None, [], short)  # type: ignore[arg-type]
