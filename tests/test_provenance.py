"""Provenance through the CLI: a ranking is used only with the pred_probs, labels and rows it was
computed from; a stale, partial or foreign one is refused with exit 2 and the command to run, and
no file of the run or its inputs changes."""
from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from cleanlab_lite.cli import main
from cleanlab_lite.run import Run
from tests.expect import assert_refused
from tests.conftest import blob_table

TRAIN = ("--folds", "2", "--epochs", "30", "--model", "linear", "--quiet", "--id-col", "id")


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def hashes(*folders_or_files) -> dict:
    out = {}
    for p in folders_or_files:
        files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file())
        out.update({str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files})
    return out


@pytest.fixture(scope="module")
def ranked(tmp_path_factory):
    """A real train + rank of 60 tabular rows (a linear model, 2 folds, 30 epochs)."""
    tmp = tmp_path_factory.mktemp("prov")
    manifest = tmp / "m.csv"
    blob_table(n_per_class=20).to_csv(manifest, index=False)
    run = tmp / "run"
    r = cli("train", manifest, "--out", run, *TRAIN)
    assert r.exit_code == 0, r.output
    r = cli("rank", run)
    assert r.exit_code == 0, r.output
    return tmp, manifest, run


@pytest.fixture
def run_copy(ranked, tmp_path):
    _, manifest, run = ranked
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    return manifest, copy


def refused(args, run, line):
    before = hashes(run)
    r = cli(*args)
    assert_refused(r, line)
    assert hashes(run) == before


def test_a_fresh_ranking_is_used(run_copy):
    _, run = run_copy
    r = cli("check", run, "--max-issue-rate", "50%")
    assert r.exit_code == 0, r.output
    summary = Run(run).read_summary()
    assert set(summary["provenance"]["inputs"]) == {"pred_probs.npy", "labels.npy", "rows.parquet",
                                                    "classes.json"}


def test_retrain_without_rank_is_refused_downstream_and_by_rank(run_copy, tmp_path):
    """A retrain on a grown manifest, interrupted after one fold: rows.parquet and labels.npy are
    new, pred_probs.npy and ranking.csv are the old ones."""
    _, run = run_copy
    grown = tmp_path / "grown.csv"
    blob_table(n_per_class=22).to_csv(grown, index=False)
    r = cli("train", grown, "--out", run, *TRAIN, "--fold", "0")
    assert r.exit_code == 0, r.output
    stale = (f"{run / 'ranking.parquet'} was not computed from the current {run / 'labels.npy'} (train "
             f"ran again, or the ranking came from other --pred-probs); rerun `clean-labels rank {run}`")
    refused(("export", run, "--drop-flagged", "--out", tmp_path / "clean.csv"), run, stale)
    assert not (tmp_path / "clean.csv").exists()
    refused(("check", run, "--max-issue-rate", "2%"), run, stale)
    refused(("report", run), run, stale)
    refused(("rank", run), run,
            f"{run / 'config.yaml'} records no finished train (interrupted, still running, or "
            f"written by an older version); run `clean-labels train MANIFEST --out {run}` to the "
            f"end (finished folds are reused)")


def test_changed_pred_probs_are_refused_by_rank_and_downstream(run_copy):
    _, run = run_copy
    pp = np.load(run / "pred_probs.npy")
    np.save(run / "pred_probs.npy", pp[:, ::-1].copy())       # someone else's file
    refused(("rank", run), run,
            f"{run / 'pred_probs.npy'} is not the file train recorded in {run / 'config.yaml'} "
            f"(changed since, or left by an interrupted train); run `clean-labels train MANIFEST "
            f"--out {run}` to the end (finished folds are reused)")
    refused(("check", run), run,
            f"{run / 'ranking.parquet'} was not computed from the current {run / 'pred_probs.npy'} (train "
            f"ran again, or the ranking came from other --pred-probs); rerun `clean-labels rank {run}`")


@pytest.mark.parametrize("cut", ["header", "half"])
def test_truncated_ranking_is_refused(run_copy, tmp_path, cut):
    _, run = run_copy
    data = (run / "ranking.parquet").read_bytes()
    (run / "ranking.parquet").write_bytes(data[:8] if cut == "header" else data[: len(data) // 2])
    line = (f"{run / 'ranking.parquet'} is not the file {run / 'summary.json'} records (an interrupted or "
            f"concurrent `rank`, or an edited file); rerun `clean-labels rank {run}`")
    refused(("check", run, "--max-issue-rate", "2%"), run, line)
    refused(("export", run, "--drop-top", "10%", "--out", tmp_path / "c.csv"), run, line)


def test_ranking_without_summary_is_partial(run_copy):
    _, run = run_copy
    (run / "summary.json").unlink()
    refused(("check", run), run, f"{run / 'ranking.parquet'} has no summary.json beside it (an "
                                 f"interrupted `rank`?); rerun `clean-labels rank {run}`")


def test_foreign_pred_probs_cannot_be_ranked_into_a_train_run(run_copy, tmp_path):
    """rank --pred-probs (N=100, K=3) written into a 60-row train run."""
    _, run = run_copy
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(3), 100).astype(np.float32)
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "y.npy", p.argmax(1))
    before = hashes(tmp_path / "p.npy", tmp_path / "y.npy")
    refused(("rank", "--pred-probs", tmp_path / "p.npy", "--labels", tmp_path / "y.npy", "--out", run),
            run, f"--out {run} is a train run folder; rank it with `clean-labels rank {run}`, or write "
                 f"the ranking of --pred-probs to a new folder")
    assert hashes(tmp_path / "p.npy", tmp_path / "y.npy") == before


def test_empty_pred_probs_are_refused(tmp_path):
    np.save(tmp_path / "p.npy", np.zeros((0, 3), dtype=np.float32))
    np.save(tmp_path / "y.npy", np.zeros(0, dtype=np.int64))
    r = cli("rank", "--pred-probs", tmp_path / "p.npy", "--labels", tmp_path / "y.npy", "--out",
            tmp_path / "o")
    assert (r.exit_code, r.output) == (2, f"Error: {tmp_path / 'p.npy'} has shape (0, 3); pred_probs "
                                          "needs at least one row and two class columns (N >= 1, K >= 2)\n")
    assert not (tmp_path / "o").exists()


def test_config_without_manifest_format_is_one_line(run_copy, tmp_path):
    import yaml

    _, run = run_copy
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    del cfg["manifest_format"]
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    refused(("export", run, "--drop-flagged", "--out", tmp_path / "c.csv"), run,
            f"{run / 'config.yaml'} lacks manifest_format; it was not written by `clean-labels train`, "
            f"rerun `clean-labels train MANIFEST --out {run}` to rewrite it")


def test_near_chance_model_and_most_rows_flagged_warn(tmp_path):
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 50)
    p = rng.dirichlet(np.ones(4) * 5, len(y)).astype(np.float32)     # a model at chance level
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "y.npy", y)
    r = cli("rank", "--pred-probs", tmp_path / "p.npy", "--labels", tmp_path / "y.npy", "--out",
            tmp_path / "o")
    assert r.exit_code == 0, r.output
    warnings = {w["code"]: w for w in Run(tmp_path / "o").read_summary()["warnings"]}
    acc = float((p.argmax(1) == y).mean())
    near = warnings["near_chance"]
    assert near["oof_accuracy"] == pytest.approx(acc) and near["chance"] == 0.25
    assert f"out-of-fold accuracy {acc:.1%} is near chance" in near["message"]
    assert f"Warning: {near['message']}\n" in r.output
    assert "weak_model" not in warnings                 # near chance already says it
    if Run(tmp_path / "o").read_summary()["num_flagged"] > 100:
        assert "more than half" in warnings["most_rows_flagged"]["message"]


def test_a_good_model_gives_no_warning(ranked):
    _, _, run = ranked
    assert Run(run).read_summary()["warnings"] == []
