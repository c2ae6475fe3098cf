"""HookSweep2: MuJoCo Fetch with a welded hook and two boxes (MoCoDA §5.2, SPEC §2).

``task`` holds the batched, simulator-free parts (goals, reward, structure, mask); ``scene``
builds the MuJoCo model from gymnasium-robotics' Fetch assets; ``env`` is the Gymnasium env;
``expert`` the scripted expert that collects the source-task data.
"""

from causal_envs.hooksweep.task import (
    HOOKSWEEP2_STRUCTURE,
    TASKS,
    hooksweep2_local_mask,
    hooksweep2_reward,
    sample_goals,
)

__all__ = [
    "HOOKSWEEP2_STRUCTURE",
    "TASKS",
    "hooksweep2_local_mask",
    "hooksweep2_reward",
    "sample_goals",
]
