"""docs/ci.md cannot go stale: its blocks run here, as written, on a tiny tabular dataset.

The workflow's `run:` steps are executed in order with the job's `env:` (the install step and
`uses:` actions are GitHub's business); a second pass reuses the run folder the way the cache
does, and the shell script and the pred_probs variant run as bash scripts.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

DOC = Path(__file__).resolve().parents[1] / "docs" / "ci.md"
BIN = Path(sys.executable).parent
CLASSES = ["setosa", "versicolor", "virginica"]
# kept small and quick for CI: the documented config plus a fast model
FAST_TRAIN = {"folds": 3, "model": "linear", "epochs": 40, "lr": 0.05, "seed": 0, "quiet": True}


def doc_block(name: str) -> str:
    """The fenced block right after `<!-- ci-doc: NAME -->` in docs/ci.md."""
    text = DOC.read_text(encoding="utf-8")
    m = re.search(rf"<!-- ci-doc: {re.escape(name)} -->\s*```[a-z]*\n(.*?)```", text, re.S)
    assert m, f"docs/ci.md has no block marked ci-doc: {name}"
    return m.group(1)


def make_repo(root: Path, n_per_class: int = 40, flips: int = 6) -> Path:
    """A user's repository: data/manifest.csv (ids, 4 features, some flipped labels) and the
    documented clean-labels.yaml with a fast train section."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), n_per_class)
    x = rng.normal(size=(len(y), 4)) + 2.5 * y[:, None]
    given = y.copy()
    idx = rng.choice(len(y), flips, replace=False)
    given[idx] = (y[idx] + 1) % 3
    df = pd.DataFrame(x.round(3), columns=[f"f{i}" for i in range(4)])
    df.insert(0, "id", [f"r{i:04d}" for i in range(len(y))])
    df["label"] = np.array(CLASSES)[given]
    (root / "data").mkdir(parents=True)
    df.to_csv(root / "data" / "manifest.csv", index=False)
    config = yaml.safe_load(doc_block("config"))
    config["train"] = FAST_TRAIN
    (root / "clean-labels.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return root


def bash(script: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    full = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1"}
    full.pop("GITHUB_STEP_SUMMARY", None)  # never write into a real CI job's summary
    full.update(env or {})
    return subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=cwd, env=full,
                          capture_output=True, text=True, timeout=180)


def run_workflow(workflow: dict, cwd: Path, summary: Path, job_name: str = "main",
                 event: str = "push") -> list[tuple[str, int, str]]:
    """Run one job's `run:` steps like GitHub does for `event`: stop at a failure except for
    `if: always()`."""
    job = workflow["jobs"][job_name]
    assert ("!=" in job["if"]) == (event != "pull_request"), job["if"]
    env = {k: str(v) for k, v in (job.get("env") or {}).items()}
    env["GITHUB_STEP_SUMMARY"] = str(summary)
    env["GITHUB_EVENT_NAME"] = event
    results, failed = [], False
    for step in job["steps"]:
        if "run" not in step or step.get("name", "").startswith("Install"):
            continue
        if failed and "always()" not in str(step.get("if", "")):
            continue
        assert "${{" not in step["run"], "run steps must not need GitHub expressions"
        proc = bash(step["run"], cwd, env)
        results.append((step["name"], proc.returncode, proc.stdout + proc.stderr))
        failed = failed or proc.returncode != 0
    return results


@pytest.fixture(scope="module")
def adopted(tmp_path_factory) -> Path:
    """A repository after the documented adoption: trained, ranked, reported, baseline written."""
    repo = make_repo(tmp_path_factory.mktemp("ci") / "repo")
    adopt = bash(doc_block("adopt").replace("git add", ": git add"), repo)
    assert adopt.returncode == 0, adopt.stdout + adopt.stderr
    return repo


def copy_repo(src: Path, dst: Path) -> Path:
    """What a CI cache restore gives a later job: the repository plus the cached run folder."""
    shutil.copytree(src, dst, symlinks=True)
    return dst


@pytest.mark.slow
def test_adoption_writes_report_and_baseline(adopted):
    assert (adopted / ".clean-labels/run/report.html").is_file()
    accepted = pd.read_csv(adopted / "data/accepted-labels.csv")
    ranking = pd.read_csv(adopted / ".clean-labels/run/ranking.csv")
    assert len(accepted) == int(ranking["is_label_issue"].sum()) > 0
    assert set(accepted["id"]) == set(ranking.loc[ranking["is_label_issue"], "id"])


def cache_steps(job: dict) -> list[dict]:
    return [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/cache")]


@pytest.mark.slow
def test_main_job_retrains_only_without_a_run_on_schedule_or_when_the_gate_says_so(adopted,
                                                                                    tmp_path):
    repo = copy_repo(adopted, tmp_path / "repo")
    workflow = yaml.safe_load(doc_block("workflow"))
    job = workflow["jobs"]["main"]
    assert all(s["with"]["path"] == job["env"]["RUN"] for s in cache_steps(job))
    summary = repo / "step-summary.md"
    shutil.rmtree(repo / ".clean-labels")                    # first push: nothing cached
    results = run_workflow(workflow, repo, summary)
    assert [r[0] for r in results] == [
        "Retrain on schedule, without a run, or when the gate on main's changes says so",
        "Label-quality gate on every row"]
    assert all(code == 0 for _, code, _ in results), results
    assert "Trained: 120 rows" in results[0][2] and "PASS: 0 new issues" in results[1][2]
    junit = ET.parse(repo / "label-check.xml").getroot()
    assert [c.get("name") for c in junit.iter("testcase")] == ["overall", *CLASSES]
    assert "clean-labels check passed" in summary.read_text()

    folds = {p: p.stat().st_mtime_ns for p in (repo / ".clean-labels/run/folds").rglob("*")}
    df = pd.read_csv(repo / "data/manifest.csv")
    df.drop(index=[0, 1]).to_csv(repo / "data/manifest.csv", index=False)   # a passing change
    results = run_workflow(workflow, repo, summary)
    assert "The cached run still judges main's data: no retraining." in results[0][2]
    assert "2 removed" in results[0][2] and all(code == 0 for _, code, _ in results), results
    assert {p: p.stat().st_mtime_ns for p in folds} == folds

    results = run_workflow(workflow, repo, summary, event="schedule")
    assert "Trained: 118 rows" in results[0][2], results
    assert all(code == 0 for _, code, _ in results), results


@pytest.mark.slow
def test_pull_request_job_judges_only_the_changed_rows(adopted, tmp_path):
    repo = copy_repo(adopted, tmp_path / "repo")
    workflow = yaml.safe_load(doc_block("workflow"))
    job = workflow["jobs"]["pull-request"]
    assert all(s["with"]["path"] == job["env"]["RUN"] for s in cache_steps(job))
    run = repo / job["env"]["RUN"]
    folds = {p: p.stat().st_mtime_ns for p in (run / "folds").rglob("*")}
    df = pd.read_csv(repo / "data/manifest.csv")
    clean = df.copy()
    pr = df.copy()
    # flip the setosa row and the versicolor row the run is surest about
    pp = np.load(run / "pred_probs.npy")
    a, b = (int(np.flatnonzero(df["label"] == c)[np.argmax(pp[df["label"] == c, i])])
            for i, c in enumerate(CLASSES[:2]))
    pr.loc[[a, b], "label"] = ["virginica", "setosa"]
    pr.to_csv(repo / "data/manifest.csv", index=False)
    results = run_workflow(workflow, repo, repo / "summary.md", "pull-request", "pull_request")
    assert [(name, code) for name, code, _ in results] == [
        ("Gate the changed rows (no retraining)", 1)], results
    out = results[0][2]
    assert "2 label edited, 0 new, 0 content changed, 0 removed, 118 unchanged" in out
    assert f"row {a} (id r{a:04d}), edited, was 'setosa': given 'virginica'" in out
    assert f"row {b} (id r{b:04d}), edited, was 'versicolor': given 'setosa'" in out
    assert {p: p.stat().st_mtime_ns for p in folds} == folds        # nothing was retrained
    res = json.loads((repo / "label-check.json").read_text())
    assert res["passed"] is False and res["delta"]["rows_judged"] == 2
    assert f"row {a} (id r{a:04d}), edited" in (repo / "summary.md").read_text()
    delta = pd.read_csv(run / "delta/ranking.csv")
    assert sorted(delta["id"]) == [f"r{a:04d}", f"r{b:04d}"] and delta["is_label_issue"].all()

    clean.to_csv(repo / "data/manifest.csv", index=False)           # the author fixes them
    results = run_workflow(workflow, repo, repo / "summary.md", "pull-request", "pull_request")
    assert results[0][1] == 0 and "PASS: 0 new issues in 0 rows" in results[0][2], results


@pytest.mark.slow
def test_shell_step_fails_on_new_suspects(adopted, tmp_path):
    repo = copy_repo(adopted, tmp_path / "repo")
    # new suspects: rows taken out of the accepted list count again
    accepted = pd.read_csv(repo / "data/accepted-labels.csv")
    keep = max(0, len(accepted) - 4)
    accepted.iloc[:keep].to_csv(repo / "data/accepted-labels.csv", index=False)
    new = len(accepted) - keep
    script = repo / "label-gate.sh"
    script.write_text(doc_block("shell"))
    proc = bash(f"bash {script}", repo, {"CONFIG": "clean-labels.yaml"})
    expect_fail = new / 120 > 0.02 + 1e-12
    assert proc.returncode == (1 if expect_fail else 0), proc.stdout + proc.stderr
    out = json.loads((repo / "label-check.json").read_text())
    assert out["overall"]["new_issues"] == new and out["baseline"]["matched_by"] == "id"
    md = (repo / "label-check.md").read_text()
    assert ("clean-labels check failed" if expect_fail else "clean-labels check passed") in md
    assert (repo / "label-report/report.html").is_file()


@pytest.mark.slow
def test_pred_probs_variant(tmp_path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    repo = make_repo(tmp_path / "repo")
    df = pd.read_csv(repo / "data/manifest.csv")
    model = LogisticRegression(max_iter=500)
    oof = cross_val_predict(model, df[[f"f{i}" for i in range(4)]], df["label"], cv=3,
                            method="predict_proba")
    np.save(repo / "oof_probs.npy", oof.astype(np.float32))
    (repo / "classes.json").write_text(json.dumps(sorted(df["label"].unique().tolist())))
    proc = bash(doc_block("pred-probs"), repo)
    ranking = pd.read_csv(repo / ".clean-labels/own/ranking.csv")
    flagged = int(ranking["is_label_issue"].sum())
    assert 0 < flagged
    assert proc.returncode == (1 if flagged / len(df) > 0.02 else 0), proc.stdout + proc.stderr
    assert f"{flagged} new issues" in proc.stdout or f"({flagged} of {len(df)} rows)" in proc.stdout
    root = ET.parse(repo / "label-check.xml").getroot()
    assert root.get("tests") == "4"


@pytest.mark.slow
def test_pr_shell_step_names_wrong_new_rows(adopted, tmp_path):
    repo = copy_repo(adopted, tmp_path / "repo")
    df = pd.read_csv(repo / "data/manifest.csv")
    new = df.iloc[[0, 45, 90, 100]].copy()                # one row of each class, then one more
    new["id"] = ["n1", "n2", "n3", "n4"]
    new["label"] = ["versicolor", "virginica", "setosa", new["label"].iloc[3]]  # 3 wrong, 1 right
    pd.concat([df, new]).to_csv(repo / "data/manifest.csv", index=False)
    script = repo / "pr-gate.sh"
    script.write_text(doc_block("pr-shell"))
    proc = bash(f"bash {script}", repo)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "0 label edited, 4 new, 0 content changed, 0 removed, 120 unchanged" in proc.stdout
    for i, given in ((1, "versicolor"), (2, "virginica"), (3, "setosa")):
        assert f"(id n{i}), new: given '{given}'" in proc.stdout
    out = json.loads((repo / "label-check.json").read_text())
    assert out["delta"]["rows_judged"] == 4 and out["overall"]["new_issues"] == 3
    assert "clean-labels check failed" in (repo / "label-check.md").read_text()
