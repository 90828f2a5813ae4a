// dprop's web page: a router over the views, each of which returns a
// function that stops it (its event stream, its timers) when another view
// opens. Routes: #/cells[?match=P], #/cell/NAME, #/network, #/health.

import { forgetToken, token, setLive } from './api.js';
import { cellsView } from './cells.js';
import { cellView } from './cell.js';
import { networkView } from './network.js';
import { healthView } from './health.js';

let stop = () => {};

function route() {
  stop();
  const main = document.getElementById('main');
  const [path, query] = (location.hash.slice(1) || '/cells').split('?');
  const params = new URLSearchParams(query || '');
  const parts = path.split('/').filter(Boolean);
  const view = parts[0] || 'cells';
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.view === (view === 'cell' ? 'cells' : view));
  setLive('connecting');
  window.scrollTo(0, 0);
  switch (view) {
    case 'cell': stop = cellView(main, decodeURIComponent(parts.slice(1).join('/'))); break;
    case 'network': stop = networkView(main); break;
    case 'health': stop = healthView(main); setLive('polling'); break;
    default: stop = cellsView(main, params);
  }
  document.title = 'dprop · ' + (view === 'cell' ? decodeURIComponent(parts.slice(1).join('/')) : view);
}

document.getElementById('forget').hidden = !token();
document.getElementById('forget').addEventListener('click', () => { forgetToken(); route(); });
window.addEventListener('hashchange', route);
route();
