// The cluster's nodes: GET /api/_cluster where the server has it;
// otherwise this single node, from /readyz and /metrics.

import {get, getText, message, ApiError} from '../api.js';
import {h, replace, pageHeader, card, alert, badge, table, fmtNumber, fmtBytes} from '../dom.js';
import {parseMetrics, nodeStatus} from '../metrics.js';
import {valueText} from '../values.js';

export async function render(view) {
  let cluster = null;
  let why = '';
  try {
    cluster = await get('/api/_cluster');
  } catch (err) {
    if (!(err instanceof ApiError) || ![404, 405, 501].includes(err.status)) {
      replace(view, pageHeader('Cluster'), alert('danger', 'The cluster could not be read', message(err)));
      return;
    }
    why = `GET /api/_cluster answered ${err.status}`;
  }
  if (cluster) {
    const nodes = Array.isArray(cluster) ? cluster : cluster.nodes || cluster.servers || [];
    const cols = [];
    for (const n of nodes) for (const k of Object.keys(n)) if (!cols.includes(k)) cols.push(k);
    replace(view, pageHeader('Cluster', `${nodes.length} node${nodes.length === 1 ? '' : 's'}`),
      table(cols.map((c) => ({label: c, cell: (n) => cell(c, n[c])})), nodes));
    return;
  }
  let n;
  let ready;
  try {
    n = nodeStatus(parseMetrics(await getText('/metrics')));
    ready = await get('/readyz').catch((e) => ({error: e}));
  } catch (err) {
    replace(view, pageHeader('Cluster'), alert('danger', 'This node could not be read', message(err)));
    return;
  }
  const lag = n.commit !== undefined && n.applied !== undefined ? n.commit - n.applied : undefined;
  replace(view,
    pageHeader('Cluster', 'One node'),
    alert('info', 'A single-node cluster', `This node is its own Raft cluster (${why}: the server does not list nodes). `,
      'It is shown from /readyz and /metrics.'),
    table([
      {label: 'Node', cell: () => h('code', {}, location.host)},
      {label: 'State', cell: () => badge(n.raftState || 'unknown', n.raftState === 'leader' ? 'ok' : 'warn')},
      {label: 'Ready', cell: () => (ready && !ready.error ? badge('ready', 'ok') : badge('not ready', 'danger'))},
      {label: 'Term', class: 'num', cell: () => fmtNumber(n.term)},
      {label: 'Commit', class: 'num', cell: () => fmtNumber(n.commit)},
      {label: 'Applied', class: 'num', cell: () => fmtNumber(n.applied)},
      {label: 'Lag', class: 'num', cell: () => fmtNumber(lag)},
      {label: 'Log', class: 'num', cell: () => fmtBytes(n.logSize)},
      {label: 'Snapshot', class: 'num', cell: () => (n.snapshotIndex ? fmtNumber(n.snapshotIndex) : '–')},
    ], [{}], {class: 'nodes'}),
    card('Rules', h('p', {}, 'Version ', h('code', {}, n.rulesVersion || '–'))));
}

function cell(key, v) {
  if (typeof v === 'boolean') return badge(v ? 'yes' : 'no', v ? 'ok' : 'muted');
  if (/state|role|suffrage/i.test(key) && typeof v === 'string') return badge(v, v === 'leader' ? 'ok' : 'info');
  return h('span', {}, valueText(v));
}
