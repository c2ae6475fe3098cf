"""CSR's synthetic sequence (D.3.1): source; new theta (distribution shift); the latent grows
by d' ~ U{3..7} dims (state expansion); a new theta and another growth (both)."""

from __future__ import annotations

import numpy as np

from causal_envs.tasks.base import Task, TaskSequence

__all__ = ["synthetic_sequence"]


def synthetic_sequence(seed: int = 0, structure_seed: int | None = None) -> TaskSequence:
    """The 4 tasks; ``seed`` draws the thetas and the expansion sizes."""
    rng = np.random.default_rng([seed, 11])
    structure_seed = seed if structure_seed is None else structure_seed
    thetas = rng.uniform(-1, 1, size=3)
    grow1, grow2 = (int(g) for g in rng.integers(3, 8, size=2))
    common = {"structure_seed": structure_seed}
    t1 = {**common, "theta": float(thetas[0])}
    t2 = {**common, "theta": float(thetas[1])}
    t3 = {**t2, "expansions": (grow1,)}
    t4 = {**common, "theta": float(thetas[2]), "expansions": (grow1, grow2)}
    return TaskSequence(
        name="synthetic",
        seed=seed,
        tasks=(
            Task(
                "source",
                "SyntheticPOMDP-v0",
                t1,
                frozenset(),
                "source task",
                {"theta": t1["theta"], "latent_dim": 4, "new_latent_dims": 0},
            ),
            Task(
                "new-theta",
                "SyntheticPOMDP-v0",
                t2,
                frozenset({"distribution_shift"}),
                "a new change factor theta",
                {"theta": t2["theta"], "latent_dim": 4, "new_latent_dims": 0},
            ),
            Task(
                "grown",
                "SyntheticPOMDP-v0",
                t3,
                frozenset({"state_expansion"}),
                f"the latent grows by {grow1} dims",
                {"theta": t3["theta"], "latent_dim": 4 + grow1, "new_latent_dims": grow1},
            ),
            Task(
                "both",
                "SyntheticPOMDP-v0",
                t4,
                frozenset({"distribution_shift", "state_expansion"}),
                f"a new theta and {grow2} more latent dims",
                {"theta": t4["theta"], "latent_dim": 4 + grow1 + grow2, "new_latent_dims": grow2},
            ),
        ),
    )
