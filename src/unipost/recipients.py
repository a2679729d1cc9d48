"""Recipient lists (numbers, addresses) from settings and CSV files, checked before sending.

A bad row found half-way through a broadcast means half a broadcast: every
recipient is validated when the channel is built, and an error names the file,
the row and the fix, with the value masked (a phone number is personal data).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import attrs

from unipost.redact import mask_email, mask_phone

__all__ = ["Recipient", "is_email", "load_recipients", "normalize_phone"]

Kind = Literal["phone", "email"]

_E164 = re.compile(r"\+[1-9]\d{6,14}")
_SEPARATORS = re.compile(r"[\s().\-/]")
_ADDRESS = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+")
_COLUMNS: dict[Kind, tuple[str, ...]] = {
    "phone": ("phone", "number", "mobile", "to", "phone_number"),
    "email": ("email", "e-mail", "address", "to"),
}
_FIX: dict[Kind, str] = {
    "phone": "write it in E.164: + country code + number, e.g. +4915112345678",
    "email": "write a plain address such as ana@example.com",
}


@attrs.frozen(kw_only=True)
class Recipient:
    """One validated recipient; ``timezone`` (IANA) and ``name`` come from the CSV."""

    address: str
    timezone: str | None = None
    name: str | None = None

    @property
    def masked(self) -> str:
        return mask_email(self.address) if "@" in self.address else mask_phone(self.address)


def normalize_phone(value: str) -> str | None:
    """``+49 151 1234-5678`` → ``+4915112345678``; None unless it is E.164."""
    compact = _SEPARATORS.sub("", value)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    return compact if _E164.fullmatch(compact) else None


def is_email(value: str) -> bool:
    """A plain ASCII address: anything else would break a mailing service's list import."""
    return value.isascii() and _ADDRESS.fullmatch(value) is not None


def _check(value: str, kind: Kind, where: str) -> str:
    value = value.strip()
    if kind == "phone":
        number = normalize_phone(value)
        if number is None:
            raise ValueError(f"{where}: {mask_phone(value)} is not a phone number; {_FIX[kind]}")
        return number
    if not is_email(value):
        shown = mask_email(value) if "@" in value else "***"
        raise ValueError(f"{where}: {shown} is not an e-mail address; {_FIX[kind]}")
    return value


def _read(path: Path, kind: Kind, setting: str) -> list[Recipient]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            fields = {f.strip().lower(): f for f in reader.fieldnames or ()}
            column = next((fields[c] for c in _COLUMNS[kind] if c in fields), None)
            if column is None:
                raise ValueError(
                    f"{setting}: {path} has no {' / '.join(_COLUMNS[kind][:3])} column "
                    "(the first row names the columns)"
                )
            zone, name = fields.get("timezone"), fields.get("name")
            found = []
            for row_number, row in enumerate(reader, start=2):
                value = (row.get(column) or "").strip()
                if not value:
                    continue
                found.append(
                    Recipient(
                        address=_check(value, kind, f"{setting} {path.name} row {row_number}"),
                        timezone=(row.get(zone) or "").strip() or None if zone else None,
                        name=(row.get(name) or "").strip() or None if name else None,
                    )
                )
            return found
    except OSError as exc:
        raise ValueError(f"{setting}: cannot read {path}: {exc.strerror or exc}") from exc


def load_recipients(
    given: Iterable[str], csv_path: str | None, *, kind: Kind, setting: str = "recipients_csv"
) -> tuple[Recipient, ...]:
    """``given`` then the CSV's rows, validated and without duplicates; ValueError names the row."""
    found = [Recipient(address=_check(v, kind, f"to[{i}]")) for i, v in enumerate(given)]
    if csv_path:
        found.extend(_read(Path(csv_path).expanduser(), kind, setting))
    seen: set[str] = set()
    unique = []
    for recipient in found:
        key = recipient.address.lower()
        if key not in seen:
            seen.add(key)
            unique.append(recipient)
    return tuple(unique)
