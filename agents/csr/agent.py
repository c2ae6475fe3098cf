"""The CSR agent: the structured world model plus a policy learned in imagination.

    config = CSRConfig(world=WorldModelParams(latent_dim=8))
    agent = CSRAgent(obs_shape=(4,), n_actions=2, config=config)
    replay, curve = agent.learn(env, 20_000)         # source task: model + policy from scratch
    agent.record_threshold(env=env)                  # tau*: agent.threshold (detection.py)
    agent, replay, report = adapt(agent, new_env, task=1)  # detect / expand / prune
    replay, curve = agent.learn(new_env, 5_000, replay=replay)  # then keep learning

`agents.csr.run_sequence` runs these steps over a whole task sequence with Algorithm 1's
decisions and fixed budgets (see `agents.csr.continual`).

The policy and the critic read the compact latent state and the change factor ``theta``
(``pi(a | s, theta)``, CSR §3.4); the actor is trained with REINFORCE on imagined trajectories
of ``horizon`` steps from posterior states (λ-returns, a learned critic as baseline, an entropy
bonus), as the paper does for discrete actions. Acting filters observations online with the
representation model; training acts epsilon-greedily.

``CSRConfig.adaptation`` selects the method on a new task: ``"csr"`` (detect, expand, prune),
``"adarl"`` (re-estimate theta, never expand) or ``"finetune"`` (Dreamer: no masks, no theta,
keep training). Every structural change rebuilds the optimisers.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Categorical
from tqdm import tqdm

from agents.csr.detection import Reference, Threshold
from agents.csr.layers import BlockLinear
from agents.csr.replay import SequenceReplay
from agents.csr.world_model import StructuredWorldModel, WorldModelConfig, WorldModelParams
from causal_envs.core import Int, Real, check_fields
from causal_envs.core.checkpoint import CheckpointError, check_keys, load_checkpoint
from causal_envs.core.device import (
    AUTO,
    check_precision,
    keep_on_host,
    resolve_device,
    resolve_precision,
    training_autocast,
)
from causal_envs.core.rollout import model_rollout

__all__ = [
    "ADAPTATIONS",
    "CHECKPOINT_FORMAT",
    "EXPANSIONS",
    "TRAINING_SEEDS",
    "CSRAgent",
    "CSRConfig",
]

#: the layout of `CSRAgent.save`'s files; bumped whenever a file of the previous layout could
#: not rebuild the same agent (2: one ``D^{a->s}`` row, the compact policy, the standardised
#: reward's statistics, the threshold's own entry). `CSRAgent.load` refuses other versions.
CHECKPOINT_FORMAT = 2
#: what every CSR checkpoint holds (`CSRAgent.save`)
_CHECKPOINT_KEYS = (
    "format_version",
    "threshold",
    "config",
    "world",
    "actor",
    "critic",
    "thetas",
    "decisions",
    "counters",
)

DETECT_PROBES = ("random", "policy", "matched")
#: the range training episodes draw their reset seeds from: evaluation seeds below it (e.g.
#: `evaluate`'s default 10,000 on) are episodes the agent never trained on
TRAINING_SEEDS = (2**20, 2**31 - 1)
ADAPTATIONS = ("csr", "adarl", "finetune")
EXPANSIONS = ("self_adaptive", "random", "deterministic")


@dataclass
class CSRConfig:
    """Hyperparameters of the agent (defaults sized for state observations on a CPU); the
    world model's own are in ``world``.

    The detection constants (``threshold_scale``, ``detect_probe``, ``coverage_quantile``,
    ``theta_reg``) were chosen on seeds 0-2 of the quick profiles: docs/reference.md gives the
    measurements behind each ("The paper against the code, point by point"), and a claim about
    detection is out of sample only on other seeds (`bench csr-detection`).
    """

    #: the world model's sizes and loss weights (here: latent 16, the rest as Table 5)
    world: WorldModelParams = field(default_factory=lambda: WorldModelParams(latent_dim=16))
    #: sequences per world-model update
    batch_size: int = 20
    #: steps per training sequence
    seq_len: int = 30
    #: steps of each imagined trajectory (the policy learns from them)
    horizon: int = 8
    #: imagined trajectories per update (start states drawn from the batch's posteriors)
    imagine_starts: int = 256
    #: discount factor of the imagined returns
    gamma: float = 0.99
    #: lambda of the imagined lambda-returns
    lam: float = 0.95
    #: Adam's learning rate for the world model's weights
    model_lr: float = 6e-4
    #: Adam's learning rate for theta (and its edge gains during re-estimation)
    theta_lr: float = 1e-2
    #: the mask logits' learning rate, above the weights' so that the sparsity term can switch
    #: edges off within a CPU budget (docs/reference.md, "The world model")
    mask_lr: float = 1e-2
    #: Adam's learning rates for the actor and the critic
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    #: weight of the actor's entropy bonus
    entropy: float = 3e-3
    #: probability of a uniformly random action while collecting data
    epsilon: float = 0.1
    #: random-action steps collected first, while the replay holds fewer
    prefill: int = 500
    #: env steps per update
    train_every: int = 4
    #: transitions the replay keeps (oldest dropped first)
    replay_capacity: int = 300_000
    #: what to do on a new task: "csr", "adarl" or "finetune" (see the module docstring)
    adaptation: str = "csr"
    #: how the latent space grows (CSR 3.2): "self_adaptive", "random" or "deterministic"
    expansion: str = "self_adaptive"
    #: the expansion scope: at most this many new latent variables (Table 3: (0, 8])
    max_new: int = 8
    #: the Deterministic strategy's d' and its group-sparsity weight
    det_new: int = 6
    group_sparsity: float = 0.05
    #: updates of theta's re-estimation on a new task (`agents.csr.adaptation.detect`)
    detect_steps: int = 500
    #: a distribution shift if the error is at most this x tau* (the paper: 1 x tau*)
    threshold_scale: float = 2.5
    #: the data tau* and a new task's error are measured on: "policy" (fresh rollouts of the
    #: policy), "random" (random actions) or "matched" (`agents.csr.detection`)
    detect_probe: str = "matched"
    #: neighbours per probe step in the matched tau* (`Threshold.matched_tau`)
    match_neighbours: int = 16
    #: the matched probe decides on the steps inside this quantile of the reference's own
    #: neighbour distances (`Threshold.match_reference`); None: on every step
    coverage_quantile: float | None = 0.95
    #: below this fraction of covered probe steps, decide on every step (and say so)
    min_coverage: float = 0.1
    #: weight of the L2 pull of theta and its edge gains toward their values before the
    #: re-estimation (`CSRAgent.theta_anchored`): only a change the data shows moves them
    theta_reg: float = 1.0
    #: steps of data collected on a new task before deciding, and of training after expanding
    adapt_collect: int = 2_000
    #: updates of the new parts alone after an expansion (`train_new_parts`)
    expand_steps: int = 500
    #: Self-Adaptive controller: trials, training steps per trial, cost per added variable
    sa_trials: int = 4
    sa_train_steps: int = 150
    expansion_cost: float = 0.02
    #: initial weights, exploration and the replay's samples
    seed: int = 0
    #: where the world model and the policy train and act: "auto" (CUDA if available), "cpu",
    #: "cuda", "cuda:N"
    device: str = AUTO
    #: the world model's training step: "fp32", "bf16" (its forward pass and loss under
    #: bfloat16 autocast: convolutions and matrix products in bf16, the weights, gradients and
    #: optimiser in float32), or "auto" (bf16 where the device multiplies bfloat16 natively).
    #: Acting, imagination and the policy step stay float32
    precision: str = "fp32"

    def __post_init__(self) -> None:
        check_precision(self.precision)
        if self.adaptation not in ADAPTATIONS:
            raise ValueError(f"adaptation must be one of {ADAPTATIONS}, got {self.adaptation!r}")
        if self.expansion not in EXPANSIONS:
            raise ValueError(f"expansion must be one of {EXPANSIONS}, got {self.expansion!r}")
        if isinstance(self.world, dict):  # as stored by save()
            self.world = WorldModelParams(**self.world)
        if self.detect_probe not in DETECT_PROBES:
            raise ValueError(
                f"detect_probe must be one of {DETECT_PROBES}, got {self.detect_probe!r}"
            )
        check_fields(self, _CSR_RULES)
        if self.adaptation == "finetune" and (self.world.structured or self.world.use_theta):
            raise ValueError("the finetune (Dreamer) baseline has no masks and no theta")


#: CSRConfig's numeric fields and their ranges (`causal_envs.core.check_fields`)
_CSR_RULES: dict[str, Int | Real] = {
    "batch_size": Int(1),
    "seq_len": Int(2),
    "horizon": Int(1),
    "imagine_starts": Int(1),
    "prefill": Int(0),
    "train_every": Int(1),
    "replay_capacity": Int(2),
    "max_new": Int(1),
    "det_new": Int(1),
    "detect_steps": Int(0),
    "match_neighbours": Int(1),
    "adapt_collect": Int(1),
    "expand_steps": Int(0),
    "sa_trials": Int(1),
    "sa_train_steps": Int(0),
    "seed": Int(0),
    "gamma": Real(0.0, 1.0),
    "lam": Real(0.0, 1.0),
    "model_lr": Real(0.0),
    "theta_lr": Real(0.0),
    "mask_lr": Real(0.0),
    "actor_lr": Real(0.0),
    "critic_lr": Real(0.0),
    "entropy": Real(0.0),
    "epsilon": Real(0.0, 1.0),
    "group_sparsity": Real(0.0),
    "threshold_scale": Real(0.0),
    "theta_reg": Real(0.0),
    "min_coverage": Real(0.0, 1.0),
    "expansion_cost": Real(0.0),
    # None: every probe step counts as covered
    "coverage_quantile": Real(0.0, 1.0, low_open=True, optional=True),
}


class _Head(nn.Module):
    """``f(s, theta)``: a growable input block, one hidden layer, a growable output. The
    weights on theta start at zero (see ``__init__``)."""

    def __init__(self, latent: int, theta: int, hidden: int, out: int) -> None:
        super().__init__()
        self.inp = BlockLinear({"s": latent, "t": theta}, hidden)
        # theta starts without effect: the source task shows one theta, so weights on it could
        # not be learned there, and random ones would turn a re-estimated theta into noise
        with torch.no_grad():
            self.inp.weights["t"].zero_()
        self.mid = nn.Linear(hidden, hidden)
        self.out = BlockLinear({"h": hidden}, out)

    def forward(self, s: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        h = F.elu(self.mid(F.elu(self.inp(s=s, t=theta))))
        return self.out(h=h)


class CSRAgent:
    """World model + imagination actor-critic; see the module docstring.

    Args:
        obs_shape: the observation shape (``(dim,)`` or ``(H, W, 3)`` uint8 pixels).
        n_actions: the number of discrete actions.
        config: hyperparameters; ``adaptation`` names the method (``name`` follows it).
    """

    def __init__(
        self, obs_shape: tuple[int, ...], n_actions: int, config: CSRConfig | None = None
    ) -> None:
        self.config = config or CSRConfig()
        c = self.config
        # plain ints (a Discrete space's n is a NumPy integer): checkpoints hold plain values
        obs_shape = tuple(int(x) for x in obs_shape)
        if isinstance(n_actions, bool) or int(n_actions) != n_actions or n_actions < 1:
            raise ValueError(f"n_actions must be a positive integer, got {n_actions!r}")
        n_actions = int(n_actions)
        torch.manual_seed(c.seed)
        self.rng = np.random.default_rng(c.seed)
        self.device = resolve_device(c.device)
        #: the arithmetic of the world model's training steps ("auto" resolved)
        self._precision = resolve_precision(c.precision, self.device)
        with self.device:  # every parameter is made on the device
            self.world = StructuredWorldModel(
                WorldModelConfig.for_env(tuple(obs_shape), n_actions, c.world)
            )
            n_theta = self.world.theta.shape[0]
            d, hidden = c.world.latent_dim, c.world.hidden
            self.actor = _Head(d, n_theta, hidden, n_actions)
            self.critic = _Head(d, n_theta, hidden, 1)
        #: tau* of the latest finished task and its reference (`record_threshold`)
        self.threshold = Threshold()
        self.thetas: dict[int, torch.Tensor] = {}
        # the latent variables under group sparsity (`expand_latent`) and, while theta is
        # re-estimated, the values theta_reg pulls toward (`theta_anchored`): set and cleared
        # by the agent's own methods only (read them through `group_variables` and `anchor`)
        self._group: torch.Tensor | None = None
        self._anchor: dict[str, torch.Tensor] | None = None
        self.decisions: list[dict[str, Any]] = []
        self.n_updates = 0
        self.env_steps = 0
        self._live: list | None = None  # the running episode: [obs, return so far, env]
        self.rebuild_optimizers()
        self.reset_filter()

    @property
    def name(self) -> str:
        return {"csr": "CSR", "adarl": "AdaRL", "finetune": "Dreamer"}[self.config.adaptation]

    @property
    def n_actions(self) -> int:
        return self.world.n_actions

    @property
    def group_variables(self) -> torch.Tensor | None:
        """The latent variables the latest ``expand_latent(n, group_sparse=True)`` added (the
        Deterministic strategy, CSR §3.2): ``train_world`` adds ``group_sparsity`` x the L2
        norms of their outgoing weights to the loss. None before any such expansion and
        after pruning (`keep_latent`)."""
        return self._group

    @property
    def anchor(self) -> dict[str, torch.Tensor] | None:
        """While `theta_anchored` runs: parameter name -> the value ``theta_reg`` pulls it
        toward; None at any other time."""
        return self._anchor

    # ----------------------------------------------------------------- optimisation
    def rebuild_optimizers(self) -> None:
        """Fresh Adam optimisers over the current trainable parameters (after any structural
        change, or after freezing some; frozen ones are left out). theta and the mask
        logits have their own, larger learning rates (``theta_lr``, ``mask_lr``): theta is a
        handful of numbers re-estimated per task, and the masks must be able to turn off."""
        c = self.config
        trainable = [p for p in self.world.parameters() if p.requires_grad and p.numel()]
        special = {
            id(self.world.theta): c.theta_lr,
            id(self.world.transition.edge_gain): c.theta_lr,
        }
        special.update({id(g.logits): c.mask_lr for g in self.world.masks.values()})
        groups: dict[float, list[nn.Parameter]] = {}
        for p in trainable:
            groups.setdefault(special.get(id(p), c.model_lr), []).append(p)
        self.model_opt = (
            torch.optim.Adam([{"params": ps, "lr": lr} for lr, ps in groups.items()])
            if groups
            else None
        )
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=c.actor_lr)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=c.critic_lr)

    @contextmanager
    def theta_anchored(self, names: Iterable[str]) -> Iterator[None]:
        """Pull the world-model parameters ``names`` toward their current values while the
        block runs: ``train_world`` adds ``theta_reg * ||p - p_0||^2`` for each, so that when
        theta (and its edge gains) are re-estimated on a new task (CSR §3.1, Algorithm 1's
        detection) only a change the data shows moves them. The anchor is dropped when the
        block exits, an exception included.

            with agent.theta_anchored(["theta", "transition.edge_gain"]):
                ...  # train theta alone
        """
        if self._anchor is not None:
            raise RuntimeError("theta is already anchored (theta_anchored does not nest)")
        params = dict(self.world.named_parameters())
        self._anchor = {n: params[n].detach().clone() for n in names}
        try:
            yield
        finally:
            self._anchor = None

    def train_world(
        self, batch: dict[str, torch.Tensor]
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """One gradient step of the world model (or of theta alone, if so built). Returns the
        losses (detached 0-d tensors) and the batch's posterior states ``(B, T, latent_dim)``
        (detached; imagination starts from them)."""
        self.world.train()
        with training_autocast(self.device, self._precision):
            loss, parts, states = self.world.loss(batch)
        loss, states = loss.float(), states.float()
        if self._group is not None and self.config.group_sparsity > 0:
            group = self.world.group_norms()[self._group].sum()
            loss = loss + self.config.group_sparsity * group
            parts["loss/group"] = group.detach()
        if self._anchor is not None and self.config.theta_reg > 0:
            params = dict(self.world.named_parameters())
            pull = sum(((params[n] - v) ** 2).sum() for n, v in self._anchor.items())
            loss = loss + self.config.theta_reg * pull
            parts["loss/theta_anchor"] = pull.detach()
        if self.model_opt is not None:
            self.model_opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(self.world.parameters(), 100.0)
            self.model_opt.step()
        return parts, states

    def _theta(self, n: int) -> torch.Tensor:
        return self.world.theta.detach().expand(n, -1)

    def _compact(self) -> torch.Tensor:
        """The ``(d,)`` float mask of the compact state: the actor and the critic read
        ``s * mask``, so the policy is ``pi(a | s_min, theta)`` (CSR §3.4) and a variable
        pruning removes is one they already ignored (the world model itself reads all of s)."""
        return self.world.compact_mask().to(self.world.theta.dtype)

    def train_policy(self, start: torch.Tensor) -> dict[str, torch.Tensor]:
        """REINFORCE actor and λ-return critic on trajectories imagined from ``start``."""
        c = self.config
        world = self.world
        keep = self._compact()
        with torch.no_grad():
            world.eval()
            masks = world.mask_values()

            def step(s: torch.Tensor, a: torch.Tensor, t: int):
                nxt = world.prior(s, world.one_hot(a), masks).sample()
                r, cont = world.reward(nxt, masks), torch.sigmoid(world.continuation(nxt))
                return nxt, {"reward": r, "cont": cont}

            imagined = model_rollout(
                start=start.detach(),
                horizon=c.horizon,
                policy=lambda s, t: Categorical(
                    logits=self.actor(s * keep, self._theta(len(s)))
                ).sample(),
                step=step,
            )
            states, actions = imagined.states, imagined.actions
            rewards, conts = imagined.extras["reward"], imagined.extras["cont"]
            seq = torch.stack(states)  # (H+1, N, d)
            theta = self._theta(seq.shape[1])
            values = torch.stack([self.critic(x * keep, theta).squeeze(-1) for x in seq])
            rew, cont = torch.stack(rewards), torch.stack(conts)
            returns = torch.zeros_like(rew)
            nxt = values[-1]
            for t in reversed(range(c.horizon)):
                nxt = rew[t] + c.gamma * cont[t] * ((1 - c.lam) * values[t + 1] + c.lam * nxt)
                returns[t] = nxt
            weight = torch.cumprod(torch.cat([torch.ones_like(cont[:1]), cont[:-1]]), 0)
        flat_s = seq[:-1].reshape(-1, seq.shape[-1]) * keep
        th = self._theta(len(flat_s))
        dist = Categorical(logits=self.actor(flat_s, th))
        acts = torch.stack(actions).reshape(-1)
        adv = (returns - values[:-1]).reshape(-1)
        w = weight.reshape(-1)
        actor_loss = (
            -(w * dist.log_prob(acts) * adv).mean() - c.entropy * (w * dist.entropy()).mean()
        )
        self.actor_opt.zero_grad(set_to_none=True)
        actor_loss.backward()
        nn.utils.clip_grad_norm_(self.actor.parameters(), 100.0)
        self.actor_opt.step()
        v = self.critic(flat_s, th).squeeze(-1)
        critic_loss = (w * (v - returns.reshape(-1)) ** 2).mean()
        self.critic_opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        nn.utils.clip_grad_norm_(self.critic.parameters(), 100.0)
        self.critic_opt.step()
        return {
            "policy/actor": actor_loss.detach(),
            "policy/critic": critic_loss.detach(),
            "policy/imagined_return": returns[0].mean(),
        }

    def update(self, replay: SequenceReplay, policy: bool = True) -> dict[str, torch.Tensor]:
        """One world-model step and (optionally) one policy step on a sampled batch (moved to
        the device in one copy); returns the losses as detached 0-d tensors."""
        c = self.config
        batch = replay.sample(c.batch_size, c.seq_len, self.rng, self.device)
        parts, states = self.train_world(batch)
        if policy:
            start = states.reshape(-1, self.world.latent_dim)
            if len(start) > c.imagine_starts:
                pick = self.rng.choice(len(start), c.imagine_starts, replace=False)
                start = start[torch.as_tensor(pick, device=start.device)]
            parts.update(self.train_policy(start))
        self.n_updates += 1
        return parts

    # ----------------------------------------------------------------- acting
    def reset_filter(self) -> None:
        """Forget the online latent state (call at every episode start)."""
        self._s = torch.zeros(1, self.world.latent_dim, device=self.device)
        self._a: int | None = None

    @torch.no_grad()
    def act(self, obs: Any, greedy: bool = True, actions: int | None = None) -> int:
        """The action for one observation, filtering the latent state online; with
        ``actions``, chosen among the first ``actions`` actions only."""
        n = self.n_actions if actions is None else actions
        self.world.eval()
        o = torch.as_tensor(np.asarray(obs)[None], device=self.device)
        if not self.world.config.pixels:
            o = o.float()
        a_prev = torch.zeros(1, self.n_actions, device=self.device)
        if self._a is not None:
            a_prev[0, self._a] = 1.0
        self._s = self.world.posterior_mean(self._s, a_prev, self.world.embed(o))
        logits = self.actor(self._s * self._compact(), self._theta(1))[..., :n]
        if not torch.isfinite(logits).all():
            raise FloatingPointError(
                "CSR's online filter diverged: the latent state it feeds back step after step "
                f"reached {float(self._s.abs().max()):.3g} and the policy's logits are not "
                f"finite (after {self.env_steps} env steps). Nothing bounds the filter over a "
                "whole episode (docs/reference.md, the transition model's row)"
            )
        if greedy:
            a = int(logits.argmax(-1))
        elif self.rng.random() < self.config.epsilon:
            a = int(self.rng.integers(n))
        else:
            a = int(Categorical(logits=logits).sample())
        self._a = a
        return a

    def learn(
        self,
        env: gym.Env,
        steps: int,
        replay: SequenceReplay | None = None,
        eval_env: gym.Env | None = None,
        eval_every: int = 0,
        eval_episodes: int = 5,
        progress: bool = False,
    ) -> tuple[SequenceReplay, list[tuple[int, float]]]:
        """Interact for ``steps`` env steps, training every ``train_every`` steps.

        Returns the replay and a learning curve ``(env steps so far, score)``: evaluation
        scores every ``eval_every`` steps when ``eval_env`` is given, else training returns.
        """
        c = self.config
        if replay is None:
            replay = self.new_replay(env)
        if len(replay) < c.prefill:
            self.collect(env, c.prefill - len(replay), replay, random=True)
        curve: list[tuple[int, float]] = []
        done = 0
        bar = tqdm(total=steps, desc=self.name, disable=not progress, mininterval=1.0)
        while done < steps:
            chunk = min(c.train_every, steps - done)
            for r in self.collect(env, chunk, replay):
                if eval_env is None:
                    curve.append((self.env_steps, r))
            self.update(replay)
            done += chunk
            bar.update(chunk)
            if eval_env is not None and eval_every and done % eval_every < chunk:
                curve.append(
                    (self.env_steps, float(np.mean(self.evaluate(eval_env, eval_episodes))))
                )
        bar.close()
        return replay, curve

    def collect(
        self,
        env: gym.Env,
        steps: int,
        replay: SequenceReplay,
        random: bool = False,
        actions: int | None = None,
    ) -> list[float]:
        """Act ``steps`` env steps into ``replay`` (uniformly random or epsilon-greedy),
        continuing the running episode on ``env``; returns the returns of finished episodes.
        ``actions``: act among the first ``actions`` actions only (all by default)."""
        if actions is not None and not 1 <= actions <= self.n_actions:
            raise ValueError(f"actions must be in [1, {self.n_actions}], got {actions}")
        n = self.n_actions if actions is None else actions
        finished: list[float] = []
        if self._live is None or self._live[2] is not env:
            obs, _ = env.reset(seed=int(self.rng.integers(*TRAINING_SEEDS)))
            self.reset_filter()
            replay.add(obs, 0, 0.0, True, True)
            self._live = [obs, 0.0, env]
        obs, ep_return, _ = self._live
        for _ in range(steps):
            if random:
                a = int(self.rng.integers(n))
            else:
                a = self.act(obs, greedy=False, actions=actions)
            obs, r, terminated, truncated, _ = env.step(a)
            replay.add(obs, a, float(r), not terminated, False)
            ep_return += float(r)
            self.env_steps += 1
            if terminated or truncated:
                finished.append(ep_return)
                ep_return = 0.0
                obs, _ = env.reset(seed=int(self.rng.integers(*TRAINING_SEEDS)))
                self.reset_filter()
                replay.add(obs, 0, 0.0, True, True)
        self._live = [obs, ep_return, env]
        return finished

    def evaluate(self, env: gym.Env, episodes: int = 5, seed: int = 10_000) -> list[float]:
        """Greedy episode returns (the online filter's state is saved and restored)."""
        saved = (self._s, self._a)
        scores = []
        for i in range(episodes):
            obs, _ = env.reset(seed=seed + i)
            self.reset_filter()
            total, done = 0.0, False
            while not done:
                obs, r, terminated, truncated, _ = env.step(self.act(obs, greedy=True))
                total += float(r)
                done = terminated or truncated
            scores.append(total)
        self._s, self._a = saved
        return scores

    def new_replay(self, env: gym.Env) -> SequenceReplay:
        space = env.observation_space
        return SequenceReplay(self.config.replay_capacity, space.shape, space.dtype)

    # ----------------------------------------------------------------- structure changes
    def record_threshold(
        self, replay: SequenceReplay | None = None, env: gym.Env | None = None, batches: int = 8
    ) -> float:
        """Measure tau* on the current task and keep it in ``self.threshold`` (CSR §3.1,
        Algorithm 1: the final prediction error of the model on the finished task); returns it.

        With ``env``, the error is measured on ``adapt_collect`` fresh steps there, of the
        behaviour ``detect_probe`` names (`probe_replay`): the protocol the adaptation applies
        to a new task, so the two errors compare like with like (the training replay's error
        is in-sample, hence optimistic, and mixes in the early random data). Without ``env``,
        on ``replay``. With ``detect_probe="matched"`` (and ``env``) the per-step states and
        errors of that probe and of a fresh random-action probe become the threshold's
        reference (`Threshold.matched_tau`); otherwise the threshold has no reference (an
        earlier task's would describe states of a model that has since moved on), and the
        adaptation compares with the plain tau*.
        """
        if env is not None:
            replay = self.probe_replay(env)
        if replay is None:
            raise ValueError("record_threshold needs the task's replay or its env")
        states, errors = self.step_errors(replay, batches)
        tau = self.threshold.record(errors)  # = prediction_error(replay, batches)
        self.threshold.reference = None
        if env is not None and self.config.detect_probe == "matched":
            more_states, more_errors = self.step_errors(self.probe_replay(env, random=True))
            self.threshold.reference = Reference(
                np.concatenate([states, more_states]), np.concatenate([errors, more_errors])
            )
        return tau

    def probe_replay(
        self, env: gym.Env, random: bool | None = None, actions: int | None = None
    ) -> SequenceReplay:
        """``adapt_collect`` fresh steps on ``env`` for measuring the prediction error: with
        uniformly random actions (``random``; by default when ``detect_probe="random"``) or
        the current policy, among the first ``actions`` actions (all by default)."""
        if random is None:
            random = self.config.detect_probe == "random"
        replay = self.new_replay(env)
        self.end_episode()
        self.collect(env, self.config.adapt_collect, replay, random=random, actions=actions)
        self.end_episode()
        return replay

    def prediction_error(self, replay: SequenceReplay, batches: int = 8) -> float:
        """CSR's forward prediction error, averaged over ``batches`` batches of windows of
        ``replay`` (the same windows every time)."""
        return float(np.mean(self.step_errors(replay, batches)[1]))

    def step_errors(
        self, replay: SequenceReplay, batches: int = 8
    ) -> tuple[np.ndarray, np.ndarray]:
        """The latent states ``(N, latent_dim)`` and forward prediction errors ``(N,)`` of the
        steps in ``batches`` batches of windows of ``replay`` (the same windows every time)."""
        rng = np.random.default_rng(12345)
        c = self.config
        states, errors = [], []
        for _ in range(batches):
            s, e = self.world.step_errors(replay.sample(c.batch_size, c.seq_len, rng, self.device))
            states.append(s.float().cpu().numpy())
            errors.append(e.float().cpu().numpy())
        return np.concatenate(states), np.concatenate(errors)

    def expand_latent(self, n: int, group_sparse: bool = False) -> None:
        """Add ``n`` latent variables (CSR §3.2) to the world model and to the policy's and
        critic's inputs. ``group_sparse``: put the new variables under group sparsity (the
        Deterministic strategy, after DEN): they become `group_variables`, replacing any
        earlier group."""
        d = self.world.latent_dim
        self.world.expand_latent(n)
        for head in (self.actor, self.critic):
            head.inp.grow_in("s", n)
        if group_sparse:
            self._group = torch.arange(d, d + n, device=self.device)
        self._after_change()

    def expand_actions(self, n: int) -> None:
        self.world.expand_actions(n)
        self.actor.out.grow_out(n, like="mean")
        self._after_change()

    def expand_observation(self, n: int) -> None:
        self.world.expand_observation(n)
        self._after_change()

    def keep_latent(self, keep: torch.Tensor) -> None:
        """Keep only the latent variables ``keep`` (pruning, CSR §3.3); the group-sparsity
        group is dropped."""
        self.world.keep_latent(keep)
        for head in (self.actor, self.critic):
            head.inp.select_in("s", keep)
        self._group = None
        self._after_change()

    def end_episode(self) -> None:
        """Forget the running episode: the next ``collect`` starts a fresh one (call it when
        the env changes hands, e.g. after a copy of the agent acted in it)."""
        self._live = None

    def _after_change(self) -> None:
        self.rebuild_optimizers()
        self.reset_filter()
        self.end_episode()

    # ----------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Config, world model (with its current sizes), policy, threshold (tau* and its
        reference), thetas, decisions."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        torch.save(
            {
                "format_version": CHECKPOINT_FORMAT,
                "config": asdict(self.config),
                "world": self.world.export(),
                "actor": self.actor.state_dict(),
                "critic": self.critic.state_dict(),
                "threshold": self.threshold.state_dict(),
                "thetas": self.thetas,
                "decisions": self.decisions,
                "counters": (self.n_updates, self.env_steps),
            },
            tmp,
        )
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = AUTO) -> CSRAgent:
        """Rebuild a saved agent on ``device``, whichever device saved it. A file of another
        layout (`CHECKPOINT_FORMAT`; one written before the format was versioned) is refused
        with a `CheckpointError`: its weights would not rebuild the same agent."""
        blob = load_checkpoint(path, "CSR agent", map_location=keep_on_host)
        if "agent" in blob:  # an offline agent's checkpoint (agents.common.save)
            raise CheckpointError(f"{path} holds a {blob['agent']!r} agent, not a CSR agent")
        version = blob.get("format_version")
        if version != CHECKPOINT_FORMAT:
            raise CheckpointError(
                f"{path} is a CSR checkpoint of format {version or 'unversioned (before 2)'}; "
                f"this causal-envs reads format {CHECKPOINT_FORMAT} only: retrain the agent, or "
                "load it with the version that wrote it"
            )
        check_keys(blob, path, "CSR agent", _CHECKPOINT_KEYS)
        try:
            config = replace(CSRConfig(**blob["config"]), device=str(device))
        except TypeError as err:
            raise CheckpointError(f"{path}: its CSR config is not this version's ({err})") from None
        wc = blob["world"]["config"]
        world = replace(config.world, latent_dim=wc["latent_dim"])
        agent = cls(tuple(wc["obs_shape"]), wc["n_actions"], replace(config, world=world))
        agent.world = StructuredWorldModel.rebuild(blob["world"], agent.device)
        agent.actor.load_state_dict(blob["actor"])
        agent.critic.load_state_dict(blob["critic"])
        agent.threshold = Threshold.from_state_dict(blob["threshold"])
        agent.thetas = blob["thetas"]
        agent.decisions = blob["decisions"]
        agent.n_updates, agent.env_steps = blob["counters"]
        agent._after_change()
        return agent
