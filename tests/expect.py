"""How tests check an error line: its class (exit code, one `Error:` line, no traceback) and its
key fragments (the files, options and columns it names, and the fix after the last `;`), not the
whole sentence, so rewording a message does not break a test while naming the wrong file or
dropping the way out does."""
from __future__ import annotations

import re

_PATH = re.compile(r"(?<![\w.])/[^\s,;:'\"()]+")       # absolute paths
_OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")     # --options
_QUOTED = re.compile(r"'[^']*'")                          # 'column', 'value'


def error_fragments(expected: str) -> list[str]:
    """The parts of an expected error line a test holds it to: the paths, options and quoted
    names it mentions, and the fix (the text after the last '; ', if any)."""
    body = expected.removeprefix("Error: ").strip()
    frags = _PATH.findall(body) + _OPTION.findall(body) + _QUOTED.findall(body)
    if "; " in body:
        frags.append(body.rsplit("; ", 1)[1])
    return [f.rstrip(".") for f in frags] or [body]


def assert_fragments(message: str, expected: str) -> None:
    """`message` (one line) holds every key fragment of `expected`."""
    assert "\n" not in message.strip(), message
    missing = [f for f in error_fragments(expected) if f not in message]
    assert not missing, f"{message!r} lacks {missing}"


def assert_error_line(line: str, expected: str) -> None:
    """`line` is an `Error:` line holding every key fragment of `expected`."""
    assert line.startswith("Error: "), line
    assert_fragments(line, expected)


def assert_refused(result, expected: str, code: int = 2) -> None:
    """A click result that exited `code` with one `Error:` line holding `expected`'s fragments."""
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and len(lines) == 1, result.output
    assert_error_line(lines[0], expected)
