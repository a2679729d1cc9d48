"""A small Lexicon validator for the stored atproto schemas: enough to check what we send.

Covers the types and constraints the post record and createRecord use: objects
(required, nullable), strings (maxLength in UTF-8 bytes, maxGraphemes, formats
used here), integers, booleans, arrays, refs, unions (``$type`` must name a
member), blobs (accept, maxSize) and ``unknown``.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import re
from pathlib import Path
from typing import Any

from unipost import text as textmod

LEXICONS = Path(__file__).parent / "data" / "lexicons"

_FORMATS = {
    "did": re.compile(r"^did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]$"),
    "handle": re.compile(
        r"^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$"
    ),
    "nsid": re.compile(r"^[a-zA-Z]([a-zA-Z0-9-]{0,62})?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,62})?)+$"),
    "record-key": re.compile(r"^[a-zA-Z0-9_~.:-]{1,512}$"),
    "tid": re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$"),
    "cid": re.compile(r"^[a-zA-Z0-9+=]{8,256}$"),
    "at-uri": re.compile(r"^at://[^/\s]+(/[a-zA-Z0-9.-]+(/[a-zA-Z0-9_~.:-]+)?)?$"),
    "uri": re.compile(r"^[a-z][a-z0-9+.-]*:\S+$"),
    "language": re.compile(r"^([a-zA-Z]{2,3}|i)(-[a-zA-Z0-9]{1,8})*$"),
}


class LexiconError(ValueError):
    pass


class Lexicons:
    """Loads ``<nsid>.json`` files on demand and validates values against their defs."""

    def __init__(self, root: Path = LEXICONS) -> None:
        self.root = root
        self._docs: dict[str, dict[str, Any]] = {}

    def doc(self, nsid: str) -> dict[str, Any]:
        if nsid not in self._docs:
            path = self.root.joinpath(*nsid.split(".")).with_suffix(".json")
            self._docs[nsid] = json.loads(path.read_text())
        return self._docs[nsid]

    def definition(self, ref: str, context: str) -> tuple[dict[str, Any], str]:
        nsid, _, name = ref.partition("#")
        nsid = nsid or context
        return self.doc(nsid)["defs"][name or "main"], nsid

    def validate_record(self, nsid: str, value: Any) -> None:
        main, _ = self.definition(nsid, nsid)
        if main["type"] != "record":
            raise LexiconError(f"{nsid} is not a record")
        if not isinstance(value, dict) or value.get("$type") != nsid:
            raise LexiconError(f"record $type must be {nsid}")
        self.check(main["record"], value, nsid, "record")

    def validate_input(self, nsid: str, value: Any) -> None:
        main, _ = self.definition(nsid, nsid)
        self.check(main["input"]["schema"], value, nsid, "input")

    def check(self, schema: dict[str, Any], value: Any, context: str, path: str) -> None:
        kind = schema["type"]
        if kind == "ref":
            target, nsid = self.definition(schema["ref"], context)
            self.check(target, value, nsid, path)
        elif kind == "union":
            self._union(schema, value, context, path)
        elif kind == "object":
            self._object(schema, value, context, path)
        elif kind == "array":
            if not isinstance(value, list):
                raise LexiconError(f"{path}: expected an array")
            if "maxLength" in schema and len(value) > schema["maxLength"]:
                raise LexiconError(f"{path}: more than {schema['maxLength']} items")
            for index, item in enumerate(value):
                self.check(schema["items"], item, context, f"{path}[{index}]")
        elif kind == "string":
            self._string(schema, value, path)
        elif kind == "integer":
            if not isinstance(value, int) or isinstance(value, bool):
                raise LexiconError(f"{path}: expected an integer")
            if value < schema.get("minimum", value) or value > schema.get("maximum", value):
                raise LexiconError(f"{path}: {value} out of range")
        elif kind == "boolean":
            if not isinstance(value, bool):
                raise LexiconError(f"{path}: expected a boolean")
        elif kind == "blob":
            self._blob(schema, value, path)
        elif kind == "unknown":
            if not isinstance(value, dict):
                raise LexiconError(f"{path}: expected an object")
        else:
            raise LexiconError(f"{path}: type {kind} is not supported by this validator")

    def _union(self, schema: dict[str, Any], value: Any, context: str, path: str) -> None:
        if not isinstance(value, dict) or "$type" not in value:
            raise LexiconError(f"{path}: a union member needs $type")
        for ref in schema["refs"]:
            nsid, _, name = ref.partition("#")
            full = f"{nsid or context}#{name}" if name and name != "main" else (nsid or context)
            if value["$type"] in (full, f"{full}#main"):
                self.check({"type": "ref", "ref": ref}, value, context, path)
                return
        raise LexiconError(f"{path}: $type {value['$type']} is not one of {schema['refs']}")

    def _object(self, schema: dict[str, Any], value: Any, context: str, path: str) -> None:
        if not isinstance(value, dict):
            raise LexiconError(f"{path}: expected an object")
        for name in schema.get("required", []):
            if name not in value:
                raise LexiconError(f"{path}: {name} is required")
        nullable = set(schema.get("nullable", []))
        for name, item in value.items():
            if name == "$type":
                continue
            if item is None and name in nullable:
                continue
            if name in schema.get("properties", {}):
                self.check(schema["properties"][name], item, context, f"{path}.{name}")

    def _string(self, schema: dict[str, Any], value: Any, path: str) -> None:
        if not isinstance(value, str):
            raise LexiconError(f"{path}: expected a string")
        size = len(value.encode("utf-8"))
        if size > schema.get("maxLength", size) or size < schema.get("minLength", 0):
            raise LexiconError(f"{path}: {size} bytes is outside the length limits")
        graphemes = textmod.count(value, textmod.TextUnit.GRAPHEMES)
        if graphemes > schema.get("maxGraphemes", graphemes):
            raise LexiconError(f"{path}: {graphemes} graphemes, at most {schema['maxGraphemes']}")
        form = schema.get("format")
        if form == "datetime":
            try:
                moment = dt.datetime.fromisoformat(value)
            except ValueError as exc:
                raise LexiconError(f"{path}: not an ISO 8601 datetime") from exc
            if moment.tzinfo is None:
                raise LexiconError(f"{path}: datetime needs a time zone")
        elif form == "at-identifier":
            if not (_FORMATS["did"].match(value) or _FORMATS["handle"].match(value)):
                raise LexiconError(f"{path}: not a DID or handle")
        elif form is not None and not _FORMATS[form].match(value):
            raise LexiconError(f"{path}: {value!r} is not a valid {form}")

    def _blob(self, schema: dict[str, Any], value: Any, path: str) -> None:
        if not isinstance(value, dict) or value.get("$type") != "blob":
            raise LexiconError(f"{path}: expected a blob object")
        link = value.get("ref", {}).get("$link") if isinstance(value.get("ref"), dict) else None
        if not isinstance(link, str) or not _FORMATS["cid"].match(link):
            raise LexiconError(f"{path}: blob ref.$link must be a CID")
        mime, size = value.get("mimeType"), value.get("size")
        if not isinstance(mime, str) or not isinstance(size, int):
            raise LexiconError(f"{path}: blob needs mimeType and size")
        accept = schema.get("accept")
        if accept and not any(fnmatch.fnmatch(mime, pattern) for pattern in accept):
            raise LexiconError(f"{path}: {mime} is not accepted ({accept})")
        if size > schema.get("maxSize", size):
            raise LexiconError(f"{path}: {size} bytes, at most {schema['maxSize']}")
