// The sidecar's API, as the page uses it: requests with the tab's token,
// the token prompt on 401, and event streams read with fetch (EventSource
// cannot send an Authorization header, and a token in a URL would end up in
// logs).

const KEY = 'dprop.token';

export function token() { return sessionStorage.getItem(KEY) || ''; }

export function forgetToken() {
  sessionStorage.removeItem(KEY);
  document.getElementById('forget').hidden = true;
}

let prompt = null; // the pending token prompt, shared by every request that got 401

// askToken shows the token form and resolves once a token is given.
function askToken(why) {
  if (prompt) return prompt;
  const box = document.getElementById('token');
  const form = document.getElementById('token-form');
  const input = document.getElementById('token-input');
  document.getElementById('token-why').textContent = why;
  box.hidden = false;
  input.value = '';
  input.focus();
  prompt = new Promise(resolve => {
    form.onsubmit = e => {
      e.preventDefault();
      const t = input.value.trim();
      if (!t) return;
      sessionStorage.setItem(KEY, t);
      document.getElementById('forget').hidden = false;
      box.hidden = true;
      prompt = null;
      resolve();
    };
  });
  return prompt;
}

// APIError is a non-2xx answer: its status, reason and message.
export class APIError extends Error {
  constructor(status, body) {
    super(body && body.error ? body.error : 'HTTP ' + status);
    this.status = status;
    this.reason = body && body.reason;
  }
}

export async function apiError(res) {
  let body = null;
  try { body = await res.json(); } catch (_) { /* not JSON */ }
  return new APIError(res.status, body);
}

// request fetches path with the token, asking for one (and trying again)
// when the sidecar answers 401.
export async function request(path, opts = {}) {
  for (;;) {
    const headers = new Headers(opts.headers || {});
    const t = token();
    if (t) headers.set('Authorization', 'Bearer ' + t);
    const res = await fetch(path, { ...opts, headers, cache: 'no-store', credentials: 'omit' });
    if (res.headers.get('Dprop-Stale') === 'true') staleSeen();
    if (res.status !== 401) return res;
    const err = await apiError(res);
    await askToken(t ? 'The token was refused: ' + err.message : err.message);
  }
}

export async function getJSON(path) {
  const res = await request(path);
  if (!res.ok) throw await apiError(res);
  return res.json();
}

let staleTimer = 0;
function staleSeen() {
  const b = document.getElementById('stale');
  b.hidden = false;
  clearTimeout(staleTimer);
  staleTimer = setTimeout(() => { b.hidden = true; }, 10000);
}

// setLive shows the state of the view's event stream in the header.
export function setLive(state, detail) {
  const el = document.getElementById('live');
  el.textContent = state;
  el.className = 'live ' + state;
  el.title = 'live updates: ' + state + (detail ? ' (' + detail + ')' : '');
}

const sleep = ms => new Promise(r => setTimeout(r, ms));

// events reads the Server-Sent Events of path and calls onChange with the
// data of each change event; it reconnects after the server's retry delay
// when the stream ends or fails (values only grow, so the first events of
// a new stream say everything the lost ones did). It returns a function
// that stops it.
export function events(path, onChange) {
  const ctl = new AbortController();
  let stopped = false;
  (async () => {
    let delay = 1000;
    while (!stopped) {
      try {
        const res = await request(path, { signal: ctl.signal, headers: { Accept: 'text/event-stream' } });
        if (!res.ok) throw await apiError(res);
        setLive('live');
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let end;
          while ((end = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, end);
            buf = buf.slice(end + 2);
            let type = 'message';
            const data = [];
            for (const line of block.split('\n')) {
              if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
              else if (line.startsWith('event:')) type = line.slice(6).trim();
              else if (line.startsWith('retry:')) delay = Number(line.slice(6)) || delay;
            }
            if (type === 'change' && data.length) onChange(JSON.parse(data.join('\n')));
          }
        }
      } catch (e) {
        if (stopped) return;
        setLive('down', e.message);
      }
      if (stopped) return;
      setLive('reconnecting');
      await sleep(delay);
    }
  })();
  return () => { stopped = true; ctl.abort(); };
}

// debounce runs fn at most once per ms, after the last call.
export function debounce(fn, ms) {
  let t = 0;
  const d = () => { clearTimeout(t); t = setTimeout(fn, ms); };
  d.cancel = () => clearTimeout(t);
  return d;
}

// el makes an element: el('td', {class: 'x'}, 'text', child...).
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

export function cellHref(name) { return '#/cell/' + encodeURIComponent(name); }
