"""cleanlab 2.9 parity: identical flagged sets for every filter and option, scores to 1e-6,
identical confident joint / calibrated joint / noise estimates (with cj_argmax='cleanlab')."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

cleanlab = pytest.importorskip("cleanlab")
from cleanlab.count import compute_confident_joint, estimate_latent, num_label_issues  # noqa: E402
from cleanlab.filter import find_label_issues as cl_find  # noqa: E402
from cleanlab.rank import get_label_quality_scores as cl_scores  # noqa: E402

import cleanlab_lite.scoring as S  # noqa: E402
from cleanlab_lite.scoring.api import CLEANLAB_FILTERS  # noqa: E402
from conftest import make_noisy  # noqa: E402

CASES = [(3000, 2, 0.1, 0), (3000, 4, 0.2, 1), (2500, 10, 0.3, 2), (2000, 7, 0.4, 3)]


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.mark.parametrize("n,k,noise,seed", CASES)
@pytest.mark.parametrize("filter_by", CLEANLAB_FILTERS)
def test_every_filter_flags_the_same_rows_as_cleanlab(n, k, noise, seed, filter_by):
    y, p, _ = make_noisy(n, k, noise, seed)
    ours = S.find_label_issues(y, p, filter_by=filter_by, cj_argmax="cleanlab")
    theirs = cl_find(y, p, filter_by=filter_by, n_jobs=1)
    assert ours.sum() > 0
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("filter_by", ["prune_by_noise_rate", "prune_by_class", "both"])
@pytest.mark.parametrize("opts", [{"frac_noise": 0.5}, {"frac_noise": 0.0}, {"min_examples_per_class": 450},
                                  {"num_to_remove_per_class": [5, 0, 12, 3]}])
def test_options_mean_the_same_as_cleanlab(filter_by, opts):
    y, p, _ = make_noisy(2000, 4, 0.25, seed=5)
    ours = S.find_label_issues(y, p, filter_by=filter_by, cj_argmax="cleanlab", **opts)
    theirs = cl_find(y, p, filter_by=filter_by, n_jobs=1, **opts)
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("rank_by", S.METHODS)
def test_return_indices_ranked_by_matches_cleanlab(rank_by):
    y, p, _ = make_noisy(2000, 5, 0.2, seed=7, dtype=np.float64)
    ours = S.find_label_issues(y, p, filter_by="prune_by_noise_rate", cj_argmax="cleanlab",
                               return_indices_ranked_by=rank_by)
    theirs = cl_find(y, p, n_jobs=1, return_indices_ranked_by=rank_by)
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("method", S.METHODS)
@pytest.mark.parametrize("adjust", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scores_match_cleanlab_to_1e6(method, adjust, dtype):
    y, p, _ = make_noisy(2000, 6, 0.2, seed=11, dtype=dtype)
    if adjust and method == "confidence_weighted_entropy":
        with pytest.raises(ValueError, match="adjust_pred_probs"):
            S.label_quality_scores(y, p, method=method, adjust_pred_probs=True)
        return
    ours = S.label_quality_scores(y, p, method=method, adjust_pred_probs=adjust)
    theirs = cl_scores(y, p, method=method, adjust_pred_probs=adjust)
    assert ours.shape == (2000,)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)


@pytest.mark.parametrize("n,k,noise,seed", CASES)
def test_estimates_match_cleanlab(n, k, noise, seed):
    y, p, _ = make_noisy(n, k, noise, seed)
    np.testing.assert_array_equal(S.confident_joint(y, p, cj_argmax="cleanlab"),
                                  compute_confident_joint(y, p, calibrate=False))
    cal = compute_confident_joint(y, p)
    np.testing.assert_array_equal(S.calibrated_joint(y, p, cj_argmax="cleanlab"), cal)
    for method in ("off_diagonal", "off_diagonal_calibrated"):     # cleanlab's two
        assert S.estimate_num_issues(y, p, estimation_method=method, cj_argmax="cleanlab") == \
            num_label_issues(y, p, estimation_method=method)
    py, nm, inm = estimate_latent(cal, y)
    np.testing.assert_allclose(S.class_priors(y, p, cj_argmax="cleanlab"), py, atol=1e-12)
    np.testing.assert_allclose(S.noise_matrix(y, p, cj_argmax="cleanlab"), nm, atol=1e-12)
    np.testing.assert_allclose(S.inverse_noise_matrix(y, p, cj_argmax="cleanlab"), inm, atol=1e-12)


def test_fixed_argmax_only_counts_classes_above_threshold():
    # 3 classes; rows of class 2 with p2 and p0 both above threshold, and p1 (below its high
    # threshold) the largest. cleanlab counts such a row toward class 1, the fix toward class 0.
    y = np.array([0] * 50 + [1] * 50 + [2] * 50 + [2] * 10)
    p = np.concatenate([
        np.tile([0.40, 0.35, 0.25], (50, 1)),     # t0 = 0.40
        np.tile([0.02, 0.97, 0.01], (50, 1)),     # t1 = 0.97
        np.tile([0.05, 0.05, 0.90], (50, 1)),
        np.tile([0.41, 0.45, 0.14], (10, 1)),     # p0 >= t0, p1 < t1 but argmax, p2 < t2
    ])
    p[100:150] = np.tile([0.05, 0.85, 0.10], (50, 1))   # class 2's threshold is low: ~0.10
    t = [p[y == c, c].mean() for c in range(3)]
    probe = p[150]
    passing = [c for c in range(3) if probe[c] >= t[c] - 1e-6]
    assert passing == [0, 2] and probe.argmax() == 1      # the flawed case
    cl = compute_confident_joint(y, p, calibrate=False)
    theirs = S.confident_joint(y, p, cj_argmax="cleanlab")
    ours = S.confident_joint(y, p, cj_argmax="confident")
    np.testing.assert_array_equal(theirs, cl)
    assert cl[2, 1] >= 10                # cleanlab: counted toward class 1, below its threshold
    assert ours[2, 1] == cl[2, 1] - 10   # fixed: not toward class 1 ...
    assert ours[2, 0] == cl[2, 0] + 10   # ... but toward class 0, the likeliest passing class


def test_fixed_argmax_agrees_with_cleanlab_when_one_class_passes():
    y, p, _ = make_noisy(3000, 5, 0.2, seed=3, strength=4.0)
    a = S.confident_joint(y, p, cj_argmax="confident")
    b = S.confident_joint(y, p, cj_argmax="cleanlab")
    assert a.sum() == b.sum()            # the same rows are counted, only the column may move
    assert np.abs(a - b).sum() <= 0.05 * a.sum()


def test_row_rounding_matches_cleanlab_including_ties():
    from cleanlab.internal.util import round_preserving_row_totals as cl_round

    from cleanlab_lite.scoring.count import round_preserving_row_totals
    rng = np.random.default_rng(0)
    for shape, scale in [((5, 5), 1.0), ((10, 10), 4.0), ((30, 30), 0.25), ((3, 7), 10.0)]:
        for _ in range(20):
            m = rng.random(shape) * 50
            if scale != 1.0:
                m = np.round(m * scale) / scale              # many equal remainders
            np.testing.assert_array_equal(round_preserving_row_totals(m), cl_round(m))
