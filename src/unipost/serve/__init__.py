"""``unipost serve``: an HTTP API and a dashboard over the same dispatcher and outbox.

For business tools that are not written in Python (a PHP shop, a Node CRM) and for
the people who run them. Optional: ``pip install 'unipost-sdk[serve]'``. Nothing
here is imported by ``import unipost``, and the web libraries (Starlette, uvicorn,
Jinja2) are imported only when an app is built or a server started.

- :mod:`unipost.serve.settings`: bind address, TLS, tokens (stored as hashes), limits.
- :mod:`unipost.serve.auth`: bearer tokens with scopes (publish, read, operate).
- :mod:`unipost.serve.api`: the JSON API; :mod:`unipost.serve.openapi` its document.
- :mod:`unipost.serve.dashboard`: server-rendered pages, usable without JavaScript.
- :mod:`unipost.serve.app` builds the ASGI app; :mod:`unipost.serve.server` runs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from unipost.serve.settings import Scope, ServeSettings, Token, load_tokens, new_token

if TYPE_CHECKING:
    from unipost.serve.app import create_app
    from unipost.serve.server import run

__all__ = ["Scope", "ServeSettings", "Token", "create_app", "load_tokens", "new_token", "run"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from unipost.serve.app import create_app

        return create_app
    if name == "run":
        from unipost.serve.server import run

        return run
    raise AttributeError(name)
