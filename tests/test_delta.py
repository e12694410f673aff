"""`clean-labels check RUN --manifest CURRENT`: the gate on changed data without retraining.

Two real runs are trained once per module (a tabular run with ids, an image run without) and
copied for each test; every test drives the CLI and looks at the exit code, the printed lines
and RUN/delta/ranking.csv.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cleanlab_lite.cli import main
from tests.conftest import blob_table, write_pngs

FAST_TAB = ["--folds", "3", "--model", "linear", "--epochs", "100", "--lr", "0.1", "--quiet"]
FAST_IMG = ["--folds", "3", "--epochs", "10", "--batch-size", "8", "--quiet"]


def cli(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def tree_hashes(folder: Path, skip: str | None = None) -> dict[str, tuple[str, int]]:
    """{relative path: (sha256, mtime_ns)} of every file under `folder` (but `skip`/...)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_file() and not (skip and rel.startswith(skip + "/")):
            out[rel] = (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
    return out


def delta_ranking(run: Path) -> pd.DataFrame:
    return pd.read_csv(run / "delta" / "ranking.csv", dtype={"id": str, "given_label": str,
                                                             "previous_label": str})


@pytest.fixture(scope="module")
def tab_base(tmp_path_factory):
    """A tabular run trained (with --id-col id) on 3 well separated classes."""
    root = tmp_path_factory.mktemp("tab")
    df = blob_table(n_per_class=40, k=3)
    df.loc[5, "label"] = "eel"                     # one wrong label in the trained data ('cat')
    df.to_csv(root / "base.csv", index=False)
    r = cli("train", root / "base.csv", "--out", root / "run", "--id-col", "id", *FAST_TAB)
    assert r.exit_code == 0, r.output
    assert cli("rank", root / "run").exit_code == 0
    return root


@pytest.fixture
def tab(tab_base, tmp_path):
    """A fresh copy of the tabular run and its base manifest for one test."""
    shutil.copytree(tab_base / "run", tmp_path / "run")
    return tmp_path / "run", pd.read_csv(tab_base / "base.csv")


@pytest.mark.slow
def test_flipped_edits_fail_the_gate_and_name_the_rows(tab, tmp_path):
    run, df = tab
    cur = df.copy()
    cur.loc[[11, 50], "label"] = ["dog", "eel"]    # r011 was cat, r050 was dog
    cur.to_csv(tmp_path / "cur.csv", index=False)
    r = cli("check", run, "--manifest", tmp_path / "cur.csv", "--max-issues", "0")
    assert r.exit_code == 1, r.output
    assert ("Changes since the run (rows matched by id column 'id'): 2 label edited, 0 new, "
            "0 content changed, 0 removed, 118 unchanged; the limits apply to the 2 changed "
            "rows.") in r.output
    assert "row 11 (id r011), edited, was 'cat': given 'dog', suggested 'cat'" in r.output
    assert "row 50 (id r050), edited, was 'dog': given 'eel', suggested 'dog'" in r.output
    assert "FAIL: 2 new issues exceed --max-issues 0." in r.output
    d = delta_ranking(run)
    assert set(d["id"]) == {"r011", "r050"}
    assert d["is_label_issue"].all() and (d["change"] == "edited").all()
    assert list(d.columns[:8]) == ["row", "id", "given_label", "predicted_label",
                                   "suggested_label", "label_quality", "is_label_issue",
                                   "suggested_confidence"]


def test_an_edit_that_fixes_a_wrong_label_passes(tab, tmp_path):
    run, df = tab
    cur = df.copy()
    cur.loc[5, "label"] = "cat"                    # the run was trained with the wrong 'eel'
    cur.to_csv(tmp_path / "cur.csv", index=False)
    r = cli("check", run, "--manifest", tmp_path / "cur.csv", "--max-issues", "0")
    assert r.exit_code == 0, r.output
    assert "PASS: 0 new issues in 1 rows (0.00%)." in r.output
    d = delta_ranking(run)
    assert d[["id", "change", "previous_label", "given_label"]].values.tolist() == [
        ["r005", "edited", "eel", "cat"]]
    assert not d["is_label_issue"].any()


def test_rows_match_by_id_after_the_manifest_is_reordered(tab, tmp_path):
    run, df = tab
    cur = df.sample(frac=1.0, random_state=0).reset_index(drop=True)
    cur.to_csv(tmp_path / "same.csv", index=False)
    r = cli("check", run, "--manifest", tmp_path / "same.csv", "--max-issues", "0")
    assert r.exit_code == 0, r.output
    assert "0 label edited, 0 new, 0 content changed, 0 removed, 120 unchanged" in r.output
    where = int(np.flatnonzero(cur["id"] == "r020")[0])
    cur.loc[where, "label"] = "dog"                # r020 is a 'cat'
    cur.to_csv(tmp_path / "cur.csv", index=False)
    r = cli("check", run, "--manifest", tmp_path / "cur.csv", "--max-issues", "0")
    assert r.exit_code == 1, r.output
    assert f"row {where} (id r020), edited, was 'cat': given 'dog', suggested 'cat'" in r.output


def test_removed_rows_are_reported_and_do_not_fail(tab, tmp_path):
    run, df = tab
    df.drop(index=[3, 4, 100]).to_csv(tmp_path / "cur.csv", index=False)
    r = cli("check", run, "--manifest", tmp_path / "cur.csv", "--max-issues", "0")
    assert r.exit_code == 0, r.output
    assert "0 label edited, 0 new, 0 content changed, 3 removed, 117 unchanged" in r.output
    d = delta_ranking(run)
    assert d[["id", "change", "run_row"]].values.tolist() == [
        ["r003", "removed", 3], ["r004", "removed", 4], ["r100", "removed", 100]]
    assert d["row"].isna().all() and not d["is_label_issue"].any()


def test_only_delta_changes_in_the_run_and_the_manifest_is_untouched(tab, tmp_path):
    run, df = tab
    cur = df.copy()
    cur.loc[11, "label"] = "dog"
    cur.to_csv(tmp_path / "cur.csv", index=False)
    before, manifest_before = tree_hashes(run), tree_hashes(tmp_path, skip="run")
    r = cli("check", run, "--manifest", tmp_path / "cur.csv", "--json", tmp_path / "out" / "c.json",
            "--junit", tmp_path / "out" / "c.xml", "--markdown", tmp_path / "out" / "c.md")
    assert r.exit_code == 0, r.output                # no limit set: the gate cannot fail
    after = tree_hashes(run)
    assert {k: v for k, v in after.items() if not k.startswith("delta/")} == before
    assert sorted(k for k in after if k.startswith("delta/")) == ["delta/ranking.csv",
                                                                   "delta/summary.json"]
    assert tree_hashes(tmp_path, skip="run") == manifest_before | {
        k: v for k, v in tree_hashes(tmp_path, skip="run").items() if k.startswith("out/")}
    res = json.loads((tmp_path / "out" / "c.json").read_text())
    assert res["delta"]["changes"]["edited"] == 1
    assert res["delta"]["flagged_rows"][0]["id"] == "r011"
    assert res["overall"] == {"rows": 1, "flagged": 1, "accepted": 0, "new_issues": 1,
                              "issue_rate": 1.0}
    assert "row 11 (id r011), edited" in (tmp_path / "out" / "c.xml").read_text()
    assert "row 11 (id r011), edited" in (tmp_path / "out" / "c.md").read_text()


def test_a_class_the_run_never_saw_exits_2(tab, tmp_path):
    run, df = tab
    cur = df.copy()
    cur.loc[7, "label"] = "yak"
    cur.to_csv(tmp_path / "cur.csv", index=False)
    r = cli("check", run, "--manifest", tmp_path / "cur.csv")
    assert r.exit_code == 2
    line = r.output.strip().splitlines()[-1]
    for part in (f"Error: manifest {tmp_path / 'cur.csv'} column 'label', row 7: label 'yak'",
                 "(cat, dog, eel)", "retrain: clean-labels train MANIFEST --out NEW_RUN"):
        assert part in line
    assert not (run / "delta").exists()


def test_missing_label_column_or_fold_model_exits_2(tab, tmp_path):
    run, df = tab
    df.drop(columns=["label"]).to_csv(tmp_path / "nolabel.csv", index=False)
    r = cli("check", run, "--manifest", tmp_path / "nolabel.csv")
    assert r.exit_code == 2
    assert r.output.startswith(f"Error: manifest {tmp_path / 'nolabel.csv'} has no label column "
                               f"'label' (--label-col); the gate judges labels")
    (run / "folds" / "fold-1" / "model.pt").unlink()
    df.to_csv(tmp_path / "cur.csv", index=False)
    r = cli("check", run, "--manifest", tmp_path / "cur.csv")
    assert r.exit_code == 2
    assert r.output.strip() == (
        f"Error: {run / 'folds' / 'fold-1'} has no finished fold model (model.pt or model.joblib, "
        f"and done.json); predicting needs every fold: finish the run with `clean-labels train "
        f"MANIFEST --out {run}`")


@pytest.mark.slow
def test_tabular_rows_without_ids_match_by_feature_values(tmp_path):
    df = blob_table(n_per_class=30, k=2).drop(columns=["id"])
    df.to_csv(tmp_path / "base.csv", index=False)
    assert cli("train", tmp_path / "base.csv", "--out", tmp_path / "run", *FAST_TAB).exit_code == 0
    cur = df.iloc[::-1].reset_index(drop=True)
    cur.loc[0, "f0"] += 1.0                         # features changed: a new row, the old removed
    cur.loc[1, "label"] = "dog" if cur.loc[1, "label"] == "cat" else "cat"
    cur.to_csv(tmp_path / "cur.csv", index=False)
    r = cli("check", tmp_path / "run", "--manifest", tmp_path / "cur.csv")
    assert r.exit_code == 0, r.output
    assert ("rows matched by feature values): 1 label edited, 1 new, 0 content changed, "
            "1 removed, 58 unchanged") in r.output
    d = delta_ranking(tmp_path / "run").set_index("change")
    assert d.loc["edited", "row"] == 1 and d.loc["new", "row"] == 0
    assert d.loc["removed", "run_row"] == 59 and pd.isna(d.loc["removed", "row"])


# ---- images: matched by path; new rows go through the fold ensemble ---------------------------


@pytest.fixture(scope="module")
def img_base(tmp_path_factory):
    """An image run on 3 obvious classes (path matching, no ids) and spare images not in it."""
    root = tmp_path_factory.mktemp("img")
    df = write_pngs(root / "img", n_per_class=24, k=3)
    df["cls"] = df["label"]
    spare = df.groupby("cls").tail(4).drop(columns="cls")         # never trained on
    base = df.drop(index=spare.index).drop(columns="cls")
    base.to_csv(root / "base.csv", index=False)
    spare.to_csv(root / "spare.csv", index=False)
    r = cli("train", root / "base.csv", "--out", root / "run", *FAST_IMG)
    assert r.exit_code == 0, r.output
    return root


@pytest.mark.slow
def test_new_images_are_predicted_by_the_fold_models_without_retraining(img_base, tmp_path):
    root = img_base
    shutil.copytree(root / "run", tmp_path / "run")
    run = tmp_path / "run"
    base, spare = pd.read_csv(root / "base.csv"), pd.read_csv(root / "spare.csv")
    wrong = [8, 9, 10]                                        # class2 rows, labeled class0
    spare.loc[wrong, "label"] = spare.loc[wrong, "label"].map(
        {"class0": "class1", "class1": "class2", "class2": "class0"})
    pd.concat([base, spare]).to_csv(root / "cur.csv", index=False)
    folds_before = tree_hashes(run / "folds")
    r = cli("check", run, "--manifest", root / "cur.csv", "--max-issue-rate", "10%")
    assert r.exit_code == 1, r.output
    assert ("rows matched by image path column 'path'): 0 label edited, 12 new, 0 content "
            "changed, 0 removed, 60 unchanged") in r.output
    assert tree_hashes(run / "folds") == folds_before          # no fold was retrained
    d = delta_ranking(run)
    flagged = set(d.loc[d["is_label_issue"], "row"])
    assert flagged == {60 + i for i in wrong}                  # exactly the wrong new labels
    assert (d["change"] == "new").all() and len(d) == 12


def test_a_changed_image_file_is_content_changed(img_base, tmp_path):
    root = img_base
    shutil.copytree(root / "run", tmp_path / "run")
    shutil.copytree(root / "img", tmp_path / "img")
    base = pd.read_csv(root / "base.csv")
    shutil.copy(tmp_path / "img" / "c2_000.png", tmp_path / "img" / "c0_000.png")
    base.to_csv(tmp_path / "cur.csv", index=False)             # paths relative to tmp_path
    r = cli("check", tmp_path / "run", "--manifest", tmp_path / "cur.csv", "--max-issues", "0")
    assert r.exit_code == 1, r.output
    assert "0 label edited, 0 new, 1 content changed, 0 removed, 59 unchanged" in r.output
    assert "row 0, content_changed: given 'class0', suggested 'class2'" in r.output


def test_predict_writes_the_fold_ensemble_probabilities(img_base, tmp_path):
    root = img_base
    spare = pd.read_csv(root / "spare.csv")
    spare.drop(columns=["label"]).to_csv(root / "unlabeled.csv", index=False)
    r = cli("predict", root / "run", root / "unlabeled.csv", "--out", tmp_path / "p.npy")
    assert r.exit_code == 0, r.output
    assert r.output.startswith(f"Wrote {tmp_path / 'p.npy'}: 12 rows x 3 classes, the mean of 3 "
                               "fold models (image)")
    p = np.load(tmp_path / "p.npy")
    assert p.dtype == np.float32 and p.shape == (12, 3)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    classes = json.loads((root / "run" / "classes.json").read_text())
    assert [classes[i] for i in p.argmax(axis=1)] == spare["label"].tolist()
    r = cli("predict", root / "run", root / "unlabeled.csv", "--out",
            root / "run" / "pred_probs.npy")
    assert r.exit_code == 2 and "is a file of run folder" in r.output


# ---- every kind of fold model in the package ---------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("model", ["hgb", "logreg", "mlp"])
def test_tabular_models_of_every_kind_judge_new_rows(model, tmp_path):
    df = blob_table(n_per_class=30, k=3)
    spare = df.groupby("label").tail(2)
    base = df.drop(index=spare.index)
    base.to_csv(tmp_path / "base.csv", index=False)
    r = cli("train", tmp_path / "base.csv", "--out", tmp_path / "run", "--id-col", "id",
            "--model", model, "--folds", "3", "--quiet")
    assert r.exit_code == 0, r.output
    cur = pd.concat([base, spare])
    wrong = spare.index[0]                            # a 'cat' row, given 'eel'
    cur.loc[wrong, "label"] = "eel"
    cur.to_csv(tmp_path / "cur.csv", index=False)
    r = cli("check", tmp_path / "run", "--manifest", tmp_path / "cur.csv", "--max-issues", "0")
    assert r.exit_code == 1, r.output
    assert "0 label edited, 6 new, 0 content changed, 0 removed, 84 unchanged" in r.output
    assert f"(id {df.loc[wrong, 'id']}), new: given 'eel', suggested 'cat'" in r.output
    d = delta_ranking(tmp_path / "run")
    assert d.loc[d["is_label_issue"], "id"].tolist() == [df.loc[wrong, "id"]]
    spare.drop(columns=["label"]).to_csv(tmp_path / "unlabeled.csv", index=False)
    r = cli("predict", tmp_path / "run", tmp_path / "unlabeled.csv", "--out", tmp_path / "p.npy")
    assert r.exit_code == 0, r.output
    p = np.load(tmp_path / "p.npy")
    assert p.shape == (6, 3) and np.allclose(p.sum(axis=1), 1.0, atol=1e-5)
    assert [["cat", "dog", "eel"][i] for i in p.argmax(axis=1)] == spare["label"].tolist()


@pytest.mark.slow
def test_embed_once_runs_embed_new_images_as_training_did(tmp_path):
    from cleanlab_lite.predict import FoldEnsemble
    from cleanlab_lite.data.like_run import run_rows

    df = write_pngs(tmp_path / "img", n_per_class=10, k=2, size=32)
    df.to_csv(tmp_path / "base.csv", index=False)
    r = cli("train", tmp_path / "base.csv", "--out", tmp_path / "run", "--backbone", "resnet18",
            "--head", "logreg", "--folds", "2", "--quiet")
    assert r.exit_code == 0, r.output
    cached = np.load(next((tmp_path / "run" / "cache").glob("embed-*.npy")))
    ens = FoldEnsemble.load(tmp_path / "run")
    import torch
    again = ens._embed(run_rows(tmp_path / "run").X, torch.device("cpu"))
    np.testing.assert_allclose(again, cached, rtol=1e-4, atol=1e-5)
    df.drop(columns=["label"]).to_csv(tmp_path / "unlabeled.csv", index=False)
    r = cli("predict", tmp_path / "run", tmp_path / "unlabeled.csv", "--out", tmp_path / "p.npy")
    assert r.exit_code == 0, r.output
    assert np.load(tmp_path / "p.npy").shape == (20, 2)
