from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cleanlab_lite.cli import main
from cleanlab_lite.data.manifest import read_manifest, write_manifest
from cleanlab_lite.errors import ColumnError, UserInputError
from cleanlab_lite.noise import (KINDS, flip_labels, inject_noise, make_noise_matrix,
                                 noise_manifest, realized_noise_matrix)

K = 10
Y = np.repeat(np.arange(K), 100)  # 1,000 balanced labels


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("rate", [0.1, 0.2, 0.4])
def test_realized_flip_rate_is_exact(kind, rate):
    noisy, P = inject_noise(Y, kind=kind, rate=rate, num_classes=K, seed=3)
    assert (noisy != Y).mean() == pytest.approx(rate, abs=1e-9)
    assert np.allclose(P.sum(axis=0), 1.0)
    # realized matrix follows the drawn one up to count rounding (1 row in 100 per entry)
    assert np.abs(realized_noise_matrix(Y, noisy, K) - P).max() <= 0.011


def test_symmetric_spreads_flips_over_all_other_classes():
    noisy, _ = inject_noise(Y, kind="symmetric", rate=0.36, seed=0)
    R = realized_noise_matrix(Y, noisy, K)
    off = R[~np.eye(K, dtype=bool)]
    assert np.allclose(off, 0.04, atol=0.011)  # 36 flips per class over 9 classes: 4 each


def test_pairwise_goes_to_next_class_only():
    noisy, _ = inject_noise(Y, kind="pairwise", rate=0.2, seed=0)
    flipped = noisy != Y
    assert np.array_equal(noisy[flipped], (Y[flipped] + 1) % K)
    assert np.bincount(Y[flipped], minlength=K).tolist() == [20] * K


def test_class_dependent_has_trace_sparsity_and_dominant_diagonal():
    P = make_noise_matrix(K, "class_dependent", trace=7.0, sparsity=1 / 3, seed=1)
    assert np.trace(P) == pytest.approx(7.0)
    assert np.allclose(P.sum(axis=0), 1.0) and (P >= 0).all()
    off = P.T[~np.eye(K, dtype=bool)].reshape(K, K - 1)  # row j: column j of P, no diagonal
    assert ((off == 0).sum(axis=1) == 3).all()  # 6 of the 9 off-diagonals non-zero per column
    assert (np.diag(P)[None, :] > P - np.diag(np.diag(P))).all()
    rates = 1 - np.diag(P)
    assert rates.std() > 0.01  # the noise really depends on the class
    noisy = flip_labels(Y, P, seed=0)
    flipped = noisy != Y
    assert (P[noisy[flipped], Y[flipped]] > 0).all()  # flips only where the matrix allows


def test_same_seed_same_flips_other_seed_different():
    for kind in KINDS:
        a, Pa = inject_noise(Y, kind=kind, rate=0.2, seed=7)
        b, Pb = inject_noise(Y, kind=kind, rate=0.2, seed=7)
        c, _ = inject_noise(Y, kind=kind, rate=0.2, seed=8)
        assert np.array_equal(a, b) and np.array_equal(Pa, Pb)
        assert not np.array_equal(a, c)


def test_library_errors():
    with pytest.raises(UserInputError, match="--kind 'gaussian' is unknown"):
        make_noise_matrix(K, "gaussian", 0.2)
    with pytest.raises(UserInputError, match="--rate 1 must be at least 0 and below 1"):
        make_noise_matrix(K, "symmetric", 1.0)
    with pytest.raises(UserInputError, match="--trace only applies to --kind class_dependent"):
        make_noise_matrix(K, "pairwise", trace=8.0)
    with pytest.raises(UserInputError, match="--sparsity 0.5 only applies"):
        make_noise_matrix(K, "symmetric", 0.2, sparsity=0.5)
    with pytest.raises(UserInputError, match="too high for class_dependent"):
        make_noise_matrix(K, "class_dependent", 0.6, sparsity=0.9)
    with pytest.raises(UserInputError, match="--trace 12 must be between 1 and the number"):
        make_noise_matrix(K, "class_dependent", trace=12.0)


@pytest.mark.parametrize("ext", ["csv", "parquet", "jsonl"])
def test_noise_manifest_keeps_format_truth_and_input(tmp_path, ext):
    df = pd.DataFrame({"path": [f"im{i}.png" for i in range(60)],
                       "label": np.array(["ant", "bee", "cow"])[np.arange(60) % 3]})
    src = write_manifest(df, tmp_path / f"in.{ext}")
    before = src.read_bytes()
    res = noise_manifest(src, tmp_path / f"out.{ext}", kind="symmetric", rate=0.2, seed=0)
    assert src.read_bytes() == before
    out = read_manifest(res.out)
    assert list(out.columns) == ["path", "label", "true_label"]
    assert (out["true_label"] == df["label"]).all() and (out["path"] == df["path"]).all()
    assert (out["label"] != out["true_label"]).sum() == res.num_flipped == 12
    assert set(out["label"]) <= {"ant", "bee", "cow"}


def test_noise_manifest_errors(tmp_path):
    df = pd.DataFrame({"label": [1, 2, None, 1], "true_label": [1, 2, 2, 1]})
    src = write_manifest(df, tmp_path / "in.csv")
    with pytest.raises(ColumnError, match="already has a column 'true_label'"):
        noise_manifest(src, tmp_path / "o.csv", kind="symmetric", rate=0.2)
    res = noise_manifest(src, tmp_path / "o.csv", kind="symmetric", rate=0.4, true_col="truth")
    out = pd.read_csv(tmp_path / "o.csv", dtype=str, keep_default_na=False)
    assert out.loc[2, "label"] == "" and out.loc[2, "truth"] == ""   # unlabeled: unchanged
    assert res.classes == ['1.0', '2.0']     # the file's text (a float column), kept as written
    with pytest.raises(ColumnError, match="has no column 'y'"):
        noise_manifest(src, tmp_path / "o.csv", kind="symmetric", rate=0.2, label_col="y")


def test_cli_noise_and_error_lines(tmp_path):
    df = pd.DataFrame({"x": np.arange(40.0), "label": np.arange(40) % 4})
    src = write_manifest(df, tmp_path / "in.csv")
    runner = CliRunner()
    out = tmp_path / "noisy.csv"
    r = runner.invoke(main, ["noise", str(src), "--rate", "25%", "--kind", "pairwise",
                             "--out", str(out), "--seed", "1"])
    assert r.exit_code == 0, r.output
    assert "10 of 40 labels flipped (25.0%, pairwise, seed 1)" in r.output
    noisy = pd.read_csv(out)
    flipped = noisy["label"] != noisy["true_label"]
    assert ((noisy["true_label"][flipped] + 1) % 4 == noisy["label"][flipped]).all()

    cases = [
        (["--rate", "0.2", "--out", str(src)],
         f"Error: --out {src} is the input manifest ({src}); no command writes over its input: "
         "choose another path"),
        (["--out", str(tmp_path / "o.csv")],
         "Error: --rate is required (the fraction of labels to flip, e.g. 0.2 or 20%)"),
        (["--rate", "abc", "--out", str(tmp_path / "o.csv")],
         "Error: --rate must be a fraction like 0.02 or a percentage like 2%, got 'abc'"),
        (["--rate", "0.1", "--trace", "2", "--kind", "class_dependent", "--out",
          str(tmp_path / "o.csv")],
         "Error: --rate 0.1 and --trace 2 disagree (with 4 classes the trace means rate 0.5); "
         "give only one"),
    ]
    for args, line in cases:
        r = runner.invoke(main, ["noise", str(src), *args])
        assert r.exit_code == 2, r.output
        assert r.output.strip().splitlines()[-1] == line
    assert not (tmp_path / "o.csv").exists()


def test_noise_manifest_keeps_csv_text_and_numeric_class_order(tmp_path):
    src = tmp_path / "in.csv"
    k = 12
    src.write_text("id,label\n" + "".join(f"00{i},{i % k}\n" for i in range(12 * k)))
    res = noise_manifest(src, tmp_path / "out.csv", kind="pairwise", rate=0.25, seed=0)
    out = read_manifest(res.out, raw=True)
    assert out["id"].tolist()[:3] == ["000", "001", "002"]          # not re-typed to 0, 1, 2
    flipped = out[out["label"] != out["true_label"]]
    assert len(flipped) == 36
    # neighbour in numeric order: 9 -> 10, 11 -> 0 (not '1' -> '10' as in text order)
    assert ((flipped["true_label"].astype(int) + 1) % k == flipped["label"].astype(int)).all()
