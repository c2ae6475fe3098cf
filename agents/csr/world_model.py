"""CSR's structured world model (Eq. 2): a latent state-space model with explicit structure.

Per time step, with latent ``s_t`` (``d`` variables), discrete action ``a_t`` and the task's
change factor ``theta = (theta_o, theta_r, theta_s)``:

- observation model ``p(o_t | D^{s->o} * s_t, D^{theta_o->o} * theta_o)``;
- reward model ``p(r_t | D^{s->r} * s_t, D^{theta_r->r} * theta_r)``;
- a continuation model ``p(c_t | s_t)`` for episodes that end (Dreamer's discount head; the
  paper's Eq. 2 has none). It reads the whole latent state, not ``D^{s->r} * s_t``: where the
  reward is constant (CartPole's +1 a step) the sparsity term rightly switches every
  ``s->r`` edge off, and a continuation behind that mask would lose every state it depends on
  with them, so imagined episodes would never end and the critic would see no difference
  between a balanced pole and a falling one;
- transition model ``p(s_{k,t} | D^{s->s}_k * s_{t-1}, D^{theta_s->s}_k * theta_s,
  D^{a->s}_k * a_{t-1})``, one MLP per variable ``k`` (`FactoredTransition`). The action is
  one variable of the graph, so ``D^{a->s}`` has one row: one edge from the action to each
  latent variable, shared by the entries of the one-hot. (With a row per action value, each
  edge would see data only on the steps that took its action - 1 in 33 on the synthetic
  POMDP - against the sparsity term's pressure on every step, and every action edge
  switched off: the imagined latent states then ignored the action, and the policy learned
  from them more slowly than Dreamer's.);
- representation model ``q(s_t | s_{t-1}, theta_s, a_{t-1}, o_t)``.

The reward model learns the reward standardised by its running mean and standard deviation
(`StructuredWorldModel.track_reward`) and answers in the env's units. The sparsity term puts
the same price on every edge whatever the unit of what it predicts; in the env's units, on the
synthetic POMDP (rewards varying by about 0.25 a step), an ``s->r`` edge saved less squared
error than it cost, every reward edge switched off, and the policy learned from a constant
imagined reward.

The masks ``D`` are `MaskGate` s (sigmoid or Gumbel-sigmoid relaxation). The objective
is CSR's ``L = L_rec - L_KL + L_reg``; `StructuredWorldModel.loss` returns its negative
to minimise: reconstruction (Gaussian, unit variance) + ``kl_scale`` x KL(posterior || prior)
(balanced as in DreamerV2, free nats on the posterior side) + ``sparsity`` x (L1 of every mask
+ L1 of theta).

Vector observations use MLP encoders and decoders; image observations ``(H, W, 3)`` uint8 use
small conv nets. ``structured=False, use_theta=False`` gives the unstructured Dreamer-style
baseline with the same sizes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Normal, kl_divergence

from agents.csr.layers import BlockLinear, FactoredTransition
from agents.csr.masks import MaskGate

__all__ = ["MASK_NAMES", "StructuredWorldModel", "WorldModelConfig", "WorldModelParams"]

#: the structural masks D of Eq. (2), in the arrow notation of ``causal_envs.core.LATENT_EDGES``
#: (the world model has one change factor per target: theta_s, theta_o and theta_r)
MASK_NAMES = ("s->s", "a->s", "theta_s->s", "s->o", "theta_o->o", "s->r", "theta_r->r")
#: the weight of the past in the reward's running location and scale (per training batch)
REWARD_MOMENTUM = 0.99
#: the smallest reward scale: a constant reward (CartPole's +1 a step) has no spread, and its
#: standardised target stays 0 instead of a division by zero
REWARD_SCALE_FLOOR = 1e-2


@dataclass(frozen=True)
class WorldModelParams:
    """Sizes and loss weights of the world model, independent of the env.

    Defaults: CSR's CartPole column of Table 5 (latent 30, hidden 100, theta 2 each), with the
    Gumbel-sigmoid relaxation: with a plain sigmoid the weights grow to undo a shrinking mask,
    so under the sparsity term every edge fades together and the hard evaluation masks lose
    them all (measured on CartPole, mask_lr 1e-2).
    """

    #: latent variables of the state s (CSR's expansions add to them)
    latent_dim: int = 30
    #: sizes of the change factors theta_o, theta_r and theta_s (Eq. 2)
    theta_o: int = 2
    theta_r: int = 2
    theta_s: int = 2
    #: hidden units of every MLP (one per latent variable in the transition)
    hidden: int = 100
    #: the observation embedding's width; None: the same as ``hidden``
    embed: int | None = None
    #: learn the masks D (False: every edge on, Dreamer's unstructured model)
    structured: bool = True
    #: learn the change factors theta (False: none)
    use_theta: bool = True
    #: the masks' relaxation in training: "gumbel" (Gumbel-sigmoid, straight-through) or
    #: "sigmoid"
    relaxation: str = "gumbel"
    #: weight of the KL term (Table 5 gives 0.02; see docs/reference.md for why 1.0)
    kl_scale: float = 1.0
    #: the posterior's side of the KL is not penalised below this many nats (free nats)
    free_nats: float = 1.0
    #: the KL's weight on training the prior rather than the posterior (DreamerV2's balance)
    kl_balance: float = 0.8
    #: weight of the L1 sparsity term on the masks and theta (L_reg of Eq. 3)
    sparsity: float = 0.02
    #: the floor of every predicted standard deviation
    min_std: float = 0.1
    #: every mask logit's initial value (3.0: an edge starts on with probability 0.95)
    mask_init_logit: float = 3.0
    #: model the reward in units of its own running standard deviation (see
    #: `StructuredWorldModel.track_reward`); False: in the env's units
    standardise_reward: bool = True

    def __post_init__(self) -> None:
        if self.embed is None:
            object.__setattr__(self, "embed", self.hidden)
        if self.latent_dim < 1 or self.hidden < 1 or self.embed < 1:
            raise ValueError("latent_dim, hidden and embed must be positive")
        if min(self.theta_o, self.theta_r, self.theta_s) < 0:
            raise ValueError("theta sizes must be >= 0")

    @property
    def thetas(self) -> tuple[int, int, int]:
        """Sizes of (theta_o, theta_r, theta_s); zeros without change factors."""
        if not self.use_theta:
            return (0, 0, 0)
        return (self.theta_o, self.theta_r, self.theta_s)


@dataclass(frozen=True, kw_only=True)
class WorldModelConfig(WorldModelParams):
    """`WorldModelParams` plus what the env decides: the observation shape and the
    number of discrete actions (both grow with CSR's expansions)."""

    obs_shape: tuple[int, ...]
    n_actions: int

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "obs_shape", tuple(int(x) for x in self.obs_shape))
        if self.n_actions < 1:
            raise ValueError("n_actions must be positive")
        if len(self.obs_shape) not in (1, 3):
            raise ValueError(f"obs_shape must be (dim,) or (H, W, C), got {self.obs_shape}")

    @classmethod
    def for_env(
        cls, obs_shape: tuple[int, ...], n_actions: int, params: WorldModelParams
    ) -> WorldModelConfig:
        """The config of a world model with ``params`` for an env's spaces."""
        return cls(obs_shape=tuple(obs_shape), n_actions=n_actions, **asdict(params))

    @property
    def pixels(self) -> bool:
        return len(self.obs_shape) == 3


class _ConvEncoder(nn.Module):
    def __init__(self, shape: tuple[int, int, int], embed: int) -> None:
        super().__init__()
        h, w, c = shape
        self.net = nn.Sequential(
            nn.Conv2d(c, 16, 4, 2, 1),
            nn.ELU(),
            nn.Conv2d(16, 32, 4, 2, 1),
            nn.ELU(),
            nn.Conv2d(32, 64, 4, 2, 1),
            nn.ELU(),
            nn.Conv2d(64, 64, 4, 2, 1),
            nn.ELU(),
            nn.Flatten(),
        )
        # channels-last kernels: the frames arrive (B, H, W, C), which permuted is a
        # channels-last (B, C, H, W) already, so nothing is copied between layouts
        self.net.to(memory_format=torch.channels_last)
        self.out = nn.Linear(64 * (h // 16) * (w // 16), embed)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs.permute(0, 3, 1, 2)
        return F.elu(self.out(self.net(x)))


class _ConvDecoder(nn.Module):
    def __init__(self, hidden: int, shape: tuple[int, int, int]) -> None:
        super().__init__()
        h, w, c = shape
        self.grid = (h // 16, w // 16)
        self.fc = nn.Linear(hidden, 64 * self.grid[0] * self.grid[1])
        self.net = nn.Sequential(
            nn.ConvTranspose2d(64, 64, 4, 2, 1),
            nn.ELU(),
            nn.ConvTranspose2d(64, 32, 4, 2, 1),
            nn.ELU(),
            nn.ConvTranspose2d(32, 16, 4, 2, 1),
            nn.ELU(),
            nn.ConvTranspose2d(16, c, 4, 2, 1),
        )
        # channels-last, as the encoder: the frames leave (B, H, W, C) without a copy
        self.net.to(memory_format=torch.channels_last)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        x = self.fc(h).view(-1, 64, *self.grid).contiguous(memory_format=torch.channels_last)
        return self.net(x).permute(0, 2, 3, 1)


def _detached(d: Normal) -> Normal:
    return Normal(d.mean.detach(), d.stddev.detach())


def _mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ELU(), nn.Linear(hidden, n_out))


class StructuredWorldModel(nn.Module):
    """The world model of CSR's Eq. (2); see the module docstring."""

    def __init__(self, config: WorldModelConfig) -> None:
        super().__init__()
        c = config
        self.config = c
        d, n_a, hd = c.latent_dim, c.n_actions, c.hidden
        t_o, t_r, t_s = c.thetas
        gate = {
            "relaxation": c.relaxation,
            "enabled": c.structured,
            "init_logit": c.mask_init_logit,
        }
        self.theta = nn.Parameter(torch.zeros(t_o + t_r + t_s), requires_grad=c.use_theta)
        self.masks = nn.ModuleDict(
            {
                "s->s": MaskGate(d, d, **gate),
                "a->s": MaskGate(1, d, **gate),  # the action is one variable
                "theta_s->s": MaskGate(t_s, d, **gate),
                "s->o": MaskGate(d, 1, **gate),
                "theta_o->o": MaskGate(t_o, 1, **gate),
                "s->r": MaskGate(d, 1, **gate),
                "theta_r->r": MaskGate(t_r, 1, **gate),
            }
        )
        # representation model q(s_t | s_{t-1}, theta_s, a_{t-1}, o_t)
        if c.pixels:
            self.encoder: nn.Module = _ConvEncoder(c.obs_shape, c.embed)
        else:  # the first and last layers grow with the observation (expand_observation)
            self.obs_enc_in = BlockLinear({"o": c.obs_shape[0]}, hd)
            self.encoder = nn.Sequential(nn.ELU(), nn.Linear(hd, c.embed), nn.ELU())
        self.post_in = BlockLinear({"e": c.embed, "s": d, "a": n_a, "t": t_s}, hd)
        self.post_mean = BlockLinear({"h": hd}, d)
        self.post_std = BlockLinear({"h": hd}, d)
        # theta_s's per-edge gains (re-estimated with theta on a new task; frozen otherwise)
        self.transition = FactoredTransition(d, n_a, t_s, hd, edge_gains=c.use_theta)
        # observation, reward and continuation models
        self.obs_in = BlockLinear({"s": d, "t": t_o}, hd)
        if c.pixels:
            self.obs_out: nn.Module = _ConvDecoder(hd, c.obs_shape)
        else:
            self.obs_hidden = nn.Sequential(nn.Linear(hd, hd), nn.ELU())
            self.obs_dec_out = BlockLinear({"h": hd}, c.obs_shape[0])
        self.rew_in = BlockLinear({"s": d, "t": t_r}, hd)
        self.rew_out = _mlp(hd, hd, 1)
        self.cont_in = BlockLinear({"s": d}, hd)
        self.cont_out = _mlp(hd, hd, 1)
        # the reward's running location and scale (`track_reward`); 1 / 0 until the first batch
        self.register_buffer("reward_loc", torch.zeros(()))
        self.register_buffer("reward_scale", torch.ones(()))
        self.register_buffer("reward_batches", torch.zeros((), dtype=torch.long))
        #: whether `loss` updates the reward's statistics (off while only some parts train)
        self.track_reward_stats = True

    # ----------------------------------------------------------------- structure
    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def n_actions(self) -> int:
        return self.config.n_actions

    def thetas(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        t_o, t_r, _ = self.config.thetas
        th = self.theta
        return th[:t_o], th[t_o : t_o + t_r], th[t_o + t_r :]

    def action_parameter_names(self) -> tuple[str, ...]:
        """The names (as ``named_parameters`` gives them) of the parameters that read the
        action: the posterior's and the transition's action weights and ``D^{a->s}``. New
        actions train these first."""
        return ("post_in.weights.a", "transition.w_a", "masks.a->s.logits")

    def mask_values(self) -> dict[str, torch.Tensor]:
        return {name: gate() for name, gate in self.masks.items()}

    def sparsity_term(self) -> torch.Tensor:
        reg = sum(gate.l1() for gate in self.masks.values())
        return reg + self.theta.abs().sum()

    def structure(self) -> dict[str, torch.Tensor]:
        """The hard structural matrices (bool), as CSR's pruning reads them."""
        return {name: gate.hard().detach().clone() for name, gate in self.masks.items()}

    def compact_mask(self) -> torch.Tensor:
        """``(d,)`` bool: which latent variables have an edge to o, r or another variable -
        the compact state ``s_min`` that pruning keeps (§3.3) and the policy reads (§3.4)."""
        hard = self.structure()
        ss = hard["s->s"].clone()
        ss.fill_diagonal_(False)
        return hard["s->o"][:, 0] | hard["s->r"][:, 0] | ss.any(dim=1)

    def compact_variables(self) -> torch.Tensor:
        """Indices of the latent variables with an edge to o, r or another variable (§3.3)."""
        return torch.nonzero(self.compact_mask()).flatten()

    # ----------------------------------------------------------------- one step
    def embed(self, obs: torch.Tensor) -> torch.Tensor:
        """The encoder's embedding of a batch of observations (pixels as uint8)."""
        if self.config.pixels:
            return self.encoder(obs.float() / 255.0 - 0.5)
        return self.encoder(self.obs_enc_in(o=obs))

    def prior(self, s: torch.Tensor, a: torch.Tensor, masks: dict[str, torch.Tensor]) -> Normal:
        """``p(s_t | s_{t-1}, theta_s, a_{t-1})`` for a batch; ``a`` one-hot."""
        _, _, th_s = self.thetas()
        th = th_s.expand(s.shape[0], -1)
        mean, std = self.transition(s, a, th, masks["s->s"], masks["a->s"], masks["theta_s->s"])
        return Normal(mean, F.softplus(std) + self.config.min_std)

    def posterior_mean(self, s: torch.Tensor, a: torch.Tensor, embed: torch.Tensor) -> torch.Tensor:
        """The mean of ``q(s_t | s_{t-1}, a_{t-1}, o_t)`` for a batch (``a`` one-hot): the
        online filter's step (`observe` filters whole sequences). Unvalidated: a state that is
        no longer finite reaches the caller, who can name it."""
        _, _, th_s = self.thetas()
        h = F.elu(self.post_in(e=embed, s=s, a=a, t=th_s.expand(s.shape[0], -1)))
        return self.post_mean(h=h)

    def decode(self, s: torch.Tensor, masks: dict[str, torch.Tensor]) -> torch.Tensor:
        th_o, _, _ = self.thetas()
        th = (th_o * masks["theta_o->o"][:, 0]).expand(s.shape[0], -1)
        h = F.elu(self.obs_in(s=s * masks["s->o"][:, 0], t=th))
        if self.config.pixels:
            return self.obs_out(h)
        return self.obs_dec_out(h=self.obs_hidden(h))

    def reward(self, s: torch.Tensor, masks: dict[str, torch.Tensor]) -> torch.Tensor:
        """Predicted reward ``(B,)`` from ``D^{s->r} * s`` and ``D^{theta_r->r} * theta_r``,
        in the env's units."""
        return self._reward_head(s, masks) * self.reward_scale + self.reward_loc

    def _reward_head(self, s: torch.Tensor, masks: dict[str, torch.Tensor]) -> torch.Tensor:
        """The reward model's output, in the units `track_reward` standardises to."""
        _, th_r, _ = self.thetas()
        th = (th_r * masks["theta_r->r"][:, 0]).expand(s.shape[0], -1)
        return self.rew_out(F.elu(self.rew_in(s=s * masks["s->r"][:, 0], t=th)))[:, 0]

    @torch.no_grad()
    def track_reward(self, reward: torch.Tensor) -> None:
        """Update the reward's location and scale with a batch of rewards: the first batch's
        mean and standard deviation, then an exponential average (momentum
        `REWARD_MOMENTUM`), the scale floored at `REWARD_SCALE_FLOOR`. The reward model
        learns ``(r - loc) / scale``, so the price the sparsity term sets on an ``s->r`` edge
        is weighed against the reward's variance, not its unit: on the synthetic POMDP,
        whose rewards vary by about 0.25 a step, every reward edge switched off in the env's
        units and the policy learned from a constant imagined reward (docs/reference.md).
        A no-op without ``standardise_reward``."""
        if not self.config.standardise_reward:
            return
        r = reward.detach().float().reshape(-1)
        loc, scale = r.mean(), r.std(unbiased=False)
        if int(self.reward_batches) > 0:
            m = REWARD_MOMENTUM
            loc = m * self.reward_loc + (1 - m) * loc
            scale = m * self.reward_scale + (1 - m) * scale
        self.reward_loc.copy_(loc)
        self.reward_scale.copy_(scale.clamp(min=REWARD_SCALE_FLOOR))
        self.reward_batches += 1

    def continuation(self, s: torch.Tensor) -> torch.Tensor:
        """The logit ``(B,)`` of the episode going on after latent state ``s`` (the whole
        state: see the module docstring)."""
        return self.cont_out(F.elu(self.cont_in(s=s)))[:, 0]

    def one_hot(self, actions: torch.Tensor) -> torch.Tensor:
        return F.one_hot(actions.long(), self.n_actions).float()

    # ----------------------------------------------------------------- sequences
    def observe(self, batch: dict[str, torch.Tensor]) -> dict[str, Any]:
        """Filter a batch of sequences: posterior and prior at every step (posterior samples
        while training, posterior means in evaluation, so an evaluated model is deterministic).

        ``batch``: ``obs (B, T, ...)``, ``prev_action (B, T)`` (the action before each
        observation; its value is ignored where ``first``), ``first (B, T)`` bool (episode
        starts: the previous latent and action are reset to zero).
        """
        obs, prev_a, first = batch["obs"], batch["prev_action"], batch["first"]
        b, t = prev_a.shape
        embed = self.embed(obs.reshape(b * t, *obs.shape[2:])).reshape(b, t, -1)
        masks = self.mask_values()
        _, _, th_s = self.thetas()
        w = self.post_in.weights
        # the embedding's and theta's share of the posterior's first layer, for all steps at once
        pre = embed @ w["e"].T + self.post_in.bias
        if th_s.shape[0]:
            pre = pre + th_s @ w["t"].T
        keep = (~first).float().unsqueeze(-1)  # (B, T, 1)
        a_all = self.one_hot(prev_a) * keep
        s = embed.new_zeros(b, self.latent_dim)
        prevs, means, stds, samples = [], [], [], []
        for i in range(t):
            s = s * keep[:, i]
            prevs.append(s)
            h = F.elu(pre[:, i] + s @ w["s"].T + a_all[:, i] @ w["a"].T)
            mean = self.post_mean(h=h)
            std = F.softplus(self.post_std(h=h)) + self.config.min_std
            s = mean + std * torch.randn_like(std) if self.training else mean
            means.append(mean)
            stds.append(std)
            samples.append(s)
        post = Normal(torch.stack(means, 1), torch.stack(stds, 1))
        # every step's prior in one batched call: p(s_t | s_{t-1}, a_{t-1})
        prior = self.prior(
            torch.stack(prevs, 1).reshape(b * t, -1), a_all.reshape(b * t, -1), masks
        )
        prior = Normal(prior.mean.reshape(b, t, -1), prior.stddev.reshape(b, t, -1))
        return {"post": post, "prior": prior, "states": torch.stack(samples, 1), "masks": masks}

    def loss(
        self, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        """The negative CSR objective, its parts (detached 0-d tensors, for logging: read them
        with ``float`` when they are logged, so training never waits on the device) and the
        batch's posterior states ``(B, T, d)`` (detached; imagination starts from them)."""
        c = self.config
        out = self.observe(batch)
        b, t = batch["prev_action"].shape
        states = out["states"].reshape(b * t, -1)
        masks = out["masks"]
        obs = batch["obs"].reshape(b * t, *batch["obs"].shape[2:])
        target = obs.float() / 255.0 - 0.5 if c.pixels else obs
        rec_obs = ((self.decode(states, masks) - target) ** 2).reshape(b * t, -1).sum(1).mean()
        if self.training and self.track_reward_stats:
            self.track_reward(batch["reward"])
        r_target = (batch["reward"].reshape(-1) - self.reward_loc) / self.reward_scale
        r_pred, c_logit = self._reward_head(states, masks), self.continuation(states)
        rec_r = ((r_pred - r_target) ** 2).mean()
        rec_c = F.binary_cross_entropy_with_logits(c_logit, batch["cont"].reshape(-1).float())
        post, prior = out["post"], out["prior"]
        # KL balancing (DreamerV2): the prior learns towards the posterior with weight
        # kl_balance, the posterior towards the prior with the rest. Free nats apply to the
        # posterior's side only: clamped on both, a KL under free_nats would leave the
        # transition and its masks (D^{s->s}, D^{a->s}, D^{theta_s->s}) with no gradient but
        # the sparsity term's, and every transition edge would switch off
        kl_prior = kl_divergence(_detached(post), prior).sum(-1).mean()
        kl_post = kl_divergence(post, _detached(prior)).sum(-1).mean()
        kl = kl_prior.detach()  # the KL's value (both sides equal it; only gradients differ)
        kl_loss = c.kl_balance * kl_prior + (1 - c.kl_balance) * torch.clamp(
            kl_post, min=c.free_nats
        )
        reg = self.sparsity_term()
        total = rec_obs + rec_r + rec_c + c.kl_scale * kl_loss + c.sparsity * reg
        parts = {
            "loss/obs": rec_obs.detach(),
            "loss/reward": rec_r.detach(),
            "loss/cont": rec_c.detach(),
            "loss/kl": kl,
            "loss/sparsity": reg.detach(),
        }
        return total, parts, out["states"].detach()

    @torch.no_grad()
    def reconstruct(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Decoded posterior means for a batch of sequences, ``(B, T, *obs_shape)``, in the
        observation's units (pixels in [0, 1]); the model is evaluated (hard masks)."""
        was = self.training
        self.eval()
        out = self.observe(batch)
        b, t = batch["prev_action"].shape
        rec = self.decode(out["states"].reshape(b * t, -1), out["masks"])
        self.train(was)
        if self.config.pixels:
            rec = (rec + 0.5).clamp(0.0, 1.0)
        return rec.reshape(b, t, *rec.shape[1:])

    @torch.no_grad()
    def prediction_error(self, batch: dict[str, torch.Tensor]) -> float:
        """CSR's forward prediction error: mean squared error of the one-step prediction
        ``o_{t+1}`` from the posterior at ``t`` and the action taken, per observation element."""
        _, err = self.step_errors(batch)
        return float(err.mean())

    @torch.no_grad()
    def step_errors(
        self, batch: dict[str, torch.Tensor], sampled_masks: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Each step's posterior state ``s_t`` (posterior means: the model is evaluated) and
        its forward prediction error (the squared error of predicting ``o_{t+1}`` per
        observation element), for the steps whose next observation continues the episode
        (all steps when none does). Shapes ``(N, latent_dim)`` and ``(N,)``.

        ``sampled_masks``: the masks as training draws them (Gumbel-sigmoid samples, from
        torch's global generator) instead of the hard structure imagination and detection
        use; the rest of the model is evaluated either way."""
        was = self.training
        self.eval()
        if sampled_masks:
            self.masks.train()
        out = self.observe(batch)
        masks = out["masks"]
        states, first = out["states"], batch["first"]
        prev_a = batch["prev_action"]
        b, t = prev_a.shape
        s = states[:, :-1].reshape(b * (t - 1), -1)
        a = self.one_hot(prev_a[:, 1:].reshape(-1))
        pred = self.decode(self.prior(s, a, masks).mean, masks)
        obs = batch["obs"][:, 1:].reshape(b * (t - 1), *batch["obs"].shape[2:])
        target = obs.float() / 255.0 - 0.5 if self.config.pixels else obs
        err = ((pred - target) ** 2).reshape(b * (t - 1), -1).mean(1)
        valid = ~first[:, 1:].reshape(-1)
        self.train(was)
        if not valid.any():
            return s, err
        return s[valid], err[valid]

    # ----------------------------------------------------------------- growth and pruning
    @torch.no_grad()
    def expand_latent(self, n: int) -> None:
        """Add ``n`` latent variables. Their weights into the old parts are zero and their
        mask entries start on, so every old prediction is unchanged until training."""
        if n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        init = self.config.mask_init_logit
        m = self.masks
        m["s->s"].expand(n, n, init)
        m["a->s"].expand(0, n, init)
        m["theta_s->s"].expand(0, n, init)
        m["s->o"].expand(n, 0, init)
        m["s->r"].expand(n, 0, init)
        self.transition.grow_latent(n)
        self.post_in.grow_in("s", n)
        self.post_mean.grow_out(n)
        self.post_std.grow_out(n)
        self.obs_in.grow_in("s", n)
        self.rew_in.grow_in("s", n)
        self.cont_in.grow_in("s", n)
        self.config = replace(self.config, latent_dim=self.config.latent_dim + n)

    @torch.no_grad()
    def expand_actions(self, n: int) -> None:
        """Add ``n`` discrete actions (zero weights: no effect until trained). ``D^{a->s}``
        does not grow: new values of the action are the same variable."""
        if n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        self.transition.grow_actions(n)
        self.post_in.grow_in("a", n)
        self.config = replace(self.config, n_actions=self.config.n_actions + n)

    @torch.no_grad()
    def expand_observation(self, n: int) -> None:
        """Widen a vector observation by ``n`` elements (a state-observation env that shows a
        new variable): zero encoder weights, fresh decoder outputs."""
        if self.config.pixels or n < 1:
            raise ValueError("only vector observations grow, by a positive n")
        self.obs_enc_in.grow_in("o", n)
        self.obs_dec_out.grow_out(n)
        shape = (self.config.obs_shape[0] + n,)
        self.config = replace(self.config, obs_shape=shape)

    @torch.no_grad()
    def keep_latent(self, keep: torch.Tensor) -> None:
        """Keep only the latent variables ``keep`` (CSR's pruning)."""
        keep = torch.as_tensor(keep, dtype=torch.long, device=self.theta.device)
        m = self.masks
        m["s->s"].select(keep, keep)
        m["a->s"].select(None, keep)
        m["theta_s->s"].select(None, keep)
        m["s->o"].select(keep, None)
        m["s->r"].select(keep, None)
        self.transition.select_latent(keep)
        self.post_in.select_in("s", keep)
        self.post_mean.select_out(keep)
        self.post_std.select_out(keep)
        self.obs_in.select_in("s", keep)
        self.rew_in.select_in("s", keep)
        self.cont_in.select_in("s", keep)
        self.config = replace(self.config, latent_dim=len(keep))

    def group_norms(self) -> torch.Tensor:
        """Per latent variable, the L2 norm of its outgoing weights (decoder, reward,
        continuation, transition): the group-sparsity term of the Deterministic expansion."""
        w = [self.obs_in.weights["s"], self.rew_in.weights["s"], self.cont_in.weights["s"]]
        sq = sum((x**2).sum(0) for x in w) + (self.transition.w_s**2).sum((0, 2))
        return torch.sqrt(sq + 1e-12)

    def export(self) -> dict[str, Any]:
        """Config and weights, enough to rebuild the model (sizes included)."""
        return {"config": asdict(self.config), "state": self.state_dict()}

    @classmethod
    def rebuild(
        cls, exported: dict[str, Any], device: torch.device | None = None
    ) -> StructuredWorldModel:
        """The model `export` described, built on ``device`` (torch's current one if None)."""
        with device or torch.get_default_device():
            model = cls(WorldModelConfig(**exported["config"]))
        model.load_state_dict(exported["state"])
        return model
