// schema.js: the models, read from the server's OpenAPI description
// (GET /api/_openapi.json, generated from the rules). Forms, lists and
// the API reference are all built from it, so a rules reload shows up
// after a page reload without any change here.

import {get} from './api.js';

let cached = null;

// loadSchema fetches the description once per rules version.
export async function loadSchema(force = false) {
  if (cached && !force) return cached;
  const doc = await get('/api/_openapi.json');
  cached = {doc, models: readModels(doc)};
  return cached;
}

export function dropSchema() { cached = null; }

const SYSTEM_FIELDS = ['id', 'version', 'created_at', 'updated_at'];
export {SYSTEM_FIELDS};

// resolve follows a local $ref.
export function resolve(doc, node) {
  let n = node;
  for (let i = 0; n && n.$ref && i < 10; i++) {
    const parts = n.$ref.replace(/^#\//, '').split('/');
    n = parts.reduce((o, p) => (o ? o[p.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined), doc);
  }
  return n;
}

// kindOf names a field's type as the rules do, from its JSON Schema and
// the words the generator puts in its description.
function kindOf(p) {
  const d = p.description || '';
  const t = Array.isArray(p.type) ? p.type.find((x) => x !== 'null') : p.type;
  if (p.enum) return 'enum';
  switch (t) {
    case 'string':
      if (p.format === 'date-time') return 'datetime';
      if (/The id of an? \w+ record/.test(d)) return 'reference';
      if (/Long text\./.test(d)) return 'text';
      return 'string';
    case 'integer': return 'integer';
    case 'number': return 'number';
    case 'boolean': return 'boolean';
    case 'array': return 'list';
  }
  return 'json';
}

function itemKind(p) {
  if (!p.items) return 'json';
  return kindOf(p.items);
}

function field(name, p, required) {
  const d = p.description || '';
  const ref = /The id of an? (\w+) record/.exec(d);
  return {
    name,
    kind: kindOf(p),
    items: p.type === 'array' || (Array.isArray(p.type) && p.type.includes('array')) ? itemKind(p) : null,
    required,
    readOnly: Boolean(p.readOnly) || /Read-only:/.test(d),
    immutable: /Immutable:/.test(d),
    unique: /Unique:/.test(d),
    indexed: /Indexed:/.test(d),
    restricted: /Visible only to|Only the roles|Only any|Only everyone/.test(d),
    enum: p.enum || null,
    min: p.minimum, max: p.maximum,
    minLength: p.minLength ?? p.minItems, maxLength: p.maxLength ?? p.maxItems,
    pattern: p.pattern,
    default: p.default,
    ref: ref ? ref[1] : null,
    description: d,
  };
}

// readModels finds every model: each has a list operation listNAME.
function readModels(doc) {
  const models = [];
  const schemas = (doc.components && doc.components.schemas) || {};
  for (const [path, item] of Object.entries(doc.paths || {})) {
    const op = item.get;
    if (!op || !/^list/.test(op.operationId || '')) continue;
    const name = op.operationId.slice(4);
    const rec = schemas[name];
    if (!rec) continue;
    const params = (op.parameters || []).map((p) => resolve(doc, p));
    // The fields parameter lists every field in declaration order.
    const fieldsParam = params.find((p) => p.name === 'fields');
    let order = fieldsParam && fieldsParam.schema && fieldsParam.schema.items && fieldsParam.schema.items.enum;
    const props = rec.properties || {};
    if (!order) order = [...SYSTEM_FIELDS, ...Object.keys(props).filter((k) => !SYSTEM_FIELDS.includes(k))];
    order = order.filter((k) => props[k]).concat(Object.keys(props).filter((k) => !order.includes(k)));
    const req = new Set(rec.required || []);
    const fields = order.filter((k) => !SYSTEM_FIELDS.includes(k)).map((k) => field(k, props[k], req.has(k)));

    const input = schemas[`${name}Input`] || {};
    const patch = schemas[`${name}Patch`] || {};
    const inputReq = new Set(input.required || []);
    const creatable = order.filter((k) => input.properties && input.properties[k])
      .map((k) => field(k, input.properties[k], inputReq.has(k)));
    const updatable = new Set(Object.keys(patch.properties || {}));

    const sortParam = params.find((p) => p.name === 'sort');
    const sm = sortParam && /Sortable here: ([^(.]+?)\s*[(.]/.exec(sortParam.description || '');
    const sortable = sm ? sm[1].split(',').map((x) => x.trim()).filter(Boolean)
      : ['id', ...fields.filter((f) => f.indexed).map((f) => f.name)];
    const filterParam = params.find((p) => p.name === 'field[op]');
    const fm = filterParam && filterParam.schema && filterParam.schema.propertyNames &&
      /^\^\(([^)]*)\)/.exec(filterParam.schema.propertyNames.pattern || '');
    const filterable = fm ? fm[1].split('|') : fields.filter((f) => f.kind !== 'json' && f.kind !== 'list').map((f) => f.name);

    const ops = {};
    for (const m of ['post']) if (item[m]) ops.create = item[m].description || '';
    const one = doc.paths[`${path}/{id}`] || {};
    ops.update = one.patch ? one.patch.description || '' : null;
    ops.remove = one.delete ? one.delete.description || '' : null;
    ops.read = op.description || '';

    const countable = params.some((p) => p.name === 'count');
    models.push({name, path, fields, creatable, updatable, sortable, filterable, countable, ops, description: rec.description || ''});
  }
  models.sort((a, b) => a.name.localeCompare(b.name));
  return models;
}

export function modelByName(schema, name) {
  return schema.models.find((m) => m.name === name);
}

// labelField picks the field that names a record best, for links.
export function labelField(model) {
  const names = ['name', 'title', 'label', 'slug', 'email', 'username'];
  for (const n of names) {
    const f = model.fields.find((x) => x.name === n);
    if (f) return f.name;
  }
  const s = model.fields.find((f) => f.kind === 'string' && f.required);
  return s ? s.name : null;
}

// hint describes a field's constraints in a few words.
export function hint(f) {
  const parts = [];
  const len = f.kind === 'list' ? 'items' : 'characters';
  if (f.minLength !== undefined && f.maxLength !== undefined) parts.push(`${f.minLength}–${f.maxLength} ${len}`);
  else if (f.minLength !== undefined) parts.push(`at least ${f.minLength} ${len}`);
  else if (f.maxLength !== undefined) parts.push(`at most ${f.maxLength} ${len}`);
  if (f.min !== undefined && f.max !== undefined) parts.push(`${f.min} to ${f.max}`);
  else if (f.min !== undefined) parts.push(`≥ ${f.min}`);
  else if (f.max !== undefined) parts.push(`≤ ${f.max}`);
  if (f.pattern) parts.push(`matches ${f.pattern}`);
  if (f.unique) parts.push('unique');
  if (f.immutable) parts.push('cannot change after create');
  if (f.ref) parts.push(`id of a ${f.ref}`);
  if (f.default !== undefined && f.default !== null) parts.push(`default ${typeof f.default === 'object' ? JSON.stringify(f.default) : f.default}`);
  if (f.restricted) parts.push('restricted by role');
  return parts.join(' · ');
}
