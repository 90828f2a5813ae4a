// Values for people: a range as "31 … 57", an interval as "[44.51, 47.24]",
// a set as its size and first elements, a counter as its total. And what a
// plot draws of each type.

// num shows a number with at most two decimals (more for small ones, so
// that they do not read as 0).
export function num(x) {
  if (x === undefined || x === null) return '?';
  if (!Number.isFinite(x)) return x > 0 ? '∞' : '−∞';
  if (Number.isInteger(x)) return String(x);
  const r = Math.round(x * 100) / 100;
  if (r !== 0) return String(r);
  return String(Number(x.toPrecision(2)));
}

function elem(e) {
  return typeof e === 'string' ? JSON.stringify(e) : String(e);
}

function list(elems, n) {
  const shown = elems.slice(0, n).map(elem).join(', ');
  return '{' + shown + (elems.length > n ? ', …' : '') + '}';
}

function sum(obj) { return Object.values(obj || {}).reduce((a, b) => a + b, 0); }

function orsetElems(v) { return (v.elems || []).map(e => e.elem); }

// human returns how a value reads: its text, and whether it is a
// contradiction.
export function human(v) {
  if (!v) return '—';
  switch (v.type) {
    case 'nothing': return '—';
    case 'number': case 'max': case 'min': case 'flag': return typeof v.value === 'number' ? num(v.value) : String(v.value);
    case 'range': return v.min === undefined && v.max === undefined ? 'empty' : num(v.min) + ' … ' + num(v.max);
    case 'interval': return (v.lo === undefined ? '(−∞' : '[' + num(v.lo)) + ', ' + (v.hi === undefined ? '∞)' : num(v.hi) + ']');
    case 'set': { const es = v.elems || []; return es.length + (es.length === 1 ? ' element ' : ' elements ') + list(es, 4); }
    case 'orset': { const es = orsetElems(v); return es.length + (es.length === 1 ? ' element ' : ' elements ') + list(es, 4); }
    case 'gcounter': return 'total ' + num(sum(v.counts));
    case 'pncounter': return 'total ' + num(sum(v.inc) - sum(v.dec));
    case 'lww': return short(JSON.stringify(v.value), 60);
    case 'map': { const ks = Object.keys(v.entries || {}); return ks.length + (ks.length === 1 ? ' key ' : ' keys ') + list(ks, 4); }
    case 'contradiction': return '⚠ ' + (v.reason || 'contradiction');
    default: return short(JSON.stringify(v), 60);
  }
}

export function short(s, n) { return s.length > n ? s.slice(0, n - 1) + '…' : s; }

export function isContradiction(v) { return !!v && v.type === 'contradiction'; }

// plotKind is how a cell of this type is plotted: 'line', 'band', 'step',
// or null when no picture helps.
export function plotKind(type) {
  switch (type) {
    case 'number': case 'max': case 'min': case 'gcounter': case 'pncounter': return 'line';
    case 'range': case 'interval': return 'band';
    case 'set': case 'orset': return 'step';
    default: return null;
  }
}

// plotY is what a plot draws of v: a number, [lo, hi] for a band, or null.
export function plotY(v) {
  if (!v) return null;
  switch (v.type) {
    case 'number': case 'max': case 'min': return v.value;
    case 'gcounter': return sum(v.counts);
    case 'pncounter': return sum(v.inc) - sum(v.dec);
    case 'range': return v.min === undefined ? null : [v.min, v.max];
    case 'interval': return [v.lo === undefined ? -Infinity : v.lo, v.hi === undefined ? Infinity : v.hi];
    case 'set': return (v.elems || []).length;
    case 'orset': return (v.elems || []).length;
    default: return null;
  }
}

// when shows a time: the clock time today, the date and time otherwise.
export function when(t) {
  if (!t) return '';
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return '';
  const today = new Date().toDateString() === d.toDateString();
  const pad = n => String(n).padStart(2, '0');
  const clock = pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  return today ? clock : d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' + clock;
}
