"""The rank stage and the `rank` command: run folders, user arrays, outputs, one-line errors."""
from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cleanlab_lite.cli import main
from cleanlab_lite.config import RankConfig
from cleanlab_lite.errors import ConfigError, LabelsError, PredProbsError, RunFolderError
from cleanlab_lite.rank import rank_arrays, rank_run
from cleanlab_lite.run import Run

CLASSES = ["cat", "dog", "eel"]


def make_problem(n=300, k=3, seed=0, n_flip=15):
    rng = np.random.default_rng(seed)
    true = np.arange(n) % k
    logits = rng.normal(0, 0.5, (n, k))
    logits[np.arange(n), true] += 4.0
    p = np.exp(logits)
    p = (p / p.sum(1, keepdims=True)).astype(np.float32)
    y = true.copy()
    flipped = rng.choice(n, n_flip, replace=False)
    y[flipped] = (y[flipped] + 1) % k
    return y, p, np.sort(flipped)


def make_run(folder, y, p, *, labels_npy=True, id_col="uid", rows=None):
    """A train run folder written through cleanlab_lite.run.Run."""
    run = Run(folder)
    run.write_pred_probs(p)
    if labels_npy:
        run.write_labels(y)
    run.write_classes(CLASSES)
    rows = np.arange(len(y)) if rows is None else rows
    run.write_rows(pd.DataFrame({"label": np.array(CLASSES)[y], "uid": [f"u{i}" for i in rows],
                                 "row": rows}), np.zeros(len(y)))
    run.record_train_outputs({"data": {"label_col": "label", "id_col": id_col}})
    return folder


def run_cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(r):
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and len(lines) == 1, r.output
    return lines[0]


def test_rank_run_writes_ranking_and_summary_with_flips_on_top(tmp_path):
    y, p, flipped = make_problem()
    run = make_run(tmp_path / "run", y, p)
    summary = rank_run(run, RankConfig())
    r = pd.read_csv(run / "ranking.csv", keep_default_na=False)
    assert list(r.columns) == ["row", "id", "given_label", "predicted_label", "suggested_label",
                               "label_quality", "is_label_issue", "suggested_confidence"]
    assert len(r) == len(y) and sorted(r["row"]) == list(range(len(y)))
    assert set(r["row"].head(len(flipped))) == set(flipped)
    flagged_rows = set(r.loc[r["is_label_issue"], "row"])
    assert flagged_rows <= set(flipped) and len(flagged_rows) >= 10       # precise, high recall
    assert summary["num_flagged"] == len(flagged_rows)
    assert r["is_label_issue"].head(len(flagged_rows)).all()              # flagged rows come first
    top = r.head(len(flagged_rows)).set_index("row")
    true = (y + 2) % 3                                        # undo the +1 flip
    assert (top["suggested_label"] == np.array(CLASSES)[true[top.index]]).all()
    assert (top["id"] == [f"u{i}" for i in top.index]).all()
    flagged = r[r["is_label_issue"]]
    assert (flagged["suggested_label"] == flagged["predicted_label"]).all()
    kept = r[~r["is_label_issue"]]
    assert (kept["suggested_label"] == kept["given_label"]).all()
    nf = len(flagged_rows)
    assert r["label_quality"].head(nf).is_monotonic_increasing
    assert r["label_quality"].iloc[nf:].is_monotonic_increasing
    raw = (run / "ranking.csv").read_text().splitlines()[1]
    assert raw.split(",")[6] == "true"                         # lower-case booleans
    s = json.loads((run / "summary.json").read_text())
    for key in ("n", "k", "num_flagged", "estimated_num_issues", "estimated_noise_rate", "method",
                "filter_by", "per_class", "noise_matrix", "inv_noise_matrix", "confident_joint",
                "class_priors"):
        assert key in s, key
    assert s["n"] == 300 and s["k"] == 3 and s["method"] == "self_confidence"
    assert [c["class"] for c in s["per_class"]] == CLASSES
    assert sum(c["flagged"] for c in s["per_class"]) == s["num_flagged"]
    assert abs(s["estimated_noise_rate"] - len(flipped) / 300) < 0.03
    nm = np.array(s["noise_matrix"])
    assert nm.shape == (3, 3) and np.allclose(nm.sum(axis=0), 1.0, atol=1e-5)


def test_rank_run_without_labels_npy_reads_the_label_column(tmp_path):
    y, p, _ = make_problem()
    a = rank_run(make_run(tmp_path / "a", y, p), RankConfig())
    b = rank_run(make_run(tmp_path / "b", y, p, labels_npy=False), RankConfig())
    assert a["num_flagged"] == b["num_flagged"]
    assert (tmp_path / "a" / "ranking.csv").read_text() == (tmp_path / "b" / "ranking.csv").read_text()


def test_rank_run_uses_the_row_column_and_no_id_without_id_col(tmp_path):
    y, p, flipped = make_problem()
    rows = np.arange(len(y)) * 2 + 1                         # rows kept after --skip-bad, say
    run = make_run(tmp_path / "run", y, p, id_col=None, rows=rows)
    rank_run(run, RankConfig())
    r = pd.read_csv(run / "ranking.csv")
    assert "id" not in r.columns
    assert set(r["row"].head(len(flipped))) == set(rows[flipped])


@pytest.mark.slow
def test_every_method_and_filter_runs(tmp_path):
    y, p, flipped = make_problem()
    run = make_run(tmp_path / "run", y, p)
    for method in ("self_confidence", "normalized_margin", "confidence_weighted_entropy"):
        for filter_by in ("prune_by_noise_rate", "prune_by_class", "both", "confident_learning",
                          "predicted_neq_given", "low_self_confidence", "low_normalized_margin"):
            s = rank_run(run, RankConfig(method=method, filter_by=filter_by))
            assert s["method"] == method and s["filter_by"] == filter_by
            assert 0 < s["num_flagged"] <= 2 * len(flipped)


def test_rank_arrays_matches_rank_run(tmp_path):
    y, p, _ = make_problem()
    run = make_run(tmp_path / "run", y, p)
    rank_run(run, RankConfig())
    base = rank_run(run, RankConfig())
    s = rank_arrays(run / "pred_probs.npy", y, tmp_path / "out", RankConfig(), classes=CLASSES,
                    ids=[f"u{i}" for i in range(len(y))])
    assert (tmp_path / "out" / "ranking.csv").read_text() == (run / "ranking.csv").read_text()
    assert s["num_flagged"] == base["num_flagged"]
    s2 = rank_arrays(p, y, tmp_path / "out2", RankConfig())   # in-memory array
    assert s2["classes"] == ["0", "1", "2"] and s2["num_flagged"] == base["num_flagged"]


def test_validation_errors_name_the_file(tmp_path):
    y, p, _ = make_problem()
    q = p.copy()
    q[4, 1] = np.nan
    run = make_run(tmp_path / "nan", y, q)
    with pytest.raises(PredProbsError, match=r"pred_probs.npy: row 4 holds NaN"):
        rank_run(run, RankConfig())
    assert not (run / "ranking.csv").exists() and not (run / "summary.json").exists()
    run = make_run(tmp_path / "sum", y, p * 2)
    with pytest.raises(PredProbsError, match="sums to 2"):
        rank_run(run, RankConfig())
    expected = rank_run(make_run(tmp_path / "plain", y, p), RankConfig())["num_flagged"]
    assert rank_run(run, RankConfig(renormalize=True))["num_flagged"] == expected
    run = make_run(tmp_path / "shape", y, p[:-1])
    with pytest.raises(LabelsError, match="labels.npy has 300 rows but pred_probs has 299"):
        rank_run(run, RankConfig())
    with pytest.raises(RunFolderError, match="no pred_probs.npy"):
        rank_run(tmp_path, RankConfig())
    with pytest.raises(ConfigError, match="--filter-by 'nope' is not valid; use one of"):
        rank_run(make_run(tmp_path / "ok", y, p), RankConfig(filter_by="nope"))


def test_cli_rank_run_folder(tmp_path):
    y, p, _ = make_problem()
    run = make_run(tmp_path / "run", y, p)
    r = run_cli("rank", run)
    assert r.exit_code == 0, r.output
    assert re.search(r"Flagged \d+ of 300 rows", r.output) and "estimated noise rate" in r.output
    r = run_cli("rank", run, "--method", "normalized_margin", "--filter-by", "both", "--quiet")
    assert r.exit_code == 0 and r.output == ""
    assert json.loads((run / "summary.json").read_text())["filter_by"] == "both"


def test_cli_rank_config_file_and_flags(tmp_path):
    y, p, _ = make_problem()
    run = make_run(tmp_path / "run", y, p)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("rank:\n  method: normalized_margin\n  filter_by: confident_learning\n")
    assert run_cli("rank", run, "--config", cfg, "--filter-by", "both", "-q").exit_code == 0
    s = json.loads((run / "summary.json").read_text())
    assert (s["method"], s["filter_by"]) == ("normalized_margin", "both")


def test_cli_rank_user_arrays_npy_and_manifest(tmp_path):
    y, p, flipped = make_problem()
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "y.npy", y)
    r = run_cli("rank", "--pred-probs", tmp_path / "p.npy", "--labels", tmp_path / "y.npy",
                "--out", tmp_path / "o1")
    assert r.exit_code == 0, r.output
    pd.DataFrame({"name": [f"n{i}" for i in range(len(y))], "y": np.array(CLASSES)[y]}).to_csv(
        tmp_path / "m.csv", index=False)
    (tmp_path / "classes.json").write_text(json.dumps(CLASSES))
    r = run_cli("rank", "--pred-probs", tmp_path / "p.npy", "--labels", tmp_path / "m.csv",
                "--label-col", "y", "--id-col", "name", "--classes", tmp_path / "classes.json",
                "--out", tmp_path / "o2")
    assert r.exit_code == 0, r.output
    a = pd.read_csv(tmp_path / "o1" / "ranking.csv")
    b = pd.read_csv(tmp_path / "o2" / "ranking.csv")
    assert list(a["row"]) == list(b["row"]) and set(b["row"].head(15)) == set(flipped)
    assert list(a["is_label_issue"]) == list(b["is_label_issue"])
    assert b["id"].iloc[0] == f"n{b['row'].iloc[0]}" and b["given_label"].isin(CLASSES).all()


def test_cli_rank_ensemble_of_two_files(tmp_path):
    y, p, flipped = make_problem()
    _, p2, _ = make_problem(seed=1)
    np.save(tmp_path / "a.npy", p)
    np.save(tmp_path / "b.npy", p2)
    np.save(tmp_path / "y.npy", y)
    r = run_cli("rank", "--pred-probs", tmp_path / "a.npy", "--pred-probs", tmp_path / "b.npy",
                "--labels", tmp_path / "y.npy", "--out", tmp_path / "o", "-q")
    assert r.exit_code == 0, r.output
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert "a.npy" in s["pred_probs"] and "b.npy" in s["pred_probs"]


@pytest.mark.parametrize("args,expected", [
    (["--method", "bogus"], "Error: --method 'bogus' is not valid; use one of self_confidence, "
                            "normalized_margin, confidence_weighted_entropy"),
    (["--filter-by", "x"], "Error: --filter-by 'x' is not valid; use one of adaptive, prune_by_noise_rate"),
    (["--frac-noise", "2"], "Error: --frac-noise 2.0 must be in [0, 1]; use e.g. 1.0"),
    (["--num-to-remove-per-class", "1,a"], "Error: --num-to-remove-per-class '1,a' is not a comma list"),
    (["--device", "cuda"], None),
])
def test_cli_rank_bad_options_exit_2(tmp_path, args, expected):
    y, p, _ = make_problem()
    run = make_run(tmp_path / "run", y, p)
    r = run_cli("rank", run, *args)
    if expected is None:              # cuda: works on a GPU machine, one-line error elsewhere
        import torch
        if torch.cuda.is_available():
            assert r.exit_code == 0
            return
        line = one_line_error(r)
        assert r.exit_code == 2 and "--device cuda" in line and "no CUDA GPU" in line
        assert "--device cpu" in line
        return
    assert one_line_error(r).startswith(expected)


def test_cli_rank_bad_inputs_exit_2(tmp_path):
    y, p, _ = make_problem()
    np.save(tmp_path / "y.npy", y)
    bad = p.copy()
    bad[7, 0] = -0.5
    np.save(tmp_path / "neg.npy", bad)
    line = one_line_error(run_cli("rank", "--pred-probs", tmp_path / "neg.npy", "--labels",
                                  tmp_path / "y.npy", "--out", tmp_path / "o"))
    assert line.startswith(f"Error: {tmp_path / 'neg.npy'}: row 7 column 0 is negative")
    np.save(tmp_path / "p1d.npy", p[:, 0])
    line = one_line_error(run_cli("rank", "--pred-probs", tmp_path / "p1d.npy", "--labels",
                                  tmp_path / "y.npy", "--out", tmp_path / "o"))
    assert "must be 2-D" in line and "p1d.npy" in line
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "y_bad.npy", np.where(np.arange(len(y)) == 9, 5, y))
    line = one_line_error(run_cli("rank", "--pred-probs", tmp_path / "p.npy", "--labels",
                                  tmp_path / "y_bad.npy", "--out", tmp_path / "o"))
    assert "y_bad.npy: row 9 has label 5, outside the 3 classes" in line
    np.save(tmp_path / "y_short.npy", y[:10])
    line = one_line_error(run_cli("rank", "--pred-probs", tmp_path / "p.npy", "--labels",
                                  tmp_path / "y_short.npy", "--out", tmp_path / "o"))
    assert "has 10 rows but pred_probs has 300" in line
    line = one_line_error(run_cli("rank", "--pred-probs", tmp_path / "p.npy", "--out", tmp_path / "o"))
    assert "--pred-probs needs --labels" in line
    line = one_line_error(run_cli("rank"))
    assert "pass a run folder" in line
    line = one_line_error(run_cli("rank", tmp_path / "nothing"))
    assert "run folder" in line and "not found" in line
    assert not (tmp_path / "o" / "ranking.csv").exists()


def test_cli_rank_npy_indices_with_class_names(tmp_path):
    y, p, _ = make_problem()
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "y.npy", y)
    (tmp_path / "classes.json").write_text(json.dumps(CLASSES))
    r = run_cli("rank", "--pred-probs", tmp_path / "p.npy", "--labels", tmp_path / "y.npy",
                "--classes", tmp_path / "classes.json", "--out", tmp_path / "o", "-q")
    assert r.exit_code == 0, r.output
    ranking = pd.read_csv(tmp_path / "o" / "ranking.csv").set_index("row").sort_index()
    assert list(ranking["given_label"]) == list(np.array(CLASSES)[y])
