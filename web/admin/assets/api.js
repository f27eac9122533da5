// api.js: every call to the server. The session is the HttpOnly cookie
// the sign-in set: the page never sees or stores a token. Every write
// carries X-Requested-With, a header another site's page cannot send
// without a CORS preflight this server never grants.

export const WRITE_HEADER = ['X-Requested-With', 'lithair-admin'];

// ApiError is a refused call, with the server's error body.
export class ApiError extends Error {
  constructor(status, code, message, fields, body) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.code = code || '';
    this.fields = fields || {};
    this.body = body;
  }
}

// Num is a JSON number that a JavaScript number would round or reformat
// (integers past 2^53, 0.10): kept as its digits, written back as they are.
export class Num {
  constructor(src) { this.src = src; }
  toString() { return this.src; }
  valueOf() { return Number(this.src); }
}

export const isNumber = (v) => typeof v === 'number' || v instanceof Num;

// parseJSON reads JSON, keeping numbers digit for digit where the
// browser reports their source text.
export function parseJSON(text) {
  return JSON.parse(text, function (key, value, context) {
    if (typeof value === 'number' && context && typeof context.source === 'string' && context.source !== String(value)) {
      return new Num(context.source);
    }
    return value;
  });
}

// stringify writes JSON, Num values as their digits.
export function stringify(v) {
  if (v instanceof Num) return v.src;
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : stringify(x))).join(',')}]`;
  if (v && typeof v === 'object') {
    const parts = [];
    for (const [k, x] of Object.entries(v)) {
      if (x !== undefined) parts.push(`${JSON.stringify(k)}:${stringify(x)}`);
    }
    return `{${parts.join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

let unauthorized = null;

// onUnauthorized sets what happens when the session ends (a 401).
export function onUnauthorized(fn) { unauthorized = fn; }

// api calls the server and answers the parsed JSON body (null for 204).
// A refusal throws an ApiError.
export async function api(method, path, {body, headers = {}, signal, quiet401 = false} = {}) {
  const h = {Accept: 'application/json', ...headers};
  const write = method !== 'GET' && method !== 'HEAD';
  if (write) h[WRITE_HEADER[0]] = WRITE_HEADER[1];
  const init = {method, headers: h, credentials: 'same-origin', cache: 'no-store', redirect: 'error', signal};
  if (body !== undefined) {
    h['Content-Type'] = 'application/json';
    init.body = typeof body === 'string' ? body : stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, 'network', `The server did not answer (${err.message}).`);
  }
  const text = res.status === 204 || method === 'HEAD' ? '' : await res.text();
  let data = null;
  if (text) {
    try { data = parseJSON(text); } catch { data = text; }
  }
  if (res.ok) return data;
  const e = data && data.error ? data.error : {};
  const err = new ApiError(res.status, e.code, e.message || `${res.status} ${res.statusText}`, e.fields, data);
  if (res.status === 401 && !quiet401 && unauthorized) unauthorized(err);
  throw err;
}

export const get = (path, opts) => api('GET', path, opts);

// getText reads a non-JSON answer, such as /metrics.
export async function getText(path, {signal} = {}) {
  const res = await fetch(path, {credentials: 'same-origin', cache: 'no-store', signal});
  if (!res.ok) throw new ApiError(res.status, '', `${path}: ${res.status} ${res.statusText}`);
  return res.text();
}

// status asks only for the status line of a call: used to tell a stream
// that is not there (501, 404) from one that dropped.
export async function status(path) {
  const ctl = new AbortController();
  try {
    const res = await fetch(path, {credentials: 'same-origin', cache: 'no-store', signal: ctl.signal, headers: {Accept: 'text/event-stream'}});
    ctl.abort();
    return res.status;
  } catch {
    return 0;
  }
}

// query turns an object into a query string, leaving out empty values.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

// message makes a refusal readable in one line.
export function message(err) {
  if (!(err instanceof ApiError)) return String(err && err.message ? err.message : err);
  switch (err.status) {
    case 0: return err.message;
    case 401: return 'Your session has ended: sign in again.';
    case 403: return `Not allowed: ${err.message}`;
    case 404: return `Not found: ${err.message}`;
    case 503: return `The node is not ready: ${err.message}`;
  }
  return err.message;
}
