import gymnasium as gym
import numpy as np
import pytest

import causal_envs  # noqa: F401  (registers the envs)
from agents.csr import CSRAgent, CSRConfig, WorldModelParams
from agents.csr.structure import GRAPHS, edge_scores, latent_rollout, match_latents, score
from causal_envs.envs.synthetic import SyntheticModel


def test_matching_undoes_a_permutation_with_signs_and_scales():
    rng = np.random.default_rng(0)
    true = rng.standard_normal((500, 3))
    learned = np.column_stack(
        [
            -2.0 * true[:, 2],
            0.5 * true[:, 0] + 0.05 * rng.standard_normal(500),
            rng.standard_normal(500),  # a learned variable nothing true explains
            3.0 * np.tanh(true[:, 1]),  # an invertible map of one variable
            np.ones(500),  # constant: correlates with nothing
        ]
    )
    matching = match_latents(true, learned)
    assert [(i, j) for i, j, _ in matching] == [(0, 1), (1, 3), (2, 0)]
    assert all(c > 0.9 for _, _, c in matching)
    with pytest.raises(ValueError, match="N >= 2"):
        match_latents(true[:1], learned[:1])


def _learned_from(truth: dict, perm: np.ndarray, n_actions: int = 5) -> dict:
    """The world model's masks that encode ``truth`` exactly, learned variable ``perm[i]``
    standing for true variable ``i``."""
    inv = np.argsort(perm)
    ss = truth["s->s"][np.ix_(inv, inv)]
    return {
        "s->s": ss,
        "a->s": np.repeat(truth["a->s"][:, inv], n_actions, axis=0),
        "theta_s->s": np.repeat(truth["theta->s"][:, inv], 2, axis=0),
        "s->o": truth["s->o"].any(1)[inv][:, None],
        "s->r": truth["s->r"][inv],
    }


def test_edges_of_an_exact_structure_score_one_and_a_wrong_edge_counts():
    truth = SyntheticModel.create(seed=3).ground_truth()
    perm = np.array([2, 0, 3, 1])
    learned = _learned_from(truth, perm)
    matching = [(i, int(perm[i]), 1.0) for i in range(4)]
    scores = edge_scores(truth, learned, matching)
    for g in (*GRAPHS, "all"):
        assert scores[g]["fp"] == scores[g]["fn"] == 0, g
    assert scores["all"]["precision"] == scores["all"]["recall"] == 1.0
    # the edge between the partners of true variables 0 and 1 flipped: one error
    wrong = {**learned, "s->s": learned["s->s"].copy()}
    i, j = perm[0], perm[1]
    wrong["s->s"][i, j] = not wrong["s->s"][i, j]
    s = edge_scores(truth, wrong, matching)["s->s"]
    assert s["fp"] + s["fn"] == 1
    with pytest.raises(ValueError, match="lacks"):
        edge_scores({"s->s": truth["s->s"]}, learned, matching)


def test_score_matches_a_world_model_to_the_synthetic_pomdp():
    env = gym.make("SyntheticPOMDP-v0")
    batch, latents = latent_rollout(env, windows=3, length=10, seed=1)
    assert batch["obs"].shape[:2] == (3, 10) and latents.shape == (3, 10, 4)
    assert batch["first"][:, 0].all() and not batch["first"][:, 1:].any()
    again, _ = latent_rollout(env, windows=3, length=10, seed=1)
    np.testing.assert_array_equal(batch["obs"], again["obs"])  # seeded
    cfg = CSRConfig(world=WorldModelParams(latent_dim=6, hidden=16), seed=0)
    agent = CSRAgent(env.observation_space.shape, int(env.action_space.n), cfg)
    result = score(agent.world, env, windows=4)
    assert result.true_latent == 4 and result.learned_latent == 6
    assert len(result.matching) == 4 and len({j for _, j, _ in result.matching}) == 4
    total = result.edges["all"]
    assert total["tp"] + total["fn"] == sum(
        int(np.asarray(v).sum() if k != "s->o" else np.asarray(v).any(1).sum())
        for k, v in env.unwrapped.ground_truth.items()
    )  # every true edge among the matched variables is counted once
    assert result.to_dict()["learned_latent"] == 6
    with pytest.raises(ValueError, match="ground_truth"):
        score(agent.world, gym.make("CausalCartPole-v0", obs_type="state"))


def test_unmatched_and_weakly_matched_variables_count_against_the_structure():
    truth = SyntheticModel.create(seed=3).ground_truth()
    perm = np.array([2, 0, 3, 1])
    exact = _learned_from(truth, perm)
    # one learned variable more, with an edge to learned variable 0: nothing true is there
    grown = {
        "s->s": np.pad(exact["s->s"], ((0, 1), (0, 1))),
        "a->s": np.pad(exact["a->s"], ((0, 0), (0, 1))),
        "theta_s->s": np.pad(exact["theta_s->s"], ((0, 0), (0, 1))),
        "s->o": np.pad(exact["s->o"], ((0, 1), (0, 0))),
        "s->r": np.pad(exact["s->r"], ((0, 1), (0, 0))),
    }
    grown["s->s"][4, 0] = True
    matching = [(i, int(perm[i]), 1.0) for i in range(4)]
    s = edge_scores(truth, grown, matching)["s->s"]
    assert s["fp"] == 1 and s["fn"] == 0
    # a match below the floor is none: true variable 0's edges are missed, its partner's
    # learned edges are false
    weak = [(i, j, 0.1 if i == 0 else r) for i, j, r in matching]
    w = edge_scores(truth, exact, weak)["all"]
    n_true_0 = int(truth["s->s"][0].sum() + truth["s->s"][:, 0].sum() - truth["s->s"][0, 0])
    assert w["fn"] >= n_true_0 > 0 and w["fp"] > 0
    assert edge_scores(truth, exact, weak, min_correlation=0.0)["all"]["fn"] == 0


def test_chance_baselines_score_a_structure_that_knows_nothing():
    from agents.csr.structure import chance_scores

    truth = SyntheticModel.create(seed=3).ground_truth()
    perm = np.array([2, 0, 3, 1])
    exact = _learned_from(truth, perm)
    matching = [(i, int(perm[i]), 1.0) for i in range(4)]
    chance = chance_scores(truth, exact, matching)
    ss = truth["s->s"].astype(bool)
    on = chance["all_on"]["s->s"]
    assert on["recall"] == 1.0 and on["precision"] == pytest.approx(ss.mean())
    # random at the learned density (the truth's own here): precision = the truth's density
    rnd = chance["random"]["s->s"]
    assert rnd["precision"] == pytest.approx(ss.mean()) and rnd["recall"] == pytest.approx(
        ss.mean()
    )
    assert (
        edge_scores(truth, exact, matching)["all"]["precision"]
        > chance["all_on"]["all"]["precision"]
    )
