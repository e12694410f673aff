"""The review page in a real browser: Playwright for Python driving the system Chromium
(Debian package `chromium`, installed by .ci/run; Playwright's own browser download is never
used). Skipped, with the reason, only where Playwright or Chromium cannot be found.
(docs/review_screenshot.py takes the README's screenshot the same way.)
"""
from __future__ import annotations

import os

import pandas as pd
import pytest
from click.testing import CliRunner

from cleanlab_lite.cli import main
from cleanlab_lite.review import ReviewServer

from tests.runs import make_ranked_run

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
EVIL = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright for Python is not installed: pip install -e '.[test]' installs it")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"no Chromium at {CHROMIUM}: install the Debian package `chromium` (.ci/run "
                    "does this when it can) or set CHROMIUM=/path/to/chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """The demo's data (scikit-learn digits, 10% of labels flipped), trained small: 3 folds of
    3 epochs (the demo's 5 x 12 would add a minute on a shared 2-core machine), then ranked."""
    from cleanlab_lite.config import DataConfig, RankConfig, TrainConfig
    from cleanlab_lite.data.demo import write_digits
    from cleanlab_lite.pipeline import run_train
    from cleanlab_lite.rank import rank_run

    out = tmp_path_factory.mktemp("digits")
    manifest = write_digits(out / "data", noise=0.10, seed=0)
    run = out / "run"
    run_train(manifest, DataConfig(id_col="id"), TrainConfig(folds=3, epochs=3, quiet=True,
                                                             device="cpu"), run, log=lambda *a: None)
    rank_run(run, RankConfig())
    return run, manifest


def page_decisions(page) -> dict[int, tuple[str, str]]:
    return {int(li.get_attribute("data-row")): (li.get_attribute("data-decision"),
                                                li.get_attribute("data-label"))
            for li in page.query_selector_all('li.rv-item:not([data-decision=""])')}


def wait_decided(page, n: int) -> None:
    page.wait_for_selector(f'#rv-counter[data-decided="{n}"]', state="attached", timeout=10000)


def test_review_keys_reload_and_export(browser, digits_run, tmp_path):
    run, manifest = digits_run
    with ReviewServer(run, port=0) as srv:
        srv.start()
        items = srv.session.items
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(srv.url)
        page.wait_for_selector('#review[data-ready="true"]', state="attached")
        expected: dict[int, tuple[str, str]] = {}

        def other_than_given(item, start=0):
            """(key, class) of the first top class from `start` that is not the given label."""
            for j in range(start, len(item["top"])):
                if item["top"][j][0] != item["given_label"]:
                    return str(j + 1), item["top"][j][0]
            raise AssertionError(f"row {item['row']}: no top class differs from the given label")

        # relabel 3 rows: `a` (the suggestion), a digit key (a top class), `/` + typing
        first = items[0]
        if first["suggested_label"] != first["given_label"]:
            page.keyboard.press("a")
            expected[first["row"]] = ("relabel", first["suggested_label"])
        else:
            key, cls = other_than_given(first)
            page.keyboard.press(key)
            expected[first["row"]] = ("relabel", cls)
        wait_decided(page, 1)
        key, cls = other_than_given(items[1], start=1)
        page.keyboard.press(key)
        expected[items[1]["row"]] = ("relabel", cls)
        wait_decided(page, 2)
        typed = next(c for c in srv.session.classes if c != items[2]["given_label"])
        page.keyboard.press("/")
        page.keyboard.type(typed)
        page.keyboard.press("Enter")
        expected[items[2]["row"]] = ("relabel", typed)
        wait_decided(page, 3)
        # drop 2, keep 2 (skipping one row between the keeps), then a drop undone with `u`
        for i, key, decision, n in ((3, "x", "drop", 4), (4, "x", "drop", 5), (5, " ", "keep", 6)):
            page.keyboard.press(key)
            expected[items[i]["row"]] = (decision, "")
            wait_decided(page, n)
        page.keyboard.press("s")
        page.wait_for_selector(f'#review[data-current-row="{items[7]["row"]}"]')
        page.keyboard.press(" ")
        expected[items[7]["row"]] = ("keep", "")
        wait_decided(page, 7)
        page.keyboard.press("x")
        wait_decided(page, 8)
        page.keyboard.press("u")
        wait_decided(page, 7)
        assert page.get_attribute("#review", "data-current-row") == str(items[8]["row"])
        assert page_decisions(page) == expected

        page.reload()
        page.wait_for_selector('#review[data-ready="true"]', state="attached")
        assert page_decisions(page) == expected
        assert page.inner_text("#rv-counter").startswith(f"7 of {len(items)} decided · keep 2 · "
                                                         "relabel 3 · drop 2")
        # resumes at the first row without a decision
        assert page.get_attribute("#review", "data-current-row") == str(items[6]["row"])
        assert errors == []
        page.close()

    saved = pd.read_csv(run / "decisions.csv", dtype=str, keep_default_na=False)
    assert list(saved.columns) == ["row", "id", "given_label", "decision", "label", "time"]
    assert {int(r["row"]): (r["decision"], r["label"]) for r in saved.to_dict("records")} == expected

    # export --decisions: row by row against the manifest
    src = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    out = tmp_path / "reviewed.csv"
    res = CliRunner().invoke(main, ["export", str(run), "--decisions", str(run / "decisions.csv"),
                                    "--out", str(out)])
    assert res.exit_code == 0, res.output
    got = pd.read_csv(out, dtype=str, keep_default_na=False)
    dropped = {r for r, (d, _) in expected.items() if d == "drop"}
    want_rows = [r for r in range(len(src)) if r not in dropped]
    assert len(got) == len(want_rows) == len(src) - 2
    for out_i, r in enumerate(want_rows):
        row, rec = got.iloc[out_i], src.iloc[r]
        assert row["id"] == rec["id"] and row["path"] == rec["path"]
        decision, label = expected.get(r, ("", ""))
        if decision == "relabel":
            assert (row["label"], row["original_label"]) == (label, rec["label"]), r
        else:
            assert (row["label"], row["original_label"]) == (rec["label"], ""), r

    # on top of --drop-flagged: reviewed rows follow their decision, the rest of the flags go
    out2 = tmp_path / "reviewed-flagged.csv"
    res = CliRunner().invoke(main, ["export", str(run), "--drop-flagged", "--decisions",
                                    str(run / "decisions.csv"), "--out", str(out2)])
    assert res.exit_code == 0, res.output
    ranking = pd.read_csv(run / "ranking.csv")
    flagged = set(ranking.loc[ranking["is_label_issue"], "row"])
    gone = (flagged - set(expected)) | dropped
    assert pd.read_csv(out2, dtype=str)["id"].tolist() == [
        src["id"].iloc[r] for r in range(len(src)) if r not in gone]


def test_hostile_labels_are_text_in_the_served_page(browser, tmp_path):
    run = make_ranked_run(tmp_path, classes=("cat", "dog", EVIL), flagged={"cat": 1, EVIL: 2},
                          images=True)
    with ReviewServer(run, port=0) as srv:
        srv.start()
        page = browser.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(srv.url)
        page.wait_for_selector('#review[data-ready="true"]', state="attached")
        shown = page.locator(".rv-given").all_inner_texts() + page.locator(".rv-suggested").all_inner_texts()
        assert EVIL in shown
        assert page.locator('img[src="x"]').count() == 0 and dialogs == []
        # the images arrived: each <img> decoded to its 12 x 10 source
        sizes = page.eval_on_selector_all(".rv-media img", "els => Promise.all(els.map("
                                          "e => e.decode().then(() => [e.naturalWidth, e.naturalHeight])))")
        assert sizes == [[12, 10]] * 3
        # the mouse works too: a click on the second row's "drop" button decides that row
        second = page.locator("li.rv-item").nth(1)
        second.locator("button", has_text="drop (x)").click()
        wait_decided(page, 1)
        assert second.get_attribute("data-decision") == "drop"
        page.close()
    saved = pd.read_csv(run / "decisions.csv", dtype=str)
    assert saved["row"].tolist() == [str(srv.session.items[1]["row"])]


def test_static_report_keeps_decisions_in_the_browser(browser, tmp_path):
    from cleanlab_lite import report as rep

    run = make_ranked_run(tmp_path, classes=("cat", "dog", EVIL), flagged={"cat": 2, EVIL: 1},
                          images=True)
    rep.build_report(run, top=5, progress=False)
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto((run / "report.html").as_uri())
    page.wait_for_selector('#review[data-ready="true"]', state="attached")
    page.keyboard.press("x")                        # folded away: keys do nothing yet
    assert page.get_attribute("#rv-counter", "data-decided") == "0"
    page.click("#review-section summary")
    page.keyboard.press("x")
    wait_decided(page, 1)
    page.keyboard.press("a")
    wait_decided(page, 2)
    page.reload()
    page.wait_for_selector('#review[data-ready="true"]', state="attached")
    assert page.get_attribute("#rv-counter", "data-decided") == "2"
    href = page.get_attribute("#rv-download", "href")
    from urllib.parse import unquote

    assert href.startswith("data:text/csv;charset=utf-8,")
    csv_path = tmp_path / "downloaded.csv"
    csv_path.write_text(unquote(href.split(",", 1)[1]), encoding="utf-8")
    got = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    ranking = pd.read_csv(run / "ranking.csv", dtype=str, keep_default_na=False)
    first, second = ranking.iloc[0], ranking.iloc[1]
    assert list(got.columns) == ["row", "id", "given_label", "decision", "label", "time"]
    want = sorted([(first["row"], first["id"], first["given_label"], "drop", ""),
                   (second["row"], second["id"], second["given_label"], "relabel",
                    second["suggested_label"])], key=lambda t: int(t[0]))
    assert [tuple(r[:5]) for r in got.itertuples(index=False)] == want
    assert page.locator('img[src="x"]').count() == 0 and dialogs == []
    page.close()
    # the downloaded file is the format check --baseline reads
    res = CliRunner().invoke(main, ["check", str(run), "--baseline", str(csv_path)],
                             env={"GITHUB_STEP_SUMMARY": None})
    assert res.exit_code == 0 and "2 flagged rows accepted by baseline" in res.output, res.output
