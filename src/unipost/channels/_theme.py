"""The site channel's page theme: Jinja2 templates a business can override one file at a time.

Templates are looked up in the business's ``templates`` directory first, then in the
default theme beside this module; the default stays reachable as ``default/<name>`` so an
override can extend it (``{% extends "default/base.html" %}``) and change one block.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from unipost.errors import Permanent

__all__ = ["DEFAULT_THEME", "TEMPLATES", "Theme"]

DEFAULT_THEME = Path(__file__).with_name("site_theme")
TEMPLATES = ("base.html", "index.html", "post.html", "style.css")


class Theme:
    """Renders the site's pages; a broken override is a clear, permanent error."""

    def __init__(self, templates: Path | None) -> None:
        default = jinja2.FileSystemLoader(DEFAULT_THEME)
        loaders: list[jinja2.BaseLoader] = [default]
        if templates is not None:
            loaders.insert(0, jinja2.FileSystemLoader(templates))
        loaders.append(jinja2.PrefixLoader({"default": default}))
        self.templates = templates
        self._env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=jinja2.select_autoescape(["html"]),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=False,
        )

    def render(self, name: str, **context: Any) -> str:
        """Render ``name``; template mistakes name the file and line to fix."""
        try:
            return self._env.get_template(name).render(**context)
        except jinja2.TemplateSyntaxError as exc:
            where = f"{exc.filename or exc.name}, line {exc.lineno}"
            raise Permanent(f"site template {where}: {exc.message}; fix the template") from exc
        except jinja2.TemplateError as exc:
            origin = self.templates or DEFAULT_THEME
            raise Permanent(f"site template {name} (in {origin}): {exc}; fix the template") from exc
