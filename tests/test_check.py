"""The CI gate: limits, exit codes, baseline, JSON / JUnit / Markdown outputs.

The run folders here are synthetic (written by `make_run`), so these tests do not depend on
train or rank; tests/test_ci_docs.py runs the real commands end to end.
"""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pandas as pd
import pytest
from click.testing import CliRunner

from cleanlab_lite import check as gate
from cleanlab_lite.baseline import BaselineError
from cleanlab_lite.cli import main
from cleanlab_lite.errors import ConfigError, UserInputError
from cleanlab_lite.run import Run
from tests.expect import assert_refused
from tests.runs import make_ranked_run as make_run


def invoke(*args, env=None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env or {"GITHUB_STEP_SUMMARY": None})


# ---- limits and exit codes -------------------------------------------------------------------


def test_rate_parsing():
    from cleanlab_lite.amounts import parse_count, parse_rate

    assert parse_rate("2%", "--max-issue-rate") == pytest.approx(0.02)
    assert parse_rate("0.02", "--max-issue-rate") == pytest.approx(0.02)
    assert parse_rate(0, "--max-issue-rate") == 0.0
    for bad in ("2", "1", "abc", "-1%", "150%"):
        with pytest.raises(ConfigError, match="--max-issue-rate"):
            parse_rate(bad, "--max-issue-rate")
    with pytest.raises(ConfigError, match="--max-issues must be a whole number"):
        parse_count("1.5", "--max-issues")


def test_exit_codes_for_overall_limits(tmp_path):
    run = make_run(tmp_path)  # 3 flagged of 60 rows = 5%
    ok = invoke("check", run, "--max-issue-rate", "5%")
    assert ok.exit_code == 0, ok.output
    assert "PASS: 3 new issues in 60 rows (5.00%)" in ok.output
    over = invoke("check", run, "--max-issue-rate", "0.04")
    assert over.exit_code == 1
    assert "FAIL: overall issue rate 5.00% (3 of 60 rows) exceeds --max-issue-rate 4.00%" in over.output
    assert invoke("check", run, "--max-issues", "3").exit_code == 0
    assert invoke("check", run, "--max-issues", "2").exit_code == 1


def test_per_class_limit_names_the_class(tmp_path):
    run = make_run(tmp_path, flagged={"cat": 0, "dog": 4, "bird": 1})
    res = invoke("check", run, "--max-class-issue-rate", "10%")
    assert res.exit_code == 1
    assert "class 'dog' issue rate 20.00% (4 of 20 rows)" in res.output
    lines = res.output.splitlines()
    # failing class listed first in the table, with FAIL; the others ok
    assert lines[2].startswith("dog") and lines[2].endswith("FAIL")
    assert invoke("check", run, "--max-class-issue-rate", "20%").exit_code == 0


def test_no_limits_passes_and_says_so(tmp_path):
    res = invoke("check", make_run(tmp_path))
    assert res.exit_code == 0
    assert "No limits set" in res.output


def test_bad_input_exits_2_with_one_line(tmp_path):
    res = invoke("check", tmp_path / "nope", "--max-issues", "1")
    assert res.exit_code == 2
    assert res.output.startswith("Error: run folder") and res.output.count("\n") == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    res = invoke("check", empty)
    assert res.exit_code == 2 and "run `clean-labels rank" in res.output
    run = make_run(tmp_path)
    res = invoke("check", run, "--max-issue-rate", "3")
    assert res.exit_code == 2 and "write 3% if you meant percent" in res.output
    res = invoke("check", run, "--baseline", tmp_path / "missing.csv")
    assert res.exit_code == 2 and "--write-baseline" in res.output
    (tmp_path / "bad.csv").write_text("foo,bar\n1,2\n")
    res = invoke("check", run, "--baseline", tmp_path / "bad.csv")
    assert res.exit_code == 2 and "needs an `id` column or both `row` and `given_label`" in res.output


def test_edited_or_corrupt_ranking_is_a_user_error(tmp_path):
    run = make_run(tmp_path)
    df = pd.read_parquet(run / "ranking.parquet")
    df["is_label_issue"] = df["is_label_issue"].astype(str)
    df.loc[5, "is_label_issue"] = "maybe"
    df.to_parquet(run / "ranking.parquet", index=False)
    res = invoke("check", run)
    assert_refused(res, (f"Error: {run / 'ranking.parquet'} is not the file {run / 'summary.json'} records "
                          f"(an interrupted or concurrent `rank`, or an edited file); rerun "
                          f"`clean-labels rank {run}`"))
    with pytest.raises(UserInputError, match="ranking.parquet has a column of the wrong type"):
        Run(run).read_ranking(verify=False)


def test_limits_from_config(tmp_path):
    run = make_run(tmp_path)
    cfg = tmp_path / "gate.yaml"
    cfg.write_text("check:\n  max_issues: 2\n")
    assert invoke("check", run, "--config", cfg).exit_code == 1
    # the flag wins over the file
    assert invoke("check", run, "--config", cfg, "--max-issues", "3").exit_code == 0
    cfg.write_text("check:\n  max_rate: 2\n")
    res = invoke("check", run, "--config", cfg)
    assert res.exit_code == 2 and "unknown option 'max_rate'" in res.output


# ---- baseline --------------------------------------------------------------------------------


def test_write_baseline_then_only_new_suspects_count(tmp_path):
    run = make_run(tmp_path / "v1")
    base = tmp_path / "accepted.csv"
    res = invoke("check", run, "--write-baseline", base, "--max-issues", "0")
    assert res.exit_code == 0, res.output
    assert "3 flagged rows written" in res.output
    written = pd.read_csv(base)
    assert len(written) == 3 and {"id", "row", "given_label"} <= set(written.columns)
    assert invoke("check", run, "--baseline", base, "--max-issues", "0").exit_code == 0
    # a new suspect appears in the next data version: only it counts
    run = make_run(tmp_path / "v2", flagged={"cat": 2, "dog": 1, "bird": 1})
    res = invoke("check", run, "--baseline", base, "--max-issues", "0", "--json", tmp_path / "r.json")
    assert res.exit_code == 1
    out = json.loads((tmp_path / "r.json").read_text())
    assert out["overall"] == {"rows": 60, "flagged": 4, "accepted": 3, "new_issues": 1,
                              "issue_rate": pytest.approx(1 / 60)}
    assert out["baseline"]["matched_by"] == "id"


def test_baseline_by_row_and_label(tmp_path):
    run = make_run(tmp_path, with_id=False)
    ranking = Run(run).read_ranking()
    flagged = ranking[ranking["is_label_issue"]]
    base = tmp_path / "accepted.csv"
    flagged[["row", "given_label"]].to_csv(base, index=False)
    result = gate.run_check(run, gate.CheckConfig(max_issues=0), baseline=base)
    assert result.passed and result.matched_by == "row+given_label" and result.accepted == 3
    # the same row accepted under a different label does not count as accepted
    changed = flagged[["row", "given_label"]].copy()
    changed.iloc[0, 1] = "something-else"
    changed.to_csv(base, index=False)
    result = gate.run_check(run, gate.CheckConfig(max_issues=0), baseline=base)
    assert not result.passed and result.new == 1
    # an id-only baseline against a run without ids is an error that says what to add
    pd.DataFrame({"id": ["a"]}).to_csv(base, index=False)
    with pytest.raises(BaselineError, match="ranking.csv has no id column"):
        gate.run_check(run, gate.CheckConfig(), baseline=base)


# ---- outputs ---------------------------------------------------------------------------------


def test_junit_has_a_testcase_per_class_plus_overall(tmp_path):
    run = make_run(tmp_path, classes=("cat", "dog", "a<b&\"c\""), flagged={"dog": 5})
    junit = tmp_path / "check.xml"
    res = invoke("check", run, "--max-class-issue-rate", "10%", "--max-issues", "1",
                 "--junit", junit)
    assert res.exit_code == 1
    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["overall", "cat", "dog", "a<b&\"c\""]
    failed = [c.get("name") for c in cases if c.find("failure") is not None]
    assert failed == ["overall", "dog"]
    assert suite.get("tests") == "4" and suite.get("failures") == "2"
    assert suite.get("errors") == "0" and suite.get("skipped") == "0"
    assert "5 new issues exceed --max-issues 1" in cases[0].find("failure").get("message")
    assert "rows=20 flagged=5" in cases[2].find("system-out").text


def test_junit_all_pass(tmp_path):
    result = gate.run_check(make_run(tmp_path), gate.CheckConfig(max_issue_rate=0.5))
    root = ET.fromstring(gate.to_junit(result).split("\n", 1)[1])
    assert root.get("failures") == "0" and root.get("tests") == "4"
    assert all(c.find("failure") is None for c in root.iter("testcase"))


def test_json_output_is_complete(tmp_path):
    run = make_run(tmp_path, flagged={"cat": 2, "dog": 0, "bird": 1})
    out = tmp_path / "sub" / "check.json"
    assert invoke("check", run, "--max-issue-rate", "2%", "--json", out).exit_code == 1
    d = json.loads(out.read_text())
    assert d["passed"] is False
    assert d["limits"] == {"max_issue_rate": 0.02, "max_issues": None, "max_class_issue_rate": None}
    assert d["overall"]["new_issues"] == 3 and d["overall"]["rows"] == 60
    per = {c["class"]: c for c in d["per_class"]}
    assert per["cat"]["new_issues"] == 2 and per["cat"]["issue_rate"] == pytest.approx(0.1)
    assert per["dog"]["flagged"] == 0 and per["bird"]["rows"] == 20
    assert d["estimated_noise_rate"] == pytest.approx(0.05) and d["method"] == "self_confidence"
    assert len(d["failures"]) == 1


def test_markdown_appends_to_github_step_summary(tmp_path):
    run = make_run(tmp_path, classes=("cat", "d|og"), flagged={"d|og": 3})
    summary = tmp_path / "step_summary.md"
    summary.write_text("previous step\n")
    res = invoke("check", run, "--max-issues", "1", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert res.exit_code == 1
    text = summary.read_text()
    assert text.startswith("previous step\n")
    assert "### ❌ clean-labels check failed" in text
    assert "| d\\|og | 20 | 3 | 0 | 3 | 15.00% | - | ok |" in text
    # without the variable nothing is written anywhere
    res = invoke("check", run, "--max-issues", "5")
    assert res.exit_code == 0 and "Wrote" not in res.output


def test_printed_table_is_short_for_many_classes(tmp_path):
    classes = tuple(f"c{i:02d}" for i in range(30))
    run = make_run(tmp_path, classes=classes, per_class=4, flagged={"c07": 3})
    res = invoke("check", run, "--max-class-issue-rate", "50%")
    assert res.exit_code == 1
    lines = res.output.splitlines()
    assert len(lines) < 20
    assert lines[2].startswith("c07") and "... 20 more classes within limits" in res.output
