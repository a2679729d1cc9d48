"""``unipost serve``: its arguments and what it does (kept out of ``unipost.cli`` proper)."""

from __future__ import annotations

import argparse
import os
import sys

from unipost.config import load_config
from unipost.errors import ConfigurationError
from unipost.serve.settings import Scope, ServeSettings, load_tokens, new_token, token_entry

__all__ = ["add_arguments", "run_command"]

TOKENS_ENV = "UNIPOST_SERVE_TOKENS"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8750, help="TCP port (default 8750)")
    parser.add_argument(
        "--tokens", help=f"TOML file of token hashes and scopes (default ${TOKENS_ENV})"
    )
    parser.add_argument("--tls-cert", help="certificate chain (PEM) to serve HTTPS")
    parser.add_argument("--tls-key", help="private key (PEM) of --tls-cert")
    parser.add_argument(
        "--behind-tls-proxy",
        action="store_true",
        help="allow a non-loopback bind without TLS: a proxy in front terminates it",
    )
    parser.add_argument("--max-body", type=int, default=8 * 1024 * 1024, help="bytes per request")
    parser.add_argument(
        "--deadline", type=float, default=10.0, help="seconds POST /v1/posts waits before 202"
    )
    parser.add_argument(
        "--no-worker", action="store_true", help="do not deliver in this process (a worker runs)"
    )
    parser.add_argument(
        "--cors-origin", action="append", default=[], help="allow this browser origin (repeatable)"
    )
    parser.add_argument(
        "--new-token",
        metavar="SCOPES",
        help="print a new token and its [[tokens]] entry (e.g. publish,read), then exit",
    )
    parser.add_argument("--name", default="client", help="the name for --new-token's entry")


def _scopes(text: str) -> list[Scope]:
    try:
        return [Scope(part.strip()) for part in text.split(",") if part.strip()]
    except ValueError:
        known = ", ".join(s.value for s in Scope)
        raise ConfigurationError(
            "--new-token", f"{text!r} has an unknown scope", f"use {known}"
        ) from None


def run_command(args: argparse.Namespace) -> int:
    """Print a new token, or serve until stopped."""
    if args.new_token is not None:
        scopes = _scopes(args.new_token)
        if not scopes:
            raise ConfigurationError(
                "--new-token", "no scope given", "e.g. --new-token publish,read"
            )
        token = new_token()
        print(f"token (shown once, give it to the client): {token}", file=sys.stderr)
        print(token_entry(args.name, token, scopes), end="")
        return 0
    tokens_file = args.tokens or os.environ.get(TOKENS_ENV)
    if not tokens_file:
        raise ConfigurationError(
            "--tokens", "no tokens file", f"pass --tokens FILE or set {TOKENS_ENV}"
        )
    settings = ServeSettings(
        tokens=load_tokens(tokens_file),
        host=args.host,
        port=args.port,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        behind_tls_proxy=args.behind_tls_proxy,
        max_body=args.max_body,
        deadline=args.deadline,
        worker=not args.no_worker,
        cors_origins=tuple(args.cors_origin),
    )
    config = load_config(args.config)
    try:
        from unipost.serve.server import run
    except ImportError as exc:  # starlette, uvicorn or jinja2 missing
        raise ConfigurationError(
            "serve",
            f"the server libraries are not installed ({exc.name})",
            "pip install 'unipost-sdk[serve]'",
        ) from None
    run(config, settings)
    return 0
