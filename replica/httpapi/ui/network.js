// The network view: the drawing of GET /v1/network/graph (laid out once by
// the sidecar), whose cells show their live values from an event stream of
// the network's cells, and whose propagators show their runs and failures
// here, from GET /v1/network (read again when cells change, and every 10 s
// while shown, since no stream carries them). Clicking a cell opens it;
// clicking a propagator shows what it is. Below it, the live networks
// (kept in the log, or a file's templates): per network its members, and
// per template its patterns and the instances known and running here. A
// sidecar with live networks and no network file shows only those, read
// every 3 s.

import { request, getJSON, apiError, events, debounce, el, cellHref } from './api.js';
import { human, isContradiction } from './render.js';

export function networkView(main) {
  const state = { net: null, svg: null, stop: null, timer: 0, values: new Map() };
  const box = el('div', { class: 'graph', id: 'graph' }, el('p', { class: 'muted' }, 'Loading the network…'));
  const side = el('aside', { class: 'detail', id: 'detail', hidden: true });
  const fit = el('button', { type: 'button', id: 'fit', onclick: () => box.classList.toggle('natural') }, 'Fit / 100%');
  const head = el('p', { class: 'muted' });
  const liveBox = el('section', { id: 'networks', hidden: true });
  main.replaceChildren(el('h1', {}, 'Network'), el('div', { class: 'toolbar' }, head, fit), box, side, liveBox);

  async function load() {
    try {
      const net = await getJSON('/v1/network');
      paintLive(net.live);
      if (!net.file) { // live networks only: nothing to draw, no cells to follow
        state.timer = setInterval(counters, 3000);
        fit.hidden = true;
        head.textContent = `${(net.live || []).length} live network(s); no network file`;
        box.replaceChildren(el('p', { class: 'muted' }, 'This sidecar runs no network file (--network): only the live networks below.'));
        return;
      }
      const res = await request('/v1/network/graph');
      if (!res.ok) throw await apiError(res);
      state.net = net;
      head.textContent = `${net.file.split('/').pop()}: ${net.cells.length} cells, ${net.propagators.length} propagators` + (net.description ? ' — ' + net.description : '');
      const doc = new DOMParser().parseFromString(await res.text(), 'image/svg+xml');
      const svg = doc.documentElement;
      if (svg.nodeName !== 'svg') throw new Error('the drawing is not SVG');
      for (const bad of svg.querySelectorAll('script, foreignObject')) bad.remove();
      state.svg = document.importNode(svg, true);
      box.replaceChildren(state.svg);
      // Fitted to the page while that keeps its text readable (three
      // quarters of its size or more); at its own size, scrolled, beyond.
      const natural = Number(state.svg.getAttribute('width')) || 0;
      box.classList.toggle('natural', natural * 0.75 > box.clientWidth);
      state.svg.addEventListener('click', click);
      for (const [cell, v] of state.values) paintCell(cell, v);
      paintPropagators();
      const cells = net.cells.map(c => c.cell);
      state.stop = events('/v1/events?match=' + encodeURIComponent(cover(cells)), ev => {
        if (!cells.includes(ev.cell)) return;
        state.values.set(ev.cell, ev.value);
        paintCell(ev.cell, ev.value);
        counters();
      });
      state.timer = setInterval(counters, 10000);
    } catch (e) {
      box.replaceChildren(el('p', { class: e.status === 404 ? 'muted' : 'error' }, e.message));
    }
  }

  const counters = debounce(async () => {
    try {
      state.net = await getJSON('/v1/network');
      paintPropagators();
      paintLive(state.net.live);
    } catch (_) { /* shown on the next load */ }
  }, 500);

  // paintLive shows the live networks, one table of templates each.
  function paintLive(live) {
    liveBox.hidden = !live || live.length === 0;
    if (liveBox.hidden) return;
    liveBox.replaceChildren(el('h2', {}, 'Live networks'), ...live.map(n => el('div', { class: 'card', 'data-network': n.name },
      el('h3', {}, n.name + (n.shared ? ' (shared)' : '')),
      el('p', { class: 'muted' }, `${n.running} of ${n.propagators} propagator(s) run here` +
        (n.shared ? `; members: ${(n.members || []).join(', ') || 'none heard yet'}` : '') +
        (n.type_conflicts ? `; ${n.type_conflicts} type conflict(s)` : '')),
      (n.templates || []).length === 0 ? null : el('table', { class: 'templates' },
        el('thead', {}, el('tr', {}, el('th', {}, 'template'), el('th', {}, 'kind'), el('th', {}, 'inputs → outputs'),
          el('th', { class: 'num' }, 'instances'), el('th', { class: 'num' }, 'running here'))),
        el('tbody', {}, ...n.templates.map(t => el('tr', {},
          el('td', { class: 'name' }, t.template), el('td', {}, t.kind || '—'),
          el('td', { class: 'name' }, (t.inputs || []).join(', ') + ' → ' + (t.outputs || []).join(', ')),
          el('td', { class: 'num' }, String(t.instances)), el('td', { class: 'num' }, String(t.running)))))))));
  }

  function node(id) { return state.svg && state.svg.getElementById(id); }

  function paintCell(cell, v) {
    const g = node('cell:' + cell);
    if (!g) return;
    const text = g.querySelector('text.value');
    const rect = g.querySelector('rect');
    const width = rect ? Number(rect.getAttribute('width')) : 200;
    const s = human(v);
    const max = Math.floor((width - 20) / 7.3);
    text.textContent = s.length > max ? s.slice(0, max - 1) + '…' : s;
    g.classList.toggle('contradiction', isContradiction(v));
    g.classList.add('flash');
    setTimeout(() => g.classList.remove('flash'), 700);
    const title = g.querySelector('title');
    if (title) title.textContent = `${cell}: ${s}`;
  }

  function paintPropagators() {
    if (!state.net || !state.svg) return;
    state.net.propagators.forEach((p, i) => {
      const g = node('prop:' + i);
      if (!g) return;
      g.querySelector('text.stats').textContent = p.here ? `runs ${p.runs} · failures ${p.failures}` : 'runs elsewhere';
      g.classList.toggle('failing', p.failures > 0 || p.failing);
      g.classList.toggle('elsewhere', !p.here);
    });
  }

  function click(e) {
    const g = e.target.closest('g.node');
    if (!g) return;
    if (g.dataset.cell) {
      location.hash = cellHref(g.dataset.cell);
      return;
    }
    const p = state.net.propagators[Number(g.id.slice('prop:'.length))];
    if (!p) return;
    const cells = names => el('ul', {}, ...names.map(n => el('li', {}, el('a', { href: cellHref(n) }, n))));
    side.replaceChildren(...[el('h2', {}, p.name),
      el('button', { type: 'button', class: 'close', onclick: () => { side.hidden = true; } }, '×'),
      el('dl', {}, el('dt', {}, 'kind'), el('dd', {}, p.kind), el('dt', {}, 'group'), el('dd', {}, p.group || '—'),
        el('dt', {}, 'here'), el('dd', {}, p.here ? 'runs on this sidecar' : 'not run by this sidecar'),
        el('dt', {}, 'runs'), el('dd', {}, String(p.runs)), el('dt', {}, 'failures'), el('dd', {}, String(p.failures) + (p.failing ? ' (its last run failed)' : '')),
        el('dt', {}, 'refinements'), el('dd', {}, String(p.refinements))),
      p.contradicted ? el('p', { class: 'why' }, 'An input was a contradiction: its outputs are contradictions too, and it no longer runs.') : null,
      p.description ? el('p', {}, p.description) : null,
      el('h3', {}, 'inputs'), cells(p.inputs), el('h3', {}, 'outputs'), cells(p.outputs)].filter(Boolean));
    side.hidden = false;
  }

  load();
  return () => { if (state.stop) state.stop(); clearInterval(state.timer); counters.cancel(); };
}

// cover is the narrowest pattern that matches every name: their common
// leading tokens and '>', or the name itself when there is one.
export function cover(names) {
  if (names.length === 0) return '>';
  if (names.length === 1) return names[0];
  const split = names.map(n => n.split('.'));
  const common = [];
  for (let i = 0; split.every(t => t.length > i + 1 && t[i] === split[0][i]); i++) common.push(split[0][i]);
  return common.length ? common.join('.') + '.>' : '>';
}
