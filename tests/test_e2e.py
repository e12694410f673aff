"""End to end through the CLI on tiny data: the flipped labels come out on top, exports are exact."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cleanlab_lite.cli import main
from tests.conftest import blob_table, write_pngs

FLIPPED = [5, 47, 88, 101]


def cli(*args):
    r = CliRunner().invoke(main, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r


@pytest.fixture(scope="module")
def tabular_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    df = blob_table(n_per_class=40, k=3)
    truth = df["label"].copy()
    swap = {"cat": "dog", "dog": "eel", "eel": "cat"}
    df.loc[FLIPPED, "label"] = df.loc[FLIPPED, "label"].map(swap)
    manifest = tmp / "noisy.csv"
    df.to_csv(manifest, index=False)
    before = manifest.read_bytes()
    run = tmp / "run"
    cli("train", manifest, "--out", run, "--id-col", "id", "--quiet")
    cli("rank", run)
    assert manifest.read_bytes() == before  # no command modifies its input
    return tmp, manifest, run, df, truth


@pytest.mark.slow
def test_run_folder_contract(tabular_run):
    _, _, run, df, _ = tabular_run
    pp = np.load(run / "pred_probs.npy")
    assert pp.dtype == np.float32 and pp.shape == (120, 3)
    np.testing.assert_allclose(pp.sum(1), 1, atol=1e-5)
    rows = pd.read_parquet(run / "rows.parquet")
    assert rows["row"].tolist() == list(range(120)) and set(rows["fold"]) == set(range(5))
    assert list(rows.columns[:2]) == ["row", "id"]
    assert json.loads((run / "classes.json").read_text()) == ["cat", "dog", "eel"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["oof"]["accuracy"] > 0.9
    assert (run / "config.yaml").is_file()
    assert not list(run.rglob("*.tmp"))


def test_flipped_rows_rank_on_top(tabular_run):
    _, _, run, _, truth = tabular_run
    ranking = pd.read_csv(run / "ranking.csv", keep_default_na=False)
    assert list(ranking.columns[:7]) == ["row", "id", "given_label", "predicted_label",
                                         "suggested_label", "label_quality", "is_label_issue"]
    assert set(ranking["row"].head(len(FLIPPED))) == set(FLIPPED)
    top = ranking.head(len(FLIPPED)).set_index("row")
    assert (top["suggested_label"] == truth[top.index]).all()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["n"] == 120 and summary["k"] == 3
    assert summary["num_flagged"] >= len(FLIPPED)


def test_export_drop_top_and_relabel(tabular_run):
    tmp, _, run, df, truth = tabular_run
    r = cli("export", run, "--drop-top", str(len(FLIPPED)), "--out", tmp / "clean.csv")
    assert "Wrote" in r.output
    out = pd.read_csv(tmp / "clean.csv")
    assert len(out) == 116 and not set(df["id"][FLIPPED]) & set(out["id"])
    cli("export", run, "--relabel", "--min-confidence", "0.5", "--out", tmp / "relabeled.parquet",
        "--format", "parquet")
    rel = pd.read_parquet(tmp / "relabeled.parquet")
    assert len(rel) == 120
    changed = rel[rel["original_label"].notna()]
    assert set(FLIPPED) <= set(changed.index)
    assert (rel.loc[FLIPPED, "label"] == truth[FLIPPED]).all()


def test_rerun_skips_finished_folds(tabular_run):
    _, manifest, run, _, _ = tabular_run
    marker = run / "folds" / "fold-0" / "done.json"
    stamp = marker.stat().st_mtime_ns
    cli("train", manifest, "--out", run, "--id-col", "id", "--quiet")
    assert marker.stat().st_mtime_ns == stamp


@pytest.mark.slow
def test_images_end_to_end(tmp_path):
    df = write_pngs(tmp_path / "img", n_per_class=20, k=2)
    df.loc[[3, 20], "label"] = df.loc[[3, 20], "label"].map({"class0": "class1", "class1": "class0"})
    manifest = tmp_path / "m.jsonl"
    df.to_json(manifest, orient="records", lines=True)
    run = tmp_path / "run"
    cli("train", manifest, "--out", run, "--quiet", "--folds", "3", "--epochs", "15",
        "--batch-size", "8")
    cli("rank", run)
    ranking = pd.read_csv(run / "ranking.csv")
    assert set(ranking["row"].head(2)) == {3, 20}
    cli("export", run, "--drop-flagged")
    out = pd.read_json(run / "cleaned.jsonl", lines=True)
    flagged = ranking.loc[ranking["is_label_issue"], "row"]
    assert len(out) == 40 - len(flagged)


@pytest.mark.slow
def test_skip_bad_lists_rows_and_keeps_row_numbers(tmp_path):
    df = write_pngs(tmp_path / "img", n_per_class=10, k=2)
    (tmp_path / "img" / "c0_002.png").write_bytes(b"\x89PNG broken")
    (tmp_path / "img" / "c1_004.png").unlink()
    manifest = tmp_path / "m.csv"
    df.to_csv(manifest, index=False)
    run = tmp_path / "run"
    r = CliRunner().invoke(main, ["train", str(manifest), "--out", str(run), "--quiet"])
    assert r.exit_code == 2 and "row 2: image" in r.output and "--skip-bad" in r.output
    assert not (run / "pred_probs.npy").exists()
    cli("train", manifest, "--out", run, "--quiet", "--skip-bad", "--folds", "3", "--epochs", "2")
    skipped = pd.read_csv(run / "skipped.csv")
    assert skipped["row"].tolist() == [2, 14]
    assert np.load(run / "pred_probs.npy").shape == (18, 2)
    cli("rank", run)
    ranking = pd.read_csv(run / "ranking.csv")
    assert sorted(ranking["row"]) == [i for i in range(20) if i not in (2, 14)]
    cli("export", run, "--drop-top", "1", "--out", tmp_path / "clean.csv")
    out = pd.read_csv(tmp_path / "clean.csv")
    dropped = int(ranking["row"].iloc[0])
    assert out["path"].tolist() == [p for i, p in enumerate(df["path"]) if i not in (2, 14, dropped)]
