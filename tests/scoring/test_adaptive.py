"""The adaptive flag count (filter_by="adaptive", the default) on constructed cases: a sharp model
where confident learning collapses, sparse noise where it must not over-flag, human-like noise on
ambiguous rows where confident learning under-counts; and its parts (temperature fit, sampling)."""
from __future__ import annotations

import numpy as np
import pytest

import cleanlab_lite.scoring as S
from cleanlab_lite.scoring import adaptive
from cleanlab_lite.scoring.engine import Engine


def _probs(true, top, k, rng, second=None, second_p=None):
    """Rows with probability `top` on `true`, the rest spread over the other classes (or
    `second_p` on class `second` where given)."""
    n = len(true)
    p = np.zeros((n, k))
    others = (true[:, None] + 1 + np.arange(k - 1)[None, :]) % k
    np.put_along_axis(p, others, (1 - top)[:, None] * rng.dirichlet(np.ones(k - 1), n), axis=1)
    p[np.arange(n), true] = top
    if second is not None:
        rows = np.flatnonzero(second >= 0)
        p[rows] *= ((1 - second_p[rows]) / (1 - p[rows, second[rows]]))[:, None]
        p[rows, second[rows]] = second_p[rows]
    return p / p.sum(axis=1, keepdims=True)


def _next_class_flips(n, k, rate, rng):
    """(true, given, flipped rows): random true classes, `rate` of them labeled the next class."""
    true = rng.integers(0, k, n)
    given = true.copy()
    f = rng.choice(n, int(rate * n), replace=False)
    given[f] = (true[f] + 1) % k
    return true, given, f


def sharp_model(n=5000, k=10, flips=40, seed=0):
    """A 99%+ accurate, very confident model; the flipped rows are predicted as their true class
    with 0.6-0.95 (ambiguous images), below every class's mean self-confidence (~0.998)."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    given = true.copy()
    f = rng.choice(n, flips, replace=False)
    given[f] = (true[f] + rng.integers(1, k, flips)) % k
    top = 1 - 10 ** rng.uniform(-5, -2.5, n)
    top[f] = rng.uniform(0.6, 0.95, flips)
    return given, _probs(true, top, k, rng), given != true


def sparse_noise(n=4000, k=10, rate=0.05, seed=1):
    """A decent model (true class 0.55-0.99) with 5% labels flipped into ONE other class each,
    and 10% hard clean rows where the model leans toward another class (0.3-0.45)."""
    rng = np.random.default_rng(seed)
    true, given, f = _next_class_flips(n, k, rate, rng)
    top = rng.uniform(0.55, 0.99, n)
    hard = np.setdiff1d(rng.choice(n, n // 10, replace=False), f)
    top[hard] = rng.uniform(0.4, 0.5, len(hard))
    second = np.full(n, -1)
    second[hard] = (true[hard] + 2) % k
    second_p = np.zeros(n)
    second_p[hard] = rng.uniform(0.3, 0.39, len(hard))
    return given, _probs(true, top, k, rng, second, second_p), given != true


def test_sharp_model_escapes_the_confident_learning_collapse():
    y, p, truth = sharp_model()
    assert S.find_label_issues(y, p, filter_by="confident_learning").sum() == 0
    assert S.find_label_issues(y, p, filter_by="prune_by_noise_rate").sum() == 0
    flags = S.find_label_issues(y, p)                          # default: adaptive
    assert flags.sum() >= 10                                   # cleanlab: 0
    assert (flags & truth).sum() == flags.sum()                # and every flag is a flipped row
    assert S.estimate_num_issues(y, p) == flags.sum()


def test_sparse_noise_is_not_over_flagged():
    y, p, truth = sparse_noise()
    flags = S.find_label_issues(y, p)
    pneq = S.find_label_issues(y, p, filter_by="predicted_neq_given")
    assert pneq.sum() > 2 * truth.sum()                        # the argmax count would double it
    assert truth.sum() * 0.8 <= flags.sum() <= truth.sum() * 1.2
    tp = (flags & truth).sum()
    assert 2 * tp / (flags.sum() + truth.sum()) >= 0.85


def test_flags_are_the_lowest_self_confidence_rows_predicted_as_another_class():
    y, p, _ = sparse_noise(seed=3)
    flags = S.find_label_issues(y, p)
    sc = p[np.arange(len(y)), y]
    other = p.argmax(axis=1) != y
    assert not (flags & ~other).any()
    assert sc[flags].max() <= sc[other & ~flags].min()
    ranked = S.find_label_issues(y, p, return_indices_ranked_by="self_confidence")
    np.testing.assert_array_equal(np.sort(ranked), np.flatnonzero(flags))
    half = S.find_label_issues(y, p, frac_noise=0.5)
    assert half.sum() == round(flags.sum() * 0.5) and not (half & ~flags).any()


def test_temperature_fit_recovers_a_known_temperature():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 1, (20000, 5))          # few probabilities below the floor (1% of 1/K)
    truth_p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = (truth_p.cumsum(axis=1) < rng.random((20000, 1))).sum(axis=1)   # y ~ softmax(logits)
    over = np.exp(logits * 2.0)                                          # a model 2x too sharp
    over /= over.sum(axis=1, keepdims=True)
    assert adaptive.fit_temperature(over, y) == pytest.approx(2.0, rel=0.05)
    zeros = over.copy()                        # 5% of given labels at probability exactly 0 (kNN)
    hit = rng.random(len(y)) < 0.05
    zeros[hit, y[hit]] = 0.0
    assert adaptive.fit_temperature(zeros / zeros.sum(axis=1, keepdims=True), y) < 3.0  # not 13
    assert adaptive.fit_temperature(truth_p, y) == pytest.approx(1.0, rel=0.05)


def test_sampled_estimate_is_close_to_the_exact_one(monkeypatch):
    y, p, _ = sparse_noise(n=8000, seed=5)
    exact = adaptive.adaptive_count(Engine.create(y, p))
    monkeypatch.setattr(adaptive, "SAMPLE_CELLS", 20000)      # 2,000 rows of 10 classes
    sampled = adaptive.adaptive_count(Engine.create(y, p))
    assert exact["exact"] and not sampled["exact"] and sampled["sample_rows"] == 2000
    assert abs(sampled["num_issues"] - exact["num_issues"]) <= 0.1 * exact["num_issues"]


def test_degenerate_inputs():
    y = np.array([0, 1, 1, 0])
    p = np.eye(2)[[0, 1, 1, 0]].astype(np.float32)             # every label is the argmax
    assert S.find_label_issues(y, p).sum() == 0 and S.estimate_num_issues(y, p) == 0
    empty = S.find_label_issues(np.zeros(0, int), np.zeros((0, 3)))
    assert empty.shape == (0,)


def test_sample_covers_every_class_when_k_is_large(monkeypatch):
    y, p, _ = sparse_noise(n=6000, k=50, rate=0.1, seed=7)
    exact = adaptive.adaptive_count(Engine.create(y, p))
    monkeypatch.setattr(adaptive, "SAMPLE_CELLS", 1000)       # would be 20 rows for 50 classes
    sampled = adaptive.adaptive_count(Engine.create(y, p))
    assert sampled["sample_rows"] == adaptive.MIN_ROWS_PER_CLASS * 50
    assert abs(sampled["num_issues"] - exact["num_issues"]) <= 0.15 * exact["num_issues"]


def test_rank_explains_the_count_in_summary_and_output(tmp_path):
    import json

    from click.testing import CliRunner

    from cleanlab_lite.cli import main

    y, p, truth = sharp_model()
    np.save(tmp_path / "p.npy", p.astype(np.float32))
    np.save(tmp_path / "y.npy", y)
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["rank", "--pred-probs", str(tmp_path / "p.npy"), "--labels",
                                  str(tmp_path / "y.npy"), "--out", str(out)])
    assert r.exit_code == 0, r.output
    s = json.loads((out / "summary.json").read_text())
    fc = s["flag_count"]
    assert fc["rule"] == "adaptive" and fc["num_flagged"] == s["num_flagged"] >= 10
    assert fc["confident_learning_count"] == 0 and fc["predicted_neq_given"] == truth.sum()
    assert fc["exact"] and 0 < fc["temperature"] < fc["temperature_fit"]
    line = next(ln for ln in r.output.splitlines() if ln.startswith("How the count was chosen:"))
    assert fc["order"] == "noise_posterior" and not fc["low_noise"]      # 500 rows per class
    assert f"the {s['num_flagged']} rows most likely mislabeled under the estimated noise matrix " \
           f"at T among the {truth.sum()}" in line
    assert "plain confident learning (T = 1) counts 0" in line
    r = CliRunner().invoke(main, ["rank", "--pred-probs", str(tmp_path / "p.npy"), "--labels",
                                  str(tmp_path / "y.npy"), "--out", str(out), "--filter-by",
                                  "prune_by_noise_rate"])
    assert "How the count was chosen: 0 rows flagged by prune_by_noise_rate" in r.output


def near_clean(n=20000, k=10, flips=100, mistakes=0.05, seed=11):
    """A good but imperfect model: 5% of rows are its own mistakes (another class 0.45-0.6, the
    true class 0.3-0.4), and 0.5% of labels are flipped (the true class 0.8-0.99)."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    given = true.copy()
    f = rng.choice(n, flips, replace=False)
    given[f] = (true[f] + rng.integers(1, k, flips)) % k
    top = rng.uniform(0.8, 0.99, n)
    wrong = np.setdiff1d(rng.choice(n, int(mistakes * n), replace=False), f)
    top[wrong] = rng.uniform(0.3, 0.4, len(wrong))
    second = np.full(n, -1)
    second[wrong] = (true[wrong] + 1 + rng.integers(0, k - 1, len(wrong))) % k
    second_p = np.zeros(n)
    second_p[wrong] = rng.uniform(0.45, 0.6, len(wrong))
    return given, _probs(true, top, k, rng, second, second_p), given != true


def test_near_clean_data_flags_no_more_than_cleanlab_and_near_the_truth():
    y, p, truth = near_clean()
    eng = Engine.create(y, p)
    flags = S.find_label_issues(y, p)
    info = adaptive.adaptive_count(eng)
    assert info["low_noise"] and info["sharpened_count"] > 4 * truth.sum()   # the model's mistakes
    cleanlab_default = S.find_label_issues(y, p, filter_by="prune_by_noise_rate", cj_argmax="cleanlab")
    assert flags.sum() <= cleanlab_default.sum()
    assert 0.5 * truth.sum() <= flags.sum() <= 2 * truth.sum()
    assert (flags & truth).sum() >= 0.8 * flags.sum()


def class_conditional(n=8000, k=4, seed=12):
    """40% of class 0 labeled 1, and the model learned it: every class-0 row gets 0.55-0.7 on 0
    and 0.25-0.4 on 1. 15% of class 2 are hard rows the model puts on 3 (0.6 against 0.3), a
    confusion with no label noise behind it. Other rows: the true class at 0.85-0.99."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    given = true.copy()
    zero = np.flatnonzero(true == 0)
    f = zero[rng.random(len(zero)) < 0.4]
    given[f] = 1
    top = rng.uniform(0.85, 0.99, n)
    second = np.full(n, -1)
    second_p = np.zeros(n)
    top[zero] = rng.uniform(0.55, 0.7, len(zero))
    second[zero] = 1
    second_p[zero] = np.minimum(rng.uniform(0.25, 0.4, len(zero)), 0.98 - top[zero])
    hard = np.flatnonzero((true == 2) & (rng.random(n) < 0.15))
    top[hard] = 0.3
    second[hard] = 3
    second_p[hard] = 0.6
    return given, _probs(true, top, k, rng, second, second_p), given != true


def test_large_sets_are_ordered_by_the_noise_matrix_posterior():
    y, p, truth = class_conditional()
    eng = Engine.create(y, p)
    info = adaptive.adaptive_count(eng)
    assert info["order"] == "noise_posterior" and not info["low_noise"]
    flags = S.find_label_issues(y, p)
    by_confidence = adaptive.lowest(np.where(eng.reduce_mask, np.inf, p[np.arange(len(y)), y]),
                                    int(flags.sum()))
    def f1(m):
        return 2 * (m & truth).sum() / (m.sum() + truth.sum())
    assert f1(flags) >= 0.7 and f1(flags) > f1(by_confidence) + 0.2


def uniform_flips(n, k, rate, lo, hi, seed=3):
    """`rate` of the labels flipped uniformly; the model puts lo-hi on the true class."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    given = true.copy()
    f = rng.choice(n, int(rate * n), replace=False)
    given[f] = (true[f] + rng.integers(1, k, len(f))) % k
    return given, _probs(true, rng.uniform(lo, hi, n), k, rng), given != true


@pytest.mark.parametrize("n, k, rate, lo, hi, weak", [
    (600, 5, 0.1, 0.2, 0.9, False),       # 120 rows per class
    (2000, 4, 0.08, 0.2, 0.6, True),      # a weak model on 500 rows per class
])
def test_small_or_weak_sets_flag_no_more_than_cleanlab(n, k, rate, lo, hi, weak):
    y, p, truth = uniform_flips(n, k, rate, lo, hi)
    info = adaptive.adaptive_count(Engine.create(y, p))
    cleanlab_default = S.find_label_issues(y, p, filter_by="prune_by_noise_rate",
                                           cj_argmax="cleanlab")
    assert info["weak_model"] == weak and info["weak_model_added"] == 0
    assert info["sharpened_count"] > cleanlab_default.sum()          # the cap is what holds it
    assert info["cleanlab_cap"] == cleanlab_default.sum()
    assert S.find_label_issues(y, p).sum() == cleanlab_default.sum()


def test_weak_model_on_many_rows_per_class_adds_uncounted_candidates_at_the_noise_rate():
    y, p, truth = uniform_flips(8000, 4, 0.3, 0.2, 0.6)            # 2,000 rows per class
    info = adaptive.adaptive_count(Engine.create(y, p))
    m, c = info["sharpened_count"], info["candidates"]
    assert info["weak_model"] and info["cleanlab_cap"] is None
    assert info["weak_model_added"] == round(m / 8000 * (c - m)) > 0
    assert S.find_label_issues(y, p).sum() == m + info["weak_model_added"]


def confusable_flips(n=10000, k=10, rate=0.05, mistakes=0.006, seed=21):
    """A strong, label-smoothed model (true class 0.85-0.92) with `rate` of the labels moved to
    the class it confuses most with (the true class still at 0.75-0.9 on those rows), and
    `mistakes` of clean rows it gets wrong (0.5-0.7 on another class)."""
    rng = np.random.default_rng(seed)
    true, given, f = _next_class_flips(n, k, rate, rng)
    top = rng.uniform(0.85, 0.92, n)
    top[f] = rng.uniform(0.75, 0.9, len(f))
    second = np.full(n, -1)
    second_p = np.zeros(n)
    second[f] = given[f]
    second_p[f] = (1 - top[f]) * 0.8
    wrong = np.setdiff1d(rng.choice(n, int(mistakes * n), replace=False), f)
    top[wrong] = rng.uniform(0.2, 0.3, len(wrong))
    second[wrong] = (true[wrong] + 3) % k
    second_p[wrong] = rng.uniform(0.5, 0.7, len(wrong))
    return given, _probs(true, top, k, rng, second, second_p), given != true


def test_a_count_that_covers_most_disagreements_is_not_capped_as_near_clean():
    # 5% noise on a strong model: the disagreements are mostly label errors, not the model's
    # own mistakes, so the near-clean cap (which would keep only the surest few) stays off
    y, p, truth = confusable_flips()
    info = adaptive.adaptive_count(Engine.create(y, p))
    assert not info["low_noise"]
    flags = S.find_label_issues(y, p)
    assert 0.8 * truth.sum() <= flags.sum() <= 1.25 * truth.sum()
    assert (flags & truth).sum() >= 0.85 * flags.sum()
    assert (flags & truth).sum() >= 0.95 * truth.sum()
