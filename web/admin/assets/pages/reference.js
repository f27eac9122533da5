// The API reference, read from the OpenAPI description the server
// generates from its rules: every path and method with its parameters,
// bodies and answers, and every schema.

import {h, replace, pageHeader, badge} from '../dom.js';
import {resolve} from '../schema.js';

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

export async function render(view, ctx) {
  const doc = ctx.schema.doc;
  const search = h('input', {type: 'search', id: 'ref-search', placeholder: 'Filter paths, e.g. products or audit', 'aria-label': 'Filter the reference', autocomplete: 'off'});
  const opsBox = h('div', {class: 'ref-ops'});
  const schemaBox = h('div', {class: 'ref-schemas'});
  const jump = (name) => {
    const el = document.getElementById(`schema-${name}`);
    if (el) { el.open = true; el.scrollIntoView({behavior: 'smooth', block: 'start'}); }
  };

  const groups = new Map();
  for (const t of doc.tags || []) groups.set(t.name, {tag: t, ops: []});
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const m of METHODS) {
      const op = item[m];
      if (!op) continue;
      const tag = (op.tags && op.tags[0]) || 'other';
      if (!groups.has(tag)) groups.set(tag, {tag: {name: tag}, ops: []});
      groups.get(tag).ops.push({path, method: m, op, shared: item.parameters || []});
    }
  }
  const order = [...groups.values()].sort((a, b) => (a.tag.name === 'system') - (b.tag.name === 'system') || a.tag.name.localeCompare(b.tag.name));
  const sections = order.map((g) => {
    const sec = h('section', {class: 'ref-group', 'data-tag': g.tag.name},
      h('h2', {}, g.tag.name === 'system' ? 'System routes' : g.tag.name),
      g.tag.description ? h('p', {class: 'muted'}, prose(g.tag.description)) : null,
      g.ops.map((o) => operation(doc, o, jump)));
    return sec;
  });
  replace(opsBox, sections);

  const schemas = Object.entries((doc.components && doc.components.schemas) || {});
  replace(schemaBox, h('h2', {}, 'Schemas'), schemas.map(([name, sch]) => schema(doc, name, sch, jump)));

  search.addEventListener('input', () => {
    const term = search.value.trim().toLowerCase();
    for (const el of opsBox.querySelectorAll('.ref-op')) {
      el.hidden = term !== '' && !el.dataset.search.includes(term);
    }
    for (const sec of opsBox.querySelectorAll('.ref-group')) {
      sec.hidden = ![...sec.querySelectorAll('.ref-op')].some((x) => !x.hidden);
    }
  });

  replace(view,
    pageHeader('API reference', h('span', {}, `${doc.info.title} ${doc.info.version} · OpenAPI ${doc.openapi} · rules `,
      h('code', {}, doc.info['x-lithair-rules-version'] || ''), ' · ', h('a', {href: '/api/_openapi.json', target: '_blank', rel: 'noopener'}, 'the JSON'))),
    doc.info.description ? h('p', {class: 'lead'}, prose(doc.info.description)) : null,
    h('div', {class: 'toolbar'}, search),
    opsBox, schemaBox);
}

// prose renders text with `code` spans, without HTML.
function prose(text) {
  return String(text).split(/(`[^`]*`)/).map((p) => (p.startsWith('`') && p.endsWith('`') && p.length > 1 ? h('code', {}, p.slice(1, -1)) : p));
}

function paragraphs(text) {
  return String(text || '').split(/\n\n+/).map((p) => h('p', {}, prose(p)));
}

function typeText(doc, sch, jump) {
  if (!sch) return '';
  if (sch.$ref) {
    const name = sch.$ref.split('/').pop();
    return h('button', {type: 'button', class: 'linkish', onclick: () => jump(name)}, name);
  }
  const t = Array.isArray(sch.type) ? sch.type.join(' | ') : sch.type;
  if (t === 'array' || (Array.isArray(sch.type) && sch.type.includes('array'))) return ['array of ', typeText(doc, sch.items, jump) || 'any'];
  if (sch.enum) return `${t || ''} one of ${sch.enum.join(' | ')}`;
  if (sch.oneOf || sch.anyOf) return (sch.oneOf || sch.anyOf).map((x, i) => [i ? ' | ' : '', typeText(doc, x, jump)]);
  return [t || 'any', sch.format ? ` (${sch.format})` : ''].join('');
}

function constraints(s) {
  const out = [];
  for (const [k, label] of [['minimum', '≥'], ['maximum', '≤'], ['minLength', 'min length'], ['maxLength', 'max length'], ['minItems', 'min items'], ['maxItems', 'max items'], ['pattern', 'pattern'], ['default', 'default']]) {
    if (s[k] !== undefined) out.push(`${label} ${typeof s[k] === 'object' ? JSON.stringify(s[k]) : s[k]}`);
  }
  if (s.readOnly) out.push('read-only');
  return out.join(', ');
}

function operation(doc, {path, method, op, shared}, jump) {
  const params = [...shared, ...(op.parameters || [])].map((p) => resolve(doc, p));
  const body = op.requestBody && resolve(doc, op.requestBody);
  const responses = Object.entries(op.responses || {});
  return h('details', {class: 'ref-op', 'data-search': `${method} ${path} ${op.summary || ''} ${op.operationId || ''}`.toLowerCase()},
    h('summary', {}, h('span', {class: `method method-${method}`}, method.toUpperCase()), h('code', {class: 'ref-path'}, path),
      h('span', {class: 'ref-summary'}, op.summary || '')),
    h('div', {class: 'ref-body'},
      paragraphs(op.description),
      params.length ? [h('h4', {}, 'Parameters'), h('div', {class: 'table-wrap'}, h('table', {class: 'table compact'},
        h('thead', {}, h('tr', {}, ['Name', 'In', 'Type', 'Description'].map((x) => h('th', {}, x)))),
        h('tbody', {}, params.map((p) => h('tr', {},
          h('td', {}, h('code', {}, p.name), p.required ? h('span', {class: 'req'}, 'required') : null),
          h('td', {}, p.in),
          h('td', {}, typeText(doc, p.schema, jump)),
          h('td', {}, prose(p.description || '')))))))] : null,
      body ? [h('h4', {}, 'Request body'), h('p', {}, Object.entries(body.content || {}).map(([ct, c]) => [h('code', {}, ct), ': ', typeText(doc, c.schema, jump)]))] : null,
      h('h4', {}, 'Answers'),
      h('ul', {class: 'plain responses'}, responses.map(([code, r0]) => {
        const r = resolve(doc, r0);
        const content = Object.entries((r && r.content) || {});
        return h('li', {}, badge(code, /^2/.test(code) ? 'ok' : /^4/.test(code) ? 'warn' : /^5/.test(code) ? 'danger' : 'muted'), ' ',
          prose((r && r.description) || ''), content.map(([ct, c]) => [' — ', h('code', {}, ct), c.schema ? [' ', typeText(doc, c.schema, jump)] : null]));
      })),
      op.security ? h('p', {class: 'muted small'}, 'Credentials: ', op.security.map((s) => Object.keys(s)[0] || 'none').join(', ')) : null));
}

function schema(doc, name, sch, jump) {
  const props = Object.entries(sch.properties || {});
  const req = new Set(sch.required || []);
  return h('details', {class: 'ref-schema', id: `schema-${name}`},
    h('summary', {}, h('code', {}, name), sch.description ? h('span', {class: 'ref-summary'}, prose(sch.description)) : null),
    h('div', {class: 'ref-body'},
      props.length ? h('div', {class: 'table-wrap'}, h('table', {class: 'table compact'},
        h('thead', {}, h('tr', {}, ['Field', 'Type', 'Constraints', 'Description'].map((x) => h('th', {}, x)))),
        h('tbody', {}, props.map(([k, p]) => h('tr', {},
          h('td', {}, h('code', {}, k), req.has(k) ? h('span', {class: 'req'}, 'required') : null),
          h('td', {}, typeText(doc, p, jump)),
          h('td', {class: 'small'}, constraints(p)),
          h('td', {}, prose(p.description || ''))))))) : h('p', {class: 'muted'}, typeText(doc, sch, jump) || 'any JSON value'),
      sch.additionalProperties === false ? h('p', {class: 'muted small'}, 'Other fields are refused.') : null));
}
