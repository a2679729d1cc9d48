"""The site channel's settings, checked when ``unipost.toml`` is loaded (the message names the fix)."""

from __future__ import annotations

import mimetypes
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from unipost.channel import WEB_MEDIA_TYPES

__all__ = ["check_base_url", "check_logo", "check_templates", "links", "positive", "with_slash"]

_LOGO_TYPES = WEB_MEDIA_TYPES | {"image/svg+xml"}
_LINK_SCHEMES = ("http", "https", "mailto", "tel")


def check_base_url(_instance: Any, _attribute: Any, value: str | None) -> None:
    if value is None:
        return
    parsed = urllib.parse.urlsplit(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(
            f"base_url must be the site's absolute http(s) address, such as "
            f"'https://bakery.example/news/', got {value!r}"
        )


def with_slash(value: str | None) -> str | None:
    if value is None or value.endswith("/"):
        return value
    return value + "/"


def positive(_instance: Any, attribute: Any, value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be at least 1, got {value}")


def check_logo(_instance: Any, _attribute: Any, value: str | None) -> None:
    if value is None or urllib.parse.urlsplit(value).scheme in ("http", "https"):
        return
    path = Path(value).expanduser()
    if not path.is_file():
        raise ValueError(f"logo {value!r} is not a file; give an image path or an https URL")
    if mimetypes.guess_type(path.name)[0] not in _LOGO_TYPES:
        raise ValueError(f"logo {value!r} is not a web image (PNG, JPEG, GIF, WebP, AVIF, SVG)")


def links(value: Mapping[str, str] | tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, Mapping | tuple):
        raise ValueError('links must be a table of label = "URL", such as { Menu = "https://…" }')
    pairs = tuple(value.items()) if isinstance(value, Mapping) else value
    for label, url in pairs:
        if not isinstance(label, str) or not isinstance(url, str) or not label.strip():
            raise ValueError(f"links: {label!r} = {url!r} must be a label and a URL, both text")
        scheme = urllib.parse.urlsplit(url).scheme
        if scheme and scheme not in _LINK_SCHEMES:
            raise ValueError(
                f"links: {label!r} = {url!r}: use an http(s), mailto: or tel: URL, or a path"
            )
    return pairs


def check_templates(_instance: Any, _attribute: Any, value: str | None) -> None:
    if value is not None and not Path(value).expanduser().is_dir():
        raise ValueError(
            f"templates {value!r} is not a directory; create it and put base.html, "
            "index.html, post.html or style.css overrides in it"
        )
