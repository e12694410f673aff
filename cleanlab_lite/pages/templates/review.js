(function () {
  'use strict';
  var root = document.getElementById('review');
  if (!root) { return; }
  var mode = root.getAttribute('data-mode');
  var token = new URLSearchParams(window.location.search).get('token') || '';
  function $(id) { return document.getElementById(id); }
  var list = $('rv-list'), counter = $('rv-counter'), status = $('rv-status'), pick = $('rv-pick');
  var download = $('rv-download'), typedOut = $('rv-typed'), selOut = $('rv-sel');
  var F = {view: $('rv-view'), cls: $('rv-f-class'), pair: $('rv-f-pair'), state: $('rv-f-state'),
           sort: $('rv-sort'), text: $('rv-f-text')};
  var PAGE = Number(root.getAttribute('data-page-size')) || 48;
  var GRID_TOP = 4;   // top choices a grid card shows (a list card shows up to 9)
  var COMMAND_KEYS = 'jkaxsunpmvl';
  var S = {items: [], byRow: {}, classes: [], decisions: {}, strips: {}, shown: [], pageItems: [],
           page: 0, cur: 0, sel: {}, lastClicked: -1, undo: [], hasId: false, key: '',
           classKeys: false, topKeys: [], typed: '', kind: 'values'};
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
  function say(msg, bad) { status.textContent = msg || ''; status.className = bad ? 'rv-error' : ''; }
  function pair(item) { return item.given_label + ' \u2192 ' + item.suggested_label; }
  function imgSrc(row, image) { return mode === 'server' ? api('/image?row=' + row) : image; }

  // ---- keys: class names that are numbers are typed as numbers; the model's top choices then get
  // letters that are neither a command nor the start of a class name, and each button shows its key
  function topShown() { return Math.min(S.topKeys.length, F.view.value === 'grid' ? GRID_TOP : 9); }
  function chooseKeys(classes) {
    S.classKeys = classes.some(function (c) { return /^[0-9]+$/.test(c); });
    if (!S.classKeys) { S.topKeys = '123456789'.split(''); return; }
    var firsts = {};
    classes.forEach(function (c) { firsts[c.charAt(0).toLowerCase()] = true; });
    S.topKeys = 'qwertyiobcdfghz'.split('').filter(function (k) {
      return COMMAND_KEYS.indexOf(k) < 0 && !firsts[k];
    }).slice(0, 9);
  }
  function keysHelp() {
    var keys = S.topKeys.slice(0, topShown());
    var top = S.classKeys
      ? keys.join(' ') + ' relabel to that top choice (its key is on the card) · type a class ' +
        'name (0–9…) to relabel to that class'
      : keys[0] + '–' + keys[keys.length - 1] + ' relabel to that top choice (its key is on the card)';
    $('rv-keys').textContent = 'Keys: j/k next/previous · a accept the suggestion · ' + top +
      ' · / relabel to any class · space keep · x drop · s skip · u undo · m select · ' +
      'shift+a select page · n/p next/previous page.';
  }

  // ---- cards
  function strip(cls, title) {
    var box = el('div', 'rv-strip');
    box.appendChild(el('span', '', title));
    (S.strips[cls] || []).forEach(function (s) {
      if (mode === 'static' && !s.image) { return; }
      var img = el('img');
      img.alt = cls + ', row ' + s.row;
      img.title = 'row ' + s.row;
      img.loading = 'lazy';
      img.src = imgSrc(s.row, s.image);
      box.appendChild(img);
    });
    box.setAttribute('data-class', cls);
    return box;
  }
  function groupHeader(item, n) {
    var li = el('li', 'rv-group');
    li.setAttribute('data-pair', pair(item));
    li.appendChild(el('h3', '', pair(item) + ' · ' + n + ' row' + (n === 1 ? '' : 's')));
    if (S.kind === 'image') {
      var strips = el('div', 'rv-strips');
      strips.appendChild(strip(item.given_label, 'typical ' + JSON.stringify(item.given_label) + ' (given)'));
      strips.appendChild(strip(item.suggested_label, 'typical ' + JSON.stringify(item.suggested_label) + ' (suggested)'));
      li.appendChild(strips);
    }
    return li;
  }
  function button(html, title, fn, i) {
    var b = el('button');
    b.type = 'button';
    b.appendChild(el('kbd', '', html[0]));
    b.appendChild(document.createTextNode(' ' + html[1]));
    if (title) { b.title = title; }
    b.addEventListener('click', function (ev) { ev.stopPropagation(); b.blur(); go(i); fn(); });
    return b;
  }
  function card(item, i) {
    var li = el('li', 'rv-item');
    li.setAttribute('data-row', String(item.row));
    var check = el('input', 'rv-check');
    check.type = 'checkbox';
    check.setAttribute('aria-label', 'select row ' + item.row);
    check.addEventListener('click', function (ev) { ev.stopPropagation(); select(i, check.checked, ev.shiftKey); check.blur(); });
    li.appendChild(check);
    var media = el('div', 'rv-media');
    if (S.kind === 'image' && mode === 'static' && !item.image) {
      media.appendChild(el('span', 'rv-missing', item.image_error || 'no image'));
    } else if (S.kind === 'image') {
      var img = el('img');
      img.alt = item.path || 'row ' + item.row;
      img.loading = 'lazy';
      img.src = imgSrc(item.row, item.image);
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
    labels.appendChild(document.createTextNode(' → '));
    labels.appendChild(el('b', 'rv-suggested', item.suggested_label));
    if (item.confidence !== null && item.confidence !== undefined) {
      labels.appendChild(document.createTextNode(' (' + Number(item.confidence).toFixed(2) + ')'));
    }
    labels.appendChild(el('span', 'rv-badge'));
    main.appendChild(labels);
    var where = (item.path ? item.path + ' · ' : '') + (item.id !== undefined ? 'id ' + item.id + ' · ' : '');
    main.appendChild(el('div', 'rv-meta', where + 'row ' + item.row + ' · #' + item.rank +
      ' · quality ' + Number(item.label_quality).toFixed(4) + (item.flagged ? '' : ' · not flagged')));
    var top = el('div', 'rv-top');
    item.top.forEach(function (t, j) {
      if (j >= topShown()) { return; }
      var b = button([S.topKeys[j], t[0] + ' ' + Number(t[1]).toFixed(2)],
                     'relabel to ' + t[0], function () { relabel(t[0]); }, i);
      b.className = 'rv-cls';
      b.setAttribute('data-key', S.topKeys[j]);
      b.setAttribute('data-class', t[0]);
      top.appendChild(b);
    });
    main.appendChild(top);
    var act = el('div', 'rv-actions');
    act.appendChild(button(['space', 'keep'], '', function () { decide('keep'); }, i));
    act.appendChild(button(['a', 'accept'], 'relabel to ' + item.suggested_label, accept, i));
    act.appendChild(button(['x', 'drop'], '', function () { decide('drop'); }, i));
    act.appendChild(button(['u', 'undo'], '', undo, i));
    main.appendChild(act);
    li.appendChild(main);
    li.addEventListener('click', function (ev) {
      if (ev.shiftKey || ev.ctrlKey || ev.metaKey) { select(i, !S.sel[item.row], ev.shiftKey); }
      go(i);
    });
    return li;
  }
  function paint(i) {
    var item = S.pageItems[i], li = cards[i], d = S.decisions[String(item.row)];
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
    var on = !!S.sel[item.row];
    li.classList.toggle('rv-selected', on);
    li.querySelector('.rv-check').checked = on;
  }

  // ---- filtering, sorting, paging
  function matches(item) {
    var c = F.cls.value, p = F.pair.value, st = F.state.value, q = F.text.value.trim().toLowerCase();
    if (c && item.given_label !== c && item.suggested_label !== c) { return false; }
    if (p && pair(item) !== p) { return false; }
    if (st) {
      var d = S.decisions[String(item.row)];
      if (st === 'undecided' ? d : st === 'decided' ? !d : !d || d.decision !== st) { return false; }
    }
    if (q) {
      var hay = [item.row, item.id, item.path, item.given_label, item.suggested_label].join(' ').toLowerCase();
      if (hay.indexOf(q) < 0) { return false; }
    }
    return true;
  }
  function pairSizes(items) {
    var n = {};
    items.forEach(function (it) { var k = pair(it); n[k] = (n[k] || 0) + 1; });
    return n;
  }
  function order(items) {
    var s = F.sort.value, out = items.slice();
    if (s === 'quality' || s === '-quality') {
      var sign = s === 'quality' ? 1 : -1;
      out.sort(function (a, b) { return sign * (a.label_quality - b.label_quality) || a.rank - b.rank; });
    } else if (s === 'pair') {
      var n = pairSizes(items);
      out.sort(function (a, b) {
        var ka = pair(a), kb = pair(b);
        return n[kb] - n[ka] || (ka < kb ? -1 : ka > kb ? 1 : 0) || a.label_quality - b.label_quality || a.rank - b.rank;
      });
    }
    return out;
  }
  function apply(keepPage) {
    keysHelp();
    S.shown = order(S.items.filter(matches));
    var pages = Math.max(1, Math.ceil(S.shown.length / PAGE));
    S.page = keepPage ? Math.min(S.page, pages - 1) : 0;
    show(0);
  }
  function show(at) {
    var start = S.page * PAGE, pages = Math.max(1, Math.ceil(S.shown.length / PAGE));
    S.pageItems = S.shown.slice(start, start + PAGE);
    var grid = F.view.value === 'grid';
    list.className = grid ? 'rv-grid' : '';
    list.textContent = '';
    var sizes = grid && F.sort.value === 'pair' ? pairSizes(S.shown) : null, prev = null;
    var frag = document.createDocumentFragment();
    cards = S.pageItems.map(function (item, i) {
      if (sizes && pair(item) !== prev) { frag.appendChild(groupHeader(item, sizes[pair(item)])); prev = pair(item); }
      var li = card(item, i);
      frag.appendChild(li);
      return li;
    });
    list.appendChild(frag);
    cards.forEach(function (li, i) { paint(i); });
    $('rv-page').textContent = S.shown.length
      ? 'page ' + (S.page + 1) + ' of ' + pages + ' · rows ' + (start + 1) + '–' + (start + S.pageItems.length) +
        ' of ' + S.shown.length + (S.shown.length < S.items.length ? ' shown (of ' + S.items.length + ')' : '')
      : 'no row matches the filters';
    root.setAttribute('data-shown', String(S.shown.length));
    root.setAttribute('data-page', String(S.page));
    count();
    go(Math.max(0, Math.min(at, S.pageItems.length - 1)), true);
  }
  function turn(delta, at) {
    var pages = Math.max(1, Math.ceil(S.shown.length / PAGE)), to = S.page + delta;
    if (to < 0 || to >= pages) { return false; }
    S.page = to;
    show(at === undefined ? 0 : at);
    window.scrollTo(0, 0);
    return true;
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
    var sel = Object.keys(S.sel).length;
    selOut.textContent = sel + ' selected';
    selOut.setAttribute('data-selected', String(sel));
    if (mode === 'static') { download.href = 'data:text/csv;charset=utf-8,' + encodeURIComponent(csv()); }
  }
  function go(i, quiet) {
    if (!S.pageItems.length) { root.removeAttribute('data-current-row'); return; }
    if (i >= S.pageItems.length) { if (turn(1, 0)) { return; } i = S.pageItems.length - 1; }
    if (i < 0) { if (turn(-1, PAGE - 1)) { return; } i = 0; }
    if (cards[S.cur]) { cards[S.cur].classList.remove('rv-current'); }
    S.cur = i;
    cards[i].classList.add('rv-current');
    if (!quiet) { cards[i].scrollIntoView({block: 'nearest'}); }
    root.setAttribute('data-current-row', String(S.pageItems[i].row));
  }
  function select(i, on, range) {
    var from = range && S.lastClicked >= 0 ? Math.min(S.lastClicked, i) : i;
    var to = range && S.lastClicked >= 0 ? Math.max(S.lastClicked, i) : i;
    for (var j = from; j <= to; j += 1) {
      var row = S.pageItems[j].row;
      if (on) { S.sel[row] = true; } else { delete S.sel[row]; }
      paint(j);
    }
    S.lastClicked = i;
    count();
  }

  // ---- decisions: saved to the server or to this browser
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
  function repaint() {
    S.pageItems.forEach(function (item, i) { paint(i); });
    count();
  }
  function showEstimate(est) {
    var box = $('rv-estimate');
    if (!est) { return; }
    box.hidden = false;
    box.textContent = est;
  }
  // changes: [{row, decision (null clears), label}]
  function store(changes, then) {
    if (mode === 'server') {
      var req = new XMLHttpRequest();
      req.open('POST', api('/api/decide'));
      req.setRequestHeader('Content-Type', 'application/json');
      req.onload = function () {
        var body = {};
        try { body = JSON.parse(req.responseText); } catch (e) { body = {error: req.responseText}; }
        if (req.status !== 200) { say('not saved: ' + (body.error || req.status), true); return; }
        S.decisions = body.decisions;
        showEstimate(body.estimate);
        say('saved ' + changes.length + (changes.length === 1 ? ' decision' : ' decisions'));
        repaint();
        if (then) { then(); }
      };
      req.onerror = function () { say('not saved: the review server is not reachable', true); };
      req.send(JSON.stringify({decisions: changes.map(function (c) {
        return {row: c.row, decision: c.decision || 'clear', label: c.label || ''};
      })}));
      return;
    }
    var now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    changes.forEach(function (c) {
      var key = String(c.row), item = S.byRow[key];
      if (!c.decision) { delete S.decisions[key]; return; }
      var d = {given_label: item.given_label, decision: c.decision, label: c.label || '', time: now};
      if (S.hasId) { d.id = item.id; }
      S.decisions[key] = d;
    });
    try { window.localStorage.setItem(S.key, JSON.stringify(S.decisions)); say('saved in this browser'); }
    catch (e) { say('not saved: this browser refuses local storage (' + e.name + ')', true); }
    repaint();
    if (then) { then(); }
  }
  function change(item, decision, cls) {
    if (decision === 'relabel' && cls === item.given_label) { decision = 'keep'; }
    return {row: item.row, decision: decision, label: decision === 'relabel' ? cls : ''};
  }
  function remember(rows) {
    var prev = {};
    rows.forEach(function (r) { prev[r] = S.decisions[String(r)] || null; });
    S.undo.push({rows: rows, prev: prev, page: S.page, at: S.cur});
  }
  function decide(decision, cls) {
    var item = S.pageItems[S.cur];
    if (!item) { return; }
    var at = S.cur;
    remember([item.row]);
    store([change(item, decision, cls)], function () { go(at + 1); });
  }
  function relabel(cls) { decide('relabel', cls); }
  function accept() { var item = S.pageItems[S.cur]; if (item) { relabel(item.suggested_label); } }
  function batch(decision, cls) {
    var rows = Object.keys(S.sel).map(Number);
    if (!rows.length) { say('select cards first (click their box, m, or shift+click)', true); return; }
    if (decision === 'relabel' && S.classes.indexOf(cls) < 0) { say('choose the class to relabel to', true); return; }
    remember(rows);
    store(rows.map(function (r) {
      var item = S.byRow[String(r)];
      return decision === 'accept' ? change(item, 'relabel', item.suggested_label) : change(item, decision, cls);
    }), function () {
      S.sel = {};
      repaint();
    });
  }
  function undo() {
    var u = S.undo.pop();
    if (!u) { return; }
    store(u.rows.map(function (r) {
      var p = u.prev[r];
      return {row: r, decision: p ? p.decision : null, label: p ? p.label : ''};
    }), function () {
      if (u.page !== S.page && u.page < Math.ceil(S.shown.length / PAGE)) { S.page = u.page; show(u.at); }
      else { go(u.at); }
    });
  }

  // ---- the class box and typed class names
  function pickClass(q) {
    var lower = q.toLowerCase();
    if (S.classes.indexOf(q) >= 0) { return q; }
    var hits = S.classes.filter(function (c) { return c.toLowerCase().indexOf(lower) >= 0; });
    return q && hits.length === 1 ? hits[0] : null;
  }
  pick.addEventListener('keydown', function (ev) {
    if (ev.key === 'Enter') {
      ev.preventDefault();
      var c = pickClass(pick.value.trim());
      if (c === null) { say(JSON.stringify(pick.value) + ' is not one class of this run; type more of its name', true); return; }
      pick.value = '';
      pick.blur();
      relabel(c);
    } else if (ev.key === 'Escape') { pick.value = ''; pick.blur(); }
  });
  function typeDigit(k) {
    S.typed += k;
    var t = S.typed;
    var longer = S.classes.filter(function (c) { return c.length > t.length && c.indexOf(t) === 0; });
    var exact = S.classes.indexOf(t) >= 0;
    if (exact && !longer.length) { S.typed = ''; typedOut.textContent = ''; relabel(t); return; }
    if (!exact && !longer.length) {
      S.typed = '';
      typedOut.textContent = '';
      say('no class is named ' + JSON.stringify(t), true);
      return;
    }
    typedOut.textContent = 'class ' + t + '…' + (exact ? ' (Enter: relabel to ' + t + ')' : '');
  }
  function typedEnter() {
    var t = S.typed;
    S.typed = '';
    typedOut.textContent = '';
    if (S.classes.indexOf(t) >= 0) { relabel(t); return true; }
    return false;
  }

  document.addEventListener('keydown', function (ev) {
    var t = ev.target;
    if (ev.ctrlKey || ev.metaKey || ev.altKey || !S.items.length) { return; }
    if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT')) { return; }
    var folded = root.parentNode && root.parentNode.tagName === 'DETAILS' ? root.parentNode : null;
    if (folded && !folded.open) { return; }
    var item = S.pageItems[S.cur], k = ev.key, done = true, j;
    if (S.classKeys && /^[0-9]$/.test(k)) { typeDigit(k); ev.preventDefault(); return; }
    if (S.typed) {
      if (k === 'Enter') { typedEnter(); ev.preventDefault(); return; }
      S.typed = '';
      typedOut.textContent = '';
      if (k === 'Escape') { return; }
    }
    if (k === 'A') { select(0, true, false); select(S.pageItems.length - 1, true, true); }
    else if (!item) { done = false; }
    else if (k === 'j' || k === 's') { go(S.cur + 1); }
    else if (k === 'k') { go(S.cur - 1); }
    else if (k === 'n') { turn(1); }
    else if (k === 'p') { turn(-1); }
    else if (k === 'a') { accept(); }
    else if (k === 'x') { decide('drop'); }
    else if (k === ' ') { decide('keep'); }
    else if (k === 'u') { undo(); }
    else if (k === 'm') { select(S.cur, !S.sel[item.row], false); }
    else if (k === '/' || k === 'l') { pick.focus(); }
    else if ((j = S.topKeys.indexOf(k)) >= 0 && j < topShown() && item.top[j]) { relabel(item.top[j][0]); }
    else { done = false; }
    if (done) { ev.preventDefault(); }
  });

  function options(select, values, labels) {
    values.forEach(function (v, i) {
      var o = el('option', '', labels ? labels[i] : v);
      o.value = v;
      select.appendChild(o);
    });
  }
  function init(data) {
    S.items = data.items;
    S.classes = data.classes;
    S.hasId = data.has_id;
    S.kind = data.kind;
    S.strips = data.strips || {};
    S.key = 'clean-labels-decisions:' + data.run_key;
    S.items.forEach(function (item) { S.byRow[String(item.row)] = item; });
    if (mode === 'server') {
      S.decisions = data.decisions || {};
    } else {
      try { S.decisions = JSON.parse(window.localStorage.getItem(S.key) || '{}') || {}; }
      catch (e) { S.decisions = {}; }
      download.hidden = false;
    }
    showEstimate(data.estimate);
    chooseKeys(S.classes);
    keysHelp();
    var dl = $('rv-classes');
    S.classes.forEach(function (c) { var o = el('option'); o.value = c; dl.appendChild(o); });
    options(F.cls, S.classes);
    options($('rv-b-class'), S.classes);
    var sizes = pairSizes(S.items);
    var pairs = Object.keys(sizes).sort(function (a, b) { return sizes[b] - sizes[a] || (a < b ? -1 : 1); });
    options(F.pair, pairs, pairs.map(function (p) { return p + ' (' + sizes[p] + ')'; }));
    F.view.value = data.kind === 'image' ? 'grid' : 'list';
    if (data.sample) { F.sort.value = 'rank'; S.items.forEach(function (it, i) { it.rank = i + 1; }); }
    else if (data.kind !== 'image') { F.sort.value = 'rank'; }
    [F.view, F.cls, F.pair, F.state, F.sort].forEach(function (f) {
      f.addEventListener('change', function () { apply(false); f.blur(); });
    });
    F.text.addEventListener('input', function () { apply(false); });
    $('rv-prev').addEventListener('click', function () { turn(-1); });
    $('rv-next').addEventListener('click', function () { turn(1); });
    $('rv-sel-page').addEventListener('click', function () { select(0, true, false); select(S.pageItems.length - 1, true, true); });
    $('rv-sel-none').addEventListener('click', function () { S.sel = {}; repaint(); });
    $('rv-b-keep').addEventListener('click', function () { batch('keep'); });
    $('rv-b-accept').addEventListener('click', function () { batch('accept'); });
    $('rv-b-drop').addEventListener('click', function () { batch('drop'); });
    $('rv-b-relabel').addEventListener('click', function () { batch('relabel', $('rv-b-class').value); });
    var m = /[#&]filter=([^&]*)/.exec(window.location.hash);
    if (m) { F.text.value = decodeURIComponent(m[1]); }
    apply(false);
    var first = 0;
    while (first < S.pageItems.length - 1 && S.decisions[String(S.pageItems[first].row)]) { first += 1; }
    go(first, true);
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
