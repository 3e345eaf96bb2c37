"""Reading everything a Redis server holds, to prove no personal data reached it."""

from __future__ import annotations

import contextlib
import zlib

from redis import Redis


def everything_in(redis: Redis) -> str:
    """Every key and value in Redis as text, compressed job fields unpacked."""
    chunks: list[bytes] = []
    for key in redis.scan_iter():
        chunks.append(key)
        kind = redis.type(key)
        values: list[bytes] = []
        if kind == b"string":
            values = [redis.get(key) or b""]
        elif kind == b"hash":
            values = [item for pair in redis.hgetall(key).items() for item in pair]
        elif kind == b"list":
            values = redis.lrange(key, 0, -1)
        elif kind == b"set":
            values = list(redis.smembers(key))
        elif kind == b"zset":
            values = redis.zrange(key, 0, -1)
        elif kind == b"stream":
            values = [
                item
                for _id, fields in redis.xrange(key)
                for pair in fields.items()
                for item in pair
            ]
        for value in values:
            chunks.append(value)
            with contextlib.suppress(zlib.error):
                chunks.append(zlib.decompress(value))
    return b"\n".join(chunks).decode("utf-8", errors="replace")
