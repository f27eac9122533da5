// Users and API tokens: list, create, change roles or password, disable,
// delete; create and revoke tokens (a new token's secret is shown once).

import {api, get, message, ApiError} from '../api.js';
import {h, replace, pageHeader, card, alert, badge, table, time, button, toast, confirmDialog, copyButton, empty, shortId} from '../dom.js';

const roleList = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);
const roleChips = (roles) => ((roles || []).length
  ? h('span', {class: 'chips'}, roles.map((r) => h('span', {class: ['chip', r === 'admin' && 'chip-accent']}, r)))
  : h('span', {class: 'muted'}, 'none'));

export async function render(view, ctx) {
  const usersBox = h('div', {id: 'users'});
  const tokensBox = h('div', {id: 'tokens'});
  const secretBox = h('div', {id: 'token-secret'});
  let users = [];

  const loadUsers = async () => {
    try {
      users = (await get('/api/_users')).items;
    } catch (err) {
      replace(usersBox, alert('danger', 'Users could not be read', message(err)));
      return;
    }
    replace(usersBox, users.length ? table([
      {label: 'Name', cell: (u) => [h('strong', {}, u.name), u.name === ctx.me.name ? h('span', {class: 'muted small'}, ' (you)') : null]},
      {label: 'Roles', cell: (u) => roleChips(u.roles)},
      {label: 'State', cell: (u) => (u.disabled ? badge('disabled', 'danger') : badge('active', 'ok'))},
      {label: 'Created', cell: (u) => time(u.created_at)},
      {label: '', class: 'row-actions', cell: (u) => [
        button('Edit', {kind: 'ghost', small: true, onclick: () => editUser(u, loadUsers)}),
        button('Delete', {kind: 'ghost', small: true, class: 'danger-text', onclick: async () => {
          if (!await confirmDialog({title: `Delete the user ${u.name}?`, text: 'Their sessions end at once. Their changes stay in the history under their name.', confirm: 'Delete', danger: true})) return;
          try {
            await api('DELETE', `/api/_users/${encodeURIComponent(u.name)}`);
            toast(`User ${u.name} deleted`);
            loadUsers();
          } catch (err) {
            toast(message(err), 'danger');
          }
        }})]},
    ], users) : empty('No users', 'Create one below.'));
    fillUserSelect();
  };

  const loadTokens = async () => {
    let items;
    try {
      items = (await get('/api/_tokens')).items;
    } catch (err) {
      replace(tokensBox, alert('danger', 'Tokens could not be read', message(err)));
      return;
    }
    replace(tokensBox, items.length ? table([
      {label: 'Name', cell: (t) => h('strong', {}, t.name)},
      {label: 'Acts as', cell: (t) => t.user},
      {label: 'Roles', cell: (t) => roleChips(t.roles)},
      {label: 'Prefix', cell: (t) => h('code', {}, t.prefix ? `${t.prefix}…` : shortId(t.id))},
      {label: 'Expires', cell: (t) => (t.expires_at ? time(t.expires_at) : h('span', {class: 'muted'}, 'never'))},
      {label: '', class: 'row-actions', cell: (t) => button('Revoke', {kind: 'ghost', small: true, class: 'danger-text', onclick: async () => {
        if (!await confirmDialog({title: `Revoke the token ${t.name}?`, text: 'Programs using it are refused from now on.', confirm: 'Revoke', danger: true})) return;
        try {
          await api('DELETE', `/api/_tokens/${encodeURIComponent(t.id)}`);
          toast(`Token ${t.name} revoked`);
          loadTokens();
        } catch (err) {
          toast(message(err), 'danger');
        }
      }})},
    ], items) : empty('No API tokens', 'Programs sign in with a token: create one below.'));
  };

  // New user.
  const nu = miniForm('new-user', [
    {name: 'name', label: 'Name', input: h('input', {autocomplete: 'off', spellcheck: 'false'})},
    {name: 'password', label: 'Password', input: h('input', {type: 'password', autocomplete: 'new-password'}), hint: '8 characters or more'},
    {name: 'roles', label: 'Roles', input: h('input', {placeholder: 'editor, admin', autocomplete: 'off'}), hint: 'comma-separated'},
  ], 'Create user', async (v) => {
    await api('POST', '/api/_users', {body: {name: v.name, password: v.password, roles: roleList(v.roles)}});
    toast(`User ${v.name} created`);
    loadUsers();
  });

  // New token.
  const userSel = h('select', {});
  const fillUserSelect = () => replace(userSel, users.map((u) => h('option', {value: u.name, selected: u.name === ctx.me.name}, u.name)));
  const nt = miniForm('new-token', [
    {name: 'name', label: 'Name', input: h('input', {placeholder: 'deploy-script', autocomplete: 'off'})},
    {name: 'user', label: 'Acts as', input: userSel},
    {name: 'roles', label: 'Roles', input: h('input', {placeholder: 'editor', autocomplete: 'off'}), hint: 'comma-separated; without roles it may do only what any signed-in user may'},
    {name: 'expires_in', label: 'Expires', input: h('select', {},
      [['', 'never'], ['24h', 'in a day'], ['168h', 'in a week'], ['720h', 'in 30 days'], ['8760h', 'in a year']].map(([v, l]) => h('option', {value: v, selected: v === '720h'}, l)))},
  ], 'Create token', async (v) => {
    const body = {name: v.name, user: v.user};
    if (v.roles.trim()) body.roles = roleList(v.roles);
    if (v.expires_in) body.expires_in = v.expires_in;
    const t = await api('POST', '/api/_tokens', {body});
    replace(secretBox, alert('warn', `The token ${t.name}: copy it now, it is shown only once.`,
      h('div', {class: 'secret'}, h('code', {id: 'new-token-value'}, t.token), copyButton(t.token)),
      h('p', {class: 'small'}, 'Send it as ', h('code', {}, 'Authorization: Bearer …'), '. Only its SHA-256 is stored.'),
      button('Done', {small: true, onclick: () => replace(secretBox)})));
    loadTokens();
  });

  replace(view,
    pageHeader('Users & tokens', 'Who may sign in, and the tokens programs use'),
    card('Users', usersBox, h('details', {class: 'add'}, h('summary', {class: 'btn btn-secondary'}, 'New user'), nu)),
    card('API tokens', secretBox, tokensBox, h('details', {class: 'add'}, h('summary', {class: 'btn btn-secondary'}, 'New token'), nt)));
  await loadUsers();
  await loadTokens();
}

// miniForm builds a small form whose refusals land next to their fields.
function miniForm(id, fields, submitLabel, onSubmit) {
  const top = h('div', {});
  const errs = {};
  const form = h('form', {class: 'mini-form', id, novalidate: true},
    top,
    h('div', {class: 'mini-fields'}, fields.map((f) => {
      f.input.id = `${id}-${f.name}`;
      f.input.name = f.name;
      errs[f.name] = h('p', {class: 'field-error', 'data-error-for': f.name});
      return h('div', {class: 'field', 'data-field': f.name}, h('label', {for: f.input.id}, f.label), f.input,
        f.hint ? h('p', {class: 'hint'}, f.hint) : null, errs[f.name]);
    })),
    h('div', {class: 'form-actions'}, h('button', {type: 'submit', class: 'btn btn-primary'}, submitLabel)));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    replace(top);
    for (const el of Object.values(errs)) {
      el.textContent = '';
      el.parentNode.classList.remove('invalid');
    }
    const v = Object.fromEntries(fields.map((f) => [f.name, f.input.value]));
    try {
      await onSubmit(v);
      for (const f of fields) if (f.input.tagName === 'INPUT') f.input.value = '';
      form.closest('details')?.removeAttribute('open');
    } catch (err) {
      const other = [];
      if (err instanceof ApiError) {
        for (const [k, msg] of Object.entries(err.fields)) {
          if (errs[k]) { errs[k].textContent = `${k} ${msg}`; errs[k].parentNode.classList.add('invalid'); } else other.push(`${k}: ${msg}`);
        }
      }
      replace(top, alert('danger', message(err), other.join('; ') || null));
    }
  });
  return form;
}

// editUser changes a user's roles, password or disabled flag in a dialog.
function editUser(u, done) {
  const roles = h('input', {id: 'edit-roles', value: (u.roles || []).join(', '), autocomplete: 'off'});
  const pass = h('input', {id: 'edit-password', type: 'password', autocomplete: 'new-password', placeholder: 'unchanged'});
  const disabled = h('input', {id: 'edit-disabled', type: 'checkbox', class: 'switch', checked: Boolean(u.disabled)});
  const err = h('div', {});
  const dlg = h('dialog', {class: 'dialog', 'aria-labelledby': 'edit-user-title'});
  const form = h('form', {novalidate: true},
    h('h2', {id: 'edit-user-title'}, `Edit ${u.name}`),
    err,
    h('div', {class: 'field'}, h('label', {for: 'edit-roles'}, 'Roles'), roles, h('p', {class: 'hint'}, 'comma-separated')),
    h('div', {class: 'field'}, h('label', {for: 'edit-password'}, 'New password'), pass, h('p', {class: 'hint'}, 'leave empty to keep it; a new one ends their sessions')),
    h('div', {class: 'field switch-row'}, disabled, h('label', {for: 'edit-disabled'}, 'Disabled: cannot sign in, sessions end')),
    h('div', {class: 'dialog-actions'},
      button('Cancel', {onclick: () => dlg.close()}),
      h('button', {type: 'submit', class: 'btn btn-primary'}, 'Save')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = {};
    const r = roleList(roles.value);
    if (r.join(',') !== (u.roles || []).join(',')) body.roles = r;
    if (pass.value) body.password = pass.value;
    if (disabled.checked !== Boolean(u.disabled)) body.disabled = disabled.checked;
    if (!Object.keys(body).length) { dlg.close(); return; }
    try {
      await api('PATCH', `/api/_users/${encodeURIComponent(u.name)}`, {body});
      toast(`User ${u.name} saved`);
      dlg.close();
      done();
    } catch (ex) {
      const f = ex instanceof ApiError ? Object.entries(ex.fields).map(([k, m]) => `${k} ${m}`).join('; ') : '';
      replace(err, alert('danger', message(ex), f || null));
    }
  });
  dlg.appendChild(form);
  dlg.addEventListener('close', () => dlg.remove());
  document.body.appendChild(dlg);
  dlg.showModal();
}
