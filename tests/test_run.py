"""The run-folder module: one owner for every run file name, typed readers and writers."""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import cleanlab_lite
from cleanlab_lite import fold_files
from cleanlab_lite import run as run_mod
from cleanlab_lite.errors import RunFolderError
from cleanlab_lite.run import Run
from tests.runs import write_ranking

PACKAGE = Path(cleanlab_lite.__file__).parent
FILE_NAMES = set(run_mod.NAMES) | {fold_files.MODEL, fold_files.SKLEARN_MODEL, fold_files.OOF_PROBS,
                                   fold_files.OOF_ROWS, fold_files.DONE}
DIR_NAMES = {run_mod.FOLDS, run_mod.CACHE, run_mod.DELTA}
PREFIXES = ("fold-", "repeat-", run_mod.CLEANED)


def _run_file_literals(path: Path) -> list[str]:
    """Places in `path` that spell a run file by name: a string literal that is exactly a run file
    name, a folder name joined with `/`, or an f-string starting with a fold/cleaned prefix."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in FILE_NAMES:
            hits.append(f"{path.name}:{node.lineno}: {node.value!r}")
        elif (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)
              and isinstance(node.right, ast.Constant) and node.right.value in DIR_NAMES):
            hits.append(f"{path.name}:{node.lineno}: / {node.right.value!r}")
        elif isinstance(node, ast.JoinedStr) and node.values:
            first = node.values[0]
            if isinstance(first, ast.Constant) and str(first.value).startswith(PREFIXES):
                hits.append(f"{path.name}:{node.lineno}: f{first.value!r}...")
    return hits


@pytest.mark.slow
def test_no_module_but_run_py_names_a_run_file():
    hits = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path not in (PACKAGE / "run.py", PACKAGE / "fold_files.py"):
            hits += _run_file_literals(path)
    assert hits == []


def test_the_grep_sees_a_file_opened_by_name(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('import numpy as np\np = np.load(run / "pred_probs.npy")\n'
                   'd = run / "folds" / f"fold-{i}"\n')
    assert len(_run_file_literals(bad)) == 3


def test_writers_and_readers_round_trip(tmp_path):
    import pandas as pd

    run = Run(tmp_path / "run")
    run.write_config({"data": {"label_col": "y"}})
    run.write_classes(["cat", "dog"])
    run.write_labels(np.array([0, 1, 1]))
    run.write_pred_probs(np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]]))
    run.write_rows(pd.DataFrame({"row": [0, 1, 2], "y": ["cat", "dog", "dog"]}), np.array([0, 1, 2]))
    rec = write_ranking(run, np.array([2, 0, 1]), rows=np.arange(3), classes=["cat", "dog"],
                        given=np.array([0, 1, 1]), predicted=np.array([0, 1, 0]),
                        suggested=np.array([0, 1, 0]), quality=np.array([0.9, 0.8, 0.3]),
                        is_issue=np.array([False, False, True]),
                        suggested_confidence=np.array([0.9, 0.8, 0.7]), ids=["a", "b", "c"])
    assert run.read_summary() == {} and run.read_metrics() is None
    run.write_summary({"n": 3}, inputs=run.input_records(), ranking=rec)
    assert run.read_config() == {"data": {"label_col": "y"}}
    assert run.read_classes() == ["cat", "dog"]
    assert run.read_labels().tolist() == [0, 1, 1]
    assert run.read_pred_probs().dtype == np.float32
    assert run.read_rows()["fold"].tolist() == [0, 1, 2]
    ranking = run.read_ranking()
    assert ranking["row"].tolist() == [2, 0, 1]
    assert ranking["id"].tolist() == ["c", "a", "b"]
    assert ranking["is_label_issue"].tolist() == [True, False, False]
    assert ranking["suggested_label"].tolist() == ["cat", "cat", "dog"]
    assert ranking["suggested_index"].tolist() == [0, 0, 1]
    assert ranking["label_quality"].tolist() == [0.3, 0.9, 0.8]     # full precision, typed
    assert ranking.flagged()["row"].tolist() == [2]
    # the CSV view for people has the same rows, flags as true/false
    view = pd.read_csv(run.ranking_path, keep_default_na=False)
    assert view["row"].tolist() == [2, 0, 1] and view["is_label_issue"].tolist() == [True, False, False]
    assert "given_index" not in view.columns
    assert run.fold(0, 3, 1).dir == run.path / "folds" / "fold-3"
    assert run.fold(1, 3, 2).dir == run.path / "folds" / "repeat-1" / "fold-3"


def test_missing_and_corrupt_files_are_one_line_errors(tmp_path):
    run = Run(tmp_path)
    with pytest.raises(RunFolderError, match=rf"^run folder {tmp_path} has no config.yaml; run "
                                             rf"`clean-labels train MANIFEST --out {tmp_path}` first$"):
        run.read_config()
    with pytest.raises(RunFolderError, match=r"has no classes.json; rerun `clean-labels train`$"):
        run.read_classes()
    run.classes_path.write_text("{not json")
    with pytest.raises(RunFolderError, match=r"classes.json is not valid JSON; rerun"):
        run.read_classes()
    with pytest.raises(RunFolderError, match=rf"^{tmp_path / 'ranking.parquet'} not found; run "
                                             rf"`clean-labels rank {tmp_path}` first$"):
        run.read_ranking()
    run.ranking_path.write_text("row,given_label\n0,cat\n")     # ranked by an older version
    with pytest.raises(RunFolderError, match=r"has a ranking.csv but no ranking.parquet .*rerun"):
        run.read_ranking()
