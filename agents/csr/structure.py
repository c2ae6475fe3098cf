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
4. `edge_scores` compares the graphs: an edge between two true variables is recovered when
   the learned mask has the edge between their partners. Pairs correlated below
   `MIN_CORRELATION` are no match; every variable without a partner still counts (its learned
   edges are false positives, its true edges false negatives);
5. `chance_scores` scores the same way a structure that knows nothing: every mask entry on,
   and each entry on at random with the learned graph's density. A learned structure is
   informative only where it beats both.

The world model's ``s->o`` mask says whether a variable enters the decoder at all, not which
observation elements it drives, so ``s->o`` is scored per variable (``any`` over the true
mask's row); ``theta->s`` likewise takes ``any`` over the learned mask's theta inputs (the
action is one variable on both sides: one row).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

__all__ = [
    "GRAPHS",
    "MIN_CORRELATION",
    "StructureScore",
    "chance_scores",
    "edge_scores",
    "latent_rollout",
    "match_latents",
    "score",
]

#: the graphs scored, named as the env's ground truth names them
GRAPHS = ("s->s", "a->s", "theta->s", "s->o", "s->r")


@dataclass(frozen=True)
class StructureScore:
    """Edges of each graph over the matched variables, and the matching itself."""

    #: graph -> {"tp", "fp", "fn", "precision", "recall"}; "all" sums every graph
    edges: dict[str, dict[str, float]]
    #: the same for structures that know nothing (`chance_scores`: "all_on", "random")
    chance: dict[str, dict[str, dict[str, float]]]
    #: (true variable, learned variable, |correlation|) per matched pair
    matching: list[tuple[int, int, float]]
    true_latent: int
    learned_latent: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "edges": self.edges,
            "chance": self.chance,
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


#: a matched pair whose |correlation| is below this is no match: both variables count as
#: unmatched (a learned variable that tracks nothing true is not credited with its edges)
MIN_CORRELATION = 0.3


def _nodes(
    matching: list[tuple[int, int, float]], d_true: int, d_learned: int, floor: float
) -> tuple[NDArray, NDArray]:
    """The variables scored: each kept pair, then every unmatched true variable (no learned
    partner: -1) and every unmatched learned one (no true partner: -1). Returns the true and
    the learned index of each node."""
    kept = [(i, j) for i, j, r in matching if r >= floor]
    ti = [i for i, _ in kept]
    lj = [j for _, j in kept]
    lone_true = [i for i in range(d_true) if i not in set(ti)]
    lone_learned = [j for j in range(d_learned) if j not in set(lj)]
    t = np.array(ti + lone_true + [-1] * len(lone_learned), dtype=int)
    learned = np.array(lj + [-1] * len(lone_true) + lone_learned, dtype=int)
    return t, learned


def _pick(values: NDArray, index: NDArray) -> NDArray:
    """``values[index]`` along axis 0, False where ``index`` is -1."""
    values = np.asarray(values, dtype=bool)
    out = values[np.clip(index, 0, None)] if len(values) else np.zeros(len(index), dtype=bool)
    out = np.array(out, dtype=bool)
    out[index < 0] = False
    return out


def _pairs(
    truth: dict[str, NDArray], learned: dict[str, NDArray], t: NDArray, lj: NDArray
) -> dict[str, tuple[NDArray, NDArray]]:
    """Per graph: the true and the learned edges over the nodes (see `_nodes`)."""
    ss_true = _pick(_pick(np.asarray(truth["s->s"]), t).T, t).T
    ss_learned = _pick(_pick(np.asarray(learned["s->s"]), lj).T, lj).T
    theta = np.asarray(learned["theta_s->s"], dtype=bool)
    theta_any = theta.any(0) if theta.shape[0] else np.zeros(theta.shape[1], dtype=bool)
    return {
        "s->s": (ss_true, ss_learned),
        "a->s": (
            _pick(np.asarray(truth["a->s"]).any(0), t),
            _pick(np.asarray(learned["a->s"], dtype=bool).any(0), lj),
        ),
        "theta->s": (_pick(np.asarray(truth["theta->s"]).any(0), t), _pick(theta_any, lj)),
        "s->o": (
            _pick(np.asarray(truth["s->o"]).any(1), t),
            _pick(np.asarray(learned["s->o"], dtype=bool)[:, 0], lj),
        ),
        "s->r": (
            _pick(np.asarray(truth["s->r"])[:, 0], t),
            _pick(np.asarray(learned["s->r"], dtype=bool)[:, 0], lj),
        ),
    }


def _summed(per_graph: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    total = {k: sum(per_graph[g][k] for g in GRAPHS) for k in ("tp", "fp", "fn")}
    return {**per_graph, "all": _ratios(total)}


def edge_scores(
    truth: dict[str, NDArray],
    learned: dict[str, NDArray],
    matching: list[tuple[int, int, float]],
    min_correlation: float = MIN_CORRELATION,
) -> dict[str, dict[str, float]]:
    """Per graph (and ``"all"``), the learned edges against the true ones.

    ``truth``: the env's ground truth (`GRAPHS`, entry ``[i, j]``: input ``i`` causes output
    ``j``). ``learned``: the world model's hard masks (``s->s (d, d)``, ``a->s (1, d)``,
    ``theta_s->s (t_s, d)``, ``s->o (d, 1)``, ``s->r (d, 1)``). A true edge is recovered when
    the learned mask has the edge between the partners of its ends (``matching``'s pairs with
    |correlation| at least ``min_correlation``). A learned edge with an end that has no true
    partner is a false positive; a true edge with an end that has no learned partner, a
    false negative.
    """
    missing = [g for g in GRAPHS if g not in truth]
    if missing:
        raise ValueError(f"the ground truth lacks {missing}")
    d_true = np.asarray(truth["s->s"]).shape[0]
    d_learned = np.asarray(learned["s->s"]).shape[0]
    t, lj = _nodes(matching, d_true, d_learned, min_correlation)
    return _summed({g: _counts(*pair) for g, pair in _pairs(truth, learned, t, lj).items()})


def chance_scores(
    truth: dict[str, NDArray],
    learned: dict[str, NDArray],
    matching: list[tuple[int, int, float]],
    min_correlation: float = MIN_CORRELATION,
) -> dict[str, dict[str, dict[str, float]]]:
    """What a structure that knows nothing scores on the same variables (`edge_scores`):
    ``"all_on"``, every learned mask entry on; ``"random"``, each entry on with the learned
    graph's own density (the expected counts). Where the learned graphs beat neither, their
    edges carry no information about the true ones."""
    d_true = np.asarray(truth["s->s"]).shape[0]
    d_learned = np.asarray(learned["s->s"]).shape[0]
    t, lj = _nodes(matching, d_true, d_learned, min_correlation)
    on = {k: np.ones_like(np.asarray(v, dtype=bool)) for k, v in learned.items()}
    pairs_on = _pairs(truth, on, t, lj)
    pairs_learned = _pairs(truth, learned, t, lj)
    random = {}
    for g, (true_edges, possible) in pairs_on.items():
        density = float(pairs_learned[g][1].sum() / possible.sum()) if possible.sum() else 0.0
        hit = float((true_edges & possible).sum())
        miss = float((~true_edges & possible).sum())
        random[g] = _ratios(
            {
                "tp": density * hit,
                "fp": density * miss,
                "fn": float(true_edges.sum()) - density * hit,
            }
        )
    return {
        "all_on": _summed({g: _counts(*pair) for g, pair in pairs_on.items()}),
        "random": _summed(random),
    }


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
        chance=chance_scores(truth, hard, matching),
        matching=matching,
        true_latent=true_states.shape[1],
        learned_latent=learned_states.shape[1],
    )
