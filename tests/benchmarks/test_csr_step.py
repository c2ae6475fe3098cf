"""The csr-step benchmark: its figures are counted and measured, and the report reads them."""

import json

import pytest

from benchmarks import csr_step

TINY = (
    {"batch_size": 2, "seq_len": 6, "horizon": 3, "imagine_starts": 8},
    {"latent_dim": 4, "hidden": 16},
)


def test_each_size_is_counted_timed_and_set_against_the_product_rate(monkeypatch):
    monkeypatch.setitem(csr_step.SIZES, "tiny", TINY)
    r = csr_step.measure(("tiny",), "cpu", repeats=2)
    assert [row["precision"] for row in r["rows"]] == ["fp32", "bf16"][: len(r["rows"])]
    assert len(r["rows"]) == (2 if r["native_bf16"] else 1)
    for row in r["rows"]:
        # the convolutions make a world-model step far heavier than a policy step
        assert row["world_flops"] > row["policy_flops"] > 0
        assert min(row["world_s"], row["policy_s"], row["update_s"]) > 0
        assert row["world_gflops"] == pytest.approx(row["world_flops"] / row["world_s"] / 1e9)
        assert row["world_share"] == pytest.approx(row["world_gflops"] / row["product_gflops"])
        assert (row["batch_size"], row["seq_len"], row["hidden"]) == (2, 6, 16)
    text = csr_step.report(r)
    assert "tiny" in text and "of bmm" in text
    json.dumps(r)


def test_unknown_sizes_are_refused():
    with pytest.raises(ValueError, match="sizes must be among"):
        csr_step.measure(("huge",), "cpu")
