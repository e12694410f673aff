"""How text from the user's data (labels, ids, paths) is shown, so that it can neither forge
output nor hide: one line per value, invisible characters visible, Markdown inert."""
from __future__ import annotations

import re

# the characters that start Markdown syntax: links and images ([ ]), HTML and autolinks (< > & :
# @), emphasis and code (* _ ~ `), table cells (|) and escapes (\\)
_MARKDOWN = {ord(c): "\\" + c for c in "\\`*_~[]<>|&:@"}
_WWW = re.compile(r"(?i)\bwww\.")           # a bare www. autolink


def shown(value) -> str:
    """`value` as text for a table or a log line: as it is when every character is printable and
    it has no surrounding spaces, else its Python repr, in which newlines, terminal controls,
    zero-width and bidi characters appear as escapes ('x\\n', 'a\\u200bb')."""
    s = str(value)
    return s if s and s.isprintable() and s == s.strip() else repr(s)


def markdown_text(value) -> str:
    """`value` on one line as inert GitHub Markdown: the characters that start Markdown syntax
    are backslash-escaped (and `www.` becomes `www\\.`), so no link, image, autolink, emphasis,
    HTML tag or table cell boundary can come from the data; it renders as the plain text."""
    text = " ".join(str(value).splitlines()).translate(_MARKDOWN)
    return _WWW.sub(lambda m: m.group()[:-1] + "\\.", text)
