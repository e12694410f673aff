"""How text from the user's data (labels, ids, paths) is shown, so that it can neither forge
output nor hide: one line per value, invisible characters visible, Markdown inert."""
from __future__ import annotations

import string

_MARKDOWN = {ord(c): "\\" + c for c in string.punctuation}   # every ASCII punctuation, escaped


def shown(value) -> str:
    """`value` as text for a table or a log line: as it is when every character is printable and
    it has no surrounding spaces, else its Python repr, in which newlines, terminal controls,
    zero-width and bidi characters appear as escapes ('x\\n', 'a\\u200bb')."""
    s = str(value)
    return s if s and s.isprintable() and s == s.strip() else repr(s)


def markdown_text(value) -> str:
    """`value` (shown as by `shown`, on one line) as inert GitHub Markdown: every ASCII
    punctuation character is backslash-escaped, so no link, image, autolink, emphasis, HTML tag
    or table cell boundary can come from the data; it renders as the plain text."""
    return " ".join(str(value).splitlines()).translate(_MARKDOWN)
