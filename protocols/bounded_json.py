"""JSON from the network, bounded: nesting depth, integer size, and text that UTF-8 can carry.

Every front end that reads JSON (the API bodies, ACME's JWS, its protected headers and payloads) goes through
`loads`, so a hostile body fails as one `ValueError` the caller maps to its own "malformed" answer, and never as a
RecursionError (2,000 nested arrays), an OverflowError later on (a 10^12-digit integer) or a UnicodeEncodeError
when a lone surrogate (`"\\ud800"`) reaches the database.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Callable

MAX_DEPTH = 32  # no message we accept nests deeper than ~6; 32 leaves room and stays far below the C stack
MAX_INT = 2**63 - 1  # JSON numbers beyond int64 are not interoperable (RFC 8259 §6) and nothing we read needs them
_SURROGATE = re.compile("[\ud800-\udfff]")


def loads(
    raw: bytes | str,
    *,
    max_depth: int = MAX_DEPTH,
    object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None,
) -> Any:
    """Parse `raw` (UTF-8 bytes or text) as JSON with every bound applied.

    Raises ValueError (with a message safe to show the client) for invalid UTF-8 or JSON, NaN/Infinity, a number
    outside ±(2^63 − 1) or non-finite, nesting deeper than `max_depth`, or a string or member name holding a lone
    surrogate.
    """
    if isinstance(raw, (bytes, bytearray)):
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("not valid UTF-8") from None
    else:
        text = raw
    try:
        value = json.loads(
            text,
            parse_constant=_reject_constant,
            parse_int=_bounded_int,
            parse_float=_finite_float,
            object_pairs_hook=object_pairs_hook,
        )
    except RecursionError:
        # The C scanner's own recursion guard fired before ours could: far deeper than max_depth anyway.
        raise ValueError(f"nested deeper than {max_depth} levels") from None
    _check(value, max_depth)
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _bounded_int(digits: str) -> int:
    # Refuse by length first, so a 10^6-digit literal is never converted at all.
    if len(digits.lstrip("-")) > 19 or abs(int(digits)) > MAX_INT:
        raise ValueError("integer out of range")
    return int(digits)


def _finite_float(digits: str) -> float:
    value = float(digits)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _check(value: Any, max_depth: int) -> None:
    """Iterative walk (no recursion of our own): depth and lone surrogates."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            if _SURROGATE.search(node):
                raise ValueError("string holds a lone UTF-16 surrogate, which is not Unicode text")
            continue
        if isinstance(node, dict):
            children = [*node.keys(), *node.values()]
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > max_depth:
            raise ValueError(f"nested deeper than {max_depth} levels")
        stack.extend((child, depth + 1) for child in children)
