"""Warnings that say when the flags cannot be trusted, on constructed pred_probs."""
from __future__ import annotations

import pytest

import numpy as np
from click.testing import CliRunner

from cleanlab_lite.cli import main
from cleanlab_lite.rank import rank_arrays
from cleanlab_lite.run import Run
from cleanlab_lite.scoring.trust import flag_warnings


def model_probs(y: np.ndarray, k: int, accuracy: float, seed: int = 0) -> np.ndarray:
    """Out-of-fold-like pred_probs (N, K): the true class on top for about `accuracy` of the
    rows (a random other class otherwise), with softly spread probabilities."""
    rng = np.random.default_rng(seed)
    top = np.where(rng.random(len(y)) < accuracy, y, (y + rng.integers(1, k, len(y))) % k)
    logits = rng.normal(0, 1, (len(y), k))
    logits[np.arange(len(y)), top] += 3.0
    p = np.exp(logits)
    return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)


def flip(y: np.ndarray, k: int, n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(y), n, replace=False)
    noisy = y.copy()
    noisy[rows] = (y[rows] + rng.integers(1, k, n)) % k
    return noisy, rows


def codes(summary: dict) -> set[str]:
    return {w["code"] for w in summary["warnings"]}


def test_a_strong_model_on_clean_enough_data_gives_no_warning(tmp_path):
    k = 10
    y = np.repeat(np.arange(k), 200)
    p = model_probs(y, k, accuracy=0.97)
    noisy, _ = flip(y, k, 40)
    summary = rank_arrays(p, noisy, tmp_path / "o")
    assert summary["num_flagged"] > 0
    assert summary["warnings"] == []


def test_a_weak_model_table_warns_and_rank_prints_it(tmp_path):
    k = 4
    y = np.repeat(np.arange(k), 600)
    truth = y.copy()
    p = model_probs(truth, k, accuracy=0.55, seed=3)
    noisy, _ = flip(y, k, 200)
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "y.npy", noisy)
    r = CliRunner().invoke(main, ["rank", "--pred-probs", str(tmp_path / "p.npy"), "--labels",
                                  str(tmp_path / "y.npy"), "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    summary = Run(tmp_path / "o").read_summary()
    found = {w["code"]: w for w in summary["warnings"]}
    assert {"weak_model", "confuses_every_class"} <= set(found)
    weak = found["weak_model"]
    assert weak["oof_accuracy"] < 0.6 and weak["flagged_rate"] >= 0.5 * weak["oof_accuracy"]
    assert f"Warning: {weak['message']}" in r.output


def test_a_class_the_model_never_learned_is_named():
    k = 3
    y = np.repeat(np.arange(k), 100)
    p = model_probs(y, k, accuracy=0.95)
    p[y == 2, 2] = 0.001                       # class 2: weighted 0 in training, never predicted
    p /= p.sum(axis=1, keepdims=True)
    issues = np.zeros(len(y), dtype=bool)
    issues[y == 2] = True
    found = flag_warnings(y, p.argmax(axis=1), issues, ["a", "b", "c"])
    never = [w for w in found if w["code"] == "class_never_learned"]
    assert len(never) == 1 and never[0]["class_name"] == "c" and never[0]["flagged"] == 100
    assert "'c'" in never[0]["message"] and "--weight-col" in never[0]["message"]
    assert not any(w["code"] == "class_mostly_flagged" for w in found)   # not said twice


def test_a_class_with_most_rows_flagged_is_named():
    k = 3
    y = np.repeat(np.arange(k), 100)
    pred = y.copy()
    pred[200:260] = 0                           # 60 of class 2 predicted as class 0
    issues = np.zeros(len(y), dtype=bool)
    issues[200:260] = True
    found = flag_warnings(y, pred, issues, ["a", "b", "c"])
    assert [(w["code"], w["class_name"], w["flagged"]) for w in found] == [
        ("class_mostly_flagged", "c", 60)]


@pytest.mark.slow
def test_the_report_shows_the_warnings_at_the_top(tmp_path):
    import html

    from cleanlab_lite.report import build_report

    k = 4
    y = np.repeat(np.arange(k), 150)
    noisy, _ = flip(y, k, 50)
    summary = rank_arrays(model_probs(y, k, accuracy=0.5, seed=5), noisy, tmp_path / "o")
    assert summary["warnings"]
    page = build_report(tmp_path / "o", progress=False).html_path.read_text(encoding="utf-8")
    first = page.index(html.escape(summary["warnings"][0]["message"]))
    assert first < page.index('<div class="cards">') and 'role="alert"' in page
