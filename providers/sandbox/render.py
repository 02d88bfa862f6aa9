"""Records as each platform writes them: field names, CSV/JSON layout, broken rows.

Rendering reads the adapters' own `PlatformSpec`s (field maps, `Wire`), so
the sandbox speaks exactly the format the adapters document.
"""

from __future__ import annotations

import json
import threading
import zlib
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Iterator, Mapping
from typing import Any

from providers.records import Wire

DROP = b""  # the only empty chunk a body stream yields: break the connection off here

# how the `malformed_rows` fault breaks a row, in turn
JSON_DEFECTS = (
    "unknown call type",
    "bad date",
    "negative duration",
    "bad amount",
    "bad number",
    "missing field",
)
CSV_DEFECTS = (
    "unknown call type",
    "bad date",
    "negative duration",
    "bad amount",
    "wrong column count",
    "bad encoding",
)


def defect(ordinal: int, every: int | None, defects: tuple[str, ...]) -> str | None:
    """The defect row `ordinal` gets under `malformed_rows=every`, if any."""
    if not every or ordinal % every != every // 2:
        return None
    return defects[(ordinal // every) % len(defects)]


def break_values(encoded: dict[str, object], kind: str) -> dict[str, object]:
    """A copy of an encoded CDR with one value broken the way `kind` says."""
    broken = dict(encoded)
    if kind == "unknown call type":
        broken["call_type"] = "fax"
    elif kind == "bad date":
        broken["call_date"] = "2025-02-30T25:61:00+01:00"
    elif kind == "negative duration":
        broken["duration_s"] = -5
    elif kind == "bad amount":
        broken["provider_cost"] = "1,2.3x"
    elif kind == "bad number":
        broken["number"] = "not-a-number"
    elif kind == "missing field":
        del broken["provider_cost"]
    return broken


def nest(fields: Mapping[str, str], encoded: Mapping[str, object]) -> dict[str, Any]:
    """Our field names to the provider's (dotted paths become nested objects)."""
    if not any("." in theirs for theirs in fields.values()):
        return {theirs: encoded[ours] for ours, theirs in fields.items() if ours in encoded}
    record: dict[str, Any] = {}
    for ours, theirs in fields.items():
        if ours not in encoded:
            continue
        target = record
        *parents, leaf = theirs.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = encoded[ours]
    return record


def place(document: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for parent in parents:
        document = document.setdefault(parent, {})
    document[leaf] = value


def to_json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _csv_value(value: object, wire: Wire, delimiter: str) -> str:
    if type(value) is str and delimiter not in value and '"' not in value:
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return wire.true_false[0] if value else wire.true_false[1]
    text = str(value)
    if delimiter in text or '"' in text or "\n" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def csv_header(fields: Mapping[str, str], delimiter: str) -> bytes:
    return (delimiter.join(fields.values()) + "\r\n").encode()


def csv_line(
    fields: Mapping[str, str],
    encoded: Mapping[str, object],
    wire: Wire,
    delimiter: str,
    kind: str | None = None,
) -> bytes:
    values = [_csv_value(encoded.get(ours), wire, delimiter) for ours in fields]
    if kind == "wrong column count":
        values.pop()
    line = (delimiter.join(values) + "\r\n").encode()
    if kind == "bad encoding":
        return b"\xff\xfe" + line
    return line


def csv_stream(
    fields: Mapping[str, str],
    wire: Wire,
    delimiter: str,
    rows: Iterable[tuple[int, dict[str, object]]],
    every: int | None,
    drop_at: int | None,
) -> Iterator[bytes]:
    yield csv_header(fields, delimiter)
    for ordinal, encoded in rows:
        if ordinal == drop_at:
            yield DROP
            return
        kind = defect(ordinal, every, CSV_DEFECTS)
        if kind in (None, "wrong column count", "bad encoding"):
            yield csv_line(fields, encoded, wire, delimiter, kind)
        else:
            yield csv_line(fields, break_values(encoded, kind), wire, delimiter)


def ndjson_stream(
    fields: Mapping[str, str],
    rows: Iterable[tuple[int, dict[str, object]]],
    every: int | None,
    drop_at: int | None,
) -> Iterator[bytes]:
    for ordinal, encoded in rows:
        if ordinal == drop_at:
            yield DROP
            return
        kind = defect(ordinal, every, JSON_DEFECTS)
        record = nest(fields, break_values(encoded, kind) if kind else encoded)
        yield to_json(record) + b"\n"


def json_records(
    fields: Mapping[str, str],
    rows: Iterable[tuple[int, dict[str, object]]],
    every: int | None,
) -> list[dict[str, Any]]:
    """One page's records (a page is small enough to hold)."""
    records = []
    for ordinal, encoded in rows:
        kind = defect(ordinal, every, JSON_DEFECTS)
        records.append(nest(fields, break_values(encoded, kind) if kind else encoded))
    return records


def gzip_stream(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Compress a body stream; a DROP passes through after what came before it."""
    deflater = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    for chunk in chunks:
        if not chunk:
            yield deflater.flush(zlib.Z_SYNC_FLUSH)
            yield DROP
            return
        compressed = deflater.compress(chunk)
        if compressed:
            yield compressed
    yield deflater.flush()


class BodyStore:
    """Response bodies already rendered, so the next request for them only serves bytes.

    A provider serves a closed month from storage; the sandbox generates it, which
    costs far more than sending it (about as much as the adapter's whole import), so a
    body is kept once it has been sent in full, keyed by everything it depends on.
    Only fault-free bodies are kept (faults are switched at any time), and the store
    holds at most `max_bytes`, least recently used first out: a 200,000-CDR month is
    about 20 MB of CSV.
    """

    def __init__(self, max_bytes: int = 128 * 1024 * 1024, block: int = 64 * 1024) -> None:
        self.max_bytes = max_bytes
        self.block = block
        self._bodies: OrderedDict[Hashable, tuple[bytes, ...]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> tuple[bytes, ...] | None:
        """The stored body as blocks of about `block` bytes, or None."""
        with self._lock:
            blocks = self._bodies.get(key)
            if blocks is not None:
                self._bodies.move_to_end(key)
            return blocks

    def recording(self, key: Hashable, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """Pass `chunks` through as they come; once all have gone out, keep them under `key`.

        A body abandoned halfway (the client went away), broken off (a DROP) or larger
        than the whole store is not kept.
        """
        blocks: list[bytes] = []
        pending: list[bytes] = []
        size = total = 0
        keep = True
        for chunk in chunks:
            yield chunk
            if not chunk:  # a DROP: a fault, never a stored month
                return
            if not keep:
                continue
            pending.append(chunk)
            size += len(chunk)
            if size >= self.block:
                blocks.append(b"".join(pending))
                total += size
                pending, size = [], 0
                if total > self.max_bytes:
                    keep = False
                    blocks.clear()
        if keep:
            if pending:
                blocks.append(b"".join(pending))
                total += size
            self._put(key, tuple(blocks), total)

    def _put(self, key: Hashable, blocks: tuple[bytes, ...], size: int) -> None:
        with self._lock:
            old = self._bodies.pop(key, None)
            if old is not None:
                self._size -= sum(map(len, old))
            self._bodies[key] = blocks
            self._size += size
            while self._size > self.max_bytes and self._bodies:
                _, dropped = self._bodies.popitem(last=False)
                self._size -= sum(map(len, dropped))

    def clear(self) -> None:
        with self._lock:
            self._bodies.clear()
            self._size = 0
