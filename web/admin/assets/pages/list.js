// A model's records: filters (field=v, field[op]=v), sort on indexed
// fields, cursor pages. The query after # is the API's query as it is,
// so a filtered list can be bookmarked and shared.

import {api, get, message, ApiError} from '../api.js';
import {h, replace, pageHeader, empty, table, alert, button, toast, confirmDialog, shortId, time, icon} from '../dom.js';
import {modelByName, labelField} from '../schema.js';
import {value} from '../values.js';

const OPS = [
  ['eq', '='], ['ne', '≠'], ['lt', '<'], ['lte', '≤'], ['gt', '>'], ['gte', '≥'], ['prefix', 'starts with'], ['in', 'one of'],
];
const PAGING = new Set(['limit', 'cursor', 'sort', 'fields', 'count']);
const MAX_COLUMNS = 6;

// trail remembers the cursors behind the current page, for "Previous".
let trail = {key: '', cursors: []};

export async function render(view, ctx) {
  const model = modelByName(ctx.schema, ctx.params.model);
  if (!model) {
    replace(view, pageHeader(ctx.params.model), alert('warn', 'No such model', `The rules declare no model ${ctx.params.model}.`));
    return;
  }
  const q = new URLSearchParams(ctx.query);
  const base = `#/models/${encodeURIComponent(model.name)}`;
  const go = (params) => {
    const s = params.toString();
    ctx.navigate(s ? `${base}?${s}` : base);
  };
  const key = (() => { const k = new URLSearchParams(q); k.delete('cursor'); return `${model.name}?${k}`; })();
  if (trail.key !== key) trail = {key, cursors: []};

  const newBtn = h('a', {href: `${base}/new`, class: 'btn btn-primary', id: 'new-record'}, icon('plus'), `New ${model.name}`);
  const header = pageHeader(model.name, h('code', {}, model.path), newBtn);
  const result = h('div', {class: 'list-result'});
  replace(view, header, toolbar(model, q, go), chips(model, q, go), result);

  let page;
  try {
    page = await fetchPage(model, q);
  } catch (err) {
    replace(result, alert('danger', 'The list was refused', message(err)));
    return;
  }
  const filtered = [...q.keys()].some((k) => !PAGING.has(k));
  if (!page.items.length) {
    replace(result, q.get('cursor') ? empty('No more records', 'This page is past the last record.', h('a', {href: base}, 'First page'))
      : filtered ? empty(`No ${model.name} matches`, 'Change or remove a filter.')
        : empty(`No ${model.name} records yet`, 'Records you create appear here.', h('a', {href: `${base}/new`, class: 'btn btn-primary'}, `Create the first ${model.name}`)));
    return;
  }
  const shown = model.fields.filter((f) => f.kind !== 'json' && f.kind !== 'text').slice(0, MAX_COLUMNS);
  const label = labelField(model);
  const open = (r) => ctx.navigate(`${base}/${encodeURIComponent(r.id)}`);
  const del = async (r) => {
    const name = label && r[label] ? `“${r[label]}”` : shortId(r.id);
    const ok = await confirmDialog({title: `Delete ${model.name} ${name}?`, text: 'The record disappears from lists and reads; its history and audit entries stay.', confirm: 'Delete', danger: true});
    if (!ok) return;
    try {
      await api('DELETE', `${model.path}/${encodeURIComponent(r.id)}`);
      toast(`${model.name} deleted`);
      go(q);
    } catch (err) {
      toast(message(err), 'danger');
    }
  };
  const columns = [
    {label: 'id', class: 'mono', cell: (r) => h('a', {href: `${base}/${encodeURIComponent(r.id)}`, title: r.id}, shortId(r.id))},
    ...shown.map((f) => ({label: f.name, class: f.kind === 'integer' || f.kind === 'number' ? 'num' : null, cell: (r) => value(r[f.name], f.kind)})),
    {label: 'v', class: 'num', cell: (r) => r.version},
    {label: 'updated', cell: (r) => time(r.updated_at, true)},
    {label: '', class: 'row-actions', cell: (r) => [
      h('a', {href: `${base}/${encodeURIComponent(r.id)}/edit`, class: 'btn btn-ghost btn-sm'}, 'Edit'),
      button('Delete', {kind: 'ghost', small: true, class: 'danger-text', onclick: () => del(r)})]},
  ];
  const cursor = q.get('cursor');
  const prev = () => {
    const p = new URLSearchParams(q);
    const c = trail.cursors.pop();
    if (c) p.set('cursor', c); else p.delete('cursor');
    go(p);
  };
  const next = () => {
    trail.cursors.push(cursor || '');
    const p = new URLSearchParams(q);
    p.set('cursor', page.next_cursor);
    go(p);
  };
  replace(result,
    table(columns, page.items, {onRow: open, class: 'records'}),
    h('nav', {class: 'pager', 'aria-label': 'Pages'},
      h('span', {class: 'muted small', id: 'list-count'}, `${page.items.length} record${page.items.length === 1 ? '' : 's'} on this page`,
        page.count !== undefined ? ` · ${page.count_exact === false ? 'at least ' : ''}${page.count} in all` : ''),
      h('span', {class: 'pager-buttons'},
        cursor ? button('← Previous', {onclick: prev, id: 'prev-page'}) : null,
        page.next_cursor ? button('Next page →', {onclick: next, id: 'next-page'}) : null)));
}

// noCount remembers a server that refused count=true (an older one).
let noCount = false;

// fetchPage reads one page, with the number of matching records where
// the server can count them.
async function fetchPage(model, q) {
  if (!model.countable || noCount || q.has('count')) return get(`${model.path}?${q}`);
  const withCount = new URLSearchParams(q);
  withCount.set('count', 'true');
  try {
    return await get(`${model.path}?${withCount}`);
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 400 || !/count/.test(err.message)) throw err;
    noCount = true;
    return get(`${model.path}?${q}`);
  }
}

function toolbar(model, q, go) {
  const fieldSel = h('select', {id: 'filter-field', 'aria-label': 'Field'},
    model.filterable.map((f) => h('option', {value: f}, f)));
  const opSel = h('select', {id: 'filter-op', 'aria-label': 'Operator'}, OPS.map(([v, l]) => h('option', {value: v}, l)));
  const list = h('datalist', {id: 'filter-values'});
  const val = h('input', {id: 'filter-value', 'aria-label': 'Value', placeholder: 'value', list: 'filter-values'});
  const fillValues = () => {
    const f = model.fields.find((x) => x.name === fieldSel.value);
    const vals = f && f.enum ? f.enum : f && f.kind === 'boolean' ? ['true', 'false'] : [];
    replace(list, vals.map((v) => h('option', {value: v})));
  };
  fieldSel.addEventListener('change', fillValues);
  fillValues();
  const add = h('form', {class: 'filter-add', novalidate: true},
    fieldSel, opSel, val, list, h('button', {type: 'submit', class: 'btn btn-secondary'}, 'Filter'));
  add.addEventListener('submit', (e) => {
    e.preventDefault();
    const p = new URLSearchParams(q);
    p.delete('cursor');
    p.set(opSel.value === 'eq' ? fieldSel.value : `${fieldSel.value}[${opSel.value}]`, val.value);
    go(p);
  });

  const sorts = model.sortable.flatMap((f) => [[f, `${f} ↑`], [`-${f}`, `${f} ↓`]]);
  const sortSel = h('select', {id: 'sort', 'aria-label': 'Sort'},
    h('option', {value: ''}, 'Default order'),
    sorts.map(([v, l]) => h('option', {value: v, selected: q.get('sort') === v}, l)));
  sortSel.addEventListener('change', () => {
    const p = new URLSearchParams(q);
    p.delete('cursor');
    if (sortSel.value) p.set('sort', sortSel.value); else p.delete('sort');
    go(p);
  });
  const limitSel = h('select', {id: 'limit', 'aria-label': 'Records per page'},
    [20, 50, 100, 250].map((n) => h('option', {value: n, selected: Number(q.get('limit') || 50) === n}, `${n} per page`)));
  limitSel.addEventListener('change', () => {
    const p = new URLSearchParams(q);
    p.delete('cursor');
    p.set('limit', limitSel.value);
    go(p);
  });
  return h('div', {class: 'toolbar'}, add, h('div', {class: 'toolbar-right'},
    h('label', {class: 'inline-label'}, 'Sort', sortSel), limitSel));
}

function chips(model, q, go) {
  const active = [...q.entries()].filter(([k]) => !PAGING.has(k));
  if (!active.length) return null;
  return h('div', {class: 'filter-chips', id: 'active-filters'},
    active.map(([k, v]) => {
      const m = /^(.*)\[(\w+)\]$/.exec(k);
      const field = m ? m[1] : k;
      const op = OPS.find(([o]) => o === (m ? m[2] : 'eq'));
      return h('span', {class: 'chip chip-filter'}, h('strong', {}, field), ` ${op ? op[1] : m[2]} `, v,
        h('button', {type: 'button', class: 'chip-x', 'aria-label': `Remove the filter on ${field}`, onclick: () => {
          const p = new URLSearchParams(q);
          p.delete(k);
          p.delete('cursor');
          go(p);
        }}, icon('x')));
    }),
    button('Clear filters', {kind: 'ghost', small: true, onclick: () => {
      const p = new URLSearchParams();
      for (const k of ['sort', 'limit']) if (q.get(k)) p.set(k, q.get(k));
      go(p);
    }}));
}
