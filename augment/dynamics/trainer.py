"""Training a `FactoredEnsemble`: split, normalise, fit, select.

`EnsembleTrainer` holds what training needs and the model does not: the train/validation
split, the optimiser, the mini-batch order of each member, early stopping, the per-epoch log and
the flushing of would-be denormal numbers (`zero_tiny_`).
"""

from __future__ import annotations

import copy
import math
import time

import numpy as np
import torch
from numpy.typing import NDArray

from augment.dynamics.config import AUTHORS_LATE_EPOCHS, AUTHORS_WINDOW, TrainingLog
from augment.dynamics.model import FactoredEnsemble
from causal_envs.core import as_batch
from causal_envs.core.device import resolve_precision, training_autocast
from causal_envs.core.memory import retain_freed_memory

__all__ = ["EnsembleTrainer", "flushes_denormals", "gaussian_nll", "zero_tiny_"]

_TINY = 1e-30
#: steps between flushes of would-be denormals (see zero_tiny_): a weight that only weight
#: decay moves takes thousands of steps to fall from 1e-30 into the denormal range
FLUSH_EVERY = 25


@torch.no_grad()
def zero_tiny_(tensors: list[torch.Tensor]) -> None:
    """Set entries with ``|x| < 1e-30`` to zero, in place, so none becomes a denormal float.

    Weights that no prediction uses (outgoing weights of a dead ReLU unit, a non-parent's
    embedding) feel only weight decay, which drives them, and Adam's moments, toward zero and
    into the denormal range, where CPU arithmetic is many times slower. Measured here: epochs
    went from 2 s to 9 s after about 25 epochs, with 31,828 denormal weights in one layer.
    ``torch.set_flush_denormal`` did not help (it does not reach the intra-op worker threads).
    """
    for t in tensors:
        t.masked_fill_(t.abs() < _TINY, 0.0)


def flushes_denormals(device: torch.device) -> bool:
    """Whether training on ``device`` flushes would-be denormals (`zero_tiny_`): on the host,
    where denormal arithmetic is slow; GPUs run it at full speed."""
    return device.type not in ("cuda", "mps")


def gaussian_nll(mean: torch.Tensor, var: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean Gaussian negative log-likelihood (without the constant) of ``y``."""
    return 0.5 * (torch.log(var) + (y - mean) ** 2 / var).mean()


def _beats_window(val_nll: list[float]) -> bool:
    """The authors' stopping test: the last validation is lower than each of the
    `AUTHORS_WINDOW` before it (MoCoDA's code, ``fit_dynamics``)."""
    window = val_nll[-1 - AUTHORS_WINDOW : -1]
    return bool(window) and val_nll[-1] < min(window)


class EnsembleTrainer:
    """Trains every member of ``model`` on its own shuffle of the data (or one shared shuffle).

    Its settings are the model's ``config.training`` (`TrainingConfig`): a ``val_fraction``
    of the rows (or ``val_rows``; chosen with ``config.seed``) is held out. With
    ``stopping="best"`` the weights of the lowest validation NLL are kept (with ``patience``,
    training stops after that many validations without improvement); with ``"authors"``,
    MoCoDA's code's rule decides when to stop and the last weights are kept.
    """

    def __init__(self, model: FactoredEnsemble) -> None:
        self.model = model
        self.config = model.config

    def fit(
        self,
        states: NDArray,
        actions: NDArray,
        next_states: NDArray,
        *,
        progress: bool = False,
    ) -> TrainingLog:
        """Train on the transitions; return (and store as ``model.log``) the learning curves."""
        from tqdm import tqdm  # deferred: tqdm's import is only needed to train (~0.1 s)

        model, cfg, st = self.model, self.config, self.model.structure
        train = cfg.training
        s, _ = as_batch(states, st.state_dim, "states")
        a, _ = as_batch(actions, st.action_dim, "actions")
        s2, _ = as_batch(next_states, st.state_dim, "next_states")
        if not len(s) == len(a) == len(s2):
            raise ValueError(
                f"states, actions, next_states differ in length: {len(s)}, {len(a)}, {len(s2)}"
            )
        n_val = train.validation_rows(len(s))
        if n_val >= len(s):
            raise ValueError(f"val_rows={n_val} leaves no rows to train on (the data has {len(s)})")
        if len(s) - n_val < train.batch_size // 8:
            raise ValueError(f"too few rows ({len(s)}) to train with batch size {train.batch_size}")
        rng = np.random.default_rng(cfg.seed)
        perm = rng.permutation(len(s))
        tr, va = perm[n_val:], perm[:n_val]
        model.set_normalisation(np.concatenate([s, a], axis=1)[tr], s2[tr])
        x, m = model.model_inputs(s, a)
        y = model.normalised_targets(s2)
        x_tr, m_tr, y_tr = x[tr], m[tr], y[tr]
        x_va, m_va, y_va = x[va], m[va], y[va]
        dev = model.device
        # fused: one kernel for every parameter's update (CPU and CUDA alike)
        opt = torch.optim.Adam(
            model.parameters(), lr=train.lr, weight_decay=train.weight_decay, fused=True
        )
        gen = torch.Generator(device=dev).manual_seed(cfg.seed)
        flush = flushes_denormals(dev)
        if flush:  # on the host, each step's large temporaries are reused (core.memory)
            retain_freed_memory()
        n_tr = len(tr)
        per_pass = max(1, n_tr // train.batch_size)
        steps = train.steps_per_epoch or per_pass
        total_steps = steps * train.epochs
        schedule = (
            torch.optim.lr_scheduler.LambdaLR(
                opt, lambda t: 0.5 * (1 + math.cos(math.pi * min(t, total_steps) / total_steps))
            )
            if train.schedule == "cosine"
            else None
        )
        step_count = validated_at = 0
        params = [p for p in model.parameters() if p.requires_grad]
        log = TrainingLog(
            steps_per_epoch=steps,
            precision=resolve_precision(train.precision, dev),
            stopping=train.stopping,
        )
        authors = train.stopping == "authors"
        best, best_state, since_best = math.inf, None, 0

        def validate(epoch: int) -> float:
            """The held-out NLL of the weights now, logged with the epoch it fell in."""
            nonlocal validated_at
            validated_at = step_count
            val = self.validation_nll(x_va, m_va, y_va)
            log.val_nll.append(val)
            log.val_epochs.append(epoch)
            model.train()
            return val

        start = time.perf_counter()
        bar = tqdm(range(train.epochs), desc=f"{cfg.architecture} ensemble", disable=not progress)
        stop = False
        for epoch in bar:
            model.train()
            total = torch.zeros((), device=dev)  # summed on the device: no per-step sync
            # the authors' rule tests its validations in the last AUTHORS_LATE_EPOCHS epochs
            late = train.epochs - epoch < AUTHORS_LATE_EPOCHS
            for i in range(steps):
                j = i % per_pass
                if j == 0:  # a fresh shuffle at every pass over the data
                    order = self.member_orders(n_tr, gen)
                idx = order[:, j * train.batch_size : (j + 1) * train.batch_size]  # (E, batch)
                # training steps only: validation is float32
                with training_autocast(dev, train.precision):
                    mean, var = model(x_tr[idx], m_tr[idx])  # float32 out, either way
                loss = gaussian_nll(mean, var, y_tr[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if schedule is not None:
                    schedule.step()
                step_count += 1
                if flush and step_count % FLUSH_EVERY == 0:
                    zero_tiny_(
                        params + [v for p in params for v in opt.state[p].values() if v.ndim]
                    )
                total += loss.detach()
                if authors and (step_count - 1) % train.val_every_steps == 0:
                    validate(epoch)
                    if late and _beats_window(log.val_nll):
                        stop = True
                        break
            train_nll = float(total) / (i + 1)
            log.train_nll.append(train_nll)
            if authors:
                bar.set_postfix(train=f"{train_nll:.3f}", val=f"{log.val_nll[-1]:.3f}")
                if stop or (late and _beats_window(log.val_nll)):
                    break
                continue
            last = epoch == train.epochs - 1
            if (
                train.val_every_steps
                and not last
                and step_count - validated_at < train.val_every_steps
            ):
                continue  # not yet time to validate (the authors validate every 100 steps)
            val = validate(epoch)
            if val < best:
                best, best_state, since_best = val, copy.deepcopy(model.state_dict()), 0
                log.best_epoch = epoch
            else:
                since_best += 1
            bar.set_postfix(train=f"{train_nll:.3f}", val=f"{val:.3f}")
            if train.patience is not None and since_best >= train.patience:
                break
        if authors:
            # the authors keep the last weights; validate them if training went on past the
            # last validation, so that the log's last validation is of the weights kept
            if validated_at != step_count:
                validate(epoch)
            log.best_epoch = epoch
        else:
            model.load_state_dict(best_state)
        log.seconds = time.perf_counter() - start
        model.log = log
        return log

    def member_orders(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``(ensemble_size, n)``: the order in which each member sees the ``n`` training rows,
        one shuffle per member, or one for all with ``shared_minibatch``."""
        cfg, dev = self.config, self.model.device
        if cfg.training.shared_minibatch:
            order = torch.randperm(n, generator=generator, device=dev)
            return order.expand(cfg.ensemble_size, -1)
        perms = [
            torch.randperm(n, generator=generator, device=dev) for _ in range(cfg.ensemble_size)
        ]
        return torch.stack(perms)

    @torch.no_grad()
    def validation_nll(self, x: torch.Tensor, m: torch.Tensor, y: torch.Tensor) -> float:
        """Mean NLL of every member on normalised inputs, masks and targets."""
        model = self.model
        model.eval()
        e = self.config.ensemble_size
        total = 0.0
        for i in range(0, len(x), 4096):
            sl = slice(i, i + 4096)
            mean, var = model(x[sl].expand(e, -1, -1), m[sl].expand(e, -1, -1, -1))
            total += float(gaussian_nll(mean, var, y[sl].expand(e, -1, -1))) * len(x[sl])
        return total / len(x)
