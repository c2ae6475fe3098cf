"""The dynamics model: a batched ensemble over an env's causal structure, in state units.

`FactoredEnsemble` wraps `MaskedComposerEnsemble` with
what turns a network into a model of ``(s, a) -> s'``: the factorisation (which roots and output
groups the composer has, and which mask it is fed), input and target normalisation, prediction,
MoCoDA's sampling rule and save/load. Training is
`EnsembleTrainer`.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from augment.dynamics.config import DynamicsConfig, MaskFn, TrainingLog
from augment.dynamics.layer import MaskedComposerEnsemble
from causal_envs.core import CausalStructure, as_batch, atomic_path
from causal_envs.core.checkpoint import load_checkpoint
from causal_envs.core.device import AUTO, resolve_device

__all__ = ["FORMAT_VERSION", "FactoredEnsemble"]

#: version 3: the config's training settings nested under ``training`` (`TrainingConfig`);
#: a file of another version is refused with a message to train and save it again
FORMAT_VERSION = 3
_NORMALISERS = ("x_mean", "x_std", "y_mean", "y_std")
#: a dimension whose std over the training rows is below this is constant: it is centred,
#: not scaled (as scikit-learn's StandardScaler does), so that a sample a hair off the
#: constant is not read as thousands of standard deviations away
CONSTANT_STD = 1e-6


def _scale(std: NDArray) -> NDArray:
    """Per-dimension scales from the training rows' std: the std (plus 1e-6), or 1 where
    the dimension is constant.

    Examples:
        >>> _scale(np.array([0.5, 0.0]))
        array([0.500001, 1.      ])
    """
    return np.where(std < CONSTANT_STD, 1.0, std + 1e-6)


class FactoredEnsemble(nn.Module):
    """An ensemble of dynamics models over a `CausalStructure`.

    The three architectures differ only in the composer's roots, output groups and mask:
    ``"unfactored"`` has one root over every input and one group over every next-state
    dimension (mask all ones); ``"global"`` one root per input node and one group per output node,
    masked by the constant sparsest graph; ``"local"`` the same, masked by ``mask_fn`` per row.

    Args:
        structure: the env's causal structure (node groups and the sparsest graph).
        config: hyperparameters; ``config.architecture`` picks the factorisation.
        mask_fn: for ``"local"``, ``mask_fn(states, actions) -> bool (B, n_inputs, n_outputs)``,
            usually ``env.unwrapped.local_mask``.
        env_id: stored with the model so that `load` can rebuild ``mask_fn``.
        device: where the parameters live and the model computes (``"auto"``: CUDA if
            available; see `causal_envs.core.device`). Inputs arrive as NumPy arrays and move there
            once per call; predictions come back as NumPy arrays.
    """

    def __init__(
        self,
        structure: CausalStructure,
        config: DynamicsConfig | None = None,
        mask_fn: MaskFn | None = None,
        env_id: str | None = None,
        device: str | torch.device | None = AUTO,
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
        dev = resolve_device(device)
        with dev:  # every parameter and buffer is made on the device
            self.register_buffer("static_mask", torch.tensor(s.graph.astype(np.float32)))
            gen = torch.Generator(device=dev).manual_seed(config.seed)
            self.layer = MaskedComposerEnsemble(
                roots, groups, config.ensemble_size, config.embed_dim, config.hidden, gen
            )
            for name in _NORMALISERS:
                size = s.input_dim if name.startswith("x") else s.state_dim
                self.register_buffer(
                    name, torch.zeros(size) if "mean" in name else torch.ones(size)
                )
        #: the learning curves of the last training (see EnsembleTrainer)
        self.log: TrainingLog | None = None

    @property
    def device(self) -> torch.device:
        """Where the model's parameters are (``model.to(device)`` moves them)."""
        return self.x_mean.device

    def as_tensor(self, array: NDArray) -> torch.Tensor:
        """A float32 copy of ``array`` on the model's device."""
        return torch.as_tensor(np.asarray(array, dtype=np.float32), device=self.device)

    @property
    def n_roots(self) -> int:
        return self.layer.n_roots

    @property
    def n_groups(self) -> int:
        return self.layer.n_groups

    # ----------------------------------------------------------------- inputs
    def node_masks(self, states: NDArray, actions: NDArray) -> torch.Tensor:
        """The ``(B, n_roots, n_groups)`` float mask each architecture feeds the composer."""
        b = len(states)
        if self.config.architecture == "unfactored":
            return torch.ones(b, 1, 1, device=self.device)
        if self.config.architecture == "global":
            return self.static_mask.expand(b, -1, -1)
        mask = np.asarray(self.mask_fn(states, actions))
        expected = (b, self.n_roots, self.n_groups)
        if mask.shape != expected or mask.dtype != np.bool_:
            raise ValueError(f"mask_fn must return bool {expected}, got {mask.dtype} {mask.shape}")
        return self.as_tensor(mask)

    def set_normalisation(self, inputs: NDArray, next_states: NDArray) -> None:
        """Normalise targets ``s'`` and (with ``config.normalise_inputs``) inputs ``[s, a]``
        by these rows' mean and std."""
        if self.config.normalise_inputs:
            self.x_mean.copy_(self.as_tensor(inputs.mean(0)))
            self.x_std.copy_(self.as_tensor(_scale(inputs.std(0))))
        else:
            self.x_mean.zero_()
            self.x_std.fill_(1.0)
        self.y_mean.copy_(self.as_tensor(next_states.mean(0)))
        self.y_std.copy_(self.as_tensor(_scale(next_states.std(0))))

    def model_inputs(self, states: NDArray, actions: NDArray) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised inputs ``(B, input_dim)`` and node masks ``(B, n_roots, n_groups)``."""
        x = self.as_tensor(np.concatenate([states, actions], axis=1))
        return (x - self.x_mean) / self.x_std, self.node_masks(states, actions)

    def normalised_targets(self, next_states: NDArray) -> torch.Tensor:
        return (self.as_tensor(next_states) - self.y_mean) / self.y_std

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised inputs ``(E, B, in)`` and masks ``(E, B, R, G)`` -> mean, var ``(E, B, S)``
        in normalised target units."""
        return self.layer(x, mask)

    def _checked(self, states: NDArray, actions: NDArray) -> tuple[NDArray, NDArray]:
        st = self.structure
        s, _ = as_batch(states, st.state_dim, "states")
        a, _ = as_batch(actions, st.action_dim, "actions")
        if len(s) != len(a):
            raise ValueError(f"states and actions differ in length: {len(s)} != {len(a)}")
        return s, a

    # ----------------------------------------------------------------- prediction
    @torch.no_grad()
    def predict_all(self, states: NDArray, actions: NDArray) -> tuple[NDArray, NDArray]:
        """Mean and std of every member, each ``(E, B, state_dim)``, in state units."""
        s, a = self._checked(states, actions)
        self.eval()
        x, m = self.model_inputs(s, a)
        e = self.config.ensemble_size
        means, stds = [], []
        for i in range(0, len(x), 8192):
            sl = slice(i, i + 8192)
            mean, var = self(x[sl].expand(e, -1, -1), m[sl].expand(e, -1, -1, -1))
            means.append(mean * self.y_std + self.y_mean)
            stds.append(var.sqrt() * self.y_std)
        return torch.cat(means, 1).cpu().numpy(), torch.cat(stds, 1).cpu().numpy()

    @torch.no_grad()
    def sample(self, states: NDArray, actions: NDArray, rng: np.random.Generator) -> NDArray:
        """Next states: for each row one random member, ``mean + std / std_divisor * N(0, 1)``.

        Only the chosen member is evaluated for each row (rows are grouped by member and the
        groups run together as one batched call).
        """
        st, cfg = self.structure, self.config
        s, a = self._checked(states, actions)
        self.eval()
        b, e = len(s), cfg.ensemble_size
        member = rng.integers(0, e, size=b)
        noise = rng.standard_normal((b, st.state_dim)).astype(np.float32)
        order = np.argsort(member, kind="stable")
        counts = np.bincount(member, minlength=e)
        width = int(counts.max()) if b else 0
        x, m = self.model_inputs(s[order], a[order])
        xs = torch.zeros(e, width, st.input_dim, device=self.device)
        ms = torch.zeros(e, width, self.n_roots, self.n_groups, device=self.device)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        for k in range(e):
            xs[k, : counts[k]] = x[starts[k] : starts[k] + counts[k]]
            ms[k, : counts[k]] = m[starts[k] : starts[k] + counts[k]]
        out = np.empty((b, st.state_dim), np.float32)
        for i in range(0, width, 8192):
            mean, var = self(xs[:, i : i + 8192], ms[:, i : i + 8192])
            mean = (mean * self.y_std + self.y_mean).cpu().numpy()
            std = (var.sqrt() * self.y_std).cpu().numpy()
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
            "format_version": FORMAT_VERSION,
            "structure": self.structure.to_dict(),
            "config": asdict(self.config),
            "env_id": self.env_id,
            "state_dict": self.state_dict(),
            "log": asdict(self.log) if self.log is not None else None,
        }
        with atomic_path(path, suffix=".pt") as tmp:
            torch.save(payload, tmp)
        return Path(path)

    @classmethod
    def load(
        cls,
        path: str | Path,
        mask_fn: MaskFn | None = None,
        device: str | torch.device | None = AUTO,
    ) -> FactoredEnsemble:
        """Rebuild a saved ensemble on ``device`` (whichever device saved it); a ``"local"`` one
        gets ``mask_fn`` or its env's mask."""
        dev = resolve_device(device)
        payload: dict[str, Any] = load_checkpoint(path, "dynamics ensemble", map_location=dev)
        version = payload.get("format_version") if isinstance(payload, dict) else None
        if version != FORMAT_VERSION:
            raise ValueError(
                f"{path} is not a causal-envs dynamics ensemble of format {FORMAT_VERSION} "
                f"(found {version!r}); train and save it again"
            )
        state = payload["state_dict"]
        config = DynamicsConfig.from_dict(payload["config"])
        if config.architecture == "local" and mask_fn is None:
            if payload["env_id"] is None:
                raise ValueError("this local model was saved without env_id: pass mask_fn")
            mask_fn = gym.make(payload["env_id"]).unwrapped.local_mask
        model = cls(
            CausalStructure.from_dict(payload["structure"]), config, mask_fn, payload["env_id"], dev
        )
        model.load_state_dict(state)
        if payload.get("log") is not None:
            model.log = TrainingLog(**payload["log"])
        return model
