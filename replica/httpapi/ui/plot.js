// A plot of a cell's changes, one point per change, oldest on the left:
// numbers, max/min and counter totals as a line; intervals and ranges as a
// band (each change a bar from its low to its high bound); set sizes as a
// step line. Changes are spaced evenly: a cell may change many times in a
// second and then not for a day.

import { num, plotY, when } from './render.js';

const NS = 'http://www.w3.org/2000/svg';
const W = 640, H = 220, L = 56, R = 12, T = 12, B = 30;

function s(tag, attrs, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

// plot returns an <svg> for the changes ({time, value}) of a cell whose
// plot kind is kind ('line', 'band' or 'step').
export function plot(kind, changes) {
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'plot ' + kind, id: 'plot', role: 'img' });
  const pts = changes.map(c => ({ time: c.time, y: plotY(c.value), value: c.value }));
  const finite = [];
  for (const p of pts) {
    for (const v of Array.isArray(p.y) ? p.y : [p.y]) if (Number.isFinite(v)) finite.push(v);
  }
  if (!pts.length || !finite.length) {
    svg.append(s('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'muted' }, 'no change to plot yet'));
    return svg;
  }
  let lo = Math.min(...finite), hi = Math.max(...finite);
  if (lo === hi) { lo -= 1; hi += 1; }
  const pad = (hi - lo) * 0.08;
  lo -= pad; hi += pad;
  const x = i => pts.length === 1 ? L + (W - L - R) / 2 : L + i * (W - L - R) / (pts.length - 1);
  const y = v => v === Infinity ? T : v === -Infinity ? H - B : T + (hi - v) * (H - T - B) / (hi - lo);

  // Axes: the value range on the left, the first and last times below.
  svg.append(s('line', { x1: L, y1: T, x2: L, y2: H - B, class: 'axis' }), s('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, class: 'axis' }));
  for (const v of [hi - pad, (hi + lo) / 2, lo + pad]) {
    svg.append(s('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'tick' }, num(v)),
      s('line', { x1: L, y1: y(v), x2: W - R, y2: y(v), class: 'grid' }));
  }
  svg.append(s('text', { x: L, y: H - 8, class: 'tick' }, when(pts[0].time)));
  if (pts.length > 1) svg.append(s('text', { x: W - R, y: H - 8, 'text-anchor': 'end', class: 'tick' }, when(pts[pts.length - 1].time)));

  const ok = pts.map(p => p.y !== null && p.y !== undefined);
  if (kind === 'band') {
    // The band: the area between the low and high bounds, change after change.
    const top = [], bottom = [];
    pts.forEach((p, i) => { if (ok[i]) { top.push(`${x(i)},${y(p.y[1])}`); bottom.unshift(`${x(i)},${y(p.y[0])}`); } });
    svg.append(s('polygon', { points: top.concat(bottom).join(' '), class: 'band' }));
    pts.forEach((p, i) => {
      if (!ok[i]) return;
      const bar = s('line', { x1: x(i), y1: y(p.y[0]), x2: x(i), y2: y(p.y[1]), class: 'pt' });
      bar.append(s('title', {}, `${when(p.time)}: ${num(p.y[0])} … ${num(p.y[1])}`));
      svg.append(bar);
    });
    return svg;
  }
  let d = '';
  pts.forEach((p, i) => {
    if (!ok[i]) return;
    if (!d) d = `M${x(i)},${y(p.y)}`;
    else d += kind === 'step' ? ` H${x(i)} V${y(p.y)}` : ` L${x(i)},${y(p.y)}`;
  });
  svg.append(s('path', { d, class: 'line' }));
  pts.forEach((p, i) => {
    if (!ok[i]) return;
    const c = s('circle', { cx: x(i), cy: y(p.y), r: 3.5, class: 'pt' });
    c.append(s('title', {}, `${when(p.time)}: ${num(p.y)}`));
    svg.append(c);
  });
  return svg;
}
