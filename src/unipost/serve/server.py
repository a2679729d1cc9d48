"""Run the app under uvicorn, with the bind and TLS policy of :class:`ServeSettings`."""

from __future__ import annotations

import logging

from unipost.api import build_dispatcher
from unipost.config import Config
from unipost.serve.settings import ServeSettings

__all__ = ["run"]


def run(config: Config, settings: ServeSettings) -> None:
    """Serve until SIGINT/SIGTERM; the dispatcher is built here and closed on the way out."""
    import uvicorn

    from unipost.serve.app import create_app

    dispatcher = build_dispatcher(config)
    try:
        app = create_app(dispatcher, config, settings)
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=settings.host,
                port=settings.port,
                ssl_certfile=settings.tls_cert,
                ssl_keyfile=settings.tls_key,
                proxy_headers=settings.behind_tls_proxy,
                forwarded_allow_ips="127.0.0.1" if settings.behind_tls_proxy else None,
                server_header=False,
                log_level="info",
                lifespan="on",
                timeout_graceful_shutdown=10,
            )
        )
        logging.getLogger("unipost.serve").info(
            "unipost serve: %s://%s:%d/",
            "https" if settings.tls else "http",
            settings.host,
            settings.port,
        )
        server.run()
    finally:
        dispatcher.close()
