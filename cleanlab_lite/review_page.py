"""The review controls: one HTML fragment, one stylesheet and one script, shared by the page that
`clean-labels review` serves and by the static `report.html`.

The script reads its rows either from the server (`data-mode="server"`: GET /api/items, decisions
POSTed to /api/decide, the token taken from the page's own URL) or from a JSON attribute on the
fragment (`data-mode="static"`: decisions kept in the browser's localStorage, with a "download
decisions.csv" link). It builds every row with `textContent` and DOM calls, never `innerHTML`, so
a label or value is always text, whatever it contains.
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
from typing import Any

REVIEW_CSS = """
#review{margin:12px 0}
.rv-bar{position:sticky;top:0;background:#fff;border-bottom:1px solid #ddd;padding:8px 0;z-index:2;
  display:flex;gap:12px;align-items:center;flex-wrap:wrap}
#rv-counter{font-weight:600}#rv-pick{padding:4px 8px;width:240px}
#rv-status{color:#666}#rv-status.rv-error{color:#b52b27;font-weight:600}.rv-help{color:#666;font-size:.9em;margin:4px 0}
#rv-list{list-style:none;padding:0;margin:0}
.rv-item{display:flex;gap:16px;align-items:flex-start;border:1px solid #e3e3e3;border-radius:6px;
  padding:8px 12px;margin:6px 0;cursor:pointer}
.rv-item.rv-current{border-color:#337ab7;box-shadow:0 0 0 2px #337ab7 inset}
.rv-item.rv-keep{background:#eef7ee}.rv-item.rv-relabel{background:#eef3fb}
.rv-item.rv-drop{background:#fbeeee}
.rv-media img{width:96px;height:96px;object-fit:contain;image-rendering:pixelated;
  background:#f6f6f6;display:block}
.rv-values{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85em;white-space:pre-wrap;
  min-width:160px}
.rv-main{flex:1}.rv-labels b{font-size:1.1em}.rv-meta{color:#666;font-size:.85em}
.rv-top button,.rv-actions button{margin:2px 4px 2px 0;padding:2px 8px;cursor:pointer}
.rv-badge{display:inline-block;padding:2px 8px;border-radius:10px;font-weight:600;margin-left:8px}
.rv-badge.rv-keep{background:#5cb85c;color:#fff}.rv-badge.rv-relabel{background:#337ab7;color:#fff}
.rv-badge.rv-drop{background:#d9534f;color:#fff}
"""

REVIEW_FRAGMENT = """<div id="review" data-mode="{mode}" data-review="{data}">
<div class="rv-bar"><span id="rv-counter">loading…</span>
<input id="rv-pick" list="rv-classes" placeholder="relabel to… (/ then type, Enter)"
  aria-label="relabel the current row to this class" autocomplete="off">
<datalist id="rv-classes"></datalist>
<a id="rv-download" download="decisions.csv" href="#" hidden>download decisions.csv</a>
<span id="rv-status" role="status"></span></div>
<p class="rv-help">Keys: <b>j</b>/<b>k</b> next/previous · <b>a</b> accept the suggestion ·
<b>1</b>–<b>9</b> relabel to that top class · <b>/</b> relabel to any class (type to filter,
Enter) · <b>space</b> keep the given label · <b>x</b> drop · <b>s</b> skip · <b>u</b> undo.
{where}</p>
<ol id="rv-list"></ol>
</div>"""

REVIEW_JS = r"""
(function () {
  var root = document.getElementById('review');
  if (!root) { return; }
  var mode = root.getAttribute('data-mode');
  var token = new URLSearchParams(window.location.search).get('token') || '';
  var list = document.getElementById('rv-list');
  var counter = document.getElementById('rv-counter');
  var status = document.getElementById('rv-status');
  var pick = document.getElementById('rv-pick');
  var download = document.getElementById('rv-download');
  var S = {items: [], classes: [], decisions: {}, cur: 0, undo: [], hasId: false, key: ''};
  var cards = [];

  function api(path) {
    return path + (path.indexOf('?') < 0 ? '?' : '&') + 'token=' + encodeURIComponent(token);
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }
  function say(msg, bad) {
    status.textContent = msg || '';
    status.className = bad ? 'rv-error' : '';
  }

  function card(item, i) {
    var li = el('li', 'rv-item');
    li.setAttribute('data-row', String(item.row));
    var media = el('div', 'rv-media');
    if (item.image) {
      var img = el('img');
      img.alt = 'row ' + item.row;
      img.loading = 'lazy';
      img.src = mode === 'server' ? api('/image?row=' + item.row) : item.image;
      media.appendChild(img);
    } else if (item.values) {
      media.className = 'rv-values';
      media.textContent = item.values.map(function (kv) { return kv[0] + ' = ' + kv[1]; }).join('\n');
    }
    li.appendChild(media);
    var main = el('div', 'rv-main');
    var labels = el('div', 'rv-labels');
    labels.appendChild(document.createTextNode('given '));
    labels.appendChild(el('b', 'rv-given', item.given_label));
    labels.appendChild(document.createTextNode(' · suggested '));
    labels.appendChild(el('b', 'rv-suggested', item.suggested_label));
    if (item.confidence !== null && item.confidence !== undefined) {
      labels.appendChild(document.createTextNode(' (' + Number(item.confidence).toFixed(2) + ')'));
    }
    labels.appendChild(el('span', 'rv-badge'));
    main.appendChild(labels);
    var meta = '#' + (i + 1) + ' · row ' + item.row + (item.id !== undefined ? ' · id ' + item.id : '') +
      ' · label quality ' + Number(item.label_quality).toFixed(4) + (item.flagged ? ' · flagged' : '');
    main.appendChild(el('div', 'rv-meta', meta));
    var top = el('div', 'rv-top');
    top.appendChild(document.createTextNode('model: '));
    item.top.forEach(function (t, j) {
      var b = el('button', 'rv-cls', (j + 1) + ' · ' + t[0] + ' ' + Number(t[1]).toFixed(2));
      b.type = 'button';
      b.addEventListener('click', function (ev) { ev.stopPropagation(); b.blur(); go(i); relabel(t[0]); });
      top.appendChild(b);
    });
    main.appendChild(top);
    var act = el('div', 'rv-actions');
    [['keep (space)', function () { decide('keep'); }],
     ['accept suggestion (a)', accept],
     ['drop (x)', function () { decide('drop'); }],
     ['undo (u)', undo]].forEach(function (a) {
      var b = el('button', '', a[0]);
      b.type = 'button';
      b.addEventListener('click', function (ev) { ev.stopPropagation(); b.blur(); go(i); a[1](); });
      act.appendChild(b);
    });
    main.appendChild(act);
    li.appendChild(main);
    li.addEventListener('click', function () { go(i); });
    return li;
  }

  function paint(i) {
    var item = S.items[i], li = cards[i], d = S.decisions[String(item.row)];
    var badge = li.querySelector('.rv-badge');
    li.classList.remove('rv-keep', 'rv-relabel', 'rv-drop');
    badge.className = 'rv-badge';
    badge.textContent = '';
    if (d) {
      li.classList.add('rv-' + d.decision);
      badge.classList.add('rv-' + d.decision);
      badge.textContent = d.decision === 'relabel' ? 'relabel → ' + d.label : d.decision;
    }
    li.setAttribute('data-decision', d ? d.decision : '');
    li.setAttribute('data-label', d && d.label ? d.label : '');
  }

  function count() {
    var n = {keep: 0, relabel: 0, drop: 0}, done = 0;
    S.items.forEach(function (item) {
      var d = S.decisions[String(item.row)];
      if (d) { n[d.decision] += 1; done += 1; }
    });
    counter.textContent = done + ' of ' + S.items.length + ' decided · keep ' + n.keep +
      ' · relabel ' + n.relabel + ' · drop ' + n.drop;
    counter.setAttribute('data-decided', String(done));
    if (mode === 'static') { download.href = 'data:text/csv;charset=utf-8,' + encodeURIComponent(csv()); }
  }

  function go(i) {
    if (!S.items.length) { return; }
    i = Math.max(0, Math.min(S.items.length - 1, i));
    if (cards[S.cur]) { cards[S.cur].classList.remove('rv-current'); }
    S.cur = i;
    cards[i].classList.add('rv-current');
    cards[i].scrollIntoView({block: 'nearest'});
    root.setAttribute('data-current-row', String(S.items[i].row));
  }

  function csvCell(v) {
    var s = v === undefined || v === null ? '' : String(v);
    return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }
  function csv() {
    var cols = S.hasId ? ['row', 'id', 'given_label', 'decision', 'label', 'time']
                       : ['row', 'given_label', 'decision', 'label', 'time'];
    var rows = Object.keys(S.decisions).map(Number).sort(function (a, b) { return a - b; });
    return cols.join(',') + '\n' + rows.map(function (r) {
      var d = S.decisions[String(r)];
      return cols.map(function (c) { return csvCell(c === 'row' ? r : d[c]); }).join(',');
    }).join('\n') + (rows.length ? '\n' : '');
  }

  // one change: decision null clears the row's decision
  function store(row, decision, label, then) {
    var key = String(row), item = S.items.filter(function (x) { return x.row === row; })[0];
    if (mode === 'server') {
      var req = new XMLHttpRequest();
      req.open('POST', api('/api/decide'));
      req.setRequestHeader('Content-Type', 'application/json');
      req.onload = function () {
        var body = {};
        try { body = JSON.parse(req.responseText); } catch (e) { body = {error: req.responseText}; }
        if (req.status !== 200) { say('not saved: ' + (body.error || req.status), true); return; }
        S.decisions = body.decisions;
        say('saved');
        refresh(row);
        if (then) { then(); }
      };
      req.onerror = function () { say('not saved: the review server is not reachable', true); };
      req.send(JSON.stringify({row: row, decision: decision || 'clear', label: label || ''}));
      return;
    }
    if (decision) {
      var d = {given_label: item.given_label, decision: decision, label: label || '',
               time: new Date().toISOString().replace(/\.\d+Z$/, 'Z')};
      if (S.hasId) { d.id = item.id; }
      S.decisions[key] = d;
    } else {
      delete S.decisions[key];
    }
    try { window.localStorage.setItem(S.key, JSON.stringify(S.decisions)); say('saved in this browser'); }
    catch (e) { say('not saved: this browser refuses local storage (' + e.name + ')', true); }
    refresh(row);
    if (then) { then(); }
  }

  function refresh(row) {
    S.items.forEach(function (item, i) { if (item.row === row) { paint(i); } });
    count();
  }

  function decide(decision, cls) {
    var item = S.items[S.cur];
    if (!item) { return; }
    if (decision === 'relabel' && cls === item.given_label) { decision = 'keep'; }
    var prev = S.decisions[String(item.row)] || null;
    var at = S.cur;
    store(item.row, decision, decision === 'relabel' ? cls : '', function () {
      S.undo.push({row: item.row, at: at, prev: prev});
      go(at + 1);
    });
  }
  function relabel(cls) { decide('relabel', cls); }
  function accept() { var item = S.items[S.cur]; if (item) { relabel(item.suggested_label); } }
  function undo() {
    var u = S.undo.pop();
    if (!u) {
      var item = S.items[S.cur];
      if (item && S.decisions[String(item.row)]) { store(item.row, null, ''); }
      return;
    }
    go(u.at);
    store(u.row, u.prev ? u.prev.decision : null, u.prev ? u.prev.label : '');
  }

  function pickClass() {
    var q = pick.value.trim(), lower = q.toLowerCase();
    if (S.classes.indexOf(q) >= 0) { return q; }
    var hits = S.classes.filter(function (c) { return c.toLowerCase().indexOf(lower) >= 0; });
    return q && hits.length === 1 ? hits[0] : null;
  }

  pick.addEventListener('keydown', function (ev) {
    if (ev.key === 'Enter') {
      ev.preventDefault();
      var c = pickClass();
      if (c === null) { say(JSON.stringify(pick.value) + ' is not one class of this run; type more of its name', true); return; }
      pick.value = '';
      pick.blur();
      relabel(c);
    } else if (ev.key === 'Escape') { pick.value = ''; pick.blur(); }
  });

  document.addEventListener('keydown', function (ev) {
    var t = ev.target;
    if (ev.ctrlKey || ev.metaKey || ev.altKey || !S.items.length) { return; }
    if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT')) { return; }
    var folded = root.parentNode && root.parentNode.tagName === 'DETAILS' ? root.parentNode : null;
    if (folded && !folded.open) { return; }
    var item = S.items[S.cur], k = ev.key, done = true;
    if (k === 'j' || k === 's') { go(S.cur + 1); }
    else if (k === 'k') { go(S.cur - 1); }
    else if (k === 'a') { accept(); }
    else if (k === 'x') { decide('drop'); }
    else if (k === ' ') { decide('keep'); }
    else if (k === 'u') { undo(); }
    else if (k === '/' || k === 'l') { pick.focus(); }
    else if (/^[1-9]$/.test(k) && item.top[Number(k) - 1]) { relabel(item.top[Number(k) - 1][0]); }
    else { done = false; }
    if (done) { ev.preventDefault(); }
  });

  function init(data) {
    S.items = data.items;
    S.classes = data.classes;
    S.hasId = data.has_id;
    S.key = 'clean-labels-decisions:' + data.run_key;
    if (mode === 'server') {
      S.decisions = data.decisions || {};
    } else {
      try { S.decisions = JSON.parse(window.localStorage.getItem(S.key) || '{}') || {}; }
      catch (e) { S.decisions = {}; }
      download.hidden = false;
    }
    var opts = document.getElementById('rv-classes');
    S.classes.forEach(function (c) { var o = el('option'); o.value = c; opts.appendChild(o); });
    cards = S.items.map(card);
    cards.forEach(function (li) { list.appendChild(li); });
    S.items.forEach(function (item, i) { paint(i); });
    count();
    var first = 0;
    while (first < S.items.length - 1 && S.decisions[String(S.items[first].row)]) { first += 1; }
    go(first);
    root.setAttribute('data-ready', 'true');
  }

  if (mode === 'server') {
    var req = new XMLHttpRequest();
    req.open('GET', api('/api/items'));
    req.onload = function () {
      if (req.status !== 200) { say('cannot load rows: ' + req.responseText, true); return; }
      init(JSON.parse(req.responseText));
    };
    req.onerror = function () { say('cannot load rows: the review server is not reachable', true); };
    req.send();
  } else {
    init(JSON.parse(root.getAttribute('data-review')));
  }
})();
"""


def script_hash(script: str) -> str:
    """The CSP source allowing exactly this inline script: 'sha256-...'."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def fragment(mode: str, data: dict[str, Any] | None = None, where: str = "") -> str:
    """The review controls' HTML; `data` (static mode) is embedded as an escaped attribute."""
    blob = html.escape(json.dumps(data, separators=(",", ":")), quote=True) if data else ""
    return REVIEW_FRAGMENT.format(mode=mode, data=blob, where=html.escape(where))


def server_page(title: str) -> str:
    """The page `clean-labels review` serves: the controls alone, rows fetched from the server."""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:16px 24px;
color:#222;max-width:1100px}}h1{{margin:0 0 4px}}{REVIEW_CSS}</style></head>
<body><h1>{html.escape(title)}</h1>
{fragment("server", where="Every decision is saved to the run's decisions.csv as it is made.")}
<script>{REVIEW_JS}</script>
</body></html>
"""


SERVER_CSP = ("default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
              f"script-src {script_hash(REVIEW_JS)}; connect-src 'self'; base-uri 'none'; "
              "form-action 'none'; frame-ancestors 'none'")
