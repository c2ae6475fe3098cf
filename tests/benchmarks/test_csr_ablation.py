"""The CSR ablation: its smoke profile through the runner (records, the paired differences
from CSR, the report), each variant changing exactly its own setting, refused profiles."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from benchmarks import csr_ablation as bench
from benchmarks import render
from benchmarks.csr import agent_config
from benchmarks.csr_profiles import PROFILES_BY_BENCH as CSR_PROFILES
from benchmarks.results import output_dir


@pytest.mark.smoke
def test_smoke_profile_records_each_variant_beside_csr(capsys):
    state = bench.main("smoke", fresh=True)
    smoke = bench.PROFILES["smoke"]
    assert len(state["cells"]) == len(smoke.variants) * len(smoke.seeds)
    for record in state["cells"].values():
        ref = record["references"]
        assert ref["random"] < ref["best"]
        expected = (record["final_score"] - ref["random"]) / (ref["best"] - ref["random"])
        assert record["normalised"] == pytest.approx(expected)
        assert record["curve"] and record["curve"][-1][1] is not None
        model = record["model"]
        assert 0.0 <= model["s_r_edges"] <= 1.0 and model["error_hard"] > 0
    summary = state["summary"]
    assert summary["peer"] == "csr" and set(summary["variants"]) == set(smoke.variants)
    csr_row = summary["variants"]["csr"]
    other = summary["variants"]["reward-env-units"]
    assert "minus_peer" not in csr_row["final_score"]
    by = {r["variant"]: r for r in state["cells"].values()}
    diff = by["reward-env-units"]["final_score"] - by["csr"]["final_score"]
    assert other["final_score"]["minus_peer"]["mean"] == pytest.approx(diff)
    saved = json.loads((output_dir() / "csr_ablation_smoke.json").read_text())
    assert saved["summary"] == json.loads(json.dumps(summary))
    out = capsys.readouterr().out
    assert "csr-ablation (smoke profile" in out and "reward-env-units" in out
    assert "minus csr on the same seed" in out
    # the docs' renderer reads the record: one row per variant, the peer named
    page = render.csr_ablation(str(output_dir() / "csr_ablation_smoke.json"))
    assert "`csr`, the peer: CSR as csr-synthetic runs it" in page
    assert "`reward-env-units`" in page and "Source: [" in page


@pytest.mark.parametrize("variant", list(bench.VARIANTS))
def test_each_variant_changes_only_its_own_setting(variant):
    changes, method, world = bench.VARIANTS[variant]
    got = bench.variant_config(variant, "quick", seed=5, device="auto")
    base = agent_config(CSR_PROFILES["csr-synthetic"]["quick"], method, 5, "auto")
    g, b = asdict(got), asdict(base)
    assert {k: v for k, v in g.items() if k != "world"} == {
        k: v for k, v in b.items() if k != "world"
    }
    differs = {k for k in g["world"] if g["world"][k] != b["world"][k]}
    assert differs == set(world) and changes
    for k, v in world.items():
        assert g["world"][k] == v


def test_bad_profiles_and_variants_are_refused():
    with pytest.raises(ValueError, match="variants"):
        bench.Profile(description="x", seeds=(0,), source="quick", variants=("nope",))
    with pytest.raises(ValueError, match="source"):
        bench.Profile(description="x", seeds=(0,), source="huge")
    with pytest.raises(ValueError, match="repeats"):
        bench.Profile(description="x", seeds=(0,), source="quick", variants=("csr", "csr"))
    with pytest.raises(ValueError, match="variant must be one of"):
        bench.variant_config("nope", "quick", 0, "auto")
