// Rules: the files in force, their version, the last reload's report
// (errors as file:line), and a reload button.

import {api, get, message, ApiError} from '../api.js';
import {h, replace, pageHeader, card, alert, badge, table, time, button, empty} from '../dom.js';

export async function render(view, ctx) {
  let info;
  try {
    info = await get('/api/_rules');
  } catch (err) {
    replace(view, pageHeader('Rules'), alert('danger', 'The rules could not be read', message(err)));
    return;
  }
  const outcome = h('div', {id: 'reload-outcome', 'aria-live': 'polite'});
  const reload = button('Reload rules', {kind: 'primary', id: 'reload-rules'});
  reload.addEventListener('click', async () => {
    reload.disabled = true;
    reload.textContent = 'Reloading…';
    try {
      const rep = await api('POST', '/api/_rules/reload');
      replace(outcome, alert('ok', rep.changed ? `Deployed: version ${rep.version}` : 'Unchanged',
        rep.changed ? ['The new rules are active. ', h('a', {href: '#', onclick: (e) => { e.preventDefault(); location.reload(); }}, 'Reload the page'), ' to see model changes.']
          : 'The files match the rules in force already.', misfits(rep.misfits)));
      info = await get('/api/_rules');
      replace(lastBox, lastReload(info.last_reload));
      replace(activeBox, active(info));
    } catch (err) {
      if (err instanceof ApiError && err.status === 422 && err.body && err.body.reload) {
        replace(outcome, alert('danger', 'Refused: the previous rules stay active', errorList(err.body.reload.errors)));
        replace(lastBox, lastReload(err.body.reload));
      } else {
        replace(outcome, alert('danger', 'The reload failed', message(err)));
      }
    } finally {
      reload.disabled = false;
      reload.textContent = 'Reload rules';
    }
  });
  const activeBox = h('div', {}, active(info));
  const lastBox = h('div', {id: 'last-reload'}, lastReload(info.last_reload));
  replace(view,
    pageHeader('Rules', h('span', {}, 'Version ', h('code', {id: 'rules-version'}, info.version), ' · ', h('code', {}, info.dir || '')), reload),
    outcome,
    h('div', {class: 'grid-2'}, card('Files in force', activeBox), card('Last reload', lastBox)),
    h('p', {class: 'muted small'}, 'A reload reads the rules directory, checks every file, and deploys it through Raft only if all is well. ',
      'The node also reloads on SIGHUP and, with rules.watch, when a file changes. Check a directory from a shell with ',
      h('code', {}, 'lithair rules check DIR'), '.'));
}

function active(info) {
  const byFile = new Map(info.files.map((f) => [f, []]));
  for (const m of info.models) {
    if (m.file.startsWith('_')) continue;
    if (!byFile.has(m.file)) byFile.set(m.file, []);
    byFile.get(m.file).push(m);
  }
  const rows = [...byFile.entries()];
  if (!rows.length) return empty('No rule files', 'The directory holds no *.lua file.');
  return h('div', {},
    table([
      {label: 'File', cell: ([f]) => h('code', {}, f)},
      {label: 'Declares', cell: ([, ms]) => (ms.length ? ms.map((m, i) => [i ? ', ' : '', h('a', {href: `#/models/${encodeURIComponent(m.name)}`}, m.name)]) : h('span', {class: 'muted'}, 'projections or helpers'))},
    ], rows, {class: 'compact'}),
    info.projections.length ? h('p', {class: 'small'}, 'Projections: ', info.projections.map((p, i) => [i ? ', ' : '', h('a', {href: `#/projections/${encodeURIComponent(p)}`}, p)])) : null);
}

function lastReload(r) {
  if (!r) return empty('No reload yet', 'Since this node started, the rules have not been reloaded.');
  return h('div', {},
    h('dl', {class: 'meta meta-wide'},
      h('dt', {}, 'result'), h('dd', {}, badge(r.ok ? 'ok' : 'refused', r.ok ? 'ok' : 'danger'), r.ok ? (r.changed ? ' deployed' : ' unchanged') : ''),
      h('dt', {}, 'when'), h('dd', {}, time(r.at)),
      h('dt', {}, 'by'), h('dd', {}, r.trigger || '–'),
      h('dt', {}, 'version'), h('dd', {}, h('code', {}, r.version || '–'))),
    r.errors && r.errors.length ? errorList(r.errors) : null,
    misfits(r.misfits));
}

// errorList shows "file:line: message" lines with the place set apart.
function errorList(errors) {
  return h('ul', {class: 'rule-errors', id: 'rule-errors'}, (errors || []).map((e) => {
    const m = /^(.+?:\d+(?::\d+)?): (.*)$/s.exec(e);
    return h('li', {}, m ? [h('code', {class: 'place'}, m[1]), ' ', m[2]] : e);
  }));
}

function misfits(m) {
  const entries = Object.entries(m || {}).filter(([, n]) => n > 0);
  if (!entries.length) return null;
  return alert('warn', 'Records that no longer fit', h('ul', {class: 'plain'}, entries.map(([model, n]) =>
    h('li', {}, h('a', {href: `#/models/${encodeURIComponent(model)}`}, model), `: ${n} record${n === 1 ? '' : 's'} the new schema would refuse as they are; the next write to each must fit.`))));
}
