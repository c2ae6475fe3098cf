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
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import provenance
from benchmarks.claims import ANCHORS, CLAIMS
from benchmarks.mocoda_profiles import HOOKSWEEP2_DATASETS, NAV2D_DATASETS
from benchmarks.stats import estimate, interval_label

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
PAGES = (
    "README.md",
    "docs/results.md",
    "docs/reference.md",
    "docs/benchmarks.md",
    "docs/datasets.md",
)

#: renderers link a record as docs/ pages see it; `render_file` re-bases the links for a page
#: elsewhere (README.md sits above docs/)
RECORD_LINK = "](results/"

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
def _origin(*records: Record) -> str:
    """Where numbers come from: each record's file, code, date and machine."""
    parts = []
    for r in records:
        p = r.provenance
        code = provenance.code_id(p)
        if code == "unknown":
            made = f"code not recorded (record committed in {str(p.get('recorded_in_commit'))[:7]})"
        else:
            made = f"commit {code}"
        where = provenance.machine_id(p)
        parts.append(f"[{r.name}{RECORD_LINK}{r.name}): {made}, {p['date'][:10]}, {where}")
    return "; ".join(parts)


def _source(*records: Record) -> str:
    """The line under a table: `_origin`, and the cells of other code or machines, if any."""
    text = f"Source: {_origin(*records)}."
    mixed = [cid for r in records for cid in r.data.get("mixed", {})]
    if mixed:
        text += f" Cells made by other code or on another machine: {', '.join(mixed)}."
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
    over seeds, each seed's value), success and the L-route share, and where the runs
    evaluated five times or more the authors' metric (`benchmarks.mocoda_nav2d.authors_metric`);
    the claim's verdict."""
    from benchmarks.mocoda_nav2d import authors_metric, claim_verdict  # deferred: torch & co.

    record = load_record(name)
    cells = [c for c in record.cells() if "mean_steps" in c]
    agents = list(dict.fromkeys(c["agent"] for c in cells))
    rows = []
    for d in NAV2D_DATASETS:
        for a in agents:
            mine = [c for c in cells if c["dataset"] == d and c["agent"] == a]
            if not mine:
                continue
            e = estimate([c["mean_steps"] for c in mine])
            seeds = ", ".join(f"{c['mean_steps']:.1f}" for c in mine)
            theirs = [authors_metric(c["curve_steps"], c["curve_success"]) for c in mine]
            rows.append(
                [
                    d.upper(),
                    a,
                    e.format() + ("" if e.n == 1 else f" ({e.label})"),
                    seeds if e.n > 1 else "",
                    _pct(np.mean([c["success_rate"] for c in mine])),
                    _pct(np.mean([c.get("l_route_fraction", np.nan) for c in mine])),
                    "" if None in theirs else estimate(theirs).format(),
                ]
            )
    header = [
        "dataset",
        "agent",
        "steps to the goal (70 = failure)",
        "per seed",
        "success",
        "L-route",
        "the authors' metric",
    ]
    if not any(row[-1] for row in rows):  # no run evaluated five times
        header, rows = header[:-1], [row[:-1] for row in rows]
    table = _table(header, rows, "llrlrrr"[: len(header)])
    return _join(table, _verdict(claim_verdict(cells)), _source(record))


def nav2d_finding(name: str) -> str:
    """The sentence `mocoda-nav2d` ends its report with, from the record."""
    from benchmarks.mocoda_nav2d import finding, table  # deferred: torch & co.

    record = load_record(name)
    cells = [c for c in record.cells() if "mean_steps" in c]
    agents = tuple(dict.fromkeys(c["agent"] for c in cells))
    return f"*{finding(table(cells, agents), agents)}* ({_origin(record)})"


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


def hooksweep2_agents(name: str) -> str:
    """`mocoda-hooksweep2`'s table: per dataset and agent, the success rate at the final step
    (mean and interval over seeds, each seed's value) and what the data holds for the target
    task; the no-data baselines on the same episodes; the claim's verdict."""
    from benchmarks.mocoda_hooksweep2 import (  # deferred: torch & co.
        NO_DATA,
        claim_verdict,
    )

    record = load_record(name)
    cells = record.cells()
    agents = list(dict.fromkeys(c["agent"] for c in cells if c["dataset"] != NO_DATA))
    baselines = list(dict.fromkeys(c["agent"] for c in cells if c["dataset"] == NO_DATA))
    rows = []
    for d in [*HOOKSWEEP2_DATASETS, NO_DATA]:
        for a in agents if d != NO_DATA else baselines:
            mine = [c for c in cells if c["dataset"] == d and c["agent"] == a]
            if not mine:
                continue
            e = estimate([100 * c["success_rate"] for c in mine])
            held = ["", ""]
            if d != NO_DATA:
                held = [
                    f"{100 * np.mean([c['data'][k] for c in mine]):.2f}%"
                    for k in ("success_fraction", "both_swept_fraction")
                ]
            rows.append(
                [
                    d.upper() if d != NO_DATA else "none",
                    a if d != NO_DATA else f"{a} policy",
                    e.format() + ("" if e.n == 1 else f" ({e.label})"),
                    ", ".join(f"{100 * c['success_rate']:.1f}" for c in mine) if e.n > 1 else "",
                    *held,
                ]
            )
    episodes = record.data.get("config", {}).get("eval_episodes")
    head = (
        f"Success at the final step (%) on the target task, {episodes} evaluation episodes per "
        "seed and evaluation; the data columns: its transitions that succeed and its states with "
        "both boxes on one side:"
    )
    table = _table(
        ["dataset", "agent", "success (%)", "per seed", "successful rows", "both on one side"],
        rows,
        "llrlrr",
    )
    return _join(head, table, _verdict(claim_verdict(cells)), _source(record))


def model_error(name: str) -> str:
    """`mocoda-model-error`'s table: the authors' metric (L2 error x100 of the generated next
    state) per model and input distribution, mean and interval over seeds; the claim's
    verdict; the pipeline's wall time."""
    from benchmarks.mocoda_model_error import (
        ARCHS,
        claim_verdict,
        distributions,
    )  # deferred: torch & co.

    record = load_record(name)
    cells = record.cells()
    scored = distributions(cells)
    rows = []
    for arch in ARCHS:
        row = [arch]
        for d in scored:
            e = estimate([c["errors_sample_x100"][arch][d] for c in cells])
            row.append(e.format(3))
        rows.append(row)

    def mean_error(arch: str, d: str) -> float:
        return float(np.mean([c["errors_sample_x100"][arch][d] for c in cells]))

    ratio = [
        "unfactored / local",
        *(f"{mean_error('unfactored', d) / mean_error('local', d):.2f}x" for d in scored),
    ]
    rows.append(ratio)
    seeds = sorted(c["seed"] for c in cells)
    label = interval_label(len(cells)) if len(cells) > 1 else "one seed"
    head = f"Seeds {', '.join(map(str, seeds))} ({label}); error x100, the authors' metric"
    if any(c.get("parents") == "authors" for c in cells):
        outside = np.mean([c["outside_spaces_fraction"]["mocoda-u"] for c in cells])
        head += (
            "; MOCODA and MOCODA-U drawn from the authors' parent model "
            f"({100 * outside:.1f}% of MOCODA-U's inputs outside the spaces)"
        )
    if any(c.get("env") == "hooksweep2" for c in cells):
        floor = np.mean([c["truth_floor_x100"] for c in cells])
        head += (
            "; HookSweep2, mocoda-u is its MOCODA-P; the truth, the simulator rebuilt from each "
            f"state, lands {floor:.3f} from the recorded next state on held-out expert rows"
        )
    head += ":"
    table = _table(["model", *scored], rows)
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


def ensemble_step(name: str, defaults: str | None = None) -> str:
    """`ensemble-step`'s tables: each model's training step against the machine's product
    rate, where the step's time goes, the peer, and the profile's projected training; with
    ``defaults``, a run with glibc's allocator defaults (``CAUSAL_ENVS_RETAIN_FREED_MEMORY=0``)
    beside it."""
    from benchmarks.ensemble_step import (  # deferred: torch
        ARCHS,
        PHASES,
        peer_comparison,
        peer_work,
    )

    record = load_record(name)
    d = record.data
    head = (
        f"Profile {d['profile']}, {d['device']} with {d['threads']} threads, native bf16: "
        f"{'yes' if d['native_bf16'] else 'no'}, freed memory retained: "
        f"{'yes' if d['retain_freed_memory'] else 'no'}:"
    )
    rows = [
        [
            f"{model.replace('/', ' ')}",
            f"{r['step_s'] * 1e3:.1f} ms",
            f"{r['flops_per_step'] / 1e9:.2f}",
            f"{r['step_gflops']:.0f} of {r['product_gflops']:.0f}",
            f"{100 * r['share_of_product_rate']:.0f}%",
            f"{r['minor_faults_per_step']:.0f}",
            f"{r['kernel_s_per_step'] * 1e3:.2f} ms",
            f"{r['projected_training_min']:.1f} min",
        ]
        for model, r in d["models"].items()
    ]
    steps = _table(
        [
            "model",
            "one step",
            "GFLOP a step",
            "GFLOP/s (of the product rate)",
            "share",
            "page faults a step",
            "kernel time a step",
            f"{d['training_steps']:,} steps",
        ],
        rows,
    )
    phase_rows = [
        [model.replace("/", " ")] + [f"{r['phases_s'][p] * 1e3:.2f}" for p in PHASES]
        for model, r in d["models"].items()
    ]
    phases = _table(["model (ms a step)", *PHASES], phase_rows)
    peer = d["peer"]
    ours_s, speed = peer_comparison(d)
    peer_line = (
        f"The peer, the unfactored network laid out as the authors' code lays it out (one "
        f"`nn.Sequential` per member), float32: {peer['step_s'] * 1e3:.1f} ms a step and "
        f"{peer['minor_faults_per_step']:.0f} page faults; ours, without its validations, "
        f"{ours_s * 1e3:.1f} ms: {speed:.2f}x its speed{peer_work(d)}. The three models' "
        "training at this profile: "
        + "; ".join(f"{p} {m:.1f} min" for p, m in d["projected_three_min"].items())
        + f" ({', '.join(ARCHS)})."
    )
    parts = [head, steps, "Where a step's time goes:", phases, peer_line, _source(record)]
    if defaults is not None:
        other = load_record(defaults)
        o = other.data
        rows = [
            [
                model.replace("/", " "),
                f"{r['step_s'] * 1e3:.1f} ms",
                f"{o['models'][model]['step_s'] * 1e3:.1f} ms",
                f"{r['minor_faults_per_step']:.0f}",
                f"{o['models'][model]['minor_faults_per_step']:.0f}",
                f"{r['kernel_s_per_step'] * 1e3:.2f} ms",
                f"{o['models'][model]['kernel_s_per_step'] * 1e3:.2f} ms",
            ]
            for model, r in d["models"].items()
            if model in o["models"]
        ]
        parts += [
            "The same steps with glibc's allocator defaults (`CAUSAL_ENVS_RETAIN_FREED_MEMORY=0`),"
            " measured right after:",
            _table(
                [
                    "model",
                    "one step (retained)",
                    "(defaults)",
                    "page faults (retained)",
                    "(defaults)",
                    "kernel time (retained)",
                    "(defaults)",
                ],
                rows,
            ),
            _source(other),
        ]
    return _join(*parts)


# ----------------------------------------------------------------------------- CSR
def _csr_cells(specs: tuple[str, ...]) -> tuple[list[dict], list[Record]]:
    """Cells from ``FILE[:method,method]`` specs: each method's cells from the first spec
    that offers it (a spec without methods offers all of its own)."""
    cells: list[dict] = []
    records, taken = [], set()
    for spec in specs:
        name, _, methods = spec.partition(":")
        record = load_record(name)
        records.append(record)
        wanted = set(methods.split(",")) if methods else None
        mine = [c for c in record.cells() if wanted is None or c["method"] in wanted]
        mine = [c for c in mine if c["method"] not in taken]
        taken |= {c["method"] for c in mine}
        cells += mine
    return cells, records


def csr_scores(bench: str, *specs: str) -> str:
    """A CSR benchmark's final score per method and task (each seed's score, and the mean
    with its interval), the minimum adaptation steps, the detection against the truth, and
    the claim's verdict (CartPole); ``specs`` name the records (``FILE[:methods]``)."""
    from benchmarks.csr import (
        LABELS,
        adaptation_steps,
        adaptation_targets,
        claim_verdict,
        detection_confusion,
        final_scores,
        normalised_scores,
        resolve_shared_rows,
    )  # deferred: torch & co.

    cells, records = _csr_cells(specs)
    config = records[0].data["config"]
    resolved = resolve_shared_rows(cells)
    methods = list(dict.fromkeys(c["method"] for c in cells))
    n_tasks = max(len(c["tasks"]) for c in cells)
    tasks = [f"task {i + 1}" for i in range(n_tasks)]
    rows = []
    for m in methods:
        mine = sorted((c for c in resolved if c["method"] == m), key=lambda c: c["seed"])
        row = [LABELS[m]]
        for i in range(n_tasks):
            values = final_scores(mine, i)
            if not values:
                row.append("n/a")
                continue
            each = " / ".join(f"{v:.0f}" for v in values)
            row.append(each if len(set(values)) == 1 else f"{each}: {estimate(values).format()}")
        rows.append(row)
    seeds = sorted({c["seed"] for c in cells})
    label = interval_label(len(seeds))
    head = (
        f"Final score per seed (seeds {', '.join(map(str, seeds))}) and, where they differ, "
        f"the mean [{label}]:"
    )
    parts = [head, _table(["method", *tasks], rows, "l" + "l" * n_tasks)]
    if any("zero_shot" in t for c in cells for t in c["tasks"]):
        zero = []
        for m in methods:
            mine = sorted((c for c in resolved if c["method"] == m), key=lambda c: c["seed"])
            row = [LABELS[m]]
            for i in range(1, n_tasks):
                values = final_scores(mine, i, "zero_shot")
                each = " / ".join(f"{v:.0f}" for v in values)
                row.append(
                    "n/a"
                    if not values
                    else each
                    if len(set(values)) == 1
                    else f"{each}: {estimate(values).format()}"
                )
            zero.append(row)
        parts += [
            "Zero-shot score per seed: the agent as it finished the previous task, evaluated on "
            "the new one before it learns anything there (n/a: the observation changed shape):",
            _table(["method", *tasks[1:]], zero, "l" + "l" * (n_tasks - 1)),
        ]
    draws = {c["seed"]: c["draw"] for c in cells if "draw" in c}
    if draws:
        parts.append(
            "Task 2 per seed: " + "; ".join(f"seed {k}: {draws[k]}" for k in sorted(draws)) + "."
        )
    if any(c.get("references") for c in cells):
        normal = []
        for m in methods:
            mine = sorted((c for c in resolved if c["method"] == m), key=lambda c: c["seed"])
            row = [LABELS[m]]
            for i in range(n_tasks):
                values = normalised_scores(mine, i)
                row.append(estimate(values).format(2) if values else "n/a")
            normal.append(row)
        ranges = {
            c["seed"]: " / ".join(f"{r['random']:.0f} to {r['best']:.0f}" for r in c["references"])
            for c in cells
            if c.get("references")
        }
        parts += [
            "Final score normalised per seed and task, 0 = uniformly random actions and 1 = the "
            "best policy that knows the task's true model (the best action held throughout, or "
            "a one-step planner; `SyntheticPOMDPEnv.reference_returns`), mean [interval]:",
            _table(["method", *tasks], normal),
            "Random to best return per seed, tasks 1 / 2 / 3 / 4: "
            + "; ".join(f"seed {k}: {ranges[k]}" for k in sorted(ranges))
            + ".",
        ]
    targets = adaptation_targets(resolved, config["fraction"], config.get("optimum"))
    if any(t is not None for t in targets.values()):
        steps_rows = []
        for m in methods:
            mine = [c for c in resolved if c["method"] == m]
            row = [LABELS[m]]
            for i in range(n_tasks):
                got = [adaptation_steps(c, i, targets) for c in mine]
                reached = [v for v in got if v is not None]
                if not reached:
                    row.append("never")
                else:
                    text = f"{int(np.mean(reached)):,}"
                    row.append(
                        text
                        if len(reached) == len(got)
                        else f"{text} ({len(reached)} of {len(got)})"
                    )
            steps_rows.append(row)
        parts += [
            f"Minimum adaptation steps: env steps on the task until the evaluation score first "
            f"reaches {config['fraction']:.0%} of the target, mean over the seeds that reach it:",
            _table(["method", *tasks], steps_rows),
        ]
    detection = []
    for m in ("csr", "adarl"):
        c = detection_confusion([x for x in cells if x["method"] == m])
        if c["decisions"]:
            detection.append(
                f"{LABELS[m]}: right in {c['right']} of {c['decisions']} decisions (expansion "
                f"needed and made {c['tp']}, needed and missed {c['fn']}, made without need "
                f"{c['fp']}, neither needed nor made {c['tn']})"
            )
    if detection:
        parts.append("Change detection against each task's truth: " + "; ".join(detection) + ".")
    structure = _csr_structure_rows(resolved, methods, n_tasks)
    if structure:
        parts += [
            "Learned graphs against the true one (all five graphs; unmatched variables and pairs "
            "below |r| 0.3 count as errors): edge precision / recall, mean over seeds, beside a "
            "structure that knows nothing on the same variables: every edge on (its precision) "
            "and edges at random with the learned density (precision / recall):",
            _table(["method", *tasks], structure),
        ]
    model = _csr_model_rows(resolved, methods, n_tasks)
    if model:
        parts += [
            "The world model at the end of each task, mean over seeds: R2, the reward's "
            "variance its reward model explains; for the masked models also r and a, the share "
            "of s->r and a->s edges on; flip, the chance that a training-time mask sample "
            "differs from the hard mask imagination uses; and x, the one-step prediction error "
            "with training's sampled masks over the error with the hard ones:",
            _table(["method", *tasks], model),
        ]
    if bench == "csr-cartpole":
        parts.append(_verdict(claim_verdict(cells)))
    if len(records) > 1:
        origin = "; ".join(
            f"{', '.join(sorted({c['method'] for c in cells if c in r.cells()}))} from {r.name}"
            for r in records
        )
        parts.append(f"Rows from more than one record: {origin}.")
    return _join(*parts, _source(*records))


def _csr_model_rows(cells: list[dict], methods: list[str], n_tasks: int) -> list[list[str]]:
    """Per method and task, `benchmarks.csr.model_means` in one cell; only methods whose
    cells recorded the world model."""
    from benchmarks.csr import format_model_means, method_rows, model_means  # deferred: torch

    return method_rows(
        cells, methods, n_tasks, "model", lambda rows, i: format_model_means(model_means(rows, i))
    )


def _csr_structure_rows(cells: list[dict], methods: list[str], n_tasks: int) -> list[list[str]]:
    """Per method and task, the structure score beside its chance baselines
    (`benchmarks.csr.structure_means`); only methods that scored one."""
    from benchmarks.csr import method_rows, structure_means  # deferred: torch & co.

    def cell(rows: list[dict], task: int) -> str:
        s = structure_means(rows, task)
        if s is None:
            return "n/a"
        return (
            f"{s['precision']:.2f} / {s['recall']:.2f} "
            f"(on: {s['all_on_precision']:.2f}; random: {s['random_precision']:.2f} / "
            f"{s['random_recall']:.2f})"
        )

    return method_rows(cells, methods, n_tasks, "structure", cell)


def csr_detection_score(name: str) -> str:
    """`bench csr-detection` (the score study): per benchmark, each rule's sensitivity,
    specificity and confusion counts on the same detections."""
    from benchmarks.csr_detection import RULES, confusion  # deferred: torch & co.

    record = load_record(name)
    d = record.data
    parts = [
        f"Constants frozen (threshold {d['constants']['threshold_scale']:g} x matched `tau*`, "
        f"`theta_reg` {d['constants']['theta_reg']:g}, coverage quantile "
        f"{d['constants']['coverage_quantile']:g}), chosen on seeds "
        f"{', '.join(map(str, d['constants']['tuned_on_seeds']))}; a positive is a case that "
        "needs a new latent variable:"
    ]
    for bench in sorted({x["bench"] for x in d["rows"]}):
        rows = [x for x in d["rows"] if x["bench"] == bench]
        seeds = sorted({x["seed"] for x in rows})
        table = []
        for rule, (label, _) in RULES.items():
            c = confusion(rows, rule)
            table.append(
                [
                    label,
                    *(
                        "n/a" if c[k] is None else f"{c[k]:.2f}"
                        for k in ("sensitivity", "specificity", "balanced_accuracy")
                    ),
                    f"{c['right']} of {c['decisions']}",
                    f"{c['tp']} / {c['fn']} / {c['fp']} / {c['tn']}",
                ]
            )
        positives = sum(x["expand_needed"] for x in rows)
        parts += [
            f"`{bench}`, seeds {', '.join(map(str, seeds))}: {len(rows)} cases, {positives} "
            "of them positive:",
            _table(
                [
                    "rule",
                    "sensitivity",
                    "specificity",
                    "balanced accuracy",
                    "right",
                    "TP / FN / FP / TN",
                ],
                table,
            ),
        ]
    return _join(*parts, _source(record))


def csr_detection(name: str) -> str:
    """`bench csr-detection`: per probe and ``theta_reg``, the decisions right, and per task
    variant the range of the error after re-estimation over ``tau*`` (below the threshold
    scale: a distribution shift, the right answer for every variant)."""
    record = load_record(name)
    d = record.data
    rows_in = d["rows"]
    variants = list(dict.fromkeys(r["variant"] for r in rows_in))
    settings = list(dict.fromkeys((r["probe"], r["theta_reg"]) for r in rows_in))
    rows = []
    for probe, reg in settings:
        mine = [r for r in rows_in if (r["probe"], r["theta_reg"]) == (probe, reg)]
        row = [f"{probe}, {reg:g}", f"{sum(r['right'] for r in mine)}/{len(mine)}"]
        for v in variants:
            ratios = [r["ratio"] for r in mine if r["variant"] == v]
            row.append(f"{min(ratios):.2f}-{max(ratios):.2f}" if ratios else "")
        row.append(f"{max(r['theta_drift'] for r in mine):.2f}")
        rows.append(row)
    head = (
        f"Threshold {d['threshold_scale']:g} x `tau*`; {d['detect_steps']} re-estimation "
        f"updates and {d['adapt_collect']:,} probe steps per decision; every variant needs no "
        'new latent variable, so every right decision is "shift":'
    )
    table = _table(
        ["probe, theta_reg", "right", *variants, "theta drift (max)"],
        rows,
        "lr" + "r" * len(variants) + "r",
    )
    return _join(head, table, _source(record))


def model_settings(name: str) -> str:
    """The HookSweep2 models' schedule and precision: parent model plus dynamics, the local
    ensemble alone, and its held-out NLL, per setting."""
    record = load_record(name)
    rows = [
        [
            key.replace("/", ", "),
            f"{r['fit_seconds']:.0f} s",
            f"{r['local_model_seconds']:.1f} s",
            f"{r['local_model_val_nll']:.2f}",
        ]
        for key, r in record.data["results"].items()
    ]
    head = f"{record.data['profile']}:"
    table = _table(
        ["schedule, precision", "parent model + dynamics", "local ensemble", "held-out NLL"], rows
    )
    return _join(head, table, _source(record))


# ----------------------------------------------------------------------------- speed
def paper_cost(name: str) -> str:
    """`bench paper-cost`'s estimate of each paper profile: cells, the longest cell, the
    whole profile in one process and in 64."""
    record = load_record(name)
    order = (
        "mocoda-nav2d",
        "mocoda-model-error",
        "mocoda-hooksweep2",
        "csr-synthetic",
        "csr-cartpole",
        "csr-atari",
        "csr-coinrun",
    )
    profiles = record.data["profiles"]
    rows = []
    for key in [k for k in order if k in profiles] + sorted(set(profiles) - set(order)):
        p = profiles[key]
        wide = max(p["total_h"] / min(64, p["cells"]), p["longest_cell_h"])
        rows.append(
            [
                f"`{key}`",
                str(p["cells"]),
                _hours(p["longest_cell_h"]),
                _hours(p["total_h"]),
                _hours(wide),
            ]
        )
    table = _table(
        ["`--profile paper`", "cells", "longest cell", "one process", "64 processes"], rows
    )
    return _join(table, _source(record))


def _hours(h: float) -> str:
    """A duration in the unit that reads best, two significant figures."""
    for limit, unit, scale in ((1, "min", 60), (48, "h", 1), (1000 * 24, "days", 1 / 24)):
        if h < limit:
            return f"{_sig(h * scale)} {unit}"
    return f"{_sig(h / 24 / 365)} years"


def _sig(x: float) -> str:
    return f"{float(f'{x:.2g}'):g}" if x >= 10 else f"{x:.2g}"


def sb3_vec_env(name: str) -> str:
    """`bench sb3-vec-env`: SB3 PPO's learn and rollout rates on the native vector envs and
    SubprocVecEnv, each against DummyVecEnv (the peer) measured in the same run."""
    record = load_record(name)
    rows_in = record.data["rows"]
    out = []
    for r in rows_in:
        if r["vec_env"] == "DummyVecEnv":
            continue
        peer = next(
            d
            for d in rows_in
            if d["vec_env"] == "DummyVecEnv"
            and d["env"] == r["env"]
            and d["num_envs"] == r["num_envs"]
        )
        out.append(
            [
                f"`{r['env']}`",
                str(r["num_envs"]),
                r["vec_env"],
                f"{r['learn_steps_per_s']:,.0f}",
                f"{r['learn_steps_per_s'] / peer['learn_steps_per_s']:.2f}x",
                f"{r['rollout_steps_per_s']:,.0f}",
                f"{r['rollout_steps_per_s'] / peer['rollout_steps_per_s']:.2f}x",
            ]
        )
    table = _table(
        ["env", "envs", "vec env", "learn steps/s", "vs Dummy", "rollout steps/s", "vs Dummy"],
        out,
        "lrlrrrr",
    )
    return _join(table, _source(record))


def dataset_download(name: str) -> str:
    """`bench dataset-download`: generating a dataset against downloading it from a mirror."""
    record = load_record(name)
    d = record.data
    rows = [
        ["generate", f"{d['generate_s']:,.0f} s", "1.00x"],
        [
            f"download ({d['archive_bytes'] / 1e6:,.0f} MB, every checksum verified)",
            f"{d['download_s']:.1f} s",
            f"{d['generate_over_download']:.0f}x",
        ],
    ]
    same = "the same dataset by its digest" if d.get("same_dataset") else "NOT the same dataset"
    head = f"`{d['dataset']}`, {d['transitions']:,} transitions, over {d['link']}; {same}:"
    return _join(head, _table(["", "wall time", "speed-up"], rows), _source(record))


def backends(local: str, ray: str) -> str:
    """The same `mocoda-nav2d` profile run in one process and as Ray tasks: every cell's
    steps to the goal (success) side by side."""
    a, b = load_record(local), load_record(ray)
    rows = []
    for cell_id, r in a.data["cells"].items():
        o = b.data["cells"].get(cell_id)
        right = "missing" if o is None else f"{o['mean_steps']:.1f} ({o['success_rate']:.0%})"
        rows.append(
            [
                f"{r['dataset'].upper()} / {r['agent']}",
                f"{r['mean_steps']:.1f} ({r['success_rate']:.0%})",
                right,
            ]
        )
    same = sum(
        1
        for k, r in a.data["cells"].items()
        if k in b.data["cells"] and b.data["cells"][k]["mean_steps"] == r["mean_steps"]
    )
    table = _table(["cell", "one process", "Ray workers"], rows)
    return _join(
        table, f"Cells with the same steps on both backends: {same} of {len(rows)}.", _source(a, b)
    )


def dataset_card(name: str) -> str:
    """`bench dataset-card`: per named dataset its counts, terminals, reference scores and
    expert success, as the generator made it with seed 0."""
    record = load_record(name)
    rows = []
    for dataset, c in record.data["datasets"].items():
        e = c["episode_length"]
        scores = (
            f"{c['ref_min_score']:.4g} ({c['ref_min_policy']}) to {c['ref_max_score']:.4g} "
            f"({c['ref_max_policy']})"
            if "ref_min_score" in c
            else c.get("reference_note", "none")
        )
        success = c.get("expert_success_rate")
        rows.append(
            [
                f"`{dataset}`",
                f"{c['transitions']:,}",
                f"{c['episodes']:,} ({e['min']}-{e['max']} steps)",
                f"{c['terminals']:,} ({c['terminals_inside_episodes']:,})",
                f"{c['timeouts']:,}",
                f"{c['reward']['min']:.3g} to {c['reward']['max']:.3g}",
                scores,
                "" if success is None else f"{100 * success:.1f}%",
                f"{c['generate_s']:.1f} s",
            ]
        )
    table = _table(
        [
            "dataset",
            "transitions",
            "episodes (length)",
            "terminals (inside an episode)",
            "truncated ends",
            "reward",
            "`ref_min_score` to `ref_max_score`",
            "expert success",
            "generated in",
        ],
        rows,
        "lrrrrllrr",
    )
    return _join(table, _source(record))


def env_speed(name: str) -> str:
    """`bench env-speed`: steps/s of the envs against CartPole-v1 (single and 4096-env
    vector), of the task-sequence wrappers against raw ALE and procgen and of HookSweep2
    against Gymnasium's Pusher-v5, all in one run; and the Nav2D dataset's generation and load
    times, with Minari's read and write costs where the record has them."""
    record = load_record(name)
    d = record.data
    rows = []
    for group, title in (("single", "single env"), ("vector_4096", "vector env, 4096 envs")):
        peer = d[group]["CartPole-v1"]
        for env, rate in d[group].items():
            ratio = "(frames/s)" if "pixels" in env else f"{rate / peer:.2f}x"
            rows.append(
                [
                    title,
                    f"`{env}`" + (" (peer)" if env == "CartPole-v1" else ""),
                    f"{rate:,.0f}",
                    ratio,
                ]
            )
    wrappers = d.get("wrappers", {})
    names = list(wrappers)
    for raw, ours in zip(names[::2], names[1::2], strict=True):
        rows.append(["task sequence", f"{raw} (peer)", f"{wrappers[raw]:,.0f}", "1.00x"])
        rows.append(
            [
                "task sequence",
                ours,
                f"{wrappers[ours]:,.0f}",
                f"{wrappers[ours] / wrappers[raw]:.2f}x",
            ]
        )
    mujoco = d.get("mujoco", {})
    for env in sorted(mujoco, key=lambda name: name != "Pusher-v5"):  # the peer first
        rate, peer = mujoco[env], mujoco["Pusher-v5"]
        rows.append(
            [
                "MuJoCo, single env",
                f"`{env}`" + (" (peer)" if env == "Pusher-v5" else ""),
                f"{rate:,.0f} ({1e3 / rate:.2f} ms a step)",
                f"{rate / peer:.2f}x",
            ]
        )
    table = _table(["", "env", "steps/s", "vs peer"], rows, "llrr")
    t = d["dataset_nav2d_40k"]
    data = (
        f"The 40k Nav2D dataset: generated in {t['generate_s']:.3f} s, generated and written "
        f"to the Minari cache in {t['generate_and_cache_s']:.2f} s, loaded back in "
        f"{t['load_cached_s']:.3f} s (best of {d['repeats']} rounds, {d['profile']} profile)."
    )
    if "minari_read_s" in t:
        data += (
            f" Read through Minari instead, episode by episode, its {t['minari_episodes']:,} "
            f"episodes take {t['minari_read_s']:.2f} s ({1e3 * t['minari_read_per_episode_s']:.1f}"
            f" ms an episode) and {t['minari_bytes_per_episode'] / 1e3:.1f} kB of HDF5 each; "
            f"`to_minari` writes one-step episodes (MoCoDA's generated rows) at "
            f"{1e3 * t['to_minari_per_one_step_episode_s']:.1f} ms and "
            f"{t['to_minari_bytes_per_one_step_episode'] / 1e3:.1f} kB an episode "
            f"({t['one_step_episodes']:,} written; one round)."
        )
    return _join(table, data, _source(record))


def _interval(item: dict[str, Any] | None, digits: int, scale: float = 1.0) -> str:
    """``mean [low, high]`` of a summary's estimate; ``n/a`` without one."""
    if item is None:
        return "n/a"
    lo, hi = scale * item["low"], scale * item["high"]
    return f"{scale * item['mean']:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def csr_ablation(name: str) -> str:
    """`bench csr-ablation`: per variant the final score, the normalised score, the reward
    variance explained and the reward and action edges on, each with its interval and the
    paired difference from CSR on the same seed."""
    record = load_record(name)
    s = record.data["summary"]
    peer = s["peer"]

    def cell(entry: dict[str, Any], key: str, digits: int) -> str:
        item = entry.get(key)
        text = _interval(item, digits)
        if item is not None and "minus_peer" in item:
            d = item["minus_peer"]
            text += f"; {d['mean']:+.{digits}f} [{d['low']:+.{digits}f}, {d['high']:+.{digits}f}]"
        return text

    rows = []
    for variant, entry in s["variants"].items():
        label = f"`{variant}`" + (", the peer" if variant == peer else "") + f": {entry['changes']}"
        rows.append(
            [
                label,
                cell(entry, "final_score", 1),
                cell(entry, "normalised", 2),
                cell(entry, "model.reward_explained", 2),
                cell(entry, "model.s_r_edges", 2),
                cell(entry, "model.a_s_edges", 2),
            ]
        )
    seeds = next(iter(s["variants"].values()))["seeds"]
    head = (
        f"The synthetic POMDP's source task, seeds {', '.join(map(str, seeds))}: mean over seeds "
        f"[{interval_label(len(seeds))}]; after `;` the variant minus `{peer}` on the same seed "
        "(each seed is one random system), mean [interval]. Normalised: 0 = uniformly random "
        "actions, 1 = the best policy that knows the true model. Reward R2: the reward's "
        "variance the world model's reward explains; s->r, a->s: the share of those edges on."
    )
    table = _table(
        ["variant", "final score", "normalised", "reward R2", "s->r on", "a->s on"],
        rows,
        "lrrrrr",
    )
    return _join(head, table, _source(record))


def mocoda_online(name: str) -> str:
    """`bench mocoda-online`: per env, SAC and SAC with MoCoDA's replay buffer: final success,
    area under the success curve, final return, seeds reaching the level, seconds per step and
    its ratio to plain SAC's; the record's finding per env."""
    record = load_record(name)
    s = record.data["summary"]
    level = f"{100 * s['success_level']:.0f}%"
    parts = []
    for env_name, env_out in s["envs"].items():
        methods = env_out["methods"]
        base = methods.get("sac", {}).get("seconds_per_step", {}).get("mean")
        rows = []
        for m, row in methods.items():
            median = row["median_steps_to_level"]
            reach = f"{row['reached_level']} of {len(row['seeds'])}" + (
                "" if median is None else f", median {median:,.0f}"
            )
            per_step = row["seconds_per_step"]["mean"]
            ratio = "1.00x (peer)" if m == "sac" else f"{per_step / base:.2f}x"
            rows.append(
                [
                    m,
                    _interval(row["final_success"], 2),
                    _interval(row["auc_success"], 2),
                    _interval(row["final_return"], 1),
                    reach,
                    _interval(row["seconds_per_step"], 1, 1000) + " ms",
                    ratio,
                ]
            )
        any_m = next(iter(methods.values()))
        parts.append(
            f"**{env_name}** (seeds {', '.join(map(str, any_m['seeds']))}; "
            f"{any_m['final_success']['interval']}):"
        )
        parts.append(
            _table(
                [
                    "method",
                    "final success",
                    "AUC of success",
                    "final return",
                    f"seeds reaching {level}",
                    "time per env step",
                    "vs SAC",
                ],
                rows,
                "lrrrrrr",
            )
        )
        if "finding" in env_out:
            parts.append(env_out["finding"])
    return _join(*parts, _source(record))


# ----------------------------------------------------------------------------- headlines
def verdicts(*specs: str) -> str:
    """One line per claim, ``CLAIM=FILE[+FILE:methods...]``: the claim's verdict on the
    record, with the numbers it was read from (the README's summary of the results)."""
    from benchmarks import (
        csr,
        mocoda_hooksweep2,
        mocoda_model_error,
        mocoda_nav2d,
    )  # deferred: torch & co.

    judges = {
        "mocoda-nav2d": mocoda_nav2d.claim_verdict,
        "mocoda-hooksweep2": mocoda_hooksweep2.claim_verdict,
        "mocoda-model-error": mocoda_model_error.claim_verdict,
        "csr-cartpole": csr.claim_verdict,
    }
    lines = []
    for spec in specs:
        key, _, files = spec.partition("=")
        claim = CLAIMS[key]
        names = files.split("+")
        if key == "csr-cartpole":
            cells, records = _csr_cells(tuple(names))
        else:
            records = [load_record(n) for n in names]
            cells = [c for r in records for c in r.cells()]
        verdict = judges[key](cells)
        lines.append(
            f"- **{claim.source}**, {claim.statement}: **{verdict.outcome}** "
            f"({verdict.detail}; from {_origin(*records)})."
        )
    return "\n".join(lines)


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
    "hooksweep2-agents": hooksweep2_agents,
    "ensemble-step": ensemble_step,
    "csr-scores": csr_scores,
    "csr-ablation": csr_ablation,
    "mocoda-online": mocoda_online,
    "paper-cost": paper_cost,
    "sb3-vec-env": sb3_vec_env,
    "dataset-download": dataset_download,
    "dataset-card": dataset_card,
    "env-speed": env_speed,
    "csr-detection": csr_detection,
    "csr-detection-score": csr_detection_score,
    "model-settings": model_settings,
    "backends": backends,
    "verdicts": verdicts,
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
    docs = Path(os.path.relpath(ROOT / "docs", path.resolve().parent)).as_posix()
    rebase = "" if docs == "." else f"{docs}/"

    def replace(m: re.Match) -> str:
        body = _render_block(m["spec"]).replace(RECORD_LINK, f"]({rebase}results/")
        if body != m["body"]:
            changed.append(m["spec"])
        return m["open"] + body + m["close"]

    new = BLOCK.sub(replace, text)
    if changed and not check:
        path.write_text(new)
    return changed


def render_pages(check: bool = False, root: Path | None = None) -> dict[str, list[str]]:
    """`render_file` over the README, the results page and the reference page; returns page
    -> changed blocks (only pages with changes)."""
    out = {}
    for page in PAGES:
        changed = render_file((root or ROOT) / page, check=check)
        if changed:
            out[page] = changed
    return out
