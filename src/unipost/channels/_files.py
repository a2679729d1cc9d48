"""Files written so that a reader (a web server, a feed reader) never sees half of one."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import sys
import tempfile
import threading
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from unipost.errors import Permanent, Transient

__all__ = [
    "atomic",
    "copy_file",
    "directory_lock",
    "guarded",
    "safe_filename",
    "slugify",
    "unique_slug",
    "write_bytes",
    "write_text",
]

_SLUG_LENGTH = 60
_locks_guard = threading.Lock()
_locks: dict[Path, threading.Lock] = {}


@contextlib.contextmanager
def guarded() -> Iterator[None]:
    """File-system failures become delivery errors the dispatcher understands."""
    try:
        yield
    except PermissionError as exc:
        raise Permanent(f"cannot write the site: {exc}; fix the directory's permissions") from exc
    except OSError as exc:
        raise Transient(f"cannot write the site: {exc}") from exc


@contextlib.contextmanager
def directory_lock(root: Path) -> Iterator[None]:
    """One writer per site directory: threads share a lock, processes a lock file."""
    root.mkdir(parents=True, exist_ok=True)
    key = root.resolve()
    with _locks_guard:
        lock = _locks.setdefault(key, threading.Lock())
    with lock, open(key / ".lock", "a+b") as handle:
        if sys.platform != "win32":
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield


def atomic(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temp, 0o644)  # mkstemp makes 0600; a web server must be able to read the site
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def write_bytes(path: Path, data: bytes) -> None:
    atomic(path, lambda file: file.write(data))


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def copy_file(source: Path, dest: Path) -> None:
    def copy(file: IO[bytes]) -> None:
        with source.open("rb") as original:
            shutil.copyfileobj(original, file)

    atomic(dest, copy)


def slugify(value: str) -> str:
    joined = value.replace("'", "").replace("\u2019", "")  # "we're" is one word: "were"
    ascii_text = unicodedata.normalize("NFKD", joined).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())[:8]
    slug = "-".join(words)[:_SLUG_LENGTH].strip("-")
    return slug or "post"


def unique_slug(slug: str, key: str, items: Mapping[str, Mapping[str, Any]]) -> str:
    taken = {item["slug"] for other, item in items.items() if other != key}
    if slug not in taken:
        return slug
    return f"{slug}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def safe_filename(name: str, mime_type: str) -> str:
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, mime_type.rsplit("/", 1)[-1]
    clean = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-")[:40] or "media"
    return f"{clean}.{re.sub(r'[^A-Za-z0-9]', '', ext)[:8] or 'bin'}"
