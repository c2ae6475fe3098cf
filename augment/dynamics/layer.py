"""The batched ensemble layer: every member and every output group in one set of matmuls.

`MaskedComposerEnsemble` is the network alone (parameters and the forward pass in
normalised units), as mbrl-lib keeps its ensemble layer apart from the model that normalises,
masks and samples. For output group ``g`` of member ``e`` it computes MoCoDA's *Masked Composer*
(appendix B.3): each input root ``r`` has its own linear embedding of width ``embed_dim``,
multiplied by the mask bit ``mask[r, g]`` of the row, the embeddings are summed, then an MLP
outputs a mean and a variance (softplus + 1e-6) for every dimension of the group.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["MaskedComposerEnsemble"]


class MaskedComposerEnsemble(nn.Module):
    """``ensemble_size`` members x ``len(groups)`` masked composers, batched.

    Args:
        roots: for each input root, the indices of the input vector it reads.
        groups: for each output group, the indices of the output vector it predicts; the groups
            must partition ``range(n_outputs)``.
        ensemble_size: the number of members.
        embed_dim: the width of each root's embedding.
        hidden: the widths of the MLP after the embedding.
        generator: the source of the initial weights (drawn in a fixed order, so a seed gives
            the same network).
    """

    def __init__(
        self,
        roots: Sequence[Sequence[int]],
        groups: Sequence[Sequence[int]],
        ensemble_size: int,
        embed_dim: int,
        hidden: Sequence[int],
        generator: torch.Generator,
    ) -> None:
        super().__init__()
        n_in = 1 + max(i for r in roots for i in r)
        n_out = sum(len(g) for g in groups)
        self.n_roots, self.n_groups = len(roots), len(groups)
        self.ensemble_size, self.embed_dim = ensemble_size, embed_dim
        e, g, d = ensemble_size, self.n_groups, embed_dim
        self.width = max(len(c) for c in groups)
        # Which embedding block each input dimension feeds (root r -> columns r*d..(r+1)*d).
        block = torch.zeros(n_in, self.n_roots * d)
        for r, dims in enumerate(roots):
            block[list(dims), r * d : (r + 1) * d] = 1.0
        self.register_buffer("block", block)
        # the root each input dimension belongs to (the roots partition the inputs)
        root_of = torch.full((n_in,), -1, dtype=torch.long)
        for r, dims in enumerate(roots):
            root_of[list(dims)] = r
        if (root_of < 0).any() or sum(len(r) for r in roots) != n_in:
            raise ValueError("the roots must partition the input dimensions 0..n_in-1")
        self.register_buffer("root_of", root_of, persistent=False)
        # output dim j is slot `slot_of[j]` of group `group_of[j]`
        group_of = torch.empty(n_out, dtype=torch.long)
        slot_of = torch.empty(n_out, dtype=torch.long)
        for gi, dims in enumerate(groups):
            for k, j in enumerate(dims):
                group_of[j], slot_of[j] = gi, k
        self.register_buffer("group_of", group_of)
        self.register_buffer("slot_of", slot_of)

        def linear(fan_in: int, fan_out: int) -> tuple[nn.Parameter, nn.Parameter]:
            bound = 1.0 / math.sqrt(fan_in)
            w = (torch.rand(e, g, fan_in, fan_out, generator=generator) * 2 - 1) * bound
            b = (torch.rand(e, g, 1, fan_out, generator=generator) * 2 - 1) * bound
            return nn.Parameter(w), nn.Parameter(b)

        # One weight over all input dims, masked by `block` so that each root's embedding reads
        # only its own dims; initialised with the fan-in of the widest root. Weights outside the
        # block start (and, having no gradient, stay) exactly zero.
        fan_in = max(len(r) for r in roots)
        self.embed_w = nn.Parameter(
            (torch.rand(e, g, n_in, self.n_roots * d, generator=generator) * 2 - 1)
            / math.sqrt(fan_in)
            * block
        )
        self.embed_b = nn.Parameter(
            (torch.rand(e, g, 1, self.n_roots * d, generator=generator) * 2 - 1) / math.sqrt(fan_in)
        )
        sizes = [d, *hidden]
        self.hidden_w = nn.ParameterList()
        self.hidden_b = nn.ParameterList()
        for a, b in itertools.pairwise(sizes):
            w, bias = linear(a, b)
            self.hidden_w.append(w)
            self.hidden_b.append(bias)
        self.out_w, self.out_b = linear(sizes[-1], 2 * self.width)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs ``x (E, B, n_in)`` and masks ``(E, B, n_roots, n_groups)`` -> mean and
        variance ``(E, B, n_out)``.

        The composer's sum over roots, ``sum_r mask[r, g] * (x_r @ W_gr + b_gr)``, is computed
        as one ``(in -> d)`` product per group on inputs masked per dimension, ``(x * mask[root
        of each dim, g]) @ W_g + sum_r mask[r, g] * b_gr``, where ``W_g`` stacks every root's
        block: the same function, without the ``n_roots * d`` wide intermediate of one
        embedding per root (the roots partition the inputs, so each input row of ``W_g`` is
        its own root's).

        Under ``torch.autocast`` (``TrainingConfig.precision="bf16"``) only the hidden layers'
        products run in low precision: the embedding reads the inputs and the output layer
        writes the means and variances in float32.
        """
        e, _, n_in = x.shape
        d, g, r = self.embed_dim, self.n_groups, self.n_roots
        exact = torch.autocast(x.device.type, enabled=False)
        with exact:
            # W_g: (E, G, n_in, d), each input's row taken from its root's block
            w = (self.embed_w * self.block).view(e, g, n_in, r, d).sum(dim=3)
            m = mask.permute(0, 3, 1, 2)  # (E, G, B, R)
            xm = x.unsqueeze(1) * m[..., self.root_of]  # (E, G, B, n_in)
            # (E, G, B, d)
            h = torch.matmul(xm, w) + torch.matmul(m, self.embed_b.view(e, g, r, d))
        for w, bias in zip(self.hidden_w, self.hidden_b, strict=True):
            h = torch.relu(torch.einsum("egbi,egio->egbo", h, w) + bias)
        with exact:
            out = torch.einsum("egbi,egio->egbo", h.float(), self.out_w) + self.out_b
        # Indexing axes 1 and 3 with arrays puts the indexed axis first: (S, E, B).
        mean = out[..., : self.width][:, self.group_of, :, self.slot_of]
        raw = out[..., self.width :][:, self.group_of, :, self.slot_of]
        mean = mean.permute(1, 2, 0)
        var = nn.functional.softplus(raw.permute(1, 2, 0)) + 1e-6
        return mean, var
