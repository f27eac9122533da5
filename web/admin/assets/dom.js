// dom.js: building elements without HTML strings. Every value from the
// server goes into a text node or an attribute and is never parsed as
// markup, so a record holding "<script>" shows as text.

const SVG_NS = 'http://www.w3.org/2000/svg';

function apply(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.setAttribute('class', Array.isArray(v) ? v.filter(Boolean).join(' ') : v);
    else if (k === 'text') el.textContent = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value' && 'value' in el) el.value = v;
    else if (k === 'checked' || k === 'disabled' || k === 'selected' || k === 'open') el[k] = Boolean(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

// h builds an HTML element: h('a', {href: '#/', class: 'x'}, 'text', child).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  apply(el, attrs);
  append(el, children);
  return el;
}

// s builds an SVG element.
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === 'text') el.textContent = v;
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

// replace empties el and fills it with children.
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// Icons: a few strokes each, drawn in the text colour.
const ICONS = {
  dashboard: 'M4 13h6V4H4zM14 20h6v-9h-6zM4 20h6v-4H4zM14 7h6V4h-6z',
  models: 'M4 6c0-1.1 3.6-2 8-2s8 .9 8 2-3.6 2-8 2-8-.9-8-2zM4 6v12c0 1.1 3.6 2 8 2s8-.9 8-2V6M4 12c0 1.1 3.6 2 8 2s8-.9 8-2',
  audit: 'M9 4h6M8 4H6a1 1 0 0 0-1 1v15a1 1 0 0 0 1 1h12a1 1 0 0 0 1-1V5a1 1 0 0 0-1-1h-2M8 11h8M8 15h5',
  projections: 'M4 20V10M10 20V4M16 20v-7M22 20H2',
  rules: 'M8 6 3 12l5 6M16 6l5 6-5 6M13.5 4l-3 16',
  users: 'M16 20v-1.5a3.5 3.5 0 0 0-3.5-3.5h-5A3.5 3.5 0 0 0 4 18.5V20M10 11a3.5 3.5 0 1 0 0-7 3.5 3.5 0 0 0 0 7zM20 20v-1.5a3.5 3.5 0 0 0-2.5-3.3M15.5 4.2a3.5 3.5 0 0 1 0 6.6',
  cluster: 'M12 5a2 2 0 1 0 0-.01zM5 18a2 2 0 1 0 0-.01zM19 18a2 2 0 1 0 0-.01zM11 7l-5 9M13 7l5 9M7 18h10',
  reference: 'M5 4h10l4 4v12H5zM15 4v4h4M8 12h8M8 16h8',
  menu: 'M4 7h16M4 12h16M4 17h16',
  out: 'M15 4h3a1 1 0 0 1 1 1v14a1 1 0 0 1-1 1h-3M10 16l4-4-4-4M14 12H4',
  plus: 'M12 5v14M5 12h14',
  x: 'M6 6l12 12M18 6 6 18',
  copy: 'M9 9h10v11H9zM5 15V4h10',
};

export function icon(name) {
  return s('svg', {class: 'icon', viewBox: '0 0 24 24', 'aria-hidden': 'true', focusable: 'false'},
    s('path', {d: ICONS[name] || ''}));
}

// Formatting.

export function fmtNumber(n, digits = 0) {
  if (n === undefined || n === null || Number.isNaN(n)) return '–';
  return Number(n).toLocaleString(undefined, {maximumFractionDigits: digits, minimumFractionDigits: 0});
}

export function fmtBytes(n) {
  if (n === undefined || n === null || Number.isNaN(n)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toLocaleString(undefined, {maximumFractionDigits: i ? 1 : 0})} ${units[i]}`;
}

export function fmtDuration(seconds) {
  if (seconds === undefined || seconds === null || !Number.isFinite(seconds)) return '–';
  const ms = seconds * 1000;
  if (ms < 1) return `${(ms * 1000).toFixed(0)} µs`;
  if (ms < 100) return `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;
  if (ms < 10000) return `${ms.toFixed(0)} ms`;
  return `${seconds.toFixed(1)} s`;
}

export function fmtTime(iso) {
  if (!iso) return '–';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleString(undefined, {year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit'});
}

export function fmtAgo(iso) {
  const d = new Date(iso);
  const sec = Math.round((Date.now() - d.getTime()) / 1000);
  if (!Number.isFinite(sec)) return '';
  if (sec < 5) return 'just now';
  if (sec < 60) return `${sec} s ago`;
  if (sec < 3600) return `${Math.floor(sec / 60)} min ago`;
  if (sec < 86400) return `${Math.floor(sec / 3600)} h ago`;
  return `${Math.floor(sec / 86400)} d ago`;
}

// time renders an instant with its exact value on hover.
export function time(iso, rel = false) {
  return h('time', {datetime: iso || '', title: iso || ''}, rel ? fmtAgo(iso) : fmtTime(iso));
}

export function shortId(id) {
  const v = String(id ?? '');
  return v.length > 13 ? `${v.slice(0, 8)}…${v.slice(-4)}` : v;
}

// badge is a small coloured label; kinds are ok, warn, danger, info, muted.
export function badge(text, kind = 'muted') {
  return h('span', {class: `badge badge-${kind}`}, text);
}

export function kindBadge(kind) {
  const k = {created: 'ok', updated: 'info', deleted: 'danger'}[kind] || 'muted';
  return badge(kind || '?', k);
}

// Blocks every page uses.

export function pageHeader(title, sub, ...actions) {
  return h('header', {class: 'page-header'},
    h('div', {class: 'page-title'}, h('h1', {}, title), sub ? h('p', {class: 'sub'}, sub) : null),
    actions.length ? h('div', {class: 'actions'}, actions) : null);
}

export function card(title, ...body) {
  return h('section', {class: 'card'}, title ? h('h2', {class: 'card-title'}, title) : null, body);
}

export function empty(title, text, ...actions) {
  return h('div', {class: 'empty'},
    h('p', {class: 'empty-title'}, title),
    text ? h('p', {class: 'empty-text'}, text) : null,
    actions.length ? h('div', {class: 'actions'}, actions) : null);
}

export function alert(kind, title, ...body) {
  return h('div', {class: `alert alert-${kind}`, role: kind === 'danger' ? 'alert' : 'status'},
    title ? h('strong', {}, title) : null, body.length ? h('div', {class: 'alert-body'}, body) : null);
}

export function button(label, attrs = {}) {
  const {kind = 'secondary', small = false, class: extra, ...rest} = attrs;
  return h('button', {type: 'button', class: ['btn', `btn-${kind}`, small && 'btn-sm', extra], ...rest}, label);
}

export function link(label, href, attrs = {}) {
  return h('a', {href, ...attrs}, label);
}

export function spinner() {
  return h('div', {class: 'loading', role: 'status'}, h('span', {class: 'spin', 'aria-hidden': 'true'}), 'Loading…');
}

// table builds a table from columns {label, cell(row), class} and rows.
export function table(columns, rows, opts = {}) {
  return h('div', {class: 'table-wrap'},
    h('table', {class: ['table', opts.class]},
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', {class: c.class, scope: 'col'}, c.label)))),
      h('tbody', {}, rows.map((r, i) => {
        const tr = h('tr', {class: opts.rowClass ? opts.rowClass(r) : null},
          columns.map((c) => h('td', {class: c.class, 'data-label': c.label}, c.cell(r, i))));
        if (opts.onRow) {
          tr.classList.add('clickable');
          tr.addEventListener('click', (e) => {
            if (e.target.closest('a,button,input,select,label')) return;
            opts.onRow(r, e);
          });
        }
        return tr;
      }))));
}

// Toasts: short confirmations in a corner.
export function toast(message, kind = 'ok') {
  let region = document.getElementById('toasts');
  if (!region) {
    region = h('div', {id: 'toasts', class: 'toasts', 'aria-live': 'polite'});
    document.body.appendChild(region);
  }
  const t = h('div', {class: `toast toast-${kind}`}, message);
  region.appendChild(t);
  setTimeout(() => t.classList.add('leaving'), 3200);
  setTimeout(() => t.remove(), 3700);
}

// confirmDialog asks before something that cannot be undone.
export function confirmDialog({title, text, confirm = 'Confirm', danger = false}) {
  return new Promise((resolve) => {
    const dlg = h('dialog', {class: 'dialog', 'aria-labelledby': 'dlg-title'},
      h('form', {method: 'dialog'},
        h('h2', {id: 'dlg-title'}, title),
        text ? h('p', {}, text) : null,
        h('div', {class: 'dialog-actions'},
          h('button', {value: 'cancel', class: 'btn btn-secondary', autofocus: true}, 'Cancel'),
          h('button', {value: 'ok', class: `btn ${danger ? 'btn-danger' : 'btn-primary'}`, 'data-confirm': ''}, confirm))));
    dlg.addEventListener('close', () => { resolve(dlg.returnValue === 'ok'); dlg.remove(); });
    document.body.appendChild(dlg);
    dlg.showModal();
  });
}

// copyButton copies text to the clipboard (where the browser allows it).
export function copyButton(text, label = 'Copy') {
  const b = button([icon('copy'), h('span', {}, label)], {kind: 'ghost', small: true, title: 'Copy to the clipboard'});
  b.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(text);
      toast('Copied');
    } catch {
      toast('The browser did not allow copying; select the text instead', 'warn');
    }
  });
  return b;
}
