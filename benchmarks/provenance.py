"""Where a result came from: the code, the command, the software and the machine.

Every record the runner writes carries a provenance (`collect`), so that a table in the docs
can say which commit and which machine its numbers were measured on, and so that cells measured
by different code or on different machines are never merged without saying so
(`differences`).

A provenance is a JSON object::

    {"commit": "a03e67d...", "dirty": false, "diff_sha256": null,
     "date": "2026-12-07T02:10:00Z", "command": "causal-envs bench mocoda-nav2d",
     "versions": {"python": "3.11.7", "torch": "2.13.0", ...},
     "machine": {"cpu_model": "AMD EPYC 7B13", "logical_cpus": 2, "isa": "AVX2",
                 "native_bf16": false, "gpu": null, "gpu_memory_gib": null}}

``dirty`` says whether the work tree differed from the commit when the result was made; then
``diff_sha256`` names the uncommitted change (a hash of ``git diff HEAD``), so that two dirty
runs are known to be the same code only when their hashes agree.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import os
import platform
import subprocess
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "CODE_KEYS",
    "REQUIRED",
    "code",
    "code_id",
    "collect",
    "differences",
    "isa_level",
    "machine",
    "machine_id",
    "missing",
    "this_machine",
]

#: the fields a provenance must hold for a record to load (`missing`)
REQUIRED = ("commit", "dirty", "date", "command", "versions", "machine")
#: the fields that say which code made a result
CODE_KEYS = ("commit", "dirty", "diff_sha256")
#: the packages whose versions are recorded (absent ones are recorded as None)
PACKAGES = ("causal-envs", "torch", "gymnasium", "numpy", "scipy", "scikit-learn", "mujoco")

_ROOT = Path(__file__).resolve().parent.parent


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=_ROOT, capture_output=True, timeout=20, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return out.decode("utf-8", "replace")


@functools.cache
def code() -> dict[str, Any]:
    """The commit of this checkout and whether (and how) the tree differs from it, read once
    per process (the first call fixes it: a run's code is the code it started with).
    Outside a git checkout (an installed package) the commit is None and the version stands
    for it."""
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None, "diff_sha256": None}
    status = _git("status", "--porcelain", "--untracked-files=no") or ""
    dirty = bool(status.strip())
    diff = _git("diff", "HEAD", "--binary") if dirty else None
    return {
        "commit": commit.strip(),
        "dirty": dirty,
        "diff_sha256": hashlib.sha256(diff.encode()).hexdigest()[:16] if diff else None,
    }


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _cpu_flags() -> tuple[str, set[str]]:
    """The CPU's model name and feature flags (Linux's /proc/cpuinfo; elsewhere the platform's
    processor string and no flags)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine(), set()
    model, flags = "", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
    return model or platform.processor() or platform.machine(), flags


def isa_level(flags: set[str]) -> str:
    """The widest vector ISA of an x86 CPU from its flags, the level that sets the speed of
    float32 and bfloat16 products here: ``"AMX"``, ``"AVX-512 BF16"``, ``"AVX-512"``,
    ``"AVX2"``, ``"SSE"``; ``"unknown"`` without flags (another architecture or OS).

    Examples:
        >>> isa_level({"avx2", "avx512f", "avx512_bf16"})
        'AVX-512 BF16'
        >>> isa_level({"avx2"})
        'AVX2'
    """
    if not flags:
        return "unknown"
    for level, flag in (
        ("AMX", "amx_bf16"),
        ("AVX-512 BF16", "avx512_bf16"),
        ("AVX-512", "avx512f"),
        ("AVX2", "avx2"),
    ):
        if flag in flags:
            return level
    return "SSE"


@functools.cache
def machine() -> dict[str, Any]:
    """This machine as results record it: CPU model, logical CPUs, ISA level, whether the CPU
    multiplies bfloat16 in hardware (AVX-512 BF16 or AMX, what `causal_envs.core.device.native_bf16`
    asks oneDNN), and the first CUDA GPU, if any."""
    import torch  # deferred: the provenance of a record is read without torch

    model, flags = _cpu_flags()
    isa = isa_level(flags)
    gpu = gpu_memory = None
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        gpu, gpu_memory = props.name, round(props.total_memory / 2**30, 1)
    return {
        "cpu_model": model,
        "logical_cpus": os.cpu_count(),
        "isa": isa,
        "native_bf16": isa in ("AMX", "AVX-512 BF16"),
        "gpu": gpu,
        "gpu_memory_gib": gpu_memory,
    }


def this_machine() -> str:
    """`machine_id` of the machine this process runs on, for a report's header."""
    return machine_id({"machine": machine()})


def collect(
    command: str | None = None, code_keys: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The provenance of a result made now by this process: the code (`code`'s fields, or
    ``code_keys`` as the driver of a run read them), the UTC date, the command line (this
    process's arguments unless given), the versions of Python and the main packages, and the
    machine (`machine`)."""
    return {
        **(dict(code_keys) if code_keys is not None else code()),
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": command if command is not None else _command_line(),
        "versions": {"python": platform.python_version()}
        | {name: _version(name) for name in PACKAGES},
        "machine": machine(),
    }


def _command_line() -> str:
    argv = list(sys.argv)
    if argv and argv[0].endswith("causal-envs"):
        argv[0] = "causal-envs"
    return " ".join(argv)


def missing(provenance: Any) -> list[str]:
    """The required fields a provenance lacks (all of them when it is not a dict)."""
    if not isinstance(provenance, dict):
        return list(REQUIRED)
    return [k for k in REQUIRED if k not in provenance]


def code_id(provenance: dict[str, Any]) -> str:
    """A short name of the code a result was made by: ``"a03e67d"``, ``"a03e67d+dirty
    3f2a..."`` (with the uncommitted change's hash), or ``"unknown"``."""
    commit = provenance.get("commit")
    if not commit:
        return "unknown"
    text = str(commit)[:7]
    if provenance.get("dirty"):
        text += f"+dirty {provenance.get('diff_sha256') or '?'}"
    return text


def machine_id(provenance: dict[str, Any]) -> str:
    """A short name of the machine a result was measured on: ``"AMD EPYC 7B13, 2 CPUs,
    AVX2"`` (plus the GPU's name where one was used)."""
    m = provenance.get("machine") or {}
    if not isinstance(m, dict) or not m.get("cpu_model"):
        return str(m.get("description", "not recorded")) if isinstance(m, dict) else str(m)
    text = f"{m['cpu_model']}, {m.get('logical_cpus')} CPUs, {m.get('isa')}"
    if m.get("gpu"):
        text += f", {m['gpu']}"
    return text


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """What separates two provenances for merging: ``"code a03e67d vs 2b15d90"`` and/or
    ``"machine X vs Y"``; empty when both were made by the same code on the same machine."""
    out = []
    if code_id(a) != code_id(b):
        out.append(f"code {code_id(a)} vs {code_id(b)}")
    if machine_id(a) != machine_id(b):
        out.append(f"machine {machine_id(a)} vs {machine_id(b)}")
    return out
