"""file:// (r2jwt.sources.file): permissions, change detection, safe writes, races."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
from pathlib import Path

import pytest

from r2jwt import (
    KeySet,
    SourceError,
    SourceNotFoundError,
    SourceURLError,
    WriteConflictError,
    open_source,
)
from r2jwt.admin import add_key
from r2jwt.keys import Key, Secret, parse_time
from r2jwt.sources.file import FileSource
from r2jwt.testing import SourceContract

from conftest import CANARY, CANARY_2, keyset_doc, leaked

DOC = keyset_doc({"kid": "k1", "secret": CANARY})


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


class TestFileContract(SourceContract):
    @pytest.fixture(autouse=True)
    def _folder(self, tmp_path: Path) -> None:
        self.folder = tmp_path

    def make_source(self, document: bytes | None) -> FileSource:
        path = self.folder / "keys.json"
        if document is not None:
            path.write_bytes(document)
            path.chmod(0o600)
        return FileSource(path)


def test_url_forms(tmp_path: Path) -> None:
    path = write(tmp_path / "k e y s.json", DOC)
    for url in (
        f"file://{path}",
        f"file://localhost{path}",
        "file://" + str(path).replace(" ", "%20"),
    ):
        assert KeySet.parse(open_source(url).read().data).require("k1")


@pytest.mark.parametrize(
    "url", ["file://relative.json", "file://host/etc/keys.json", "file:///x.json?mode=1"]
)
def test_bad_urls(url: str) -> None:
    with pytest.raises(SourceURLError):
        open_source(url)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_refuses_shared_files_and_says_how_to_fix(tmp_path: Path, mode: int) -> None:
    path = write(tmp_path / "keys.json", DOC, mode)
    with pytest.raises(SourceError) as info:
        open_source(f"file://{path}").read()
    message = str(info.value)
    assert f"chmod 600 {path}" in message
    assert "defaultMode: 0400" in message
    assert "allow_shared=1" in message
    assert not leaked(message)
    assert open_source(f"file://{path}?allow_shared=1").read().data == DOC.encode()


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceNotFoundError, match="does not exist"):
        open_source(f"file://{tmp_path}/nope.json").read()


def test_rereads_only_when_changed(tmp_path: Path) -> None:
    path = write(tmp_path / "keys.json", DOC)
    source = FileSource(path)
    first = source.read()
    assert source.read() is first  # unchanged: served from one stat, no read
    write(path, keyset_doc({"kid": "k2", "secret": CANARY_2}))
    assert KeySet.parse(source.read().data).require("k2")


def test_kubernetes_style_symlink_swap(tmp_path: Path) -> None:
    """Secret volumes publish keys.json -> ..data/keys.json and swap ..data atomically."""
    for version, doc in (("..v1", DOC), ("..v2", keyset_doc({"kid": "k2", "secret": CANARY_2}))):
        (tmp_path / version).mkdir()
        write(tmp_path / version / "keys.json", doc, 0o400)
    (tmp_path / "..data").symlink_to("..v1")
    (tmp_path / "keys.json").symlink_to("..data/keys.json")
    source = FileSource(tmp_path / "keys.json")
    assert [k.kid for k in KeySet.parse(source.read().data)] == ["k1"]
    (tmp_path / "..data_tmp").symlink_to("..v2")
    os.replace(tmp_path / "..data_tmp", tmp_path / "..data")  # the kubelet's atomic swap
    assert [k.kid for k in KeySet.parse(source.read().data)] == ["k2"]


def test_write_keeps_0600_and_every_key(tmp_path: Path) -> None:
    path = write(tmp_path / "keys.json", DOC)
    source = FileSource(path)
    add_key(source, Key("k2", Secret(CANARY_2), parse_time("2030-01-01T00:00:00Z")))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [k["kid"] for k in json.loads(path.read_text())["keys"]] == ["k1", "k2"]
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_a_stale_writer_loses_and_nothing_is_lost(tmp_path: Path) -> None:
    path = write(tmp_path / "keys.json", DOC)
    alice, bob = FileSource(path), FileSource(path)
    version = alice.read().version
    assert bob.read().version == version
    alice.write(
        keyset_doc(
            {"kid": "k1", "secret": CANARY},
            {"kid": "a", "secret": "x", "not_before": "2030-01-01T00:00:00Z"},
        ).encode(),
        expected_version=version,
    )
    with pytest.raises(WriteConflictError, match="changed underneath you") as info:
        bob.write(DOC.encode(), expected_version=version)
    assert not leaked(str(info.value))
    assert [k.kid for k in KeySet.parse(path.read_bytes())] == ["k1", "a"]


def _add_many(
    path: str, prefix: str, count: int, results: multiprocessing.Queue[tuple[str, bool]]
) -> None:
    source = FileSource(path)
    for i in range(count):
        kid = f"{prefix}-{i}"
        start = parse_time(f"2030-01-01T00:{i:02d}:{ord(prefix[0]) % 60:02d}Z")
        try:
            add_key(source, Key(kid, Secret(CANARY_2), start))
            results.put((kid, True))
        except WriteConflictError:
            results.put((kid, False))


def test_racing_processes_never_lose_a_key(tmp_path: Path) -> None:
    path = write(tmp_path / "keys.json", DOC)
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[tuple[str, bool]] = context.Queue()
    workers = [
        context.Process(target=_add_many, args=(str(path), prefix, 20, results))
        for prefix in ("a", "b", "c", "d")
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=60) for _ in range(80)]
    for worker in workers:
        worker.join(timeout=60)
    won = {kid for kid, ok in outcomes if ok}
    stored = {k.kid for k in KeySet.parse(path.read_bytes())}
    assert stored == won | {"k1"}  # every success is there, every loser was told
    assert len(won) >= 20
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
