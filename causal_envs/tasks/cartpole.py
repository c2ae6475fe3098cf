"""CSR's CartPole sequence (§4.1, D.3.2): default; new gravity and cart mass; cart friction
appears (cycling every 5 steps, visible in the pixels); six forces. Changes accumulate.

On state observations the friction is an extra element of the observation (its coefficient
x 1,000). By default that element appears with the friction (task 3), so the observation's
width announces the new variable; ``friction_slot=True`` gives every task the element, zero
until the friction appears, so that a method must notice the change from the data."""

from __future__ import annotations

import numpy as np

from causal_envs.core import check_bool
from causal_envs.tasks.base import Task, TaskSequence

__all__ = ["cartpole_sequence"]

MASSCART = (0.5, 1.0, 2.5, 3.5, 4.5)
GRAVITY = (5.0, 9.8, 20.0, 30.0, 40.0)
FRICTION = (3e-4, 5e-4, 7e-4)
FORCE_SCALES = (1.0, 0.5, 1.5)  # the default force first: actions 0 and 1 keep their meaning


def cartpole_sequence(
    seed: int = 0, obs_type: str = "pixels", friction_slot: bool = False
) -> TaskSequence:
    """The 4 tasks; ``seed`` draws task 2's gravity and cart mass (never both the defaults).
    ``friction_slot``: state observations hold the friction element from task 1 (see above)."""
    friction_slot = check_bool("friction_slot", friction_slot)
    if friction_slot and obs_type != "state":
        raise ValueError("friction_slot applies to obs_type='state' (pixels draw the track)")
    rng = np.random.default_rng(seed)
    while True:
        gravity = float(rng.choice(GRAVITY))
        masscart = float(rng.choice(MASSCART))
        if (gravity, masscart) != (9.8, 1.0):
            break
    base: dict = {"obs_type": obs_type}
    if friction_slot:
        base["observe_friction"] = True
    shifted = {**base, "gravity": gravity, "masscart": masscart}
    friction = {**shifted, "friction_cart": FRICTION, "friction_period": 5}
    forces = {**friction, "force_scales": FORCE_SCALES}
    return TaskSequence(
        name="cartpole",
        seed=seed,
        tasks=(
            Task(
                "default",
                "CausalCartPole-v0",
                base,
                frozenset(),
                "default physics, no friction",
                {"gravity": 9.8, "masscart": 1.0, "n_actions": 2, "new_state_dims": 0},
            ),
            Task(
                "shift",
                "CausalCartPole-v0",
                shifted,
                frozenset({"distribution_shift"}),
                f"gravity {gravity}, cart mass {masscart}",
                {"gravity": gravity, "masscart": masscart, "n_actions": 2, "new_state_dims": 0},
            ),
            Task(
                "friction",
                "CausalCartPole-v0",
                friction,
                frozenset({"state_expansion"}),
                "cart friction appears, cycling 3e-4, 5e-4, 7e-4 every 5 steps",
                {"gravity": gravity, "masscart": masscart, "n_actions": 2, "new_state_dims": 1},
            ),
            Task(
                "forces",
                "CausalCartPole-v0",
                forces,
                frozenset({"action_expansion"}),
                "six forces: 0.5, 1 and 1.5 x 10 N in both directions",
                {"gravity": gravity, "masscart": masscart, "n_actions": 6, "new_state_dims": 0},
            ),
        ),
    )
