"""A hostile probe of the CLI: every command and output option with inputs at their edges, as a
careless user or an attacker would try them, each case in a fresh copy of one small sandbox.

    python benchmarks/probe_edges.py                 # all cases, at most 600 s
    python benchmarks/probe_edges.py --max-seconds 120 --show bad

Each case is judged against the contract (README, DESIGN.md):
- the exit code is the one expected (0, 1 only for check's gate, 2 for the user's input), never 3
  and never a traceback;
- exit 2 prints exactly one `Error: ...` line and changes no file in the sandbox (nothing written,
  no input touched);
- exit 0 never changes an input (manifest, config, embeddings, baseline, decisions, images);
- no raw terminal control or zero-width character reaches the output.

Prints one line per case that broke a promise (or every case with --show all) and the counts of
cases tried and their verdicts.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from click.testing import CliRunner  # noqa: E402

from cleanlab_lite.cli import main as cli_main  # noqa: E402

RAW = ("\x1b", "\x07", "\u200b", "\u202e")
INPUTS = ("in.csv", "cfg.yaml", "emb.npy", "base.csv", "dec.csv", "pp.npy", "y.npy", "classes.json",
          "img/a0.png", "img.csv", "new.csv")


@dataclass
class Case:
    name: str
    args: list
    expect: tuple            # allowed exit codes
    setup: object = None     # callable(sandbox) run before the command
    inputs: tuple = INPUTS   # files the command reads, which must never change


def sha_tree(root: Path) -> dict:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_symlink():
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def cli(args, cwd: Path):
    old = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stderr(io.StringIO()) as err:
            r = CliRunner().invoke(cli_main, [str(a) for a in args],
                                   env={"GITHUB_STEP_SUMMARY": None})
        return r.exit_code, r.output + err.getvalue(), r.exception
    finally:
        os.chdir(old)


def build_sandbox(root: Path) -> None:
    """iris-like table with ids and 3 flipped labels, a trained + ranked run, a tiny image set with
    its own run, embeddings, a config file, a baseline and a decisions file."""
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 4, size=(3, 4))
    X = np.concatenate([c + rng.normal(0, 1, size=(40, 4)) for c in centers])
    y = np.repeat(["cat", "dog", "eel"], 40)
    y[[0, 41, 82]] = ["dog", "eel", "cat"]
    df = pd.DataFrame(X, columns=list("abcd")).round(4)
    df.insert(0, "id", [f"r{i:03d}" for i in range(len(df))])
    df["label"] = y
    df.to_csv(root / "in.csv", index=False)
    df.head(20).drop(columns=["label"]).to_csv(root / "new.csv", index=False)
    np.save(root / "emb.npy", X.astype(np.float32))
    (root / "cfg.yaml").write_text("train:\n  model: logreg\n  folds: 3\n")
    for args in (["train", "in.csv", "--out", "run", "--id-col", "id", "--config", "cfg.yaml", "-q"],
                 ["rank", "run", "-q"],
                 ["train", "in.csv", "--out", "erun", "--embeddings", "emb.npy", "--model",
                  "logreg", "--folds", "3", "-q"],
                 ["check", "run", "--write-baseline", "base.csv"]):
        code, out, _ = cli(args, root)
        assert code == 0, (args, out)
    pd.DataFrame({"row": [0], "given_label": ["dog"], "decision": ["relabel"],
                  "label": ["cat"]}).to_csv(root / "dec.csv", index=False)
    pp = np.load(root / "run" / "pred_probs.npy")
    np.save(root / "pp.npy", pp)
    np.save(root / "y.npy", np.load(root / "run" / "labels.npy"))
    (root / "classes.json").write_text('["cat", "dog", "eel"]')
    from PIL import Image
    (root / "img").mkdir()
    rows = []
    for c in range(2):
        for i in range(8):
            a = rng.integers(0, 40, size=(8, 8)).astype(np.uint8) + np.uint8(180 * c)
            Image.fromarray(a, mode="L").save(root / "img" / f"a{c * 8 + i}.png")
            rows.append({"path": f"img/a{c * 8 + i}.png", "label": f"k{c}"})
    pd.DataFrame(rows).to_csv(root / "img.csv", index=False)
    for args in (["train", "img.csv", "--out", "irun", "--model", "cnn", "--epochs", "1", "--folds",
                  "2", "-q"], ["rank", "irun", "-q"]):
        code, out, _ = cli(args, root)
        assert code == 0, (args, out)


# ---- the cases ------------------------------------------------------------------------------

def spellings(name: str) -> list[tuple[str, object]]:
    """(spelling, setup) for a path `name` relative to the sandbox."""
    def link(kind):
        def make(root: Path):
            target = root / name
            dst = root / f"{kind}-{Path(name).name}"
            if kind == "sym":
                dst.symlink_to(target)
            else:
                os.link(target, dst)
        return make
    return [(name, None), (f"./{name}", None), (f"nosuch/../{name}", None),
            (f"{{root}}/{name}", None), (f"sym-{Path(name).name}", link("sym")),
            (f"hard-{Path(name).name}", link("hard"))]


def output_cases() -> list[Case]:
    """Every output option aimed at every input and run file, in every spelling: exit 2."""
    targets = ["in.csv", "cfg.yaml", "emb.npy", "base.csv", "dec.csv", "img/a0.png",
               "run/ranking.csv", "run/ranking.parquet", "run/summary.json", "run/config.yaml",
               "run/pred_probs.npy", "run/labels.npy", "run/rows.parquet", "run/classes.json",
               "run/metrics.json", "run/folds/fold-0/done.json"]
    base_in = ("in.csv", "base.csv")
    options = [   # (name, command, the files it reads: the run's manifest and its own inputs)
        ("check --write-baseline", ["check", "run", "--baseline", "base.csv", "--write-baseline"],
         base_in),
        ("check --json", ["check", "run", "--baseline", "base.csv", "--json"], base_in),
        ("check --junit", ["check", "run", "--baseline", "base.csv", "--junit"], base_in),
        ("check --markdown", ["check", "run", "--baseline", "base.csv", "--markdown"], base_in),
        ("export --out", ["export", "run", "--drop-flagged", "--decisions", "dec.csv", "--out"],
         ("in.csv", "dec.csv")),
        ("report --out", ["report", "run", "--out"], ("in.csv",)),
        ("predict --out", ["predict", "erun", "new.csv", "--embeddings", "emb.npy", "--out"],
         ("in.csv", "emb.npy", "new.csv")),
        ("noise --out", ["noise", "in.csv", "--rate", "0.1", "--out"], ("in.csv",)),
    ]
    cases = []
    for label, base, reads in options:
        for t in targets:
            every = spellings(t)
            # run files: the plain, absolute and hardlink spellings (the rest are the inputs')
            for spelled, setup in every if not t.startswith("run/") else [every[i] for i in (0, 3, 5)]:
                # a hardlink to a fold file: the atomic rename replaces the link, not the file;
                # a file that this command does not read may be written (its own output)
                # (noise names no run: a hardlink outside the run folder is replaced, not written)
                link = spelled.startswith("hard-")
                run_file = t.startswith("run/") and not (link and (label.startswith("noise")
                                                                   or "folds" in t))
                ok = (2,) if t in reads or run_file else (0, 2)
                cases.append(Case(f"{label} {spelled}", base + [spelled], ok, setup, reads))
    folder_targets = [("train --out", ["train", "in.csv", "--config", "config.yaml", "-q", "--out"]),
                      ("rank --pred-probs --out", ["rank", "--pred-probs", "pp.npy", "--labels",
                                                   "y.npy", "--classes", "classes.json", "--out"])]
    images = ("img.csv", "img/a0.png", "img/a9.png")
    for label, base, ext in (("export --out", ["export", "irun", "--drop-top", "1", "--out"], ".csv"),
                             ("report --out", ["report", "irun", "--out"], ".html"),
                             ("check --json", ["check", "irun", "--json"], ".json"),
                             ("predict --out", ["predict", "irun", "img.csv", "--out"], ".npy")):
        for spelled, setup in spellings("img/a0.png"):
            cases.append(Case(f"image run: {label} {spelled}", base + [spelled], (2,), setup, images))
        for kind in ("sym", "hard"):        # a link to an image under the name the option wants
            def link(root, kind=kind, ext=ext):
                dst, src = root / f"img/link{ext}", root / "img/a0.png"
                dst.symlink_to(src) if kind == "sym" else os.link(src, dst)
            cases.append(Case(f"image run: {label} {kind}link-to-image{ext}",
                              base + [f"img/link{ext}"], (2,), link, images))
    cases.append(Case("image run: report --out img/r.html (PNGs not written among the images)",
                      ["report", "irun", "--out", "img/r.html"], (0,), None, images))
    cases.append(Case("image run: train --out img (the images' folder)",
                      ["train", "img.csv", "--out", "img", "--model", "cnn", "--epochs", "1", "-q"],
                      (0, 2), None, images))
    reads = {"train --out": ("in.csv", "config.yaml"),
             "rank --pred-probs --out": ("pp.npy", "y.npy", "classes.json")}
    for label, base in folder_targets:
        for d in (".", "./", "nosuch/..", "{root}", "run/..", "in.csv"):
            cases.append(Case(f"{label} {d}", base + [d], (2,), copy_config, reads[label]))
    return cases


def copy_config(root: Path) -> None:
    shutil.copy(root / "cfg.yaml", root / "config.yaml")


def write(rel: str, content):
    def make(root: Path):
        p = root / rel
        if isinstance(content, np.ndarray):
            np.save(p, content)
        elif isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)
    return make


def bad_file_cases() -> list[Case]:
    """Inputs that are wrong in content: each refused with exit 2."""
    pp = np.full((120, 3), 1 / 3, np.float32)
    nan = pp.copy()
    nan[5, 1] = np.nan
    rank = ["rank", "--pred-probs", "p.npy", "--labels", "y.npy", "--out", "r"]
    table = [
        ("decisions: row out of range", write("d.csv", "row,given_label,decision,label\n9999,cat,drop,\n"),
         ["export", "run", "--decisions", "d.csv", "--out", "o.csv"]),
        ("decisions: unknown decision", write("d.csv", "row,given_label,decision,label\n0,dog,maybe,\n"),
         ["export", "run", "--decisions", "d.csv", "--out", "o.csv"]),
        ("decisions: unknown class", write("d.csv", "row,given_label,decision,label\n0,dog,relabel,gnu\n"),
         ["export", "run", "--decisions", "d.csv", "--out", "o.csv"]),
        ("decisions: no columns", write("d.csv", "a,b\n1,2\n"),
         ["export", "run", "--decisions", "d.csv", "--out", "o.csv"]),
        ("baseline: wrong columns", write("b.csv", "x,y\n1,2\n"), ["check", "run", "--baseline", "b.csv"]),
        ("baseline: binary", write("b.csv", bytes(range(256))), ["check", "run", "--baseline", "b.csv"]),
        ("labels: wrong length", lambda r: (np.save(r / "p.npy", pp), np.save(r / "y.npy", np.zeros(7, int))), rank),
        ("labels: negative", lambda r: (np.save(r / "p.npy", pp), np.save(r / "y.npy", -np.ones(120, int))), rank),
        ("labels: out of range", lambda r: (np.save(r / "p.npy", pp), np.save(r / "y.npy", np.full(120, 3))), rank),
        ("pred_probs: NaN", lambda r: (np.save(r / "p.npy", nan), np.save(r / "y.npy", np.zeros(120, int))), rank),
        ("pred_probs: rows not summing to 1", lambda r: (np.save(r / "p.npy", pp * 2),
                                                         np.save(r / "y.npy", np.zeros(120, int))), rank),
        ("pred_probs: pickle", lambda r: (np.save(r / "p.npy", np.array([{"a": 1}], dtype=object),
                                                  allow_pickle=True), np.save(r / "y.npy", np.zeros(1, int))), rank),
        ("pred_probs: K vs --classes", lambda r: (np.save(r / "p.npy", pp), np.save(r / "y.npy", np.zeros(120, int)),
                                                  (r / "c.json").write_text('["a","b"]')), rank + ["--classes", "c.json"]),
        ("--classes: JSON object", lambda r: (np.save(r / "p.npy", pp), np.save(r / "y.npy", np.zeros(120, int)),
                                              (r / "c.json").write_text('{"a": 1}')), rank + ["--classes", "c.json"]),
        ("manifest: empty file", write("m.csv", ""), ["train", "m.csv", "--out", "mr", "--model", "logreg"]),
        ("manifest: header only", write("m.csv", "a,label\n"), ["train", "m.csv", "--out", "mr", "--model", "logreg"]),
        ("manifest: binary", write("m.csv", bytes(range(256)) * 4), ["train", "m.csv", "--out", "mr"]),
        ("manifest: duplicate ids", lambda r: pd.read_csv(r / "in.csv").assign(id="same").to_csv(r / "m.csv", index=False),
         ["train", "m.csv", "--out", "mr", "--model", "logreg", "--id-col", "id"]),
        ("manifest: a folder", lambda r: (r / "m.csv").mkdir(), ["train", "m.csv", "--out", "mr"]),
        ("manifest: unknown extension", write("m.xlsx", "x"), ["train", "m.xlsx", "--out", "mr"]),
        ("config: unknown section", write("c.yaml", "bogus:\n  a: 1\n"),
         ["train", "in.csv", "--config", "c.yaml", "--out", "mr"]),
        ("config: not YAML", write("c.yaml", "a: [\n"), ["train", "in.csv", "--config", "c.yaml", "--out", "mr"]),
        ("config: a list", write("c.yaml", "- 1\n- 2\n"), ["train", "in.csv", "--config", "c.yaml", "--out", "mr"]),
        ("embeddings: wrong rows", lambda r: np.save(r / "e.npy", np.zeros((7, 4), np.float32)),
         ["train", "in.csv", "--embeddings", "e.npy", "--out", "mr", "--model", "logreg"]),
        ("embeddings: inf", lambda r: np.save(r / "e.npy", np.full((120, 4), np.inf, np.float32)),
         ["train", "in.csv", "--embeddings", "e.npy", "--out", "mr", "--model", "logreg"]),
        ("check --manifest: missing label column", lambda r: pd.read_csv(r / "in.csv").drop(columns=["label"]).to_csv(
            r / "m.csv", index=False), ["check", "run", "--manifest", "m.csv"]),
        ("predict: other features", lambda r: pd.DataFrame({"zz": [1, 2]}).to_csv(r / "m.csv", index=False),
         ["predict", "run", "m.csv", "--out", "o.npy"]),
    ]
    return [Case(name, args, (2,), setup) for name, setup, args in table]


def truncate(rel: str, keep: int = 20):
    def make(root: Path):
        p = root / rel
        data = p.read_bytes()
        p.write_bytes(data[:keep])
    return make


def swap_pred_probs(root: Path):
    pp = np.load(root / "run" / "pred_probs.npy")
    np.save(root / "run" / "pred_probs.npy", pp[::-1].copy())


def stale_cases() -> list[Case]:
    files = ["pred_probs.npy", "ranking.parquet", "summary.json", "config.yaml", "classes.json",
             "labels.npy", "rows.parquet", "metrics.json", "folds/fold-0/done.json",
             "folds/fold-0/model.joblib"]
    commands = [["rank", "run", "-q"], ["export", "run", "--drop-flagged", "--out", "o.csv"],
                ["check", "run", "--max-issues", "100"], ["report", "run", "--out", "o.html"],
                ["predict", "run", "new.csv", "--out", "o.npy"]]
    cases = []
    for f in files:
        for cmd in commands:
            # a truncated metrics.json or fold file does not matter to every command: 0 or 2
            ok = (0, 1, 2) if f in ("metrics.json",) or f.startswith("folds") else (2,)
            # what a command does not read may be broken; rank rewrites its own outputs
            unread = {"predict": ("pred_probs.npy", "labels.npy", "ranking.parquet", "summary.json",
                                  "config.yaml"),
                      "rank": ("ranking.parquet", "summary.json"),
                      "check": ("config.yaml",), "report": ("config.yaml",)}
            if f in unread.get(cmd[0], ()):
                ok = (0, 1, 2)
            cases.append(Case(f"truncated {f}: {cmd[0]}", cmd, ok, truncate(f"run/{f}")))
    for cmd in commands[1:4]:
        cases.append(Case(f"swapped pred_probs: {cmd[0]}", cmd, (2,), swap_pred_probs))
    return cases


EDGE_VALUES = {
    ("train", "--folds"): ["0", "1", "-3", "121", "1e9", "x"],
    ("train", "--repeats"): ["0", "-1"],
    ("train", "--epochs"): ["0", "-1"],
    ("train", "--lr"): ["0", "-1", "nan", "inf"],
    ("train", "--seed"): ["-1", str(2 ** 70)],
    ("train", "--threads"): ["-1", "100000"],
    ("train", "--batch-size"): ["0", "-5"],
    ("train", "--hidden"): ["0"],
    ("train", "--fold"): ["-1", "3", "99"],
    ("train", "--feature-cols"): ["", ",", "nosuch", "label", "id", "a,a"],
    ("train", "--label-col"): ["", "nosuch", "id", "a"],
    ("train", "--id-col"): ["nosuch", "label"],
    ("train", "--group-col"): ["nosuch", "label", "id"],
    ("train", "--weight-col"): ["nosuch", "label", "a"],
    ("train", "--class-weight"): ["bogus", "1,2", "0,0,0", "-1,1,1", "nan,1,1"],
    ("train", "--label-smoothing"): ["-0.1", "1", "1.5", "0.1,0.2"],
    ("train", "--model"): ["bogus", "cnn", "resnet18", ""],
    ("train", "--embeddings"): ["pp.npy", "y.npy", "classes.json", "nosuch.npy"],
    ("train", "--pretrained"): ["/missing.pth", "imagenet", "in.csv"],
    ("train", "--backbone"): ["resnet18", "notanet"],
    ("train", "--device"): ["cuda", "tpu"],
    ("rank", "--frac-noise"): ["-1", "2", "nan"],
    ("rank", "--chunk-rows"): ["0", "-1"],
    ("rank", "--method"): ["bogus"],
    ("rank", "--filter-by"): ["bogus"],
    ("rank", "--num-to-remove-per-class"): ["1", "1,2,x", "-1,0,0"],
    ("rank", "--min-examples-per-class"): ["-1", "1000"],
    ("export", "--drop-top"): ["-1", "0", "0%", "100%", "101%", "120", "1e9", "abc", "10.5%", "nan%"],
    ("export", "--min-confidence"): ["-0.1", "1.1", "nan"],
    ("export", "--format"): ["xlsx"],
    ("check", "--max-issue-rate"): ["-1", "0", "1", "100%", "101%", "nan", "inf", "x"],
    ("check", "--max-issues"): ["-1", "1.5", "1e400", "x"],
    ("check", "--max-class-issue-rate"): ["-0.5", "2", "nan"],
    ("report", "--top"): ["0", "-1", "100000000"],
    ("report", "--thumb-size"): ["0", "9999"],
    ("noise", "--rate"): ["0", "1", "1.5", "-0.1", "nan", "50%"],
    ("noise", "--sparsity"): ["-1", "2"],
    ("noise", "--trace"): ["-1", "0", "100"],
    ("review", "--port"): ["-1", "70000"],
    ("review", "--top"): ["0"],
    ("demo", "--noise"): ["-0.1", "1", "nan"],
}
BASE = {
    "train": ["train", "in.csv", "--out", "newrun", "--model", "logreg", "--folds", "3", "-q"],
    "rank": ["rank", "run", "-q"],
    "export": ["export", "run", "--relabel", "--out", "o.csv"],
    "check": ["check", "run"],
    "report": ["report", "run", "--out", "o.html"],
    "noise": ["noise", "in.csv", "--out", "o.csv"],
    "review": ["review", "run", "--no-browser"],
    "demo": ["demo", "--out", "d"],
}


def edge_cases() -> list[Case]:
    cases = []
    for (cmd, opt), values in EDGE_VALUES.items():
        for v in values:
            args = list(BASE[cmd])
            if cmd == "noise" and opt != "--rate":
                args += ["--rate", "0.1"]
            if cmd == "export" and opt == "--drop-top":
                args = ["export", "run", "--out", "o.csv"]
            if cmd == "train" and opt in ("--model", "--embeddings"):
                args = [a for a in args if a != "logreg" and a != "--model"]
            args += [opt, v]
            # review and demo only fail fast on bad values; a good value would serve or train
            ok = (2,) if cmd in ("review", "demo") else (0, 1, 2)
            cases.append(Case(f"{cmd} {opt} {v!r}", args, ok))
    return cases


def label_table(root: Path, labels, name: str) -> None:
    """in.csv with its classes cat, dog, eel renamed to `labels` (three names; 120 for one each)."""
    df = pd.read_csv(root / "in.csv")
    if len(labels) == len(df):
        df["label"] = labels
    else:
        df["label"] = df["label"].map(dict(zip(["cat", "dog", "eel"], labels)))
    df.to_csv(root / name, index=False)


def odd_label_cases() -> list[Case]:
    sets = {
        "newline": ["x\nPASS: 0 new issues.", "b", "c"],
        "escape": ["\x1b[31mred\x07", "b", "c"],
        "zero-width": ["a", "a\u200b", "c"],
        "bidi": ["\u202eabc", "b", "c"],
        "markdown": ["[click](https://e.x)", "![t](https://e.x/i.png)", "<b>x</b>"],
        "spaces": [" a", "a", "a "],
        "numeric-like": ["1", "01", "1.0"],
        "empty": ["", "b", "c"],
        "one class": ["a", "a", "a"],
        "long": ["x" * 5000, "b", "c"],
        "comma-quote": ['a,"b"', "b'", "c;"],
    }
    cases = []
    for name, labels in sets.items():
        def setup(root, labels=labels):
            label_table(root, labels, "odd.csv")
        steps = [["train", "odd.csv", "--out", "orun", "--model", "logreg", "--folds", "3", "-q"]]
        cases.append(Case(f"odd labels ({name}): train", steps[0], (0, 2), setup))
        chain = steps + [["rank", "orun", "-q"], ["check", "orun", "--max-issues", "0",
                                                  "--markdown", "s.md"],
                         ["export", "orun", "--drop-flagged", "--out", "o.csv"],
                         ["report", "orun"]]
        cases.append(Case(f"odd labels ({name}): train+rank+check+export+report", chain,
                          (0, 1, 2), setup))
    one_row = ["a"] * 60 + ["b"] * 59 + ["lonely"]
    cases.append(Case("a class of 1 row", ["train", "odd.csv", "--out", "orun", "--model", "logreg",
                                           "-q"], (2,), lambda r: label_table(r, one_row, "odd.csv")))
    return cases


def chattr(root: Path, folder: str, flag: str) -> bool:
    return subprocess.run(["chattr", flag, str(root / folder)], capture_output=True).returncode == 0


def read_only_cases() -> list[Case]:
    cases = []
    for args in (["rank", "run", "-q"], ["report", "run"], ["export", "run", "--drop-top", "10%"],
                 ["train", "in.csv", "--out", "run", "--config", "cfg.yaml", "-q"],
                 ["review", "run", "--no-browser"], ["check", "run", "--manifest", "in.csv"]):
        cases.append(Case(f"read-only run folder: {args[0]}", args, (2,), "readonly:run"))
    cases.append(Case("read-only cwd: demo", ["demo", "--out", "ro/d"], (2,), "readonly:ro"))
    cases.append(Case("read-only cwd: noise", ["noise", "in.csv", "--rate", "0.1", "--out", "ro/o.csv"],
                      (2,), "readonly:ro"))
    return cases


# ---- running --------------------------------------------------------------------------------

def judge(case: Case, root: Path) -> tuple[str, str]:
    """('ok' | 'bad' | 'skipped', why)."""
    undo = None
    if isinstance(case.setup, str) and case.setup.startswith("readonly:"):
        folder = case.setup.split(":", 1)[1]
        (root / folder).mkdir(exist_ok=True)
        if os.geteuid() == 0:
            if not chattr(root, folder, "+i"):
                return "skipped", "chattr +i unavailable"
            undo = lambda: chattr(root, folder, "-i")  # noqa: E731
        else:
            os.chmod(root / folder, 0o555)
            undo = lambda: os.chmod(root / folder, 0o755)  # noqa: E731
    elif case.setup is not None:
        case.setup(root)
    try:
        steps = case.args if isinstance(case.args[0], list) else [case.args]
        before = sha_tree(root)
        inputs = {k: v for k, v in before.items() if k in case.inputs}
        for i, step in enumerate(steps):
            step = [str(a).replace("{root}", str(root)) for a in step]
            code, out, exc = cli(step, root)
            after = sha_tree(root)
            why = []
            expect = case.expect if i == 0 else (0, 1)     # a chain: once train ran, all run
            if code not in expect:
                why.append(f"exit {code}, expected {'/'.join(map(str, expect))}")
            if code == 3 or "Traceback" in out:
                why.append("exit 3 or traceback")
            if code == 2:
                usage = out.startswith("Usage:") and out.strip().splitlines()[-1].startswith("Error: ")
                if not usage and (not out.startswith("Error: ") or out.count("\n") != 1):
                    why.append("not one Error line")    # click's own usage errors end in one
                if after != before:
                    why.append("wrote or changed files though refused: " + ", ".join(
                        sorted(set(after) ^ set(before) | {k for k in after if before.get(k, after[k]) != after[k]})[:3]))
            changed = [k for k in inputs if after.get(k) != inputs[k]]
            if changed:
                why.append("input changed: " + ", ".join(changed))
            raw = [repr(c) for c in RAW if c in out]
            if raw:
                why.append("raw " + ",".join(raw) + " in output")
            if why:
                return "bad", f"{' '.join(step)} -> " + "; ".join(why) + f" | {out.strip()[:160]!r}"
            if code not in (0, 1):
                break
            before = after
        return "ok", ""
    finally:
        if undo:
            undo()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-seconds", type=float, default=600)
    ap.add_argument("--show", choices=["bad", "all"], default="bad")
    ap.add_argument("--only", default=None, help="run only cases whose name holds this text")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    cases = (output_cases() + stale_cases() + edge_cases() + odd_label_cases() + read_only_cases()
             + bad_file_cases())
    if a.only:
        cases = [c for c in cases if a.only in c.name]
    counts = {"ok": 0, "bad": 0, "skipped": 0, "not run (time)": 0}
    with tempfile.TemporaryDirectory() as tmp:
        # the run folders record absolute paths (their manifest): every case runs in the same
        # folder, `work`, restored from a copy (mtimes kept, so the provenance records match)
        root, pristine = Path(tmp) / "work", Path(tmp) / "pristine"
        root.mkdir()
        build_sandbox(root)
        shutil.copytree(root, pristine, symlinks=True)
        for i, case in enumerate(cases):
            if time.perf_counter() - t0 > a.max_seconds:
                counts["not run (time)"] = len(cases) - i
                break
            shutil.rmtree(root)
            shutil.copytree(pristine, root, symlinks=True)
            verdict, why = judge(case, root)
            subprocess.run(["chattr", "-R", "-i", str(root)], capture_output=True)
            counts[verdict] += 1
            if verdict == "bad" or a.show == "all":
                print(f"{verdict.upper():4} {case.name}: {why}", flush=True)
    total = sum(counts.values())
    print(f"\n{total} cases: {counts['ok']} as promised, {counts['bad']} not, "
          f"{counts['skipped']} skipped, {counts['not run (time)']} not run (time limit); "
          f"{time.perf_counter() - t0:.0f} s")
    return 1 if counts["bad"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
