// cjob web UI: auto refresh (morphing <main> in place), filters, remembered
// <details>, actions with confirmation and streamed progress, live logs.
(function () {
  'use strict';

  var body = document.body;
  var main = document.getElementById('main');
  var refreshMs = parseInt(body.getAttribute('data-refresh'), 10) || 10000;
  var pageKey = location.pathname;

  function $(id) { return document.getElementById(id); }
  function store(kind) {
    try { return window[kind]; } catch (e) { return null; }
  }
  var local = store('localStorage');
  var session = store('sessionStorage');
  function get(s, k) { try { return s ? s.getItem(k) : null; } catch (e) { return null; } }
  function set(s, k, v) { try { if (s) s.setItem(k, v); } catch (e) { /* full or denied */ } }
  function clock(d) {
    function p(n) { return (n < 10 ? '0' : '') + n; }
    return p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds());
  }

  // ---- <details data-key>: open state remembered per page ----
  function detailsKey(d) { return 'cjob:open:' + pageKey + ':' + d.getAttribute('data-key'); }
  function restoreDetails() {
    var all = main.querySelectorAll('details[data-key]');
    for (var i = 0; i < all.length; i++) {
      var v = get(local, detailsKey(all[i]));
      if (v === '1' && !all[i].open) all[i].open = true;
      else if (v === '0' && all[i].open) all[i].open = false;
    }
  }
  document.addEventListener('toggle', function (ev) {
    var d = ev.target;
    if (!d || d.nodeName !== 'DETAILS' || !d.hasAttribute('data-key')) return;
    set(local, detailsKey(d), d.open ? '1' : '0');
  }, true);

  // ---- filter box: hides [data-filter] items and empty [data-filter-group]s ----
  var filterKey = 'cjob:filter:' + pageKey;
  function applyFilter() {
    var box = $('filter');
    if (!box) return;
    var q = box.value.trim().toLowerCase();
    set(session, filterKey, box.value);
    var items = main.querySelectorAll('[data-filter]');
    var shown = 0;
    for (var i = 0; i < items.length; i++) {
      var el = items[i];
      var g = el.parentNode && el.parentNode.closest ? el.parentNode.closest('[data-filter-group]') : null;
      var ok = !q || el.getAttribute('data-filter').indexOf(q) >= 0 ||
        (g && g.getAttribute('data-filter-group').indexOf(q) >= 0);
      if (el.hidden === ok) el.hidden = !ok;
      if (ok) shown++;
    }
    var groups = main.querySelectorAll('[data-filter-group]');
    for (var j = 0; j < groups.length; j++) {
      var gr = groups[j];
      var gok = !q || gr.getAttribute('data-filter-group').indexOf(q) >= 0 ||
        !!gr.querySelector('[data-filter]:not([hidden])');
      if (gr.hidden === gok) gr.hidden = !gok;
    }
    var c = $('filter-count');
    if (c) {
      var t = q ? shown + ' of ' + items.length + ' shown' : '';
      if (c.textContent !== t) c.textContent = t;
    }
  }
  function initFilter() {
    var box = $('filter');
    if (!box || box.getAttribute('data-ready')) return;
    box.setAttribute('data-ready', '1');
    var saved = get(session, filterKey);
    if (saved && !box.value) box.value = saved;
    box.addEventListener('input', applyFilter);
    box.addEventListener('keydown', function (e) {
      if (e.key === 'Escape') { box.value = ''; applyFilter(); }
    });
    applyFilter();
  }
  document.addEventListener('keydown', function (e) {
    // "/" focuses the filter (or the log search), as in many dashboards.
    if (e.key !== '/' || e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    if (t && (t.nodeName === 'INPUT' || t.nodeName === 'TEXTAREA' || t.isContentEditable)) return;
    var box = $('filter') || $('log-search');
    if (box) { e.preventDefault(); box.focus(); box.select(); }
  });

  document.addEventListener('click', function (e) {
    var t = e.target;
    if (!t || !t.closest) return;
    if (t.closest('#expand-all') || t.closest('#collapse-all')) {
      var open = !!t.closest('#expand-all');
      var all = main.querySelectorAll('details.svc');
      for (var i = 0; i < all.length; i++) if (!all[i].hidden) all[i].open = open;
    }
  });

  // ---- morph: patch the live DOM to match new HTML, node by node, so
  // focus, scroll, open <details>, typed input and filter survive ----
  function keyOf(n) {
    if (n.nodeType !== 1) return '';
    return n.id || n.getAttribute('data-key') || n.getAttribute('data-job') ||
      n.getAttribute('data-container') || n.getAttribute('data-node') || n.getAttribute('data-number') || '';
  }
  function same(a, b) {
    return a.nodeType === b.nodeType && a.nodeName === b.nodeName && keyOf(a) === keyOf(b);
  }
  function syncAttrs(from, to) {
    var details = from.nodeName === 'DETAILS';
    var i, name;
    for (i = from.attributes.length - 1; i >= 0; i--) {
      name = from.attributes[i].name;
      if (details && name === 'open') continue;
      if (!to.hasAttribute(name)) from.removeAttribute(name);
    }
    for (i = 0; i < to.attributes.length; i++) {
      var a = to.attributes[i];
      if (details && a.name === 'open') continue;
      if (from.getAttribute(a.name) !== a.value) from.setAttribute(a.name, a.value);
    }
  }
  function patch(a, b) {
    if (a.nodeType !== 1) {
      if (a.nodeValue !== b.nodeValue) a.nodeValue = b.nodeValue;
      return;
    }
    if (a.hasAttribute('data-keep')) return; // inputs the visitor types in
    if (a.isEqualNode(b)) return;
    syncAttrs(a, b);
    morphChildren(a, b);
  }
  function morphChildren(from, to) {
    var a = from.firstChild, b = to.firstChild;
    while (b) {
      var nb = b.nextSibling;
      if (!a) { from.appendChild(b); b = nb; continue; }
      if (same(a, b)) { patch(a, b); a = a.nextSibling; b = nb; continue; }
      var na = a.nextSibling;
      if (keyOf(b) && na && same(na, b)) { from.removeChild(a); a = na; continue; } // a was removed
      if (keyOf(a) && nb && same(a, nb)) { from.insertBefore(b, a); b = nb; continue; } // b is new
      from.replaceChild(b, a);
      a = na;
      b = nb;
    }
    while (a) { var n = a.nextSibling; from.removeChild(a); a = n; }
  }
  function apply(html) {
    var tpl = document.createElement('template');
    tpl.innerHTML = html;
    morphChildren(main, tpl.content);
    afterUpdate();
  }
  function afterUpdate() {
    restoreDetails();
    initFilter();
    applyFilter();
    if (body.classList.contains('busy')) setBusy(true); // new buttons wait for the running action too
  }

  // ---- auto refresh ----
  var lastHTML = null, inflight = null, timer = null;
  function setStatus(text, bad) {
    var s = $('refresh-status');
    if (!s) return;
    s.textContent = text;
    s.className = bad ? 'bad' : 'muted';
  }
  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(function () { refresh(false); }, refreshMs);
  }
  function refresh(fresh) {
    if (inflight) {
      if (!fresh) return;
      inflight.abort();
    }
    if (!fresh && document.hidden) { schedule(); return; }
    var ctl = typeof AbortController === 'function' ? new AbortController() : null;
    inflight = ctl || true;
    var url = location.pathname + (location.search ? location.search + '&' : '?') + 'partial=1' + (fresh ? '&fresh=1' : '');
    if (fresh) setStatus('refreshing…');
    fetch(url, { signal: ctl ? ctl.signal : undefined, credentials: 'same-origin', cache: 'no-store' })
      .then(function (res) {
        return res.text().then(function (text) { return { status: res.status, text: text }; });
      })
      .then(function (r) {
        if (r.status !== 200 && r.status !== 404) {
          var m = /<pre class="error">([^<]*)/.exec(r.text);
          setStatus('refresh failed (' + r.status + (m ? ': ' + m[1] : '') + '), showing older data', true);
          return;
        }
        if (r.text !== lastHTML) {
          lastHTML = r.text;
          apply(r.text);
        }
        var lr = $('last-refresh');
        if (lr) lr.textContent = clock(new Date());
        setStatus('');
      })
      .catch(function (e) {
        if (!e || e.name !== 'AbortError') setStatus('refresh failed: ' + (e && e.message || e) + ', showing older data', true);
      })
      .then(function () {
        if (inflight === ctl || inflight === true) inflight = null;
        schedule();
      });
  }
  var now = $('refresh-now');
  if (now) now.addEventListener('click', function () { refresh(true); });
  document.addEventListener('visibilitychange', function () { if (!document.hidden) refresh(false); });

  // ---- actions: confirm, run, stream progress ----
  var pending = null;
  function setBusy(busy) {
    var all = document.querySelectorAll('button.action');
    for (var i = 0; i < all.length; i++) all[i].disabled = busy;
    body.classList.toggle('busy', busy);
  }
  document.addEventListener('click', function (ev) {
    var btn = ev.target && ev.target.closest ? ev.target.closest('button.action') : null;
    var dlg = $('confirm');
    if (!btn || !dlg) return;
    ev.preventDefault();
    var d = btn.dataset;
    var a = { verb: d.verb, job: d.job || '', task: parseInt(d.task || '0', 10), tag: '', version: parseInt(d.version || '0', 10) };
    var text = d.confirm;
    var grp = btn.closest('.grp');
    if (grp) {
      var tagIn = grp.querySelector('input[name=tag]');
      if (tagIn) {
        a.tag = tagIn.value.trim();
        if (a.tag && d.confirmTag) text = d.confirmTag.replace('{tag}', a.tag);
        if (!a.tag && a.verb === 'update') { tagIn.focus(); return; }
      }
      var verIn = grp.querySelector('input[name=version]');
      if (verIn && verIn.value.trim()) {
        var n = parseInt(verIn.value, 10);
        if (!(n > 0)) { verIn.focus(); return; }
        a.version = n;
        if (d.confirmVersion) text = d.confirmVersion.replace('{version}', String(n));
      }
    }
    pending = { action: a, text: text };
    $('confirm-text').textContent = text;
    dlg.returnValue = '';
    if (typeof dlg.showModal === 'function') dlg.showModal(); else dlg.setAttribute('open', '');
    var no = $('confirm-no');
    if (no) no.focus();
  });
  var dlg = $('confirm');
  if (dlg) {
    dlg.addEventListener('close', function () {
      var p = pending;
      pending = null;
      if (p && dlg.returnValue === 'yes') run(p.action, p.text);
    });
  }
  var closeBtn = $('action-close');
  if (closeBtn) closeBtn.addEventListener('click', function () { $('action-panel').hidden = true; });

  function eventLine(e) {
    var t = e.time ? new Date(e.time) : new Date();
    var s = clock(t) + '  ' + (e.unit || '') + '  ' + (e.status || '') + '  ' + (e.action || '');
    if (e.elapsed_ms != null && (e.status === 'done' || e.status === 'failed' || e.status === 'skipped')) s += '  (' + (e.elapsed_ms / 1000).toFixed(1) + 's)';
    if (e.error && (e.action || '').indexOf(e.error) < 0) s += ': ' + e.error;
    return s;
  }
  function run(a, text) {
    var panel = $('action-panel'), log = $('action-log'), res = $('action-result');
    panel.hidden = false;
    $('action-title').textContent = text;
    log.textContent = '';
    res.textContent = 'running…';
    res.className = 'running';
    setBusy(true);
    var got = false;
    function appendEvent(e) {
      var span = document.createElement('span');
      span.className = 'ev ' + (e.status === 'done' ? 's-ok' : e.status === 'failed' ? 's-bad' : e.status === 'skipped' ? 's-idle' : '');
      span.textContent = eventLine(e) + '\n';
      log.appendChild(span);
      if (e.detail) {
        var det = document.createElement('span');
        det.className = 'ev-detail';
        det.textContent = e.detail.replace(/^/gm, '    ') + '\n';
        log.appendChild(det);
      }
      log.scrollTop = log.scrollHeight;
    }
    function showResult(r) {
      got = true;
      res.className = r.ok ? 'ok' : 'failed';
      res.textContent = '';
      var m = document.createElement('b');
      m.textContent = (r.ok ? '✓ ' : '✗ ') + (r.message || (r.ok ? 'done' : 'failed'));
      res.appendChild(m);
      if (r.details && r.details.length) {
        var ul = document.createElement('ul');
        r.details.forEach(function (d) {
          var li = document.createElement('li');
          var pre = document.createElement('pre');
          pre.textContent = d;
          li.appendChild(pre);
          ul.appendChild(li);
        });
        res.appendChild(ul);
      }
    }
    function fail(msg) {
      res.className = 'failed';
      res.textContent = '✗ ' + msg;
    }
    function line(s) {
      if (!s.trim()) return;
      var m;
      try { m = JSON.parse(s); } catch (e) { return; }
      if (m.event) appendEvent(m.event);
      if (m.result) showResult(m.result);
    }
    fetch('/ui/act', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-Cjob-UI': '1' },
      body: JSON.stringify(a)
    }).then(function (r) {
      if (!r.ok) {
        return r.text().then(function (t) {
          var m = t;
          try { m = JSON.parse(t).error || t; } catch (e) { /* not JSON */ }
          if (r.status === 401) m += ' (your login expired: log in again)';
          throw new Error(m);
        });
      }
      if (!r.body || !r.body.getReader) {
        return r.text().then(function (t) { t.split('\n').forEach(line); });
      }
      var reader = r.body.getReader(), dec = new TextDecoder(), buf = '';
      function pump() {
        return reader.read().then(function (x) {
          if (x.done) {
            buf += dec.decode();
            if (buf) line(buf);
            return;
          }
          buf += dec.decode(x.value, { stream: true });
          var i;
          while ((i = buf.indexOf('\n')) >= 0) { line(buf.slice(0, i)); buf = buf.slice(i + 1); }
          return pump();
        });
      }
      return pump();
    }).then(function () {
      if (!got) fail('the connection ended before the result; the action goes on on the server (see Events)');
    }, function (e) {
      fail(e && e.message || String(e));
    }).then(function () {
      setBusy(false);
      refresh(true);
    });
  }

  // ---- live log ----
  var live = $('live');
  if (live && typeof EventSource === 'function') {
    var pre = $('log'), search = $('log-search'), only = $('log-only');
    var pauseBtn = $('log-pause'), bottomBtn = $('log-bottom'), logStatus = $('log-status');
    var MAX = 5000, paused = false, queue = [], batch = [], follow = true, opened = false, scheduled = false;
    var setLog = function (t) { logStatus.textContent = t; };
    pre.addEventListener('scroll', function () {
      follow = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
    });
    var render = function (el) {
      var t = el._t, q = search.value.toLowerCase();
      if (!q) {
        if (el.hidden) el.hidden = false;
        if (el._marked) { el.textContent = t + '\n'; el._marked = false; }
        return;
      }
      var lt = t.toLowerCase(), i = lt.indexOf(q);
      if (i < 0) {
        el.hidden = only.checked;
        if (el._marked) { el.textContent = t + '\n'; el._marked = false; }
        return;
      }
      el.hidden = false;
      if (lt.length !== t.length) return; // case folding changed offsets: filter only
      el.textContent = '';
      var p = 0;
      while (i >= 0) {
        el.appendChild(document.createTextNode(t.slice(p, i)));
        var m = document.createElement('mark');
        m.textContent = t.slice(i, i + q.length);
        el.appendChild(m);
        p = i + q.length;
        i = lt.indexOf(q, p);
      }
      el.appendChild(document.createTextNode(t.slice(p) + '\n'));
      el._marked = true;
    };
    var flush = function () {
      scheduled = false;
      if (!batch.length) return;
      var frag = document.createDocumentFragment();
      for (var i = 0; i < batch.length; i++) {
        var el = document.createElement('span');
        el.className = 'ln';
        el._t = batch[i];
        el.textContent = batch[i] + '\n';
        if (search.value) render(el);
        frag.appendChild(el);
      }
      batch = [];
      pre.appendChild(frag);
      var extra = pre.childNodes.length - MAX;
      while (extra-- > 0) pre.removeChild(pre.firstChild);
      if (follow) pre.scrollTop = pre.scrollHeight;
    };
    var add = function (lines) {
      for (var i = 0; i < lines.length; i++) batch.push(lines[i]);
      if (!scheduled) {
        scheduled = true;
        (window.requestAnimationFrame || setTimeout)(flush);
      }
    };
    var es = new EventSource(live.getAttribute('data-log-url'));
    es.onopen = function () {
      if (opened) { pre.textContent = ''; batch = []; } // a reconnect sends the tail again
      opened = true;
      setLog(paused ? 'paused' : 'following');
    };
    es.onmessage = function (e) {
      var lines = e.data.split('\n');
      if (paused) {
        for (var i = 0; i < lines.length; i++) queue.push(lines[i]);
        if (queue.length > MAX) queue.splice(0, queue.length - MAX);
        setLog('paused · ' + queue.length + ' new line' + (queue.length === 1 ? '' : 's'));
        return;
      }
      add(lines);
    };
    es.addEventListener('end', function (e) {
      es.close();
      setLog(e.data === 'end of log' ? 'the log ended (container stopped?)' : e.data);
    });
    es.onerror = function () {
      setLog(es.readyState === 2 ? 'disconnected' : 'reconnecting…');
    };
    search.addEventListener('input', function () {
      var all = pre.childNodes;
      for (var i = 0; i < all.length; i++) render(all[i]);
      if (follow) pre.scrollTop = pre.scrollHeight;
    });
    only.addEventListener('change', function () {
      var all = pre.childNodes;
      for (var i = 0; i < all.length; i++) render(all[i]);
    });
    pauseBtn.addEventListener('click', function () {
      paused = !paused;
      pauseBtn.textContent = paused ? 'Resume' : 'Pause';
      pauseBtn.classList.toggle('on', paused);
      if (!paused) {
        var q = queue;
        queue = [];
        add(q);
        setLog('following');
      } else {
        setLog('paused');
      }
    });
    bottomBtn.addEventListener('click', function () {
      follow = true;
      pre.scrollTop = pre.scrollHeight;
    });
    window.addEventListener('pagehide', function () { es.close(); });
  }

  // ---- start ----
  afterUpdate();
  schedule();
})();
