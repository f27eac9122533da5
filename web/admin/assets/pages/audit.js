// The audit trail: who changed what, with the values before and after,
// newest first, searchable by model, record and user.

import {get, query, message} from '../api.js';
import {h, replace, pageHeader, alert, empty, table, kindBadge, time, shortId, button} from '../dom.js';
import {diff, diffTable, summary} from '../values.js';

export async function render(view, ctx) {
  const q = ctx.query;
  const filters = {model: q.get('model') || '', id: q.get('id') || '', user: q.get('user') || ''};
  const models = ctx.schema.models.map((m) => m.name).concat(['_User', '_Token']);
  const modelSel = h('select', {id: 'audit-model', name: 'model'}, h('option', {value: ''}, 'All models'),
    models.map((m) => h('option', {value: m, selected: filters.model === m}, m)));
  const idIn = h('input', {id: 'audit-id', name: 'id', value: filters.id, placeholder: 'record id', class: 'mono', autocomplete: 'off'});
  const userIn = h('input', {id: 'audit-user', name: 'user', value: filters.user, placeholder: 'user name', autocomplete: 'off'});
  const form = h('form', {class: 'toolbar search', novalidate: true},
    h('label', {class: 'inline-label'}, 'Model', modelSel),
    h('label', {class: 'inline-label'}, 'Record', idIn),
    h('label', {class: 'inline-label'}, 'User', userIn),
    h('button', {type: 'submit', class: 'btn btn-primary'}, 'Search'),
    (filters.model || filters.id || filters.user) ? h('a', {href: '#/audit', class: 'btn btn-ghost'}, 'Clear') : null);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    ctx.navigate(`#/audit${query({model: modelSel.value, id: idIn.value.trim(), user: userIn.value.trim()})}`);
  });
  const result = h('div', {id: 'audit-result'});
  replace(view, pageHeader('Audit log', 'Changes to audited models, newest first'), form, result);

  const rows = [];
  const more = h('div', {class: 'pager'});
  const tableBox = h('div', {});
  replace(result, tableBox, more);
  const kindsOf = (model) => {
    const m = ctx.schema.models.find((x) => x.name === model);
    return m ? Object.fromEntries(m.fields.map((f) => [f.name, f.kind])) : {};
  };
  const draw = () => {
    if (!rows.length) {
      replace(tableBox, empty('No audit entries', filters.model || filters.id || filters.user
        ? 'Nothing matches this search.' : 'Models with lifecycle = { audited = true } record every change here.'));
      return;
    }
    replace(tableBox, table([
      {label: 'When', cell: (a) => time(a.time)},
      {label: 'User', cell: (a) => h('a', {href: `#/audit${query({user: a.user})}`}, a.user)},
      {label: 'Action', cell: (a) => kindBadge(a.action)},
      {label: 'Record', cell: (a) => [
        h('span', {class: 'muted'}, `${a.model} `),
        a.model.startsWith('_') ? h('code', {title: a.id}, shortId(a.id))
          : h('a', {href: `#/models/${encodeURIComponent(a.model)}/${encodeURIComponent(a.id)}`, title: a.id}, h('code', {}, shortId(a.id)))]},
      {label: 'Change', class: 'wide', cell: (a) => {
        const changes = diff(a.old, a.new);
        const text = a.action === 'deleted' ? 'record deleted; its last values' : summary(changes) || 'no field changed';
        const d = h('details', {class: 'change'}, h('summary', {}, text),
          diffTable(changes, kindsOf(a.model)));
        return d;
      }},
    ], rows, {class: 'audit'}));
  };
  const load = async (cursor) => {
    try {
      const page = await get(`/api/_audit${query({...filters, limit: 50, cursor})}`);
      rows.push(...page.items);
      draw();
      replace(more, page.next_cursor ? button('Older entries', {id: 'audit-more', onclick: (e) => { e.target.disabled = true; load(page.next_cursor); }}) : null);
    } catch (err) {
      replace(more, alert('danger', 'The audit trail was refused', message(err)));
    }
  };
  await load('');
}
