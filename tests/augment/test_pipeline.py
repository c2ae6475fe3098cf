import gymnasium as gym
import numpy as np
import pytest

from augment import METHODS, DynamicsConfig, MoCoDA, MoCoDAConfig, TrainingConfig
from causal_envs.datasets.nav2d import generate_nav2d_empirical

SMALL = dict(
    total_size=3_000,
    n_components=4,
    val_size=200,
    dynamics=DynamicsConfig(
        hidden=(32, 32), embed_dim=16, training=TrainingConfig(epochs=2, batch_size=256)
    ),
)


@pytest.fixture(scope="module")
def data():
    return generate_nav2d_empirical(seed=0, n_per_behaviour=1_000)


@pytest.fixture(scope="module")
def fitted(data):
    return MoCoDA("CausalNav2D-v0", MoCoDAConfig(**SMALL)).fit(data, models=("local", "unfactored"))


@pytest.fixture(scope="module")
def generated(fitted):
    return {m: fitted.generate(m) for m in METHODS}


@pytest.mark.parametrize("method", METHODS)
def test_every_method_is_complete_valid_and_labelled(method, generated, data):
    out = generated[method]
    env = gym.make("CausalNav2D-v0").unwrapped
    assert len(out) == 3_000
    assert np.array_equal(out.observations[: len(data)], data.observations)
    assert (out.observations >= 0).all() and (out.observations <= 1).all()
    assert (out.next_observations >= 0).all() and (out.next_observations <= 1).all()
    assert (np.abs(out.actions) <= 1).all()
    args = (out.observations, out.actions, out.next_observations)
    assert np.array_equal(out.rewards, env.reward_fn(*args))
    assert np.array_equal(out.terminals, env.termination_fn(*args))
    meta = out.metadata
    assert meta["method"] == method and meta["env_id"] == "CausalNav2D-v0"
    assert meta["n_empirical"] + meta["n_generated"] == 3_000 or method == "emp"
    assert meta["source"]["generator"] == "nav2d/empirical"


def test_emp_repeats_the_data(generated, data):
    emp = generated["emp"]
    assert emp.metadata["n_generated"] == 0
    rows = {tuple(r) for r in np.concatenate([data.observations, data.actions], 1)}
    extra = np.concatenate([emp.observations, emp.actions], 1)[len(data) :]
    assert len(extra) == 1_000 and all(tuple(r) in rows for r in extra)
    assert len({tuple(r) for r in extra}) == 1_000  # resampled without replacement


def test_generated_transitions_come_from_the_model(fitted, generated, data):
    """Each generated s' lies within 4 sigma/3 of one member's prediction (clipped to walls)."""
    out = generated["mocoda"]
    new = slice(len(data), None)
    mean, std = fitted.models["local"].predict_all(out.observations[new], out.actions[new])
    lo = np.clip((mean - 4 * std / 3).min(0), 0, 1) - 1e-6
    hi = np.clip((mean + 4 * std / 3).max(0), 0, 1) + 1e-6
    s2 = out.next_observations[new]
    assert ((s2 >= lo) & (s2 <= hi)).mean() > 0.999


def test_dyn_rollouts_are_chains_of_depth_1_to_4(generated, data):
    dyn = generated["dyn"]
    bounds = dyn.episode_bounds()
    gen = bounds[bounds[:, 0] >= len(data)]
    lengths = gen[:, 1] - gen[:, 0]
    assert lengths[:-1].min() >= 1 and lengths.max() <= 4 and len(set(lengths[:-1])) == 4
    for start, stop in gen[:50]:
        assert np.allclose(
            dyn.observations[start + 1 : stop], dyn.next_observations[start : stop - 1]
        )


def test_mocoda_u_is_more_uniform_than_mocoda(fitted):
    rng = np.random.default_rng(0)
    plain = fitted.sample_parents(20_000, rng)[:, :2]
    uniform = fitted.sample_uniform_parents(20_000, rng)[:, :2]

    def spread(x):  # coefficient of variation of a 5x5 histogram of (x, y)
        h, *_ = np.histogram2d(x[:, 0], x[:, 1], bins=5, range=[[0, 1], [0, 1]])
        return h.std() / h.mean()

    assert spread(uniform) < 0.7 * spread(plain)
    assert len(uniform) == 20_000


def test_mocoda_u_visits_the_quadrant_the_data_never_shows(generated):
    """The empirical routes (bottom-to-top from x >= 0.6, left-to-right from y <= 0.4) barely
    enter the top-left quadrant; MOCODA-U's counterfactual states do, many times as often."""

    def share(data):
        s = data.observations
        return float(np.mean((s[:, 0] < 0.5) & (s[:, 1] > 0.5)))

    assert share(generated["emp"]) < 0.01
    assert share(generated["mocoda-u"]) > 5 * share(generated["emp"])
    assert share(generated["mocoda-u"]) > share(generated["mocoda"])


def test_parents_stay_inside_the_spaces(fitted):
    p = fitted.sample_parents(5_000, np.random.default_rng(1))
    assert (p[:, :2] >= 0).all() and (p[:, :2] <= 1).all() and (np.abs(p[:, 2:]) <= 1).all()


def test_the_authors_parents_keep_what_falls_outside_the_spaces(data):
    """The authors' parent model (uniform weights, diagonal covariances, truncation 2.5) keeps
    parents outside the spaces and labels them unclipped, as their code does; ours redraws."""
    cfg = MoCoDAConfig(**SMALL).with_authors_parents()
    assert (cfg.parent_weights, cfg.parent_covariance, cfg.truncate, cfg.parent_bounds) == (
        "uniform",
        "diag",
        2.5,
        "keep",
    )
    mocoda = MoCoDA("CausalNav2D-v0", cfg).fit(data, models=("local",))
    parents = mocoda.sample_parents(20_000, np.random.default_rng(1))
    outside = ~mocoda.inside_spaces(parents)
    assert 0 < outside.mean() < 0.2
    made = mocoda.generate("mocoda").observations
    assert ((made < 0) | (made > 1)).any()  # labelled as drawn
    with pytest.raises(ValueError, match="parent_bounds must be one of"):
        MoCoDAConfig(parent_bounds="clip")
    with pytest.raises(ValueError, match="parent_covariance must be one of"):
        MoCoDAConfig(parent_covariance="spherical")


def test_same_seed_same_augmented_data(data, generated):
    again = MoCoDA("CausalNav2D-v0", MoCoDAConfig(**SMALL)).fit(data, models=("local",))
    assert again.generate("mocoda-u").equals(generated["mocoda-u"])
    other = MoCoDA("CausalNav2D-v0", MoCoDAConfig(**{**SMALL, "seed": 1})).fit(data)
    assert not other.generate("mocoda").equals(generated["mocoda"])


def test_bad_input(data, fitted):
    with pytest.raises(TypeError, match="causal contract"):
        MoCoDA("CartPole-v1")
    fresh = MoCoDA("CausalNav2D-v0", MoCoDAConfig(**SMALL))
    with pytest.raises(RuntimeError, match="fit"):
        fresh.generate("mocoda")
    with pytest.raises(ValueError, match="method must be one of"):
        fitted.generate("mocoda-x")
    with pytest.raises(ValueError, match="smaller than the data"):
        MoCoDA("CausalNav2D-v0", MoCoDAConfig(**{**SMALL, "total_size": 100})).fit(
            data, models=()
        ).generate("mocoda")
    with pytest.raises(ValueError, match="dyn_depth"):
        MoCoDAConfig(dyn_depth=(0, 3))
    wrong = generate_nav2d_empirical(seed=0, n_per_behaviour=300)
    object.__setattr__(wrong, "observations", np.zeros((600, 3), np.float32))
    object.__setattr__(wrong, "next_observations", np.zeros((600, 3), np.float32))
    with pytest.raises(ValueError, match="state dim 3"):
        fresh.fit(wrong)


def test_a_second_fit_trains_its_models_on_the_new_data(data):
    mocoda = MoCoDA("CausalNav2D-v0", MoCoDAConfig(**SMALL)).fit(data, models=("local",))
    first = mocoda.models["local"]
    half = generate_nav2d_empirical(seed=1, n_per_behaviour=500)
    mocoda.fit(half, models=("local",))
    assert mocoda.models["local"] is not first and set(mocoda.models) == {"local"}
