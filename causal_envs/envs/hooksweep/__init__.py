"""HookSweep2: MuJoCo Fetch with a welded hook and two boxes (MoCoDA section 5.2, appendix C.2).

``model`` holds the batched, simulator-free parts (`HookSweep2Model`: goals, reward,
structure, mask); ``scene`` builds the MuJoCo model from gymnasium-robotics' Fetch assets;
``env`` is the Gymnasium env; ``expert`` the scripted expert that collects the source-task data.
Importing this package does not import MuJoCo.
"""

from causal_envs.envs.hooksweep.model import GOAL_MODES, HOOKSWEEP2_STRUCTURE, HookSweep2Model

__all__ = ["GOAL_MODES", "HOOKSWEEP2_STRUCTURE", "HookSweep2Model"]
