"""Downloading a dataset from a mirror beside generating it, measured in the same run.

    causal-envs bench dataset-download                      # hooksweep2/expert: ~15 min
    causal-envs bench dataset-download --dataset nav2d/empirical
    causal-envs bench dataset-download --quick              # nav2d/empirical, seconds

The run generates the dataset into a fresh cache (the peer: what a user without a mirror
waits for), packs it as a mirror serves it (`causal_envs.datasets.remote`), serves that folder
from an HTTP server on 127.0.0.1 and downloads it into a second fresh cache, with every
check a real download makes (archive size and SHA-256, every file against the manifest, the
dataset against its digest, the atomic swap). It then loads both copies and checks that they
are the same dataset.

The loopback link is much faster than a real one, so the download time here is the package's
own cost (transfer through the HTTP stack, hashing, unpacking, verification) and the floor of
a real download; the archive's size is printed so that the time on a given link can be added
(e.g. 100 Mbit/s moves 12.5 MB a second).
"""

from __future__ import annotations

import functools
import http.server
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks import provenance
from benchmarks.results import write_json
from causal_envs.datasets import (
    download_dataset,
    generate_dataset,
    get_spec,
    load_dataset,
    pack_dataset,
)
from causal_envs.datasets.storage import dataset_digest

__all__ = ["main", "run", "serve_folder"]

#: the dataset the full run measures: the slowest one to generate
DEFAULT_DATASET = "hooksweep2/expert"
QUICK_DATASET = "nav2d/empirical"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:  # the benchmark prints its own lines
        pass


@contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    """Serve ``folder`` over HTTP on 127.0.0.1 (a free port) while the block runs; yield its
    URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _timed(func: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = func(*args, **kwargs)
    return out, time.perf_counter() - start


def run(name: str = DEFAULT_DATASET, seed: int = 0) -> dict[str, Any]:
    """Generate ``name`` into one fresh cache, download it into another from a loopback
    mirror; return the timings, the archive's size and whether the copies agree."""
    get_spec(name)  # an unknown name fails here, before any work
    with tempfile.TemporaryDirectory(prefix="causal-envs-download-bench-") as tmp:
        generated_root, downloaded_root, mirror = (Path(tmp) / d for d in ("gen", "dl", "mirror"))
        print(f"generating {name} (seed {seed}) ...", flush=True)
        _, generate_s = _timed(generate_dataset, name, seed, root=generated_root)
        (archive, _), pack_s = _timed(pack_dataset, name, seed, out=mirror, root=generated_root)
        size = archive.stat().st_size
        print(f"  {generate_s:.1f} s; packed {size / 1e6:.1f} MB in {pack_s:.1f} s", flush=True)
        with serve_folder(mirror) as url:
            print(f"downloading from {url} ...", flush=True)
            _, download_s = _timed(
                download_dataset, name, seed, mirror=url, root=downloaded_root, progress=False
            )
        generated, load_generated_s = _timed(load_dataset, name, seed, root=generated_root)
        downloaded, load_downloaded_s = _timed(load_dataset, name, seed, root=downloaded_root)
        same = dataset_digest(generated) == dataset_digest(downloaded)
    result = {
        "dataset": name,
        "seed": seed,
        "transitions": len(downloaded),
        "archive_bytes": size,
        "generate_s": generate_s,
        "pack_s": pack_s,
        "download_s": download_s,
        "download_MB_per_s": size / 1e6 / download_s,
        "load_generated_s": load_generated_s,
        "load_downloaded_s": load_downloaded_s,
        "generate_over_download": generate_s / download_s,
        "same_dataset": same,
        "link": "loopback HTTP (127.0.0.1): the package's own cost; a link adds size/bandwidth",
        "date": time.strftime("%Y-%m-%d"),
        "machine": provenance.this_machine(),
    }
    return result


def main(dataset: str | None = None, seed: int = 0, quick: bool = False) -> dict[str, Any]:
    """Run, print the figures and write ``dataset_download.json``; ``quick`` measures the
    small Nav2D set unless a ``dataset`` is named."""
    name = dataset or (QUICK_DATASET if quick else DEFAULT_DATASET)
    result = run(name, seed)
    mb = result["archive_bytes"] / 1e6
    print(
        f"{name}: {result['transitions']:,} transitions, archive {mb:.1f} MB\n"
        f"  generate  {result['generate_s']:8.1f} s  (the peer: no mirror)\n"
        f"  download  {result['download_s']:8.1f} s  ({result['download_MB_per_s']:.0f} MB/s on "
        f"loopback, every checksum verified)\n"
        f"  generate / download = {result['generate_over_download']:.1f}x; "
        f"same dataset: {result['same_dataset']}"
    )
    path = write_json("dataset_download", result)
    print(f"results: {path}")
    return result
