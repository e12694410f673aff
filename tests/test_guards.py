"""Output guards, no tracebacks, gate semantics, escaped control characters: through the CLI, with
the exact error line, the exit code, and the hashes of the inputs and run files unchanged."""
from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest
from click.testing import CliRunner

from cleanlab_lite.cli import main
from cleanlab_lite.run import Run
from tests.expect import assert_refused
from tests.runs import make_ranked_run, write_ranking
from tests.runs import make_export_run


def cli(*args, env=None):
    return CliRunner().invoke(main, [str(a) for a in args], env={"GITHUB_STEP_SUMMARY": None, **(env or {})})


def hashes(root) -> dict:
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(root.rglob("*"))
            if f.is_file()}


@pytest.fixture
def export_run(tmp_path):
    run, manifest, _ = make_export_run(tmp_path)
    return tmp_path, run, manifest


def refused(root, args, line, code=2):
    """The command exits `code` with exactly `Error: line` and changes no file under root."""
    before = hashes(root)
    r = cli(*args)
    assert_refused(r, line, code)
    assert hashes(root) == before


# ---- no output over an input or a run file, whatever the spelling ------------------------------


def test_check_outputs_never_overwrite_the_manifest_or_run_files(export_run):
    tmp, run, manifest = export_run
    refused(tmp, ("check", run, "--write-baseline", manifest),
            f"--write-baseline {manifest} is the manifest ({manifest}); no command writes over its "
            f"input: choose another path")
    refused(tmp, ("check", run, "--write-baseline", run / "ranking.csv"),
            f"--write-baseline {run / 'ranking.csv'} is a file of run folder {run}, which "
            f"clean-labels writes itself; choose a path outside it or a new name")
    refused(tmp, ("check", run, "--json", run / "summary.json"),
            f"--json {run / 'summary.json'} is a file of run folder {run}, which clean-labels writes "
            f"itself; choose a path outside it or a new name")
    refused(tmp, ("check", run, "--json", run / "ranking.csv"),
            f"--json {run / 'ranking.csv'}: the file written is .json, so the name must end in .json; "
            f"use e.g. {run / 'ranking.json'}")
    refused(tmp, ("check", run, "--markdown", manifest),
            f"--markdown {manifest}: the file written is .md, so the name must end in .md or "
            f".markdown (or no extension); use e.g. {tmp / 'in.md'}")


def test_symlink_hardlink_and_dotdot_spellings_are_caught(export_run):
    tmp, run, manifest = export_run
    (tmp / "summary.md").symlink_to(manifest)
    os.link(manifest, tmp / "copy.csv")
    dotdot = run / ".." / "in.csv"
    refused(tmp, ("check", run, "--markdown", tmp / "summary.md"),
            f"--markdown {tmp / 'summary.md'} is the manifest ({manifest}); no command writes over "
            f"its input: choose another path")
    refused(tmp, ("export", run, "--drop-flagged", "--out", tmp / "copy.csv"),
            f"--out {tmp / 'copy.csv'} is the manifest ({manifest}); no command writes over its "
            f"input: choose another path")
    refused(tmp, ("export", run, "--drop-flagged", "--out", dotdot),
            f"--out {dotdot} is the manifest ({manifest}); no command writes over its input: "
            f"choose another path")


def test_export_and_report_never_write_over_run_files(export_run):
    tmp, run, manifest = export_run
    refused(tmp, ("export", run, "--drop-flagged", "--out", run / "pred_probs.npy"),
            f"manifest {run / 'pred_probs.npy'}: unknown extension '.npy'; use .csv, .parquet or .jsonl")
    refused(tmp, ("export", run, "--drop-flagged", "--format", "csv", "--out", run / "config.yaml"),
            f"--out {run / 'config.yaml'}: the file written is .csv, so the name must end in .csv or "
            f".tsv; use e.g. {run / 'config.csv'}")
    refused(tmp, ("export", run, "--drop-flagged", "--out", run / "rows.parquet"),
            f"--out {run / 'rows.parquet'} is a file of run folder {run}, which clean-labels writes "
            f"itself; choose a path outside it or a new name")
    refused(tmp, ("report", run, "--out", manifest),
            f"--out {manifest}: the file written is .html, so the name must end in .html or .htm; "
            f"use e.g. {tmp / 'in.html'}")
    # the run's own default outputs are fine
    assert cli("export", run, "--drop-flagged").exit_code == 0
    assert cli("export", run, "--drop-flagged").exit_code == 0       # and again, over its own file


@pytest.mark.slow
def test_report_pngs_stay_out_of_a_data_folder(tmp_path):
    run = make_ranked_run(tmp_path, images=True)
    images = tmp_path / "imgs"
    before = hashes(images)
    r = cli("report", run, "--out", images / "report.html")
    assert r.exit_code == 0, r.output
    assert f"  note: {images} holds this run's data, so the plots were not written there as PNG " \
           f"files (they are in the page).\n" in r.output
    assert sorted(p.name for p in images.iterdir() if not p.name[0].isdigit()) == ["report.html"]
    (images / "report.html").unlink()
    assert hashes(images) == before
    r = cli("report", run, "--out", tmp_path / "elsewhere" / "report.html")
    assert r.exit_code == 0 and (tmp_path / "elsewhere" / "issue_rate_per_class.png").is_file()


def test_unwritable_output_is_exit_2_and_nothing_half_written(export_run):
    tmp, run, _ = export_run
    (tmp / "afile").write_text("x")
    bad = tmp / "afile" / "check.xml"
    refused(tmp, ("check", run, "--write-baseline", tmp / "base.csv", "--junit", bad),
            f"cannot write {bad} ({tmp / 'afile'} is a file, not a folder); choose a writable path "
            f"for --junit")
    assert not (tmp / "base.csv").exists()


# ---- no tracebacks --------------------------------------------------------------------------


def test_unexpected_exception_is_one_line_exit_3_with_debug_for_the_traceback(tmp_path):
    run = make_ranked_run(tmp_path)
    Run(run).write_metrics({"oof": 5})          # a metrics.json this version never writes
    before = hashes(tmp_path)
    r = cli("report", run)
    assert (r.exit_code, r.output) == (
        3, "Error: unexpected AttributeError: 'int' object has no attribute 'get' (not a problem "
           "with your input that clean-labels knows of); rerun with --debug or CLEAN_LABELS_DEBUG=1 "
           "for the traceback and report it\n")
    assert hashes(tmp_path) == before
    r = cli("--debug", "report", run)
    assert r.exit_code == 3 and "Traceback (most recent call last)" in r.output
    r = cli("report", run, env={"CLEAN_LABELS_DEBUG": "1"})
    assert r.exit_code == 3 and "Traceback (most recent call last)" in r.output


# ---- gate semantics -------------------------------------------------------------------------


def test_max_issue_rate_1_is_ambiguous(tmp_path):
    run = make_ranked_run(tmp_path)
    refused(tmp_path, ("check", run, "--max-issue-rate", "1"),
            "--max-issue-rate 1 is ambiguous; write 100%, 1% or a fraction like 0.01")
    assert cli("check", run, "--max-issue-rate", "100%").exit_code == 0
    assert cli("check", run, "--max-issue-rate", "1%").exit_code == 1


def test_empty_ranking_fails_the_gate_with_exit_2(tmp_path):
    run = Run(tmp_path / "run")
    empty = np.zeros(0, dtype=np.int64)
    rec = write_ranking(run, empty, rows=empty, classes=["a", "b"], given=empty, predicted=empty,
                            suggested=empty, quality=np.zeros(0), is_issue=np.zeros(0, bool),
                            suggested_confidence=np.zeros(0))
    run.write_summary({"n": 0}, inputs=run.input_records(), ranking=rec)
    refused(tmp_path, ("check", run.path, "--max-issues", "0"),
            f"{run.ranking_path} has no rows, so there is nothing to gate; rank a run with at least "
            f"one row (`clean-labels rank {run.path}`)")


def test_control_characters_in_labels_are_escaped_in_printed_lines(tmp_path):
    run = make_ranked_run(tmp_path, classes=("cat", "\x1b[2J\x1b[31mred\r", "bird\u202e"),
                          flagged={"cat": 5})
    r = cli("check", run, "--max-issues", "0")
    assert r.exit_code == 1
    assert "\x1b" not in r.output and "\r" not in r.output and "\u202e" not in r.output
    assert "\\x1b[2J\\x1b[31mred\\r" in r.output and "bird\\u202e" in r.output


def test_every_cli_line_goes_through_the_escaping_echo():
    import inspect

    import importlib

    import cleanlab_lite.cli as cli_mod
    from cleanlab_lite.commands import COMMANDS

    mods = [cli_mod, importlib.import_module("cleanlab_lite.commands.common")] + [
        importlib.import_module(f"cleanlab_lite.commands.{name}") for name in COMMANDS]
    srcs = [inspect.getsource(m) for m in mods]
    assert sum(s.count("click.echo(") for s in srcs) == 1   # the one inside echo() itself
    assert not any("print(" in s for s in srcs)


def test_train_out_never_overwrites_the_manifest_or_the_embeddings(tmp_path, tabular_csv):
    import pandas as pd

    run = tmp_path / "run"
    run.mkdir()
    # the manifest itself is a file the run would write (RUN/rows.parquet)
    manifest = run / "rows.parquet"
    pd.read_csv(tabular_csv).to_parquet(manifest)
    refused(tmp_path, ["train", manifest, "--out", run, "--model", "logreg", "-q"],
            f"--out {run} would overwrite the manifest {manifest}; no command writes over its input: "
            "choose another folder for --out")
    # embeddings named like a run file, also through a hardlink, or under the run's cache/
    n = len(pd.read_csv(tabular_csv))
    emb = tmp_path / "emb.npy"
    np.save(emb, np.random.default_rng(0).normal(size=(n, 3)).astype(np.float32))
    (run / "cache").mkdir()
    for path in (run / "labels.npy", run / "pred_probs.npy", run / "cache" / "e.npy"):
        os.link(emb, path)
        refused(tmp_path, ["train", tabular_csv, "--embeddings", path, "--out", run, "-q"],
                f"--out {run} would overwrite the embeddings {path}; no command writes over its "
                "input: choose another folder for --out")
    hard = tmp_path / "hard.npy"            # a hardlink outside the run to a run file
    os.link(run / "labels.npy", hard)
    refused(tmp_path, ["train", tabular_csv, "--embeddings", hard, "--out", run, "-q"],
            f"--out {run} would overwrite the embeddings {hard}; no command writes over its "
            "input: choose another folder for --out")
    assert cli("train", tabular_csv, "--embeddings", emb, "--out", tmp_path / "ok", "-q").exit_code == 0


@pytest.mark.slow
def test_output_piped_into_a_reader_that_stops_ends_quietly(tmp_path, tabular_csv):
    """`clean-labels rank RUN | head`: the reader closes the pipe; no traceback, no `Error:` line,
    exit 141 (128 + SIGPIPE), and the files were written before the output."""
    import subprocess
    import sys

    run = tmp_path / "run"
    assert cli("train", tabular_csv, "--out", run, "--model", "logreg", "-q").exit_code == 0
    p = subprocess.Popen([sys.executable, "-m", "cleanlab_lite", "rank", str(run)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()                     # the reader is gone before the first line
    err = p.stderr.read()
    p.stderr.close()
    assert (p.wait(timeout=120), err) == (141, b"")
    assert (run / "ranking.csv").is_file() and (run / "summary.json").is_file()


def _make_read_only(folder):
    """Make `folder` unwritable for this process: chmod for a normal user; as root (which ignores
    modes) the immutable attribute, which root cannot write through either. Returns the undo."""
    import shutil
    import subprocess

    if os.geteuid() != 0:
        os.chmod(folder, 0o555)
        return lambda: os.chmod(folder, 0o755)
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(folder)], capture_output=True).returncode:
        pytest.skip("running as root where chattr +i is not available (e.g. tmpfs or no "
                    "CAP_LINUX_IMMUTABLE): no way to make a folder read-only for root")
    return lambda: subprocess.run([chattr, "-i", str(folder)], check=True)


@pytest.mark.slow
def test_a_read_only_run_folder_is_one_line_exit_2_for_every_writer(tmp_path, tabular_csv):
    run = tmp_path / "run"
    assert cli("train", tabular_csv, "--out", run, "--model", "logreg", "-q").exit_code == 0
    assert cli("rank", run).exit_code == 0
    undo = _make_read_only(run)
    try:
        before = hashes(tmp_path)
        for args in (["rank", run], ["report", run], ["export", run, "--drop-top", "10%"],
                     ["train", tabular_csv, "--out", run, "--model", "logreg", "-q"],
                     ["review", run, "--no-browser"]):
            r = cli(*args)
            assert r.exit_code == 2, (args, r.output)
            assert r.output.startswith("Error: cannot write ") and r.output.count("\n") == 1, r.output
            assert str(run) in r.output
        assert cli("check", run, "--max-issue-rate", "50%").exit_code == 0   # reads only
        assert hashes(tmp_path) == before
    finally:
        undo()
