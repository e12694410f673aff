"""`clean-labels review` without a browser: the server's refusals, decisions.csv, the lock,
`export --decisions` and `check --baseline` with a decisions file. (A real browser drives the page
in test_review_browser.py.)"""
from __future__ import annotations

import hashlib
import http.client
import io
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from cleanlab_lite.cli import main
from cleanlab_lite.decisions import read_decisions
from cleanlab_lite.export import export_run
from cleanlab_lite.review import ReviewLockedError, ReviewServer
from tests.runs import make_export_run, make_ranked_run

EVIL = "<img src=x onerror=alert(1)>"
CLASSES = ("cat", "dog", EVIL)


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def request(srv, method, path, *, token=True, host=None, body=None, ctype="application/json"):
    """(status, body bytes, headers) of one request to the server, Host header as given."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    sep = "&" if "?" in path else "?"
    url = path + (f"{sep}token={srv.token}" if token is True else f"{sep}token={token}" if token else "")
    headers = {"Host": f"127.0.0.1:{srv.port}" if host is None else host}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = ctype
    conn.request(method, url, body=data, headers=headers)
    resp = conn.getresponse()
    out = resp.status, resp.read(), dict(resp.getheaders())
    conn.close()
    return out


@pytest.fixture
def served(tmp_path):
    run = make_ranked_run(tmp_path, classes=CLASSES, flagged={"cat": 2, "dog": 3, EVIL: 1},
                          images=True)
    with ReviewServer(run, port=0) as srv:
        srv.start()
        yield srv


def test_token_is_required_on_every_request(served):
    for path in ("/", "/api/items", "/image?row=0"):
        for token in (None, "wrong-token"):
            status, body, _ = request(served, "GET", path, token=token)
            assert status == 403, path
            assert b"missing or wrong token" in body
    status, _, _ = request(served, "POST", "/api/decide", token=None,
                           body={"row": 0, "decision": "drop"})
    assert status == 403
    assert not (served.run / "decisions.csv").exists()
    status, body, headers = request(served, "GET", "/")
    assert status == 200 and b'id="review"' in body
    assert "script-src 'sha256-" in headers["Content-Security-Policy"]
    assert served.url == f"http://127.0.0.1:{served.port}/?token={served.token}"
    assert served.httpd.server_address[0] == "127.0.0.1"  # bound to loopback only


def test_foreign_host_header_is_refused(served):
    for host in ("evil.example", f"evil.example:{served.port}", f"127.0.0.1:{served.port + 1}", ""):
        status, body, _ = request(served, "GET", "/api/items", host=host)
        assert status == 403 and b"is not this review's address" in body, host
    status, _, _ = request(served, "POST", "/api/decide", host="rebind.example",
                           body={"row": 0, "decision": "drop"})
    assert status == 403
    assert not (served.run / "decisions.csv").exists()
    assert request(served, "GET", "/api/items", host=f"localhost:{served.port}")[0] == 200


def test_decisions_only_for_existing_rows_and_known_classes(served):
    path = served.run / "decisions.csv"
    for body, status, message in (
            ({"row": 60, "decision": "drop"}, 404, "row 60 is not a row of this run"),
            ({"row": -1, "decision": "keep"}, 404, "row -1 is not a row of this run"),
            ({"row": "3", "decision": "keep"}, 404, "row '3' is not a row of this run"),
            ({"row": 3, "decision": "relabel", "label": "zebra"}, 400,
             "label 'zebra' is not a class of this run"),
            ({"row": 3, "decision": "relabel"}, 400, "label '' is not a class of this run"),
            ({"row": 3, "decision": "burn"}, 400, "decision 'burn' is not keep, relabel, drop or clear")):
        status_got, got, _ = request(served, "POST", "/api/decide", body=body)
        assert (status_got, json.loads(got)["error"]) == (status, message)
    assert not path.exists()
    assert request(served, "POST", "/api/decide", body={"row": 3, "decision": "drop"},
                   ctype="text/plain")[0] == 415
    status, got, _ = request(served, "POST", "/api/decide",
                             body={"row": 3, "decision": "relabel", "label": EVIL})
    assert status == 200
    saved = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert list(saved.columns) == ["row", "id", "given_label", "decision", "label", "time"]
    rec = saved.iloc[0].to_dict()
    given = pd.read_csv(served.run / "ranking.csv").set_index("row").loc[3, "given_label"]
    assert {k: rec[k] for k in ("row", "id", "given_label", "decision", "label")} == {
        "row": "3", "id": "img-003", "given_label": given, "decision": "relabel", "label": EVIL}
    assert json.loads(got)["decisions"]["3"]["label"] == EVIL


def test_images_are_served_by_row_number_only(served):
    status, body, headers = request(served, "GET", "/image?row=5")
    assert status == 200 and headers["Content-Type"] == "image/png"
    with Image.open(io.BytesIO(body)) as got, Image.open(served.run.parent / "imgs" / "5.png") as want:
        assert np.array_equal(np.asarray(got.convert("RGB")), np.asarray(want.convert("RGB")))
    for path, status in (("/image?row=../../etc/passwd", 400), ("/image?row=/etc/passwd", 400),
                         ("/image?row=999", 404), ("/image?path=imgs/5.png", 400),
                         ("/imgs/5.png", 404), ("/../config.yaml", 404)):
        got, body, _ = request(served, "GET", path)
        assert got == status, path
        assert b"PNG" not in body and b"data_root" not in body


def test_items_carry_labels_as_data_and_the_page_escapes(served):
    status, body, _ = request(served, "GET", "/api/items")
    data = json.loads(body)
    assert data["classes"] == list(CLASSES)
    ranking = pd.read_csv(served.run / "ranking.csv")
    assert [i["row"] for i in data["items"]] == ranking["row"].head(6).tolist()  # the 6 flagged
    page = request(served, "GET", "/")[1].decode()
    assert EVIL not in page and "innerHTML" not in page  # rows are built with textContent


def test_tabular_rows_show_their_values_not_the_label(tmp_path):
    run = make_ranked_run(tmp_path, flagged={"cat": 1, "dog": 2, "bird": 0})
    with ReviewServer(run, port=0) as srv:
        srv.start()
        data = json.loads(request(srv, "GET", "/api/items")[1])
        assert request(srv, "GET", "/image?row=0")[0] == 404  # no images in a tabular run
    rows = pd.read_parquet(run / "rows.parquet").set_index("row")
    assert len(data["items"]) == 3 and data["kind"] == "values"
    for item in data["items"]:
        assert "image" not in item
        assert item["values"] == [["x1", f"{rows.loc[item['row'], 'x1']:.4g}"],
                                  ["x2", str(rows.loc[item["row"], "x2"])]]


@pytest.mark.slow
def test_restart_resumes_and_second_review_refuses(tmp_path):
    run = make_ranked_run(tmp_path)
    with ReviewServer(run, port=0) as srv:
        srv.start()
        assert request(srv, "POST", "/api/decide", body={"row": 0, "decision": "drop"})[0] == 200
        assert request(srv, "POST", "/api/decide", body={"row": 20, "decision": "keep"})[0] == 200
        assert (run / "review.lock").is_file()
        with pytest.raises(ReviewLockedError, match="is already being reviewed"):
            ReviewServer(run, port=0)
        res = CliRunner().invoke(main, ["review", str(run), "--no-browser"])
        assert res.exit_code == 2
        lock = run / "review.lock"
        assert res.output.splitlines()[-1] == (
            f"Error: run folder {run} is already being reviewed (process {os.getpid()}, lock file "
            f"{lock}); use that review's page or stop it first, and delete {lock} only if no "
            "review is running")
    assert not (run / "review.lock").exists()
    with ReviewServer(run, port=0) as srv:  # restart: the decisions are back
        srv.start()
        got = json.loads(request(srv, "GET", "/api/items")[1])["decisions"]
        assert {r: d["decision"] for r, d in got.items()} == {"0": "drop", "20": "keep"}
        request(srv, "POST", "/api/decide", body={"row": 0, "decision": "clear"})  # undo
    assert read_decisions(run / "decisions.csv")["row"].tolist() == [20]


def test_a_dead_reviews_lock_is_taken_over(tmp_path):
    run = make_ranked_run(tmp_path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    import socket
    (run / "review.lock").write_text(json.dumps({"pid": int(dead), "host": socket.gethostname()}))
    with ReviewServer(run, port=0) as srv:
        assert json.loads((run / "review.lock").read_text())["pid"] == os.getpid()
        assert srv.port > 0


@pytest.mark.slow
def test_review_command_serves_until_interrupted(tmp_path):
    """The real command in a subprocess: prints the URL, serves, stops on SIGTERM (as `kill` or
    a CI runner sends it; Ctrl-C takes the same path), says what was decided and releases the
    lock."""
    import signal
    import time
    import urllib.request

    run = make_ranked_run(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "cleanlab_lite", "review", str(run), "--no-browser"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = None
        t0 = time.time()
        while url is None and time.time() - t0 < 60:
            line = proc.stdout.readline()
            if line.startswith("Open "):
                url = line.split()[1]
        assert url and url.startswith("http://127.0.0.1:")
        base, token = url.split("/?token=")
        req = urllib.request.Request(f"{base}/api/decide?token={token}", method="POST",
                                     data=json.dumps({"row": 1, "decision": "drop"}).encode(),
                                     headers={"Content-Type": "application/json"})
        assert urllib.request.urlopen(req, timeout=10).status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0, out
    assert f"1 decisions in {run / 'decisions.csv'} (keep 0, relabel 0, drop 1)." in out
    assert not (run / "review.lock").exists()


# ---- export --decisions ----------------------------------------------------------------------


def write_csv(path, rows, cols=("row", "id", "given_label", "decision", "label", "time")):
    pd.DataFrame(rows, columns=list(cols)).to_csv(path, index=False)
    return path


def test_export_applies_decisions_on_top_of_the_mode(tmp_path):
    run, manifest, df = make_export_run(tmp_path)   # rows 3, 7, 11, 20 flagged; 3, 7 confident
    before = sha(manifest)
    dec = write_csv(tmp_path / "dec.csv", [
        (3, "x03", "dog", "keep", "", ""),           # flagged, kept by review
        (7, "x07", "dog", "relabel", "cat", ""),     # flagged, relabeled by review
        (30, "x30", "cat", "drop", "", ""),          # not flagged, dropped by review
        (12, "x12", "dog", "relabel", "cat", ""),    # stale: row 12's label is 'cat'
    ])
    res = export_run(run, mode="drop_flagged", decisions=dec, out=tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    expected = [i for i in range(40) if i not in (11, 20, 30)]
    assert out["id"].tolist() == [f"x{i:02d}" for i in expected]
    want = df["label"].to_numpy()[expected].copy()
    want[expected.index(7)] = "cat"
    assert out["label"].tolist() == want.tolist()
    orig = [""] * len(expected)
    orig[expected.index(7)] = "dog"
    assert out["original_label"].tolist() == orig
    assert res.mode == "drop_flagged+decisions" and res.n_out == 37
    pc = res.per_class.set_index("class")
    assert pc.loc["dog", "dropped"] == 1 and pc.loc["cat", "dropped"] == 1  # rows 11, 20
    assert pc.loc["dog", "review_keep"] == 1
    assert pc.loc["dog", "review_relabel"] == 1 and pc.loc["cat", "review_to"] == 1
    assert pc.loc["cat", "review_drop"] == 1
    assert res.notes == [f"1 decision(s) in {dec} not applied because the row's label changed "
                         "since: row 12 (decided on 'dog', now 'cat')"]
    assert sha(manifest) == before


def test_keep_overrides_relabel_and_drop_top(tmp_path):
    run, _, df = make_export_run(tmp_path)   # ranking starts 3, 7, 11, 20 (all flagged)
    dec = write_csv(tmp_path / "dec.csv", [(3, "x03", "dog", "keep", "", "")])
    export_run(run, mode="relabel", decisions=dec, out=tmp_path / "r.csv")
    out = pd.read_csv(tmp_path / "r.csv", dtype=str, keep_default_na=False).set_index("id")
    assert out.loc["x03", ["label", "original_label"]].tolist() == ["dog", ""]   # kept as given
    assert out.loc["x07", ["label", "original_label"]].tolist() == ["cat", "dog"]  # the mode's
    assert (out["original_label"] != "").sum() == 4 - 1
    res = export_run(run, mode="drop_top", drop_top="2", decisions=dec, out=tmp_path / "d.csv")
    ids = pd.read_csv(tmp_path / "d.csv", dtype=str)["id"].tolist()
    assert "x03" in ids and "x07" not in ids and res.n_out == 39   # top 2 = rows 3, 7; 3 is kept


def test_export_cli_decisions_only_prints_per_class(tmp_path):
    run, manifest, df = make_export_run(tmp_path)
    dec = write_csv(tmp_path / "dec.csv", [(20, "x20", "cat", "drop", "", ""),
                                           (3, "x03", "dog", "relabel", "cat", "")])
    before = sha(dec)
    r = CliRunner().invoke(main, ["export", str(run), "--decisions", str(dec)])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == f"Wrote {run / 'cleaned.csv'}: 39 of 40 rows (decisions)."
    assert lines[1].split() == ["class", "rows", "review_keep", "review_relabel", "review_drop",
                                "review_to"]
    assert lines[2].split() == ["cat", "20", "0", "0", "1", "1"]
    assert lines[3].split() == ["dog", "20", "0", "1", "0", "0"]
    out = pd.read_csv(run / "cleaned.csv", dtype=str, keep_default_na=False)
    assert "x20" not in set(out["id"]) and len(out) == 39
    assert out.set_index("id").loc["x03", ["label", "original_label"]].tolist() == ["cat", "dog"]
    assert sha(dec) == before


@pytest.mark.parametrize("rows,cols,message", [
    ([(3, "dog", "burn", "")], ("row", "given_label", "decision", "label"),
     "line 2: decision 'burn' is not keep, relabel, drop or skip; fix that cell"),
    ([(3, "dog", "relabel", "")], ("row", "given_label", "decision", "label"),
     "line 2: relabel needs the new class in column label; fill it in or choose keep or drop"),
    ([(3, "dog", "relabel", "zebra")], ("row", "given_label", "decision", "label"),
     "line 2: label 'zebra' is not a class of this run; use one of 'cat', 'dog'"),
    ([(3, "dog", "keep", ""), (99, "dog", "drop", "")], ("row", "given_label", "decision", "label"),
     "line 3: row 99 is not a row of this run (40 ranked rows); fix or delete that line"),
    ([(3, "dog", "keep", ""), (3, "dog", "drop", "")], ("row", "given_label", "decision", "label"),
     ": row 3 has decisions on lines 2, 3; keep one of them"),
    ([("three", "dog", "keep", "")], ("row", "given_label", "decision", "label"),
     "line 2: row 'three' is not a row number; use the row column of ranking.csv"),
    ([(3, "keep")], ("row", "decision"),
     "has columns row, decision; it needs given_label, decision and row (or id) columns"),
])
def test_bad_decisions_file_is_one_error_line(tmp_path, rows, cols, message):
    run, _, _ = make_export_run(tmp_path)
    dec = write_csv(tmp_path / "dec.csv", rows, cols)
    r = CliRunner().invoke(main, ["export", str(run), "--drop-flagged", "--decisions", str(dec)])
    assert r.exit_code == 2
    assert r.output.splitlines()[-1].startswith(f"Error: decisions file {dec}")
    assert r.output.splitlines()[-1].endswith(message)
    assert not (run / "cleaned.csv").exists()


def test_spreadsheet_decisions_by_id_and_skip(tmp_path):
    run, _, _ = make_export_run(tmp_path)
    dec = write_csv(tmp_path / "dec.csv", [("x03", "dog", "Drop", ""), ("x07", "dog", "skip", ""),
                                           ("x11", "dog", "", "")],
                    ("id", "given_label", "decision", "label"))
    res = export_run(run, mode=None, decisions=dec, out=tmp_path / "o.csv")
    out = pd.read_csv(tmp_path / "o.csv", dtype=str)
    assert res.n_out == 39 and "x03" not in set(out["id"]) and "original_label" not in out.columns


# ---- check --baseline with a decisions file ---------------------------------------------------


def test_check_baseline_keep_accepts_relabel_and_drop_confirm(tmp_path):
    run = make_ranked_run(tmp_path, flagged={"cat": 2, "dog": 3, "bird": 1})  # 6 flagged
    ranking = pd.read_csv(run / "ranking.csv", dtype=str, keep_default_na=False)
    flagged = ranking[ranking["is_label_issue"] == "true"].head(4)
    clean = ranking[ranking["is_label_issue"] == "false"].iloc[0]
    rows = [(int(r["row"]), r["id"], r["given_label"], d, lab, "")
            for r, (d, lab) in zip(flagged.to_dict("records"),
                                   [("keep", ""), ("drop", ""), ("relabel", "bird"), ("keep", "")])]
    rows[3] = (rows[3][0], rows[3][1], "not-its-label", "keep", "", "")  # label changed since
    rows.append((int(clean["row"]), clean["id"], clean["given_label"], "drop", "", ""))  # unflagged
    dec = write_csv(tmp_path / "decisions.csv", rows)
    # 6 flagged - 1 kept = 5, 2 of them confirmed, plus the confirmed unflagged row = 6 issues
    r = CliRunner().invoke(main, ["check", str(run), "--baseline", str(dec), "--max-issues", "6",
                                  "--json", str(tmp_path / "gate.json")],
                           env={"GITHUB_STEP_SUMMARY": None})
    assert r.exit_code == 0, r.output
    assert (f"PASS: 6 issues in 60 rows (10.00%) (3 flagged and not reviewed, 3 confirmed errors: "
            "decided relabel or drop, label unchanged since); 1 flagged rows accepted (decided "
            f"keep) by baseline {dec}") in r.output
    got = json.loads((tmp_path / "gate.json").read_text())["overall"]
    assert (got["accepted"], got["new_issues"], got["confirmed_errors"]) == (1, 6, 3)
    r = CliRunner().invoke(main, ["check", str(run), "--baseline", str(dec), "--max-issues", "5"],
                           env={"GITHUB_STEP_SUMMARY": None})
    assert r.exit_code == 1 and "3 confirmed errors" in r.output
    # the manifest changed: the relabeled row now carries its new label, so it is accepted
    relabeled = int(flagged.iloc[2]["row"])
    rank2 = ranking.copy()
    rank2.loc[rank2["row"] == str(relabeled), "given_label"] = "bird"
    from cleanlab_lite.baseline import baseline_mask, read_baseline

    rank2["row"] = rank2["row"].astype(int)
    base = read_baseline(dec)
    accepted = baseline_mask(rank2, base)[0]
    confirmed = baseline_mask(rank2, base, "confirmed")[0]
    at = rank2.index[rank2["row"] == relabeled][0]
    assert accepted[at] and not confirmed[at]
    assert confirmed.sum() == 2
