// Create and edit forms, generated from the model's schema. Validation
// is the server's: its 422 answer names a message per field, shown next
// to that field. The browser only checks what it must to write JSON (a
// number is a number, JSON parses).

import {api, get, message, ApiError, Num} from '../api.js';
import {h, replace, pageHeader, alert, toast, shortId} from '../dom.js';
import {modelByName, hint, labelField} from '../schema.js';
import {same} from '../values.js';

const JSON_NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

export async function render(view, ctx) {
  const model = modelByName(ctx.schema, ctx.params.model);
  if (!model) {
    replace(view, alert('warn', 'No such model', `The rules declare no model ${ctx.params.model}.`));
    return;
  }
  const base = `#/models/${encodeURIComponent(model.name)}`;
  const id = ctx.params.id;
  let rec = null;
  if (id) {
    try {
      rec = await get(`${model.path}/${encodeURIComponent(id)}`);
    } catch (err) {
      replace(view, pageHeader(`Edit ${model.name}`), alert('danger', 'This record cannot be edited', message(err),
        ' ', h('a', {href: `${base}/${encodeURIComponent(id)}`}, 'See its history')));
      return;
    }
  }
  const fields = id ? model.fields.filter((f) => model.updatable.has(f.name)) : model.creatable;
  const inputs = fields.map((f) => fieldInput(f, rec, Boolean(id), model, ctx.schema));
  const formError = h('div', {id: 'form-error'});
  const submit = h('button', {type: 'submit', class: 'btn btn-primary', id: 'save'}, id ? 'Save changes' : `Create ${model.name}`);
  const cancelHref = id ? `${base}/${encodeURIComponent(id)}` : base;
  const form = h('form', {class: 'record-form card', novalidate: true, id: 'record-form', 'data-model': model.name},
    formError,
    fields.length ? inputs.map((i) => i.el) : alert('info', 'Nothing to set', 'Every field of this model is set by the server.'),
    h('div', {class: 'form-actions'}, submit, h('a', {href: cancelHref, class: 'btn btn-secondary'}, 'Cancel')));
  const title = id ? `Edit ${model.name}` : `New ${model.name}`;
  const label = labelField(model);
  replace(view, pageHeader(title, id ? h('span', {}, h('code', {title: id}, shortId(id)), ` · version ${rec.version}`, label && rec[label] ? ` · ${rec[label]}` : '')
    : h('code', {}, `POST ${model.path}`)), form);
  inputs[0]?.input.focus();

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    replace(formError);
    for (const i of inputs) i.showError('');
    const body = {};
    let bad = false;
    for (const i of inputs) {
      const r = i.read();
      if (r.error) { i.showError(r.error); bad = true; continue; }
      if (r.skip) continue;
      body[i.f.name] = r.value;
    }
    if (bad) {
      replace(formError, alert('danger', 'Some values cannot be sent', 'Correct the fields marked below.'));
      focusFirstError(form);
      return;
    }
    if (id && !Object.keys(body).length) {
      toast('Nothing changed', 'info');
      ctx.navigate(cancelHref);
      return;
    }
    submit.disabled = true;
    try {
      const saved = id
        ? await api('PATCH', `${model.path}/${encodeURIComponent(id)}`, {body, headers: {'If-Match': `"${rec.version}"`}})
        : await api('POST', model.path, {body});
      toast(id ? `Saved: version ${saved.version}` : `${model.name} created`);
      ctx.navigate(`${base}/${encodeURIComponent(saved.id)}`);
    } catch (err) {
      submit.disabled = false;
      showRefusal(err, inputs, formError, ctx, id && `${base}/${encodeURIComponent(id)}/edit`);
      focusFirstError(form);
    }
  });
}

function focusFirstError(form) {
  const first = form.querySelector('.field.invalid input, .field.invalid select, .field.invalid textarea');
  if (first) first.focus();
}

// showRefusal puts each of the server's field messages next to its field;
// messages about fields the form does not show go on top.
function showRefusal(err, inputs, formError, ctx, reloadHref) {
  if (!(err instanceof ApiError)) {
    replace(formError, alert('danger', 'Not saved', String(err)));
    return;
  }
  if (err.status === 412) {
    replace(formError, alert('warn', 'Someone changed this record since you opened it.',
      'Your changes were not saved. ', h('a', {href: '#', onclick: (e) => { e.preventDefault(); ctx.navigate(reloadHref); }}, 'Reload the record'),
      ' and make them again.'));
    return;
  }
  const other = [];
  for (const [field, msg] of Object.entries(err.fields || {})) {
    const i = inputs.find((x) => x.f.name === field);
    if (i) i.showError(msg);
    else other.push(h('li', {}, h('code', {}, field), `: ${msg}`));
  }
  const title = {422: 'The record does not fit the model', 409: 'A value is already taken', 403: 'Not allowed'}[err.status] || 'Not saved';
  const placed = Object.keys(err.fields || {}).length - other.length;
  const text = placed && !other.length ? 'Correct the fields marked below.' : message(err);
  replace(formError, alert('danger', title, text, other.length ? h('ul', {class: 'plain'}, other) : null));
}

// pad2 and localInput turn an RFC 3339 instant into a datetime-local value.
const pad2 = (n) => String(n).padStart(2, '0');
function localInput(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}T${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

function asText(v) {
  if (v === undefined || v === null) return '';
  if (v instanceof Num) return v.src;
  if (typeof v === 'object') return JSON.stringify(v, null, 2);
  return String(v);
}

function parseNumber(text, integer) {
  const t = text.trim();
  if (integer) {
    if (!/^-?\d+$/.test(t)) return {error: 'must be a whole number'};
    const canonical = BigInt(t).toString();
    const n = Number(canonical);
    return {value: Number.isSafeInteger(n) ? n : new Num(canonical)};
  }
  if (!JSON_NUMBER.test(t)) return {error: 'must be a number, like 12 or 3.50'};
  return {value: String(Number(t)) === t ? Number(t) : new Num(t)};
}

function parseJSONText(text) {
  try {
    return {value: JSON.parse(text)};
  } catch (e) {
    return {error: `is not valid JSON (${e.message})`};
  }
}

// fieldInput builds the input of one field: {f, el, input, read(), showError(msg)}.
// read answers {value}, {skip: true} (leave the field out) or {error}.
function fieldInput(f, rec, editing, model, schema) {
  const id = `f-${f.name}`;
  const old = rec ? rec[f.name] : undefined;
  const has = rec ? Object.hasOwn(rec, f.name) : false;
  const initial = editing ? old : f.default;
  const locked = editing && f.immutable;
  let input;
  let dirty = false;
  let readRaw;

  switch (f.kind) {
    case 'boolean':
      input = h('input', {type: 'checkbox', id, name: f.name, checked: initial === true, class: 'switch'});
      readRaw = () => ({value: input.checked});
      break;
    case 'enum':
      input = h('select', {id, name: f.name},
        f.required && initial !== undefined ? null : h('option', {value: ''}, '— not set —'),
        f.enum.map((v) => h('option', {value: v, selected: initial === v}, v)));
      readRaw = () => (input.value === '' ? {empty: true} : {value: input.value});
      break;
    case 'integer':
    case 'number':
      input = h('input', {id, name: f.name, inputmode: f.kind === 'integer' ? 'numeric' : 'decimal', autocomplete: 'off', value: asText(initial)});
      readRaw = () => (input.value.trim() === '' ? {empty: true} : parseNumber(input.value, f.kind === 'integer'));
      break;
    case 'datetime':
      input = h('input', {id, name: f.name, type: 'datetime-local', step: '1', value: initial ? localInput(initial) : ''});
      readRaw = () => {
        if (!input.value) return {empty: true};
        const d = new Date(input.value);
        return Number.isNaN(d.getTime()) ? {error: 'is not a date and time'} : {value: d.toISOString()};
      };
      break;
    case 'text':
      input = h('textarea', {id, name: f.name, rows: 6, value: asText(initial)});
      readRaw = () => (input.value === '' ? {empty: true} : {value: input.value});
      break;
    case 'list': {
      const simple = ['string', 'integer', 'number', 'enum', 'reference', 'datetime'].includes(f.items);
      const text = simple && Array.isArray(initial) ? initial.map(asText).join('\n') : asText(initial);
      input = h('textarea', {id, name: f.name, rows: 4, value: text, class: simple ? null : 'mono'});
      readRaw = () => {
        if (input.value.trim() === '') return {empty: true};
        if (!simple) return parseJSONText(input.value);
        const lines = input.value.split('\n').map((l) => l.trim()).filter((l) => l !== '');
        if (f.items === 'integer' || f.items === 'number') {
          const out = [];
          for (const [i, l] of lines.entries()) {
            const r = parseNumber(l, f.items === 'integer');
            if (r.error) return {error: `line ${i + 1} ${r.error}`};
            out.push(r.value);
          }
          return {value: out};
        }
        return {value: lines};
      };
      break;
    }
    case 'json':
      input = h('textarea', {id, name: f.name, rows: 5, class: 'mono', value: initial === undefined ? '' : JSON.stringify(initial, null, 2)});
      readRaw = () => (input.value.trim() === '' ? {empty: true} : parseJSONText(input.value));
      break;
    case 'reference': {
      const listId = `${id}-options`;
      const options = h('datalist', {id: listId});
      const box = h('input', {id, name: f.name, list: listId, autocomplete: 'off', value: asText(initial), class: 'mono'});
      const target = schema.models.find((m) => m.name === f.ref);
      if (target) {
        const lf = labelField(target);
        get(`${target.path}?limit=100`).then((page) => {
          replace(options, page.items.map((r) => h('option', {value: r.id}, lf && r[lf] !== undefined ? String(r[lf]) : r.id)));
        }).catch(() => {});
      }
      readRaw = () => (box.value.trim() === '' ? {empty: true} : {value: box.value.trim()});
      input = [box, options];
      break;
    }
    default:
      input = h('input', {id, name: f.name, autocomplete: 'off', value: asText(initial), spellcheck: 'false'});
      readRaw = () => (input.value === '' ? {empty: true} : {value: input.value});
  }
  const control = Array.isArray(input) ? input[0] : input;
  control.addEventListener('input', () => { dirty = true; });
  control.addEventListener('change', () => { dirty = true; });
  if (locked) control.disabled = true;
  control.setAttribute('aria-describedby', `h-${f.name} e-${f.name}`);

  const err = h('p', {class: 'field-error', id: `e-${f.name}`, 'data-error-for': f.name, 'aria-live': 'polite'});
  const help = [hint(f), cleanDescription(f.description)].filter(Boolean).join(' — ');
  const el = h('div', {class: ['field', `field-${f.kind}`], 'data-field': f.name},
    h('label', {for: id}, h('span', {class: 'field-name'}, f.name),
      f.required ? h('span', {class: 'req'}, 'required') : null,
      h('span', {class: 'kind'}, f.kind === 'list' ? `list of ${f.items}` : f.kind)),
    f.kind === 'boolean' ? h('div', {class: 'switch-row'}, input, h('label', {for: id, class: 'muted small'}, 'yes')) : input,
    help ? h('p', {class: 'hint', id: `h-${f.name}`}, help) : null,
    err);

  return {
    f, el, input: control,
    read() {
      if (locked) return {skip: true};
      const r = readRaw();
      if (r.error) return r;
      if (!editing) {
        if (r.empty) return {skip: true};
        if (f.kind === 'boolean' && !dirty && !f.required && f.default === undefined) return {skip: true};
        return r;
      }
      // Editing: send what changed; an emptied field is removed (null).
      if (r.empty) return has ? {value: null} : {skip: true};
      if (f.kind === 'datetime' && has && control.value === localInput(old)) return {skip: true};
      if (has && same(r.value, old)) return {skip: true};
      if (!has && f.kind === 'boolean' && !dirty) return {skip: true};
      return r;
    },
    showError(msg) {
      err.textContent = msg ? `${f.name} ${msg}` : '';
      el.classList.toggle('invalid', Boolean(msg));
      if (msg) control.setAttribute('aria-invalid', 'true');
      else control.removeAttribute('aria-invalid');
    },
  };
}

// cleanDescription drops the sentences the hint already says.
function cleanDescription(d) {
  return (d || '').split(/(?<=\.)\s+/)
    .filter((x) => x && !/^(Indexed:|Unique:|Immutable:|Long text\.|Kept digit for digit|The id of an? \w+ record)/.test(x))
    .join(' ');
}
