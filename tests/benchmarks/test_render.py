"""The docs' result tables come from committed records, and only from them."""

import json

import pytest

from benchmarks import render
from benchmarks.cli import main
from benchmarks.render import RECORDS, RecordError, load_record, render_file, render_pages


def test_every_page_matches_its_committed_records():
    """CI's guard: a table edited by hand, or a record changed without re-rendering, fails."""
    assert render_pages(check=True) == {}


def test_every_committed_record_names_its_provenance():
    for path in sorted(RECORDS.glob("*.json")):
        record = load_record(path.name)
        p = record.provenance
        assert p["date"][:4] == "2026" and p["machine"], path.name
        assert p["commit"] or p.get("recorded_in_commit"), path.name


def test_a_record_without_provenance_fails_to_load(tmp_path):
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps({"bench": "mocoda-nav2d", "cells": {}}))
    with pytest.raises(RecordError, match=r"no provenance \(commit, dirty, date"):
        load_record(bare)
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"provenance": {"commit": "abc", "date": "2026-12-07"}}))
    with pytest.raises(RecordError, match="dirty, command, versions, machine missing"):
        load_record(partial)
    for text in ("{", "[]"):
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        with pytest.raises(RecordError, match=r"bad\.json"):
            load_record(bad)


def test_a_stale_block_is_rewritten_and_check_leaves_the_file_alone(tmp_path):
    page = tmp_path / "page.md"
    stale = "intro\n<!-- render: claims -->\n| typed by hand |\n<!-- /render -->\nend\n"
    page.write_text(stale)
    assert render_file(page, check=True) == ["claims"]
    assert page.read_text() == stale
    assert render_file(page) == ["claims"]
    text = page.read_text()
    assert "typed by hand" not in text and text.startswith("intro\n") and text.endswith("end\n")
    assert render.claims() in text
    assert render_file(page) == []  # rendered: nothing left to change
    page.write_text("<!-- render: no-such-table x.json -->\n<!-- /render -->\n")
    with pytest.raises(RecordError, match="unknown renderer 'no-such-table'"):
        render_file(page)


def test_the_command_checks_and_names_a_block_that_differs(tmp_path, monkeypatch, capsys):
    assert main(["results", "render", "--check"]) == 0
    assert "every block matches its records" in capsys.readouterr().out
    page = tmp_path / "README.md"
    page.write_text("<!-- render: anchors -->\nold\n<!-- /render -->\n")
    monkeypatch.setattr(render, "ROOT", tmp_path)
    monkeypatch.setattr(render, "PAGES", ("README.md",))
    assert main(["results", "render", "--check"]) == 1
    captured = capsys.readouterr()
    assert "README.md: anchors: differs from its records" in captured.out
    assert "run `causal-envs results render`" in captured.err
