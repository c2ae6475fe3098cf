"""The learned causal structure of a CSR world model scored against an env's ground truth.

The synthetic POMDP (``SyntheticPOMDP-v0``) knows its causal graph (``env.unwrapped.
ground_truth``: ``s->s``, ``a->s``, ``theta->s``, ``s->o``, ``s->r``) and its hidden state
(``info["latent"]``). A learned latent space is identifiable only up to a permutation of its
variables and an invertible map of each (CSR §2.2, Theorem 1's "component-wise" sense), so the
learned variables are first matched to the true ones:

1. `latent_rollout` plays ``windows`` sequences of uniformly random actions in the env, keeping
   the observations and the true latent states;
2. the world model filters them (posterior means, masks hard) into learned latent states;
3. `match_latents` pairs each true variable with one learned variable by the assignment that
   maximises the summed absolute Pearson correlation (Hungarian algorithm,
   ``scipy.optimize.linear_sum_assignment``): absolute, because sign and scale are free;
4. `edge_scores` compares the graphs over the matched pairs: an edge between two true
   variables is recovered when the learned mask has the edge between their partners.

The world model's ``s->o`` mask says whether a variable enters the decoder at all, not which
observation elements it drives, so ``s->o`` is scored per variable (``any`` over the true
mask's row); ``a->s`` and ``theta->s`` likewise take ``any`` over the learned mask's action and
theta inputs. Learned variables left unmatched (more learned than true) are reported by
count, not scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

__all__ = ["GRAPHS", "StructureScore", "edge_scores", "latent_rollout", "match_latents", "score"]

#: the graphs scored, named as the env's ground truth names them
GRAPHS = ("s->s", "a->s", "theta->s", "s->o", "s->r")


@dataclass(frozen=True)
class StructureScore:
    """Edges of each graph over the matched variables, and the matching itself."""

    #: graph -> {"tp", "fp", "fn", "precision", "recall"}; "all" sums every graph
    edges: dict[str, dict[str, float]]
    #: (true variable, learned variable, |correlation|) per matched pair
    matching: list[tuple[int, int, float]]
    true_latent: int
    learned_latent: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "edges": self.edges,
            "matching": [list(m) for m in self.matching],
            "true_latent": self.true_latent,
            "learned_latent": self.learned_latent,
        }


def latent_rollout(
    env: gym.Env, windows: int = 16, length: int = 64, seed: int = 0
) -> tuple[dict[str, NDArray], NDArray]:
    """``windows`` sequences of ``length`` steps of uniformly random actions from fresh resets.

    Returns the sequences as the world model reads them (``obs (B, T, ...)``, ``prev_action``,
    ``first``) and the true latent states ``(B, T, d)`` from ``info["latent"]``.
    """
    if windows < 1 or length < 2:
        raise ValueError(f"need windows >= 1 and length >= 2, got {windows}, {length}")
    rng = np.random.default_rng(seed)
    obs, actions, latents = [], [], []
    n = int(env.action_space.n)
    for _ in range(windows):
        o, info = env.reset(seed=int(rng.integers(2**31 - 1)))
        if "latent" not in info:
            raise ValueError("the env reports no info['latent']: it has no known hidden state")
        seq_o, seq_a, seq_s = [o], [0], [info["latent"]]
        for _ in range(length - 1):
            a = int(rng.integers(n))
            o, _, terminated, truncated, info = env.step(a)
            seq_o.append(o)
            seq_a.append(a)
            seq_s.append(info["latent"])
            if terminated or truncated:
                raise ValueError(f"an episode ended within {length} steps: use shorter windows")
        obs.append(seq_o)
        actions.append(seq_a)
        latents.append(seq_s)
    first = np.zeros((windows, length), dtype=bool)
    first[:, 0] = True
    batch = {
        "obs": np.asarray(obs, dtype=np.float32),
        "prev_action": np.asarray(actions, dtype=np.int64),
        "first": first,
    }
    return batch, np.asarray(latents, dtype=np.float64)


def match_latents(true: NDArray, learned: NDArray) -> list[tuple[int, int, float]]:
    """Pair true and learned variables (columns of ``(N, d)`` and ``(N, d_hat)``) by the
    assignment of largest summed |Pearson correlation|; ``min(d, d_hat)`` pairs, sorted by the
    true variable. A constant column correlates 0 with everything."""
    true, learned = np.asarray(true, dtype=float), np.asarray(learned, dtype=float)
    if true.ndim != 2 or learned.ndim != 2 or len(true) != len(learned) or len(true) < 2:
        raise ValueError(
            f"need (N, d) and (N, d_hat) with N >= 2, got {true.shape}, {learned.shape}"
        )
    a = true - true.mean(0)
    b = learned - learned.mean(0)
    norm = np.outer(np.linalg.norm(a, axis=0), np.linalg.norm(b, axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.where(norm > 0, np.abs(a.T @ b) / norm, 0.0)
    rows, cols = linear_sum_assignment(-corr)
    return sorted((int(i), int(j), float(corr[i, j])) for i, j in zip(rows, cols, strict=True))


def _counts(truth: NDArray, got: NDArray) -> dict[str, float]:
    truth, got = np.asarray(truth, dtype=bool), np.asarray(got, dtype=bool)
    return _ratios(
        {
            "tp": int((truth & got).sum()),
            "fp": int((~truth & got).sum()),
            "fn": int((truth & ~got).sum()),
        }
    )


def _ratios(c: dict[str, int]) -> dict[str, float]:
    tp, fp, fn = c["tp"], c["fp"], c["fn"]
    return {
        **c,
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
        "recall": tp / (tp + fn) if tp + fn else float("nan"),
    }


def edge_scores(
    truth: dict[str, NDArray], learned: dict[str, NDArray], matching: list[tuple[int, int, float]]
) -> dict[str, dict[str, float]]:
    """Per graph, the learned edges against the true ones over the ``matching``'s pairs.

    ``truth``: the env's ground truth (`GRAPHS`, entry ``[i, j]``: input ``i`` causes output
    ``j``). ``learned``: the world model's hard masks (``s->s (d, d)``, ``a->s (n_actions,
    d)``, ``theta_s->s (t_s, d)``, ``s->o (d, 1)``, ``s->r (d, 1)``).
    """
    missing = [g for g in GRAPHS if g not in truth]
    if missing:
        raise ValueError(f"the ground truth lacks {missing}")
    ti = np.array([i for i, _, _ in matching], dtype=int)
    lj = np.array([j for _, j, _ in matching], dtype=int)
    ss = np.asarray(learned["s->s"], dtype=bool)
    theta = np.asarray(learned["theta_s->s"], dtype=bool)
    pairs = {
        "s->s": (np.asarray(truth["s->s"])[np.ix_(ti, ti)], ss[np.ix_(lj, lj)]),
        "a->s": (
            np.asarray(truth["a->s"]).any(0)[ti],
            np.asarray(learned["a->s"], dtype=bool).any(0)[lj],
        ),
        "theta->s": (
            np.asarray(truth["theta->s"]).any(0)[ti],
            theta.any(0)[lj] if theta.shape[0] else np.zeros(len(lj), dtype=bool),
        ),
        "s->o": (
            np.asarray(truth["s->o"]).any(1)[ti],
            np.asarray(learned["s->o"], dtype=bool)[lj, 0],
        ),
        "s->r": (
            np.asarray(truth["s->r"])[ti, 0],
            np.asarray(learned["s->r"], dtype=bool)[lj, 0],
        ),
    }
    out = {g: _counts(*pairs[g]) for g in GRAPHS}
    total = {k: sum(out[g][k] for g in GRAPHS) for k in ("tp", "fp", "fn")}
    out["all"] = _ratios(total)
    return out


@torch.no_grad()
def score(world: torch.nn.Module, env: gym.Env, windows: int = 16, seed: int = 0) -> StructureScore:
    """Match ``world``'s latent variables to ``env``'s hidden ones and score its masks
    against ``env.unwrapped.ground_truth`` (see the module docstring)."""
    truth = getattr(env.unwrapped, "ground_truth", None)
    if truth is None:
        raise ValueError(f"{env.unwrapped!r} has no ground_truth to score a structure against")
    batch, latents = latent_rollout(env, windows=windows, seed=seed)
    device = next(world.parameters()).device
    tensors = {k: torch.as_tensor(v, device=device) for k, v in batch.items()}
    was = world.training
    world.eval()
    states = world.observe(tensors)["states"]  # posterior means in evaluation
    hard = {name: m.cpu().numpy() for name, m in world.structure().items()}
    world.train(was)
    learned_states = states.reshape(-1, states.shape[-1]).cpu().numpy()
    true_states = latents.reshape(-1, latents.shape[-1])
    matching = match_latents(true_states, learned_states)
    return StructureScore(
        edges=edge_scores(truth, hard, matching),
        matching=matching,
        true_latent=true_states.shape[1],
        learned_latent=learned_states.shape[1],
    )
