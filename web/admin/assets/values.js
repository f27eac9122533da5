// values.js: showing field values, and the difference between two
// versions of a record.

import {h, fmtTime} from './dom.js';
import {Num, stringify} from './api.js';

// same compares two JSON values by their text.
export function same(a, b) {
  return stringify(a) === stringify(b);
}

// valueText is a value as one line of text.
export function valueText(v) {
  if (v === undefined) return '';
  if (v === null) return 'null';
  if (v instanceof Num) return v.src;
  if (typeof v === 'object') return stringify(v);
  return String(v);
}

// value renders a field value; kind is the field's kind when known.
export function value(v, kind) {
  if (v === undefined) return h('span', {class: 'v-none'}, '—');
  if (v === null) return h('span', {class: 'v-null'}, 'null');
  if (typeof v === 'boolean') return h('span', {class: `v-bool v-${v}`}, v ? 'true' : 'false');
  if (typeof v === 'number' || v instanceof Num) return h('span', {class: 'v-num'}, valueText(v));
  if (Array.isArray(v) && v.every((x) => typeof x !== 'object' || x === null || x instanceof Num)) {
    if (!v.length) return h('span', {class: 'v-none'}, '[ ]');
    return h('span', {class: 'chips'}, v.map((x) => h('span', {class: 'chip'}, valueText(x))));
  }
  if (typeof v === 'object') return h('code', {class: 'v-json'}, stringify(v));
  if (kind === 'datetime') return h('time', {datetime: v, title: v}, fmtTime(v));
  return h('span', {class: 'v-str'}, v);
}

// diff lists what changed from the fields before to the fields after:
// [{field, change: 'added'|'removed'|'changed', old, new}], in the order
// of names (the model's fields first).
export function diff(before, after, names = []) {
  const b = before || {};
  const a = after || {};
  const keys = [...names];
  for (const k of [...Object.keys(b), ...Object.keys(a)]) if (!keys.includes(k)) keys.push(k);
  const out = [];
  for (const k of keys) {
    const inB = Object.hasOwn(b, k);
    const inA = Object.hasOwn(a, k);
    if (!inB && inA) out.push({field: k, change: 'added', new: a[k]});
    else if (inB && !inA) out.push({field: k, change: 'removed', old: b[k]});
    else if (inB && inA && !same(b[k], a[k])) out.push({field: k, change: 'changed', old: b[k], new: a[k]});
  }
  return out;
}

// diffTable shows a diff as rows: field, before, after.
export function diffTable(changes, kinds = {}) {
  if (!changes.length) return h('p', {class: 'muted small'}, 'No field changed.');
  return h('table', {class: 'diff'},
    h('tbody', {}, changes.map((c) => h('tr', {class: `diff-${c.change}`, 'data-field': c.field, 'data-change': c.change},
      h('th', {scope: 'row'}, h('span', {class: 'diff-mark', 'aria-hidden': 'true'}, {added: '+', removed: '−', changed: '~'}[c.change]), c.field),
      h('td', {class: 'diff-old'}, c.change === 'added' ? h('span', {class: 'v-none'}, 'absent') : value(c.old, kinds[c.field])),
      h('td', {class: 'diff-arrow', 'aria-hidden': 'true'}, '→'),
      h('td', {class: 'diff-new'}, c.change === 'removed' ? h('span', {class: 'v-none'}, 'removed') : value(c.new, kinds[c.field]))))));
}

// summary is a diff in one short line, for lists.
export function summary(changes, max = 3) {
  const parts = changes.slice(0, max).map((c) => {
    if (c.change === 'added') return `${c.field} = ${clip(valueText(c.new))}`;
    if (c.change === 'removed') return `${c.field} removed`;
    return `${c.field}: ${clip(valueText(c.old))} → ${clip(valueText(c.new))}`;
  });
  if (changes.length > max) parts.push(`+${changes.length - max} more`);
  return parts.join(', ');
}

function clip(s, n = 28) {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}
