"""Where the torch modules of the project run: one parser for every ``--device`` and ``device=``.

Every torch-holding object (the dynamics ensembles, the offline agents, the CSR agents and
their baselines) takes a device *spec* and resolves it here, once, when it is built:

- ``"auto"``: the first CUDA device when ``torch.cuda.is_available()``, else the CPU;
- ``"cpu"``, ``"cuda"`` (the current CUDA device), ``"cuda:N"``, or any device torch knows
  (``"mps"``, and ``"meta"``, which the device tests use);
- a ``torch.device``.

A CUDA spec on a machine without CUDA, or a CUDA index past the last device, is refused
here with a message that says so, rather than deep inside a training loop.

The arithmetic of training steps is chosen here too: ``precision="fp32"``, ``"bf16"`` or
``"auto"`` (bf16 only where the device multiplies bfloat16 in hardware: `native_bf16`,
`resolve_precision`, `training_autocast`), for the offline agents and the dynamics ensembles.

The spec's syntax is checked without importing torch (`check_device_spec`, which the command
line uses); `resolve_device` imports it.

Examples:
    >>> import torch
    >>> resolve_device("auto") == (torch.device("cuda") if torch.cuda.is_available() else
    ...                            torch.device("cpu"))
    True
    >>> resolve_device("cpu")
    device(type='cpu')
    >>> resolve_device("gpu")
    Traceback (most recent call last):
    ...
    ValueError: device must be 'auto', 'cpu', 'cuda', 'cuda:N' or another torch device, got 'gpu'
"""

from __future__ import annotations

import functools
import re
import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

__all__ = [
    "AUTO",
    "DEVICE_HELP",
    "DEVICE_PATTERN",
    "PRECISIONS",
    "check_device_spec",
    "check_precision",
    "keep_on_host",
    "native_bf16",
    "resolve_device",
    "resolve_precision",
    "training_autocast",
]

#: the spec that picks CUDA when there is one
AUTO = "auto"
#: the specs ``--device`` accepts
DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?|mps")
#: what ``--device`` says in ``--help``
DEVICE_HELP = (
    "where torch runs: auto (CUDA if available, else CPU), cpu, cuda or cuda:N (default: auto)"
)


#: the arithmetic of training steps: "fp32", "bf16" (the wide products in bfloat16 under
#: autocast; what must stay exact opts out, see `agents.common.Float32Linear`), or "auto":
#: bf16 where the device multiplies bfloat16 natively, else fp32 (`resolve_precision`)
PRECISIONS = ("fp32", "bf16", "auto")
#: devices already warned about emulated bfloat16 (one warning per device type and process)
_WARNED: set[str] = set()


def check_precision(precision: str) -> str:
    """``precision`` if it is one of `PRECISIONS`, else ValueError. Does not import torch."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return precision


@functools.cache  # asked at every training step (`training_autocast`); the answer is fixed
def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` multiplies bfloat16 matrices in hardware: a CUDA device that
    supports bfloat16, or a CPU with AVX-512 BF16 or AMX (oneDNN's check). Elsewhere torch
    emulates bfloat16, far slower than float32: on an AVX2-only 2-core CPU a batched product
    of the dynamics models' shapes ran at 1.4 GFLOP/s in bfloat16 against 53 in float32 on one
    thread (docs/results/2026-12-04-paper-cost-cpu-avx2.json). Native is not the same as
    faster: without AMX, AVX-512 BF16 ran those products at 133 GFLOP/s against float32's 216
    on 2 threads (docs/results/2026-12-07-paper-cost-cpu.json)."""
    import torch  # deferred: the command line checks specs without importing torch

    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
        return bool(check()) if check is not None else torch.cpu._is_avx512_bf16_supported()
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """The arithmetic a training step of ``precision`` runs in on ``device``: ``"auto"``
    becomes ``"bf16"`` where `native_bf16`, else ``"fp32"``. An explicit ``"bf16"`` is kept,
    with one warning per device type when the device only emulates it."""
    if check_precision(precision) == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    if precision == "bf16" and device.type not in _WARNED and not native_bf16(device):
        _WARNED.add(device.type)
        warnings.warn(
            f"precision='bf16' on a {device.type} without native bfloat16 products: torch "
            "emulates them, far slower than float32 (37x fewer products a second measured on "
            "an AVX2 CPU); precision='auto' picks float32 here",
            RuntimeWarning,
            stacklevel=2,
        )
    return precision


def training_autocast(device: torch.device, precision: str) -> Any:
    """The context a training step of ``precision`` runs in on ``device``: bfloat16 autocast
    when it resolves to ``"bf16"`` (`resolve_precision`), a disabled one (float32) else."""
    import torch  # deferred: the command line checks specs without importing torch

    bf16 = resolve_precision(precision, device) == "bf16"
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)


def keep_on_host(storage: Any, location: str) -> Any:
    """A ``map_location`` for ``torch.load`` that leaves every tensor in host memory, whatever
    device saved it; the loader then copies the weights into modules on their own device."""
    return storage


def check_device_spec(text: str) -> str:
    """``text`` if it is a ``--device`` spec (auto, cpu, cuda, cuda:N, mps), else ValueError
    (argparse reports it as a bad argument). Does not import torch or look for a GPU."""
    spec = text.strip().lower()
    if not DEVICE_PATTERN.fullmatch(spec):
        raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {text!r}")
    return spec


def resolve_device(spec: str | torch.device | None = AUTO) -> torch.device:
    """The ``torch.device`` a spec names (``None`` means ``"auto"``); see the module docs."""
    import torch  # deferred: the command line checks specs without importing torch

    if spec is None or (isinstance(spec, str) and spec.strip().lower() == AUTO):
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    if isinstance(spec, torch.device):
        device = spec
    else:
        try:
            device = torch.device(str(spec).strip().lower())
        except RuntimeError:
            raise ValueError(
                "device must be 'auto', 'cpu', 'cuda', 'cuda:N' or another torch device, "
                f"got {spec!r}"
            ) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {spec!r} asks for CUDA, but torch finds none on this machine "
                f"(torch {torch.__version__}, torch.cuda.is_available() is False); "
                "use --device auto or cpu"
            )
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ValueError(f"device {spec!r}: this machine has {count} CUDA device(s)")
    return device
