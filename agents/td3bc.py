"""TD3-BC (Fujimoto & Gu, 2021) as MoCoDA's code uses it.

Twin critics with clipped double-Q targets, target-policy smoothing (noise 0.2, clipped at 0.5),
a deterministic tanh actor updated every second step with
``loss = -min(Q1, Q2)(s, pi(s)) + bc_weight * MSE(pi(s), a_data)`` (``bc_weight`` 1.0, no Q
normalisation), Polyak-averaged target critics (0.005), and Q targets clipped to (-50, 0).

The target's next action comes from the *online* actor, as in the authors' mrl TD3
(``target_policy="online"``); Fujimoto's TD3 keeps a Polyak-averaged target actor for it
(``target_policy="target"``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from agents.common import OfflineAgent, OfflineConfig, TwinQ, adam, frozen, mlp, polyak_
from causal_envs.core import Int, Range, Real, Sizes

__all__ = ["TD3BC", "TD3BCConfig"]


@dataclass
class TD3BCConfig(OfflineConfig):
    """TD3-BC's settings over `OfflineConfig`'s (Fujimoto and Gu, 2021)."""

    #: weight of the behaviour-cloning term against the normalised Q term (their alpha)
    bc_weight: float = 1.0
    #: standard deviation of the target policy's smoothing noise
    policy_noise: float = 0.2
    #: the smoothing noise is clipped to +-this
    noise_clip: float = 0.5
    #: critic updates per actor update
    policy_delay: int = 2
    #: Polyak rate of the target networks, in (0, 1]
    tau: float = 0.005
    #: which actor picks the target's next action: "online" (the authors' mrl) or "target"
    target_policy: str = "online"

    RULES: ClassVar[dict[str, Int | Range | Real | Sizes]] = {
        **OfflineConfig.RULES,
        "bc_weight": Real(0.0),
        "policy_noise": Real(0.0),
        "noise_clip": Real(0.0),
        "policy_delay": Int(1),
        "tau": Real(0.0, 1.0, low_open=True),
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.target_policy not in ("online", "target"):
            raise ValueError(
                f"target_policy must be 'online' or 'target', got {self.target_policy!r}"
            )


class TD3BC(OfflineAgent):
    """TD3 with a behaviour-cloning term in the actor loss."""

    name = "td3bc"
    label = "TD3-BC"
    config_class = TD3BCConfig

    def __init__(self, config: TD3BCConfig | None = None) -> None:
        super().__init__(config or TD3BCConfig())

    def _build(self, obs_dim: int, act_dim: int) -> None:
        c = self.config
        self.actor = mlp(obs_dim, act_dim, tuple(c.hidden), nn.Tanh())
        self.critic = TwinQ(obs_dim, act_dim, tuple(c.hidden))
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor_opt = adam(self.actor.parameters(), c.lr)
        self.critic_opt = adam(self.critic.parameters(), c.lr)

    def _modules(self):
        return {
            "actor": self.actor,
            "critic": self.critic,
            "actor_target": self.actor_target,
            "critic_target": self.critic_target,
            "actor_opt": self.actor_opt,
            "critic_opt": self.critic_opt,
        }

    def _update(self, batch):
        c = self.config
        obs, act, rew, next_obs, done = batch
        with torch.no_grad():
            noise = torch.randn(act.shape, generator=self._gen, device=self.device)
            noise = (noise * c.policy_noise).clamp(-c.noise_clip, c.noise_clip)
            picker = self.actor if c.target_policy == "online" else self.actor_target
            next_act = (picker(next_obs) + noise).clamp(-1.0, 1.0)
            q_next = self.critic_target.min(next_obs, next_act)
            target = self.clip_target(rew + c.gamma * (1.0 - done) * q_next)
        q1, q2 = self.critic(obs, act)
        critic_loss = F.mse_loss(q1, target) + F.mse_loss(q2, target)
        self.critic_opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_opt.step()
        out = {"loss/critic": critic_loss.detach(), "q/mean": q1.detach().mean()}
        if self.n_updates % c.policy_delay == 0:
            pi = self.actor(obs)
            with frozen(self.critic):
                q_pi = self.critic.min(obs, pi)
            bc = F.mse_loss(pi, act)
            actor_loss = -q_pi.mean() + c.bc_weight * bc
            self.actor_opt.zero_grad(set_to_none=True)
            actor_loss.backward()
            self.actor_opt.step()
            polyak_(self.actor_target, self.actor, c.tau)
            polyak_(self.critic_target, self.critic, c.tau)
            out |= {"loss/actor": actor_loss.detach(), "loss/bc": bc.detach()}
        return out

    def _policy(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor(obs)
