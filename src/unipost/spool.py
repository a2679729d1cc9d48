"""Media given as bytes, kept as files a worker can read when it sends the post later.

The outbox stores a post as JSON, without its bytes: ``publish`` and
``enqueue`` hand the bytes to the store (``Store.spool_media``), which keeps
them where every worker of that outbox reaches them — beside the SQLite file,
or in the PostgreSQL database itself, from which a worker on another machine
restores the file into its own folder (:func:`restore_media`).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["default_folder", "media_name", "restore_media", "write_once"]


def default_folder() -> Path:
    """Where a store without a folder of its own keeps spooled media (the system's temp dir)."""
    return Path(tempfile.gettempdir()) / "unipost-media"


def media_name(data: bytes, filename: str | None) -> str:
    """A name given by the content (the same bytes are kept once) and a safe file name."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", Path(filename or "media").name) or "media"
    return f"{hashlib.sha256(data).hexdigest()[:24]}-{safe[-100:]}"


def write_once(folder: Path, name: str, data: bytes) -> Path:
    """``folder/name`` holding ``data``, written atomically: a reader never sees half a file."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    if not target.exists():
        partial = folder / f".{name}.{uuid.uuid4().hex}.part"
        partial.write_bytes(data)
        os.replace(partial, target)
    return target


def restore_media(
    post: Mapping[str, Any],
    fetch: Callable[[list[str]], Iterable[tuple[str, bytes]]],
    folder: Path,
) -> dict[str, Any] | None:
    """``post`` with its missing spooled files restored into ``folder``, or None if none was.

    ``fetch`` returns ``(name, bytes)`` for the names the store keeps; a path
    it does not know (a file the application named) is left as it is.
    """
    media = post.get("media") or []
    missing = {
        Path(m["path"]).name for m in media if m.get("path") and not Path(m["path"]).exists()
    }
    if not missing:
        return None
    restored = {name: write_once(folder, name, data) for name, data in fetch(sorted(missing))}
    if not restored:
        return None
    items = []
    for item in media:
        name = Path(item["path"]).name if item.get("path") else None
        if name in restored:
            item = {**item, "path": str(restored[name])}
        items.append(item)
    return {**post, "media": items}
