"""The download benchmark: generate, pack, serve on 127.0.0.1, download, and compare."""

from __future__ import annotations

import json

import pytest

from benchmarks import dataset_download
from benchmarks.cli import main
from benchmarks.results import output_dir


def test_download_matches_generation_and_reports_both_timings(capsys):
    result = dataset_download.main("cartpole/task1")
    assert result["same_dataset"] is True
    assert result["transitions"] > 0 and result["archive_bytes"] > 0
    assert result["generate_s"] > 0 and result["download_s"] > 0
    assert result["generate_over_download"] == result["generate_s"] / result["download_s"]
    out = capsys.readouterr().out
    assert "generate / download" in out and "same dataset: True" in out
    stored = json.loads((output_dir() / "dataset_download.json").read_text())
    assert stored["dataset"] == "cartpole/task1" and stored["same_dataset"] is True


def test_cli_refuses_an_unknown_dataset(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "dataset-download", "--dataset", "nope/x"])
    assert exit_.value.code == 2
    assert "invalid choice: 'nope/x'" in capsys.readouterr().err
