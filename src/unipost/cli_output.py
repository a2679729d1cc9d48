"""How the CLI prints: JSON for scripts, a report's lines for people."""

from __future__ import annotations

import json
from typing import Any

from unipost.report import Report


def emit(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def print_report(report: Report, as_json: bool) -> None:
    if as_json:
        print(report.to_json(indent=2))
        return
    print(report.head())
    for outcome in report.outcomes:
        print("  " + outcome.line())
        for key, value in outcome.extra.items():
            if key == "advisory":
                continue  # already in the line's reason
            shown = ", ".join(map(str, value)) if isinstance(value, list) else value
            print(f"      {key}: {shown}")
        for index, recipient in enumerate(outcome.recipients, 1):
            mark = "✓" if recipient.ok else "✗"
            print(f"      {mark} #{index} {recipient.recipient} {recipient.reason or ''}".rstrip())
    for warning in report.warnings:
        print(f"  warning: {warning}")
