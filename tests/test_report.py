"""report.html: self-contained, escaped, image and tabular runs, and opened in a real browser.

The browser tests run headless Chromium (Debian package `chromium`; .ci/run installs it) and
are skipped, with the reason, only when no Chromium binary can be found.
"""
from __future__ import annotations

import base64
import html
import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from cleanlab_lite import report as rep
from cleanlab_lite.cli import main
from tests.expect import assert_refused
from tests.runs import make_ranked_run as make_run

EVIL = "<script>alert(1)</script>"
CLASSES = ("cat", "dog", EVIL)
FLAGGED = {"cat": 2, "dog": 4, EVIL: 1}


def listed(page: str) -> dict:
    """The rows the report lists: the review controls' embedded JSON."""
    blob = re.search(r"data-review='([^']*)'", page).group(1)
    return json.loads(html.unescape(blob))


def worst_rows(page: str) -> int:
    return len(listed(page)["items"])


def data_uris(page: str) -> list[bytes]:
    found = re.findall(r'src="data:image/(?:png|jpeg);base64,([^"]+)"', page)
    found += [it["image"].split(",", 1)[1] for it in listed(page)["items"] if it.get("image")]
    return [base64.b64decode(m) for m in found]


@pytest.fixture
def image_run(tmp_path):
    return make_run(tmp_path, classes=CLASSES, flagged=FLAGGED, images=True)


@pytest.mark.slow
def test_image_report_is_self_contained_and_escaped(image_run):
    res = CliRunner().invoke(main, ["report", str(image_run), "--top", "12"])
    assert res.exit_code == 0, res.output
    assert f"Report: {image_run / 'report.html'}" in res.output and "Next:" in res.output
    page = (image_run / "report.html").read_text(encoding="utf-8")
    assert worst_rows(page) == 12
    # nothing is fetched: every src is a data: URI, no links, no external URLs
    srcs = re.findall(r'\ssrc="([^"]*)"', page)
    assert srcs and all(s.startswith("data:image/") for s in srcs)
    assert "<link" not in page and "http://" not in page and "https://" not in page
    assert "default-src 'none'" in html.unescape(page)
    # 12 thumbnails + the embedded plots, all real images
    images = data_uris(page)
    assert len(images) >= 12 + 3
    for raw in images:
        Image.open(io.BytesIO(raw)).verify()
    # the hostile label is text, never markup: our own script tag is the only one
    assert page.count("<script") == 1
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # the most suspect row (lowest quality) comes first, with its given and suggested label
    ranking = pd.read_csv(image_run / "ranking.csv")
    first, item = ranking.iloc[0], listed(page)["items"][0]
    assert (item["row"], item["given_label"], item["suggested_label"]) == (
        first["row"], first["given_label"], first["suggested_label"])
    assert item["path"] == f"imgs/{first['row']}.png"
    # each class's typical images ride along for the (given -> suggested) strips
    strips = listed(page)["strips"]
    assert set(strips) == set(CLASSES) and all(s["image"].startswith("data:image/")
                                               for c in strips.values() for s in c)
    # per-class table and the noise matrix heatmap, one row per class
    assert len(re.findall(r'<tr class="class-row">', page)) == 3
    assert 'id="noise-matrix"' in page and "0.95" in page
    for name in ("issue_rate_per_class.png", "oof_accuracy_per_class.png",
                 "label_quality_hist.png", "noise_matrix.png"):
        with Image.open(image_run / name) as im:
            assert im.format == "PNG" and im.size[0] > 200


@pytest.mark.slow
def test_per_class_rates_and_oof_accuracy(image_run):
    result = rep.build_report(image_run, top=5, progress=False)
    page = result.html_path.read_text(encoding="utf-8")
    # dog: 4 of 20 rows flagged; metrics.json says recall 0.8 for dog
    dog = re.search(r'<tr class="class-row"><td>dog</td>(.*?)</tr>', page).group(1)
    assert ">20<" in dog and ">4<" in dog and "20.0%" in dog and "80.0%" in dog
    assert result.flagged == 7 and result.n == 60 and result.k == 3 and result.kind == "image"


@pytest.mark.slow
def test_tabular_report_shows_row_values(tmp_path):
    run = make_run(tmp_path, classes=CLASSES, flagged=FLAGGED, images=False)
    out = tmp_path / "site" / "index.html"
    result = rep.build_report(run, out=out, top=7, progress=False)
    page = out.read_text(encoding="utf-8")
    assert worst_rows(page) == 7 and result.kind == "tabular"
    assert listed(page)["kind"] == "values" and not listed(page)["strips"]
    rows = pd.read_parquet(run / "rows.parquet").set_index("row")
    first = listed(page)["items"][0]
    assert ["x1", f"{rows.loc[first['row'], 'x1']:.4g}"] in first["values"]
    assert not {"label", "fold", "row"} & {c for c, _ in first["values"]}
    assert (tmp_path / "site" / "noise_matrix.png").is_file()


@pytest.mark.slow
def test_missing_image_is_noted_not_fatal(image_run):
    ranking = pd.read_csv(image_run / "ranking.csv")
    (image_run.parent / "imgs" / f"{ranking['row'].iloc[0]}.png").unlink()
    result = rep.build_report(image_run, top=5, progress=False)   # 7 flagged: all 7 listed
    assert result.missing_images == 1
    page = result.html_path.read_text(encoding="utf-8")
    assert "1 of 7 images could not be opened" in page
    assert listed(page)["items"][0]["image_error"].startswith("cannot open")


@pytest.mark.slow
def test_report_from_ranking_only(tmp_path):
    """A run ranked from the user's own pred_probs may hold only ranking.csv and summary.json."""
    run = make_run(tmp_path, flagged={"cat": 3})
    for name in ("rows.parquet", "metrics.json", "config.yaml", "classes.json"):
        (run / name).unlink()
    result = rep.build_report(run, progress=False)
    page = result.html_path.read_text(encoding="utf-8")
    assert worst_rows(page) == 50 and result.kind == "pred_probs"
    assert "rows.parquet is missing" in page
    # out-of-fold accuracy falls back to predicted_label == given_label: cat 17/20
    cat = re.search(r'<tr class="class-row"><td>cat</td>(.*?)</tr>', page).group(1)
    assert "85.0%" in cat


@pytest.mark.slow
def test_many_classes_use_the_png_heatmap(tmp_path):
    classes = tuple(f"class {i:02d}" for i in range(rep.HEATMAP_TABLE_MAX_K + 5))
    run = make_run(tmp_path, classes=classes, per_class=2, flagged={"class 03": 2})
    result = rep.build_report(run, top=5, progress=False)
    page = result.html_path.read_text(encoding="utf-8")
    assert 'id="noise-matrix"' not in page and 'alt="estimated noise matrix heatmap"' in page
    assert len(re.findall(r'<tr class="class-row">', page)) == len(classes)
    # the class with the highest issue rate is listed first
    assert page.index('<td>class 03</td>') < page.index('<td>class 00</td>')


def test_report_errors_exit_2(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    res = CliRunner().invoke(main, ["report", str(run)])
    assert_refused(res, f"Error: {run / 'ranking.parquet'} not found; run `clean-labels rank {run}` first")


def test_oof_per_class_reads_train_metrics_else_the_ranking():
    ranking = pd.DataFrame({"given_label": ["a", "a", "b"], "predicted_label": ["a", "b", "b"]})
    got = rep.oof_per_class({"oof": {"per_class": {"a": {"recall": 0.25, "f1": 0.3}}}},
                            ["a", "b"], ranking)
    assert got.loc["a", "accuracy"] == 0.25 and got.loc["a", "f1"] == 0.3
    assert got.loc["b", "accuracy"] == 1.0  # filled from ranking.csv
    got = rep.oof_per_class(None, ["a", "b"], ranking)
    assert got.loc["a", "accuracy"] == 0.5 and got.loc["b", "accuracy"] == 1.0


def test_noise_matrix_as_rank_writes_it():
    cols = np.array([[0.9, 0.2], [0.1, 0.8]])  # columns sum to 1
    assert np.array_equal(rep.canonical_noise_matrix({"noise_matrix": cols.tolist()}, 2), cols)
    assert rep.canonical_noise_matrix({"noise_matrix": [[1.0]]}, 2) is None
    assert rep.canonical_noise_matrix({}, 2) is None


# ---- a real browser ------------------------------------------------------------------------

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                  "--disable-dev-shm-usage",
                  "--enable-logging=stderr", "--v=0")


def find_chromium() -> str | None:
    env = os.environ.get("CHROMIUM")
    if env:
        return env if os.access(env, os.X_OK) else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


def open_in_chromium(url: str, tmp_path: Path, screenshot: Path) -> tuple[str, list[str]]:
    """(DOM after scripts ran, console messages) for `url`; also saves a screenshot."""
    binary = find_chromium()
    if binary is None:
        pytest.skip("Chromium not found (no chromium, chromium-browser or google-chrome on PATH, "
                    "CHROMIUM unset or not executable): install the Debian package `chromium` "
                    "(.ci/run does this when it can) or set CHROMIUM=/path/to/chromium")
    profile = tmp_path / "chromium-profile"
    cmd = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--window-size=1280,1800",
           f"--screenshot={screenshot}", "--dump-dom", url]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=90,
                          env={**os.environ, "HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines()
               if ":CONSOLE" in line or "Uncaught" in line]
    return proc.stdout, console


@pytest.mark.slow
def test_report_in_headless_chromium(image_run, tmp_path):
    rep.build_report(image_run, top=12, progress=False)
    html_path = image_run / "report.html"
    shot = tmp_path / "report.png"
    dom, console = open_in_chromium(html_path.as_uri(), tmp_path, shot)
    assert console == []  # no script errors, no blocked (external) loads
    assert 'data-ready="true"' in dom  # the page's script ran to the end
    assert len(re.findall(r'<li class="rv-item', dom)) == 12
    assert 'data-shown="12"' in dom
    # the browser parsed the hostile label as text: still exactly one script element
    assert dom.count("<script") == 1 and "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    with Image.open(shot) as im:
        assert im.format == "PNG" and im.size == (1280, 1800)
        colours = im.convert("RGB").resize((64, 90)).getcolors(64 * 90)
        assert colours is None or len(colours) > 20  # not a blank page


@pytest.mark.slow
def test_report_filter_runs_in_chromium(tmp_path):
    run = make_run(tmp_path, flagged={"cat": 2, "dog": 4, "bird": 1})
    rep.build_report(run, top=10, progress=False)
    dom, console = open_in_chromium((run / "report.html").as_uri() + "#filter=dog", tmp_path,
                                    tmp_path / "filtered.png")
    assert console == []
    ranking = pd.read_csv(run / "ranking.csv").head(10)
    text = (ranking[["id", "given_label", "suggested_label", "row"]]
            .astype(str).agg(" ".join, axis=1).str.lower())
    expected = int(text.str.contains("dog").sum())
    assert 0 < expected < 10
    assert f'data-shown="{expected}"' in dom
    assert len(re.findall(r'<li class="rv-item', dom)) == expected


@pytest.mark.slow
def test_console_errors_are_detected(tmp_path):
    """The detector itself: a page with a script error must produce a console line."""
    page = tmp_path / "broken.html"
    page.write_text("<html><body><script>notDefined();</script></body></html>")
    _, console = open_in_chromium(page.as_uri(), tmp_path, tmp_path / "broken.png")
    assert any("Uncaught ReferenceError" in line for line in console)
