"""Where one training step of MoCoDA's dynamics ensembles spends its time, on this machine.

    causal-envs bench ensemble-step                    # the authors' Nav2D models (2x256)
    causal-envs bench ensemble-step --profile quick    # the fast default models (2x128)

For each architecture (unfactored, globally and locally factored) at the profile's sizes, on
Nav2D rows (the cost does not depend on the values), in float32 and, where the device
multiplies bfloat16 natively, in bfloat16:

- **the step against the machine**: the FLOPs of one training step (forward and backward,
  counted by `torch.utils.flop_counter`), the step's time through `EnsembleTrainer.fit`
  (validations included, every ``val_every_steps`` steps as in training) and the share of the
  machine's rate for batched products at the hidden layers' shape (measured in the same run)
  that the step reaches;
- **where the time goes**: the step's parts timed one by one with the trainer's own calls:
  gathering the minibatch, the forward pass, the loss, the backward pass, Adam, the denormal
  flush and the validation (each amortised over the steps it serves);
- **allocation**: minor page faults and kernel time per step (large temporaries freed and
  re-faulted every step show up here; the trainer keeps them, `causal_envs.core.memory`, and
  a run with ``CAUSAL_ENVS_RETAIN_FREED_MEMORY=0`` measures the step without that);
- **the peer**: the unfactored network laid out as the MoCoDA authors' code lays it out (one
  ``nn.Sequential`` of ``nn.Linear`` per member, outputs stacked, one Adam over all), same
  widths, batch and loss, timed in the same run;
- **the projection**: the profile's whole training (``epochs`` x ``steps_per_epoch`` steps) at
  the measured step time, for each model and for the three together.

Timings compare only within one run on one machine; the record names the machine.
"""

from __future__ import annotations

import itertools
import resource
import statistics
from dataclasses import asdict, replace
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import causal_envs  # noqa: F401  (registers the envs)
from augment.dynamics import DynamicsConfig, EnsembleTrainer, FactoredEnsemble
from augment.dynamics.trainer import FLUSH_EVERY, flushes_denormals, gaussian_nll, zero_tiny_
from benchmarks import provenance
from benchmarks.results import write_json
from benchmarks.timing import timed
from causal_envs.core.device import AUTO, native_bf16, resolve_device, training_autocast
from causal_envs.core.memory import retention_switched_on

__all__ = [
    "PROFILES",
    "main",
    "measure",
    "peer_comparison",
    "peer_work",
    "report",
    "training_steps",
]

ENV_ID = "CausalNav2D-v0"
ARCHS = ("unfactored", "global", "local")
#: the models whose step is measured: the authors' (600 epochs of 29 steps) and the fast default
PROFILES = {
    "paper": DynamicsConfig.authors_nav2d(),
    "quick": DynamicsConfig(),
}
#: Nav2D's rows: the authors' 35,000 after their 5,000 test rows; 20,000 of them validate
ROWS = 35_000
#: timed steps per measurement (after one warm-up epoch)
STEPS = 200
PHASES = ("batch", "forward", "loss", "backward", "optimiser", "flush", "validation")


def training_steps(cfg: DynamicsConfig, rows: int) -> int:
    """Gradient steps of a training run of ``cfg`` on ``rows`` rows (validation split out)."""
    train = cfg.training
    per_pass = max(1, (rows - train.validation_rows(rows)) // train.batch_size)
    return train.epochs * (train.steps_per_epoch or per_pass)


def _cpu_seconds() -> tuple[float, int]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_stime, usage.ru_minflt


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    env = gym.make(ENV_ID).unwrapped
    rng = np.random.default_rng(seed)
    s = rng.uniform(0, 1, (ROWS, 2)).astype(np.float32)
    a = rng.uniform(-1, 1, (ROWS, 2)).astype(np.float32)
    return s, a, env.transition_fn(s, a)


def _model(cfg: DynamicsConfig, arch: str, device: torch.device) -> FactoredEnsemble:
    env = gym.make(ENV_ID).unwrapped
    return FactoredEnsemble(
        env.causal_structure, replace(cfg, architecture=arch), env.local_mask, ENV_ID, device
    )


def product_rate(
    cfg: DynamicsConfig, groups: int, dtype: torch.dtype, device: torch.device
) -> float:
    """GFLOP/s of the batched product at the widest hidden layer's shape: ``E * groups``
    matrices of ``batch x h`` times ``h x h``."""
    return batched_product_gflops(
        cfg.ensemble_size * groups, cfg.training.batch_size, max(cfg.hidden), dtype, device
    )


def batched_product_gflops(
    count: int, rows: int, width: int, dtype: torch.dtype, device: torch.device | str
) -> float:
    """GFLOP/s of ``torch.bmm`` on ``count`` matrices of ``rows x width`` times ``width x
    width`` in ``dtype`` on ``device`` (the best of five, after one warm-up; CUDA synced)."""
    device = torch.device(device)
    a = torch.randn(count, rows, width, dtype=dtype, device=device)
    b = torch.randn(count, width, width, dtype=dtype, device=device)
    torch.bmm(a, b)
    best = min(timed(lambda: torch.bmm(a, b), device) for _ in range(5))
    return 2 * count * rows * width * width / best / 1e9


def step_flops(model: FactoredEnsemble, x: torch.Tensor, m: torch.Tensor, y: torch.Tensor) -> int:
    """FLOPs of one training step's forward and backward passes (``x, m, y``: ``(E, B, .)``)."""
    with FlopCounterMode(display=False) as counter:
        mean, var = model(x, m)
        gaussian_nll(mean, var, y).backward()
    model.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())


def trainer_step_s(
    cfg: DynamicsConfig, arch: str, data: tuple, device: torch.device
) -> dict[str, float]:
    """Seconds, minor page faults and kernel seconds per step of `EnsembleTrainer.fit` over
    `STEPS` steps (validations included at the config's rate), after a warm-up run."""
    one_epoch = replace(cfg, training=replace(cfg.training, epochs=1))
    steps = training_steps(one_epoch, len(data[0]))  # one epoch, as in training
    # the authors' rule only stops in its last 50 epochs: never within these few
    training = replace(cfg.training, epochs=max(1, STEPS // steps), patience=None, stopping="best")
    timed = replace(cfg, architecture=arch, training=training)
    warm_up = replace(timed, training=replace(training, epochs=1))
    EnsembleTrainer(_model(warm_up, arch, device)).fit(*data)
    model = _model(timed, arch, device)
    sys0, faults0 = _cpu_seconds()
    log = EnsembleTrainer(model).fit(*data)
    sys1, faults1 = _cpu_seconds()
    n = training.epochs * steps
    return {
        "step_s": log.seconds / n,
        "minor_faults_per_step": (faults1 - faults0) / n,
        "kernel_s_per_step": (sys1 - sys0) / n,
        "validations": len(log.val_nll),
        "steps": n,
    }


def phases(cfg: DynamicsConfig, arch: str, data: tuple, device: torch.device) -> dict[str, float]:
    """Seconds per step of each part of a training step, the trainer's calls timed one by one
    (medians over `STEPS` steps; the flush and the validation amortised over the steps each
    serves)."""
    train = cfg.training
    model = _model(replace(cfg, architecture=arch), arch, device)
    s, a, s2 = data
    n_val = train.validation_rows(len(s))
    model.set_normalisation(np.concatenate([s, a], 1)[n_val:], s2[n_val:])
    x, m = model.model_inputs(s, a)
    y = model.normalised_targets(s2)
    x_tr, m_tr, y_tr = x[n_val:], m[n_val:], y[n_val:]
    trainer = EnsembleTrainer(model)
    opt = torch.optim.Adam(
        model.parameters(), lr=train.lr, weight_decay=train.weight_decay, fused=True
    )
    gen = torch.Generator(device=device).manual_seed(0)
    order = trainer.member_orders(len(x_tr), gen)
    per_pass = len(x_tr) // train.batch_size
    times: dict[str, list[float]] = {p: [] for p in PHASES[:5]}
    state: dict[str, Any] = {}

    def gather() -> None:
        j = state["j"]
        idx = order[:, j * train.batch_size : (j + 1) * train.batch_size]
        state["batch"] = x_tr[idx], m_tr[idx], y_tr[idx]

    def forward() -> None:
        xb, mb, _ = state["batch"]
        with training_autocast(device, train.precision):
            state["pred"] = model(xb, mb)

    def loss() -> None:
        state["loss"] = gaussian_nll(*state["pred"], state["batch"][2])

    def backward() -> None:
        opt.zero_grad(set_to_none=True)
        state["loss"].backward()

    parts = {"batch": gather, "forward": forward, "loss": loss, "backward": backward}
    parts["optimiser"] = opt.step
    model.train()
    for i in range(STEPS + 10):
        state["j"] = i % per_pass
        for name, fn in parts.items():
            seconds = timed(fn, device)
            if i >= 10:  # warm-up
                times[name].append(seconds)
    result = {name: statistics.median(t) for name, t in times.items()}
    params = [p for p in model.parameters() if p.requires_grad]
    tensors = params + [v for p in params for v in opt.state[p].values() if v.ndim]
    result["flush"] = (
        statistics.median(timed(lambda: zero_tiny_(tensors), device) for _ in range(5))
        / FLUSH_EVERY
        if flushes_denormals(device)
        else 0.0
    )
    x_va, m_va, y_va = x[:n_val], m[:n_val], y[:n_val]
    val_s = statistics.median(
        timed(lambda: trainer.validation_nll(x_va, m_va, y_va), device) for _ in range(3)
    )
    result["validation"] = val_s / (train.val_every_steps or train.steps_per_epoch or per_pass)
    return result


class _PeerMLP(nn.Module):
    """The MoCoDA authors' unfactored layout: one ``nn.Sequential`` per member, stacked."""

    def __init__(self, cfg: DynamicsConfig, n_in: int, n_out: int) -> None:
        super().__init__()
        sizes = [n_in, *cfg.hidden, 2 * n_out]
        self.members = nn.ModuleList()
        for _ in range(cfg.ensemble_size):
            layers: list[nn.Module] = []
            for a, b in itertools.pairwise(sizes):
                layers += [nn.Linear(a, b), nn.ReLU()]
            self.members.append(nn.Sequential(*layers[:-1]))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = torch.stack([member(x) for member in self.members])
        mean, raw = out.chunk(2, dim=-1)
        return mean, nn.functional.softplus(raw) + 1e-6


def peer_step_s(cfg: DynamicsConfig, data: tuple, device: torch.device) -> dict[str, float]:
    """Seconds, minor page faults and kernel seconds per step of `_PeerMLP` (shared
    minibatch, one Adam over every member), over `STEPS` steps after 10 of warm-up."""
    torch.manual_seed(0)
    s, a, s2 = data
    x = torch.as_tensor(np.concatenate([s, a], 1), device=device)
    y = torch.as_tensor(s2, device=device)
    peer = _PeerMLP(cfg, x.shape[1], y.shape[1]).to(device)
    opt = torch.optim.Adam(
        peer.parameters(), lr=cfg.training.lr, weight_decay=cfg.training.weight_decay
    )
    gen = torch.Generator(device=device).manual_seed(0)

    def step() -> None:
        idx = torch.randint(len(x), (cfg.training.batch_size,), generator=gen, device=device)
        mean, var = peer(x[idx])
        loss = gaussian_nll(mean, var, y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(10):
        step()
    with FlopCounterMode(display=False) as counter:
        step()
    sys0, faults0 = _cpu_seconds()
    seconds = timed(lambda: [step() for _ in range(STEPS)], device)
    sys1, faults1 = _cpu_seconds()
    return {
        "step_s": seconds / STEPS,
        "flops_per_step": int(counter.get_total_flops()),
        "minor_faults_per_step": (faults1 - faults0) / STEPS,
        "kernel_s_per_step": (sys1 - sys0) / STEPS,
    }


def measure(profile: str = "paper", device: str = AUTO) -> dict[str, Any]:
    """Every architecture of ``profile`` in float32 and, where native, bfloat16 (see the
    module docstring); the peer in float32."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {sorted(PROFILES)}, got {profile!r}")
    dev = resolve_device(device)
    cfg = PROFILES[profile]
    data = _data()
    precisions = ["fp32", *(["bf16"] if native_bf16(dev) else [])]
    steps = training_steps(cfg, ROWS)
    out: dict[str, Any] = {
        "profile": profile,
        "config": {k: v for k, v in asdict(cfg).items() if k != "architecture"},
        "device": str(dev),
        "threads": torch.get_num_threads(),
        "native_bf16": native_bf16(dev),
        "machine": provenance.this_machine(),
        "retain_freed_memory": retention_switched_on(),
        "training_steps": steps,
        "models": {},
    }
    for precision in precisions:
        pcfg = replace(cfg, training=replace(cfg.training, precision=precision))
        dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        for arch in ARCHS:
            model = _model(replace(pcfg, architecture=arch), arch, dev)
            e, b = cfg.ensemble_size, cfg.training.batch_size
            s, a, s2 = (column[:b] for column in data)
            x, m = model.model_inputs(s, a)
            y = model.normalised_targets(s2)
            flops = step_flops(
                model, x.expand(e, -1, -1), m.expand(e, -1, -1, -1), y.expand(e, -1, -1)
            )
            rate = product_rate(pcfg, model.n_groups, dtype, dev)
            timing = trainer_step_s(pcfg, arch, data, dev)
            row = {
                "precision": precision,
                "flops_per_step": flops,
                "product_gflops": rate,
                **timing,
                "step_gflops": flops / timing["step_s"] / 1e9,
                "share_of_product_rate": flops / timing["step_s"] / 1e9 / rate,
                "phases_s": phases(pcfg, arch, data, dev),
                "projected_training_min": timing["step_s"] * steps / 60,
            }
            out["models"][f"{arch}/{precision}"] = row
            print(_line(f"{arch}/{precision}", row), flush=True)
    out["peer"] = peer_step_s(cfg, data, dev)
    out["projected_three_min"] = {
        p: sum(out["models"][f"{a}/{p}"]["projected_training_min"] for a in ARCHS)
        for p in precisions
    }
    return out


def peer_comparison(r: dict[str, Any]) -> tuple[float, float]:
    """Our unfactored float32 step without its validations (the peer runs none), in seconds,
    and the peer's speed against it (the peer's step time over ours)."""
    unf = r["models"]["unfactored/fp32"]
    ours = unf["step_s"] - unf["phases_s"]["validation"]
    return ours, r["peer"]["step_s"] / ours


def peer_work(r: dict[str, Any]) -> str:
    """What a step of ours computes against the peer's, and how fast per FLOP; empty for a
    record that did not count the peer's FLOPs."""
    peer = r["peer"]
    if "flops_per_step" not in peer:
        return ""
    ours_s, _ = peer_comparison(r)
    ours_flops = r["models"]["unfactored/fp32"]["flops_per_step"]
    work = ours_flops / peer["flops_per_step"]
    rate = (ours_flops / ours_s) / (peer["flops_per_step"] / peer["step_s"])
    return (
        f"; ours computes {work:.2f}x the peer's FLOPs a step (the input embedding the "
        f"authors' plain MLP lacks), at {rate:.2f}x its FLOP rate"
    )


def _line(name: str, r: dict[str, Any]) -> str:
    return (
        f"{name}: {r['step_s'] * 1e3:.1f} ms a step, {r['flops_per_step'] / 1e9:.2f} GFLOP "
        f"-> {r['step_gflops']:.0f} GFLOP/s, {100 * r['share_of_product_rate']:.0f}% of the "
        f"batched-product rate ({r['product_gflops']:.0f}); {r['minor_faults_per_step']:.0f} "
        f"page faults and {r['kernel_s_per_step'] * 1e3:.1f} ms in the kernel a step"
    )


def report(r: dict[str, Any]) -> str:
    """The step table, the phase table and the projection, as text."""
    lines = [
        f"ensemble-step, profile {r['profile']} ({r['machine']}; {r['device']}, "
        f"{r['threads']} threads, native bf16: {r['native_bf16']}; freed memory retained: "
        f"{r['retain_freed_memory']})",
        "",
    ]
    lines += [_line(name, row) for name, row in r["models"].items()]
    peer = r["peer"]
    ours, speed = peer_comparison(r)
    lines += [
        "",
        f"peer (the authors' layout: one nn.Sequential per member), unfactored float32: "
        f"{peer['step_s'] * 1e3:.1f} ms a step, {peer['minor_faults_per_step']:.0f} page faults; "
        f"ours without its validations {ours * 1e3:.1f} ms, {speed:.2f}x its speed{peer_work(r)}",
        "",
        "where a step's time goes (ms): " + ", ".join(PHASES),
    ]
    for name, row in r["models"].items():
        ph = row["phases_s"]
        lines.append(f"  {name}: " + ", ".join(f"{ph[p] * 1e3:.2f}" for p in PHASES))
    lines.append("")
    for precision, minutes in r["projected_three_min"].items():
        lines.append(
            f"the profile's training ({r['training_steps']:,} steps a model), {precision}: "
            + ", ".join(
                f"{a} {r['models'][f'{a}/{precision}']['projected_training_min']:.1f} min"
                for a in ARCHS
            )
            + f"; the three {minutes:.1f} min"
        )
    return "\n".join(lines)


def main(profile: str = "paper", device: str = AUTO) -> dict[str, Any]:
    """Measure, print the report and write ``ensemble_step_<profile>.json``."""
    r = measure(profile, device)
    print()
    print(report(r))
    name = f"ensemble_step_{profile}" + ("" if r["retain_freed_memory"] else "_glibc_defaults")
    print(f"\nresults written to {write_json(name, r)}")
    return r
