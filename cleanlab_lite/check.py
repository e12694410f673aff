"""The CI data-quality gate: compare a ranked run folder with limits and say pass or fail.

`run_check(run, limits, baseline=...)` reads RUN/ranking.csv (written by `clean-labels rank`),
removes the rows a person already reviewed and accepted (the baseline), and compares what is
left ("new issues") with the limits:

- overall issue rate  = new issues / N            vs --max-issue-rate (fraction, "2%" = 0.02)
- overall issue count = new issues                vs --max-issues
- per-class rate      = new issues in class / rows with that given label
                                                  vs --max-class-issue-rate

A limit that is not set is not checked. The gate fails when any set limit is exceeded (strictly
greater: a 2% limit allows exactly 2% of rows). The result renders as a short text table, JSON,
JUnit XML (one testcase per class plus one overall) and a Markdown summary for
$GITHUB_STEP_SUMMARY.

A baseline (cleanlab_lite.baseline) names rows a person reviewed: accepted rows do not count,
rows a review confirmed as errors do.
"""
from __future__ import annotations

import dataclasses
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cleanlab_lite.amounts import parse_count, parse_rate
from cleanlab_lite.baseline import baseline_mask, read_baseline, write_baseline
from cleanlab_lite.errors import ConfigError, RunFolderError
from cleanlab_lite.io import write_json, write_text
from cleanlab_lite.run import Run
from cleanlab_lite.text import markdown_text, shown

# GitHub's $GITHUB_STEP_SUMMARY file has no extension; any other Markdown path ends in .md
MARKDOWN_SUFFIXES = (".md", ".markdown", "")


@dataclass(frozen=True)
class CheckConfig:
    max_issue_rate: float | None = None        # fraction of all rows (0.02 = 2%); None: not checked
    max_issues: int | None = None              # count of new issues over all rows; None: not checked
    max_class_issue_rate: float | None = None  # fraction of a class's rows; None: not checked


# ----------------------------------------------------------------------------------------------
# parsing


def make_config(values: dict[str, Any], source: str = "check") -> CheckConfig:
    """Build a CheckConfig from raw values (YAML or flags), converting '2%' style rates."""
    names = {f.name for f in dataclasses.fields(CheckConfig)}
    out: dict[str, Any] = {}
    for key, value in values.items():
        key = key.replace("-", "_")
        if key not in names:
            raise ConfigError(f"{source}: unknown option {key!r} for check; "
                              f"valid: {', '.join(sorted(names))}")
        flag = "--" + key.replace("_", "-")
        out[key] = parse_count(value, flag) if key == "max_issues" else parse_rate(value, flag)
    return CheckConfig(**out)


# ----------------------------------------------------------------------------------------------
# the gate


@dataclass
class ClassResult:
    name: str
    rows: int
    flagged: int
    accepted: int
    new: int              # issues that count: unreviewed flags plus confirmed errors
    rate: float
    limit: float | None
    passed: bool
    confirmed: int = 0    # of `new`: rows a decisions baseline confirms as errors


@dataclass
class CheckResult:
    run: str
    n: int
    flagged: int
    accepted: int
    new: int
    rate: float
    limits: CheckConfig
    classes: list[ClassResult]
    overall_failures: list[str]
    baseline: str | None = None
    matched_by: str = "none"
    baseline_rows: int = 0
    estimated_noise_rate: float | None = None
    method: str | None = None
    confirmed: int = 0             # of `new`: rows decided relabel/drop in a decisions baseline
    reviewed: bool = False         # the baseline is a decisions file
    delta: dict | None = None      # with --manifest: what changed and the flagged changed rows

    @property
    def failures(self) -> list[str]:
        return self.overall_failures + [_class_failure(c) for c in self.classes if not c.passed]

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "run": self.run,
            "limits": dataclasses.asdict(self.limits),
            "overall": {"rows": self.n, "flagged": self.flagged, "accepted": self.accepted,
                        "new_issues": self.new, "issue_rate": self.rate,
                        **({"confirmed_errors": self.confirmed} if self.reviewed else {})},
            "per_class": [{"class": c.name, "rows": c.rows, "flagged": c.flagged,
                           "accepted": c.accepted, "new_issues": c.new, "issue_rate": c.rate,
                           **({"confirmed_errors": c.confirmed} if self.reviewed else {}),
                           "limit": c.limit, "passed": c.passed} for c in self.classes],
            "baseline": {"path": self.baseline, "matched_by": self.matched_by,
                         "rows": self.baseline_rows},
            "estimated_noise_rate": self.estimated_noise_rate,
            "method": self.method,
            "failures": list(self.failures),
            **({"delta": self.delta} if self.delta is not None else {}),
        }


def _class_failure(c: ClassResult) -> str:
    return (f"class {c.name!r} issue rate {c.rate:.2%} ({c.new} of {c.rows} rows) exceeds "
            f"--max-class-issue-rate {c.limit:.2%}")


def _exceeds(value: float, limit: float | None) -> bool:
    return limit is not None and value > limit + 1e-12


def evaluate(ranking: pd.DataFrame, classes: list[str], limits: CheckConfig,
             accepted: np.ndarray, confirmed: np.ndarray | None = None
             ) -> tuple[dict[str, Any], list[ClassResult], list[str]]:
    """Count flagged, accepted and new issues overall and per given class; `confirmed` rows
    (reviewed as errors) count as issues whether flagged or not.

    Returns (overall counts, one ClassResult per class, overall limits that failed)."""
    flagged = ranking["is_label_issue"].to_numpy(bool)
    confirmed = np.zeros(len(flagged), bool) if confirmed is None else confirmed & ~accepted
    accepted = accepted & flagged
    new = (flagged & ~accepted) | confirmed
    n = len(ranking)
    given = ranking["given_label"].astype(str).to_numpy()
    extra = sorted(set(np.unique(given)) - set(classes))
    names = list(classes) + extra
    code = pd.Categorical(given, categories=names).codes
    k = len(names)
    rows_c = np.bincount(code, minlength=k)
    flag_c = np.bincount(code, weights=flagged, minlength=k).astype(np.int64)
    acc_c = np.bincount(code, weights=accepted, minlength=k).astype(np.int64)
    new_c = np.bincount(code, weights=new, minlength=k).astype(np.int64)
    conf_c = np.bincount(code, weights=confirmed, minlength=k).astype(np.int64)
    rate_c = np.divide(new_c, rows_c, out=np.zeros(k), where=rows_c > 0)
    overall = {"n": n, "flagged": int(flagged.sum()), "accepted": int(accepted.sum()),
               "new": int(new.sum()), "confirmed": int(confirmed.sum())}
    overall["rate"] = overall["new"] / n if n else 0.0
    failures = []
    if _exceeds(overall["rate"], limits.max_issue_rate):
        failures.append(f"overall issue rate {overall['rate']:.2%} ({overall['new']} of {n} rows) "
                        f"exceeds --max-issue-rate {limits.max_issue_rate:.2%}")
    if limits.max_issues is not None and overall["new"] > limits.max_issues:
        failures.append(f"{overall['new']} new issues exceed --max-issues {limits.max_issues}")
    results = []
    for i, name in enumerate(names):
        bad = _exceeds(rate_c[i], limits.max_class_issue_rate)
        results.append(ClassResult(name, int(rows_c[i]), int(flag_c[i]), int(acc_c[i]),
                                   int(new_c[i]), float(rate_c[i]), limits.max_class_issue_rate,
                                   not bad, int(conf_c[i])))
    return overall, results, failures


def run_check(run: str | os.PathLike, limits: CheckConfig, *,
              baseline: str | os.PathLike | None = None,
              ranking: pd.DataFrame | None = None, allow_empty: bool = False) -> CheckResult:
    """Read RUN/ranking.csv (unless given, as Run.read_ranking returns it), drop baseline-accepted
    rows and compare the rest with `limits`."""
    folder = Run(run)
    if ranking is None:
        ranking = folder.read_ranking()
    if len(ranking) == 0 and not allow_empty:      # with --manifest: nothing changed, a pass
        raise RunFolderError(f"{folder.ranking_path} has no rows, so there is nothing to gate; rank a "
                             f"run with at least one row (`clean-labels rank {run}`)")
    classes = folder.class_names(ranking)
    base = read_baseline(baseline) if baseline is not None else None
    accepted, matched_by = baseline_mask(ranking, base)
    confirmed = baseline_mask(ranking, base, "confirmed")[0]
    overall, per_class, failures = evaluate(ranking, classes, limits, accepted, confirmed)
    summary = folder.read_summary()
    noise = summary.get("estimated_noise_rate")
    return CheckResult(
        run=str(run), n=overall["n"], flagged=overall["flagged"], accepted=overall["accepted"],
        new=overall["new"], rate=overall["rate"], limits=limits, classes=per_class,
        overall_failures=failures, baseline=None if baseline is None else str(baseline),
        matched_by=matched_by, baseline_rows=0 if base is None else len(base),
        estimated_noise_rate=float(noise) if isinstance(noise, (int, float)) else None,
        method=summary.get("method"), confirmed=overall["confirmed"],
        reviewed=bool(base is not None and base.attrs.get("reviewed")))


# ----------------------------------------------------------------------------------------------
# rendering


def _limit_text(value: float | int | None, pct: bool = True) -> str:
    if value is None:
        return "-"
    return f"{value:.2%}" if pct else str(value)


def _class_rows(result: CheckResult, max_rows: int | None) -> tuple[list[ClassResult], int]:
    """Failing classes first, then highest rate; at most `max_rows` (None: all)."""
    order = sorted(result.classes, key=lambda c: (c.passed, -c.rate, c.name))
    if max_rows is None or len(order) <= max_rows:
        return order, 0
    return order[:max_rows], len(order) - max_rows


def format_table(result: CheckResult, max_classes: int = 10) -> str:
    """The short plain-text table `clean-labels check` prints."""
    head = ("class", "rows", "flagged", "accepted", "new", "rate", "limit", "status")
    body = []
    for c in _class_rows(result, max_classes)[0]:
        body.append((shown(c.name), str(c.rows), str(c.flagged), str(c.accepted), str(c.new),
                     f"{c.rate:.2%}", _limit_text(c.limit), "ok" if c.passed else "FAIL"))
    if result.reviewed:   # new = flagged and not reviewed + confirmed errors; say how many are which
        head = head[:5] + ("confirmed",) + head[5:]
        body = [b[:5] + (str(c.confirmed),) + b[5:]
                for b, c in zip(body, _class_rows(result, max_classes)[0])]
    overall_ok = not result.overall_failures
    limit = ", ".join(x for x in (
        _limit_text(result.limits.max_issue_rate) if result.limits.max_issue_rate is not None
        else "", f"{result.limits.max_issues} rows" if result.limits.max_issues is not None
        else "") if x) or "-"
    total = ("ALL", str(result.n), str(result.flagged), str(result.accepted), str(result.new),
             f"{result.rate:.2%}", limit, "ok" if overall_ok else "FAIL")
    if result.reviewed:
        total = total[:5] + (str(result.confirmed),) + total[5:]
    widths = [max(len(r[i]) for r in [head, total, *body]) for i in range(len(head))]
    widths[0] = min(widths[0], 30)

    def line(r):
        cells = [(r[0] if len(r[0]) <= 30 else r[0][:29] + "~").ljust(widths[0])]
        cells += [r[i].rjust(widths[i]) for i in range(1, len(r) - 1)]
        cells.append(r[-1])
        return "  ".join(cells).rstrip()

    sep = "-" * len(line(head))
    out = [line(head), sep, *[line(r) for r in body]]
    hidden = _class_rows(result, max_classes)[1]
    if hidden:
        out.append(f"... {hidden} more classes within limits (see --json)")
    out += [sep, line(total)]
    return "\n".join(out)


def verdict(result: CheckResult) -> str:
    base = (f"; {result.accepted} flagged rows accepted by baseline {shown(result.baseline)} "
            f"(matched by {result.matched_by})" if result.baseline else "")
    what = "new issues"
    if result.reviewed:
        what = "issues"
        base = (f" ({result.new - result.confirmed} flagged and not reviewed, {result.confirmed} "
                f"confirmed errors: decided relabel or drop, label unchanged since); "
                f"{result.accepted} flagged rows accepted (decided keep) by baseline "
                f"{result.baseline} (matched by {result.matched_by})")
    if result.passed:
        return f"PASS: {result.new} {what} in {result.n} rows ({result.rate:.2%}){base}."
    return "FAIL: " + "; ".join(result.failures) + base + "."


def to_markdown(result: CheckResult, max_classes: int = 20) -> str:
    """A GitHub-flavoured Markdown summary (for $GITHUB_STEP_SUMMARY or a PR comment)."""
    esc = markdown_text      # labels and paths come from the data: inert Markdown
    status = "passed" if result.passed else "failed"
    mark = "✅" if result.passed else "❌"
    lines = [f"### {mark} clean-labels check {status}", "",
             f"**{result.new}** new suspect labels in **{result.n}** rows "
             f"(**{result.rate:.2%}**; {result.flagged} flagged, {result.accepted} accepted "
             f"by baseline).", ""]
    if result.failures:
        lines += [f"- {esc(f)}" for f in result.failures] + [""]
    lines += ["| class | rows | flagged | accepted | new | rate | limit | status |",
              "|---|---:|---:|---:|---:|---:|---:|---|"]
    rows, hidden = _class_rows(result, max_classes)
    for c in rows:
        lines.append(f"| {esc(shown(c.name))} | {c.rows} | {c.flagged} | {c.accepted} | {c.new} | "
                     f"{c.rate:.2%} | {_limit_text(c.limit)} | {'ok' if c.passed else '**FAIL**'} |")
    if hidden:
        lines.append(f"| … {hidden} more classes within limits | | | | | | | |")
    if result.delta is not None:
        lines += [""] + [f"- {esc(x.strip())}" if x.startswith("  ") else esc(x)
                         for x in delta_lines(result)]
    lim = result.limits
    lines += ["", f"Limits: max issue rate {_limit_text(lim.max_issue_rate)}, max issues "
              f"{_limit_text(lim.max_issues, pct=False)}, max class issue rate "
              f"{_limit_text(lim.max_class_issue_rate)}.", ""]
    return "\n".join(lines)


def append_markdown(path: str | os.PathLike, text: str) -> None:
    """Append to a file (GitHub's step summary is appended to by each step, not replaced)."""
    from cleanlab_lite.io import unwritable

    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(text if text.endswith("\n") else text + "\n")
    except OSError as e:
        raise unwritable(Path(path), e) from None


def to_junit(result: CheckResult) -> str:
    """JUnit XML: one <testsuite> with a testcase per class plus an `overall` testcase."""
    cases = []
    overall = ET.Element("testcase", classname="clean-labels.check", name="overall", time="0")
    if result.overall_failures:
        fail = ET.SubElement(overall, "failure", message="; ".join(result.overall_failures),
                             type="DataQualityGate")
        fail.text = "\n".join(result.overall_failures)
    out = ET.SubElement(overall, "system-out")
    out.text = (f"rows={result.n} flagged={result.flagged} accepted={result.accepted} "
                f"new={result.new} rate={result.rate:.6f}")
    if result.delta is not None:
        out.text += "\n" + "\n".join(delta_lines(result, max_rows=10**9))
    cases.append(overall)
    for c in result.classes:
        case = ET.Element("testcase", classname="clean-labels.check.class", name=c.name, time="0")
        if not c.passed:
            msg = _class_failure(c)
            ET.SubElement(case, "failure", message=msg, type="DataQualityGate").text = msg
        ET.SubElement(case, "system-out").text = (
            f"rows={c.rows} flagged={c.flagged} accepted={c.accepted} new={c.new} "
            f"rate={c.rate:.6f}")
        cases.append(case)
    failures = sum(1 for c in cases if c.find("failure") is not None)
    attrs = {"tests": str(len(cases)), "failures": str(failures), "errors": "0",
             "skipped": "0", "time": "0"}
    suites = ET.Element("testsuites", name="clean-labels", **attrs)
    suite = ET.SubElement(suites, "testsuite", name="clean-labels check", **attrs)
    props = ET.SubElement(suite, "properties")
    for key, value in (("run", result.run), ("baseline", result.baseline or ""),
                       *((k, "" if v is None else str(v))
                         for k, v in dataclasses.asdict(result.limits).items())):
        ET.SubElement(props, "property", name=key, value=value)
    suite.extend(cases)
    ET.indent(suites)
    text = ET.tostring(suites, encoding="unicode")
    # XML 1.0 cannot hold most control characters, even escaped; a class name could contain one.
    text = re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f]", "?", text)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + text + "\n"


def write_outputs(result: CheckResult, *, json_path=None, junit_path=None,
                  markdown_path=None) -> None:
    """Write the optional JSON / JUnit files (atomically) and append the Markdown summary."""
    if json_path:
        write_json(json_path, result.to_dict())
    if junit_path:
        write_text(junit_path, to_junit(result))
    if markdown_path:
        append_markdown(markdown_path, to_markdown(result))


def check_outputs(folder: Run, baseline, write_baseline_to, json_path, junit_path, markdown_path,
                  inputs: tuple = ()) -> None:
    """Every output path checked (guards.check_output) before any is written: none may be the
    baseline, another input, a run file, or another of these outputs."""
    from cleanlab_lite.guards import check_output, same_file

    given = [(p, o, s) for p, o, s in ((write_baseline_to, "--write-baseline", (".csv",)),
                                       (json_path, "--json", (".json",)),
                                       (junit_path, "--junit", (".xml",)),
                                       (markdown_path, "--markdown", MARKDOWN_SUFFIXES)) if p]
    protected = [(baseline, "the baseline"), *inputs]
    for i, (path, option, suffixes) in enumerate(given):
        check_output(path, option, run=folder, inputs=protected, suffixes=suffixes)
        for other, other_option, _ in given[:i]:
            if same_file(path, other):
                raise ConfigError(f"{option} {path} is also {other_option}; give each output its "
                                  "own file")


def gate(run: str | os.PathLike, limits: CheckConfig, *, baseline=None, write_baseline_to=None,
         json_path=None, junit_path=None, markdown_path=None) -> CheckResult:
    """The whole `check` command: optionally write a baseline of every flagged row, evaluate the
    run against `limits` (and the baseline), then write the requested reports."""
    folder = Run(run)
    ranking = folder.read_ranking()
    check_outputs(folder, baseline, write_baseline_to, json_path, junit_path, markdown_path)
    if write_baseline_to is not None:
        write_baseline(write_baseline_to, ranking)
        baseline = write_baseline_to
    result = run_check(run, limits, baseline=baseline, ranking=ranking)
    write_outputs(result, json_path=json_path, junit_path=junit_path, markdown_path=markdown_path)
    return result


# ----------------------------------------------------------------------------------------------
# the gate on a changed manifest (`check RUN --manifest CURRENT`)

SHOWN_ROWS = 20          # flagged changed rows printed / put in the Markdown summary


def _flagged_rows(judged: pd.DataFrame, accepted: np.ndarray) -> list[dict[str, Any]]:
    cols = [c for c in ("row", "id", "change", "given_label", "previous_label", "suggested_label",
                        "label_quality", "suggested_confidence") if c in judged.columns]
    rows = judged.loc[judged["is_label_issue"].to_numpy(bool) & ~accepted, cols]
    return [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()}
            for r in rows.to_dict(orient="records")]


def gate_changes(run: str | os.PathLike, manifest: str | os.PathLike, limits: CheckConfig, *,
                 overrides: dict | None = None, device: str = "auto", baseline=None,
                 write_baseline_to=None, json_path=None, junit_path=None,
                 markdown_path=None) -> CheckResult:
    """`check RUN --manifest CURRENT`: judge only the rows that changed since the run was trained
    (edited labels with their stored out-of-fold probabilities, new and content-changed rows with
    the fold ensemble; see `cleanlab_lite.delta`) and compare them with `limits`: the rates are
    over the changed rows. Writes RUN/delta/ranking.csv and RUN/delta/summary.json, then the
    requested reports. Removed rows are listed in the ranking but never count."""
    from cleanlab_lite.delta import judge_changes

    check_outputs(Run(run), baseline, write_baseline_to, json_path, junit_path, markdown_path,
                  inputs=(manifest,))
    d = judge_changes(run, manifest, overrides=overrides, device=device)
    judged = d.changed
    if write_baseline_to is not None:
        write_baseline(write_baseline_to, judged)
        baseline = write_baseline_to
    result = run_check(run, limits, baseline=baseline, ranking=judged, allow_empty=True)
    base = read_baseline(baseline) if baseline is not None else None
    accepted = baseline_mask(judged, base)[0]
    result.delta = {
        "manifest": str(manifest), "matched_by": d.matched_by, "rows_current": d.n_current,
        "rows_run": d.n_run, "changes": d.counts, "rows_judged": len(judged),
        "ranking": str(Run(run).delta_ranking_path), "notes": d.notes,
        "seconds": d.seconds, "flagged_rows": _flagged_rows(judged, accepted),
    }
    Run(run).write_delta(d.ranking, result.to_dict())
    write_outputs(result, json_path=json_path, junit_path=junit_path, markdown_path=markdown_path)
    return result


def delta_lines(result: CheckResult, max_rows: int = SHOWN_ROWS) -> list[str]:
    """Plain-text lines about the change: what was matched how, and the flagged changed rows."""
    d = result.delta or {}
    c = d.get("changes", {})
    out = [f"Changes since the run (rows matched by {d.get('matched_by')}): {c.get('edited', 0)} "
           f"label edited, {c.get('new', 0)} new, {c.get('content_changed', 0)} content changed, "
           f"{c.get('removed', 0)} removed, {c.get('unchanged', 0)} unchanged; the limits apply "
           f"to the {d.get('rows_judged', 0)} changed rows."]
    out += [f"Note: {n}" for n in d.get("notes", [])]
    rows = d.get("flagged_rows", [])
    if rows:
        out.append(f"Suspect labels among the changed rows ({len(rows)}):")
        for r in rows[:max_rows]:
            out.append("  " + _row_text(r))
        if len(rows) > max_rows:
            out.append(f"  ... {len(rows) - max_rows} more in {d.get('ranking')}")
    return out


def _row_text(r: dict[str, Any]) -> str:
    ident = f" (id {r['id']})" if r.get("id") not in (None, "") else ""
    was = f", was {r['previous_label']!r}" if r.get("change") == "edited" else ""
    return (f"row {r['row']}{ident}, {r['change']}{was}: given {r['given_label']!r}, suggested "
            f"{r['suggested_label']!r} (p={float(r['suggested_confidence']):.2f}), label quality "
            f"{float(r['label_quality']):.4f}")
