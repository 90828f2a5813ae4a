// The health view: /readyz (ready, stale, lag, the stream) and the figures
// of /metrics and /v1/status made readable: refusals by reason, propagator
// runs and failures, requests refused by authentication. The last two need
// the admin scope where the sidecar has tokens. Read every 3 s while shown:
// no stream carries them.

import { request, apiError, el } from './api.js';
import { num } from './render.js';

export function healthView(main) {
  const body = el('div', { id: 'health' }, el('p', { class: 'muted' }, 'Loading…'));
  main.replaceChildren(el('h1', {}, 'Health'), body);
  let timer = 0;

  async function load() {
    const parts = [];
    try {
      const res = await fetch('/readyz', { cache: 'no-store' });
      parts.push(readiness(await res.json()));
    } catch (e) {
      parts.push(el('p', { class: 'error' }, 'The sidecar does not answer: ' + e.message));
    }
    try {
      const res = await request('/v1/network');
      if (res.ok) parts.push(failing((await res.json()).propagators));
    } catch (_) { /* no network, or not readable: nothing to say */ }
    try {
      const res = await request('/metrics');
      if (!res.ok) throw await apiError(res);
      parts.push(figures(parseMetrics(await res.text())));
    } catch (e) {
      parts.push(el('p', { class: 'muted' }, 'Metrics: ' + e.message));
    }
    body.replaceChildren(...parts);
  }

  load();
  timer = setInterval(load, 3000);
  return () => clearInterval(timer);
}

function readiness(r) {
  const ok = r.ready;
  const rows = [
    ['ready', ok ? 'yes' : 'no'],
    ['stale', r.stale ? 'yes: answers may lag behind the stream' : 'no'],
    ['lag behind the log', `${r.pending} message(s) not yet folded`],
    ['folded up to', `#${r.applied}` + (r.resynced ? '' : ` of #${r.target} (${Math.round((r.fraction || 0) * 100)}% resynced)`)],
    ['cells held', String(r.cells)],
  ];
  if (r.quiescent !== undefined) rows.push(['propagators', r.quiescent ? 'settled' : 'working']);
  if (r.stream) rows.push(['stream', r.stream + (r.stream_since ? ' (since ' + r.stream_since + ')' : '')]);
  if (r.last_incident) rows.push(['last incident', r.last_incident]);
  for (const [k, v] of Object.entries(r.checks || {})) rows.push(['check ' + k, v]);
  if (r.worldview) { // supported cells: see docs/provenance.md
    const w = r.worldview;
    rows.push(['premises withdrawn', w.withdrawn.length ? w.withdrawn.join(', ') : 'none']);
    rows.push(['worldview', (w.inconsistent || []).length
      ? 'inconsistent: believes ' + w.inconsistent.map(n => '{' + n.join(', ') + '}').join(' and ') + ', which cannot all hold'
      : `consistent (${w.nogoods} nogood(s) known)`]);
  }
  return el('section', { class: 'card ' + (ok ? 'good' : 'bad'), id: 'readiness' },
    el('h2', {}, ok ? '● Ready' : '● Not ready'), table(rows));
}

// failing lists the propagators that failed here, if any.
function failing(props) {
  const bad = props.filter(p => p.failures > 0 || p.failing);
  return el('section', { class: 'card ' + (bad.length ? 'bad' : ''), id: 'failing' },
    el('h2', {}, bad.length ? 'Propagators that failed' : 'No propagator failed'),
    bad.length ? table(bad.map(p => [p.name, `${p.failures} failure(s) in ${p.runs} run(s)` + (p.failing ? ', failing now' : '')]))
      : el('p', { class: 'muted' }, `${props.filter(p => p.here).length} propagator(s) run here; see the network view.`));
}

function table(rows) {
  return el('table', { class: 'kv' }, el('tbody', {}, ...rows.map(([k, v]) => el('tr', {}, el('th', {}, k), el('td', {}, v)))));
}

// parseMetrics reads the Prometheus text exposition: name → [{labels, value}].
export function parseMetrics(text) {
  const out = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    for (const l of (m[3] || '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    if (!out.has(m[1])) out.set(m[1], []);
    out.get(m[1]).push({ labels, value: Number(m[4]) });
  }
  return out;
}

function figures(m) {
  const one = name => (m.get(name) || [{ value: 0 }])[0].value;
  const by = (name, label) => (m.get(name) || []).map(s => [s.labels[label], s.value]).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const refusals = by('dprop_updates_refused_total', 'reason');
  const refused = refusals.reduce((a, [, v]) => a + v, 0);
  const failures = by('dprop_propagator_failures_total', 'kind');
  const auth = by('dprop_http_auth_refused_total', 'reason');
  return el('div', { class: 'cards' },
    el('section', { class: 'card', id: 'updates' }, el('h2', {}, 'Updates'), table([
      ['folded', num(one('dprop_updates_folded_total'))],
      ['refused', num(refused)],
      ['stream attached', one('dprop_stream_attached') ? 'yes' : 'no'],
      ['event streams open', num(one('dprop_http_event_streams'))],
      ['threshold reads waiting', num(one('dprop_http_pending_awaits'))]])),
    el('section', { class: 'card', id: 'refusals' }, el('h2', {}, 'Refusals by reason'),
      refused ? table(refusals.filter(([, v]) => v > 0).map(([k, v]) => [k, num(v)])) : el('p', { class: 'muted' }, 'none'),
      el('p', { class: 'muted small' }, 'Bad updates refused by the fold (every replica refuses them alike); see docs/api.md.')),
    el('section', { class: 'card', id: 'propagators' }, el('h2', {}, 'Propagators'), table([
      ['runs', num(one('dprop_propagator_runs_total'))],
      ['refinements published', num(one('dprop_propagator_refinements_total'))],
      ['refinements that added nothing', num(one('dprop_propagator_suppressed_total'))],
      ...failures.map(([k, v]) => ['failures (' + k + ')', num(v)]),
      ['settled', one('dprop_quiescent') ? 'yes' : 'no']])),
    el('section', { class: 'card', id: 'auth' }, el('h2', {}, 'Requests refused'), table(auth.map(([k, v]) => [k, num(v)]))));
}
