"""cleanlab_lite.compat.{filter,rank,count} give cleanlab 2.9's results with its names,
arguments and defaults (compared with cleanlab itself; skipped where it is not installed)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

cleanlab = pytest.importorskip("cleanlab", reason="cleanlab (test extras) is not installed; the "
                               "compat modules are compared against it")
from cleanlab import count as cl_count, filter as cl_filter, rank as cl_rank  # noqa: E402

from cleanlab_lite.compat import count, filter, rank  # noqa: E402
from tests.scoring.conftest import make_noisy  # noqa: E402

FILTERS = ["prune_by_noise_rate", "prune_by_class", "both", "confident_learning",
           "predicted_neq_given", "low_self_confidence", "low_normalized_margin"]


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.fixture(scope="module")
def data():
    return make_noisy(800, 4, 0.2, seed=3)[:2]


@pytest.mark.parametrize("filter_by", FILTERS)
def test_find_label_issues_matches_cleanlab(data, filter_by):
    y, p = data
    np.testing.assert_array_equal(filter.find_label_issues(y, p, filter_by=filter_by),
                                  cl_filter.find_label_issues(y, p, filter_by=filter_by, n_jobs=1))
    np.testing.assert_array_equal(
        filter.find_label_issues(list(y), p, filter_by=filter_by, n_jobs=2, verbose=False,
                                 multi_label=False, return_indices_ranked_by="normalized_margin"),
        cl_filter.find_label_issues(y, p, filter_by=filter_by, n_jobs=1,
                                    return_indices_ranked_by="normalized_margin"))


def test_default_is_cleanlabs_and_options_match(data):
    y, p = data
    ours = filter.find_label_issues(y, p)                      # prune_by_noise_rate, cleanlab's
    np.testing.assert_array_equal(ours, cl_filter.find_label_issues(y, p, n_jobs=1))
    for kw in ({"num_to_remove_per_class": 5}, {"num_to_remove_per_class": [3, 0, 8, 2]},
               {"frac_noise": 0.5}, {"min_examples_per_class": 150},
               {"confident_joint": cl_count.compute_confident_joint(y, p, calibrate=False)}):
        for f in ("prune_by_noise_rate", "prune_by_class", "both"):
            np.testing.assert_array_equal(filter.find_label_issues(y, p, filter_by=f, **kw),
                                          cl_filter.find_label_issues(y, p, filter_by=f, n_jobs=1,
                                                                      **kw), err_msg=f"{f} {kw}")
    np.testing.assert_array_equal(filter.find_predicted_neq_given(y, p),
                                  cl_filter.find_predicted_neq_given(y, p))


def test_count_matches_cleanlab(data):
    y, p = data
    t = np.array([0.5, 0.4, 0.6, 0.45])
    for kw in ({}, {"calibrate": False}, {"thresholds": t}):
        np.testing.assert_array_equal(count.compute_confident_joint(y, p, **kw),
                                      cl_count.compute_confident_joint(y, p, **kw))
    cj, idx = count.compute_confident_joint(y, p, return_indices_of_off_diagonals=True)
    cl_cj, cl_idx = cl_count.compute_confident_joint(y, p, return_indices_of_off_diagonals=True)
    np.testing.assert_array_equal(cj, cl_cj)
    np.testing.assert_array_equal(idx, cl_idx)
    raw = cl_count.compute_confident_joint(y, p, calibrate=False)
    np.testing.assert_array_equal(count.calibrate_confident_joint(raw, y),
                                  cl_count.calibrate_confident_joint(raw, y))
    np.testing.assert_allclose(count.estimate_joint(y, p), cl_count.estimate_joint(y, p))
    np.testing.assert_allclose(count.get_confident_thresholds(y, p),
                               cl_count.get_confident_thresholds(y, p), rtol=1e-6)
    for method in ("cnt", "eqn", "marginal", "marginal_ps"):
        for conv in (False, True):
            for a, b in zip(count.estimate_latent(cj, y, py_method=method,
                                                  converge_latent_estimates=conv),
                            cl_count.estimate_latent(cj, y, py_method=method,
                                                     converge_latent_estimates=conv)):
                np.testing.assert_allclose(a, b, atol=1e-12)
    for a, b in zip(count.estimate_py_and_noise_matrices_from_probabilities(y, p),
                    cl_count.estimate_py_and_noise_matrices_from_probabilities(y, p)):
        np.testing.assert_allclose(a, b, atol=1e-12)
    for m in ("off_diagonal", "off_diagonal_calibrated"):
        assert count.num_label_issues(y, p, estimation_method=m) == \
            cl_count.num_label_issues(y, p, estimation_method=m)
    assert count.num_label_issues(y, p, confident_joint=raw, estimation_method="off_diagonal_custom") \
        == cl_count.num_label_issues(y, p, confident_joint=raw, estimation_method="off_diagonal_custom")


def test_rank_matches_cleanlab(data):
    y, p = data
    for m in ("self_confidence", "normalized_margin", "confidence_weighted_entropy"):
        for adj in (False, True) if m != "confidence_weighted_entropy" else (False,):
            np.testing.assert_allclose(rank.get_label_quality_scores(y, p, method=m, adjust_pred_probs=adj),
                                       cl_rank.get_label_quality_scores(y, p, method=m, adjust_pred_probs=adj),
                                       atol=1e-6)
    p2 = make_noisy(800, 4, 0.2, seed=3, strength=1.5)[1]
    for w in ("uniform", "accuracy", "log_loss_search"):
        np.testing.assert_allclose(
            rank.get_label_quality_ensemble_scores(y, [p, p2], weight_ensemble_members_by=w, verbose=False),
            cl_rank.get_label_quality_ensemble_scores(y, [p, p2], weight_ensemble_members_by=w, verbose=False),
            atol=1e-6)
    mask = cl_filter.find_label_issues(y, p, n_jobs=1)
    np.testing.assert_array_equal(rank.order_label_issues(mask, y, p),
                                  cl_rank.order_label_issues(mask, y, p))
    s = cl_rank.get_label_quality_scores(y, p)
    np.testing.assert_array_equal(rank.find_top_issues(s, top=20), cl_rank.find_top_issues(s, top=20))
    np.testing.assert_allclose(rank.get_normalized_margin_for_each_label(y, p),
                               cl_rank.get_normalized_margin_for_each_label(y, p))


def test_errors_and_multi_label(data):
    y, p = data
    with pytest.raises(ValueError, match="filter_by='nope' is not valid"):
        filter.find_label_issues(y, p, filter_by="nope")
    with pytest.raises(ValueError, match="not a valid estimation method"):
        count.num_label_issues(y, p, estimation_method="nope")
    with pytest.raises(ValueError, match="rows but pred_probs has"):
        filter.find_label_issues(y[:-1], p)
    with pytest.raises(NotImplementedError, match="multi_label=True"):
        filter.find_label_issues([[0]] * len(y), p, multi_label=True)
