"""CSR's world model, adaptation steps and persistence: what CSR must do, one test each."""

import copy
from dataclasses import replace

import numpy as np
import pytest
import torch

import causal_envs  # noqa: F401
from agents.csr import (
    CSRAgent,
    CSRConfig,
    MaskGate,
    SequenceReplay,
    StructuredWorldModel,
    WorldModelConfig,
    adapt,
)
from agents.csr import (
    WorldModelParams as W,
)
from agents.csr.adaptation import grown_entries, reestimate_theta, train_new_parts
from agents.csr.detection import Reference, Threshold
from agents.csr.world_model import REWARD_MOMENTUM, REWARD_SCALE_FLOOR
from causal_envs.tasks import make_sequence


def _batch(obs_dim=6, n_actions=3, b=4, t=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    first = torch.zeros(b, t, dtype=torch.bool)
    first[:, 0] = True
    first[1, 4] = True
    return {
        "obs": torch.randn(b, t, obs_dim, generator=g),
        "prev_action": torch.randint(0, n_actions, (b, t), generator=g),
        "reward": torch.randn(b, t, generator=g),
        "cont": torch.ones(b, t, dtype=torch.bool),
        "first": first,
    }


def _model(**kw):
    torch.manual_seed(0)
    cfg = WorldModelConfig(obs_shape=(6,), n_actions=3, latent_dim=5, hidden=16, embed=16, **kw)
    return StructuredWorldModel(cfg)


# ----------------------------------------------------------------------------- masks and theta
@pytest.mark.parametrize("relaxation", ["sigmoid", "gumbel"])
def test_mask_gates_and_theta_receive_gradients(relaxation):
    model = _model(relaxation=relaxation)
    loss, parts, _ = model.loss(_batch())
    loss.backward()
    for name, gate in model.masks.items():
        if gate.logits.numel():
            assert gate.logits.grad is not None and gate.logits.grad.abs().sum() > 0, name
    assert model.theta.grad is not None and model.theta.grad.abs().sum() > 0
    assert set(parts) >= {"loss/obs", "loss/kl", "loss/sparsity"}


def test_unstructured_model_has_fixed_all_ones_masks_and_no_theta():
    model = _model(structured=False, use_theta=False)
    assert model.theta.numel() == 0
    for gate in model.masks.values():
        assert torch.equal(gate(), torch.ones(gate.shape)) and not gate.logits.requires_grad
        assert gate.l1() == 0


def test_mask_gate_relaxations_and_hard_values():
    gate = MaskGate(3, 2, init_logit=0.0)
    with torch.no_grad():
        gate.logits[0, 0] = 4.0
        gate.logits[1, 1] = -4.0
    gate.eval()
    hard = gate()
    assert hard[0, 0] == 1 and hard[1, 1] == 0 and set(hard.unique().tolist()) <= {0.0, 1.0}
    gate.train()
    soft = gate()
    assert 0 < soft[2, 0] < 1
    g = MaskGate(3, 2, relaxation="gumbel").train()
    assert set(g().detach().unique().tolist()) <= {0.0, 1.0}  # straight-through hard sample
    with pytest.raises(ValueError, match="relaxation"):
        MaskGate(2, 2, relaxation="tanh")


# ----------------------------------------------------------------------------- expansion
def _predictions(model, batch):
    model.eval()
    with torch.no_grad():
        out = model.observe(batch)
        d_old = 5
        s = out["states"].reshape(-1, out["states"].shape[-1])
        obs = model.decode(s, out["masks"])
        rew, cont = model.reward(s, out["masks"]), model.continuation(s)
        prior = out["prior"].mean.reshape(-1, out["states"].shape[-1])[:, :d_old]
    return obs, rew, cont, out["states"][..., :d_old], prior


def test_expansion_keeps_the_old_predictions_before_training():
    model = _model(free_nats=0.0)  # no free nats: the KL term's gradient reaches the prior
    batch = _batch()
    before = _predictions(model, batch)
    model.expand_latent(3)
    assert model.latent_dim == 8 and model.masks["s->s"].shape == (8, 8)
    after = _predictions(model, batch)
    for x, y in zip(before, after, strict=True):
        torch.testing.assert_close(x, y)
    # the new parts learn: the zero weights out of the new variables get gradients
    model.train()
    loss, _, _ = model.loss(batch)
    loss.backward()
    assert model.obs_in.weights["s"].grad[:, 5:].abs().sum() > 0
    assert model.transition.w_s.grad[:5, 5:].abs().sum() > 0


def test_action_and_observation_expansion_keep_old_predictions():
    model = _model()
    batch = _batch()
    obs_before, rew_before, *_ = _predictions(model, batch)
    model.expand_actions(2)
    model.expand_observation(1)
    assert model.n_actions == 5 and model.config.obs_shape == (7,)
    wide = dict(batch, obs=torch.cat([batch["obs"], torch.zeros(4, 7, 1)], dim=-1))
    obs_after, rew_after, *_ = _predictions(model, wide)
    torch.testing.assert_close(obs_after[:, :6], obs_before)
    torch.testing.assert_close(rew_after, rew_before)


def test_the_action_is_one_variable_with_one_mask_row_shared_by_its_values():
    """D^{a->s} has one row (the action is one variable of the graph): switching its edge to a
    latent off removes every action's effect on that latent, and new actions add no row."""
    model = _model()
    assert model.masks["a->s"].shape == (1, 5)
    s = torch.randn(16, 5)
    theta = model.thetas()[2].expand(16, -1)
    masks = {name: torch.ones(gate.shape) for name, gate in model.masks.items()}
    masks["a->s"][0, 2] = 0.0  # the action's edge to latent 2 is off
    t = model.transition
    means = [
        t(
            s,
            model.one_hot(torch.full((16,), k)),
            theta,
            masks["s->s"],
            masks["a->s"],
            masks["theta_s->s"],
        )[0]
        for k in range(3)
    ]
    for other in means[1:]:
        torch.testing.assert_close(other[:, 2], means[0][:, 2])  # no action moves latent 2
        assert not torch.allclose(other[:, 1], means[0][:, 1])  # the others still do
    model.expand_actions(2)
    assert model.masks["a->s"].shape == (1, 5)


THETA_GAIN = "transition.edge_gain"


def _small_agent(seed=0, **kw):
    cfg = CSRConfig(world=W(latent_dim=4, hidden=16), batch_size=4, seq_len=8, seed=seed, **kw)
    env = make_sequence("cartpole", seed=0, obs_type="state").make(0)
    agent = CSRAgent(env.observation_space.shape, env.action_space.n, cfg)
    replay = agent.new_replay(env)
    agent.collect(env, 300, replay, random=True)
    return agent, env, replay


def test_expansion_trains_only_the_new_parts_with_the_old_weights_frozen():
    agent, _, replay = _small_agent()
    new = grown_entries(agent.world, 3)
    agent.expand_latent(3)
    assert new["obs_in.weights.s"].shape == (16, 7)
    assert new["obs_in.weights.s"][:, 4:].all() and not new["obs_in.weights.s"][:, :4].any()
    assert not new["masks.s->s.logits"][:4, :4].any() and new["masks.s->s.logits"][4:].all()
    before = {n: p.detach().clone() for n, p in agent.world.named_parameters()}
    train_new_parts(agent, replay, new, steps=5, policy=True)
    changed_new = 0
    for name, p in agent.world.named_parameters():
        if name == "theta":
            continue
        old = ~new[name]
        torch.testing.assert_close(p.detach()[old], before[name][old], msg=name)
        changed_new += int((p.detach()[new[name]] != before[name][new[name]]).any())
    assert changed_new >= 5  # the new parts of encoder-side, transition, decoder, reward learn
    # unfrozen afterwards (the edge gains are re-estimated with theta only)
    assert all(p.requires_grad for n, p in agent.world.named_parameters() if n != THETA_GAIN)
    assert not agent.world.transition.edge_gain.requires_grad


def test_threshold_is_measured_on_held_out_steps_of_the_task():
    agent, env, replay = _small_agent(adapt_collect=120, detect_probe="policy")
    n, steps = len(replay), agent.env_steps
    tau = agent.record_threshold(env=env)
    assert tau == agent.threshold.tau and np.isfinite(tau) and tau > 0
    assert len(replay) == n and agent.env_steps == steps + 120  # fresh steps, replay untouched
    assert agent.record_threshold(replay) > 0
    with pytest.raises(ValueError, match="replay or its env"):
        agent.record_threshold()


# ----------------------------------------------------------------------------- pruning
def test_pruning_removes_exactly_the_variables_without_outgoing_edges():
    model = _model()
    d = model.latent_dim
    with torch.no_grad():
        for gate in model.masks.values():
            gate.logits.fill_(-5.0)
        # variable 0 -> o, variable 1 -> r, variable 2 -> variable 3; 3 and 4 only self-loops
        model.masks["s->o"].logits[0, 0] = 5.0
        model.masks["s->r"].logits[1, 0] = 5.0
        model.masks["s->s"].logits[2, 3] = 5.0
        model.masks["s->s"].logits[3, 3] = 5.0
        model.masks["s->s"].logits[4, 4] = 5.0
    assert model.compact_variables().tolist() == [0, 1, 2]
    model.eval()
    states = torch.randn(10, d)
    with torch.no_grad():
        masks = model.mask_values()
        obs_before = model.decode(states, masks)
        rew_before = model.reward(states, masks)
        prior_before = model.prior(states, torch.zeros(10, 3), masks).mean[:, :3]
    model.keep_latent(model.compact_variables())
    assert model.latent_dim == 3 and model.masks["s->s"].shape == (3, 3)
    assert model.masks["s->s"].hard()[2, 2] == 0 and model.masks["s->o"].hard()[0, 0]
    kept = states[:, :3]
    with torch.no_grad():
        masks = model.mask_values()
        # the generative model of the kept variables is untouched: the pruned ones had no edge
        torch.testing.assert_close(model.decode(kept, masks), obs_before)
        torch.testing.assert_close(model.reward(kept, masks), rew_before)
        torch.testing.assert_close(model.prior(kept, torch.zeros(10, 3), masks).mean, prior_before)


def test_the_policy_reads_the_compact_state_so_pruning_leaves_it_unchanged():
    """pi(a | s_min, theta) (CSR §3.4): the actor and critic ignore the variables pruning would
    remove, so after pruning they act and value exactly as before on the variables kept."""
    agent, env, replay = _small_agent()
    for _ in range(3):
        agent.update(replay)  # the actor and critic train on imagined states
    with torch.no_grad():
        for gate in agent.world.masks.values():
            gate.logits.fill_(-5.0)
        agent.world.masks["s->o"].logits[0, 0] = 5.0
        agent.world.masks["s->r"].logits[2, 0] = 5.0  # variables 1 and 3 are not compact
    keep = agent.world.compact_variables()
    assert keep.tolist() == [0, 2]
    seen = []
    for head in (agent.actor, agent.critic):
        head.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach()))
    agent.update(replay)  # a policy step: imagined states reach the heads compact
    agent.reset_filter()
    agent.act(env.reset(seed=0)[0])  # and so does the filtered state when acting
    assert len(seen) > 3 and all((x[..., [1, 3]] == 0).all() for x in seen)
    assert any((x[..., [0, 2]] != 0).any() for x in seen)
    states = torch.randn(32, 4)
    mask = agent.world.compact_mask().float()
    theta = agent._theta(32)
    with torch.no_grad():
        logits = agent.actor(states * mask, theta)
        values = agent.critic(states * mask, theta)
        # what a non-compact variable holds does not move the policy
        other = states.clone()
        other[:, [1, 3]] = torch.randn(32, 2)
        torch.testing.assert_close(agent.actor(other * mask, theta), logits)
    agent.keep_latent(keep)
    with torch.no_grad():
        torch.testing.assert_close(agent.actor(states[:, keep], theta), logits)
        torch.testing.assert_close(agent.critic(states[:, keep], theta), values)


# ----------------------------------------------------------------------------- detection
def _synthetic_agent(adaptation="csr", seed=0):
    cfg = CSRConfig(
        world=W(latent_dim=6, hidden=32),
        batch_size=16,
        seq_len=16,
        prefill=1_500,
        adaptation=adaptation,
        detect_steps=150,
        adapt_collect=1_500,
        expand_steps=60,
        expansion="random",
        seed=seed,
        replay_capacity=20_000,
    )
    seq = make_sequence("synthetic", seed=3)
    env = seq.make(0)
    agent = CSRAgent(env.observation_space.shape, env.action_space.n, cfg)
    replay = agent.new_replay(env)
    agent.collect(env, 1_500, replay, random=True)
    for _ in range(250):
        agent.update(replay, policy=False)
    agent.record_threshold(replay)
    return agent, seq


def test_detection_calls_a_pure_theta_change_a_distribution_shift():
    agent, seq = _synthetic_agent()
    assert agent.threshold.tau is not None and agent.threshold.tau > 0
    agent, _, report = adapt(agent, seq.make(1), task=1)
    assert report.decision == "distribution_shift", report.log
    assert report.added == 0 and agent.world.latent_dim == 6
    assert any("distribution shift" in line for line in report.log)
    assert agent.decisions[-1]["decision"] == "distribution_shift"


def test_detection_calls_a_grown_latent_space_an_expansion():
    agent, seq = _synthetic_agent()
    agent, _, report = adapt(agent, seq.make(2), task=2)
    assert report.decision == "space_expansion", report.log
    assert report.error_after_theta > agent.threshold.tau * agent.config.threshold_scale
    assert 1 <= report.added <= agent.config.max_new
    assert agent.world.latent_dim == 6 + report.added - len(report.pruned)


# ----------------------------------------------------------------------------- persistence, seeds
def test_agent_saves_and_loads_with_grown_structure(tmp_path):
    env = make_sequence("cartpole", seed=0, obs_type="state").make(0)
    agent = CSRAgent((4,), 2, CSRConfig(world=W(latent_dim=4, hidden=16), prefill=100, seq_len=10))
    replay = agent.new_replay(env)
    agent.collect(env, 120, replay, random=True)
    agent.update(replay)
    agent.expand_latent(2)
    agent.expand_actions(1)
    agent.threshold.tau = 0.5
    path = agent.save(tmp_path / "csr.pt")
    loaded = CSRAgent.load(path)
    assert loaded.world.latent_dim == 6 and loaded.n_actions == 3 and loaded.threshold.tau == 0.5
    batch = replay.sample(3, 10, np.random.default_rng(0))
    batch["prev_action"] = batch["prev_action"].clamp(max=1)
    err = agent.world.prediction_error(batch)
    assert err == pytest.approx(loaded.world.prediction_error(batch))
    obs = env.reset(seed=1)[0]
    agent.reset_filter()
    loaded.reset_filter()
    assert agent.act(obs) == loaded.act(obs)


def test_training_is_deterministic_for_a_seed():
    def run(seed):
        env = make_sequence("cartpole", seed=0, obs_type="state").make(0)
        cfg = CSRConfig(
            world=W(latent_dim=4, hidden=16), prefill=100, seq_len=10, batch_size=4, seed=seed
        )
        agent = CSRAgent((4,), 2, cfg)
        _, curve = agent.learn(env, 40)
        return [p.detach().clone() for p in agent.world.parameters()], curve

    a, curve_a = run(1)
    b, curve_b = run(1)
    assert curve_a == curve_b
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x, y)
    c, _ = run(2)
    assert not all(torch.equal(x, y) for x, y in zip(a, c, strict=True))


def test_config_and_replay_validation():
    with pytest.raises(ValueError, match="adaptation"):
        CSRConfig(adaptation="magic")
    with pytest.raises(ValueError, match="finetune"):
        CSRConfig(adaptation="finetune")  # Dreamer has no masks or theta
    CSRConfig(adaptation="finetune", world=W(structured=False, use_theta=False))
    replay = SequenceReplay(10, (2,))
    with pytest.raises(ValueError, match="shape"):
        replay.add(np.zeros(3), 0, 0.0, True, True)
    with pytest.raises(ValueError, match="fewer than length"):
        replay.sample(2, 5, np.random.default_rng(0))
    assert replace(CSRConfig(), world=W(latent_dim=3)).world.latent_dim == 3


def test_pixel_observations_train_and_expand():
    seq = make_sequence("cartpole", seed=0, obs_type="pixels")
    env = seq.make(0)
    cfg = CSRConfig(world=W(latent_dim=4, hidden=32), batch_size=2, seq_len=6, prefill=30, seed=0)
    agent = CSRAgent(env.observation_space.shape, 2, cfg)
    assert agent.world.config.pixels
    replay, _ = agent.learn(env, 12)
    assert replay.obs.dtype == np.uint8 and agent.n_updates == 3
    batch = replay.sample(2, 6, np.random.default_rng(0))
    before = agent.world.prediction_error(batch)
    agent.expand_latent(2)
    assert agent.world.prediction_error(batch) == pytest.approx(before, rel=1e-5)
    # the frames' convolutions run channels-last (the layout (B, H, W, C) frames permute to),
    # and a decoded batch comes back (B, H, W, C) without a layout copy
    convs = [
        m
        for m in agent.world.modules()
        if isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d)
    ]
    assert len(convs) == 8
    assert all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in convs)
    frames = agent.world.obs_out(torch.zeros(3, agent.world.obs_out.fc.in_features))
    assert frames.shape == (3, *env.observation_space.shape) and frames.is_contiguous()


def test_the_continuation_reads_the_whole_state_whatever_the_reward_mask():
    """CartPole's reward is +1 on every step: the sparsity term switches every s->r edge off.
    The continuation must still see the state, or imagined episodes never end."""
    model = _model()
    with torch.no_grad():
        model.masks["s->r"].logits.fill_(-20.0)
    model.eval()
    masks = model.mask_values()
    assert not model.masks["s->r"].hard().any()
    a, b = torch.zeros(3, model.latent_dim), torch.ones(3, model.latent_dim)
    with torch.no_grad():
        torch.testing.assert_close(model.reward(a, masks), model.reward(b, masks))
        assert (model.continuation(a) - model.continuation(b)).abs().min() > 0


def test_the_reward_model_learns_standardised_rewards_and_predicts_in_env_units():
    """The reward head learns (r - loc) / scale, so the sparsity term's price of an s->r edge
    is weighed against the reward's variance, not its unit; `reward` answers in env units."""
    batch = _batch()
    batch["reward"] = 100.0 + 0.05 * batch["reward"]  # a large offset, a small spread
    model = _model()
    _, parts, _ = model.loss(batch)  # training mode: the first batch sets the statistics
    r = batch["reward"].reshape(-1)
    assert float(model.reward_loc) == pytest.approx(float(r.mean()), rel=1e-6)
    assert float(model.reward_scale) == pytest.approx(float(r.std(unbiased=False)), rel=1e-5)
    s, masks = torch.randn(5, model.latent_dim), model.mask_values()
    with torch.no_grad():
        head = model._reward_head(s, masks)
        torch.testing.assert_close(
            model.reward(s, masks), head * model.reward_scale + model.reward_loc
        )
    # the reward's loss is in standardised units: an untrained head is off by about 1, not 100
    assert float(parts["loss/reward"]) < 10.0
    # later batches move the statistics by the momentum; evaluation never moves them
    loc = float(model.reward_loc)
    batch["reward"] = batch["reward"] + 1.0
    model.loss(batch)
    assert float(model.reward_loc) == pytest.approx(loc + (1 - REWARD_MOMENTUM), rel=1e-6)
    model.eval()
    model.loss(batch)
    assert float(model.reward_loc) == pytest.approx(loc + (1 - REWARD_MOMENTUM), rel=1e-6)
    # a constant reward (CartPole's +1): the scale stops at its floor, the target at 0
    flat = _model()
    batch["reward"] = torch.ones_like(batch["reward"])
    flat.loss(batch)
    assert float(flat.reward_loc) == 1.0
    assert float(flat.reward_scale) == pytest.approx(REWARD_SCALE_FLOOR)
    # switched off: the env's units, the statistics stay the identity
    plain = _model(standardise_reward=False)
    plain.loss(batch)
    assert float(plain.reward_loc) == 0.0 and float(plain.reward_scale) == 1.0


def test_restricted_training_leaves_the_reward_statistics_alone():
    """Re-estimating theta (or training new parts) keeps everything else fixed, the reward's
    running location and scale included; ordinary training moves them again."""
    agent, _, replay = _small_agent()
    agent.update(replay)
    before = (float(agent.world.reward_loc), float(agent.world.reward_scale))
    reestimate_theta(agent, replay, steps=3)
    assert (float(agent.world.reward_loc), float(agent.world.reward_scale)) == before
    assert agent.world.track_reward_stats
    batches = int(agent.world.reward_batches)
    agent.update(replay)
    assert int(agent.world.reward_batches) == batches + 1


def test_checkpoints_keep_the_reward_statistics_and_refuse_other_formats(tmp_path):
    from causal_envs.core.checkpoint import CheckpointError, load_checkpoint

    agent, _, replay = _small_agent()
    for _ in range(3):
        agent.update(replay)
    path = agent.save(tmp_path / "new.pt")
    loaded = CSRAgent.load(path)
    assert loaded.world.config.standardise_reward and loaded.config.world.standardise_reward
    assert float(loaded.world.reward_batches) == 3
    assert float(loaded.world.reward_scale) == float(agent.world.reward_scale)
    # a file of the layout before the format was versioned (no reward statistics, a bare tau)
    blob = load_checkpoint(path, "CSR agent")
    old = {k: v for k, v in blob.items() if k not in ("format_version", "threshold")}
    old["tau"] = 0.1
    torch.save(old, tmp_path / "old.pt")
    with pytest.raises(CheckpointError, match=r"unversioned .*retrain the agent"):
        CSRAgent.load(tmp_path / "old.pt")
    torch.save({**blob, "format_version": 99}, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="format 99"):
        CSRAgent.load(tmp_path / "future.pt")


def test_detection_probes_with_the_chosen_behaviour_and_anchors_theta():
    agent, env, replay = _small_agent(adapt_collect=120, detect_probe="policy")
    assert CSRConfig().detect_probe == "matched"  # the default
    seen = []
    original = agent.collect

    def spy(env, steps, replay, random=False, actions=None):
        seen.append(random)
        return original(env, steps, replay, random=random, actions=actions)

    agent.collect = spy
    agent.record_threshold(env=env)
    agent.config = replace(agent.config, detect_probe="random")
    agent.record_threshold(env=env)
    agent.config = replace(agent.config, detect_probe="policy")
    assert seen == [False, True]  # tau* on the policy's rollouts, then on random actions
    n = len(replay)
    probe = agent.probe_replay(env)
    replay.extend(probe)
    assert len(replay) == n + len(probe) and len(probe) >= 120
    # theta re-estimated with the anchor stays closer to its source value than without
    from agents.csr.adaptation import reestimate_theta

    drift = {}
    for reg in (0.0, 100.0):
        a = copy.deepcopy(agent)
        a.config = replace(a.config, theta_reg=reg)
        start = a.world.theta.detach().clone()
        reestimate_theta(a, replay, 60)
        assert a.anchor is None  # only while theta alone learns
        drift[reg] = float((a.world.theta.detach() - start).norm())
    assert drift[100.0] < drift[0.0]
    with pytest.raises(ValueError, match="detect_probe"):
        CSRConfig(detect_probe="policy-ish")
    with pytest.raises(ValueError, match="theta_reg"):
        CSRConfig(theta_reg=-1.0)


def test_matched_detection_keeps_a_reference_and_compares_at_the_probes_states(tmp_path):
    agent, env, replay = _small_agent(adapt_collect=120, detect_probe="matched")
    for _ in range(20):
        agent.update(replay, policy=False)
    tau = agent.record_threshold(env=env)
    threshold, k = agent.threshold, agent.config.match_neighbours
    ref = threshold.reference
    assert ref is not None and ref.states.shape == (len(ref.errors), 4)
    assert tau > 0 and (ref.errors >= 0).all()
    probe = agent.probe_replay(env)
    states = agent.step_errors(probe)[0]
    matched = threshold.matched_tau(states, k)
    # the mean of reference errors: within the reference's range, and the same every time
    assert ref.errors.min() <= matched <= ref.errors.max()
    assert threshold.matched_tau(agent.step_errors(probe)[0], k) == matched
    # the per-step values average to it, whatever the coverage rule
    assert threshold.match_reference(states, k, 0.95)[0].mean() == pytest.approx(matched)
    # a reference whose errors are doubled doubles the matched tau*
    threshold.reference = Reference(ref.states, 2 * ref.errors)
    assert threshold.matched_tau(states, k) == pytest.approx(2 * matched, rel=1e-5)
    threshold.reference = ref
    loaded = CSRAgent.load(agent.save(tmp_path / "a.pt"))
    np.testing.assert_array_equal(loaded.threshold.reference.errors, ref.errors)
    loaded.expand_latent(2)
    with pytest.raises(ValueError, match="latent variables"):
        loaded.threshold.matched_tau(loaded.step_errors(probe)[0], k)
    with pytest.raises(RuntimeError, match="no reference"):
        Threshold(tau=0.1).matched_tau(states, k)
    # a tau* recorded on a replay alone has no reference: an earlier one would be stale
    loaded.record_threshold(replay=loaded.probe_replay(env))
    assert loaded.threshold.reference is None
    # adapt reports the matched tau* and decides against it
    agent, _, report = adapt(agent, env, task=1)
    assert report.tau_matched is not None and report.tau_matched > 0
    assert any("matched" in line for line in report.log)


def test_the_threshold_saves_and_loads(tmp_path):
    from causal_envs.core.checkpoint import CheckpointError, load_checkpoint

    agent, _, _ = _small_agent()
    rng = np.random.default_rng(0)
    states, errors = rng.normal(size=(50, 4)).astype(np.float32), rng.random(50)
    agent.threshold = Threshold(0.25, Reference(states, errors))
    # on its own: plain values and tensors, back to the same arrays
    again = Threshold.from_state_dict(agent.threshold.state_dict())
    assert again.tau == 0.25
    np.testing.assert_array_equal(again.reference.states, states)
    np.testing.assert_array_equal(again.reference.errors, errors)
    assert again.reference.states.dtype == np.float32
    assert Threshold.from_state_dict(Threshold().state_dict()) == Threshold()
    # in the agent's checkpoint
    path = agent.save(tmp_path / "new.pt")
    loaded = CSRAgent.load(path)
    assert loaded.threshold.tau == 0.25
    np.testing.assert_array_equal(loaded.threshold.reference.states, states)
    # a checkpoint of this format without its threshold is named as incomplete
    blob = load_checkpoint(path, "CSR agent")
    blob.pop("threshold")
    torch.save(blob, tmp_path / "none.pt")
    with pytest.raises(CheckpointError, match="threshold"):
        CSRAgent.load(tmp_path / "none.pt")
    with pytest.raises(ValueError, match="states"):
        Reference(states, errors[:10])


def test_a_theta_anchor_lives_only_inside_its_block():
    from agents.csr import adaptation

    agent, _, replay = _small_agent()
    assert agent.anchor is None
    with pytest.raises(RuntimeError, match="boom"):
        with agent.theta_anchored(["theta"]):
            assert set(agent.anchor) == {"theta"}
            assert "loss/theta_anchor" in agent.update(replay, policy=False)
            with pytest.raises(RuntimeError, match="does not nest"):
                with agent.theta_anchored(["theta"]):
                    pass
            raise RuntimeError("boom")
    assert agent.anchor is None
    assert "loss/theta_anchor" not in agent.update(replay, policy=False)
    with pytest.raises(AttributeError):
        agent.anchor = {}  # read-only: only theta_anchored sets it
    # a re-estimation that fails half-way leaves neither the anchor nor the gains learning

    def fail(*args, **kwargs):
        assert agent.anchor is not None and agent.world.transition.edge_gain.requires_grad
        raise RuntimeError("interrupted")

    original, adaptation._train_restricted = adaptation._train_restricted, fail
    try:
        with pytest.raises(RuntimeError, match="interrupted"):
            adaptation.reestimate_theta(agent, replay, 5)
    finally:
        adaptation._train_restricted = original
    assert agent.anchor is None and not agent.world.transition.edge_gain.requires_grad


def test_group_sparsity_covers_the_variables_the_agent_added_until_pruning():
    agent, _, replay = _small_agent(group_sparsity=0.05)
    parts, states = agent.train_world(replay.sample(4, 8, agent.rng, agent.device))
    assert "loss/group" not in parts and states.shape == (4, 8, 4)
    agent.expand_latent(2)  # no group unless asked
    assert agent.group_variables is None
    agent.expand_latent(3, group_sparse=True)
    assert agent.group_variables.tolist() == [6, 7, 8]
    assert "loss/group" in agent.update(replay, policy=False)
    agent.keep_latent(torch.arange(8))  # pruning drops the group
    assert agent.group_variables is None
    assert "loss/group" not in agent.update(replay, policy=False)


def test_new_actions_train_only_their_own_weights_and_the_probe_acts_among_the_earlier():
    from agents.csr.adaptation import train_new_actions

    agent, _, replay = _small_agent(adapt_collect=120, detect_probe="matched")
    for _ in range(10):
        agent.update(replay, policy=False)
    grown = grown_entries(agent.world, 2, what="actions")
    assert grown["transition.w_a"][:, 2:].all() and not grown["transition.w_a"][:, :2].any()
    env4 = make_sequence("cartpole", seed=0, obs_type="state").make(3)  # friction observed
    agent.expand_observation(env4.observation_space.shape[0] - agent.world.config.obs_shape[0])
    new = grown_entries(agent.world, env4.action_space.n - 2, what="actions")
    agent.expand_actions(env4.action_space.n - 2)
    wide = agent.new_replay(env4)
    agent.collect(env4, 200, wide, random=True)
    before = {n: p.detach().clone() for n, p in agent.world.named_parameters()}
    train_new_actions(agent, wide, new, steps=5)
    changed = set()
    for name, p in agent.world.named_parameters():
        old = ~new[name]
        torch.testing.assert_close(p.detach()[old], before[name][old], msg=name)
        if (p.detach() != before[name]).any():
            changed.add(name)
    assert changed and changed <= set(agent.world.action_parameter_names())
    # a probe among the first 2 actions never takes a new one
    probe = agent.probe_replay(env4, actions=2)
    steps = probe.sample(8, 8, np.random.default_rng(0), "cpu")
    assert int(steps["prev_action"].max()) <= 1
    with pytest.raises(ValueError, match="actions"):
        agent.collect(env4, 5, probe, actions=0)
    with pytest.raises(ValueError, match="what"):
        grown_entries(agent.world, 1, what="observation")


def test_matched_detection_decides_on_the_probe_steps_inside_the_references_coverage():
    from agents.csr.adaptation import AdaptationReport, compare_with_reference

    rng = np.random.default_rng(0)
    agent, _, replay = _small_agent(adapt_collect=120, detect_probe="matched")
    ref_states = rng.normal(size=(400, 4))
    agent.threshold = Threshold(0.01, Reference(ref_states, np.full(400, 0.01)))
    k, q = agent.config.match_neighbours, agent.config.coverage_quantile
    # half the probe's steps sit on reference steps, half far outside the reference
    central = ref_states[np.argsort(np.linalg.norm(ref_states, axis=1))[:100]]
    near = central + 0.01 * rng.normal(size=(100, 4))
    far = ref_states[:100] + 50.0
    states = np.concatenate([near, far])
    matched, covered = agent.threshold.match_reference(states, k, q)
    assert covered[:100].all() and not covered[100:].any()
    assert matched == pytest.approx(0.01)
    assert agent.threshold.matched_tau(states, k) == pytest.approx(0.01)
    # the error is the model's; far outside the reference it is 50x larger
    errors = np.concatenate([np.full(100, 0.012), np.full(100, 0.5)])
    agent.step_errors = lambda probe, batches=8: (states, errors)
    report = AdaptationReport(1, "csr", agent.threshold.tau, 0.0)
    error, tau = compare_with_reference(agent, replay, report)
    assert (error, tau) == pytest.approx((0.012, 0.01))  # on the covered half only
    assert report.coverage == 0.5 and report.error_after_theta == error
    assert report.tau_matched == tau and "50% of the probe's steps" in report.log[-1]
    # too few covered steps to decide on: every step, and the report says so
    agent.config = replace(agent.config, min_coverage=0.6)
    error, tau = compare_with_reference(agent, replay, AdaptationReport(1, "csr", 0.01, 0.0))
    assert error == pytest.approx(errors.mean()) and tau == pytest.approx(0.01)
    # coverage_quantile=None covers every step
    assert agent.threshold.match_reference(states, k, quantile=None)[1].all()
    # the plain probes compare every step's error with the plain tau*
    agent.config = replace(agent.config, detect_probe="policy", min_coverage=0.1)
    report = AdaptationReport(1, "csr", agent.threshold.tau, 0.0)
    assert compare_with_reference(agent, replay, report) == pytest.approx((errors.mean(), 0.01))
    assert report.coverage is None
    for bad in ({"coverage_quantile": 0.0}, {"coverage_quantile": 1.5}, {"min_coverage": -0.1}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            CSRConfig(**bad)


@pytest.mark.parametrize(
    "field, value",
    [("batch_size", 0), ("seq_len", 1), ("gamma", 2.0), ("epsilon", -0.1), ("horizon", 1.5)],
)
def test_bad_csr_settings_are_refused_with_their_name(field, value):
    with pytest.raises(ValueError, match=field):
        CSRConfig(**{field: value})
    assert CSRConfig(batch_size=np.int64(3)).batch_size == 3


# ----------------------------------------------------------------------------- theta's edge gains
def test_edge_gains_are_an_identity_at_zero_follow_growth_and_learn_only_with_theta():
    from agents.csr.adaptation import reestimate_theta

    agent, _, replay = _small_agent(theta_reg=0.0)
    world, tr = agent.world, agent.world.transition
    assert tr.edge_gain.shape == (4 + 2, 4) and not tr.edge_gain.requires_grad
    batch = replay.sample(4, 8, np.random.default_rng(0), agent.device)
    before = world.prediction_error(batch)
    # an ordinary update leaves the gains at zero
    agent.update(replay, policy=False)
    assert not tr.edge_gain.any()
    # theta's re-estimation moves them, and they are frozen again afterwards
    reestimate_theta(agent, replay, 20)
    gain = tr.edge_gain.detach().clone()
    assert gain.abs().sum() > 0 and not tr.edge_gain.requires_grad
    assert world.prediction_error(batch) != before
    # growth: old edges keep their gains, new ones start at zero
    agent.expand_latent(2)
    g = agent.world.transition.edge_gain
    assert g.shape == (6 + 2, 6)
    torch.testing.assert_close(g[:4, :4], gain[:4])
    torch.testing.assert_close(g[6:, :4], gain[4:])
    assert not g[4:6].any() and not g[:, 4:].any()
    agent.expand_actions(1)
    g = agent.world.transition.edge_gain
    assert g.shape == (6 + 3, 6) and not g[-1].any()
    agent.keep_latent(torch.tensor([0, 2, 3, 4, 5]))  # variable 1 pruned
    g = agent.world.transition.edge_gain
    assert g.shape == (5 + 3, 5)
    old = [0, 2, 3]  # the kept old variables, now 0, 1, 2
    torch.testing.assert_close(g[:3, :3], gain[old][:, old])
    torch.testing.assert_close(g[5:7, :3], gain[4:6][:, old])  # the two old actions


def test_unstructured_models_have_no_edge_gains():
    env = make_sequence("cartpole", seed=0, obs_type="state").make(0)
    cfg = CSRConfig(world=W(latent_dim=4, hidden=16, structured=False, use_theta=False))
    agent = CSRAgent(env.observation_space.shape, env.action_space.n, cfg)
    assert agent.world.transition.edge_gain.numel() == 0


def test_an_expansion_for_a_widened_observation_trains_its_decoder_row():
    """CSR's width rule expands; the new variables' parts and the new element's encoder and
    decoder weights train, every other old weight stays."""
    agent, env, replay = _small_agent(
        adapt_collect=100, detect_steps=3, expand_steps=5, expansion="random", max_new=2
    )
    for _ in range(5):
        agent.update(replay, policy=False)
    agent.record_threshold(env=env)
    wide = make_sequence("cartpole", seed=0, obs_type="state").make(2)  # friction observed
    agent, _, report = adapt(agent, wide, task=2)
    assert report.new_obs_dims == 1 and report.decision == "space_expansion"
    before = report.world_before_expansion  # widened, not yet grown
    new_row = agent.world.obs_dec_out.weights["h"][-1]
    assert not torch.equal(new_row, before.obs_dec_out.weights["h"][-1])
    torch.testing.assert_close(
        agent.world.obs_dec_out.weights["h"][:-1], before.obs_dec_out.weights["h"][:-1]
    )


def test_a_diverging_filter_is_named_not_passed_on_as_nan_logits():
    agent, env, _ = _small_agent()
    obs, _ = env.reset(seed=0)
    agent.act(obs)
    with torch.no_grad():  # a posterior whose feedback explodes
        agent.world.post_in.weights["s"].mul_(1e30)
    with pytest.raises(FloatingPointError, match="online filter diverged"):
        for _ in range(5):
            obs, *_ = env.step(agent.act(obs, greedy=False))


def test_bf16_world_model_steps_learn_as_float32_does_and_are_deterministic():
    """``precision="bf16"``: the world model's loss under bfloat16 autocast; it learns as the
    float32 step does on the same data, keeps float32 weights, and repeats with a seed."""

    def train(precision):
        env = make_sequence("cartpole", seed=0).make(0)
        cfg = CSRConfig(
            world=W(latent_dim=4, hidden=32),
            batch_size=4,
            seq_len=10,
            seed=0,
            precision=precision,
            device="cpu",
        )
        agent = CSRAgent(env.observation_space.shape, 2, cfg)
        replay = agent.new_replay(env)
        agent.collect(env, 200, replay, random=True)
        losses = [float(agent.update(replay, policy=False)["loss/obs"]) for _ in range(60)]
        floats = [t for t in agent.world.state_dict().values() if t.is_floating_point()]
        assert all(t.dtype == torch.float32 for t in floats)
        return losses

    fp32, bf16 = train("fp32"), train("bf16")
    assert bf16 == train("bf16")
    assert np.mean(bf16[-10:]) < 0.5 * np.mean(bf16[:10])  # it learns...
    assert np.mean(bf16[-10:]) == pytest.approx(np.mean(fp32[-10:]), rel=0.1)  # ...as fp32 does
    with pytest.raises(ValueError, match="precision"):
        CSRConfig(precision="fp16")


def test_watching_theta_re_estimation_leaves_it_as_it_would_have_been():
    """The detection curves measure L_pred between theta's updates: the measurements run
    every ``every`` updates and after the last, and theta ends where it ends unwatched."""
    agent, _, replay = _small_agent()
    agent.update(replay)
    watched, seen = copy.deepcopy(agent), []

    def observe(n, r):
        seen.append((n, r is replay, watched.prediction_error(r)))

    torch.manual_seed(1)
    reestimate_theta(agent, replay, steps=7)
    torch.manual_seed(1)
    reestimate_theta(watched, replay, steps=7, every=3, observe=observe)
    assert [s[:2] for s in seen] == [(3, True), (6, True), (7, True)]
    assert seen[-1][2] == watched.prediction_error(replay)
    torch.testing.assert_close(watched.world.theta, agent.world.theta, rtol=0, atol=0)
