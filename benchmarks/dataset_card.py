"""What each named dataset holds, as its generator makes it: one record for the datasets page.

    causal-envs bench dataset-card                 # every named dataset but the 1M HookSweep2
    causal-envs bench dataset-card --all           # hooksweep2/expert too (about 20 min more)
    causal-envs bench dataset-card --dataset nav2d/empirical

Each dataset is generated with seed 0 into a fresh cache, as `causal-envs dataset generate`
makes it, and loaded back; the record keeps, per dataset: its transitions and episodes, the
episode lengths, the terminals (and how many sit inside an episode, where a goal is crossed
and the behaviour goes on), the episode ends that are time limits, the rewards' range, the
reference scores of its metadata and the policies that made them, the scripted expert's
success rate where there is one, and the seconds generation took on this machine. The same
facts print with `causal-envs dataset info NAME`; this benchmark puts them in one committed
record, so that the datasets page renders them instead of quoting them.

The figures are the generators' (deterministic for a seed); only the seconds depend on the
machine.
"""

from __future__ import annotations

import tempfile
import time
from typing import Any

from benchmarks import provenance
from benchmarks.results import write_json
from causal_envs.datasets import DATASETS, TransitionDataset, get_spec, load_dataset

__all__ = ["LARGE", "card", "main", "report", "run"]

#: left out unless asked for: the paper's 1M HookSweep2 set (1,193 s to generate in the
#: download benchmark's record)
LARGE = ("hooksweep2/expert",)
#: metadata keys copied into the card as they are
_METADATA_KEYS = (
    "ref_min_score",
    "ref_max_score",
    "ref_min_policy",
    "ref_max_policy",
    "expert_success_rate",
    "n_episodes",
    "policy",
    "reference_note",
)


def card(data: TransitionDataset) -> dict[str, Any]:
    """The facts of one loaded dataset (no timing): its `TransitionDataset.summary` and the
    reference scores and expert success its metadata holds."""
    out = data.summary()
    out.update({k: data.metadata[k] for k in _METADATA_KEYS if k in data.metadata})
    return out


def run(names: list[str]) -> dict[str, Any]:
    """Generate each of ``names`` (seed 0) into a fresh cache and return their cards."""
    for name in names:
        get_spec(name)  # an unknown name fails here, before any work
    cards: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="causal-envs-dataset-card-") as root:
        for name in names:
            print(f"generating {name} ...", flush=True)
            start = time.perf_counter()
            data = load_dataset(name, root=root)
            seconds = time.perf_counter() - start
            cards[name] = {"dataset_id": get_spec(name).dataset_id(0), **card(data)}
            cards[name]["generate_s"] = seconds
            print(f"  {seconds:.1f} s, {len(data):,} transitions", flush=True)
    return {"seed": 0, "datasets": cards, "machine": provenance.this_machine()}


def report(r: dict[str, Any]) -> str:
    """One line of counts and one of scores per dataset."""
    lines = [f"dataset-card (seed {r['seed']}; {r['machine']})", ""]
    for name, c in r["datasets"].items():
        e = c["episode_length"]
        lines.append(
            f"{name}: {c['transitions']:,} transitions in {c['episodes']:,} episodes "
            f"(length {e['min']}-{e['max']}, mean {e['mean']:.1f}); terminals {c['terminals']:,}"
            f" ({c['terminals_inside_episodes']:,} inside an episode), truncated ends (timeouts) "
            f"{c['timeouts']:,}; generated in {c['generate_s']:.1f} s"
        )
        scores = []
        if "ref_min_score" in c:
            scores.append(
                f"reference scores {c['ref_min_score']:g} ({c['ref_min_policy']}) to "
                f"{c['ref_max_score']:g} ({c['ref_max_policy']})"
            )
        if "expert_success_rate" in c:
            scores.append(f"expert success {100 * c['expert_success_rate']:.1f}%")
        if "reference_note" in c:
            scores.append(c["reference_note"])
        if scores:
            lines.append("  " + "; ".join(scores))
    return "\n".join(lines)


def main(datasets: list[str] | None = None, include_large: bool = False) -> dict[str, Any]:
    """Run on ``datasets`` (default: every named one, the `LARGE` ones only with
    ``include_large``), print the cards and write ``dataset_card.json``."""
    names = datasets or [n for n in DATASETS if include_large or n not in LARGE]
    r = run(names)
    print(report(r))
    print(f"\nresults written to {write_json('dataset_card', r)}")
    return r
