"""Rewrite the output printed under each `$ command` of the `<!-- walk -->` blocks in README.md
and docs/tutorial.md with what the command prints now (run in a fresh folder, after
`clean-labels demo`), so the walks show real output. tests/test_docs_walk.py checks them.

    python docs/refresh_walks.py            # both docs
    python docs/refresh_walks.py README.md  # one
"""
from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.test_docs_walk import DOCS, SETUP, run  # noqa: E402


def refresh(doc: str) -> None:
    path = ROOT / doc
    text = path.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        run(SETUP, cwd)

        def block(m: re.Match) -> str:
            out = []
            for line in m.group(2).splitlines():
                if line.startswith("$ "):
                    printed = run(line[2:], cwd).rstrip("\n")
                    out.append(line)
                    out.extend(x for x in printed.splitlines() if x.strip())
            return m.group(1) + "\n".join(out) + "\n```"

        text = re.sub(r"(<!-- walk -->\s*```[a-z]*\n)(.*?)```", block, text, flags=re.S)
    path.write_text(text, encoding="utf-8")
    print(f"refreshed {doc}")


if __name__ == "__main__":
    for d in sys.argv[1:] or DOCS:
        refresh(d)
