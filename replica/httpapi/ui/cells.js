// The cells view: a page of cells at a time from GET /v1/cells (the API
// pages; so does the table), kept live by one event stream of the filter's
// pattern. An event changes its row at once; the row's update count and
// time follow from one listing of the page, fetched once events pause.

import { getJSON, events, debounce, el, cellHref } from './api.js';
import { human, isContradiction, when } from './render.js';

export const PAGE = 100;

export function cellsView(main, params) {
  const match = params.get('match') || '';
  const state = { cursors: [''], page: 0, rows: [], index: new Map(), next: '', stop: null };
  const filter = el('input', { type: 'search', id: 'filter', placeholder: 'filter: a name or pattern (weather.*.temp, weather.>)', value: match, spellcheck: 'false' });
  const form = el('form', { class: 'toolbar', onsubmit: e => {
    e.preventDefault();
    const m = filter.value.trim();
    location.hash = '#/cells' + (m ? '?match=' + encodeURIComponent(m) : '');
  } }, filter, el('button', { type: 'submit' }, 'Filter'));
  const info = el('span', { class: 'muted', id: 'page-info' });
  const prev = el('button', { type: 'button', onclick: () => go(state.page - 1) }, '‹ Previous');
  const next = el('button', { type: 'button', onclick: () => go(state.page + 1) }, 'Next ›');
  const error = el('p', { class: 'error', hidden: true });
  const tbody = el('tbody');
  const table = el('table', { class: 'cells', id: 'cells' },
    el('thead', {}, el('tr', {}, el('th', {}, 'Cell'), el('th', {}, 'Type'), el('th', {}, 'Value'),
      el('th', {}, 'Last change'), el('th', { class: 'num' }, 'Updates'))), tbody);
  main.replaceChildren(el('h1', {}, 'Cells'), form, error, table, el('div', { class: 'pager' }, prev, info, next));

  const refresh = debounce(() => load(false), 400);

  async function load(first) {
    const q = new URLSearchParams({ values: 'true', times: 'true', limit: String(PAGE) });
    if (match) q.set('match', match);
    if (state.cursors[state.page]) q.set('after', state.cursors[state.page]);
    try {
      const body = await getJSON('/v1/cells?' + q);
      error.hidden = true;
      state.rows = body.cells;
      state.index = new Map(body.cells.map((c, i) => [c.cell, i]));
      state.next = body.next || '';
      state.cursors[state.page + 1] = state.next;
      render();
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
      if (first) state.rows = [];
      render();
    }
  }

  function go(page) {
    if (page < 0 || (page > state.page && !state.next)) return;
    state.page = page;
    load(true);
  }

  function render() {
    tbody.replaceChildren(...state.rows.map(row));
    const from = state.page * PAGE;
    info.textContent = state.rows.length ? `cells ${from + 1}–${from + state.rows.length}${state.next ? '' : ' (end)'}` :
      (match ? 'no cell matches ' + match : 'no cells yet');
    prev.disabled = state.page === 0;
    next.disabled = !state.next;
  }

  function row(c) {
    const bad = isContradiction(c.value);
    const value = el('td', { class: 'value' }, human(c.value));
    if (bad) value.title = c.contradiction || '';
    const tr = el('tr', { 'data-cell': c.cell, class: bad ? 'contradiction' : null },
      el('td', { class: 'name' }, el('a', { href: cellHref(c.cell) }, c.cell)),
      el('td', { class: 'type' }, c.type || '—'),
      value,
      el('td', { class: 'when', title: c.time || '' }, el('span', {}, when(c.time)), ' ', el('span', { class: 'muted' }, '#' + c.seq)),
      el('td', { class: 'num' }, String(c.updates)));
    if (c.flash) {
      tr.classList.add('flash');
      c.flash = false;
    }
    return tr;
  }

  // change applies an event: the row's value at once, the rest with the
  // next listing of the page.
  function change(ev) {
    const i = state.index.has(ev.cell) ? state.index.get(ev.cell) : -1;
    if (i >= 0) {
      const r = state.rows[i];
      if (ev.seq <= r.seq && r.etag === ev.etag) return; // already shown (a new stream starts with current values)
      Object.assign(r, { type: ev.type, seq: ev.seq, etag: ev.etag, value: ev.value, flash: true,
        contradiction: isContradiction(ev.value) ? ev.value.reason : undefined });
      tbody.children[i].replaceWith(row(r));
      refresh();
      return;
    }
    // A cell not on the page: it belongs here if it sorts within it, or
    // after it on the last page.
    const rows = state.rows;
    const first = rows.length ? rows[0].cell : undefined;
    const last = rows.length ? rows[rows.length - 1].cell : undefined;
    if (rows.length < PAGE && !state.next || (first !== undefined && ev.cell > first && (ev.cell < last || !state.next))) {
      refresh();
    }
  }

  // The stream starts once the first page is shown: its first events are
  // the current value of every matching cell (10,000 of them, say), which
  // the page would otherwise read before it could show anything.
  let closed = false;
  load(true).then(() => {
    if (!closed) state.stop = events('/v1/events' + (match ? '?match=' + encodeURIComponent(match) : ''), change);
  });
  return () => { closed = true; if (state.stop) state.stop(); refresh.cancel(); };
}
