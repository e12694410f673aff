"""HTML shared by `clean-labels report` and `clean-labels review`: Jinja2 templates with
autoescaping (cleanlab_lite/pages/templates), the review script and stylesheet they both embed,
and the rows both show (cleanlab_lite.pages.items).

Neither report nor review imports the other: both import this package.
"""
from __future__ import annotations

import base64
import hashlib
from functools import cache
from pathlib import Path
from typing import Any

TEMPLATES = Path(__file__).parent / "templates"


@cache
def _env():
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                              autoescape=True, trim_blocks=True, lstrip_blocks=True,
                              undefined=jinja2.StrictUndefined)


@cache
def asset(name: str) -> str:
    """A static file of the templates folder (review.js, review.css) as text."""
    return (TEMPLATES / name).read_text(encoding="utf-8")


def render(template: str, **context: Any) -> str:
    """The named template rendered with `context`; every value is HTML-escaped unless a
    template marks it otherwise."""
    return _env().get_template(template).render(**context)


def script_hash(script: str) -> str:
    """The CSP source allowing exactly this inline script: 'sha256-...'."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def review_script() -> str:
    return asset("review.js")


def server_csp() -> str:
    """The Content-Security-Policy of the page `clean-labels review` serves."""
    return ("default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
            f"script-src {script_hash(review_script())}; connect-src 'self'; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'none'")


PAGE_SIZE = 48   # cards per page of the review controls


def server_page(title: str, page_size: int = PAGE_SIZE) -> str:
    """The page `clean-labels review` serves: the review controls, rows fetched from the server."""
    return render("review_page.html", title=title, mode="server", data=None, where=(
        "Every decision is saved to the run's decisions.csv as it is made."),
        css=asset("review.css"), script=review_script(), page_size=page_size)
