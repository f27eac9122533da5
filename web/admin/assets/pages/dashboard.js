// The dashboard: this node's state from /readyz and /metrics, request
// rate and latency charts, and the latest changes as they happen.

import {api, get, getText, status, message} from '../api.js';
import {h, replace, pageHeader, card, badge, kindBadge, fmtBytes, fmtNumber, fmtDuration, fmtAgo, shortId, alert, button, toast, empty, table, time} from '../dom.js';
import {parseMetrics, rates, nodeStatus} from '../metrics.js';
import {LineChart} from '../chart.js';

const TICK = 2000;
const KEEP = 25;

export async function render(view, ctx) {
  const stats = h('div', {class: 'stats', id: 'stats'});
  const rps = new LineChart({title: 'Requests per second', label: 'Requests per second, the last two minutes',
    series: [{name: 'all', cls: 's1'}, {name: '5xx', cls: 's3'}], format: (v) => fmtNumber(v, v < 10 ? 1 : 0), floor: 1});
  const lat = new LineChart({title: 'Latency', label: 'Mean and 95th percentile latency, the last two minutes',
    series: [{name: 'mean', cls: 's1'}, {name: 'p95', cls: 's2'}], format: (v) => fmtDuration(v / 1000), floor: 1});
  const notice = h('div', {id: 'events-notice'});
  const list = h('ol', {class: 'events', id: 'live-events', 'aria-live': 'polite'});
  const mode = h('span', {id: 'events-mode'}, badge('connecting', 'muted'));
  const records = h('div', {id: 'records-by-model'});
  const problems = h('div', {id: 'dash-problems'});
  const snap = button('Take a snapshot', {id: 'take-snapshot'});
  snap.addEventListener('click', async () => {
    snap.disabled = true;
    try {
      const r = await api('POST', '/api/_snapshot');
      toast(`Snapshot taken at index ${r.index}`);
      tick();
    } catch (err) {
      toast(message(err), 'danger');
    } finally {
      snap.disabled = false;
    }
  });

  replace(view,
    pageHeader('Dashboard', h('span', {}, 'This node, ', h('code', {}, location.host), ', refreshed every 2 s'), snap),
    problems,
    stats,
    h('div', {class: 'grid-2'}, card(null, rps.el), card(null, lat.el)),
    h('div', {class: 'grid-2 grid-wide-left'},
      card(h('span', {class: 'card-title-row'}, 'Latest events', mode), notice, list),
      card('Records', records)));

  let rules = null;
  get('/api/_rules').then((r) => { rules = r; }).catch(() => {});

  // Node state and charts.
  let prev = null;
  let ready = null;
  let stopped = false;
  async function tick() {
    if (stopped || document.hidden) return;
    let m;
    try {
      const [text, rz] = await Promise.all([getText('/metrics'), get('/readyz').catch((e) => ({error: e}))]);
      m = parseMetrics(text);
      ready = rz;
    } catch (err) {
      replace(problems, alert('danger', 'The node does not answer', message(err)));
      return;
    }
    const n = nodeStatus(m);
    const issues = [];
    if (n.broken === 1) issues.push(alert('danger', 'The log is broken', 'A write or fsync failed; the node refuses writes until it is restarted. See the journal.'));
    if (ready && ready.error) issues.push(alert('warn', 'Not ready', message(ready.error)));
    if (rules && rules.last_reload && !rules.last_reload.ok) issues.push(alert('warn', 'The last rules reload was refused', h('a', {href: '#/rules'}, 'See the errors')));
    replace(problems, issues);
    drawStats(stats, n, ready, rules);
    drawRecords(records, n);
    if (prev) {
      const r = rates(prev, m);
      if (r) {
        rps.push([r.rps, r.errorsPerSecond]);
        lat.push([r.mean === null ? null : r.mean * 1000, r.p95 === null ? null : r.p95 * 1000]);
      }
    }
    prev = m;
  }
  await tick();
  const timer = setInterval(tick, TICK);
  const onResize = () => { rps.draw(); lat.draw(); };
  window.addEventListener('resize', onResize);

  // Latest events: the live stream, or the audit trail polled.
  const live = new LiveEvents(list, mode, notice);
  live.start();

  ctx.onLeave(() => {
    stopped = true;
    clearInterval(timer);
    window.removeEventListener('resize', onResize);
    live.stop();
  });
}

function stat(label, value, sub, key) {
  return h('div', {class: 'stat', 'data-stat': key},
    h('p', {class: 'stat-label'}, label),
    h('p', {class: 'stat-value'}, value),
    sub ? h('p', {class: 'stat-sub'}, sub) : null);
}

function drawStats(el, n, ready, rules) {
  const isReady = ready && !ready.error;
  const state = n.raftState || 'unknown';
  const snapAt = n.snapshotAt ? new Date(n.snapshotAt * 1000).toISOString() : null;
  replace(el,
    stat('Node', badge(isReady ? 'ready' : 'not ready', isReady ? 'ok' : 'danger'),
      `applied index ${fmtNumber(n.applied)}`, 'node'),
    stat('Raft', h('span', {class: 'cap'}, state), `term ${fmtNumber(n.term)} · commit ${fmtNumber(n.commit)}`, 'raft'),
    stat('Event log', fmtBytes(n.logSize),
      `${fmtNumber(n.logSegments)} segment${n.logSegments === 1 ? '' : 's'} · index ${fmtNumber(n.logFirst)}–${fmtNumber(n.logLast)}` +
      (n.archived ? ` · ${fmtNumber(n.archived)} archived` : ''), 'log'),
    stat('Snapshots', n.snapshotIndex ? `index ${fmtNumber(n.snapshotIndex)}` : 'none yet',
      [`${fmtNumber(n.snapshotsStored)} stored`, n.snapshotSize !== undefined ? ` · ${fmtBytes(n.snapshotSize)}` : '',
        snapAt ? ` · ${fmtAgo(snapAt)}` : ''].join(''), 'snapshot'),
    stat('Rules', h('code', {}, (rules && rules.version) || n.rulesVersion || '–'),
      rules ? `${rules.files.length} files · ${rules.models.filter((x) => !x.name.startsWith('_')).length} models` : '', 'rules'),
    stat('Requests', h('span', {id: 'requests-total'}, fmtNumber(n.requests)), `${fmtNumber(n.inFlight)} in flight`, 'requests'));
}

function drawRecords(el, n) {
  const rows = n.records.filter((r) => !r.model.startsWith('_Session')).sort((a, b) => a.model.localeCompare(b.model));
  if (!rows.length) {
    replace(el, empty('No models', 'The rules declare none yet.'));
    return;
  }
  replace(el, table([
    {label: 'Model', cell: (r) => (r.model.startsWith('_') ? h('span', {class: 'muted'}, r.model === '_User' ? 'users' : 'API tokens')
      : h('a', {href: `#/models/${encodeURIComponent(r.model)}`}, r.model))},
    {label: 'Records', class: 'num', cell: (r) => fmtNumber(r.count)},
  ], rows, {class: 'compact'}));
}

// LiveEvents fills a list with changes: from EventSource('/api/_events'),
// or, where the server has no stream, from the audit trail every 2 s.
class LiveEvents {
  constructor(list, mode, notice) {
    this.list = list;
    this.mode = mode;
    this.notice = notice;
    this.items = new Map(); // by log index
    this.es = null;
    this.timer = null;
    this.retry = null;
    this.stopped = false;
  }

  async start() {
    await this.seed();
    if (this.stopped) return;
    if (!('EventSource' in window)) {
      this.poll('This browser has no EventSource.');
      return;
    }
    this.connect();
  }

  stop() {
    this.stopped = true;
    if (this.es) this.es.close();
    clearInterval(this.timer);
    clearTimeout(this.retry);
  }

  connect() {
    const es = new EventSource('/api/_events');
    this.es = es;
    const onEvent = (e) => {
      let d = {};
      try { d = JSON.parse(e.data); } catch { /* keep what the event itself says */ }
      const idx = Number(d.index ?? e.lastEventId) || 0;
      this.add({
        index: idx,
        kind: d.kind || d.action || d.op || (e.type !== 'message' ? e.type : ''),
        model: d.model, id: d.id, version: d.version,
        user: d.actor || d.user, time: d.time || new Date().toISOString(),
      }, true);
    };
    for (const t of ['created', 'updated', 'deleted', 'message']) es.addEventListener(t, onEvent);
    es.addEventListener('open', () => {
      replace(this.notice);
      replace(this.mode, badge('live', 'ok'));
    });
    es.addEventListener('error', async () => {
      if (this.stopped || es.readyState !== EventSource.CLOSED) {
        if (!this.stopped) replace(this.mode, badge('reconnecting', 'warn'));
        return; // the browser reconnects by itself
      }
      // Closed for good: a status other than 200. Ask which.
      const st = await status('/api/_events');
      if (this.stopped) return;
      if (st === 501 || st === 404 || st === 405) {
        this.poll(`The live event stream is not available on this server (HTTP ${st}).`);
      } else if (st === 401 || st === 403) {
        replace(this.mode, badge('off', 'muted'));
        replace(this.notice, alert('warn', null, 'Your roles may not follow the event stream.'));
      } else {
        replace(this.mode, badge('reconnecting', 'warn'));
        this.retry = setTimeout(() => this.connect(), 5000);
      }
    });
  }

  async seed() {
    try {
      const page = await get('/api/_audit?limit=10');
      for (const a of page.items.slice().reverse()) this.add(fromAudit(a), false);
    } catch {
      // Without the audit trail the list starts empty.
    }
    this.draw();
  }

  poll(why) {
    replace(this.mode, badge('polling', 'info'));
    replace(this.notice, alert('info', null, `${why} Showing the audit trail instead, polled every 2 s.`));
    const once = async () => {
      if (this.stopped || document.hidden) return;
      try {
        const page = await get('/api/_audit?limit=20');
        for (const a of page.items.slice().reverse()) this.add(fromAudit(a), true);
      } catch (err) {
        replace(this.notice, alert('warn', null, message(err)));
      }
    };
    this.timer = setInterval(once, TICK);
  }

  add(ev, fresh) {
    const key = ev.index || `${ev.model}/${ev.id}/${ev.version}/${ev.kind}`;
    if (this.items.has(key)) return;
    ev.fresh = fresh;
    this.items.set(key, ev);
    if (fresh) this.draw();
  }

  draw() {
    const evs = [...this.items.values()].sort((a, b) => (b.index || 0) - (a.index || 0)).slice(0, KEEP);
    for (const k of [...this.items.keys()]) if (!evs.includes(this.items.get(k))) this.items.delete(k);
    if (!evs.length) {
      replace(this.list, h('li', {class: 'events-empty'}, empty('No changes yet', 'Writes to audited models appear here as they happen.')));
      return;
    }
    replace(this.list, evs.map((e) => {
      const li = h('li', {class: ['event', e.fresh && 'fresh'], 'data-model': e.model || '', 'data-id': e.id || '', 'data-kind': e.kind || ''},
        kindBadge(e.kind),
        h('span', {class: 'event-what'},
          e.model && !e.model.startsWith('_') && e.id
            ? h('a', {href: `#/models/${encodeURIComponent(e.model)}/${encodeURIComponent(e.id)}`}, `${e.model} `, h('code', {}, shortId(e.id)))
            : h('span', {}, `${systemName(e.model)} `, h('code', {}, shortId(e.id)))),
        e.version ? h('span', {class: 'muted'}, `v${e.version}`) : null,
        h('span', {class: 'event-who'}, e.user ? `by ${e.user}` : ''),
        h('span', {class: 'event-when'}, time(e.time, true)));
      e.fresh = false;
      return li;
    }));
  }
}

function systemName(model) {
  return {_User: 'user', _Token: 'token', _Session: 'session'}[model] || model || 'record';
}

function fromAudit(a) {
  const v = (a.new && a.new.version) || undefined;
  return {index: a.index, kind: a.action, model: a.model, id: a.id, version: v, user: a.user, time: a.time};
}
