// The models the rules declare, each with its path and fields.

import {h, replace, pageHeader, empty, table} from '../dom.js';

export async function render(view, ctx) {
  const models = ctx.schema.models;
  if (!models.length) {
    replace(view, pageHeader('Models'), empty('No models', 'The rules declare no model yet. Add a rule file and reload the rules.',
      h('a', {href: '#/rules', class: 'btn btn-primary'}, 'Rules')));
    return;
  }
  replace(view,
    pageHeader('Models', `${models.length} model${models.length === 1 ? '' : 's'} from the rules`),
    table([
      {label: 'Model', cell: (m) => h('a', {href: `#/models/${encodeURIComponent(m.name)}`}, h('strong', {}, m.name))},
      {label: 'Path', cell: (m) => h('code', {}, m.path)},
      {label: 'Fields', cell: (m) => h('span', {class: 'chips'}, m.fields.map((f) => h('span', {class: ['chip', f.indexed && 'chip-accent'], title: f.kind}, f.name)))},
      {label: 'Sortable by', cell: (m) => m.sortable.join(', ')},
    ], models, {onRow: (m) => ctx.navigate(`#/models/${encodeURIComponent(m.name)}`)}));
}
