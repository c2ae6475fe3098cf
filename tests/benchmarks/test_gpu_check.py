import json

import pytest

from benchmarks import gpu_check
from benchmarks.cli import build_parser
from benchmarks.runner import RunError


def test_the_dry_run_lists_commands_the_command_line_accepts(capsys):
    record = gpu_check.main("unused", device="cuda:0", dry_run=True)
    names = [s["name"] for s in record["steps"]]
    assert names[:3] == ["paper-cost", "ensemble-step", "csr-step"]
    assert names[-1] == "pixel detection"
    assert {f"{b} smoke" for b in gpu_check.SMOKE_BENCHMARKS} <= set(names)
    parser = build_parser()
    for step in record["steps"]:
        args = parser.parse_args(step["args"])  # profiles and options exist (exit 2 otherwise)
        assert args.device == "cuda:0"
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == len(names) and all("CAUSAL_ENVS_OUTPUT_DIR=" in p for p in printed)


def test_without_a_gpu_cuda_is_refused_and_a_cpu_step_runs_into_the_folder(tmp_path, capsys):
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(RunError, match="no CUDA device"):
            gpu_check.main(tmp_path / "gpu", device="cuda")
    with pytest.raises(RunError, match="matches no step"):
        gpu_check.main(tmp_path, device="cpu", only="nothing-like-this")
    record = gpu_check.main(tmp_path, device="cpu", only="csr-detection-curves smoke")
    (step,) = record["steps"]
    assert step["returncode"] == 0 and step["seconds"] > 0
    assert json.loads((tmp_path / "gpu_check.json").read_text())["steps"][0]["name"] == (
        "csr-detection-curves smoke"
    )
    made = json.loads((tmp_path / "benchmarks" / "csr_detection_curves_smoke.json").read_text())
    assert made["cell_provenance"]["seed=0"]["device"] == "cpu"
    assert "--device cpu" in made["provenance"]["command"] and made["summary"]["decisions"] == 4
    assert (tmp_path / "logs" / "csr-detection-curves-smoke.log").read_text()
