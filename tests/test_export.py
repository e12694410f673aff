from __future__ import annotations


import pandas as pd
import pytest

from cleanlab_lite.errors import RunFolderError, UserInputError
from cleanlab_lite.amounts import parse_share
from cleanlab_lite.export import export_run
from tests.runs import make_export_run as make_run


def test_parse_share():
    assert parse_share("10%", 40, "--drop-top") == 4
    assert parse_share("250", 300, "--drop-top") == 250
    assert parse_share("12.5%", 8, "--drop-top") == 1
    with pytest.raises(UserInputError, match="--drop-top 'ten' is not a count or a percentage"):
        parse_share("ten", 40, "--drop-top")
    with pytest.raises(UserInputError, match="more than the 40 ranked rows"):
        parse_share("41", 40, "--drop-top")


def test_drop_top_percent_keeps_order_and_text(tmp_path):
    run, manifest, df = make_run(tmp_path)
    res = export_run(run, mode="drop_top", drop_top="10%")
    out = pd.read_csv(res.out, dtype=str, keep_default_na=False)
    assert res.n_out == 36 and len(out) == 36
    assert out["id"].tolist() == [f"x{i:02d}" for i in range(40) if i not in (3, 7, 11, 20)]
    assert list(out.columns) == ["id", "score", "label", "note"]
    assert set(out["note"]) == {"007"}  # original text kept, not re-typed
    assert res.per_class.set_index("class")["dropped"].to_dict() == {"cat": 1, "dog": 3}


def test_drop_top_count_and_flagged(tmp_path):
    run, _, _ = make_run(tmp_path)
    res = export_run(run, mode="drop_top", drop_top="2", out=tmp_path / "a.csv")
    assert pd.read_csv(res.out)["id"].tolist()[:4] == ["x00", "x01", "x02", "x04"]
    assert res.n_out == 38
    res = export_run(run, mode="drop_flagged", out=tmp_path / "b.csv")
    assert res.n_out == 36


def test_relabel_with_min_confidence(tmp_path):
    run, _, _ = make_run(tmp_path)
    res = export_run(run, mode="relabel", min_confidence=0.9, out=tmp_path / "r.csv")
    out = pd.read_csv(res.out, dtype=str, keep_default_na=False)
    assert len(out) == 40
    changed = out[out["original_label"] != ""]
    assert changed["id"].tolist() == ["x03", "x07"]
    assert changed["label"].tolist() == ["cat", "cat"] and changed["original_label"].tolist() == ["dog", "dog"]
    res = export_run(run, mode="relabel", out=tmp_path / "r2.csv")
    out = pd.read_csv(res.out, dtype=str, keep_default_na=False)
    assert (out["original_label"] != "").sum() == 4


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_same_format_as_input(tmp_path, fmt):
    run, _, df = make_run(tmp_path, fmt=fmt)
    res = export_run(run, mode="drop_flagged")
    assert res.out.name == f"cleaned.{fmt}"
    out = pd.read_parquet(res.out) if fmt == "parquet" else pd.read_json(res.out, lines=True, dtype=False)
    assert len(out) == 36 and list(out.columns) == list(df.columns)


def test_format_override(tmp_path):
    run, _, _ = make_run(tmp_path)
    res = export_run(run, mode="drop_flagged", fmt="parquet")
    assert res.out.suffix == ".parquet" and len(pd.read_parquet(res.out)) == 36


def test_refuses_to_overwrite_input(tmp_path):
    run, manifest, _ = make_run(tmp_path)
    before = manifest.read_bytes()
    with pytest.raises(UserInputError, match="is the manifest .*; no command writes over its input"):
        export_run(run, mode="drop_flagged", out=manifest)
    assert manifest.read_bytes() == before


def test_needs_ranking(tmp_path):
    run, _, _ = make_run(tmp_path)
    (run / "ranking.csv").unlink()          # the view for people is not read
    assert export_run(run, mode="drop_flagged").n_out == 36
    (run / "ranking.parquet").unlink()
    with pytest.raises(RunFolderError, match=r"ranking.parquet not found; run `clean-labels rank .*` first"):
        export_run(run, mode="drop_flagged")


def test_missing_manifest_falls_back_to_rows_and_an_edited_one_is_refused(tmp_path):
    run, manifest, _ = make_run(tmp_path)
    manifest.write_text("id,label\n")
    with pytest.raises(UserInputError, match=r"changed since train .*--manifest .*retrain"):
        export_run(run, mode="drop_flagged", out=tmp_path / "o.csv")
    assert not (tmp_path / "o.csv").exists()
    manifest.unlink()
    res = export_run(run, mode="drop_flagged", out=tmp_path / "o.csv")
    assert res.n_out == 36 and res.notes and "is missing" in res.notes[0]


def test_drop_flagged_refuses_to_wipe_out_a_class(tmp_path):
    from click.testing import CliRunner

    from cleanlab_lite.cli import main

    dogs = [i for i in range(40) if i % 2][:15]              # 15 of the 20 dogs flagged
    run, _, _ = make_run(tmp_path, suspects=dogs + [0])
    out = tmp_path / "clean.csv"
    r = CliRunner().invoke(main, ["export", str(run), "--drop-flagged", "--out", str(out)])
    assert r.exit_code == 2, r.output
    assert r.output.startswith("Error: ") and r.output.count("\n") == 1
    assert "15 of the 20 rows of class 'dog'" in r.output and "--allow-class-loss" in r.output
    assert not out.exists()
    r = CliRunner().invoke(main, ["export", str(run), "--drop-flagged", "--out", str(out),
                                  "--allow-class-loss"])
    assert r.exit_code == 0, r.output
    kept = pd.read_csv(out)
    assert len(kept) == 24 and (kept["label"] == "dog").sum() == 5


def test_drop_flagged_half_of_a_class_is_allowed(tmp_path):
    run, _, _ = make_run(tmp_path, suspects=[i for i in range(40) if i % 2][:10])
    res = export_run(run, mode="drop_flagged", out=tmp_path / "c.csv")
    assert res.per_class.set_index("class")["dropped"].to_dict() == {"cat": 0, "dog": 10}
    assert res.n_out == 30


def test_drop_top_and_relabel_are_not_limited_per_class(tmp_path):
    run, _, _ = make_run(tmp_path, suspects=[i for i in range(40) if i % 2][:15])
    assert export_run(run, mode="relabel", out=tmp_path / "r.csv").n_out == 40
    assert export_run(run, mode="drop_top", drop_top="15", out=tmp_path / "t.csv").n_out == 25
