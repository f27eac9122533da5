// app.js: the admin page's entry. Signs in, draws the frame (sidebar and
// main column) and routes the part after # to a page module. Routes:
//
//   #/                         dashboard
//   #/models/NAME?filters      a model's records
//   #/models/NAME/new          create form
//   #/models/NAME/ID           a record: its fields, timeline, old versions
//   #/models/NAME/ID/edit      edit form
//   #/audit?model=&id=&user=   the audit trail
//   #/projections[/NAME]       projections
//   #/rules                    rules and reload
//   #/users                    users and API tokens
//   #/cluster                  nodes
//   #/reference                the API, from its OpenAPI description

import {api, onUnauthorized, message, ApiError} from './api.js';
import {h, icon, replace, alert, button, spinner} from './dom.js';
import {loadSchema} from './schema.js';

const root = document.getElementById('app');
const iconURL = new URL('./icon.svg', import.meta.url).href;

let me = null;
let schema = null;
let leave = [];
let main = null;
let nav = null;

const ROUTES = [
  {re: /^\/$/, page: 'dashboard', nav: '#/'},
  {re: /^\/models\/?$/, page: 'models', nav: '#/models'},
  {re: /^\/models\/([^/]+)\/new$/, page: 'form', keys: ['model'], nav: (p) => `#/models/${encodeURIComponent(p.model)}`},
  {re: /^\/models\/([^/]+)\/([^/]+)\/edit$/, page: 'form', keys: ['model', 'id'], nav: (p) => `#/models/${encodeURIComponent(p.model)}`},
  {re: /^\/models\/([^/]+)\/([^/]+)$/, page: 'record', keys: ['model', 'id'], nav: (p) => `#/models/${encodeURIComponent(p.model)}`},
  {re: /^\/models\/([^/]+)$/, page: 'list', keys: ['model'], nav: (p) => `#/models/${encodeURIComponent(p.model)}`},
  {re: /^\/audit$/, page: 'audit', nav: '#/audit'},
  {re: /^\/projections(?:\/([^/]+))?$/, page: 'projections', keys: ['name'], nav: '#/projections'},
  {re: /^\/rules$/, page: 'rules', nav: '#/rules'},
  {re: /^\/users$/, page: 'users', nav: '#/users'},
  {re: /^\/cluster$/, page: 'cluster', nav: '#/cluster'},
  {re: /^\/reference$/, page: 'reference', nav: '#/reference'},
];

// parseHash splits #/path?query.
export function parseHash(hash = location.hash) {
  const raw = hash.replace(/^#/, '') || '/';
  const [path, qs] = raw.split(/\?(.*)/s);
  return {path: path || '/', query: new URLSearchParams(qs || '')};
}

export function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

async function boot(notice) {
  try {
    me = await api('GET', '/api/_auth/me', {quiet401: true});
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return showLogin(notice);
    return showFatal(err, boot);
  }
  try {
    schema = await loadSchema(true);
  } catch (err) {
    return showFatal(err, boot);
  }
  drawShell();
  route();
}

function showFatal(err, retry) {
  root.removeAttribute('aria-busy');
  root.className = 'center-screen';
  replace(root, h('div', {class: 'login-card'},
    brand(),
    alert('danger', 'The server could not be reached', message(err)),
    button('Try again', {kind: 'primary', onclick: () => retry()})));
}

function brand() {
  return h('div', {class: 'brand'}, h('img', {src: iconURL, alt: '', width: 28, height: 28}),
    h('span', {class: 'brand-name'}, 'Lithair'), h('span', {class: 'brand-sub'}, 'admin'));
}

function showLogin(notice) {
  for (const fn of leave) fn();
  leave = [];
  me = null;
  root.removeAttribute('aria-busy');
  root.className = 'center-screen';
  const err = h('div', {class: 'form-error', role: 'alert', id: 'login-error'});
  const user = h('input', {id: 'login-username', name: 'username', autocomplete: 'username', required: true, autofocus: true, autocapitalize: 'none', spellcheck: 'false'});
  const pass = h('input', {id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true});
  const submit = h('button', {type: 'submit', class: 'btn btn-primary btn-block', id: 'login-submit'}, 'Sign in');
  const form = h('form', {class: 'login-form', novalidate: true},
    h('h1', {}, 'Sign in'),
    notice ? alert('warn', null, notice) : null,
    h('div', {class: 'field'}, h('label', {for: 'login-username'}, 'User name'), user),
    h('div', {class: 'field'}, h('label', {for: 'login-password'}, 'Password'), pass),
    err, submit,
    h('p', {class: 'muted small'}, 'The first start printed the admin password; ',
      h('code', {}, 'lithair user passwd'), ' sets a new one.'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    if (!user.value || !pass.value) {
      err.textContent = 'Enter a user name and a password.';
      return;
    }
    submit.disabled = true;
    submit.textContent = 'Signing in…';
    try {
      // The answer also holds the session token; the page keeps nothing
      // but the HttpOnly cookie the server set.
      await api('POST', '/api/_auth/login', {body: {username: user.value, password: pass.value}, quiet401: true});
      pass.value = '';
      await boot();
    } catch (ex) {
      err.textContent = ex instanceof ApiError && ex.status === 401 ? 'Wrong user name or password.' : message(ex);
      submit.disabled = false;
      submit.textContent = 'Sign in';
      pass.select();
    }
  });
  replace(root, h('div', {class: 'login-card'}, brand(), form));
  user.focus();
}

async function logout() {
  try {
    await api('POST', '/api/_auth/logout', {quiet401: true});
  } catch {
    // An ended session is as good as a closed one.
  }
  showLogin('You are signed out.');
}

function navLink(href, label, ic, extra = {}) {
  return h('a', {href, class: 'nav-link', 'data-nav': href, ...extra}, ic ? icon(ic) : null, h('span', {}, label));
}

function drawShell() {
  root.removeAttribute('aria-busy');
  root.className = 'layout';
  const isAdmin = me.roles.includes('admin');
  const models = schema.models.map((m) => navLink(`#/models/${encodeURIComponent(m.name)}`, m.name, null, {class: 'nav-link nav-sub'}));
  nav = h('nav', {class: 'nav', 'aria-label': 'Sections'},
    h('p', {class: 'nav-group'}, 'Overview'),
    navLink('#/', 'Dashboard', 'dashboard'),
    navLink('#/cluster', 'Cluster', 'cluster'),
    h('p', {class: 'nav-group'}, 'Data'),
    navLink('#/models', 'Models', 'models'),
    models,
    navLink('#/audit', 'Audit log', 'audit'),
    navLink('#/projections', 'Projections', 'projections'),
    h('p', {class: 'nav-group'}, 'Operate'),
    navLink('#/rules', 'Rules', 'rules'),
    navLink('#/users', 'Users & tokens', 'users'),
    navLink('#/reference', 'API reference', 'reference'));
  const sidebar = h('aside', {class: 'sidebar', id: 'sidebar'},
    h('a', {href: '#/', class: 'brand-link'}, brand()),
    nav,
    h('div', {class: 'sidebar-foot'},
      h('div', {class: 'who'}, h('span', {class: 'avatar', 'aria-hidden': 'true'}, me.name.slice(0, 1).toUpperCase()),
        h('span', {class: 'who-text'}, h('strong', {id: 'who-name'}, me.name), h('span', {class: 'muted small'}, me.roles.join(', ') || 'no roles'))),
      button([icon('out'), h('span', {}, 'Sign out')], {kind: 'ghost', small: true, id: 'logout', onclick: logout})));
  const toggle = button(icon('menu'), {kind: 'ghost', class: 'menu-toggle', 'aria-label': 'Menu', 'aria-controls': 'sidebar', 'aria-expanded': 'false'});
  toggle.addEventListener('click', () => {
    const open = root.classList.toggle('nav-open');
    toggle.setAttribute('aria-expanded', String(open));
  });
  const scrim = h('div', {class: 'scrim', onclick: () => root.classList.remove('nav-open')});
  main = h('main', {id: 'main', class: 'main', tabindex: '-1'});
  replace(root, sidebar, scrim,
    h('div', {class: 'main-col'},
      h('header', {class: 'topbar'}, toggle, brand()),
      isAdmin ? null : h('div', {class: 'banner'}, alert('warn', 'You are not an admin.', 'Most pages need the admin role; records show what your roles may read.')),
      main));
}

async function route() {
  if (!me || !main) return;
  for (const fn of leave) {
    try { fn(); } catch { /* a page's cleanup must not stop the next */ }
  }
  leave = [];
  root.classList.remove('nav-open');
  const {path, query} = parseHash();
  let found = null;
  let params = {};
  for (const r of ROUTES) {
    const m = r.re.exec(path);
    if (!m) continue;
    found = r;
    (r.keys || []).forEach((k, i) => { params[k] = m[i + 1] === undefined ? undefined : decodeURIComponent(m[i + 1]); });
    break;
  }
  // aria-busy stays until the page has drawn what it fetched.
  const view = h('div', {class: 'view', 'aria-busy': 'true'});
  replace(main, view);
  if (!found) {
    replace(view, alert('warn', 'No such page', `Nothing lives at #${path}. `, h('a', {href: '#/'}, 'Back to the dashboard')));
    view.removeAttribute('aria-busy');
    return;
  }
  const href = typeof found.nav === 'function' ? found.nav(params) : found.nav;
  for (const a of nav.querySelectorAll('[data-nav]')) {
    const on = a.getAttribute('data-nav') === href;
    a.classList.toggle('active', on);
    if (on) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  view.appendChild(spinner());
  const ctx = {
    me, schema, params, query, navigate, view,
    onLeave: (fn) => leave.push(fn),
    reloadSchema: async () => { schema = await loadSchema(true); ctx.schema = schema; return schema; },
  };
  try {
    const mod = await import(`./pages/${found.page}.js`);
    if (view.parentNode !== main) return; // the reader moved on
    await mod.render(view, ctx);
    document.title = `${view.querySelector('h1')?.textContent || 'Lithair'} · Lithair admin`;
  } catch (err) {
    if (view.parentNode !== main) return;
    replace(view, alert('danger', 'This page failed', message(err)));
    if (!(err instanceof ApiError)) console.error(err);
  } finally {
    view.removeAttribute('aria-busy');
  }
}

onUnauthorized(() => {
  if (me) showLogin('Your session has ended. Sign in again to continue.');
});
window.addEventListener('hashchange', route);
boot();
