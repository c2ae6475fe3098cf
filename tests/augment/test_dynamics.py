import dataclasses
import itertools

import gymnasium as gym
import numpy as np
import pytest
import torch

import causal_envs  # noqa: F401
from augment.dynamics import (
    DynamicsConfig,
    EnsembleTrainer,
    FactoredEnsemble,
    TrainingConfig,
    zero_tiny_,
)
from causal_envs.datasets.nav2d import generate_nav2d_empirical
from causal_envs.envs.nav2d import NAV2D_STRUCTURE, Nav2DModel

MASK = gym.make("CausalNav2D-v0").unwrapped.local_mask
TRAINING_FIELDS = {f.name for f in dataclasses.fields(TrainingConfig)}


def model(arch, **kw):
    """A small Nav2D ensemble; ``kw`` are DynamicsConfig's or TrainingConfig's fields."""
    training = {k: kw.pop(k) for k in list(kw) if k in TRAINING_FIELDS}
    cfg = DynamicsConfig(
        architecture=arch, hidden=(32, 32), embed_dim=16, training=TrainingConfig(**training), **kw
    )
    return FactoredEnsemble(NAV2D_STRUCTURE, cfg, MASK, "CausalNav2D-v0")


@pytest.fixture(scope="module")
def data():
    return generate_nav2d_empirical(seed=0, n_per_behaviour=1500)


def inputs(n=256, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (n, 2)), rng.uniform(-1, 1, (n, 2))


@pytest.mark.parametrize("arch", ["global", "local"])
def test_masked_out_roots_cannot_change_a_child(arch):
    m = model(arch)
    s, a = inputs()
    s[:, 0] = np.where(np.arange(len(s)) % 2, 0.2, 0.8)  # half in the quadrant (local)
    s[:, 1] = np.where(np.arange(len(s)) % 2, 0.3, 0.9)
    mask = MASK(s, a) if arch == "local" else np.broadcast_to(NAV2D_STRUCTURE.graph, (len(s), 4, 2))
    base, _ = m.predict_all(s, a)
    for root in range(4):
        s2, a2 = s.copy(), a.copy()
        (s2 if root < 2 else a2)[:, root % 2] += 0.05
        # stay on the same side of the quadrant border
        moved, _ = m.predict_all(s2, a2)
        changed = np.abs(moved - base).max(axis=0) > 1e-6  # (B, child)
        assert not (changed & ~mask[:, root, :]).any()
        assert changed[mask[:, root, :]].all()


def test_gradient_of_a_child_wrt_masked_roots_is_zero():
    m = model("local")
    s, a = inputs(64)
    x = torch.tensor(np.concatenate([s, a], 1), dtype=torch.float32, requires_grad=True)
    masks = m.node_masks(s, a)
    mean, _ = m(x.expand(5, -1, -1), masks.expand(5, -1, -1, -1))
    mean[..., 0].sum().backward()  # child x'
    grad = x.grad.numpy()
    allowed = MASK(s, a)[:, :, 0]
    assert np.all(grad[~allowed] == 0) and np.all(np.abs(grad[allowed]) > 0)


def test_unfactored_reads_everything():
    m = model("unfactored")
    s, a = inputs(32)
    base, _ = m.predict_all(s, a)
    a2 = a.copy()
    a2[:, 1] += 0.1
    assert (np.abs(m.predict_all(s, a2)[0] - base)[..., 0] > 1e-6).all()  # dy -> x' everywhere


def test_members_differ_and_training_learns(data):
    m = model("local", epochs=15, lr=2e-3, batch_size=256)
    log = EnsembleTrainer(m).fit(data.observations, data.actions, data.next_observations)
    assert len(log.val_nll) == 15 and np.isfinite(log.train_nll).all()
    assert log.val_nll[log.best_epoch] == min(log.val_nll) < log.val_nll[0]
    mean, std = m.predict_all(data.observations[:500], data.actions[:500])
    assert mean.shape == (5, 500, 2) and (std > 0).all()
    assert np.abs(mean[0] - mean[1]).mean() > 1e-5  # members differ
    err = np.abs(mean.mean(0) - data.next_observations[:500]).mean()
    assert err < 0.0125  # a quarter of one step (0.05)


def test_same_seed_same_model_and_samples(data, tmp_path):
    kw = dict(epochs=2, batch_size=256)
    a, b = model("local", **kw), model("local", **kw)
    EnsembleTrainer(a).fit(data.observations, data.actions, data.next_observations)
    EnsembleTrainer(b).fit(data.observations, data.actions, data.next_observations)
    s, act = inputs(100)
    sa = a.sample(s, act, np.random.default_rng(1))
    assert np.array_equal(sa, b.sample(s, act, np.random.default_rng(1)))
    # save / load round trip (the local mask is rebuilt from the stored env id)
    path = a.save(tmp_path / "m.pt")
    c = FactoredEnsemble.load(path)
    assert np.array_equal(sa, c.sample(s, act, np.random.default_rng(1)))
    assert c.log.val_nll == a.log.val_nll


def test_sample_uses_one_member_per_row_with_std_divided():
    m = model("global", std_divisor=3.0)
    s, a = inputs(4000)
    s[:] = 0.3
    a[:] = 0.2
    mean, std = m.predict_all(s[:1], a[:1])
    out = m.sample(s, a, np.random.default_rng(0))
    # a mixture of the 5 members' Gaussians with std / 3
    expected = mean[:, 0].mean(0)
    spread = np.sqrt((std[:, 0] ** 2 / 9 + mean[:, 0] ** 2).mean(0) - expected**2)
    np.testing.assert_allclose(out.mean(0), expected, atol=3 * spread.max() / np.sqrt(4000) + 1e-4)
    np.testing.assert_allclose(out.std(0), spread, rtol=0.1)


def test_bad_input():
    with pytest.raises(ValueError, match="architecture"):
        DynamicsConfig(architecture="dense")
    with pytest.raises(ValueError, match="needs mask_fn"):
        FactoredEnsemble(NAV2D_STRUCTURE, DynamicsConfig(architecture="local"))
    m = model("global")
    s, a = inputs(10)
    with pytest.raises(ValueError, match=r"states must be a real array of shape \(batch, 2\)"):
        m.predict_all(np.zeros((10, 3)), a)
    with pytest.raises(ValueError, match="NaN"):
        EnsembleTrainer(m).fit(np.full((10, 2), np.nan), a, s)
    with pytest.raises(ValueError, match="differ in length"):
        EnsembleTrainer(m).fit(s, a[:5], s)
    bad = FactoredEnsemble(
        NAV2D_STRUCTURE, DynamicsConfig(), lambda s, a: np.ones((len(s), 2, 2), bool)
    )
    with pytest.raises(ValueError, match=r"mask_fn must return bool \(10, 4, 2\)"):
        bad.predict_all(s, a)


def test_true_dynamics_are_in_reach():
    """Sanity of the task the models learn: one step is at most 0.05 + 0.02 per coordinate."""
    s, a = inputs(1000)
    step = np.abs(Nav2DModel().dynamics(s, a) - s)
    assert step.max() <= 0.0701


def test_zero_tiny_removes_would_be_denormals(data):
    t = torch.tensor([1e-35, -1e-31, 1e-20, 0.5, -2.0], dtype=torch.float64)
    zero_tiny_([t])
    assert t.tolist() == [0.0, 0.0, 1e-20, 0.5, -2.0]
    m = model("global", epochs=2, batch_size=256)
    with torch.no_grad():
        m.layer.hidden_w[0][0, 0, :, 0] = 1e-33  # a would-be denormal row
    EnsembleTrainer(m).fit(data.observations, data.actions, data.next_observations)
    for p in m.parameters():
        assert not ((p.abs() < 1e-30) & (p != 0)).any()


def test_the_composer_equals_one_embedding_per_root_summed_under_the_mask():
    """The batched layer against the Masked Composer written out root by root (appendix B.3)."""
    from augment.dynamics.layer import MaskedComposerEnsemble

    roots, groups = [[0], [1, 2], [3]], [[0, 2], [1]]
    layer = MaskedComposerEnsemble(roots, groups, 3, 8, (16,), torch.Generator().manual_seed(0))
    x = torch.randn(3, 50, 4, generator=torch.Generator().manual_seed(1))
    mask = (torch.rand(3, 50, 3, 2, generator=torch.Generator().manual_seed(2)) > 0.4).float()
    mean, var = layer(x, mask)
    w = layer.embed_w * layer.block  # (E, G, in, R * d)
    for e in range(3):
        for g, dims in enumerate(groups):
            h = sum(
                mask[e, :, r, g, None]
                * (
                    x[e][:, roots[r]] @ w[e, g][roots[r], r * 8 : (r + 1) * 8]
                    + layer.embed_b[e, g, 0, r * 8 : (r + 1) * 8]
                )
                for r in range(3)
            )
            h = torch.relu(h @ layer.hidden_w[0][e, g] + layer.hidden_b[0][e, g])
            out = h @ layer.out_w[e, g] + layer.out_b[e, g]
            for k, j in enumerate(dims):
                torch.testing.assert_close(mean[e, :, j], out[:, k], rtol=1e-5, atol=1e-6)
                ref_var = torch.nn.functional.softplus(out[:, layer.width + k]) + 1e-6
                torch.testing.assert_close(var[e, :, j], ref_var, rtol=1e-5, atol=1e-6)


def test_cosine_schedule_decays_to_zero_over_the_fixed_epochs(data):
    m = model("local", epochs=3, steps_per_epoch=4, schedule="cosine", lr=1e-3, batch_size=64)
    trainer = EnsembleTrainer(m)
    seen = []
    original = torch.optim.Adam.step

    def spy(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    torch.optim.Adam.step = spy
    try:
        log = trainer.fit(data.observations, data.actions, data.next_observations)
    finally:
        torch.optim.Adam.step = original
    assert log.steps_per_epoch == 4 and len(log.val_nll) == 3 and len(seen) == 12
    assert seen[0] == pytest.approx(1e-3) and seen[-1] < 0.03 * 1e-3
    assert all(a >= b for a, b in itertools.pairwise(seen))


def test_schedule_and_epoch_length_are_checked():
    with pytest.raises(ValueError, match="schedule must be one of"):
        TrainingConfig(schedule="linear")
    with pytest.raises(ValueError, match="steps_per_epoch must be an integer >= 1"):
        TrainingConfig(steps_per_epoch=0)
    authors = DynamicsConfig.authors_nav2d()
    t = authors.training
    assert (authors.hidden, t.lr, t.epochs, t.steps_per_epoch) == (
        (256, 256),
        1e-4,
        600,
        29,
    )


def test_members_draw_their_own_minibatches_unless_shared_as_the_authors_do():
    gen = torch.Generator().manual_seed(0)
    own = EnsembleTrainer(model("local")).member_orders(100, gen)
    shared = EnsembleTrainer(model("local", shared_minibatch=True)).member_orders(100, gen)
    assert own.shape == shared.shape == (5, 100)
    assert not torch.equal(own[0], own[1]) and all(torch.equal(shared[0], r) for r in shared)
    authors = DynamicsConfig.authors_nav2d()
    assert authors.training.shared_minibatch and authors.training.val_rows == 20_000
    with pytest.raises(ValueError, match="val_rows must be an integer >= 1"):
        TrainingConfig(val_rows=0)


def test_validation_every_so_many_steps_and_after_the_last_epoch(data):
    m = model("local", epochs=7, steps_per_epoch=3, val_every_steps=10, batch_size=64)
    log = EnsembleTrainer(m).fit(data.observations, data.actions, data.next_observations)
    # 3 steps an epoch: validated once 10 steps have passed (epoch 3, at step 12) and after the
    # last epoch (6)
    assert log.val_epochs == [3, 6] and len(log.train_nll) == 7 and len(log.val_nll) == 2
    assert log.best_epoch in log.val_epochs
    with pytest.raises(ValueError, match="val_every_steps must be an integer >= 1"):
        TrainingConfig(val_every_steps=0)


def test_the_authors_stopping_rule_stops_late_at_a_new_low_and_keeps_the_last_weights(data):
    kw = dict(epochs=60, steps_per_epoch=2, val_every_steps=1, batch_size=64, lr=1e-3)
    m = model("local", stopping="authors", **kw)
    log = EnsembleTrainer(m).fit(data.observations, data.actions, data.next_observations)
    val = log.val_nll
    # validated after every step (2 an epoch), mid-epoch too
    assert log.stopping == "authors" and log.val_epochs == [k // 2 for k in range(len(val))]

    def beats(k):  # lower than each of the nine validations before it
        return val[k] < min(val[max(0, k - 9) : k])

    # epoch e is one of the last 50 when 60 - e < 50: validations 22 onwards (2 an epoch)
    assert beats(len(val) - 1) and not any(beats(k) for k in range(22, len(val) - 1))
    assert len(log.train_nll) < 60 and log.best_epoch == len(log.train_nll) - 1
    assert log.kept_val_nll == val[-1]
    # the last weights are kept: the same run under "best" restores another validation's weights
    best = model("local", **kw)
    EnsembleTrainer(best).fit(data.observations, data.actions, data.next_observations)
    s, a = inputs(64)
    assert not np.allclose(m.predict_all(s, a)[0], best.predict_all(s, a)[0])
    for bad in (dict(val_every_steps=None), dict(val_every_steps=100, patience=3)):
        with pytest.raises(ValueError, match="stopping='authors' validates every"):
            TrainingConfig(**bad, stopping="authors")
    with pytest.raises(ValueError, match="stopping must be one of"):
        TrainingConfig(stopping="early")


def test_bf16_training_learns_as_float32_does_and_is_deterministic(data):
    kw = dict(epochs=15, lr=2e-3, batch_size=256)
    fp32, bf16, again = (
        model("local", **kw),
        *(model("local", precision="bf16", **kw) for _ in "ab"),
    )
    for m in (fp32, bf16, again):
        EnsembleTrainer(m).fit(data.observations, data.actions, data.next_observations)
    s, a = data.observations[:500], data.actions[:500]
    errors = [
        np.abs(m.predict_all(s, a)[0].mean(0) - data.next_observations[:500]).mean()
        for m in (fp32, bf16)
    ]
    assert errors[1] < 0.0125 and errors[1] < 1.5 * errors[0], errors
    rng = np.random.default_rng(1)
    assert np.array_equal(bf16.sample(s, a, rng), again.sample(s, a, np.random.default_rng(1)))
    assert bf16.predict_all(s, a)[0].dtype == np.float32  # prediction is float32 always
    with pytest.raises(ValueError, match="precision must be one of"):
        TrainingConfig(precision="fp16")


def test_bf16_keeps_the_embedding_and_the_output_layer_in_float32():
    m = model("local")
    s, a = inputs(64)
    x, masks = m.model_inputs(s, a)
    seen = []
    original = torch.einsum

    def spy(eq, *ops):
        out = original(eq, *ops)
        seen.append(out.dtype)
        return out

    torch.einsum = spy
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mean, var = m(x.expand(5, -1, -1), masks.expand(5, -1, -1, -1))
    finally:
        torch.einsum = original
    assert seen == [torch.bfloat16, torch.bfloat16, torch.float32]  # 2 hidden, then output
    assert mean.dtype == var.dtype == torch.float32


def test_inputs_are_fed_raw_unless_normalised(data):
    s, a, s2 = data.observations, data.actions, data.next_observations
    raw, scaled = model("unfactored"), model("unfactored", normalise_inputs=True)
    for m in (raw, scaled):
        m.set_normalisation(np.concatenate([s, a], 1), s2)
    assert torch.equal(raw.x_mean, torch.zeros(4)) and torch.equal(raw.x_std, torch.ones(4))
    assert torch.allclose(scaled.x_std, torch.tensor(np.concatenate([s, a], 1).std(0) + 1e-6))
    # the targets are standardised either way
    assert torch.equal(raw.y_std, scaled.y_std) and not torch.equal(raw.y_std, torch.ones(2))
    x, _ = raw.model_inputs(s[:8], a[:8])
    assert torch.allclose(x, torch.tensor(np.concatenate([s[:8], a[:8]], 1)))
    with pytest.raises(ValueError, match="normalise_inputs must be True or False"):
        DynamicsConfig(normalise_inputs="no")


def test_a_constant_input_is_centred_not_scaled(data):
    """An input that never varies in the data (HookSweep2's finger action, when the expert
    never moves the fingers) keeps scale 1: a sample a hair off the constant stays a hair off,
    not thousands of standard deviations away."""
    s, a, s2 = data.observations, data.actions.copy(), data.next_observations
    a[:, 1] = 0.0
    m = model("unfactored", normalise_inputs=True)
    m.set_normalisation(np.concatenate([s, a], 1), s2)
    assert m.x_std[3] == 1.0 and m.x_std[2] != 1.0
    off = a[:4].copy()
    off[:, 1] = 1e-3
    x, _ = m.model_inputs(s[:4], off)
    assert torch.allclose(x[:, 3], torch.full((4,), 1e-3))


def test_the_training_settings_are_their_own_config_and_a_saved_one_round_trips(tmp_path, data):
    # a flat training keyword names where it belongs; a budget change is one replace
    with pytest.raises(TypeError, match="epochs"):
        DynamicsConfig(epochs=1)
    with pytest.raises(TypeError, match="training must be a TrainingConfig"):
        DynamicsConfig(training={"epochs": 1})
    cfg = DynamicsConfig.authors_nav2d(training=TrainingConfig.authors_nav2d(precision="bf16"))
    assert cfg.hidden == (256, 256) and cfg.training.precision == "bf16"
    assert cfg.training.stopping == "authors" and cfg.training.batch_size == 512
    assert DynamicsConfig.from_dict(dataclasses.asdict(cfg)) == cfg
    m = model("global", epochs=1, batch_size=256)
    EnsembleTrainer(m).fit(data.observations, data.actions, data.next_observations)
    path = m.save(tmp_path / "m.pt")
    assert FactoredEnsemble.load(path).config == m.config
