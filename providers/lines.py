"""Byte streams into lines, in bounded memory: a 100 MB line is never held whole.

A line longer than the cap comes out as `Overlong` (its first bytes and its length)
and is skipped to its end; the reader quarantines it. Gzip is inflated in bounded
steps too, so a small compressed chunk cannot expand into one huge block.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import IO

LINE_CAP = 64 * 1024  # bytes per line; a CDR line is a few hundred
CHUNK = 64 * 1024
GZIP_MAGIC = b"\x1f\x8b"


class Overlong(bytes):
    """A line over the cap: the bytes are its start, `length` its full length."""

    length: int

    def __new__(cls, head: bytes, length: int) -> Overlong:
        line = super().__new__(cls, head[:200])
        line.length = length
        return line


def iter_lines(chunks: Iterable[bytes], max_line: int = LINE_CAP) -> Iterator[bytes]:
    """Split a byte stream into lines without decoding (CR LF or LF)."""
    pending = b""
    skipped = -1  # >= 0: inside an over-long line, this many bytes dropped so far
    head = b""
    for chunk in chunks:
        lines = chunk.split(b"\n")
        last = lines.pop()
        for line in lines:
            if skipped >= 0:
                yield Overlong(head, skipped + len(line))
                skipped = -1
                continue
            if pending:
                line = pending + line
                pending = b""
            if len(line) > max_line:
                yield Overlong(line, len(line))
            else:
                yield line[:-1] if line.endswith(b"\r") else line
        if skipped >= 0:
            skipped += len(last)
        elif len(pending) + len(last) > max_line:
            head = (pending + last[:200])[:200]
            skipped = len(pending) + len(last)
            pending = b""
        else:
            pending += last
    if skipped >= 0:
        yield Overlong(head, skipped)
    elif pending:
        yield pending


def gunzip(chunks: Iterable[bytes], step: int = CHUNK) -> Iterator[bytes]:
    """Decompress a gzip stream chunk by chunk, at most `step` bytes at a time; a truncated
    stream is an error."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    fed = False
    for chunk in chunks:
        pending = chunk
        while pending:
            fed = True
            data = inflater.decompress(pending, step)
            if data:
                yield data
            if inflater.eof:  # another gzip member may follow
                pending = inflater.unused_data
                inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                fed = False
                continue
            pending = inflater.unconsumed_tail
            while not pending and len(data) == step:  # output held back by the cap
                data = inflater.decompress(b"", step)
                if data:
                    yield data
    if fed and not inflater.eof:
        raise zlib.error("gzip stream ended early")


def stream_lines(stream: IO[bytes], max_line: int = LINE_CAP) -> Iterator[bytes]:
    """Lines of a binary file, gzip-compressed or not (told by its first bytes, not its name)."""
    readline = buffered_readline(stream)
    if readline is not None:
        return _read_lines(readline, max_line)
    first = stream.read(CHUNK)
    chunks = _chunks(stream, first)
    return iter_lines(gunzip(chunks) if first.startswith(GZIP_MAGIC) else chunks, max_line)


def buffered_readline(stream: IO[bytes]) -> Callable[[int], bytes] | None:
    """The C-level `readline(limit)` of a buffered binary file (inflating it when it is gzip),
    or None for a stream that cannot peek (read it with `stream_lines`)."""
    peek = getattr(stream, "peek", None)
    if peek is None:
        return None
    if peek(2)[:2] == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=stream, mode="rb").readline
    return stream.readline


def _chunks(stream: IO[bytes], first: bytes) -> Iterator[bytes]:
    chunk = first
    while chunk:
        yield chunk
        chunk = stream.read(CHUNK)


def _read_lines(readline: Callable[[int], bytes], max_line: int) -> Iterator[bytes]:
    while line := readline(max_line + 3):  # the line, CR LF, and one byte to tell it is too long
        yield line if len(line) <= max_line else capped(line, readline, max_line)


def capped(line: bytes, readline: Callable[[int], bytes], max_line: int = LINE_CAP) -> bytes:
    """A line read by `readline(max_line + 3)` as it is (with its line end), or as Overlong when
    its text is longer than `max_line`: then the rest of it is read and counted, never kept."""
    if line.endswith(b"\n"):
        length = len(line) - (2 if line.endswith(b"\r\n") else 1)
        return line if length <= max_line else Overlong(line, length)
    if len(line) <= max_line:  # the last line, without a newline
        return line
    length = len(line)  # too long: count the rest of it, keep none of it
    while rest := readline(CHUNK):
        length += len(rest)
        if rest.endswith(b"\n"):
            length -= 2 if rest.endswith(b"\r\n") else 1
            break
    return Overlong(line, length)
