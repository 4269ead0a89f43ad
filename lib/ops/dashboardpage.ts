/**
 * The dashboard page: HTML, inline style and inline script, no build step. Every name it shows
 * (peer URLs, group names, keys) comes from the network and is set with textContent, never as
 * HTML; the Content-Security-Policy (see dashboard.ts) allows only these exact inline blocks.
 */

export const PAGE_STYLE = `
:root { color-scheme: light dark; --ok: #2e7d32; --warn: #b26a00; --bad: #c62828; --muted: #777; --line: #8884; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 auto; max-width: 1200px; padding: 16px 24px; }
header { display: flex; gap: 16px; align-items: baseline; flex-wrap: wrap; }
h1 { font-size: 20px; margin: 0; }
h2 { font-size: 16px; margin: 24px 0 8px; }
h3 { font-size: 14px; margin: 16px 0 4px; font-family: ui-monospace, monospace; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: right; padding: 4px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
th:first-child, td:first-child, td.text { text-align: left; }
td.text { white-space: normal; color: var(--muted); max-width: 420px; }
td.name { font-family: ui-monospace, monospace; }
tr.total td { font-weight: 600; }
.bar { display: inline-block; height: 8px; background: #1976d2; vertical-align: middle; margin-right: 6px; }
.state { font-weight: 600; }
.state[data-state="up"] { color: var(--ok); }
.state[data-state="backing off"] { color: var(--warn); }
.state[data-state="unknown"] { color: var(--muted); }
.state:not([data-state="up"]):not([data-state="backing off"]):not([data-state="unknown"]) { color: var(--bad); }
#status { color: var(--muted); }
#status.error, #agreement.error { color: var(--bad); }
form { display: flex; gap: 8px; }
input { flex: 1; max-width: 480px; font: inherit; padding: 4px 8px; }
#owner-answer { font-family: ui-monospace, monospace; }
`;

export const PAGE_SCRIPT = `
(function () {
  'use strict';
  var base = location.pathname.replace(/index\\.html$/, '').replace(/\\/?$/, '/');
  var timer = null;

  function el(tag, props, children) {
    var node = document.createElement(tag);
    if (props) for (var k in props) {
      if (k === 'text') node.textContent = props[k];
      else if (k === 'className') node.className = props[k];
      else if (k === 'width') node.style.width = props[k];
      else node.setAttribute(k, props[k]);
    }
    (children || []).forEach(function (c) { node.appendChild(c); });
    return node;
  }
  function td(text, className) { return el('td', { text: text, className: className || '' }); }
  function pct(x) { return x === null || x === undefined ? '-' : (x * 100).toFixed(1) + '%'; }
  function num(n) { return n === null || n === undefined ? '-' : Number(n).toLocaleString('en-US'); }
  function ms(x) { return x === null || x === undefined ? '-' : x < 10 ? x.toFixed(2) + ' ms' : Math.round(x) + ' ms'; }
  function bytes(n) {
    if (n === null || n === undefined) return '-';
    var units = ['B', 'KiB', 'MiB', 'GiB'];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : String(n)) + ' ' + units[i];
  }
  function sees(v) {
    if (!v) return '-';
    var text = v.down + ' of ' + v.peers + ' down';
    if (v.downPeers.length) text += ': ' + v.downPeers.join(', ') + (v.down > v.downPeers.length ? ', ...' : '');
    if (v.unknown) text += '; ' + v.unknown + ' not heard from yet';
    return text;
  }
  function setStatus(text, isError) {
    var s = document.getElementById('status');
    s.textContent = text;
    s.className = isError ? 'error' : '';
  }

  function renderRing(m) {
    var body = document.querySelector('#ring tbody');
    body.replaceChildren.apply(body, m.peers.map(function (p) {
      var share = el('td', {}, [el('span', { className: 'bar', width: Math.round(p.share * 120) + 'px' }), document.createTextNode(pct(p.share))]);
      var state = el('td', {}, [el('span', { className: 'state', 'data-state': p.state, text: p.state })]);
      return el('tr', { 'data-peer': p.url }, [
        td(p.url + (p.self ? ' (this peer)' : ''), 'name'), share, state, td(ms(p.latencyMs)), td(num(p.requests)), td(num(p.errors)), td(sees(p.sees), 'text'), td(p.error || '', 'text')
      ]);
    }));
    var a = document.getElementById('agreement');
    a.textContent = m.agreement ? 'Every peer that answered lists the same members and ring (' + m.ring + ').'
      : 'Peers disagree on membership or ring: some keys have two owners. Give every peer the same peers list.';
    a.className = m.agreement ? '' : 'error';
  }

  function figureCells(f) {
    return [td(num(f.gets)), td(pct(f.hitRatio)), td(num(f.localLoads)), td(num(f.peerLoads)), td(num(f.errors)), td(bytes(f.bytes)), td(num(f.items)), td(pct(f.hotShare)), td(num(f.evictions))];
  }

  function renderGroups(m) {
    var box = document.getElementById('groups');
    var heads = ['peer', 'gets', 'hit ratio', 'loads', 'peer loads', 'errors', 'bytes', 'items', 'hot share', 'evictions'];
    box.replaceChildren.apply(box, m.groups.map(function (g) {
      var rows = [el('tr', { className: 'total' }, [td('cluster')].concat(figureCells(g.cluster)))];
      g.peers.forEach(function (p) {
        rows.push(el('tr', { 'data-peer': p.url }, [td(p.url, 'name')].concat(p.figures ? figureCells(p.figures)
          : [el('td', { colspan: '9' }, [el('span', { className: 'state', 'data-state': p.state, text: p.state })])])));
      });
      return el('section', { 'data-group': g.name }, [
        el('h3', { text: g.name }),
        el('table', {}, [el('thead', {}, [el('tr', {}, heads.map(function (h) { return el('th', { text: h }); }))]), el('tbody', {}, rows)])
      ]);
    }));
  }

  function schedule(delay) {
    clearTimeout(timer);
    timer = setTimeout(refresh, delay);
  }

  function refresh() {
    fetch(base + 'api/cluster', { cache: 'no-store', credentials: 'same-origin' })
      .then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); })
      .then(function (m) {
        document.getElementById('self').textContent = 'seen from ' + m.self;
        renderRing(m);
        renderGroups(m);
        setStatus('updated ' + new Date(m.time).toLocaleTimeString() + ', every ' + m.refreshMs / 1000 + ' s');
        document.body.setAttribute('data-loaded', 'true');
        schedule(m.refreshMs);
      })
      .catch(function (e) { setStatus('could not refresh: ' + e.message, true); schedule(5000); });
  }

  document.getElementById('owner-form').addEventListener('submit', function (event) {
    event.preventDefault();
    var key = document.getElementById('owner-key').value;
    var answer = document.getElementById('owner-answer');
    if (!key) { answer.textContent = 'type a key'; return; }
    fetch(base + 'api/owner?key=' + encodeURIComponent(key), { cache: 'no-store', credentials: 'same-origin' })
      .then(function (r) { return r.json(); })
      .then(function (o) {
        answer.textContent = o.error ? o.error : JSON.stringify(o.key) + ' is owned by ' + o.owner + (o.self ? ' (this peer)' : '');
        answer.setAttribute('data-owner', o.owner || '');
      })
      .catch(function (e) { answer.textContent = 'could not ask: ' + e.message; });
  });

  refresh();
})();
`;

/** The whole page. */
export function pageHtml(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>geecache</title>
<link rel="icon" href="data:,">
<style>${PAGE_STYLE}</style>
</head>
<body>
<header><h1>geecache</h1><span id="self"></span><span id="status">loading...</span></header>
<section>
<h2>Ring</h2>
<table id="ring"><thead><tr><th>peer</th><th>share of keys</th><th>state</th><th>latency</th><th>requests</th><th>errors</th><th>its view of the others</th><th>last problem</th></tr></thead><tbody></tbody></table>
<p id="agreement"></p>
</section>
<section>
<h2>Groups, on every peer</h2>
<div id="groups"></div>
</section>
<section>
<h2>Who owns this key?</h2>
<form id="owner-form"><input id="owner-key" placeholder="a key" autocomplete="off"><button type="submit">Look up</button></form>
<p id="owner-answer"></p>
</section>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}
