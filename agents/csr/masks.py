"""Learnable structural masks: relaxed binary matrices with an L1 sparsity term (CSR §2.1, §3.3).

A `MaskGate` holds logits for a ``(causes, effects)`` 0/1 matrix such as CSR's
``D^{s->s}`` (latent -> next latent) or ``D^{s->o}`` (latent -> observation, one column). While
training it is relaxed, as the paper does, either by a plain sigmoid (deterministic) or by a
Gumbel-sigmoid sample with a straight-through hard value; in evaluation it is the hard matrix
``sigmoid(logits) > 0.5``, so an evaluated model is deterministic. ``l1()`` is the sparsity
term, the sum of the edge probabilities.

Masks grow and shrink with the latent space: `expand` adds rows or columns (new logits
given), `select` keeps chosen rows and columns (pruning).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["RELAXATIONS", "MaskGate"]

RELAXATIONS = ("sigmoid", "gumbel")


class MaskGate(nn.Module):
    """A relaxed binary ``(rows, cols)`` matrix.

    Args:
        rows: the number of causes (the matrix's rows).
        cols: the number of effects (its columns).
        init_logit: initial logit of every entry (3.0: probability 0.95, edges start on).
        relaxation: ``"sigmoid"`` or ``"gumbel"`` (Gumbel-sigmoid, straight-through).
        temperature: the Gumbel-sigmoid temperature.
        enabled: ``False`` gives the all-ones matrix and no parameters to learn (an
            unstructured world model such as the Dreamer baseline).
    """

    def __init__(
        self,
        rows: int,
        cols: int,
        init_logit: float = 3.0,
        relaxation: str = "sigmoid",
        temperature: float = 0.5,
        enabled: bool = True,
    ) -> None:
        super().__init__()
        if relaxation not in RELAXATIONS:
            raise ValueError(f"relaxation must be one of {RELAXATIONS}, got {relaxation!r}")
        if rows < 0 or cols < 0:
            raise ValueError(f"a mask needs a non-negative shape, got ({rows}, {cols})")
        self.relaxation = relaxation
        self.temperature = float(temperature)
        self.enabled = bool(enabled)
        self.logits = nn.Parameter(
            torch.full((rows, cols), float(init_logit)), requires_grad=self.enabled
        )

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.logits.shape)  # type: ignore[return-value]

    def probs(self) -> torch.Tensor:
        """Edge probabilities ``sigmoid(logits)`` (ones when disabled)."""
        if not self.enabled:
            return torch.ones_like(self.logits)
        return torch.sigmoid(self.logits)

    def hard(self) -> torch.Tensor:
        """The binary matrix (bool): edges with probability above one half."""
        return self.probs() > 0.5

    def forward(self) -> torch.Tensor:
        """The matrix to multiply by: relaxed while training, hard (as float) in evaluation."""
        if not self.enabled:
            return torch.ones_like(self.logits)
        if not self.training:
            return self.hard().to(self.logits.dtype)
        if self.relaxation == "sigmoid":
            return torch.sigmoid(self.logits)
        u = torch.rand_like(self.logits).clamp(1e-6, 1 - 1e-6)
        noise = torch.log(u) - torch.log1p(-u)
        soft = torch.sigmoid((self.logits + noise) / self.temperature)
        return soft + ((soft > 0.5).to(soft.dtype) - soft).detach()

    def l1(self) -> torch.Tensor:
        """The sparsity term: the sum of edge probabilities (zero when disabled)."""
        if not self.enabled:
            return self.logits.new_zeros(())
        return torch.sigmoid(self.logits).sum()

    @torch.no_grad()
    def expand(self, new_rows: int = 0, new_cols: int = 0, init_logit: float = 3.0) -> None:
        """Append ``new_rows`` rows and ``new_cols`` columns; old logits are kept."""
        r, c = self.shape
        grown = self.logits.new_full((r + new_rows, c + new_cols), float(init_logit))
        grown[:r, :c] = self.logits
        self.logits = nn.Parameter(grown, requires_grad=self.enabled)

    @torch.no_grad()
    def select(self, rows: torch.Tensor | None = None, cols: torch.Tensor | None = None) -> None:
        """Keep only the given row and column indices (``None``: all)."""
        logits = self.logits
        if rows is not None:
            logits = logits[rows]
        if cols is not None:
            logits = logits[:, cols]
        self.logits = nn.Parameter(logits.clone(), requires_grad=self.enabled)
