"""Pack a dataset, serve it from a real HTTP server on 127.0.0.1, download and verify it:
resume after a dropped connection, refuse a corrupt archive, a wrong manifest and a failed
write, and leave nothing behind."""

from __future__ import annotations

import errno
import http.server
import json
import shutil
import threading
from pathlib import Path

import pytest

from benchmarks.cli import main
from causal_envs.datasets import (
    DatasetError,
    download_dataset,
    generate_dataset,
    load_dataset,
    pack_dataset,
    remote,
)
from causal_envs.datasets.remote import MIRROR_ENV
from causal_envs.datasets.staging import MIN_FREE_BYTES
from causal_envs.datasets.storage import file_facts

NAME, ID = "cartpole/task1", "causal-envs/cartpole/task1-v0"


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Static files with ``Range`` support; ``drop_after`` cuts the first response of a file
    after that many bytes (a dropped connection)."""

    drop_after: int | None = None
    ranges: list[str] = []

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        header = self.headers.get("Range")
        if header:
            type(self).ranges.append(header)
            start = int(header.removeprefix("bytes=").split("-")[0])
            if start >= len(data):  # as real servers answer a range past the end
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        limit = type(self).drop_after
        if limit is not None and path.suffix == ".tar":
            type(self).drop_after = None  # only once
            self.wfile.write(body[:limit])
            self.wfile.flush()
            self.connection.shutdown(2)  # the connection drops mid-file
            return
        self.wfile.write(body)


@pytest.fixture
def mirror(tmp_path_factory):
    """A packed cartpole/task1 served over HTTP: (url, mirror folder, handler class, the
    cache it was packed from)."""
    source = tmp_path_factory.mktemp("source")
    generate_dataset(NAME, root=source)
    folder = tmp_path_factory.mktemp("mirror")
    pack_dataset(NAME, out=folder, root=source)
    handler = type("Handler", (_Handler,), {"drop_after": None, "ranges": []})

    def make(*args, **kwargs):
        return handler(*args, directory=str(folder), **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), make)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", folder, handler, source
    server.shutdown()
    server.server_close()


def _leftovers(root: Path) -> list[str]:
    """What a failed download left in the cache (locks excluded)."""
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and ".locks" not in p.parts
    )


def test_pack_writes_an_archive_and_a_manifest(mirror):
    _, folder, _, _ = mirror
    manifest = json.loads((folder / f"{ID}.manifest.json").read_text())
    assert manifest["format"] == "causal-envs-dataset-archive"
    assert manifest["dataset"] == NAME and manifest["package_version"]
    assert manifest["generation_command"] == f"causal-envs dataset generate {NAME}"
    assert {f["path"] for f in manifest["files"]} == {
        "data/metadata.json",
        "data/main_data.hdf5",
        "data/transitions.npz",
    }
    assert manifest["archive"]["bytes"] == (folder / f"{ID}.tar").stat().st_size


def test_download_installs_the_same_dataset(mirror, tmp_path):
    url, _, _, source = mirror
    root = tmp_path / "cache"
    download_dataset(NAME, mirror=url, root=root, progress=False)
    assert load_dataset(NAME, root=root).equals(load_dataset(NAME, root=source))
    assert not (root / ".downloads").exists() or not any((root / ".downloads").iterdir())


def test_load_dataset_downloads_from_the_configured_mirror(mirror, tmp_path, monkeypatch):
    url, _, _, source = mirror
    monkeypatch.setenv(MIRROR_ENV, url)
    data = load_dataset(NAME, root=tmp_path / "cache", download=True)
    assert data.equals(load_dataset(NAME, root=source))


def test_a_dropped_connection_is_resumed_with_a_range_request(mirror, tmp_path):
    url, folder, handler, source = mirror
    size = (folder / f"{ID}.tar").stat().st_size
    handler.drop_after = size // 3
    root = tmp_path / "cache"
    download_dataset(NAME, mirror=url, root=root, progress=False)
    assert any(r == f"bytes={size // 3}-" for r in handler.ranges), handler.ranges
    assert load_dataset(NAME, root=root).equals(load_dataset(NAME, root=source))


def test_a_short_archive_says_the_mirror_is_inconsistent_not_resume(mirror, tmp_path):
    """The mirror's archive is shorter than its manifest says: no retry can finish it, so
    the error says so (not "run again to resume") and keeps no .part."""
    url, folder, _, _ = mirror
    tar = folder / f"{ID}.tar"
    full = tar.stat().st_size
    tar.write_bytes(tar.read_bytes()[: full // 2])
    root = tmp_path / "cache"
    with pytest.raises(DatasetError, match=rf"ends at {full // 2:,} bytes.*says {full:,}") as err:
        download_dataset(NAME, mirror=url, root=root, progress=False)
    assert "resume" not in str(err.value)
    assert _leftovers(root) == []


def test_a_corrupted_archive_is_refused_and_leaves_nothing(mirror, tmp_path):
    url, folder, _, _ = mirror
    tar = folder / f"{ID}.tar"
    raw = bytearray(tar.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    tar.write_bytes(bytes(raw))
    root = tmp_path / "cache"
    with pytest.raises(DatasetError, match="does not match the SHA-256"):
        download_dataset(NAME, mirror=url, root=root, progress=False)
    assert _leftovers(root) == []


def test_a_manifest_whose_files_lie_is_refused(mirror, tmp_path):
    """The archive matches its own digest, but a file does not match the manifest."""
    url, folder, _, _ = mirror
    path = folder / f"{ID}.manifest.json"
    manifest = json.loads(path.read_text())
    manifest["files"][0]["sha256"] = "0" * 64
    path.write_text(json.dumps(manifest))
    root = tmp_path / "cache"
    with pytest.raises(DatasetError, match="does not match its manifest digest"):
        download_dataset(NAME, mirror=url, root=root, progress=False)
    assert _leftovers(root) == []


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"dataset_id": "causal-envs/cartpole/task2-v0"}, "not causal-envs/cartpole/task1-v0"),
        ({"format": "something-else"}, "not a causal-envs dataset manifest"),
        ({"format_version": 99}, "archive format 99"),
        ({"archive": {"file": "x.tar", "bytes": "abc", "sha256": "0" * 64}}, "valid size"),
        ({"archive": {"file": "x.tar", "bytes": 10, "sha256": "xyz"}}, "valid SHA-256"),
        ({"files": ["a"]}, r"files\[0\] is not an entry"),
        ({"files": [{"path": "a", "sha256": "0" * 64}]}, r"files\[0\] \(a\) has no valid size"),
    ],
)
def test_a_wrong_manifest_is_refused(mirror, tmp_path, edit, message):
    url, folder, _, _ = mirror
    path = folder / f"{ID}.manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **edit}))
    root = tmp_path / "cache"
    with pytest.raises(DatasetError, match=message):
        download_dataset(NAME, mirror=url, root=root, progress=False)
    assert _leftovers(root) == []


def test_a_foreign_archive_is_refused(mirror, tmp_path):
    """Not a tar file, but the manifest describes it: the unpacking fails cleanly."""
    url, folder, _, _ = mirror
    tar = folder / f"{ID}.tar"
    tar.write_bytes(b"<html>not an archive</html>" * 100)
    path = folder / f"{ID}.manifest.json"
    manifest = json.loads(path.read_text())
    manifest["archive"].update(file_facts(tar))
    path.write_text(json.dumps(manifest))
    root = tmp_path / "cache"
    with pytest.raises(DatasetError, match="failed"):
        download_dataset(NAME, mirror=url, root=root, progress=False)
    assert _leftovers(root) == []


def test_another_datasets_archive_under_this_ones_name_is_refused(mirror, tmp_path):
    """The mirror serves cartpole/task2's genuine archive with a manifest edited to say
    task1 (dataset, dataset_id, archive file): every digest matches, but the unpacked
    dataset's own metadata names task2, and nothing is installed."""
    url, folder, _, source = mirror
    other_name, other_id = "cartpole/task2", "causal-envs/cartpole/task2-v0"
    generate_dataset(other_name, root=source)
    packed = tmp_path / "other"
    pack_dataset(other_name, out=packed, root=source)
    shutil.copy(packed / f"{other_id}.tar", folder / f"{ID}.tar")
    manifest = json.loads((packed / f"{other_id}.manifest.json").read_text())
    manifest.update(dataset=NAME, dataset_id=ID)
    manifest["archive"]["file"] = Path(f"{ID}.tar").name
    (folder / f"{ID}.manifest.json").write_text(json.dumps(manifest))
    root = tmp_path / "cache"
    with pytest.raises(DatasetError, match=r"holds 'causal-envs/cartpole/task2-v0'.*foreign"):
        download_dataset(NAME, mirror=url, root=root, progress=False)
    assert _leftovers(root) == []
    assert main(["dataset", "--data-dir", str(root), "download", NAME, "--mirror", url]) == 1


def test_a_failed_disk_write_leaves_nothing(mirror, tmp_path, monkeypatch):
    url, _, _, _ = mirror
    root = tmp_path / "cache"

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(remote, "_unpack", full_disk)
    with pytest.raises(DatasetError, match="the disk is full"):
        download_dataset(NAME, mirror=url, root=root, progress=False)
    assert _leftovers(root) == []


def test_no_mirror_and_a_missing_dataset_say_what_to_do(mirror, tmp_path, monkeypatch):
    url, folder, _, _ = mirror
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    with pytest.raises(DatasetError, match="--mirror URL or set CAUSAL_ENVS_MIRROR"):
        download_dataset(NAME, root=tmp_path / "a", progress=False)
    shutil.rmtree(folder / "causal-envs")
    with pytest.raises(DatasetError, match="cannot read the manifest"):
        download_dataset(NAME, mirror=url, root=tmp_path / "b", progress=False)


def test_the_cli_packs_and_downloads(mirror, tmp_path, capsys):
    url, _, _, source = mirror
    out = tmp_path / "mirror2"
    assert main(["dataset", "--data-dir", str(source), "pack", NAME, "--out", str(out)]) == 0
    assert (out / f"{ID}.tar").exists()
    root = tmp_path / "cache"
    argv = ["dataset", "--data-dir", str(root), "download", NAME, "--mirror", url]
    assert main(argv) == 0
    assert ID in capsys.readouterr().out
    assert main(["dataset", "--data-dir", str(tmp_path / "c"), "download", NAME]) == 1
    assert "CAUSAL_ENVS_MIRROR" in capsys.readouterr().err


def test_a_modified_hdf5_file_is_neither_packed_nor_installed(mirror, tmp_path, monkeypatch):
    """One flipped byte in Minari's HDF5 file keeps its size, which is all a load checks: the
    packer and the installer both check its digest against the one recorded at writing."""
    url, folder, _, source = mirror
    hdf5 = next((source / ID / "data").glob("*.hdf5"))
    raw = bytearray(hdf5.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    hdf5.write_bytes(bytes(raw))
    with pytest.raises(DatasetError, match="does not match the digest recorded"):
        pack_dataset(NAME, out=tmp_path / "packed", root=source)
    # an archive packed by a packer that did not check (its manifest matches the bad file)
    monkeypatch.setattr(remote, "verify_minari_files", lambda *a, **k: {})
    pack_dataset(NAME, out=folder, root=source)
    monkeypatch.undo()
    root = tmp_path / "cache"
    with pytest.raises(DatasetError, match="does not match the digest recorded"):
        download_dataset(NAME, mirror=url, root=root, progress=False)
    assert _leftovers(root) == []


def test_a_short_archive_on_a_server_without_ranges_says_inconsistent_not_resume(mirror, tmp_path):
    """``python -m http.server`` ignores Range and sends the whole (short) file each time: a
    complete response that ends before the manifest's size is the mirror's fault."""
    url, folder, handler, _ = mirror
    tar = folder / f"{ID}.tar"
    full = tar.stat().st_size
    tar.write_bytes(tar.read_bytes()[: full // 2])
    handler.do_GET = http.server.SimpleHTTPRequestHandler.do_GET  # no Range support
    root = tmp_path / "cache"
    for _ in range(2):
        with pytest.raises(DatasetError, match=rf"ends at {full // 2:,} bytes.*inconsistent"):
            download_dataset(NAME, mirror=url, root=root, progress=False)
    assert _leftovers(root) == []


def test_the_space_check_counts_the_archive_and_the_unpacked_dataset_before_transferring(
    mirror, tmp_path, monkeypatch
):
    """Room for the archive alone is not enough: the unpacked copy sits beside it until the
    install ends. Too little is refused before a byte is transferred; enough installs."""
    from collections import namedtuple

    url, folder, handler, _ = mirror
    manifest = json.loads((folder / f"{ID}.manifest.json").read_text())
    archive = manifest["archive"]["bytes"]
    unpacked = sum(f["bytes"] for f in manifest["files"]) + MIN_FREE_BYTES
    usage = namedtuple("usage", "total used free")
    real = shutil.disk_usage
    for free, ok in ((archive + unpacked - 1, False), (archive + unpacked, True)):
        handler.ranges.clear()
        monkeypatch.setattr(shutil, "disk_usage", lambda p, f=free: usage(f, 0, f))
        root = tmp_path / f"cache-{ok}"
        if ok:
            download_dataset(NAME, mirror=url, root=root, progress=False)
        else:
            with pytest.raises(DatasetError, match=r"downloading .* needs about"):
                download_dataset(NAME, mirror=url, root=root, progress=False)
            assert handler.ranges == []  # refused before the transfer
        monkeypatch.setattr(shutil, "disk_usage", real)
