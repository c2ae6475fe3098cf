"""CSR's CoinRun sequence on procgen (``procgen-mirror``): train on 500 easy levels; then unseen
levels (distribution shift); then hard mode, where new kinds of enemies appear (state-space
expansion). The env is `causal_envs.envs.coinrun.CoinRunEnv` (``CoinRun-v0``).
"""

from __future__ import annotations

from causal_envs.tasks.base import Task, TaskSequence

__all__ = ["coinrun_sequence"]


def coinrun_sequence(seed: int = 0, n_train_levels: int = 500) -> TaskSequence:
    """Source: ``n_train_levels`` easy levels; then unseen easy levels; then hard mode."""
    common = {"center_agent": True}
    return TaskSequence(
        name="coinrun",
        seed=seed,
        tasks=(
            Task(
                "easy-train-levels",
                "CoinRun-v0",
                {
                    **common,
                    "num_levels": n_train_levels,
                    "start_level": 0,
                    "distribution_mode": "easy",
                },
                frozenset(),
                f"{n_train_levels} training levels, easy mode",
                {"levels": [0, n_train_levels], "mode": "easy"},
            ),
            Task(
                "easy-unseen-levels",
                "CoinRun-v0",
                {
                    **common,
                    "num_levels": 0,
                    "start_level": n_train_levels + seed * 100_000,
                    "distribution_mode": "easy",
                },
                frozenset({"distribution_shift"}),
                "unseen levels, easy mode",
                {"levels": "unseen", "mode": "easy"},
            ),
            Task(
                "hard",
                "CoinRun-v0",
                {
                    **common,
                    "num_levels": 0,
                    "start_level": n_train_levels + seed * 100_000,
                    "distribution_mode": "hard",
                },
                frozenset({"state_expansion"}),
                "hard mode: new enemies and obstacles",
                {"levels": "unseen", "mode": "hard"},
            ),
        ),
    )
