"""Result tables rendered from committed records: ``causal-envs results render``.

The docs and the README hold no hand-typed result figure. Each result table (and each quoted
result sentence) sits between two markers::

    <!-- render: nav2d-agents 2026-12-07-mocoda-nav2d-quick.json -->
    ...what `render_file` writes here...
    <!-- /render -->

naming a renderer (`RENDERERS`) and its arguments, usually a record under ``docs/results/``.
`render_file` rebuilds every block from the records; with ``check=True`` it only reports the
blocks whose committed text differs (the test suite runs that check, so CI fails when a page
and its records disagree). A record must carry its provenance (`benchmarks.provenance`): one
without fails to load (`load_record`), and every rendered table says which code, machine and
date its numbers come from, and whether its cells mix code or machines.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import provenance
from benchmarks.claims import ANCHORS, CLAIMS
from benchmarks.stats import estimate

__all__ = [
    "RECORDS",
    "RENDERERS",
    "RecordError",
    "load_record",
    "render_file",
    "render_pages",
]

ROOT = Path(__file__).resolve().parent.parent
#: where the committed records live
RECORDS = ROOT / "docs" / "results"
#: the pages whose blocks are rendered (relative to the repository's root)
PAGES = ("README.md", "docs/results.md", "docs/reference.md")

BLOCK = re.compile(
    r"(?P<open><!-- render: (?P<spec>[^>]*?) -->\n)(?P<body>.*?)(?P<close><!-- /render -->)",
    re.S,
)


class RecordError(ValueError):
    """A record that cannot back a docs figure: unreadable, or without its provenance."""


@dataclass(frozen=True)
class Record:
    """A loaded record: its file name, its JSON, and its provenance."""

    name: str
    data: dict[str, Any]

    @property
    def provenance(self) -> dict[str, Any]:
        return self.data["provenance"]

    def cells(self) -> list[dict[str, Any]]:
        return list(self.data.get("cells", {}).values())


def load_record(name: str | Path) -> Record:
    """The committed record ``name`` (a file under `RECORDS`, or a path); a record without its
    provenance (commit, dirty flag, date, command, versions, machine) fails to load."""
    path = Path(name) if Path(name).is_absolute() else RECORDS / name
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RecordError(f"{path}: not a readable record ({err})") from None
    if not isinstance(data, dict):
        raise RecordError(f"{path}: a record is a JSON object, got {type(data).__name__}")
    lacking = provenance.missing(data.get("provenance"))
    if lacking:
        raise RecordError(f"{path}: the record has no provenance ({', '.join(lacking)} missing)")
    return Record(path.name, data)


# ----------------------------------------------------------------------------- pieces
def _source(*records: Record) -> str:
    """The line under a table: where its numbers come from."""
    parts = []
    for r in records:
        p = r.provenance
        code = provenance.code_id(p)
        if code == "unknown":
            made = f"code not recorded (record committed in {str(p.get('recorded_in_commit'))[:7]})"
        else:
            made = f"commit {code}"
        parts.append(
            f"[{r.name}](results/{r.name}): {made}, {p['date'][:10]}, {provenance.machine_id(p)}"
        )
    text = "Source: " + "; ".join(parts) + "."
    mixed = [cid for r in records for cid in r.data.get("mixed", {})]
    if mixed:
        text += f" Cells made by other code or on another machine (†): {', '.join(mixed)}."
    return text


def _table(header: list[str], rows: list[list[str]], align: str = "") -> str:
    align = align or "l" + "r" * (len(header) - 1)
    sep = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _verdict(line: Any) -> str:
    return f"Verdict ({line.outcome}): {line.detail}." if line is not None else ""


def _join(*parts: str) -> str:
    return "\n\n".join(p for p in parts if p)


# ----------------------------------------------------------------------------- MoCoDA
def nav2d_agents(name: str) -> str:
    """`mocoda-nav2d`'s table: per dataset and agent, steps to the goal (mean and interval
    over seeds, each seed's value), success and the L-route share; the claim's verdict."""
    from benchmarks.mocoda_nav2d import DATASETS, claim_verdict

    record = load_record(name)
    cells = [c for c in record.cells() if "mean_steps" in c]
    agents = list(dict.fromkeys(c["agent"] for c in cells))
    rows = []
    for d in DATASETS:
        for a in agents:
            mine = [c for c in cells if c["dataset"] == d and c["agent"] == a]
            if not mine:
                continue
            e = estimate([c["mean_steps"] for c in mine])
            seeds = ", ".join(f"{c['mean_steps']:.1f}" for c in mine)
            rows.append(
                [
                    d.upper(),
                    a,
                    e.format() + ("" if e.n == 1 else f" ({e.label})"),
                    seeds if e.n > 1 else "",
                    _pct(np.mean([c["success_rate"] for c in mine])),
                    _pct(np.mean([c.get("l_route_fraction", np.nan) for c in mine])),
                ]
            )
    table = _table(
        ["dataset", "agent", "steps to the goal (70 = failure)", "per seed", "success", "L-route"],
        rows,
        "llrlrr",
    )
    return _join(table, _verdict(claim_verdict(cells, tuple(agents))), _source(record))


def nav2d_finding(name: str) -> str:
    """The sentence `mocoda-nav2d` ends its report with, from the record."""
    from benchmarks.mocoda_nav2d import finding, table

    record = load_record(name)
    cells = [c for c in record.cells() if "mean_steps" in c]
    agents = tuple(dict.fromkeys(c["agent"] for c in cells))
    return f"*{finding(table(cells, agents), agents)}* ({_source(record)[8:-1]})"


def nav2d_crosscheck(name: str) -> str:
    """The d3rlpy cross-check of a `mocoda-nav2d` record: steps, success and updates/s of
    this package's TD3-BC and d3rlpy's TD3+BC, trained in the same process."""
    record = load_record(name)
    c = record.data.get("summary", {}).get("crosscheck")
    if not c:
        raise RecordError(f"{name}: no d3rlpy cross-check in this record")
    rows = [
        [
            f"this package's TD3-BC ({c.get('ours_precision', 'fp32')})",
            f"{c['ours_steps']:.1f}",
            _pct(c["ours_success"]),
            f"{c['ours_updates_per_s']:.0f}",
            f"{c['ours_updates_per_s'] / c['d3rlpy_updates_per_s']:.2f}x",
        ]
    ]
    if "ours_fp32_updates_per_s" in c:
        r = c["ours_fp32_updates_per_s"]
        rows.append(
            [
                "this package's TD3-BC (fp32)",
                "",
                "",
                f"{r:.0f}",
                f"{r / c['d3rlpy_updates_per_s']:.2f}x",
            ]
        )
    rows.append(
        [
            f"d3rlpy {c['d3rlpy_version']} TD3+BC (peer)",
            f"{c['d3rlpy_steps']:.1f}",
            _pct(c["d3rlpy_success"]),
            f"{c['d3rlpy_updates_per_s']:.0f}",
            "1.00x",
        ]
    )
    head = (
        f"Seed {c['seed']}, {c['dataset'].upper()}, {c['n_updates']:,} updates each, networks "
        f"{'x'.join(map(str, c['hidden']))}:"
    )
    table = _table(["agent", "steps", "success", "updates/s", "vs peer"], rows)
    return _join(head, table, _source(record))


def model_error(name: str) -> str:
    """`mocoda-model-error`'s table: the authors' metric (L2 error x100 of the generated next
    state) per model and input distribution, mean and interval over seeds; the claim's
    verdict; the pipeline's wall time."""
    from benchmarks.mocoda_model_error import ARCHS, DISTRIBUTIONS, claim_verdict

    record = load_record(name)
    cells = record.cells()
    rows = []
    for arch in ARCHS:
        row = [arch]
        for d in DISTRIBUTIONS:
            e = estimate([c["errors_sample_x100"][arch][d] for c in cells])
            row.append(e.format(3))
        rows.append(row)

    def mean_error(arch: str, d: str) -> float:
        return float(np.mean([c["errors_sample_x100"][arch][d] for c in cells]))

    ratio = [
        "unfactored / local",
        *(f"{mean_error('unfactored', d) / mean_error('local', d):.2f}x" for d in DISTRIBUTIONS),
    ]
    rows.append(ratio)
    seeds = sorted(c["seed"] for c in cells)
    label = estimate([0.0] * len(cells)).label if len(cells) > 1 else "one seed"
    head = f"Seeds {', '.join(map(str, seeds))} ({label}); error x100, the authors' metric:"
    table = _table(["model", *DISTRIBUTIONS], rows)
    timings = []
    for c in cells:
        t = c.get("timings_s", {})
        train = sum(t.get(f"train_{a}_s", 0.0) for a in ARCHS)
        line = f"seed {c['seed']}: the three ensembles {train:.0f} s"
        if "pipeline_s" in t:
            line += f", the whole pipeline {t['pipeline_s']:.0f} s"
        timings.append(line)
    return _join(
        head,
        table,
        "Wall time: " + "; ".join(timings) + ".",
        _verdict(claim_verdict(cells)),
        _source(record),
    )


# ----------------------------------------------------------------------------- reference
def claims() -> str:
    """The claims' table of the reference page (`benchmarks.claims.CLAIMS`)."""
    rows = [[f"`{c.benchmark}`", c.source, c.statement, c.criterion] for c in CLAIMS.values()]
    return _table(["benchmark", "paper", "claim", "criterion"], rows, "llll")


def anchors() -> str:
    """The anchors' table of the reference page (`benchmarks.claims.ANCHORS`)."""
    rows = [[a.value, a.measures, a.source, a.machine, a.compared] for a in ANCHORS.values()]
    return _table(
        ["figure", "what it measures", "source", "machine", "compared with"], rows, "lllll"
    )


#: renderer name -> function of the block's arguments
RENDERERS: dict[str, Callable[..., str]] = {
    "nav2d-agents": nav2d_agents,
    "nav2d-finding": nav2d_finding,
    "nav2d-crosscheck": nav2d_crosscheck,
    "model-error": model_error,
    "claims": claims,
    "anchors": anchors,
}


def _render_block(spec: str) -> str:
    name, *args = spec.split()
    if name not in RENDERERS:
        raise RecordError(f"unknown renderer {name!r}; known: {', '.join(sorted(RENDERERS))}")
    return RENDERERS[name](*args).strip() + "\n"


def render_file(path: Path, check: bool = False) -> list[str]:
    """Rebuild every render block of ``path`` from its records; return the specs of the blocks
    whose text changed (with ``check``, the file is left as it is)."""
    text = path.read_text()
    changed: list[str] = []

    def replace(m: re.Match) -> str:
        body = _render_block(m["spec"])
        if body != m["body"]:
            changed.append(m["spec"])
        return m["open"] + body + m["close"]

    new = BLOCK.sub(replace, text)
    if changed and not check:
        path.write_text(new)
    return changed


def render_pages(check: bool = False, root: Path = ROOT) -> dict[str, list[str]]:
    """`render_file` over the README, the results page and the reference page; returns page
    -> changed blocks (only pages with changes)."""
    out = {}
    for page in PAGES:
        changed = render_file(root / page, check=check)
        if changed:
            out[page] = changed
    return out
