"""``file:///abs/path.json``: a keyset document in a file only its owner can read.

Reading is cheap when nothing changed: one ``stat``; the content is read again only when the
file's identity (device, inode, size, mtime) differs, which also catches the atomic ``..data``
symlink swap Kubernetes Secret volumes, the Vault Agent injector and the Secrets Store CSI driver
use. Writing replaces the file atomically (temp file in the same folder, fsync, ``os.replace``)
under an exclusive lock, after checking that it still holds what was read.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Self
from urllib.parse import unquote

from r2jwt.errors import SourceError, SourceNotFoundError, SourceURLError, WriteConflictError
from r2jwt.sources.base import Document, Source, SourceURL

__all__ = ["FileSource"]

_MODE = 0o600


def _content_version(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FileSource(Source):
    """Read and write a keyset document in a local file."""

    scheme = "file"

    def __init__(self, path: str | os.PathLike[str], *, allow_shared: bool = False) -> None:
        self.path = Path(path)
        if not self.path.is_absolute():
            raise SourceURLError(
                f"file source path {str(path)!r} must be absolute, like file:///etc/r2jwt/keys.json",
                url=f"file://{path}",
            )
        self.allow_shared = allow_shared
        self.name = f"file://{self.path}"
        self._seen: tuple[int, int, int, int] | None = None
        self._document: Document | None = None

    @classmethod
    def from_url(cls, url: SourceURL) -> Self:
        url.options("allow_shared")
        host, slash, path = url.target.partition("/")
        if not slash or host not in ("", "localhost"):
            raise SourceURLError(
                f"source {url.display!r}: use an absolute path with three slashes, "
                f"like file:///etc/r2jwt/keys.json",
                url=url.display,
            )
        return cls("/" + unquote(path), allow_shared=url.flag("allow_shared"))

    # -- reading -------------------------------------------------------------------------------

    def read(self) -> Document:
        try:
            with open(self.path, "rb") as handle:
                info = os.fstat(handle.fileno())
                self._check_mode(info.st_mode)
                seen = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
                if seen == self._seen and self._document is not None:
                    return self._document
                data = handle.read()
        except FileNotFoundError as exc:
            raise SourceNotFoundError(
                f"{self.path} does not exist; create it with 'r2jwt keys add --source {self.name}'",
                source=self.name,
            ) from exc
        except OSError as exc:
            raise SourceError(
                f"cannot read {self.path}: {exc.strerror or type(exc).__name__}", source=self.name
            ) from exc
        self._seen, self._document = seen, Document(data, _content_version(data))
        return self._document

    def _check_mode(self, mode: int) -> None:
        if self.allow_shared or not mode & 0o077:
            return
        raise SourceError(
            f"{self.path} is readable by group or others (mode {stat.S_IMODE(mode):04o}); "
            f"run 'chmod 600 {self.path}', or on Kubernetes set 'defaultMode: 0400' on the "
            f"secret volume, or add ?allow_shared=1 to the source URL to accept the risk",
            source=self.name,
        )

    # -- writing -------------------------------------------------------------------------------

    def write(self, data: bytes, *, expected_version: str | None) -> Document:
        folder = self.path.parent
        with self._locked():
            # Compare contents, not timestamps: a writer in the same mtime tick must still lose.
            try:
                current: str | None = _content_version(self.path.read_bytes())
            except FileNotFoundError:
                current = None
            except OSError as exc:
                raise SourceError(
                    f"cannot read {self.path}: {exc.strerror}", source=self.name
                ) from exc
            if current != expected_version:
                raise WriteConflictError(
                    f"{self.path} changed underneath you since it was read; nothing was written, "
                    f"run the command again",
                    source=self.name,
                )
            try:
                fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{self.path.name}.", suffix=".tmp")
                try:
                    with os.fdopen(fd, "wb") as handle:
                        os.fchmod(handle.fileno(), _MODE)
                        handle.write(data)
                        handle.flush()
                        os.fsync(handle.fileno())
                    os.replace(tmp, self.path)
                except BaseException:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(tmp)
                    raise
                _fsync_dir(folder)
            except OSError as exc:
                raise SourceError(
                    f"cannot write {self.path}: {exc.strerror}", source=self.name
                ) from exc
        return Document(data, _content_version(data))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        import fcntl  # POSIX only, and only needed by writers

        lock_path = self.path.parent / f".{self.path.name}.lock"
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, _MODE)
        except OSError as exc:
            raise SourceError(f"cannot lock {lock_path}: {exc.strerror}", source=self.name) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock


def _fsync_dir(folder: Path) -> None:
    # Make the rename itself durable; not every platform lets a directory be opened.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
