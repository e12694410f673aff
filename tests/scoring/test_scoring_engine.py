"""The chunked engine: file == array == tiny chunks == torch kernels, ensembles, robust input."""
from __future__ import annotations

import numpy as np
import pytest

import cleanlab_lite
import cleanlab_lite.scoring as S
from cleanlab_lite.errors import LabelsError, PredProbsError
from conftest import make_noisy


def _all_outputs(y, p, **kw):
    out = {f: S.find_label_issues(y, p, filter_by=f, **kw) for f in S.FILTERS}
    out.update({m: S.label_quality_scores(y, p, method=m, **{k: v for k, v in kw.items()
                                                             if k != "cj_argmax"}) for m in S.METHODS})
    out["cj"] = S.confident_joint(y, p, **{k: v for k, v in kw.items() if k != "chunk_rows"})
    return out


def test_library_names_are_importable_from_the_package():
    for name in ("label_quality_scores", "find_label_issues", "estimate_num_issues",
                 "confident_joint", "calibrated_joint", "noise_matrix", "class_priors"):
        assert callable(getattr(cleanlab_lite, name))


def test_npy_file_in_chunks_matches_in_memory(tmp_path):
    y, p, _ = make_noisy(3001, 6, 0.25, seed=2)
    path = tmp_path / "pp.npy"
    np.save(path, p)
    mem = _all_outputs(y, p)
    for src in (str(path), path):
        for chunk in (None, 97, 1000):
            got = {f: S.find_label_issues(y, src, filter_by=f, chunk_rows=chunk) for f in S.FILTERS}
            for f in S.FILTERS:
                np.testing.assert_array_equal(got[f], mem[f], err_msg=f"{f} chunk={chunk}")
    for m in S.METHODS:
        np.testing.assert_array_equal(S.label_quality_scores(y, path, method=m, chunk_rows=333), mem[m])


def test_tiny_chunks_and_tiny_noise_rate_blocks_give_the_same_flags(monkeypatch):
    from cleanlab_lite.scoring import engine
    y, p, _ = make_noisy(2000, 4, 0.3, seed=8)
    base = S.find_label_issues(y, p, filter_by="prune_by_noise_rate")
    monkeypatch.setattr(engine, "BLOCK_CELLS", 64)        # many streaming blocks in pass C
    again = S.find_label_issues(y, p, filter_by="prune_by_noise_rate", chunk_rows=50)
    np.testing.assert_array_equal(base, again)


@pytest.mark.parametrize("argmax", S.CJ_ARGMAX)
def test_torch_kernels_give_identical_flags_on_cpu_tensors(argmax):
    pytest.importorskip("torch")
    y, p, _ = make_noisy(2500, 5, 0.2, seed=4)
    for f in S.FILTERS:
        np.testing.assert_array_equal(S.find_label_issues(y, p, filter_by=f, cj_argmax=argmax),
                                      S.find_label_issues(y, p, filter_by=f, cj_argmax=argmax,
                                                          device="torch-cpu"), err_msg=f)
    for m in S.METHODS:
        np.testing.assert_allclose(S.label_quality_scores(y, p, method=m),
                                   S.label_quality_scores(y, p, method=m, device="torch-cpu"),
                                   atol=1e-9)
    np.testing.assert_allclose(S.label_quality_scores(y, p, method="normalized_margin", adjust_pred_probs=True),
                               S.label_quality_scores(y, p, method="normalized_margin",
                                                      adjust_pred_probs=True, device="torch-cpu"), atol=1e-9)


def test_ensemble_averages_pred_probs(tmp_path):
    y, p1, _ = make_noisy(1000, 4, 0.2, seed=1)
    _, p2, _ = make_noisy(1000, 4, 0.2, seed=1, strength=1.5)
    np.save(tmp_path / "b.npy", p2)
    mean = (p1.astype(np.float32) + p2) / 2
    np.testing.assert_allclose(S.label_quality_scores(y, [p1, tmp_path / "b.npy"]),
                               S.label_quality_scores(y, mean), atol=1e-6)
    np.testing.assert_array_equal(S.find_label_issues(y, [p1, p2]), S.find_label_issues(y, mean))
    with pytest.raises(PredProbsError, match="same"):
        S.find_label_issues(y, [p1, p2[:, :3] / p2[:, :3].sum(1, keepdims=True)])


def test_flipped_labels_rank_on_top():
    y, p, flip = make_noisy(3000, 5, 0.1, seed=6, strength=4.0)
    scores = S.label_quality_scores(y, p)
    top = np.argsort(scores)[: flip.sum()]
    assert flip[top].mean() > 0.85
    issues = S.find_label_issues(y, p)
    assert flip[issues].mean() > 0.85 and issues[flip].mean() > 0.8


# ---- robust input ---------------------------------------------------------------------------
def test_nan_and_inf_are_errors_naming_the_row():
    y, p, _ = make_noisy(100, 3, seed=0)
    for bad in (np.nan, np.inf):
        q = p.copy()
        q[17, 1] = bad
        with pytest.raises(PredProbsError, match="row 17 holds NaN or inf"):
            S.find_label_issues(y, q)


def test_negative_values_are_an_error_even_with_renormalize():
    y, p, _ = make_noisy(100, 3, seed=0)
    q = p.copy()
    q[5, 2] = -0.1
    for renorm in (False, True):
        with pytest.raises(PredProbsError, match="row 5 column 2 is negative"):
            S.label_quality_scores(y, q, renormalize=renorm)


def test_unnormalized_rows_error_unless_renormalize():
    y, p, _ = make_noisy(500, 3, seed=0)
    q = p * 3.0
    with pytest.raises(PredProbsError, match="row 0 sums to 3.*renormalize"):
        S.find_label_issues(y, q)
    np.testing.assert_array_equal(S.find_label_issues(y, q, renormalize=True), S.find_label_issues(y, p))
    np.testing.assert_allclose(S.label_quality_scores(y, q, renormalize=True),
                               S.label_quality_scores(y, p), atol=1e-6)
    z = p.copy()
    z[3] = 0
    with pytest.raises(PredProbsError, match="row 3 is all zeros"):
        S.find_label_issues(y, z, renormalize=True)


def test_shape_and_label_errors():
    y, p, _ = make_noisy(50, 3, seed=0)
    with pytest.raises(PredProbsError, match="must be 2-D"):
        S.find_label_issues(y, p[:, 0])
    with pytest.raises(PredProbsError, match="at least 2 classes"):
        S.find_label_issues(y, np.ones((50, 1)))
    with pytest.raises(LabelsError, match="49 rows but pred_probs has 50"):
        S.find_label_issues(y[:49], p)
    bad = y.copy()
    bad[7] = 3
    with pytest.raises(LabelsError, match="row 7 has label 3, outside the 3 classes"):
        S.find_label_issues(bad, p)
    bad[7] = -1
    with pytest.raises(LabelsError, match="row 7 has label -1"):
        S.label_quality_scores(bad, p)
    with pytest.raises(LabelsError, match="not an integer"):
        S.find_label_issues(y + 0.5, p)


def test_unknown_names_raise_value_error_listing_valid_ones():
    y, p, _ = make_noisy(50, 3, seed=0)
    with pytest.raises(ValueError, match="prune_by_noise_rate.*predicted_neq_given"):
        S.find_label_issues(y, p, filter_by="nope")
    with pytest.raises(ValueError, match="self_confidence"):
        S.label_quality_scores(y, p, method="nope")
    with pytest.raises(ValueError, match="off_diagonal"):
        S.estimate_num_issues(y, p, estimation_method="nope")
    with pytest.raises(ValueError, match="confident, cleanlab"):
        S.confident_joint(y, p, cj_argmax="nope")


def test_binary_problem():
    y, p, flip = make_noisy(2000, 2, 0.1, seed=3, strength=3.0)
    for f in S.FILTERS:
        m = S.find_label_issues(y, p, filter_by=f)
        assert m.dtype == bool and m.shape == (2000,)
    assert flip[S.find_label_issues(y, p)].mean() > 0.8
    assert S.noise_matrix(y, p).shape == (2, 2)


def test_class_absent_from_labels():
    y, p, _ = make_noisy(1000, 4, 0.1, seed=1)
    y = np.where(y == 3, 0, y)                      # class 3 has no rows
    cj = S.confident_joint(y, p)
    assert cj[3].sum() == 1                         # only the diagonal floor of 1
    for f in S.FILTERS:
        m = S.find_label_issues(y, p, filter_by=f)
        assert not m[y == 3].any()
    pri = S.class_priors(y, p)
    assert np.isclose(pri.sum(), 1.0) and np.all(pri >= 0)


def test_class_never_predicted():
    y, p, _ = make_noisy(1000, 4, 0.1, seed=1)
    p = p.astype(np.float64)
    p[:, 0] *= 1e-4                                 # class 0 is never the argmax
    p /= p.sum(axis=1, keepdims=True)
    assert not (p.argmax(1) == 0).any()
    for f in S.FILTERS:
        m = S.find_label_issues(y, p, filter_by=f)
        assert m.shape == (1000,)
    nm = S.noise_matrix(y, p)
    assert np.all(np.isfinite(nm)) and np.allclose(nm.sum(axis=0), 1.0)


def test_fewer_rows_than_classes():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(10), size=4)
    y = np.array([0, 3, 3, 9])
    for f in S.FILTERS:
        assert S.find_label_issues(y, p, filter_by=f).shape == (4,)
    s = S.label_quality_scores(y, p)
    assert s.shape == (4,) and np.all((s >= 0) & (s <= 1))
    assert 0 <= S.estimate_num_issues(y, p) <= 4


def test_empty_input():
    p = np.zeros((0, 3), dtype=np.float32)
    y = np.zeros(0, dtype=np.int64)
    assert S.find_label_issues(y, p).shape == (0,)
    assert S.label_quality_scores(y, p).shape == (0,)
