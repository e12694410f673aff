"""The review page in a real browser: Playwright for Python driving the system Chromium
(Debian package `chromium`, installed by .ci/run; Playwright's own browser download is never
used). Skipped, with the reason, only where Playwright or Chromium cannot be found.
(docs/review_screenshot.py takes the README's screenshot the same way.)
"""
from __future__ import annotations

import os
import re
from pathlib import Path

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


def open_review(browser, srv):
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(srv.url)
    page.wait_for_selector('#review[data-ready="true"]', state="attached")
    return page, errors


def current(page, items) -> dict:
    row = int(page.get_attribute("#review", "data-current-row"))
    return next(it for it in items if it["row"] == row)


def saved_decisions(run) -> dict[int, tuple[str, str]]:
    saved = pd.read_csv(run / "decisions.csv", dtype=str, keep_default_na=False)
    return {int(r["row"]): (r["decision"], r["label"]) for r in saved.to_dict("records")}


@pytest.mark.slow
def test_digit_keys_type_the_class_and_top_choices_get_letters(browser, digits_run, tmp_path):
    """Classes '0'..'9': the key `3` records class 3, never the model's third choice; the top
    choices are on letter keys printed on their buttons."""
    run, manifest = digits_run
    if (run / "decisions.csv").exists():
        (run / "decisions.csv").unlink()
    with ReviewServer(run, port=0) as srv:
        srv.start()
        items = srv.session.items
        page, errors = open_review(browser, srv)
        expected: dict[int, tuple[str, str]] = {}

        def press(key, want, n):
            item = current(page, items)
            page.keyboard.press(key)
            decision, label = want(item)
            if decision == "relabel" and label == item["given_label"]:
                decision, label = "keep", ""
            expected[item["row"]] = (decision, label)
            wait_decided(page, n)

        # a digit types the class; every top-choice key is a letter and its button shows it
        for n, digit in enumerate("3705", start=1):
            press(digit, lambda it, d=digit: ("relabel", d), n)
        item = current(page, items)
        buttons = page.locator(f'li.rv-item[data-row="{item["row"]}"] button.rv-cls')
        keys = [buttons.nth(i).get_attribute("data-key") for i in range(buttons.count())]
        assert keys and all(k.isalpha() and len(k) == 1 for k in keys), keys
        assert [buttons.nth(i).get_attribute("data-class") for i in range(len(keys))] == [
            t[0] for t in item["top"][:len(keys)]]
        assert buttons.nth(1).inner_text().startswith(keys[1])
        press(keys[1], lambda it: ("relabel", it["top"][1][0]), 5)
        press("a", lambda it: ("relabel", it["suggested_label"]), 6)
        typed = "8"
        page.keyboard.press("/")
        page.keyboard.type(typed)
        item = current(page, items)
        page.keyboard.press("Enter")
        expected[item["row"]] = ("keep", "") if item["given_label"] == typed else ("relabel", typed)
        wait_decided(page, 7)
        press("x", lambda it: ("drop", ""), 8)
        press(" ", lambda it: ("keep", ""), 9)
        skipped = current(page, items)
        page.keyboard.press("s")
        page.wait_for_function("r => document.getElementById('review').getAttribute("
                               "'data-current-row') !== r", arg=str(skipped["row"]))
        press("x", lambda it: ("drop", ""), 10)
        undone = current(page, items)
        page.keyboard.press("x")
        wait_decided(page, 11)
        page.keyboard.press("u")
        wait_decided(page, 10)
        assert page_decisions(page) == expected
        assert saved_decisions(run) == expected
        page.reload()
        page.wait_for_selector('#review[data-ready="true"]', state="attached")
        assert page_decisions(page) == expected
        assert undone["row"] not in expected and errors == []
        page.close()

    # export --decisions: row by row against the manifest
    src = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    out = tmp_path / "reviewed.csv"
    res = CliRunner().invoke(main, ["export", str(run), "--decisions", str(run / "decisions.csv"),
                                    "--out", str(out)])
    assert res.exit_code == 0, res.output
    got = pd.read_csv(out, dtype=str, keep_default_na=False)
    dropped = {r for r, (d, _) in expected.items() if d == "drop"}
    want_rows = [r for r in range(len(src)) if r not in dropped]
    assert len(got) == len(want_rows) == len(src) - len(dropped)
    for out_i, r in enumerate(want_rows):
        row, rec = got.iloc[out_i], src.iloc[r]
        assert row["id"] == rec["id"]      # image paths: rewritten relative to the output's folder
        assert (out.parent / row["path"]).resolve() == (Path(manifest).parent / rec["path"]).resolve()
        decision, label = expected.get(r, ("", ""))
        if decision == "relabel":
            assert (row["label"], row["original_label"]) == (label, rec["label"]), r
        else:
            assert (row["label"], row["original_label"]) == (rec["label"], ""), r
    (run / "decisions.csv").unlink()


@pytest.mark.slow
def test_grid_groups_pairs_largest_first_with_class_strips(browser, digits_run):
    run, _ = digits_run
    with ReviewServer(run, port=0) as srv:
        srv.start()
        items = srv.session.items
        page, errors = open_review(browser, srv)
        assert page.get_attribute("#rv-list", "class") == "rv-grid"
        sizes = pd.Series([f"{it['given_label']} \u2192 {it['suggested_label']}" for it in items]).value_counts()
        order = page.eval_on_selector_all(
            "#rv-list > li", "els => els.map(e => e.classList.contains('rv-group') ? "
            "['g', e.getAttribute('data-pair')] : ['c', e.getAttribute('data-row')])")
        by_row = {it["row"]: it for it in items}
        pairs_seen, pair = [], None
        for kind, value in order:
            if kind == "g":
                pair = value
                pairs_seen.append(pair)
            else:
                it = by_row[int(value)]
                assert f"{it['given_label']} \u2192 {it['suggested_label']}" == pair
        assert [sizes[p] for p in pairs_seen] == sorted((sizes[p] for p in pairs_seen), reverse=True)
        assert pairs_seen[0] == sizes.index[0] or sizes[pairs_seen[0]] == sizes.iloc[0]
        # the first group's strips: the typical rows of its given and suggested class
        given, suggested = pairs_seen[0].split(" \u2192 ")
        strips = page.locator("li.rv-group").first.locator(".rv-strip")
        assert [strips.nth(i).get_attribute("data-class") for i in range(2)] == [given, suggested]
        want = [r for r in srv.session.strips[given]]
        got = [int(t.split()[-1]) for t in strips.nth(0).locator("img").evaluate_all(
            "els => els.map(e => e.title)")]
        assert got == want and len(got) > 0
        ranking = pd.read_csv(run / "ranking.csv", dtype=str)
        assert set(ranking.set_index("row").loc[[str(r) for r in got], "given_label"]) == {given}
        # filter by pair, then by class; sort by label quality
        page.select_option("#rv-f-pair", pairs_seen[-1])
        assert int(page.get_attribute("#review", "data-shown")) == sizes[pairs_seen[-1]]
        page.select_option("#rv-f-pair", "")
        page.select_option("#rv-f-class", "7")
        want_n = sum(1 for it in items if "7" in (it["given_label"], it["suggested_label"]))
        assert int(page.get_attribute("#review", "data-shown")) == want_n
        page.select_option("#rv-f-class", "")
        page.select_option("#rv-sort", "quality")
        rows = page.eval_on_selector_all("li.rv-item", "els => els.map(e => +e.getAttribute('data-row'))")
        q = [by_row[r]["label_quality"] for r in rows]
        assert q == sorted(q) and len(rows) == min(48, len(items))
        # every card names its file
        assert re.match(r"\d/digit-\d{4}\.png", page.locator("li.rv-item .rv-meta").first.inner_text())
        assert errors == []
        page.close()


@pytest.mark.slow
def test_batch_decision_applies_to_exactly_the_selected_cards(browser, digits_run):
    run, _ = digits_run
    if (run / "decisions.csv").exists():
        (run / "decisions.csv").unlink()
    with ReviewServer(run, port=0) as srv:
        srv.start()
        page, errors = open_review(browser, srv)
        page.select_option("#rv-sort", "rank")
        cards = page.locator("li.rv-item")
        rows = [int(cards.nth(i).get_attribute("data-row")) for i in range(8)]
        cards.nth(1).locator(".rv-check").click()
        cards.nth(3).locator(".rv-check").click()
        cards.nth(6).locator(".rv-check").click(modifiers=["Shift"])     # 3..6
        page.keyboard.press("m")          # the current card (the first) too
        chosen = {rows[0], rows[1], rows[3], rows[4], rows[5], rows[6]}
        assert page.get_attribute("#rv-sel", "data-selected") == str(len(chosen))
        page.click("#rv-b-drop")
        wait_decided(page, len(chosen))
        assert page_decisions(page) == {r: ("drop", "") for r in chosen}
        assert saved_decisions(run) == {r: ("drop", "") for r in chosen}
        assert page.get_attribute("#rv-sel", "data-selected") == "0"
        # relabel two others to one class in one go, then undo that batch
        cards.nth(2).locator(".rv-check").click()
        cards.nth(7).locator(".rv-check").click()
        page.select_option("#rv-b-class", "1")
        page.click("#rv-b-relabel")
        wait_decided(page, len(chosen) + 2)
        page.keyboard.press("u")
        wait_decided(page, len(chosen))
        assert saved_decisions(run) == {r: ("drop", "") for r in chosen}
        assert errors == []
        page.close()
    (run / "decisions.csv").unlink()


@pytest.mark.slow
def test_sampled_estimate_holds_the_true_precision(browser, digits_run):
    """A simulated reviewer who knows the true labels decides a random sample of 40 flags with
    the keys; the interval the page (and check, export, report) prints holds the true share of
    flags that are wrong labels."""
    import re

    run, manifest = digits_run
    if (run / "decisions.csv").exists():
        (run / "decisions.csv").unlink()
    truth = pd.read_csv(manifest, dtype=str)["true_label"].to_numpy()
    ranking = pd.read_csv(run / "ranking.csv", dtype=str, keep_default_na=False)
    flagged = ranking[ranking["is_label_issue"] == "true"]
    true_share = float((flagged["given_label"].to_numpy() != truth[flagged["row"].astype(int)]).mean())
    with ReviewServer(run, port=0, sample=40, seed=1) as srv:
        srv.start()
        items = srv.session.items
        assert len(items) == 40 and all(it["flagged"] for it in items)
        page, errors = open_review(browser, srv)
        for n in range(1, 41):
            it = current(page, items)
            right = truth[it["row"]]
            page.keyboard.press(" " if right == it["given_label"] else right)
            wait_decided(page, n)
        text = page.inner_text("#rv-estimate")
        assert errors == []
        page.close()
    m = re.search(r"estimated (\d+)% \((\d+)%–(\d+)%\) are wrong labels, from 40 reviewed", text)
    assert m, text
    low, high = int(m.group(2)) / 100, int(m.group(3)) / 100
    assert low - 0.005 <= true_share <= high + 0.005, (true_share, text)
    saved = pd.read_csv(run / "decisions.csv", dtype=str, keep_default_na=False)
    assert len(saved) == 40 and set(saved["sampled"]) == {"true"}
    for cmd in (["check", str(run)], ["report", str(run)]):
        res = CliRunner().invoke(main, cmd, env={"GITHUB_STEP_SUMMARY": None})
        assert res.exit_code == 0 and m.group(0) in res.output, res.output
    (run / "decisions.csv").unlink()


@pytest.mark.slow
def test_report_lists_every_flagged_row(browser, tmp_path):
    from cleanlab_lite import report as rep

    run = make_ranked_run(tmp_path, classes=("cat", "dog", "bird"), per_class=90,
                          flagged={"cat": 70, "dog": 50, "bird": 40}, images=True)
    rep.build_report(run, top=10, progress=False)
    ranking = pd.read_csv(run / "ranking.csv", dtype=str)
    flagged = set(ranking.loc[ranking["is_label_issue"] == "true", "row"].astype(int))
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto((run / "report.html").as_uri())
    page.wait_for_selector('#review[data-ready="true"]', state="attached")
    assert page.get_attribute("#review", "data-shown") == str(len(flagged))
    seen: set[int] = set()
    pages = 0
    while True:
        rows = page.eval_on_selector_all("li.rv-item", "els => els.map(e => +e.getAttribute('data-row'))")
        assert rows and not seen & set(rows)
        seen |= set(rows)
        pages += 1
        before = page.get_attribute("#review", "data-page")
        page.click("#rv-next")
        if page.get_attribute("#review", "data-page") == before:
            break
    assert seen == flagged and pages == -(-len(flagged) // 48)
    page.select_option("#rv-f-class", "bird")
    shown = int(page.get_attribute("#review", "data-shown"))
    given = ranking[ranking["is_label_issue"] == "true"]
    assert shown == int(((given["given_label"] == "bird") | (given["suggested_label"] == "bird")).sum())
    assert errors == []
    page.close()


@pytest.mark.slow
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
        row = second.get_attribute("data-row")
        second.locator("button", has_text="drop").click()
        wait_decided(page, 1)
        assert second.get_attribute("data-decision") == "drop"
        page.close()
    saved = pd.read_csv(run / "decisions.csv", dtype=str)
    assert saved["row"].tolist() == [row]


@pytest.mark.slow
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
    first = int(page.get_attribute("#review", "data-current-row"))
    page.keyboard.press("x")
    wait_decided(page, 1)
    second = int(page.get_attribute("#review", "data-current-row"))
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
    ranking = pd.read_csv(run / "ranking.csv", dtype=str, keep_default_na=False).set_index(
        "row", drop=False)
    first, second = ranking.loc[str(first)], ranking.loc[str(second)]
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
    assert res.exit_code == 0 and "2 confirmed errors" in res.output, res.output


@pytest.mark.slow
def test_tables_get_the_list_view_with_filters_and_batch(browser, tmp_path):
    run = make_ranked_run(tmp_path, flagged={"cat": 3, "dog": 4, "bird": 2})
    with ReviewServer(run, port=0) as srv:
        srv.start()
        page, errors = open_review(browser, srv)
        assert page.input_value("#rv-view") == "list" and page.get_attribute("#rv-list", "class") == ""
        assert page.locator("li.rv-group").count() == 0
        first = page.locator("li.rv-item").first
        assert "x1 = " in first.locator(".rv-values").inner_text()
        assert "id img-" in first.locator(".rv-meta").inner_text()
        page.select_option("#rv-f-class", "dog")
        rows = page.eval_on_selector_all("li.rv-item", "els => els.map(e => +e.getAttribute('data-row'))")
        by_row = {it["row"]: it for it in srv.session.items}
        assert rows and all("dog" in (by_row[r]["given_label"], by_row[r]["suggested_label"]) for r in rows)
        page.click("#rv-sel-page")
        page.click("#rv-b-keep")
        wait_decided(page, len(rows))
        assert saved_decisions(run) == {r: ("keep", "") for r in rows}
        assert errors == []
        page.close()
