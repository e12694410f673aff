"""Property-based tests (hypothesis): scores in [0, 1], flags are a subset of the rows, and
nothing changes when the rows are permuted."""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cleanlab_lite.scoring as S

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def problems(draw, dtypes=(np.float32, np.float64)):
    """(labels, pred_probs) of random size, class count, model strength and noise."""
    n = draw(st.integers(1, 300))
    k = draw(st.integers(2, 8))
    seed = draw(st.integers(0, 2**32 - 1))
    strength = draw(st.floats(0.0, 6.0))
    noise = draw(st.floats(0.0, 0.6))
    dtype = draw(st.sampled_from(list(dtypes)))
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), true] += strength
    p = np.exp(logits - logits.max(1, keepdims=True))
    p = (p / p.sum(1, keepdims=True)).astype(dtype)
    y = np.where(rng.random(n) < noise, rng.integers(0, k, n), true)
    return y, p, rng.permutation(n)


@SETTINGS
@given(problems(), st.sampled_from(S.METHODS), st.booleans())
def test_scores_lie_in_unit_interval(prob, method, adjust):
    y, p, _ = prob
    if adjust and method == "confidence_weighted_entropy":
        return
    s = S.label_quality_scores(y, p, method=method, adjust_pred_probs=adjust)
    assert s.shape == y.shape
    assert np.all(np.isfinite(s)) and np.all(s >= -1e-12) and np.all(s <= 1 + 1e-12)


@SETTINGS
@given(problems(), st.sampled_from(S.FILTERS), st.sampled_from(S.CJ_ARGMAX))
def test_flags_are_a_subset_of_the_rows(prob, filter_by, argmax):
    y, p, _ = prob
    mask = S.find_label_issues(y, p, filter_by=filter_by, cj_argmax=argmax)
    assert mask.dtype == bool and mask.shape == y.shape
    idx = S.find_label_issues(y, p, filter_by=filter_by, cj_argmax=argmax,
                              return_indices_ranked_by="self_confidence")
    assert len(np.unique(idx)) == len(idx) == mask.sum()
    assert set(idx.tolist()) == set(np.flatnonzero(mask).tolist())
    if filter_by not in ("low_self_confidence", "low_normalized_margin"):
        assert not mask[p.argmax(1) == y].any()       # a row predicted as its label is never flagged


@SETTINGS
@given(problems(dtypes=(np.float64,)), st.sampled_from(S.FILTERS), st.sampled_from(S.METHODS))
def test_permuting_rows_permutes_results(prob, filter_by, method):
    # float64 so that two rows tie on a score with probability ~0 (ties go to the lower row)
    y, p, perm = prob
    mask = S.find_label_issues(y, p, filter_by=filter_by)
    mask_p = S.find_label_issues(y[perm], p[perm], filter_by=filter_by)
    np.testing.assert_array_equal(mask[perm], mask_p)
    s = S.label_quality_scores(y, p, method=method)
    np.testing.assert_allclose(s[perm], S.label_quality_scores(y[perm], p[perm], method=method),
                               rtol=0, atol=1e-12)
    np.testing.assert_array_equal(S.confident_joint(y, p), S.confident_joint(y[perm], p[perm]))
    assert S.estimate_num_issues(y, p) == S.estimate_num_issues(y[perm], p[perm])
