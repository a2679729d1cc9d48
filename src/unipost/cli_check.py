"""``unipost check``: credentials and reachability, and when credentials lapse.

A credential a person must renew within ``[credentials] warn_days`` is
printed as a warning (and emitted as a ``credential.expiring`` event), so a
60-day token never expires by surprise. Exit 1 when a check failed; a
warning alone does not fail the command (cron can grep for ``warning:``).
"""

from __future__ import annotations

import argparse
from typing import Any

from unipost.cli_output import emit
from unipost.config import Config
from unipost.credentials import CredentialStatus, expiry_warnings
from unipost.dispatcher import Dispatcher
from unipost.errors import DeliveryError, UsageError
from unipost.redact import redact

__all__ = ["cmd_check"]


def _row(channel_id: str, status: CredentialStatus, now: float, warn_days: float) -> dict[str, Any]:
    warnings = expiry_warnings(channel_id, status, now=now, warn_days=warn_days)
    return {
        "ok": True,
        "result": "ok: " + redact(status.describe(now)),
        "summary": redact(status.summary),
        "expiries": [
            {
                "credential": e.credential,
                "expires_at": e.at,
                "days_left": round(e.left(now) / 86400, 2),
                "renewable": e.renewable,
                "source": e.source,
            }
            for e in status.expiries
        ],
        "warnings": [redact(w.message()) for w in warnings],
    }


def cmd_check(args: argparse.Namespace, config: Config, dispatcher: Dispatcher) -> int:
    rows: dict[str, dict[str, Any]] = {}
    failed = False
    for channel_id in args.channel or list(config.channels):
        try:
            status = dispatcher.check_credentials(channel_id)
        except (DeliveryError, UsageError) as exc:
            failed = True
            text = f"failed: {redact(str(exc))}"
            rows[channel_id] = {"ok": False, "result": text, "warnings": []}
            continue
        now = dispatcher.clock.now()
        rows[channel_id] = _row(channel_id, status, now, dispatcher.credential_warn_days)
    if args.json:
        emit(rows)
    else:
        for channel_id, row in rows.items():
            print(f"{channel_id:<16} {row['result']}")
            for warning in row["warnings"]:
                print(f"{'':<16} warning: {warning}")
    return 1 if failed else 0
