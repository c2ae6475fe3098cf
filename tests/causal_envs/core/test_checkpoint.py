"""Checkpoints load without running code from the file, and every bad file says what is wrong."""

from __future__ import annotations

import zipfile

import pytest
import torch

from causal_envs.core.checkpoint import CheckpointError, load_checkpoint


class _RunsCode:
    """Unpickling this calls ``open(marker, "w")``: the shape of a code-execution exploit."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def good(tmp_path):
    path = tmp_path / "good.pt"
    torch.save({"state": {"w": torch.arange(1000.0)}, "config": {"a": (1, 2)}, "n": 3}, path)
    return path


def test_a_good_checkpoint_loads(good):
    payload = load_checkpoint(good, "test")
    assert payload["n"] == 3 and payload["config"]["a"] == (1, 2)
    assert torch.equal(payload["state"]["w"], torch.arange(1000.0))


def test_a_crafted_checkpoint_runs_no_code(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"state": {}, "payload": _RunsCode(str(marker))}, path)
    with pytest.raises(CheckpointError, match=r"weights-only load refused: .*GLOBAL") as err:
        load_checkpoint(path, "test")
    assert not marker.exists()
    assert "weights_only" not in str(err.value)  # torch's advice to load it unsafely is not ours


def _data_offset(path, name_end: str) -> int:
    with zipfile.ZipFile(path) as z:
        info = next(i for i in z.infolist() if i.filename.endswith(name_end))
    return info.header_offset + 30 + len(info.filename) + len(info.extra)


def test_a_flipped_byte_is_caught(good, tmp_path):
    raw = bytearray(good.read_bytes())
    raw[_data_offset(good, "data/0") + 100] ^= 0xFF
    bad = tmp_path / "flipped.pt"
    bad.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="fails its CRC-32 check"):
        load_checkpoint(bad, "test")


@pytest.mark.parametrize("keep", ["10 bytes", "half", "all but the last byte"])
def test_truncated_files(good, tmp_path, keep):
    raw = good.read_bytes()
    n = {"10 bytes": 10, "half": len(raw) // 2, "all but the last byte": len(raw) - 1}[keep]
    bad = tmp_path / "cut.pt"
    bad.write_bytes(raw[:n])
    with pytest.raises(CheckpointError, match="not a torch zip file, or truncated"):
        load_checkpoint(bad, "test")


def test_foreign_missing_and_odd_files(tmp_path):
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="not a torch zip file"):
        load_checkpoint(text, "test")
    with pytest.raises(CheckpointError, match="no test checkpoint"):
        load_checkpoint(tmp_path / "missing.pt", "test")
    with pytest.raises(CheckpointError, match="no test checkpoint"):
        load_checkpoint(tmp_path, "test")  # a directory
    plain = tmp_path / "list.pt"
    torch.save([1, 2, 3], plain)
    with pytest.raises(CheckpointError, match="holds a list"):
        load_checkpoint(plain, "test")
    assert issubclass(CheckpointError, ValueError)


def test_the_agents_and_ensembles_load_through_it(tmp_path):
    from agents import TD3BC
    from agents.csr import CSRAgent
    from augment.dynamics.model import FactoredEnsemble

    path = tmp_path / "evil.pt"
    marker = tmp_path / "pwned"
    torch.save({"agent": "td3bc", "payload": _RunsCode(str(marker))}, path)
    for cls in (TD3BC, CSRAgent, FactoredEnsemble):
        with pytest.raises(CheckpointError, match="weights-only"):
            cls.load(path)
    assert not marker.exists()


def test_numpy_scalars_are_refused_as_beyond_plain_values(tmp_path):
    # the agents store plain ints and floats; a NumPy scalar is an object the file does not need
    import numpy as np

    path = tmp_path / "scalars.pt"
    torch.save({"n_actions": np.int64(2)}, path)
    with pytest.raises(CheckpointError, match="beyond tensors and plain values"):
        load_checkpoint(path, "test")
