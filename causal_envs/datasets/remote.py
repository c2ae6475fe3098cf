"""Datasets as files on a mirror: pack one for hosting, download and verify one into the cache.

A maintainer packs a cached dataset::

    causal-envs dataset pack hooksweep2/expert --out mirror/

which writes, under ``mirror/``, the dataset's Minari folder as an uncompressed tar archive and
a manifest beside it (``causal-envs/hooksweep2/expert-v1.tar`` and ``...-v1.manifest.json``:
every file's name, size and SHA-256, the archive's, the package version and the command that
generates the data). Any static file server can host that folder as it is (``python -m
http.server``, a bucket, a Hugging Face dataset repository's ``resolve/main/`` URL). A user
then downloads instead of generating::

    causal-envs dataset download hooksweep2/expert --mirror https://host/mirror
    CAUSAL_ENVS_MIRROR=https://host/mirror python -c "..."  # load_dataset(name, download=True)

The download goes to ``<root>/.downloads/<file>.part``, resumes an interrupted transfer with an
HTTP ``Range`` request (a dropped connection is retried from where it stopped), checks the
archive's size and SHA-256, unpacks it in a staging folder, checks every file against the
manifest, the dataset against its own digest, and its own metadata (Minari's dataset id, our
generator and seed) against what was asked for, and only then swaps it into place (the same
atomic swap as a generated dataset). A corrupt, truncated or foreign archive, a manifest for
another dataset or format, or a failed write ends in one `DatasetError` and leaves nothing
behind.
"""

from __future__ import annotations

import http.client
import json
import os
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tqdm import tqdm

from causal_envs.core.fs import StorageError, check_directory, describe_os_error, ensure_free_space
from causal_envs.datasets.errors import DatasetError
from causal_envs.datasets.staging import MIN_FREE_BYTES, dataset_lock, staged_dataset
from causal_envs.datasets.storage import (
    file_facts,
    load_stored,
    package_version,
    verify_minari_files,
)

__all__ = ["ARCHIVE_FORMAT", "MIRROR_ENV", "fetch_archive", "mirror_url", "pack_archive"]

#: the environment variable naming the default mirror (a URL prefix)
MIRROR_ENV = "CAUSAL_ENVS_MIRROR"
#: what a manifest must say it is
ARCHIVE_FORMAT = "causal-envs-dataset-archive"
ARCHIVE_VERSION = 1
_CHUNK = 1 << 20
#: how often a dropped connection is resumed before the download gives up
RETRIES = 5


def pack_archive(
    dataset_id: str, base: Path, out: str | os.PathLike, *, name: str, seed: int, command: str
) -> tuple[Path, Path]:
    """Write the cached dataset ``dataset_id`` under ``base`` as ``<out>/<dataset id>.tar``
    and its manifest ``<out>/<dataset id>.manifest.json``; return both paths. The dataset is
    loaded (and so verified) first. ``name``, ``seed`` and ``command`` (the one that
    generates it) go into the manifest."""
    load_stored(dataset_id, base, regenerate_hint=command)  # refuses a corrupt or missing one
    verify_minari_files(dataset_id, base, regenerate_hint=command)  # and a modified HDF5 file
    folder = base / dataset_id
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    archive = Path(out) / f"{dataset_id}.tar"
    manifest_path = Path(out) / f"{dataset_id}.manifest.json"
    try:
        archive.parent.mkdir(parents=True, exist_ok=True)
        tmp = archive.with_suffix(".tar.tmp")
        with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
            for path in files:
                tar.add(path, arcname=path.relative_to(folder).as_posix(), recursive=False)
        os.replace(tmp, archive)
        manifest = {
            "format": ARCHIVE_FORMAT,
            "format_version": ARCHIVE_VERSION,
            "dataset": name,
            "seed": seed,
            "dataset_id": dataset_id,
            "package_version": package_version(),
            "generation_command": command,
            "archive": {"file": archive.name, **file_facts(archive)},
            "files": [{"path": p.relative_to(folder).as_posix(), **file_facts(p)} for p in files],
        }
        manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    except OSError as err:
        raise DatasetError(
            f"cannot pack {dataset_id} into {out}: {describe_os_error(err)}"
        ) from err
    return archive, manifest_path


def mirror_url(mirror: str | None = None) -> str:
    """The mirror to download from: ``mirror``, else ``$CAUSAL_ENVS_MIRROR``."""
    url = mirror or os.environ.get(MIRROR_ENV)
    if not url:
        raise DatasetError(
            f"no dataset mirror is configured: pass --mirror URL or set {MIRROR_ENV} (a URL "
            "prefix under which `causal-envs dataset pack` output is served)"
        )
    if not url.startswith(("http://", "https://", "file://")):
        raise DatasetError(f"a mirror is an http(s):// or file:// URL prefix, got {url!r}")
    return url.rstrip("/")


def _fetch_manifest(url: str, name: str, seed: int, dataset_id: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            manifest = json.loads(response.read(1 << 22))
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise DatasetError(f"cannot read the manifest {url}: {err}") from err
    if not isinstance(manifest, dict) or manifest.get("format") != ARCHIVE_FORMAT:
        raise DatasetError(f"{url} is not a causal-envs dataset manifest")
    if manifest.get("format_version") != ARCHIVE_VERSION:
        raise DatasetError(
            f"{url} has archive format {manifest.get('format_version')!r}; this version reads "
            f"{ARCHIVE_VERSION}"
        )
    if (manifest.get("dataset"), manifest.get("seed"), manifest.get("dataset_id")) != (
        name,
        seed,
        dataset_id,
    ):
        raise DatasetError(
            f"{url} describes {manifest.get('dataset_id')!r}, not {dataset_id}: the mirror is "
            "misconfigured"
        )
    archive = manifest.get("archive")
    files = manifest.get("files")
    if not isinstance(archive, dict) or not isinstance(files, list) or not files:
        raise DatasetError(f"{url} lists no archive or no files")
    _check_facts(url, "archive", archive)
    for i, entry in enumerate(files):
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise DatasetError(f"{url}: files[{i}] is not an entry with a path: {entry!r}")
        _check_facts(url, f"files[{i}] ({entry['path']})", entry)
    return manifest


def _check_facts(url: str, what: str, facts: dict[str, Any]) -> None:
    """A manifest entry must give a size (an integer >= 0) and a SHA-256 (64 hex digits)."""
    size, digest = facts.get("bytes"), facts.get("sha256")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise DatasetError(f"{url}: {what} has no valid size in bytes (got {size!r})")
    if not isinstance(digest, str) or len(digest) != 64 or not _is_hex(digest):
        raise DatasetError(f"{url}: {what} has no valid SHA-256 (got {digest!r})")


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
    except ValueError:
        return False
    return True


def _download(url: str, part: Path, size: int, progress: bool) -> None:
    """Fetch ``url`` into ``part``, resuming what is there with HTTP Range requests."""
    bar = tqdm(
        total=size,
        unit="B",
        unit_scale=True,
        desc=f"downloading {part.name[:-5]}",
        disable=not progress,
    )
    failures = 0
    with bar:
        while True:
            have = part.stat().st_size if part.exists() else 0
            bar.n = have
            bar.refresh()
            if have >= size:
                return
            request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"})
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    # 206: the server resumes; 200: it sends everything again
                    mode = "ab" if response.status == 206 else "wb"
                    if mode == "wb":
                        bar.n = 0
                    with open(part, mode) as f:
                        for block in iter(lambda r=response: r.read(_CHUNK), b""):
                            f.write(block)
                            bar.update(len(block))
                    got = part.stat().st_size
                    whole = _file_size(response)
                    if whole is not None and got >= whole and whole < size:
                        # all the server has, delivered: no retry can make it longer
                        raise _short_file(url, part, whole, size)
                    if got < size:
                        raise ConnectionError("the connection closed before the end of the file")
            except urllib.error.HTTPError as err:
                if err.code == 416:  # nothing at or after byte `have`: the file is short
                    raise _short_file(url, part, have, size) from None
                if err.code < 500:  # missing or forbidden: no retry makes it appear
                    raise DatasetError(
                        f"downloading {url} failed: HTTP {err.code} {err.reason}"
                    ) from None
                failures = _after_failure(url, failures, f"HTTP {err.code}", err)  # may pass
            except (
                urllib.error.URLError,
                http.client.HTTPException,  # IncompleteRead: the body stopped short
                ConnectionError,
                TimeoutError,
            ) as err:
                failures = _after_failure(url, failures, str(err), err)


def _file_size(response: Any) -> int | None:
    """The whole file's size as the server states it: a 206's ``Content-Range`` total, a
    200's ``Content-Length``; None where it does not say."""
    if response.status == 206:
        total = (response.headers.get("Content-Range") or "").rpartition("/")[2]
        return int(total) if total.isdigit() else None
    length = response.headers.get("Content-Length") or ""
    return int(length) if length.isdigit() else None


def _short_file(url: str, part: Path, whole: int, size: int) -> DatasetError:
    """The error for a mirror whose file is shorter than its manifest says (the partial
    download removed: nothing can complete it)."""
    part.unlink(missing_ok=True)
    return DatasetError(
        f"the mirror's {url} ends at {whole:,} bytes where its manifest says {size:,}: the "
        "mirror is inconsistent (repack it); nothing was installed"
    )


def _after_failure(url: str, failures: int, last: str, err: Exception) -> int:
    """Count one more failed attempt at ``url``: give up after `RETRIES` (the ``.part`` file
    stays, so running the command again resumes), else wait a little; return the count."""
    failures += 1
    if failures > RETRIES:
        raise DatasetError(
            f"downloading {url} failed {failures} times (last: {last}); run the command again "
            "to resume"
        ) from err
    time.sleep(min(0.2 * failures, 2.0))
    return failures


def _unpack(archive: Path, dest: Path, manifest: dict[str, Any]) -> None:
    """Extract the archive's listed regular files into ``dest`` and check each digest."""
    expected = {f["path"]: f for f in manifest["files"]}
    with tarfile.open(archive, "r:") as tar:
        members = tar.getmembers()
        names = {m.name for m in members}
        if names != set(expected):
            raise DatasetError(
                f"the archive holds {sorted(names)}, the manifest lists {sorted(expected)}"
            )
        for member in members:
            if not member.isfile() or member.name.startswith("/") or ".." in member.name.split("/"):
                raise DatasetError(f"the archive's member {member.name!r} is not a plain file")
        tar.extractall(dest, filter="data")
    for path, facts in expected.items():
        target = dest / path
        if file_facts(target) != {"bytes": facts["bytes"], "sha256": facts["sha256"]}:
            raise DatasetError(f"{path} in the archive does not match its manifest digest")


def _check_identity(
    folder: Path, metadata: dict[str, Any], dataset_id: str, name: str, seed: int
) -> None:
    """Refuse an unpacked dataset that is not the one asked for, whatever its manifest says:
    Minari's own ``dataset_id`` and our generator and seed, written when it was made, must
    name ``dataset_id``, ``name`` and ``seed``."""
    try:
        minari_id = json.loads((folder / "data" / "metadata.json").read_text()).get("dataset_id")
    except (OSError, ValueError, AttributeError):
        minari_id = None
    found = (minari_id, metadata.get("generator"), metadata.get("seed"))
    if found != (dataset_id, name, seed):
        raise DatasetError(
            f"the archive served for {dataset_id} holds {found[0]!r} (generator "
            f"{found[1]!r}, seed {found[2]!r}), not {name!r} with seed {seed}: the mirror "
            "serves a foreign dataset; nothing was installed"
        )


def fetch_archive(
    dataset_id: str,
    root: Path,
    *,
    name: str,
    seed: int,
    regenerate_hint: str,
    mirror: str | None = None,
    force: bool = False,
    progress: bool = True,
) -> Path:
    """Download dataset ``dataset_id`` (named ``name`` with ``seed``) from the mirror into the
    cache ``root``; return its directory (`causal_envs.datasets.download_dataset` resolves the
    names).

    Does nothing when it is cached, unless ``force``. See the module docstring for what is
    checked; every failure is a `DatasetError` that leaves the cache as it was (a transfer cut
    by the network keeps its ``.part`` file, so a second call resumes it).
    """
    base_url = mirror_url(mirror)
    try:
        base = check_directory(root, "dataset cache directory")
    except StorageError as err:
        raise DatasetError(str(err)) from err
    with dataset_lock(dataset_id, base, purpose="generate"):
        if (base / dataset_id / "data" / "metadata.json").exists() and not force:
            return base / dataset_id
        manifest = _fetch_manifest(f"{base_url}/{dataset_id}.manifest.json", name, seed, dataset_id)
        size, digest = int(manifest["archive"]["bytes"]), manifest["archive"]["sha256"]
        downloads = base / ".downloads"
        part = downloads / f"{dataset_id.replace('/', '__')}.tar.part"
        try:
            downloads.mkdir(exist_ok=True)
            have = part.stat().st_size if part.exists() else 0
            # the rest of the archive and the unpacked dataset beside it, asked for before
            # any byte is transferred (the archive goes once the dataset is installed)
            unpacked = sum(int(f["bytes"]) for f in manifest["files"]) + MIN_FREE_BYTES
            ensure_free_space(downloads, size - have + unpacked, f"downloading {dataset_id}")
            _download(f"{base_url}/{dataset_id}.tar", part, size, progress)
            if file_facts(part) != {"bytes": size, "sha256": digest}:
                part.unlink()
                raise DatasetError(
                    f"the downloaded archive of {dataset_id} does not match the SHA-256 in its "
                    "manifest (corrupt or replaced on the mirror); nothing was installed"
                )
            with staged_dataset(dataset_id, base, True, unpacked) as tmp:
                dest = tmp / dataset_id
                dest.mkdir(parents=True)
                _unpack(part, dest, manifest)
                installed = load_stored(dataset_id, tmp, regenerate_hint=regenerate_hint)
                # a load checks Minari's files by size only: their digests before installing
                verify_minari_files(dataset_id, tmp, regenerate_hint=regenerate_hint)
                _check_identity(dest, installed.metadata, dataset_id, name, seed)
        except DatasetError:
            if part.exists() and part.stat().st_size >= size:
                part.unlink()  # complete but unusable: nothing to resume
            raise
        except StorageError as err:
            raise DatasetError(str(err)) from err
        except (OSError, tarfile.TarError) as err:
            part.unlink(missing_ok=True)
            cause = describe_os_error(err) if isinstance(err, OSError) else str(err)
            raise DatasetError(
                f"installing {dataset_id} from {base_url} failed: {cause}; nothing was left behind"
            ) from err
        part.unlink(missing_ok=True)
    return base / dataset_id
