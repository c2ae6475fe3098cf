"""Step 2 of MoCoDA: ensembles of (locally) factored dynamics models ``(s, a) -> s'``.

Three architectures share one batched implementation (:class:`FactoredEnsemble`):

- ``"unfactored"``: one network over all inputs predicts every next-state dimension.
- ``"global"``: one network per output node, reading only its parents in the sparsest graph.
- ``"local"``: one *Masked Composer* per output node: each input node has its own linear
  embedding (128-d), multiplied by that node's bit of the local causal mask of the sample,
  summed, then an MLP. A masked-out input cannot change the prediction (MoCoDA, appendix B.3).

``"global"`` is the composer with the constant sparsest graph as mask, so the three differ only
in the mask they feed it (all ones with a single output group, the graph, or the env's local
mask). Every member of the ensemble and every output node run in one batched matmul; each
member outputs a mean and a variance (softplus + 1e-6) per next-state dimension and is trained
with the Gaussian negative log-likelihood on its own shuffle of the data.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from causal_envs.core import CausalStructure, as_batch, atomic_path

__all__ = [
    "ARCHITECTURES",
    "DynamicsConfig",
    "FactoredEnsemble",
    "MaskFn",
    "TrainingLog",
    "zero_tiny_",
]

ARCHITECTURES = ("unfactored", "global", "local")
MaskFn = Callable[[NDArray, NDArray], NDArray]


@dataclass
class DynamicsConfig:
    """Hyperparameters (defaults: MoCoDA's 2D Navigation models)."""

    architecture: str = "local"
    ensemble_size: int = 5
    hidden: tuple[int, ...] = (256, 256)
    embed_dim: int = 128
    lr: float = 1e-4
    weight_decay: float = 5e-5
    batch_size: int = 512
    epochs: int = 600
    #: stop when the validation NLL has not improved for this many epochs (None: run all)
    patience: int | None = None
    val_fraction: float = 0.125
    #: at generation the predicted std is divided by this
    std_divisor: float = 3.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(
                f"architecture must be one of {ARCHITECTURES}, got {self.architecture!r}"
            )
        for name in ("ensemble_size", "embed_dim", "batch_size", "epochs"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        self.hidden = tuple(int(h) for h in self.hidden)
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if not self.std_divisor > 0:
            raise ValueError(f"std_divisor must be > 0, got {self.std_divisor}")


@dataclass
class TrainingLog:
    """Per-epoch mean NLL on the training and validation splits, and the epoch kept."""

    train_nll: list[float] = field(default_factory=list)
    val_nll: list[float] = field(default_factory=list)
    best_epoch: int = -1
    seconds: float = 0.0


_TINY = 1e-30


@torch.no_grad()
def zero_tiny_(tensors: list[torch.Tensor]) -> None:
    """Set entries with ``|x| < 1e-30`` to zero, in place, so none becomes a denormal float.

    Weights that no prediction uses (outgoing weights of a dead ReLU unit, a non-parent's
    embedding) feel only weight decay, which drives them, and Adam's moments, toward zero and
    into the denormal range, where CPU arithmetic is many times slower. Measured here: epochs
    went from 2 s to 9 s after about 25 epochs, with 31,828 denormal weights in one layer.
    ``torch.set_flush_denormal`` did not help (it does not reach the intra-op worker threads).
    """
    for t in tensors:
        t.masked_fill_(t.abs() < _TINY, 0.0)


class FactoredEnsemble(nn.Module):
    """An ensemble of dynamics models over a :class:`CausalStructure`.

    Args:
        structure: the env's causal structure (node groups and the sparsest graph).
        config: hyperparameters; ``config.architecture`` picks the factorisation.
        mask_fn: for ``"local"``, ``mask_fn(states, actions) -> bool (B, n_inputs, n_outputs)``,
            usually ``env.unwrapped.local_mask``.
        env_id: stored with the model so that :meth:`load` can rebuild ``mask_fn``.
    """

    def __init__(
        self,
        structure: CausalStructure,
        config: DynamicsConfig | None = None,
        mask_fn: MaskFn | None = None,
        env_id: str | None = None,
    ) -> None:
        super().__init__()
        self.structure = structure
        self.config = config = config or DynamicsConfig()
        if config.architecture == "local" and mask_fn is None:
            raise ValueError(
                "the 'local' architecture needs mask_fn (e.g. env.unwrapped.local_mask)"
            )
        self.mask_fn = mask_fn
        self.env_id = env_id
        s = structure
        if config.architecture == "unfactored":
            roots = [list(range(s.input_dim))]
            groups = [list(range(s.state_dim))]
        else:
            roots = [list(n.flat_dims) for n in s.input_nodes]
            groups = [list(n.dims) for n in s.output_nodes]
        self.n_roots, self.n_groups = len(roots), len(groups)
        e, g, d = config.ensemble_size, self.n_groups, config.embed_dim
        width = max(len(c) for c in groups)
        # Which embedding block each input dimension feeds (root r -> columns r*d..(r+1)*d).
        block = torch.zeros(s.input_dim, self.n_roots * d)
        for r, dims in enumerate(roots):
            block[dims, r * d : (r + 1) * d] = 1.0
        self.register_buffer("block", block)
        # state dim j is slot `slot[j]` of group `group[j]`
        group_of = torch.empty(s.state_dim, dtype=torch.long)
        slot_of = torch.empty(s.state_dim, dtype=torch.long)
        for gi, dims in enumerate(groups):
            for k, j in enumerate(dims):
                group_of[j], slot_of[j] = gi, k
        self.register_buffer("group_of", group_of)
        self.register_buffer("slot_of", slot_of)
        self.register_buffer("static_mask", torch.tensor(s.graph.astype(np.float32)))
        gen = torch.Generator().manual_seed(config.seed)

        def linear(n_in: int, n_out: int) -> tuple[nn.Parameter, nn.Parameter]:
            bound = 1.0 / math.sqrt(n_in)
            w = (torch.rand(e, g, n_in, n_out, generator=gen) * 2 - 1) * bound
            b = (torch.rand(e, g, 1, n_out, generator=gen) * 2 - 1) * bound
            return nn.Parameter(w), nn.Parameter(b)

        # One weight over all input dims, masked by `block` so that each root's embedding reads
        # only its own dims; initialised with the fan-in of the widest root.
        # Weights outside the block start (and, having no gradient, stay) exactly zero.
        fan_in = max(len(r) for r in roots)
        self.embed_w = nn.Parameter(
            (torch.rand(e, g, s.input_dim, self.n_roots * d, generator=gen) * 2 - 1)
            / math.sqrt(fan_in)
            * block
        )
        self.embed_b = nn.Parameter(
            (torch.rand(e, g, 1, self.n_roots * d, generator=gen) * 2 - 1) / math.sqrt(fan_in)
        )
        sizes = [d, *config.hidden]
        self.hidden_w = nn.ParameterList()
        self.hidden_b = nn.ParameterList()
        for n_in, n_out in itertools.pairwise(sizes):
            w, b = linear(n_in, n_out)
            self.hidden_w.append(w)
            self.hidden_b.append(b)
        self.out_w, self.out_b = linear(sizes[-1], 2 * width)
        self.width = width
        for name in ("x_mean", "x_std", "y_mean", "y_std"):
            size = s.input_dim if name.startswith("x") else s.state_dim
            self.register_buffer(name, torch.zeros(size) if "mean" in name else torch.ones(size))
        self.log = TrainingLog()

    # ----------------------------------------------------------------- forward
    def node_masks(self, states: NDArray, actions: NDArray) -> torch.Tensor:
        """The ``(B, n_roots, n_groups)`` float mask each architecture feeds the composer."""
        b = len(states)
        if self.config.architecture == "unfactored":
            return torch.ones(b, 1, 1)
        if self.config.architecture == "global":
            return self.static_mask.expand(b, -1, -1)
        mask = np.asarray(self.mask_fn(states, actions))
        expected = (b, self.n_roots, self.n_groups)
        if mask.shape != expected or mask.dtype != np.bool_:
            raise ValueError(f"mask_fn must return bool {expected}, got {mask.dtype} {mask.shape}")
        return torch.from_numpy(mask.astype(np.float32))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised inputs ``x (E, B, in)`` and masks ``(E, B, R, G)`` -> mean, var ``(E, B, S)``
        in normalised target units."""
        e, b, _ = x.shape
        d = self.config.embed_dim
        h = torch.einsum("ebi,egio->egbo", x, self.embed_w * self.block) + self.embed_b
        h = h.view(e, self.n_groups, b, self.n_roots, d)
        h = (h * mask.permute(0, 3, 1, 2).unsqueeze(-1)).sum(dim=3)  # (E, G, B, d)
        for w, bias in zip(self.hidden_w, self.hidden_b, strict=True):
            h = torch.relu(torch.einsum("egbi,egio->egbo", h, w) + bias)
        out = torch.einsum("egbi,egio->egbo", h, self.out_w) + self.out_b  # (E, G, B, 2W)
        # Indexing axes 1 and 3 with arrays puts the indexed axis first: (S, E, B).
        mean = out[..., : self.width][:, self.group_of, :, self.slot_of]
        raw = out[..., self.width :][:, self.group_of, :, self.slot_of]
        mean = mean.permute(1, 2, 0)
        var = nn.functional.softplus(raw.permute(1, 2, 0)) + 1e-6
        return mean, var

    # ----------------------------------------------------------------- training
    def _tensors(self, states: NDArray, actions: NDArray) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.from_numpy(np.concatenate([states, actions], axis=1).astype(np.float32))
        return (x - self.x_mean) / self.x_std, self.node_masks(states, actions)

    def fit(
        self,
        states: NDArray,
        actions: NDArray,
        next_states: NDArray,
        *,
        progress: bool = False,
    ) -> TrainingLog:
        """Train every member on the data; keep the epoch with the lowest validation NLL.

        A ``val_fraction`` of the rows (chosen with ``config.seed``) is held out. Each member
        draws its own mini-batches. Returns (and stores as ``self.log``) the learning curves.
        """
        import time

        from tqdm import tqdm

        cfg, st = self.config, self.structure
        s, _ = as_batch(states, st.state_dim, "states")
        a, _ = as_batch(actions, st.action_dim, "actions")
        s2, _ = as_batch(next_states, st.state_dim, "next_states")
        if not len(s) == len(a) == len(s2):
            raise ValueError(
                f"states, actions, next_states differ in length: {len(s)}, {len(a)}, {len(s2)}"
            )
        n_val = max(1, round(cfg.val_fraction * len(s)))
        if len(s) - n_val < cfg.batch_size // 8:
            raise ValueError(f"too few rows ({len(s)}) to train with batch size {cfg.batch_size}")
        rng = np.random.default_rng(cfg.seed)
        perm = rng.permutation(len(s))
        tr, va = perm[n_val:], perm[:n_val]
        x_all = np.concatenate([s, a], axis=1)
        self.x_mean.copy_(torch.from_numpy(x_all[tr].mean(0)).float())
        self.x_std.copy_(torch.from_numpy(x_all[tr].std(0) + 1e-6).float())
        self.y_mean.copy_(torch.from_numpy(s2[tr].mean(0)).float())
        self.y_std.copy_(torch.from_numpy(s2[tr].std(0) + 1e-6).float())
        x, m = self._tensors(s, a)
        y = (torch.from_numpy(s2.astype(np.float32)) - self.y_mean) / self.y_std
        x_tr, m_tr, y_tr = x[tr], m[tr], y[tr]
        x_va, m_va, y_va = x[va], m[va], y[va]
        e = cfg.ensemble_size
        opt = torch.optim.Adam(self.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        gen = torch.Generator().manual_seed(cfg.seed)
        n_tr = len(tr)
        steps = max(1, n_tr // cfg.batch_size)
        params = [p for p in self.parameters() if p.requires_grad]
        log = TrainingLog()
        best, best_state, since_best = math.inf, None, 0
        start = time.perf_counter()
        bar = tqdm(range(cfg.epochs), desc=f"{cfg.architecture} ensemble", disable=not progress)
        for epoch in bar:
            self.train()
            order = torch.stack([torch.randperm(n_tr, generator=gen) for _ in range(e)])
            total = 0.0
            for i in range(steps):
                idx = order[:, i * cfg.batch_size : (i + 1) * cfg.batch_size]  # (E, batch)
                mean, var = self(x_tr[idx], m_tr[idx])
                loss = self._nll(mean, var, y_tr[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                zero_tiny_(params + [v for p in params for v in opt.state[p].values() if v.ndim])
                total += float(loss.detach())
            val = self.validation_nll(x_va, m_va, y_va)
            log.train_nll.append(total / steps)
            log.val_nll.append(val)
            if val < best:
                best, best_state, since_best = val, copy.deepcopy(self.state_dict()), 0
                log.best_epoch = epoch
            else:
                since_best += 1
            bar.set_postfix(train=f"{total / steps:.3f}", val=f"{val:.3f}")
            if cfg.patience is not None and since_best >= cfg.patience:
                break
        self.load_state_dict(best_state)
        log.seconds = time.perf_counter() - start
        self.log = log
        return log

    @staticmethod
    def _nll(mean: torch.Tensor, var: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return 0.5 * (torch.log(var) + (y - mean) ** 2 / var).mean()

    @torch.no_grad()
    def validation_nll(self, x: torch.Tensor, m: torch.Tensor, y: torch.Tensor) -> float:
        self.eval()
        e = self.config.ensemble_size
        total = 0.0
        for i in range(0, len(x), 4096):
            sl = slice(i, i + 4096)
            xb = x[sl].expand(e, -1, -1)
            mean, var = self(xb, m[sl].expand(e, -1, -1, -1))
            total += float(self._nll(mean, var, y[sl].expand(e, -1, -1))) * len(x[sl])
        return total / len(x)

    # ----------------------------------------------------------------- prediction
    @torch.no_grad()
    def predict_all(self, states: NDArray, actions: NDArray) -> tuple[NDArray, NDArray]:
        """Mean and std of every member, each ``(E, B, state_dim)``, in state units."""
        st = self.structure
        s, _ = as_batch(states, st.state_dim, "states")
        a, _ = as_batch(actions, st.action_dim, "actions")
        self.eval()
        x, m = self._tensors(s, a)
        e = self.config.ensemble_size
        means, stds = [], []
        for i in range(0, len(x), 8192):
            sl = slice(i, i + 8192)
            mean, var = self(x[sl].expand(e, -1, -1), m[sl].expand(e, -1, -1, -1))
            means.append(mean * self.y_std + self.y_mean)
            stds.append(var.sqrt() * self.y_std)
        return torch.cat(means, 1).numpy(), torch.cat(stds, 1).numpy()

    @torch.no_grad()
    def sample(self, states: NDArray, actions: NDArray, rng: np.random.Generator) -> NDArray:
        """Next states: for each row one random member, ``mean + std / std_divisor * N(0, 1)``.

        Only the chosen member is evaluated for each row (rows are grouped by member and the
        groups run together as one batched call).
        """
        st, cfg = self.structure, self.config
        s, _ = as_batch(states, st.state_dim, "states")
        a, _ = as_batch(actions, st.action_dim, "actions")
        self.eval()
        b, e = len(s), cfg.ensemble_size
        member = rng.integers(0, e, size=b)
        noise = rng.standard_normal((b, st.state_dim)).astype(np.float32)
        order = np.argsort(member, kind="stable")
        counts = np.bincount(member, minlength=e)
        width = int(counts.max()) if b else 0
        x, m = self._tensors(s[order], a[order])
        xs = torch.zeros(e, width, st.input_dim)
        ms = torch.zeros(e, width, self.n_roots, self.n_groups)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        for k in range(e):
            xs[k, : counts[k]] = x[starts[k] : starts[k] + counts[k]]
            ms[k, : counts[k]] = m[starts[k] : starts[k] + counts[k]]
        out = np.empty((b, st.state_dim), np.float32)
        for i in range(0, width, 8192):
            mean, var = self(xs[:, i : i + 8192], ms[:, i : i + 8192])
            mean = (mean * self.y_std + self.y_mean).numpy()
            std = (var.sqrt() * self.y_std).numpy()
            for k in range(e):
                rows = np.arange(i, min(i + 8192, counts[k]))
                if len(rows):
                    dest = order[starts[k] + rows]
                    out[dest] = mean[k, rows - i] + std[k, rows - i] / cfg.std_divisor * noise[dest]
        return out

    # ----------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """Write weights, structure, config, env id and training log (atomically)."""
        payload = {
            "format_version": 1,
            "structure": self.structure.to_dict(),
            "config": asdict(self.config),
            "env_id": self.env_id,
            "state_dict": self.state_dict(),
            "log": asdict(self.log),
        }
        with atomic_path(path, suffix=".pt") as tmp:
            torch.save(payload, tmp)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path, mask_fn: MaskFn | None = None) -> FactoredEnsemble:
        """Rebuild a saved ensemble; a ``"local"`` one gets ``mask_fn`` or its env's mask."""
        payload: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=False)
        if payload.get("format_version") != 1:
            raise ValueError(f"{path} is not a causal-envs dynamics ensemble (format 1)")
        config = DynamicsConfig(**payload["config"])
        if config.architecture == "local" and mask_fn is None:
            if payload["env_id"] is None:
                raise ValueError("this local model was saved without env_id: pass mask_fn")
            import gymnasium as gym

            import causal_envs  # noqa: F401  (registers the envs)

            mask_fn = gym.make(payload["env_id"]).unwrapped.local_mask
        model = cls(
            CausalStructure.from_dict(payload["structure"]), config, mask_fn, payload["env_id"]
        )
        model.load_state_dict(payload["state_dict"])
        model.log = TrainingLog(**payload["log"])
        return model
