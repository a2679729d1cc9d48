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

    def check(self) -> list[str]:
        """Compile every template (syntax errors raise); name override files nothing uses."""
        for name in TEMPLATES:
            self._compile(name)
        if self.templates is None:
            return []
        return sorted(
            path.name
            for path in self.templates.iterdir()
            if path.is_file() and not path.name.startswith(".") and path.name not in TEMPLATES
        )

    def _compile(self, name: str) -> jinja2.Template:
        try:
            return self._env.get_template(name)
        except jinja2.TemplateSyntaxError as exc:
            where = f"{exc.filename or exc.name}, line {exc.lineno}"
            raise Permanent(f"site template {where}: {exc.message}; fix the template") from exc

    def render(self, name: str, **context: Any) -> str:
        """Render ``name``; template mistakes name the file and line to fix."""
        template = self._compile(name)
        try:
            return template.render(**context)
        except jinja2.TemplateError as exc:
            origin = self.templates or DEFAULT_THEME
            raise Permanent(f"site template {name} (in {origin}): {exc}; fix the template") from exc
