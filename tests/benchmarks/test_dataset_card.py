"""The dataset card: each dataset's facts as its generator makes them, rendered from a record."""

import json

import pytest

from benchmarks import dataset_card, render
from benchmarks.cli import main


def test_nav2d_card_holds_the_facts_the_datasets_page_states():
    r = dataset_card.run(["nav2d/empirical"])
    c = r["datasets"]["nav2d/empirical"]
    assert c["dataset_id"] == "causal-envs/nav2d/empirical-v0"
    assert (c["transitions"], c["episodes"]) == (40_000, 1_544)
    # bottom-to-top episodes that cross the goal box have a terminal inside them and go on
    assert c["terminals"] == c["terminals_inside_episodes"] == 416
    # every episode ends without a terminal: what d3rlpy's MDPDataset would drop
    assert c["timeouts"] == 1_544
    assert c["ref_min_score"] == -70.0 and c["ref_max_score"] < -10
    assert c["generate_s"] > 0


def test_cards_are_the_same_for_the_same_seed():
    first = dataset_card.run(["cartpole/task2"])["datasets"]["cartpole/task2"]
    second = dataset_card.run(["cartpole/task2"])["datasets"]["cartpole/task2"]
    first.pop("generate_s"), second.pop("generate_s")
    assert first == second


def test_unknown_dataset_fails_before_any_work():
    with pytest.raises(KeyError, match="unknown dataset"):
        dataset_card.run(["cartpole/task1", "nope/none"])


def test_cli_writes_a_record_the_renderer_reads(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("CAUSAL_ENVS_OUTPUT_DIR", str(tmp_path))
    assert main(["bench", "dataset-card", "--dataset", "cartpole/task1"]) == 0
    out = capsys.readouterr().out
    assert "cartpole/task1: " in out and "reference scores" in out
    path = out.strip().split("results written to ")[-1]
    record = json.loads(open(path).read())
    assert list(record["datasets"]) == ["cartpole/task1"]
    assert record["provenance"]["command"]
    text = render.dataset_card(path)
    assert "| `cartpole/task1` |" in text and "the optimum: balanced for all 500 steps" in text
    assert text.splitlines()[-1].startswith("Source: ")


def test_the_large_set_is_left_out_unless_asked(monkeypatch):
    asked = []
    monkeypatch.setattr(dataset_card, "run", lambda names: asked.append(names) or {})
    monkeypatch.setattr(dataset_card, "report", lambda r: "")
    monkeypatch.setattr(dataset_card, "write_json", lambda name, r: "x")
    dataset_card.main()
    dataset_card.main(include_large=True)
    assert "hooksweep2/expert" not in asked[0] and "hooksweep2/expert-100k" in asked[0]
    assert "hooksweep2/expert" in asked[1]
