"""Bounds on every DER blob SCEP hands to a parser: size, nesting depth and element count.

asn1crypto and cryptography parse what they are given; a 10,000-level nesting or a megabyte of elements would
cost recursion and memory before any signature is checked. `check` walks the encoding with asn1crypto's own
header parser (nothing is decoded by hand) and refuses what no real SCEP message needs.
"""

from __future__ import annotations

from asn1crypto import parser

MAX_MESSAGE_BYTES = 256 * 1024  # a pkiMessage with a 16k-bit RSA CSR and a chain is far below this
MAX_DEPTH = 40  # a pkiMessage nests SignedData > certificates > TBS > extensions > … about 15 deep
MAX_ELEMENTS = 20_000


class DerError(ValueError):
    """Not DER we are willing to parse."""


def check(data: bytes, *, max_bytes: int = MAX_MESSAGE_BYTES) -> None:
    """Raise DerError unless `data` is one DER element within the size, depth and element-count bounds."""
    if not data:
        raise DerError("empty message")
    if len(data) > max_bytes:
        raise DerError(f"message larger than {max_bytes} bytes")
    budget = [MAX_ELEMENTS]
    try:
        info, end = parser._parse(data, len(data))  # noqa: SLF001 (asn1crypto's header parser, no copy of the tail)
    except (ValueError, TypeError) as exc:
        raise DerError(f"not DER: {exc}") from None
    if end != len(data):
        raise DerError("trailing bytes after the DER element")
    _walk(info, 1, budget)


def _walk(info: tuple, depth: int, budget: list[int]) -> None:
    # Iterative over siblings, recursive over depth (bounded by MAX_DEPTH).
    if depth > MAX_DEPTH:
        raise DerError(f"DER nested deeper than {MAX_DEPTH} levels")
    budget[0] -= 1
    if budget[0] < 0:
        raise DerError(f"more than {MAX_ELEMENTS} DER elements")
    _cls, method, _tag, _header, contents, _trailer = info
    if method != 1:  # primitive
        return
    pointer, size = 0, len(contents)
    while pointer < size:
        try:
            child, pointer = parser._parse(contents, size, pointer)  # noqa: SLF001
        except (ValueError, TypeError) as exc:
            raise DerError(f"not DER: {exc}") from None
        _walk(child, depth + 1, budget)
