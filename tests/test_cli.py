"""The CLI contract: help everywhere, one-line errors with exit code 2, nothing half-written."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from cleanlab_lite.cli import main
from tests.expect import assert_error_line, assert_fragments
from tests.conftest import blob_table


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def error_line(result) -> str:
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert "Traceback" not in result.output
    assert len(lines) == 1, result.output
    return lines[0]


def test_every_command_has_help():
    assert set(main.commands) >= {"train", "rank", "export", "check", "report", "demo", "noise"}
    for name, cmd in main.commands.items():
        r = run(name, "--help")
        assert r.exit_code == 0, name
        assert "Usage:" in r.output and len(cmd.help or "") > 20, name


def test_python_m_entry_point():
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-m", "cleanlab_lite", "--help"], capture_output=True, text=True)
    assert p.returncode == 0 and "Usage:" in p.stdout


def test_missing_manifest(tmp_path):
    r = run("train", tmp_path / "none.csv", "--out", tmp_path / "run")
    assert r.exit_code == 2
    assert_error_line(error_line(r), f"Error: manifest {tmp_path / 'none.csv'} not found; check the path")
    assert not (tmp_path / "run").exists()


def test_wrong_label_col(tabular_csv, tmp_path):
    r = run("train", tabular_csv, "--out", tmp_path / "run", "--label-col", "lbl")
    assert r.exit_code == 2
    assert_error_line(error_line(r), f"Error: manifest {tabular_csv} has no column 'lbl' (--label-col); "
                             "its columns are: id, f0, f1, f2, f3, label")


def test_class_with_fewer_rows_than_folds(tmp_path):
    df = blob_table(n_per_class=10)
    df.loc[:7, "label"] = "dog"  # 'cat' keeps 2 rows
    p = tmp_path / "m.csv"
    df.to_csv(p, index=False)
    r = run("train", p, "--out", tmp_path / "run", "--quiet")
    assert r.exit_code == 2
    assert_error_line(error_line(r), "Error: class 'cat' has 2 rows, fewer than --folds 5; use --folds 2 "
                             "or fewer, or remove that class")


def test_nan_feature(tmp_path):
    df = blob_table()
    df.loc[5, "f1"] = np.nan
    p = tmp_path / "m.csv"
    df.to_csv(p, index=False)
    r = run("train", p, "--out", tmp_path / "run", "--model", "mlp")   # auto would pick hgb
    assert r.exit_code == 2
    assert_error_line(error_line(r), f"Error: manifest {p}, row 5: feature 'f1' is nan (NaN or infinite); "
                             "fill or drop such rows before training, or use --model hgb, which "
                             "handles missing values")


def test_missing_image(image_manifest, tmp_path):
    (tmp_path / "img" / "c0_004.png").unlink()
    r = run("train", image_manifest, "--out", tmp_path / "run")
    assert r.exit_code == 2
    assert_error_line(error_line(r), f"Error: row 4: image {tmp_path / 'img' / 'c0_004.png'} (column 'path') "
                             "not found; fix the file or pass --skip-bad to leave such rows out")


def test_bad_config_file(tabular_csv, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("train:\n  epocs: 3\n")
    r = run("train", tabular_csv, "--out", tmp_path / "run", "--config", cfg)
    assert r.exit_code == 2
    assert error_line(r).startswith(f"Error: {cfg}: unknown option 'epocs' for TrainConfig; valid: ")


def test_export_needs_exactly_one_mode(tmp_path):
    r = run("export", tmp_path, "--drop-flagged", "--relabel")
    assert r.exit_code == 2
    assert_error_line(error_line(r), "Error: choose exactly one of --drop-top N|P%, --drop-flagged or --relabel "
                              "(or only --decisions FILE)")


def test_export_before_train(tmp_path):
    r = run("export", tmp_path / "run", "--drop-top", "10%")
    assert r.exit_code == 2
    assert_error_line(error_line(r), f"Error: run folder {tmp_path / 'run'} has no config.yaml; run "
                             f"`clean-labels train MANIFEST --out {tmp_path / 'run'}` first")


def test_config_sections_are_the_ones_that_act(tmp_path):
    from cleanlab_lite.config import RULES, RankConfig, load_yaml
    from cleanlab_lite.errors import ConfigError

    cfg = tmp_path / "c.yaml"
    cfg.write_text("export:\n  drop_top: 10%\n")
    with pytest.raises(ConfigError) as e:
        load_yaml(cfg)
    assert_fragments(str(e.value), f"{cfg}: unknown section 'export' (export takes its options as "
                     "flags only); use one of data, train, rank, check")
    # the rules table is complete when imported: nothing fills it later
    assert {"method", "filter_by", "cj_argmax", "estimation_method"} <= set(RULES[RankConfig])
    with pytest.raises(ConfigError, match="--filter-by .nope. is not valid; use one of adaptive"):
        RankConfig(filter_by="nope")


def test_every_command_has_help_with_an_example():
    from click.testing import CliRunner

    from cleanlab_lite.commands import COMMANDS

    for name in COMMANDS:
        r = CliRunner().invoke(main, [name, "--help"])
        assert r.exit_code == 0 and "Usage:" in r.output, name
    # option defaults shown in --help come from the config dataclasses
    r = CliRunner().invoke(main, ["train", "--help"])
    assert "[default: 5]" in r.output and "[default: adaptive]" not in r.output


def test_error_lines_are_held_to_their_file_option_and_fix():
    from tests.expect import error_fragments

    frags = error_fragments("Error: manifest /d/m.csv has no column 'lbl' (--label-col); pass "
                            "the label column with --label-col")
    assert frags == ["/d/m.csv", "--label-col", "--label-col", "'lbl'",
                     "pass the label column with --label-col"]
    with pytest.raises(AssertionError):
        assert_error_line("Error: manifest /d/other.csv has no column 'lbl' (--label-col); pass "
                          "the label column with --label-col", "Error: manifest /d/m.csv has no "
                          "column 'lbl' (--label-col); pass the label column with --label-col")
