"""The walks in README.md and docs/tutorial.md cannot go stale: every `$ command` in a block
marked `<!-- walk -->` runs here, in order, in one folder, and the output printed under it in the
doc must appear in the real output (in order; numbers and times masked, since they move with the
machine, the thread count and the load; `exit=N` lines kept exact). A line `...` in the doc
skips any output. The data is what `clean-labels demo` writes, made once per doc.
`python docs/refresh_walks.py` rewrites the docs' output from a real run."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DOCS = ("README.md", "docs/tutorial.md")
SETUP = "clean-labels demo --out demo-run -q"   # the dataset every walk starts from
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def walks(doc: str) -> list[list[tuple[str, list[str]]]]:
    """The doc's walk blocks: each a list of (command, expected output lines)."""
    text = (ROOT / doc).read_text(encoding="utf-8")
    blocks = re.findall(r"<!-- walk -->\s*```[a-z]*\n(.*?)```", text, re.S)
    out = []
    for block in blocks:
        steps: list[tuple[str, list[str]]] = []
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            elif steps and line.strip():
                steps[-1][1].append(line)
        out.append(steps)
    return out


def normal(line: str) -> str:
    """A line with numbers masked and runs of spaces closed (exit=N kept)."""
    line = re.sub(r"-{3,}", "---", " ".join(line.split()))     # table rules follow column widths
    return line if line.startswith("exit=") else _NUMBER.sub("#", line)


LONG = 120   # a longer line (an explanation whose clauses depend on the data) is held to its start


def same(doc_line: str, line: str) -> bool:
    return doc_line == line or (len(doc_line) > LONG and line.startswith(doc_line[:LONG // 2]))


def shown_in(expected: list[str], actual: str) -> list[str]:
    """The expected lines not found, in order, among the actual output's lines."""
    lines = [normal(x) for x in actual.splitlines() if x.strip()]
    i, missing = 0, []
    for want in expected:
        if want.strip() == "...":
            continue
        w = normal(want)
        j = next((j for j in range(i, len(lines)) if same(w, lines[j])), None)
        if j is None:
            missing.append(want)
        else:
            i = j + 1
    return missing


def run(command: str, cwd: Path) -> str:
    """What `command` prints in `cwd`, with `cwd/` itself left out of paths."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "COLUMNS": "200", "PYTHONPATH": str(ROOT)}
    env.pop("GITHUB_STEP_SUMMARY", None)
    r = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=600)
    return (r.stdout + r.stderr).replace(f"{cwd}/", "")


def test_walk_parser_reads_commands_and_their_output():
    assert normal("Flagged 194 of 1,797 rows (10.8%)") == "Flagged # of # rows (#%)"
    assert shown_in(["a 1", "...", "c 3"], "a 9\nb\nc 7\n") == []
    assert shown_in(["c 3", "a 1"], "a 9\nb\nc 7\n") == ["a 1"]


@pytest.mark.slow
@pytest.mark.parametrize("doc", DOCS)
def test_doc_walk_runs_as_written(doc, tmp_path):
    blocks = walks(doc)
    assert blocks, f"{doc} has no <!-- walk --> block"
    run(SETUP, tmp_path)
    for steps in blocks:
        for command, expected in steps:
            out = run(command, tmp_path)
            missing = shown_in(expected, out)
            assert not missing, f"{doc}: `{command}` printed\n{out}\nwithout {missing}"
