"""scikit-learn fold models (hgb, logreg) through the CLI and the library: flipped rows rank on
top, --fold then merge, resume, missing values, weights, options that do not apply, and no torch."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cleanlab_lite.cli import main
from cleanlab_lite.config import TrainConfig
from cleanlab_lite.data.dataset import Dataset
from cleanlab_lite.train import choose, train_folds, weighting
from cleanlab_lite.train.sklearn_models import WeightedKNN, _sample_weight, knn_votes
from tests.conftest import run_python
from tests.trainsets import FLIPPED, noisy_manifest

def cli(*args, code: int = 0):
    r = CliRunner().invoke(main, [str(a) for a in args])
    assert r.exit_code == code, r.output
    return r


@pytest.mark.slow
@pytest.mark.parametrize("model", ["hgb", "logreg", "knn", "hgb+logreg", "hgb+logreg+knn", "auto"])
def test_each_model_end_to_end_flipped_rows_rank_on_top(tmp_path, model):
    manifest = noisy_manifest(tmp_path)
    run = tmp_path / "run"
    cli("train", manifest, "--out", run, "--model", model, "--folds", 3, "--quiet")
    cli("rank", run)
    ranking = pd.read_csv(run / "ranking.csv")
    assert set(ranking["row"].head(len(FLIPPED))) == set(FLIPPED)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["model"] == ("hgb+logreg+knn" if model == "auto" else model)
    assert metrics["device"] == "cpu" and len(metrics["per_fold"]) == 3
    assert {f.name for f in (run / "folds" / "fold-0").iterdir()} == {
        "model.joblib", "oof_probs.npy", "oof_rows.npy", "done.json"}


@pytest.mark.slow
def test_training_hgb_does_not_import_torch(tmp_path):
    manifest = noisy_manifest(tmp_path)
    code = (
        "import sys\n"
        "from cleanlab_lite.cli import main\n"
        f"main(['train', {str(manifest)!r}, '--out', {str(tmp_path / 'run')!r}, '--model', 'hgb',"
        " '--folds', '3', '--quiet'], standalone_mode=False)\n"
        "print('torch imported:', 'torch' in sys.modules)\n")
    out = run_python(code, timeout=120)
    assert "torch imported: False" in out
    assert (tmp_path / "run" / "pred_probs.npy").is_file()


@pytest.mark.slow
def test_fold_then_merge_and_resume(tmp_path):
    manifest = noisy_manifest(tmp_path)
    run = tmp_path / "run"
    r = cli("train", manifest, "--out", run, "--model", "hgb", "--folds", 3, "--fold", 1, "--quiet")
    assert "Fold 1 done" in r.output and not (run / "pred_probs.npy").exists()
    assert [d.name for d in (run / "folds").iterdir()] == ["fold-1"]
    fold1 = (run / "folds" / "fold-1" / "done.json").read_bytes()
    cli("train", manifest, "--out", run, "--model", "hgb", "--folds", 3, "--quiet")
    m = json.loads((run / "metrics.json").read_text())
    assert (m["trained_folds"], m["reused_folds"]) == (2, 1)
    assert (run / "folds" / "fold-1" / "done.json").read_bytes() == fold1
    first = np.load(run / "pred_probs.npy")
    cli("train", manifest, "--out", run, "--model", "hgb", "--folds", 3, "--quiet")
    m = json.loads((run / "metrics.json").read_text())
    assert (m["trained_folds"], m["reused_folds"]) == (0, 3) and m["model"] == "hgb"
    np.testing.assert_array_equal(np.load(run / "pred_probs.npy"), first)
    # another model is other settings: every fold retrains
    cli("train", manifest, "--out", run, "--model", "logreg", "--folds", 3, "--quiet")
    m = json.loads((run / "metrics.json").read_text())
    assert (m["trained_folds"], m["reused_folds"]) == (3, 0)


def test_missing_values_train_with_hgb_and_are_an_error_for_others(tmp_path):
    manifest = noisy_manifest(tmp_path, nan_row=17)
    cli("train", manifest, "--out", tmp_path / "auto", "--folds", 3, "--quiet")
    assert json.loads((tmp_path / "auto" / "metrics.json").read_text())["model"] == "hgb"
    assert np.isfinite(np.load(tmp_path / "auto" / "pred_probs.npy")).all()
    r = cli("train", manifest, "--out", tmp_path / "lr", "--model", "logreg", code=2)
    assert r.output.strip() == (
        f"Error: manifest {manifest}, row 17: feature 'f1' is nan (NaN or infinite); fill or drop "
        "such rows before training, or use --model hgb, which handles missing values")
    assert not (tmp_path / "lr").exists()


@pytest.mark.parametrize("flags, line", [
    (["--model", "hgb", "--loss", "gce"],
     "Error: --loss does not apply to --model hgb (a scikit-learn model); drop --loss or use a "
     "torch model such as --model mlp or linear"),
    (["--model", "logreg", "--epochs", "5"],
     "Error: --epochs does not apply to --model logreg (a scikit-learn model); drop --epochs or "
     "use a torch model such as --model mlp or linear"),
    (["--model", "cnn"],
     "Error: --model cnn does not fit tabular data; use one of auto, hgb, logreg, knn, hgb+logreg, "
     "hgb+logreg+knn, mlp, linear"),
    (["--head", "hgb"],
     "Error: --head hgb applies only with --backbone NAME (embed the images once, then train the "
     "head); use --model without --backbone"),
])
def test_options_that_do_not_fit_are_one_line_errors(tmp_path, flags, line):
    manifest = noisy_manifest(tmp_path)
    r = cli("train", manifest, "--out", tmp_path / "run", *flags, code=2)
    assert r.output.strip() == line
    assert not (tmp_path / "run").exists()


def test_weights_balance_and_class_weights_reach_the_estimator(tmp_path):
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], [90, 30])
    X = (rng.normal(0, 1, (120, 3)) + 3 * y[:, None]).astype(np.float32)
    w = np.where(np.arange(120) % 7 == 0, 0.0, 1.0).astype(np.float32)
    ds = Dataset("tabular", X, y.astype(np.int64), ["a", "b"], weights=w)
    rows = np.arange(120)
    sw = _sample_weight(ds, TrainConfig(class_weight="inverse"), rows)
    # inverse class weights scaled to mean 1 over the rows (a: 120/180, b: 120/60), times --weight-col
    np.testing.assert_allclose(sw, np.where(y == 0, 120 / 180, 2.0) * w, rtol=1e-6)
    over = weighting.balanced_rows(rows, y, "oversample", np.random.default_rng(0))
    assert np.bincount(y[over]).tolist() == [90, 90] and set(rows[y == 1]) <= set(over)
    under = weighting.balanced_rows(rows, y, "undersample", np.random.default_rng(0))
    assert np.bincount(y[under]).tolist() == [30, 30] and len(set(under)) == 60
    folds = np.arange(120) % 3
    for model in ("hgb", "logreg", "knn"):
        cfg = TrainConfig(folds=3, model=model, class_weight="inverse", balance="none", quiet=True)
        res = train_folds(ds, folds, cfg, tmp_path / model)
        assert res.metrics["oof"]["balanced_accuracy"] > 0.9
        cfg = TrainConfig(folds=3, model=model, balance="oversample", quiet=True)
        assert train_folds(ds, folds, cfg, tmp_path / f"{model}-os").metrics["oof"]["accuracy"] > 0.9


def test_auto_choice():
    def ds(kind, n):
        return Dataset(kind, np.zeros((n, 2), np.float32), np.zeros(n, np.int64), ["a"])

    assert choose.choose_model("auto", ds("tabular", 500)) == "hgb+logreg+knn"
    assert choose.choose_model("auto", ds("tabular", choose.HGB_MIN_ROWS)) == "hgb"
    assert choose.choose_model("auto", ds("embedding", choose.HGB_MIN_ROWS)) == "logreg"
    for opts in ({"gpus_per_fold": 1}, {"epochs": 3}, {"loss": "gce"}, {"batch_size": 64}):
        assert choose.choose_model("auto", ds("tabular", 500), TrainConfig(**opts)) == "mlp"
    with_nan = ds("embedding", 500)
    with_nan.X[1, 1] = np.nan
    assert choose.choose_model("auto", with_nan) == "hgb"
    assert choose.choose_model("auto", with_nan, TrainConfig(backend="ray")) == "hgb"
    assert choose.choose_model("MLP", ds("tabular", 4)) == "mlp"


def test_knn_votes_weight_by_inverse_distance_and_exact_matches_vote_alone():
    dist = np.array([[1.0, 2.0, 4.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    labels = np.array([[0, 1, 1], [1, 0, 0], [0, 1, 2]])
    weights = np.array([[1.0, 1.0, 1.0], [1.0, 3.0, 1.0], [0.0, 0.0, 0.0]])
    p = knn_votes(dist, labels, weights, 3)
    np.testing.assert_allclose(p[0], [1 / 1.75, 0.75 / 1.75, 0.0])   # 1/1 against 1/2 + 1/4
    np.testing.assert_allclose(p[1], [0.75, 0.25, 0.0])              # only the two at distance 0
    np.testing.assert_allclose(p[2], [1 / 3] * 3)                    # no weight at all: uniform


def test_weighted_knn_matches_scikit_learn_and_takes_row_weights():
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(1)
    y = np.repeat([0, 1, 2], 40)
    X = rng.normal(0, 1, (120, 4)) * [1, 10, 100, 0.1] + y[:, None]
    Xq = rng.normal(0, 1, (30, 4)) * [1, 10, 100, 0.1] + 1
    ours = WeightedKNN(15).fit(X, y)
    ref = make_pipeline(StandardScaler(), KNeighborsClassifier(15, weights="distance")).fit(X, y)
    np.testing.assert_allclose(ours.predict_proba(Xq), ref.predict_proba(Xq), atol=1e-12)
    # weight 0 on every class-2 row: class 2 gets no probability anywhere
    w = np.where(y == 2, 0.0, 1.0)
    assert WeightedKNN(15).fit(X, y, sample_weight=w).predict_proba(Xq)[:, 2].max() == 0.0
