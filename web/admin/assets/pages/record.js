// One record: its fields now (or at a chosen version), and its timeline
// of events with what each changed.

import {api, get, message, ApiError} from '../api.js';
import {h, replace, pageHeader, card, alert, badge, kindBadge, time, shortId, toast, confirmDialog, copyButton, button, empty} from '../dom.js';
import {modelByName, labelField, SYSTEM_FIELDS} from '../schema.js';
import {value, diff, diffTable} from '../values.js';

export async function render(view, ctx) {
  const model = modelByName(ctx.schema, ctx.params.model);
  if (!model) {
    replace(view, alert('warn', 'No such model', `The rules declare no model ${ctx.params.model}.`));
    return;
  }
  const id = ctx.params.id;
  const base = `#/models/${encodeURIComponent(model.name)}`;
  const self = `${base}/${encodeURIComponent(id)}`;
  const url = `${model.path}/${encodeURIComponent(id)}`;
  const wanted = ctx.query.get('version');

  const notFound = (err) => (err instanceof ApiError && err.status === 404 ? null : Promise.reject(err));
  let current;
  let history;
  try {
    [current, history] = await Promise.all([get(url).catch(notFound), get(`${url}/events`).catch(notFound)]);
  } catch (err) {
    replace(view, pageHeader(model.name), alert('danger', 'This record could not be read', message(err)));
    return;
  }
  if (!current && !history) {
    replace(view, pageHeader(`${model.name} ${shortId(id)}`),
      empty('No such record', `There is no ${model.name} with id ${id}, now or ever — or your roles may not read it.`,
        h('a', {href: base, class: 'btn btn-secondary'}, `All ${model.name} records`)));
    return;
  }
  const events = history ? history.events : [];
  let shown = current;
  let pastNote = null;
  if (wanted) {
    try {
      shown = await get(`${url}?version=${encodeURIComponent(wanted)}`);
      const ev = events.find((e) => String(e.version) === wanted && e.kind !== 'deleted');
      pastNote = alert('info', `As it was at version ${wanted}`, ev ? ['Written ', time(ev.time), ev.actor ? ` by ${ev.actor}` : '', '. '] : null,
        h('a', {href: self}, current ? 'Back to the current version' : 'Back to the timeline'));
    } catch (err) {
      pastNote = alert('warn', `Version ${wanted} cannot be shown`, message(err));
      shown = null;
    }
  }

  const label = labelField(model);
  const named = (current && label && current[label]) || (shown && label && shown[label]);
  const last = events[events.length - 1];
  const deleted = !current && last && last.kind === 'deleted';

  const remove = async () => {
    const ok = await confirmDialog({title: `Delete ${model.name} ${named ? `“${named}”` : shortId(id)}?`,
      text: 'It disappears from lists and reads; its history and audit entries stay.', confirm: 'Delete', danger: true});
    if (!ok) return;
    try {
      await api('DELETE', url, {headers: {'If-Match': `"${current.version}"`}});
      toast(`${model.name} deleted`);
      ctx.navigate(self);
    } catch (err) {
      toast(message(err), 'danger');
    }
  };
  const actions = current ? [
    h('a', {href: `${self}/edit`, class: 'btn btn-primary', id: 'edit-record'}, 'Edit'),
    button('Delete', {kind: 'danger-outline', id: 'delete-record', onclick: remove}),
  ] : [];
  const sub = h('span', {class: 'id-line'}, h('code', {id: 'record-id'}, id), copyButton(id, 'Copy id'),
    current ? badge(`version ${current.version}`, 'info') : deleted ? badge('deleted', 'danger') : null);

  const kinds = Object.fromEntries(model.fields.map((f) => [f.name, f.kind]));
  const recordCard = card(h('span', {class: 'card-title-row'}, wanted ? `Version ${wanted}` : 'Record', versionPicker(events, wanted, self, ctx, Boolean(current))),
    pastNote,
    shown ? fieldsList(shown, model, kinds)
      : deleted && !wanted ? empty('Deleted', ['This record was deleted ', time(last.time), last.actor ? ` by ${last.actor}` : '', '. Its history stays: pick a version to see it as it was.'])
        : null);
  recordCard.id = 'record-card';

  replace(view,
    pageHeader(`${model.name} ${named ? `“${named}”` : shortId(id)}`, sub, ...actions),
    h('p', {class: 'crumbs'}, h('a', {href: base}, `← All ${model.name} records`), ' · ',
      h('a', {href: `#/audit?model=${encodeURIComponent(model.name)}&id=${encodeURIComponent(id)}`}, 'Audit entries')),
    h('div', {class: 'grid-2 grid-record'}, recordCard, card('Timeline', timeline(events, model, kinds, self, wanted))));
}

function versionPicker(events, wanted, self, ctx, hasCurrent) {
  const versions = events.filter((e) => e.kind !== 'deleted').map((e) => e.version);
  if (versions.length < 1) return null;
  const sel = h('select', {id: 'version-picker', 'aria-label': 'Show the record at version'},
    h('option', {value: ''}, hasCurrent ? 'Current' : 'Pick a version'),
    [...versions].reverse().map((v) => h('option', {value: v, selected: String(v) === wanted}, `Version ${v}`)));
  sel.addEventListener('change', () => ctx.navigate(sel.value ? `${self}?version=${sel.value}` : self));
  return sel;
}

function fieldsList(rec, model, kinds) {
  const names = [...model.fields.map((f) => f.name), ...Object.keys(rec).filter((k) => !SYSTEM_FIELDS.includes(k) && !kinds[k])];
  const rows = names.filter((n) => Object.hasOwn(rec, n) || model.fields.some((f) => f.name === n));
  return h('div', {},
    h('dl', {class: 'fields', id: 'record-fields'}, rows.map((n) => [
      h('dt', {}, n),
      h('dd', {'data-field': n}, value(rec[n], kinds[n]))])),
    h('dl', {class: 'meta'},
      h('dt', {}, 'version'), h('dd', {'data-field': 'version'}, String(rec.version)),
      h('dt', {}, 'created'), h('dd', {}, time(rec.created_at)),
      h('dt', {}, 'updated'), h('dd', {}, time(rec.updated_at))));
}

function timeline(events, model, kinds, self, wanted) {
  if (!events.length) return empty('No events', 'The history of this record is not available.');
  const names = model.fields.map((f) => f.name);
  const items = [];
  let before = null;
  for (const e of events) {
    const after = e.kind === 'deleted' ? null : e.fields || {};
    items.push({e, changes: e.kind === 'deleted' ? [] : diff(before, after, names)});
    if (after) before = after;
  }
  return h('ol', {class: 'timeline', id: 'timeline'}, items.reverse().map(({e, changes}) =>
    h('li', {class: ['tl-item', `tl-${e.kind}`, String(e.version) === wanted && e.kind !== 'deleted' && 'selected'], 'data-version': e.version, 'data-kind': e.kind},
      h('div', {class: 'tl-head'},
        kindBadge(e.kind),
        h('strong', {}, e.kind === 'deleted' ? 'deleted' : `version ${e.version}`),
        h('span', {class: 'muted small'}, time(e.time), e.actor ? ` · ${e.actor}` : '', ` · log index ${e.index}`)),
      e.kind === 'deleted' ? h('p', {class: 'muted small'}, 'The record was deleted; its history stays.') : diffTable(changes, kinds),
      e.kind === 'deleted' ? null : h('a', {href: `${self}?version=${e.version}`, class: 'tl-link small'}, `View version ${e.version}`))));
}
