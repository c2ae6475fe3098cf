"""The data verbs of the console script, driven through ``benchmarks.cli.main``."""

import numpy as np
import pytest

from benchmarks.cli import main


def test_list(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "CausalNav2D-v0" in out and "native" in out and "yes" in out


def test_generate_info_plot(tmp_path, capsys):
    root = ["dataset", "--data-dir", str(tmp_path)]
    assert main([*root, "info", "nav2d/empirical", "--seed", "4"]) == 1
    assert "not cached" in capsys.readouterr().err
    assert main([*root, "generate", "nav2d/empirical", "--seed", "4"]) == 0
    assert (tmp_path / "causal-envs/nav2d/empirical-seed4-v0").is_dir()
    assert main([*root, "info", "nav2d/empirical", "--seed", "4"]) == 0
    out = capsys.readouterr().out
    assert "transitions  40000" in out and "meta.seed    4" in out
    assert "verified     transitions.npz (SHA-256), main_data.hdf5 (SHA-256)" in out
    png = tmp_path / "plot.png"
    assert main([*root, "plot", "nav2d/empirical", "--seed", "4", "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    assert main([*root, "list"]) == 0
    assert "cached" in capsys.readouterr().out
    # a byte of Minari's file changed: info (which checks digests) says so, without a traceback
    hdf5 = tmp_path / "causal-envs/nav2d/empirical-seed4-v0/data/main_data.hdf5"
    raw = bytearray(hdf5.read_bytes())
    raw[-10] ^= 0xFF
    hdf5.write_bytes(bytes(raw))
    assert main([*root, "info", "nav2d/empirical", "--seed", "4"]) == 1
    err = capsys.readouterr().err
    assert "main_data.hdf5 does not match the digest" in err and "--force" in err
    # a cache directory that is a file: one line, no traceback
    assert main(["dataset", "--data-dir", str(png), "generate", "nav2d/empirical"]) == 1
    assert "is a file, not a directory" in capsys.readouterr().err


def test_render_strip(tmp_path):
    import matplotlib.pyplot as plt

    out = tmp_path / "strip.png"
    assert main(["render", "CausalNav2D-v0", "--out", str(out), "--frames", "3"]) == 0
    img = plt.imread(out)
    assert img.shape[0] == 256 and img.shape[1] == 3 * 256 + 2 * 4
    assert np.unique(img.reshape(-1, img.shape[-1]), axis=0).shape[0] > 5


def test_render_the_hooksweep2_expert(tmp_path, capsys):
    """HookSweep2's scripted expert renders (the docs' strip); other envs have none."""
    import matplotlib.pyplot as plt

    out = tmp_path / "expert.png"
    argv = ["render", "HookSweep2Source-v1", "--out", str(out), "--frames", "2", "--seed", "1"]
    assert main([*argv, "--policy", "expert"]) == 0
    assert plt.imread(out).shape[:2] == (360, 2 * 480 + 4)
    nav = ["render", "CausalNav2D-v0", "--out", str(out), "--policy", "expert"]
    assert main(nav) == 1
    assert "only HookSweep2 has a scripted expert" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["dataset"],
        ["dataset", "generate", "nav3d/empirical"],
        ["dataset", "generate", "nav2d/empirical", "--seed", "-1"],
        ["dataset", "plot", "nav2d/empirical"],  # --out is required
        ["render", "NoSuchEnv-v0", "--out", "x.png"],
        ["bench", "no-such-benchmark"],
        ["bench", "dataset-download", "--seed", "-1"],
        ["--bogus"],
    ],
)
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "error" in err
    if argv[:1] == ["--bogus"]:
        assert "unrecognized option --bogus" in err


def test_user_errors_exit_1(tmp_path, capsys):
    for frames in ("0", "1000000"):  # a million frames once tried to allocate 186 GiB
        out = ["--out", str(tmp_path / "x.png"), "--frames", frames]
        assert main(["render", "CausalNav2D-v0", *out]) == 1
        assert "--frames must be between 1 and 64" in capsys.readouterr().err
        assert main(["tasks", "render", "cartpole", *out]) == 1
        assert "--frames must be between 1 and 64" in capsys.readouterr().err


def test_bad_places_to_write_are_errors_not_tracebacks(tmp_path, monkeypatch, capsys):
    """--out naming a directory or an unwritable place, and a results directory that is a
    file, end in one `error:` line naming the path (exit 1), before any work is wasted."""
    for out, says in ((tmp_path, "is a directory: name a file"), ("/proc/x.png", "cannot write")):
        assert main(["render", "CausalNav2D-v0", "--out", str(out), "--frames", "1"]) == 1
        err = capsys.readouterr().err
        assert err.startswith("error: ") and says in err and "Traceback" not in err
    a_file = tmp_path / "file"
    a_file.write_text("not a directory")
    monkeypatch.setenv("CAUSAL_ENVS_OUTPUT_DIR", str(a_file))
    assert main(["bench", "env-speed", "--quick"]) == 1
    err = capsys.readouterr().err
    assert "results directory ($CAUSAL_ENVS_OUTPUT_DIR/benchmarks)" in err
    assert "Traceback" not in err


def test_a_missing_crafted_or_foreign_agent_checkpoint_is_named(tmp_path, capsys):
    import torch

    from agents.csr.agent import CHECKPOINT_FORMAT

    crafted = tmp_path / "crafted.pt"
    crafted.write_bytes(b"PK\x03\x04 not really a zip")
    foreign = tmp_path / "td3bc.pt"
    torch.save({"agent": "td3bc", "config": {"hidden": [8]}}, foreign)
    partial = tmp_path / "partial.pt"
    torch.save({"format_version": CHECKPOINT_FORMAT, "config": {}, "world": {}}, partial)
    unversioned = tmp_path / "unversioned.pt"
    torch.save({"config": {}, "world": {}}, unversioned)
    for path, says in (
        (tmp_path / "nope.pt", "no CSR agent checkpoint"),
        (crafted, "is not a CSR agent checkpoint"),
        (foreign, "holds a 'td3bc' agent, not a CSR agent"),
        (partial, "lacks 'threshold', 'actor', 'critic'"),
        (unversioned, "CSR checkpoint of format unversioned"),
    ):
        args = ["bench", "csr-detection", "--agent", str(path), "--study", "probes", "--quick"]
        assert main(args) == 1
        err = capsys.readouterr().err
        assert err.startswith("error: --agent: ") and says in err, err
    # the score study must place each agent in its benchmark's sequence
    assert main(["bench", "csr-detection", "--agent", str(foreign)]) == 1
    assert "not a source checkpoint of a CSR benchmark run" in capsys.readouterr().err
