from __future__ import annotations

import numpy as np
import pytest

from cleanlab_lite.config import DataConfig
from cleanlab_lite.data.load import load_dataset
from cleanlab_lite.data.manifest import read_manifest, write_manifest
from cleanlab_lite.errors import ColumnError, DataError, ImageError, ManifestError
from tests.conftest import blob_table
from tests.expect import assert_fragments


@pytest.mark.parametrize("ext", [".csv", ".parquet", ".jsonl"])
def test_every_format_loads_the_same_table(tmp_path, ext):
    df = blob_table()
    p = write_manifest(df, tmp_path / f"m{ext}")
    L = load_dataset(p, DataConfig())
    assert L.dataset.kind == "tabular"
    assert L.dataset.classes == ["cat", "dog", "eel"]
    assert L.dataset.feature_names == ["f0", "f1", "f2", "f3"]
    np.testing.assert_allclose(L.dataset.X, df[["f0", "f1", "f2", "f3"]].to_numpy(), rtol=1e-6)
    assert L.table["row"].tolist() == list(range(len(df)))


def test_integer_labels_keep_their_values(tmp_path):
    df = blob_table()
    df["label"] = df["label"].map({"cat": 7, "dog": 3, "eel": 5})
    p = write_manifest(df, tmp_path / "m.csv")
    L = load_dataset(p, DataConfig())
    assert L.class_values == [3, 5, 7]
    assert L.dataset.classes == ["3", "5", "7"]
    assert L.dataset.labels[0] == 2  # first row was 'cat' -> 7 -> index 2


def test_missing_manifest(tmp_path):
    with pytest.raises(ManifestError, match=r"manifest .*nope.csv not found; check the path"):
        read_manifest(tmp_path / "nope.csv")


def test_unknown_extension(tmp_path):
    p = tmp_path / "m.xlsx"
    p.write_text("x")
    with pytest.raises(ManifestError, match="unknown extension '.xlsx'; use .csv, .parquet or .jsonl"):
        read_manifest(p)


def test_wrong_label_col_names_the_columns(tabular_csv):
    with pytest.raises(ColumnError) as e:
        load_dataset(tabular_csv, DataConfig(label_col="lbl"))
    assert_fragments(str(e.value), f"manifest {tabular_csv} has no column 'lbl' (--label-col); "
                     "its columns are: id, f0, f1, f2, f3, label")


def test_unknown_feature_col(tabular_csv):
    with pytest.raises(ColumnError, match=r"has no column 'zz' \(--feature-cols\)"):
        load_dataset(tabular_csv, DataConfig(feature_cols=("f0", "zz")))


def test_nan_feature_names_row_and_column(tmp_path):
    df = blob_table()
    df.loc[17, "f2"] = np.nan
    p = write_manifest(df, tmp_path / "m.csv")
    with pytest.raises(DataError) as e:
        load_dataset(p, DataConfig())
    assert_fragments(str(e.value), f"manifest {p}, row 17: feature 'f2' is nan (NaN or infinite); "
                     "fill or drop such rows before training, or use --model hgb, which handles "
                     "missing values")
    assert "row 17" in str(e.value)


def test_rows_without_a_label_are_left_out(tmp_path):
    df = blob_table()
    df.loc[4, "label"] = None
    df.loc[9, "label"] = "  "
    p = write_manifest(df, tmp_path / "m.csv")
    L = load_dataset(p, DataConfig())
    assert L.unlabeled.tolist() == [4, 9]
    assert L.dataset.n == len(df) - 2 and 4 not in L.table["row"].tolist()


def test_every_label_empty_is_an_error(tmp_path):
    df = blob_table()
    df["label"] = None
    p = write_manifest(df, tmp_path / "m.csv")
    with pytest.raises(DataError, match=r"column 'label' \(--label-col\) is empty on every row"):
        load_dataset(p, DataConfig())


def test_images_decode_to_uint8_nchw(image_manifest, tmp_path):
    L = load_dataset(image_manifest, DataConfig(), cache_dir=tmp_path / "cache")
    ds = L.dataset
    assert ds.kind == "image" and ds.X.dtype == np.uint8 and ds.X.shape == (24, 1, 8, 8)
    # class1 images are bright on the left half
    assert ds.X[ds.labels == 1][:, 0, :, :4].mean() > 150 > ds.X[ds.labels == 0][:, 0, :, :4].mean()
    again = load_dataset(image_manifest, DataConfig(), cache_dir=tmp_path / "cache")
    assert again.cache_reused and np.array_equal(np.asarray(again.dataset.X), np.asarray(ds.X))


def test_image_resize_and_rgb(tmp_path):
    from tests.conftest import write_pngs

    df = write_pngs(tmp_path / "img", rgb=True, size=10)
    p = write_manifest(df, tmp_path / "m.csv")
    L = load_dataset(p, DataConfig(image_size=6))
    assert L.dataset.X.shape == (24, 3, 6, 6)


def test_missing_image_names_row_and_path(image_manifest, tmp_path):
    (tmp_path / "img" / "c1_003.png").unlink()
    with pytest.raises(ImageError) as e:
        load_dataset(image_manifest, DataConfig())
    assert_fragments(str(e.value), f"row 15: image {tmp_path / 'img' / 'c1_003.png'} (column "
                     "'path') not found; fix the file or pass --skip-bad to leave such rows out")
    assert str(e.value).startswith("row 15: ")


def test_corrupt_image_and_skip_bad(image_manifest, tmp_path):
    (tmp_path / "img" / "c0_002.png").write_bytes(b"not a png at all")
    with pytest.raises(ImageError, match=r"row 2: image .*c0_002.png \(column 'path'\) cannot be decoded"):
        load_dataset(image_manifest, DataConfig())
    L = load_dataset(image_manifest, DataConfig(skip_bad=True))
    assert L.dataset.n == 23 and 2 not in L.table["row"].tolist()
    assert [s[0] for s in L.skipped] == [2]


def test_embeddings_shape_checked(tabular_csv, tmp_path):
    e = tmp_path / "e.npy"
    np.save(e, np.zeros((5, 3), dtype=np.float32))
    with pytest.raises(DataError, match=r"has shape \(5, 3\); expected \(120, D\), one row per manifest row"):
        load_dataset(tabular_csv, DataConfig(embeddings=str(e)))
    np.save(e, np.ones((120, 3), dtype=np.float32))
    L = load_dataset(tabular_csv, DataConfig(embeddings=str(e)))
    assert L.dataset.kind == "embedding" and L.dataset.X.shape == (120, 3)


def test_reserved_column_rejected(tmp_path):
    df = blob_table()
    df["fold"] = 1
    p = write_manifest(df, tmp_path / "m.csv")
    with pytest.raises(ColumnError, match="has a column named 'fold'"):
        load_dataset(p, DataConfig())


def test_weights_validated(tmp_path):
    df = blob_table()
    df["w"] = 1.0
    df.loc[9, "w"] = -1
    p = write_manifest(df, tmp_path / "m.csv")
    with pytest.raises(DataError, match=r"row 9: weight column 'w' must be a finite number >= 0"):
        load_dataset(p, DataConfig(weight_col="w"))


def test_weights_all_zero_refused_before_training(tmp_path):
    df = blob_table()
    df["w"] = 0.0
    p = write_manifest(df, tmp_path / "m.csv")
    with pytest.raises(DataError, match=r"weight column 'w' is 0 on every row, so no model can "
                                        r"learn from it"):
        load_dataset(p, DataConfig(weight_col="w"))
    df.loc[3, "w"] = 0.5           # one class learnable, the other two not
    with pytest.raises(DataError, match=r"weight column 'w' is 0 on every row of class 'dog'"):
        load_dataset(write_manifest(df, tmp_path / "m2.csv"), DataConfig(weight_col="w"))
    df.loc[[43, 83], "w"] = 0.5
    assert load_dataset(write_manifest(df, tmp_path / "m3.csv"), DataConfig(weight_col="w")).dataset.n == 120
