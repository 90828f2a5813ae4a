// The cell view: the value in full, the history from the log, a plot of
// the changes, and forms to try a threshold read or a refine.

import { request, getJSON, events, debounce, el } from './api.js';
import { human, isContradiction, plotKind, when } from './render.js';
import { plot } from './plot.js';

const HISTORY = 1000;

export function cellView(main, name) {
  const state = { cell: null, entries: [], stop: null, more: false };
  const title = el('h1', {}, name);
  const summary = el('div', { class: 'summary', id: 'cell-summary' });
  const full = el('pre', { class: 'json', id: 'cell-value' });
  const plotBox = el('div', { class: 'plot-box' });
  const history = el('tbody');
  const note = el('p', { class: 'muted small' });
  const error = el('p', { class: 'error', hidden: true });
  main.replaceChildren(
    el('p', {}, el('a', { href: '#/cells' }, '‹ Cells')), title, error, summary,
    el('section', { class: 'plot-section' }, el('h2', {}, 'Changes'), plotBox),
    el('section', {}, el('h2', {}, 'Value'), full),
    el('section', {}, el('h2', {}, 'History'), note,
      el('div', { class: 'scroll' }, el('table', { class: 'history', id: 'history' },
        el('thead', {}, el('tr', {}, el('th', {}, 'Seq'), el('th', {}, 'Time'), el('th', {}, 'Update'), el('th', {}, 'Effect'), el('th', {}, 'By'))), history))),
    forms(name, () => state.cell));

  async function loadCell() {
    try {
      const body = await getJSON('/v1/cells?' + new URLSearchParams({ match: name, values: 'true', times: 'true', limit: '1' }));
      state.cell = body.cells.find(c => c.cell === name) || null;
      error.hidden = true;
      renderCell();
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
    }
  }

  function renderCell() {
    const c = state.cell;
    if (!c) {
      summary.replaceChildren(el('p', { class: 'muted' }, 'No update has reached this cell yet: it shows here when one does.'));
      full.textContent = '';
      return;
    }
    const bad = isContradiction(c.value);
    summary.className = 'summary' + (bad ? ' contradiction' : '');
    summary.replaceChildren(...[
      el('div', { class: 'big', id: 'cell-human' }, human(c.value)),
      el('dl', {},
        el('dt', {}, 'type'), el('dd', {}, c.type || '—'),
        el('dt', {}, 'last change'), el('dd', {}, `#${c.seq} ${when(c.time)}`),
        el('dt', {}, 'updates'), el('dd', {}, String(c.updates)),
        el('dt', {}, 'ETag'), el('dd', {}, el('code', {}, c.etag))),
      bad ? el('p', { class: 'why' }, 'Contradiction: ' + (c.value.reason || '') + (c.value.from ? ' (from ' + c.value.from.join(', ') + ')' : '')) : null,
    ].filter(Boolean));
    full.textContent = JSON.stringify(c.value, null, 2);
  }

  async function loadHistory(since) {
    const q = new URLSearchParams({ limit: String(HISTORY) });
    if (since) q.set('since', since);
    try {
      const body = await getJSON(`/v1/cells/${encodeURIComponent(name)}/history?` + q);
      const last = state.entries.length ? state.entries[state.entries.length - 1].seq : 0;
      const fresh = body.entries.filter(e => e.seq > last);
      if (!since && body.entries.length === HISTORY) state.more = true;
      state.entries.push(...fresh);
      renderHistory();
    } catch (e) {
      note.textContent = 'History not available: ' + e.message;
    }
  }

  function renderHistory() {
    const changes = state.entries.filter(e => e.changed && e.value);
    note.textContent = `${state.entries.length} updates in the log, ${changes.length} of them changes` +
      (state.more ? ` (the first ${HISTORY} of the log, then those since)` : '') + '; newest first.';
    history.replaceChildren(...state.entries.slice().reverse().map(e => el('tr', { class: e.refused ? 'refused' : e.changed ? 'changed' : '' },
      el('td', { class: 'num' }, String(e.seq)),
      el('td', { title: e.time }, when(e.time)),
      el('td', {}, el('code', {}, typeof e.update === 'string' ? e.update : JSON.stringify(e.update))),
      el('td', {}, e.refused ? 'refused: ' + e.refused + (e.error ? ' — ' + e.error : '') : e.rollup ? 'rollup' : e.changed ? 'changed → ' + human(e.value) : 'nothing new'),
      el('td', { class: 'small' }, e.propagator ? 'propagator ' + e.propagator : e.origin || ''))));
    const kind = plotKind(state.cell ? state.cell.type : (changes[0] && changes[0].value.type));
    plotBox.replaceChildren(kind ? plot(kind, changes) : el('p', { class: 'muted' }, 'No plot for this type: the history says it all.'));
  }

  const follow = debounce(() => {
    loadCell();
    const last = state.entries[state.entries.length - 1];
    loadHistory(last ? last.time : '');
  }, 250);

  loadCell().then(() => loadHistory(''));
  state.stop = events(`/v1/cells/${encodeURIComponent(name)}/events`, ev => {
    if (state.cell && ev.seq <= state.cell.seq) return; // the current value, at the stream's start
    follow();
  });
  return () => { state.stop(); follow.cancel(); };
}

// forms are the threshold read and refine forms.
function forms(name, current) {
  const out = el('pre', { class: 'json result', id: 'try-result', hidden: true });
  const awaitValue = el('textarea', { id: 'await-value', rows: 3, spellcheck: 'false', placeholder: '{"type":"max","value":3}' });
  const timeout = el('input', { id: 'await-timeout', value: '10s', size: 6 });
  const refineValue = el('textarea', { id: 'refine-value', rows: 3, spellcheck: 'false', placeholder: '{"type":"range","min":30,"max":40}' });
  const key = el('input', { id: 'refine-key', placeholder: 'optional', size: 16 });
  const fill = t => el('button', { type: 'button', class: 'small', onclick: () => { if (current()) t.value = JSON.stringify(current().value); } }, 'the current value');

  async function show(res) {
    const lines = [`HTTP ${res.status} ${res.statusText}`];
    for (const h of ['Dprop-Seq', 'Dprop-Type', 'Dprop-Updates', 'ETag', 'Dprop-Contradiction', 'Dprop-Duplicate', 'Dprop-Stale']) {
      if (res.headers.get(h)) lines.push(`${h}: ${res.headers.get(h)}`);
    }
    const text = await res.text();
    out.textContent = lines.join('\n') + '\n\n' + text;
    out.className = 'json result ' + (res.ok ? 'ok' : 'bad');
    out.hidden = false;
  }
  async function run(fn) {
    out.hidden = false;
    out.className = 'json result';
    out.textContent = 'waiting…';
    try { await show(await fn()); } catch (e) { out.textContent = e.message; }
  }

  return el('section', { class: 'try' }, el('h2', {}, 'Try it'),
    el('div', { class: 'forms' },
      el('form', { id: 'await-form', onsubmit: e => {
        e.preventDefault();
        const q = new URLSearchParams({ await: awaitValue.value.trim(), timeout: timeout.value.trim() });
        run(() => request(`/v1/cells/${encodeURIComponent(name)}?` + q));
      } }, el('h3', {}, 'Threshold read'),
      el('p', { class: 'muted small' }, 'Waits until the cell is at least as informative as this value, then answers with the cell.'),
      awaitValue, el('div', {}, fill(awaitValue)), el('label', {}, 'timeout ', timeout), el('button', { type: 'submit' }, 'Read')),
      el('form', { id: 'refine-form', onsubmit: e => {
        e.preventDefault();
        const headers = { 'Content-Type': 'application/json' };
        if (key.value.trim()) headers['Idempotency-Key'] = key.value.trim();
        run(() => request(`/v1/cells/${encodeURIComponent(name)}`, { method: 'POST', headers, body: refineValue.value.trim() }));
      } }, el('h3', {}, 'Refine'),
      el('p', { class: 'muted small' }, 'Merges this value into the cell (it never overwrites) and answers with the merged cell.'),
      refineValue, el('div', {}, fill(refineValue)), el('label', {}, 'Idempotency-Key ', key), el('button', { type: 'submit' }, 'Refine'))),
    out);
}

