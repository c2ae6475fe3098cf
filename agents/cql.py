"""CQL as MoCoDA's code defines it: SAC with a conservative penalty toward the target range.

SAC: a tanh-Gaussian actor, twin critics with soft clipped double-Q targets, fixed entropy
coefficient 0.2, Polyak targets (0.005). The conservative term (weight 0.1) pulls the mean Q of
uniformly random actions down to the low end of the target range and the mean Q of the data's
actions up to the high end, both averaged over the two critics (each critic scores its own
batch of random actions): ``0.1 * (|mean (Q1(s, u1) + Q2(s, u2)) / 2 - low| + |mean (Q1(s, a)
+ Q2(s, a)) / 2 - high|)`` with ``u1, u2 ~ U[-1, 1]`` and ``(low, high) = target_clip``, which
is (-40, 0) here, as in the authors' Nav2D script for CQL (the other agents use (-50, 0)).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from agents.common import OfflineAgent, OfflineConfig, TwinQ, adam, frozen, mlp, polyak_
from causal_envs.core import Int, Range, Real, Sizes

__all__ = ["CQL", "CQLConfig"]


@dataclass
class CQLConfig(OfflineConfig):
    """CQL's settings over `OfflineConfig`'s: a SAC actor-critic with the conservative term."""

    #: Q targets are clipped to this range, and the conservative term pulls toward its ends
    target_clip: tuple[float, float] | None = (-40.0, 0.0)
    #: SAC's entropy temperature (fixed)
    alpha: float = 0.2
    #: weight of the conservative term (logsumexp of Q minus Q on the data's actions)
    cql_weight: float = 0.1
    #: Polyak rate of the target critics, in (0, 1]
    tau: float = 0.005
    #: the actor's log standard deviation is clamped to this range
    log_std_range: tuple[float, float] = (-5.0, 2.0)

    RULES: ClassVar[dict[str, Int | Range | Real | Sizes]] = {
        **OfflineConfig.RULES,
        "alpha": Real(0.0),
        "cql_weight": Real(0.0),
        "tau": Real(0.0, 1.0, low_open=True),
        "log_std_range": Range(),
    }


class _TanhGaussian(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int, hidden: tuple[int, ...], log_std_range):
        super().__init__()
        self.net = mlp(obs_dim, 2 * act_dim, hidden)
        self.act_dim = act_dim
        self.lo, self.hi = log_std_range

    def forward(self, obs: torch.Tensor, generator: torch.Generator | None = None):
        mean, log_std = self.net(obs).split(self.act_dim, dim=1)
        log_std = log_std.clamp(self.lo, self.hi)
        std = log_std.exp()
        eps = torch.randn(mean.shape, generator=generator, device=mean.device)
        pre = mean + std * eps
        act = torch.tanh(pre)
        log_prob = (-0.5 * eps**2 - log_std - 0.5 * math.log(2 * math.pi)).sum(1)
        log_prob = log_prob - (2 * (math.log(2) - pre - F.softplus(-2 * pre))).sum(1)
        return act, log_prob, torch.tanh(mean)


class CQL(OfflineAgent):
    """Soft actor-critic with MoCoDA's conservative Q penalty."""

    name = "cql"
    label = "CQL"
    config_class = CQLConfig

    def __init__(self, config: CQLConfig | None = None) -> None:
        super().__init__(config or CQLConfig())

    def _build(self, obs_dim: int, act_dim: int) -> None:
        c = self.config
        self.actor = _TanhGaussian(obs_dim, act_dim, tuple(c.hidden), c.log_std_range)
        self.critic = TwinQ(obs_dim, act_dim, tuple(c.hidden))
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor_opt = adam(self.actor.parameters(), c.lr)
        self.critic_opt = adam(self.critic.parameters(), c.lr)

    def _modules(self):
        return {
            "actor": self.actor,
            "critic": self.critic,
            "critic_target": self.critic_target,
            "actor_opt": self.actor_opt,
            "critic_opt": self.critic_opt,
        }

    def _update(self, batch):
        c = self.config
        obs, act, rew, next_obs, done = batch
        with torch.no_grad():
            next_act, next_logp, _ = self.actor(next_obs, self._gen)
            q_next = self.critic_target.min(next_obs, next_act)
            target = self.clip_target(rew + c.gamma * (1.0 - done) * (q_next - c.alpha * next_logp))
        q1, q2 = self.critic(obs, act)
        u1, u2 = (
            torch.rand(act.shape, generator=self._gen, device=self.device) * 2 - 1 for _ in range(2)
        )
        r1 = self.critic.q1(torch.cat([obs, u1], 1)).squeeze(1)
        r2 = self.critic.q2(torch.cat([obs, u2], 1)).squeeze(1)
        low, high = c.target_clip if c.target_clip is not None else (-40.0, 0.0)
        penalty = ((r1 + r2).mean() / 2 - low).abs() + ((q1 + q2).mean() / 2 - high).abs()
        critic_loss = F.mse_loss(q1, target) + F.mse_loss(q2, target) + c.cql_weight * penalty
        self.critic_opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_opt.step()
        pi, logp, _ = self.actor(obs, self._gen)
        with frozen(self.critic):
            actor_loss = (c.alpha * logp - self.critic.min(obs, pi)).mean()
        self.actor_opt.zero_grad(set_to_none=True)
        actor_loss.backward()
        self.actor_opt.step()
        polyak_(self.critic_target, self.critic, c.tau)
        return {
            "loss/critic": critic_loss.detach(),
            "loss/actor": actor_loss.detach(),
            "loss/cql_penalty": penalty.detach(),
            "q/mean": q1.detach().mean(),
        }

    def _policy(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor(obs)[2]
