"""Layers whose input and output widths can grow (expansion) and shrink (pruning) in place.

CSR adds latent variables and actions to a trained world model and later removes variables
with no outgoing edge. Both must leave the remaining function untouched, so:

- `BlockLinear` is ``y = sum_b W_b x_b + bias`` over named input blocks (latent state,
  action, change factor, embedding). A block grows by zero columns (new inputs have no effect
  until trained) and shrinks by dropping columns; the output grows by freshly initialised rows.
- `FactoredTransition` is one small MLP per latent variable ``k``, all evaluated in one
  batched einsum, whose inputs are multiplied by column ``k`` of the structural masks
  ``D^{s->s}``, ``D^{a->s}`` and ``D^{theta_s->s}``: the transition model of CSR's Eq. (2).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["BlockLinear", "FactoredTransition"]


def _uniform(shape: tuple[int, ...], fan_in: int, like: torch.Tensor | None = None) -> torch.Tensor:
    """``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` on ``like``'s device (growth keeps a layer on its
    device), else on torch's current one (construction, inside the caller's device context)."""
    bound = 1.0 / math.sqrt(max(fan_in, 1))
    out = torch.empty(shape) if like is None else like.new_empty(shape)
    return out.uniform_(-bound, bound)


class BlockLinear(nn.Module):
    """``y = sum_b x_b @ W_b.T + bias`` over named input blocks of adjustable width."""

    def __init__(self, in_sizes: dict[str, int], out_features: int) -> None:
        super().__init__()
        fan_in = sum(in_sizes.values())
        self.weights = nn.ParameterDict(
            {
                name: nn.Parameter(_uniform((out_features, n), fan_in))
                for name, n in in_sizes.items()
            }
        )
        self.bias = nn.Parameter(_uniform((out_features,), fan_in))

    @property
    def out_features(self) -> int:
        return self.bias.shape[0]

    def in_size(self, block: str) -> int:
        return self.weights[block].shape[1]

    def forward(self, **blocks: torch.Tensor) -> torch.Tensor:
        y = self.bias
        for name, w in self.weights.items():
            if w.shape[1]:
                y = y + blocks[name] @ w.T
        return y

    @torch.no_grad()
    def grow_in(self, block: str, n: int) -> None:
        """``n`` new inputs of ``block``, with zero weights: the output does not change."""
        w = self.weights[block]
        self.weights[block] = nn.Parameter(torch.cat([w, w.new_zeros(w.shape[0], n)], dim=1))

    @torch.no_grad()
    def select_in(self, block: str, keep: torch.Tensor) -> None:
        self.weights[block] = nn.Parameter(self.weights[block][:, keep].clone())

    @torch.no_grad()
    def grow_out(self, n: int, like: str = "random") -> None:
        """``n`` new outputs: random rows, or (``like="mean"``) the mean of the old rows."""
        fan_in = sum(w.shape[1] for w in self.weights.values())
        for name, w in self.weights.items():
            new = (
                w.mean(0, keepdim=True).expand(n, -1)
                if like == "mean"
                else _uniform((n, w.shape[1]), fan_in, w)
            )
            self.weights[name] = nn.Parameter(torch.cat([w, new.clone()], dim=0))
        b = self.bias
        new_b = b.mean().expand(n) if like == "mean" else _uniform((n,), fan_in, b)
        self.bias = nn.Parameter(torch.cat([b, new_b.clone()]))

    @torch.no_grad()
    def select_out(self, keep: torch.Tensor) -> None:
        for name, w in self.weights.items():
            self.weights[name] = nn.Parameter(w[keep].clone())
        self.bias = nn.Parameter(self.bias[keep].clone())


class FactoredTransition(nn.Module):
    """One MLP per latent variable over its masked parents; outputs a mean and a std each.

    Inputs per sample: the previous latent ``s`` (``d``), the action one-hot ``a`` (``n_a``) and
    the change factor ``theta`` (``m``); masks ``m_ss (d, d)``, ``m_as (1, d)`` (the action is
    one variable: its row is shared by the one-hot's entries) and ``m_ts (m, d)`` give each
    output's parents. Hidden width ``hidden``, ELU.
    """

    def __init__(
        self, latent: int, n_actions: int, theta: int, hidden: int, edge_gains: bool = False
    ) -> None:
        super().__init__()
        fan_in = latent + n_actions + theta
        self.hidden = hidden
        #: the task's gain on each edge s->s and a->s: an edge's input is scaled by (1 + gain).
        #: Zero (no change) unless re-estimated on a task (CSR §3.1: theta characterises the
        #: task-specific influence of the structural matrices' edges); empty when disabled.
        rows = (latent + n_actions) if edge_gains else 0
        self.edge_gain = nn.Parameter(
            torch.zeros(rows, latent if edge_gains else 0), requires_grad=False
        )
        self.w_s = nn.Parameter(_uniform((latent, latent, hidden), fan_in))
        self.w_a = nn.Parameter(_uniform((latent, n_actions, hidden), fan_in))
        self.w_t = nn.Parameter(_uniform((latent, theta, hidden), fan_in))
        self.b1 = nn.Parameter(_uniform((latent, hidden), fan_in))
        self.w2 = nn.Parameter(_uniform((latent, hidden, 2), hidden))
        self.b2 = nn.Parameter(torch.zeros(latent, 2))

    def forward(
        self,
        s: torch.Tensor,
        a: torch.Tensor,
        theta: torch.Tensor,
        m_ss: torch.Tensor,
        m_as: torch.Tensor,
        m_ts: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and raw std (before softplus) of each next latent variable: ``(B, d)`` each."""
        # x masked per output k: (k, B, in) @ (k, in, H) as one batched matmul
        x = torch.cat([s, a, theta], dim=1)
        m_sa = torch.cat([m_ss, m_as.expand(self.w_a.shape[1], -1)], dim=0)
        if self.edge_gain.numel():
            m_sa = m_sa * (1 + self.edge_gain)
        m = torch.cat([m_sa, m_ts], dim=0)
        w = torch.cat([self.w_s, self.w_a, self.w_t], dim=1)
        xm = x.T.unsqueeze(0) * m.T.unsqueeze(2)  # (k, in, B)
        h = F.elu(torch.bmm(xm.transpose(1, 2), w) + self.b1.unsqueeze(1))  # (k, B, H)
        out = torch.bmm(h, self.w2) + self.b2.unsqueeze(1)  # (k, B, 2)
        return out[..., 0].T, out[..., 1].T

    @torch.no_grad()
    def grow_latent(self, n: int) -> None:
        """``n`` new latent variables: new outputs (fresh MLPs) and zero-weight inputs."""
        d, n_a, m = self.w_s.shape[0], self.w_a.shape[1], self.w_t.shape[1]
        fan_in = d + n + n_a + m
        like = self.w_s
        w_s = like.new_zeros(d + n, d + n, self.hidden)
        w_s[:d, :d] = self.w_s
        w_s[d:] = _uniform((n, d + n, self.hidden), fan_in, like)
        self.w_s = nn.Parameter(w_s)
        self.w_a = nn.Parameter(
            torch.cat([self.w_a, _uniform((n, n_a, self.hidden), fan_in, like)])
        )
        self.w_t = nn.Parameter(torch.cat([self.w_t, _uniform((n, m, self.hidden), fan_in, like)]))
        self.b1 = nn.Parameter(torch.cat([self.b1, _uniform((n, self.hidden), fan_in, like)]))
        self.w2 = nn.Parameter(
            torch.cat([self.w2, _uniform((n, self.hidden, 2), self.hidden, like)])
        )
        self.b2 = nn.Parameter(torch.cat([self.b2, like.new_zeros(n, 2)]))
        if self.edge_gain.numel():  # no gain on the new variables' edges
            g = self.edge_gain
            grown = g.new_zeros(d + n + n_a, d + n)
            grown[:d, :d] = g[:d]
            grown[d + n :, :d] = g[d:]
            self.edge_gain = nn.Parameter(grown, requires_grad=g.requires_grad)

    @torch.no_grad()
    def grow_actions(self, n: int) -> None:
        """``n`` new actions, with zero weights into every variable."""
        d = self.w_a.shape[0]
        self.w_a = nn.Parameter(torch.cat([self.w_a, self.w_a.new_zeros(d, n, self.hidden)], dim=1))
        if self.edge_gain.numel():
            g = self.edge_gain
            grown = torch.cat([g, g.new_zeros(n, g.shape[1])])
            self.edge_gain = nn.Parameter(grown, requires_grad=g.requires_grad)

    @torch.no_grad()
    def select_latent(self, keep: torch.Tensor) -> None:
        """Keep the latent variables ``keep`` as outputs and as inputs."""
        d = self.w_s.shape[0]
        self.w_s = nn.Parameter(self.w_s[keep][:, keep].clone())
        for name in ("w_a", "w_t", "b1", "w2", "b2"):
            setattr(self, name, nn.Parameter(getattr(self, name)[keep].clone()))
        if self.edge_gain.numel():
            g = self.edge_gain
            rows = torch.cat([g[:d][keep], g[d:]])[:, keep].clone()
            self.edge_gain = nn.Parameter(rows, requires_grad=g.requires_grad)
