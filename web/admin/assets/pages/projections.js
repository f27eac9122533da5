// Projections: aggregates the rules keep per key, shown as tables.

import {get, message} from '../api.js';
import {h, replace, pageHeader, alert, empty, table, badge} from '../dom.js';
import {value} from '../values.js';

export async function render(view, ctx) {
  let list;
  try {
    list = (await get('/api/_projections')).projections;
  } catch (err) {
    replace(view, pageHeader('Projections'), alert('danger', 'Projections could not be read', message(err)));
    return;
  }
  const name = ctx.params.name;
  const tabs = h('nav', {class: 'tabs', 'aria-label': 'Projections'}, list.map((p) =>
    h('a', {href: `#/projections/${encodeURIComponent(p.name)}`, class: ['tab', p.name === name && 'active'], 'aria-current': p.name === name ? 'page' : null}, p.name)));
  if (!list.length) {
    replace(view, pageHeader('Projections'), empty('No projections', 'Declare one with projection "Name" { from = …, key = …, aggregates = … } in a rule file.'));
    return;
  }
  if (!name) {
    replace(view, pageHeader('Projections', 'Aggregates the rules keep up to date from events'),
      table([
        {label: 'Projection', cell: (p) => h('a', {href: `#/projections/${encodeURIComponent(p.name)}`}, h('strong', {}, p.name))},
        {label: 'From', cell: (p) => h('a', {href: `#/models/${encodeURIComponent(p.from)}`}, p.from)},
        {label: 'On', cell: (p) => h('span', {class: 'chips'}, (p.on || []).map((o) => badge(o, 'muted')))},
      ], list, {onRow: (p) => ctx.navigate(`#/projections/${encodeURIComponent(p.name)}`)}));
    return;
  }
  const p = list.find((x) => x.name === name);
  let data;
  try {
    data = await get(`/api/_projections/${encodeURIComponent(name)}`);
  } catch (err) {
    replace(view, pageHeader(name), tabs, alert('danger', 'This projection could not be read', message(err)));
    return;
  }
  const cols = [];
  for (const r of data.rows) for (const k of Object.keys(r)) if (k !== 'key' && !cols.includes(k)) cols.push(k);
  replace(view,
    pageHeader(name, p ? h('span', {}, 'From ', h('a', {href: `#/models/${encodeURIComponent(p.from)}`}, p.from), ` on ${(p.on || []).join(', ')}`) : null),
    tabs,
    data.rows.length
      ? table([{label: 'key', cell: (r) => h('strong', {}, r.key)}, ...cols.map((c) => ({label: c, class: 'num', cell: (r) => value(r[c])}))], data.rows, {class: 'projection'})
      : empty('No rows yet', `Rows appear when ${p ? p.from : 'source'} records are written.`));
}
