"""CSR's three-step adaptation to a new task (§3, Algorithm 1), with every decision logged.

On a new task the agent first collects ``adapt_collect`` steps with its current policy, widens
what it can observe directly (new discrete actions; new elements of a vector observation), and
measures its prediction error on probe data of the same behaviour tau* was measured with
(``detect_probe``: by default ``"matched"``, the current policy's fresh rollouts compared
with tau* taken at the same latent states of the finished task, `Threshold.matched_tau`, on
the probe steps inside the finished task's coverage, `compare_with_reference`; ``"policy"``
and ``"random"`` compare with the plain tau*; the probe's steps join the task's
data), then

1. **detects** a distribution shift: only the domain-specific part is re-estimated - theta
   and its gains on the transition's edges (every other parameter frozen, each pulled toward
   its previous value by ``theta_reg``) - for ``detect_steps`` updates on the probe; if the
   forward prediction error is below
   ``threshold_scale * tau*`` (tau* recorded at the end of the previous task,
   ``agent.threshold``: `agents.csr.detection`) the task is a distribution shift and the
   model is kept;
2. otherwise **expands** the latent space by ``d'`` variables - Random (``d' ~ U{1..max_new}``),
   Deterministic (``d' = det_new`` with group sparsity on the new variables' outgoing weights)
   or Self-Adaptive (a small controller samples ``d'``, each trial trains a copy of the expanded
   model's new parts briefly and is rewarded by the relative drop of the prediction error minus
   ``expansion_cost * d'``; REINFORCE updates the controller; the best trial is kept) - and
   trains the new parts with the old weights frozen (the whole model keeps learning on the
   task afterwards);
3. **prunes** latent variables with no edge to o, r or another variable.

``adaptation="adarl"`` stops after step 1 whatever the error (theta only, no expansion, then the
caller keeps training); ``"finetune"`` (Dreamer) does nothing beyond widening the actions.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from agents.csr.agent import CSRAgent
from agents.csr.replay import SequenceReplay

__all__ = [
    "AdaptationReport",
    "ExpansionController",
    "adapt",
    "compare_with_reference",
    "detect",
    "grown_entries",
    "observation_entries",
    "train_new_parts",
]


@dataclass
class AdaptationReport:
    """What the adaptation found and did on one task."""

    task: int
    method: str
    #: tau* recorded at the end of the previous task (`CSRAgent.record_threshold`)
    tau: float | None
    error_before: float
    error_after_theta: float | None = None
    #: the error after re-estimating theta on every probe step (the paper's rule compares
    #: this with the plain tau*: below -> a distribution shift)
    error_every_step: float | None = None
    #: with ``detect_probe="matched"``: tau* at the new task's states (`Threshold.matched_tau`)
    tau_matched: float | None = None
    #: with ``detect_probe="matched"``: the fraction of the probe's steps inside the
    #: reference's coverage (`Threshold.match_reference`); the error and the matched tau* are
    #: measured on those steps unless fewer than ``min_coverage`` are
    coverage: float | None = None
    #: what the error after re-estimating theta was compared with: ``threshold_scale`` x the
    #: matched tau* (or tau*); None where nothing was decided (the Dreamer baseline)
    threshold: float | None = None
    decision: str = "none"  # distribution_shift | space_expansion | fine_tune
    new_actions: int = 0
    new_obs_dims: int = 0
    added: int = 0
    pruned: list[int] = field(default_factory=list)
    latent_dim: int = 0
    error_final: float | None = None
    trials: list[dict[str, float]] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    #: the world model just before an expansion (set by ``adapt``; None without expansion)
    world_before_expansion: nn.Module | None = field(default=None, repr=False, compare=False)

    def say(self, message: str) -> None:
        self.log.append(message)

    def to_dict(self) -> dict[str, Any]:
        """The report's numbers and log (the kept world model left out)."""
        return {
            f.name: copy.deepcopy(getattr(self, f.name))
            for f in fields(self)
            if f.name != "world_before_expansion"
        }


class ExpansionController(nn.Module):
    """The Self-Adaptive strategy's policy over ``d' in {1..max_new}`` (appendix B): its
    input is the model's size and the gap between its prediction error and tau*."""

    def __init__(self, max_new: int, hidden: int = 16) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, hidden), nn.Tanh(), nn.Linear(hidden, max_new))

    def features(self, latent: int, hidden: int, error: float, tau: float) -> torch.Tensor:
        gap = (error - tau) / max(tau, 1e-8)
        device = self.net[0].weight.device
        return torch.tensor(
            [latent / 32.0, hidden / 100.0, float(np.clip(gap, -5, 5))], device=device
        )

    def forward(self, x: torch.Tensor) -> torch.distributions.Categorical:
        return torch.distributions.Categorical(logits=self.net(x))


#: ``observe(updates_done, replay)``: called every ``every`` updates of a training loop on
#: ``replay`` (a study's measurement, e.g. the detection curves'; it must leave the agent as it
#: found it)
Observer = Callable[[int, SequenceReplay], None]


def _train(
    agent: CSRAgent,
    replay: SequenceReplay,
    steps: int,
    policy: bool = False,
    observe: Observer | None = None,
    every: int = 0,
) -> None:
    for i in range(1, steps + 1):
        agent.update(replay, policy=policy)
        if observe is not None and every and (i % every == 0 or i == steps):
            observe(i, replay)


def _widen(
    agent: CSRAgent, env: gym.Env, report: AdaptationReport
) -> dict[str, torch.Tensor] | None:
    """Observable changes: more discrete actions, a wider vector observation. Returns the
    new actions' entries of the world model's parameters (None without new actions)."""
    new = None
    n_new = int(env.action_space.n) - agent.n_actions
    if n_new > 0:
        new = grown_entries(agent.world, n_new, what="actions")
        agent.expand_actions(n_new)
        report.new_actions = n_new
        report.say(f"the action space grew from {agent.n_actions - n_new} to {agent.n_actions}")
    shape = env.observation_space.shape
    wc = agent.world.config
    if not wc.pixels and shape[0] > wc.obs_shape[0]:
        n = shape[0] - wc.obs_shape[0]
        agent.expand_observation(n)
        report.new_obs_dims = n
        report.say(f"the observation grew by {n} elements")
    return new


def _train_restricted(
    agent: CSRAgent,
    replay: SequenceReplay,
    trainable: dict[str, torch.Tensor | None],
    steps: int,
    policy: bool = False,
    observe: Observer | None = None,
    every: int = 0,
) -> None:
    """Train the world model with only the ``trainable`` parameters (by name) learning: all
    of a tensor for ``None``, else the entries its boolean mask marks (the others' gradients
    are zeroed). Every other parameter is frozen, and so are the reward's running statistics;
    all flags are restored afterwards."""
    hooks, flags = [], {}
    for name, p in agent.world.named_parameters():
        flags[p] = p.requires_grad
        mask = trainable.get(name, False)
        partial = mask is not None and mask is not False
        if mask is False or (partial and (mask.shape != p.shape or not bool(mask.any()))):
            p.requires_grad_(False)
        elif partial and p.requires_grad and not bool(mask.all()):
            keep = mask.to(p.device, p.dtype)
            hooks.append(p.register_hook(lambda g, keep=keep: g * keep))
    agent.rebuild_optimizers()
    tracking, agent.world.track_reward_stats = agent.world.track_reward_stats, False
    try:
        _train(agent, replay, steps, policy=policy, observe=observe, every=every)
    finally:
        agent.world.track_reward_stats = tracking
        for h in hooks:
            h.remove()
        for p, flag in flags.items():
            p.requires_grad_(flag)
        agent.rebuild_optimizers()


#: the domain-specific part re-estimated on a new task: theta and its per-edge gains
THETA_PARTS = ("theta", "transition.edge_gain")


def reestimate_theta(
    agent: CSRAgent,
    replay: SequenceReplay,
    steps: int,
    observe: Observer | None = None,
    every: int = 0,
) -> None:
    """Step 1: only the domain-specific part learns (CSR §3.1): the change factor theta and
    theta_s's gains on the edges of the transition (frozen at any other time), each pulled
    toward its current value by ``theta_reg`` so that only a change the data shows moves it.
    ``observe(updates_done, replay)`` runs every ``every`` updates and after the last (the
    detection curves measure the prediction error there)."""
    params = dict(agent.world.named_parameters())
    parts = [n for n in THETA_PARTS if params[n].numel()]
    gain = params["transition.edge_gain"]
    with agent.theta_anchored(parts):
        try:
            gain.requires_grad_(gain.numel() > 0)
            _train_restricted(
                agent, replay, dict.fromkeys(parts), steps, observe=observe, every=every
            )
        finally:
            gain.requires_grad_(False)
            agent.rebuild_optimizers()


def train_new_actions(
    agent: CSRAgent, replay: SequenceReplay, new: dict[str, torch.Tensor], steps: int
) -> None:
    """Train the new actions' entries (``new``, from `grown_entries`) of the tensors that
    carry the actions' effects, every other weight frozen: what the earlier actions do has
    not changed. Training every action weight (and theta) on data where the new actions are
    still untrained moved the latent states the posterior gives the earlier actions, away
    from where tau* was recorded (docs/reference.md, the action-expansion row)."""
    names = agent.world.action_parameter_names()
    _train_restricted(agent, replay, {n: new[n] for n in names}, steps)


def grown_entries(world: nn.Module, n: int, what: str = "latent") -> dict[str, torch.Tensor]:
    """Which entries of each world-model parameter ``expand_latent(n)`` creates (or
    ``expand_actions(n)``, with ``what="actions"``).

    A probe copy whose every value is NaN goes through the same growth; the entries that are
    not NaN afterwards are new (the old ones are copied over, NaN and all). The torch random
    state is restored, so probing does not change what the real expansion draws.
    """
    probe = copy.deepcopy(world)
    with torch.no_grad():
        for p in probe.parameters():
            p.fill_(float("nan"))
    device = world.theta.device
    # new weights are drawn by the device's generator: fork that one (and the CPU's)
    with torch.random.fork_rng(
        devices=[device] if device.type == "cuda" else [], device_type=device.type
    ):
        if what == "latent":
            probe.expand_latent(n)
        elif what == "actions":
            probe.expand_actions(n)
        else:
            raise ValueError(f"what must be 'latent' or 'actions', got {what!r}")
    return {name: ~torch.isnan(p) for name, p in probe.named_parameters()}


def _grow(agent: CSRAgent, n: int, group_sparse: bool = False) -> dict[str, torch.Tensor]:
    new = grown_entries(agent.world, n)
    agent.expand_latent(n, group_sparse=group_sparse)
    return new


def train_new_parts(
    agent: CSRAgent,
    replay: SequenceReplay,
    new: dict[str, torch.Tensor],
    steps: int,
    policy: bool = False,
) -> None:
    """Train only the entries an expansion added (and theta), every old weight frozen: CSR
    trains "the newly added parts from scratch with a few amount of data" (appendix B), so
    the new variables learn what the old model cannot explain instead of the old model
    drifting. The actor and critic (``policy=True``) train in full."""
    _train_restricted(agent, replay, {**new, "theta": None}, steps, policy=policy)


def _expand(
    agent: CSRAgent,
    replay: SequenceReplay,
    report: AdaptationReport,
    error: float,
    probe: SequenceReplay,
) -> CSRAgent:
    c = agent.config
    if c.expansion == "random":
        n = int(agent.rng.integers(1, c.max_new + 1))
        report.say(f"Random expansion: d' = {n} drawn from U{{1..{c.max_new}}}")
        new = _grow(agent, n)
    elif c.expansion == "deterministic":
        n = c.det_new
        new = _grow(agent, n, group_sparse=True)
        report.say(f"Deterministic expansion: d' = {n} with group sparsity {c.group_sparsity}")
    else:
        n, agent, new = _self_adaptive(agent, replay, report, error, probe)
    report.added = n
    if report.new_obs_dims:  # the new variables learn to predict the new elements too
        seen = observation_entries(agent.world, report.new_obs_dims)
        new = {k: new[k] | seen[k] if k in seen else new[k] for k in new}
    train_new_parts(agent, replay, new, c.expand_steps, policy=True)
    report.say(
        f"trained the {n} new variables' parts for {c.expand_steps} updates (old weights "
        "frozen; the policy learns in full)"
        + (
            f", with the {report.new_obs_dims} new observation elements' encoder and decoder "
            "weights"
            if report.new_obs_dims
            else ""
        )
    )
    return agent


def observation_entries(world: nn.Module, n: int) -> dict[str, torch.Tensor]:
    """The entries ``expand_observation(n)`` added (the last ``n`` elements): the encoder's
    input columns and the decoder's output rows and biases, as boolean masks by parameter
    name (every other parameter all False)."""
    out = {name: torch.zeros_like(p, dtype=torch.bool) for name, p in world.named_parameters()}
    out["obs_enc_in.weights.o"][:, -n:] = True
    out["obs_dec_out.weights.h"][-n:, :] = True
    out["obs_dec_out.bias"][-n:] = True
    return out


def _self_adaptive(
    agent: CSRAgent,
    replay: SequenceReplay,
    report: AdaptationReport,
    error: float,
    probe: SequenceReplay,
) -> tuple[int, CSRAgent, dict[str, torch.Tensor]]:
    """Each trial's reward is the relative drop of the error on every step of ``probe``
    after training on ``replay``; ``error`` (the detection's, on the covered steps) and tau*
    are the controller's input."""
    c = agent.config
    before = agent.prediction_error(probe)  # measured as each trial's error is
    tau = next((t for t in (report.tau_matched, agent.threshold.tau) if t is not None), error)
    with agent.device:
        controller = ExpansionController(c.max_new)
    x = controller.features(agent.world.latent_dim, c.world.hidden, error, tau)
    opt = torch.optim.Adam(controller.parameters(), lr=0.05)
    best: tuple[float, int, CSRAgent, dict[str, torch.Tensor]] | None = None
    rewards: list[float] = []
    agent.end_episode()  # an env is not copied with the agent
    for trial in range(c.sa_trials):
        dist = controller(x)
        choice = dist.sample()
        n = int(choice) + 1
        candidate = copy.deepcopy(agent)
        new = _grow(candidate, n)
        train_new_parts(candidate, replay, new, c.sa_train_steps)
        err = candidate.prediction_error(probe)
        reward = (before - err) / max(before, 1e-8) - c.expansion_cost * n
        baseline = float(np.mean(rewards)) if rewards else 0.0
        rewards.append(reward)
        loss = -dist.log_prob(choice) * (reward - baseline)
        opt.zero_grad()
        loss.backward()
        opt.step()
        report.trials.append({"trial": trial, "added": n, "error": err, "reward": reward})
        report.say(
            f"Self-Adaptive trial {trial}: d' = {n}, prediction error {err:.4f} "
            f"(from {before:.4f}), reward {reward:+.3f}"
        )
        if best is None or reward > best[0]:
            best = (reward, n, candidate, new)
    assert best is not None
    report.say(f"Self-Adaptive keeps d' = {best[1]} (best reward {best[0]:+.3f})")
    return best[1], best[2], best[3]


def _prune(agent: CSRAgent, report: AdaptationReport) -> None:
    keep = agent.world.compact_variables()
    d = agent.world.latent_dim
    dropped = sorted(set(range(d)) - set(keep.tolist()))
    if dropped and len(keep):
        agent.keep_latent(keep)
        report.pruned = dropped
        report.say(f"pruned {len(dropped)} variables with no edge to o, r or another variable")
    else:
        report.say("pruning: every latent variable has an outgoing edge")


def compare_with_reference(
    agent: CSRAgent, probe: SequenceReplay, report: AdaptationReport
) -> tuple[float, float | None]:
    """The detection's two numbers on ``probe``: the prediction error and the tau* it is
    compared with (recorded in ``report``).

    With ``detect_probe="matched"`` (and a reference): on the probe steps inside the
    reference's coverage (`Threshold.match_reference`), the mean error and the mean matched
    tau*; on every step when fewer than ``min_coverage`` of them are covered. Otherwise the
    error on every step and the plain tau*.
    """
    c = agent.config
    threshold = agent.threshold
    states, errors = agent.step_errors(probe)
    report.error_every_step = float(np.mean(errors))  # = agent.prediction_error(probe)
    if c.detect_probe != "matched" or threshold.reference is None:
        report.error_after_theta = report.error_every_step
        return report.error_after_theta, threshold.tau
    matched, covered = threshold.match_reference(states, c.match_neighbours, c.coverage_quantile)
    report.coverage = float(covered.mean())
    on_covered = report.coverage >= c.min_coverage
    steps = covered if on_covered else np.ones_like(covered)
    error, tau = float(errors[steps].mean()), float(matched[steps].mean())
    report.error_after_theta, report.tau_matched = error, tau
    where = (
        f"on the {report.coverage:.0%} of the probe's steps inside the reference's coverage"
        if on_covered
        else f"on every step (only {report.coverage:.0%} inside the reference's coverage)"
    )
    report.say(
        f"{where}: error {error:.4f} (every step {report.error_every_step:.4f}), tau* matched "
        f"to their latent states {tau:.4f} (on the finished task's policy rollouts "
        f"{threshold.tau:.4f})"
    )
    return error, tau


def detect(
    agent: CSRAgent,
    env: gym.Env,
    task: int,
    replay: SequenceReplay | None = None,
    observe: Observer | None = None,
    every: int = 0,
) -> tuple[SequenceReplay, SequenceReplay, AdaptationReport]:
    """Algorithm 1's detection on the new task ``env``, up to the decision: widen what is
    observed directly (new actions, a wider vector observation), collect ``adapt_collect``
    steps, re-estimate theta on the probe and compare the error with the threshold. The
    report's ``decision`` is ``distribution_shift`` or ``space_expansion`` (``fine_tune`` for
    the Dreamer baseline, which decides nothing); nothing is expanded yet (`adapt` does).

    Returns the new task's replay, the probe the error was measured on (the replay itself
    unless a separate probe was collected) and the report. The agent is changed in place
    (widened, theta re-estimated): detect on a copy to leave it as it was. ``observe`` and
    ``every`` watch theta's re-estimation on the probe (`reestimate_theta`).
    """
    c = agent.config
    report = AdaptationReport(task, agent.name, agent.threshold.tau, float("nan"))
    replay = replay if replay is not None else agent.new_replay(env)
    new_actions = _widen(agent, env, report)
    agent.end_episode()
    agent.collect(env, c.adapt_collect, replay)
    if c.adaptation == "finetune":  # nothing to decide: no probe, no threshold
        report.decision = "fine_tune"
        report.error_before = agent.prediction_error(replay)
        report.say(
            f"prediction error on the new task {report.error_before:.4f}; Dreamer baseline: "
            "keep training every parameter on the new task"
        )
        return replay, replay, report
    # the errors are measured on the probe data tau* was measured on (``detect_probe``); with
    # new actions, the policy's probe acts among the actions the finished task knew, so that
    # it is compared with tau* on the same behaviour (the new actions are observed directly)
    if c.detect_probe == "random":
        probe = agent.probe_replay(env)
    elif new_actions is not None:
        known = agent.n_actions - report.new_actions
        probe = agent.probe_replay(env, actions=known)
        report.say(
            f"probe: {c.adapt_collect} more steps of the policy among the {known} earlier actions"
        )
    else:
        probe = replay
    error = agent.prediction_error(probe)
    report.error_before = error
    report.say(
        f"prediction error on the new task {error:.4f} ({c.detect_probe} probe); "
        f"tau* {agent.threshold.tau}"
    )
    if probe is not replay:
        replay.extend(probe)  # the probe's steps are the task's data too, for every method
    if new_actions is not None:
        train_new_actions(agent, replay, new_actions, c.expand_steps)
        report.say(
            f"trained the new actions' weights for {c.expand_steps} updates (the earlier "
            "actions' frozen)"
        )
    reestimate_theta(agent, probe, c.detect_steps, observe=observe, every=every)
    err_theta, tau = compare_with_reference(agent, probe, report)
    threshold = (tau or err_theta) * c.threshold_scale
    report.threshold = threshold
    if report.new_obs_dims and c.adaptation == "csr":
        report.decision = "space_expansion"
        report.say(
            f"a new observed variable (the observation grew by {report.new_obs_dims}) -> "
            "the latent space must grow"
        )
    elif err_theta <= threshold or c.adaptation == "adarl":
        why = "below" if err_theta <= threshold else "above (AdaRL never expands)"
        report.decision = "distribution_shift"
        report.say(
            f"theta re-estimated: error {err_theta:.4f} {why} the threshold {threshold:.4f} "
            "-> distribution shift, model kept"
        )
    else:
        report.decision = "space_expansion"
        report.say(
            f"theta re-estimated: error {err_theta:.4f} above the threshold {threshold:.4f} "
            "-> the latent space must grow"
        )
    return replay, probe, report


def adapt(
    agent: CSRAgent, env: gym.Env, task: int, replay: SequenceReplay | None = None
) -> tuple[CSRAgent, SequenceReplay, AdaptationReport]:
    """Run the agent's adaptation method on the new task ``env``: `detect`, then on a space
    expansion grow the latent space (`_expand`) and prune.

    Returns the (possibly replaced) agent, the new task's replay (``adapt_collect`` steps and
    any probe) and the report. The Self-Adaptive strategy may return a different agent object
    (a trained copy).
    """
    replay, probe, report = detect(agent, env, task, replay)
    if report.decision == "space_expansion":
        # kept for reconstructions before/after (an attribute, not a field: not serialised)
        report.world_before_expansion = copy.deepcopy(agent.world)
        agent = _expand(agent, replay, report, report.error_after_theta, probe)
        _prune(agent, report)
    report.latent_dim = agent.world.latent_dim
    if report.decision != "fine_tune":
        agent.thetas[task] = agent.world.theta.detach().clone()
        report.error_final = agent.prediction_error(probe)
        report.say(f"latent variables now {report.latent_dim}; error {report.error_final:.4f}")
    agent.decisions.append(report.to_dict())
    return agent, replay, report
