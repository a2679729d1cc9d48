"""Recipient lists from settings and CSV: validated, normalised, deduplicated, masked in errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from unipost.recipients import is_email, load_recipients, normalize_phone


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("+49 151 1234-5678", "+4915112345678"),
        ("0049 (151) 12345678", "+4915112345678"),
        ("+1 555 867 5310", "+15558675310"),
        ("0151 12345678", None),  # national format: the country is unknown
        ("+0123456789", None),
        ("+1234", None),
    ],
)
def test_normalize_phone(value: str, expected: str | None) -> None:
    assert normalize_phone(value) == expected


def test_is_email() -> None:
    assert is_email("ana@example.com")
    assert not is_email("ana@example")
    assert not is_email("Ana <ana@example.com>")
    assert not is_email("ånä@example.com")


def test_csv_rows_are_read_validated_and_deduplicated(tmp_path: Path) -> None:
    csv = tmp_path / "list.csv"
    csv.write_text(
        "Name,Phone,Timezone\nAna,+49 151 12345678,Europe/Berlin\nBo,,\nCy,+4915112345678,\n"
    )
    found = load_recipients(["+15558675310"], str(csv), kind="phone")
    assert [r.address for r in found] == ["+15558675310", "+4915112345678"]
    assert found[1].timezone == "Europe/Berlin"
    assert found[1].name == "Ana"
    assert found[1].masked == "+49*******5678"


def test_a_bad_row_names_file_row_and_fix_without_the_value(tmp_path: Path) -> None:
    csv = tmp_path / "list.csv"
    csv.write_text("email\nana@example.com\nbo at example.com\n")
    with pytest.raises(
        ValueError, match=r"list.csv row 3: \*\*\* is not an e-mail address"
    ) as caught:
        load_recipients([], str(csv), kind="email")
    assert "bo at" not in str(caught.value)
    with pytest.raises(ValueError, match="has no phone / number / mobile column"):
        load_recipients([], str(csv), kind="phone")
    with pytest.raises(ValueError, match="cannot read"):
        load_recipients([], str(tmp_path / "missing.csv"), kind="email")
