"""The one byte range a player asks for (`Range: bytes=...`), as RFC 9110 defines it.

Hand-written rather than Werkzeug's `parse_range_header`: Werkzeug refuses a suffix longer than
the file (`bytes=-500` of a 50-byte file), which RFC 9110 answers with the whole file as 206,
and treats `bytes=-0` as malformed (200) where it is unsatisfiable (416); the playback tests
pin both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_RANGE = re.compile(r"bytes=(.*)", re.IGNORECASE)


_RANGE_SPEC = re.compile(r"(\d*)-(\d*)")


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive, as in HTTP

    @property
    def length(self) -> int:
        return self.end - self.start + 1


class RangeNotSatisfiable(Exception):
    """A syntactically valid range that lies wholly outside the file (answered with 416)."""


def requested_range(header: str | None, size: int) -> ByteRange | None:
    """The single byte range a `Range` header asks for, or None to send the whole file.

    RFC 9110 lets a server ignore a Range header it does not want to honour, so headers in
    another unit, malformed ones and requests for several ranges (`bytes=0-1,5-6`) get the
    whole file with 200: media players never ask for several ranges, and answering them with
    multipart/byteranges would only add code nobody uses.
    """
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None or "," in match.group(1):
        return None
    spec = _RANGE_SPEC.fullmatch(match.group(1).strip())
    if spec is None or spec.group(1) == spec.group(2) == "":
        return None
    first, last = spec.groups()
    if first == "":
        # A suffix: the last N bytes (all of them if the file is shorter).
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable
        return ByteRange(max(size - suffix, 0), size - 1)
    start = int(first)
    if last != "" and int(last) < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable
    end = size - 1 if last == "" else min(int(last), size - 1)
    return ByteRange(start, end)
