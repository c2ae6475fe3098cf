"""The threshold tau* of CSR's distribution-shift detection (§3.1, Algorithm 1), and its
arithmetic.

Algorithm 1 ends every task by recording tau*, "the final prediction loss of the model" on
it; on the next task theta is re-estimated and the task is a distribution shift if the error
falls below tau*, a space expansion otherwise. A `Threshold` holds what the agent recorded:

- ``tau``: tau* itself, the mean forward prediction error on the finished task's probe steps
  (`Threshold.record`);
- ``reference`` (with ``detect_probe="matched"``): those steps' latent states and errors, so
  that tau* can be read where the new task's data goes (`Threshold.matched_tau`) and so that
  the probe steps the finished task never came near can be told apart
  (`Threshold.match_reference`, the coverage rule).

    threshold = Threshold()
    threshold.record(errors)                           # tau* = errors.mean()
    threshold.reference = Reference(states, errors)    # for the matched tau*
    tau, covered = threshold.match_reference(new_states, neighbours=16, quantile=0.95)

The agent measures (`agents.csr.CSRAgent.record_threshold`: fresh probe steps of the task,
its model's errors on them) and keeps the result in ``agent.threshold``; the adaptation reads
it (`agents.csr.adaptation.compare_with_reference`). The constants (``match_neighbours``,
``coverage_quantile``) are `agents.csr.CSRConfig` fields, passed in by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["Reference", "Threshold"]


@dataclass(frozen=True)
class Reference:
    """The finished task's probe steps that tau* is matched against: their latent states
    ``(N, latent_dim)`` and forward prediction errors ``(N,)``."""

    states: np.ndarray
    errors: np.ndarray

    def __post_init__(self) -> None:
        if self.states.ndim != 2 or self.errors.shape != (len(self.states),):
            raise ValueError(
                f"a reference needs states (N, latent_dim) and errors (N,), got "
                f"{self.states.shape} and {self.errors.shape}"
            )


@dataclass
class Threshold:
    """tau* recorded at the end of a task and, for the matched tau*, the steps it was
    measured on (see the module docstring).

    Attributes:
        tau: tau*, the mean prediction error on the finished task's probe (None: none
            recorded yet).
        reference: the finished task's probe steps (policy and random-action probes) with
            their errors, for `matched_tau` and `match_reference`; None unless recorded with
            ``detect_probe="matched"``.
    """

    tau: float | None = None
    reference: Reference | None = None

    def record(self, errors: np.ndarray) -> float:
        """Record tau* as the mean of the per-step prediction ``errors`` of the finished
        task (CSR §3.1: "the final prediction loss of the model"); returns it. The
        ``reference`` is set apart (only the matched probe keeps one)."""
        self.tau = float(np.mean(errors))
        return self.tau

    def matched_tau(self, states: np.ndarray, neighbours: int) -> float:
        """tau* matched to ``states`` ``(N, latent_dim)``: for each step, the mean prediction
        error of the ``neighbours`` reference steps nearest in latent state (each dimension
        scaled by the reference's spread), averaged over the steps. It asks how well the model
        predicted the finished task where the new task's data now goes, instead of where the
        finished task's policy went."""
        return float(self.match_reference(states, neighbours, quantile=None)[0].mean())

    def match_reference(
        self, states: np.ndarray, neighbours: int, quantile: float | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per step of ``states`` ``(N, latent_dim)``: the matched tau* (`matched_tau`) and
        whether the step lies inside the reference's coverage (``(N,)`` floats and bools).

        A step is covered when the mean distance to its ``neighbours`` nearest reference
        steps is at most the ``quantile`` of the same distance measured from each reference
        step (itself left out); with ``quantile=None`` every step is. Outside the coverage
        the matched tau* is an extrapolation: the model was never measured there on the
        finished task.
        """
        from sklearn.neighbors import NearestNeighbors  # deferred: only matched detection

        if self.reference is None:
            raise RuntimeError(
                "no reference: call record_threshold(env=...) with detect_probe='matched'"
            )
        ref_states, ref_errors = self.reference.states, self.reference.errors
        if states.ndim != 2 or states.shape[1] != ref_states.shape[1]:
            raise ValueError(
                f"the reference has {ref_states.shape[1]} latent variables, the states "
                f"{states.shape[1:]}: record the threshold again after changing the latent space"
            )
        scale = ref_states.std(axis=0) + 1e-6
        k = min(neighbours, len(ref_states))
        index = NearestNeighbors(n_neighbors=k).fit(ref_states / scale)
        distances, nearest = index.kneighbors(states / scale)
        tau = ref_errors[nearest].mean(axis=1)
        if quantile is None or len(ref_states) < 2:
            return tau, np.ones(len(states), dtype=bool)
        own = min(k + 1, len(ref_states))
        ref_distances, _ = index.kneighbors(ref_states / scale, n_neighbors=own)
        radius = np.quantile(ref_distances[:, 1:].mean(axis=1), quantile)
        return tau, distances.mean(axis=1) <= radius

    # ----------------------------------------------------------------- persistence
    def state_dict(self) -> dict[str, Any]:
        """tau* and the reference as a checkpoint holds them: plain values and CPU tensors
        (a weights-only load reads no NumPy arrays)."""
        ref = self.reference
        return {
            "tau": self.tau,
            "reference": (
                None
                if ref is None
                else {"states": torch.as_tensor(ref.states), "errors": torch.as_tensor(ref.errors)}
            ),
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> Threshold:
        """The threshold `state_dict` wrote (tensors on any device)."""
        ref = state.get("reference")
        return cls(
            tau=state["tau"],
            reference=(
                None
                if ref is None
                else Reference(ref["states"].cpu().numpy(), ref["errors"].cpu().numpy())
            ),
        )
