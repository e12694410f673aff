"""How users write amounts on the command line and in configs: rates ('2%' or 0.02), counts
(250), and a count-or-share of N rows ('10%' or 250). One parser each, used by every command;
each error names the option, the value received and a valid example."""
from __future__ import annotations

import math
import re
from typing import Any

from cleanlab_lite.errors import ConfigError


def parse_rate(value: Any, name: str) -> float | None:
    """'2%' -> 0.02, '0.02' -> 0.02, None -> None; a rate must lie in [0, 1] (or 0%..100%). A
    bare 1 is refused as ambiguous (1% or 100%?)."""
    if value is None:
        return None
    text = str(value).strip()
    pct = text.endswith("%")
    try:
        num = float(text[:-1] if pct else text)
    except ValueError:
        raise ConfigError(f"{name} must be a fraction like 0.02 or a percentage like 2%, "
                          f"got {text!r}") from None
    if pct:
        num /= 100.0
    elif num == 1:
        raise ConfigError(f"{name} {text} is ambiguous; write 100%, 1% or a fraction like 0.01")
    elif num > 1:
        raise ConfigError(f"{name} must be a fraction in [0, 1] or a percentage, got {text!r}; "
                          f"write {text}% if you meant percent")
    if not (0.0 <= num <= 1.0) or math.isnan(num):
        raise ConfigError(f"{name} must lie between 0 and 1 (0% and 100%), got {text!r}")
    return num


def parse_count(value: Any, name: str) -> int | None:
    """'250' -> 250, None -> None; a whole number >= 0."""
    if value is None:
        return None
    try:
        num = float(value)
    except (TypeError, ValueError):
        num = float("nan")
    if not math.isfinite(num) or num < 0 or num != int(num):
        raise ConfigError(f"{name} must be a whole number >= 0, got {value!r}")
    return int(num)


def parse_share(spec: Any, n: int, name: str) -> int:
    """A count or a share of `n` rows: '10%' -> round(0.10 * n), '250' -> 250 (at most n)."""
    s = str(spec).strip()
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*%", s)
    if m:
        pct = float(m.group(1))
        if pct > 100:
            raise ConfigError(f"{name} {spec}: a percentage must be between 0% and 100%")
        return int(math.floor(n * pct / 100 + 0.5))
    if re.fullmatch(r"\d+", s):
        k = int(s)
        if k > n:
            raise ConfigError(f"{name} {spec} is more than the {n} ranked rows; "
                              f"use at most {n} or a percentage like 10%")
        return k
    raise ConfigError(f"{name} {spec!r} is not a count or a percentage; use e.g. 250 or 10%")
