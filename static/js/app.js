// The dashboard: wires the live socket, the store and the views together.
//
// Changes are applied to the store as they arrive and drawn at most once per
// animation frame; timers (time in state, call durations, countdowns) tick once a
// second. Test hook: `window.switchboard` exposes the store, the socket state and
// what drawing cost (`perf`).

import { api, ApiError, wsRefusal } from './api.js';
import { Banner } from './banner.js';
import { CallsView } from './calls.js';
import { QueuesView } from './queues.js';
import { Grid } from './grid.js';
import { Store } from './store.js';
import { pbxSummary } from './summary.js';
import { LiveSocket } from './ws.js';

const $ = (id) => document.getElementById(id);

const store = new Store();
let wsStatus = { state: 'connecting', attempts: 0, nextAttempt: null, reason: '' };
/** Why the service refused this page (HTTP 401), shown until the feed opens. */
let authProblem = '';
/** Drawing cost, for the console and the browser test: first full grid (ms after
 * navigation start), changes applied, frames drawn, ms spent drawing. */
const perf = { firstRender: null, changes: 0, draws: 0, drawMs: 0 };

const grid = new Grid(store, {
  list: $('extensions'),
  search: $('ext-search'),
  stateFilter: $('state-filter'),
  pbxFilter: $('pbx-filter'),
  pbxFilterBox: $('pbx-filter-box'),
  empty: $('ext-empty'),
  total: $('ext-total'),
});
const calls = new CallsView(store, {
  body: $('calls'),
  count: $('calls-count'),
  empty: $('calls-empty'),
  more: $('calls-more'),
  recentBody: $('recent'),
  recentEmpty: $('recent-empty'),
});
const queues = new QueuesView(store, {
  panel: $('queues-panel'),
  list: $('queues'),
  count: $('queues-waiting'),
  empty: $('queues-empty'),
});
const socket = new LiveSocket({ onMessage, onStatus, onRefused });
const banner = new Banner($('banner'), () => socket.reconnectNow());

// Drawn on an animation frame, at most every MIN_FRAME_MS: a busy board changes
// hundreds of times a second, and each frame costs a paint of every changed card;
// five pictures a second read the same on a wall and cost a fraction. The timer
// covers pages that get no frames (hidden tabs, some headless modes) so the view
// never falls far behind.
const MIN_FRAME_MS = 200;
let frame = 0;
let fallback = 0;
let pause = 0;
let lastDraw = -Infinity;
function schedule() {
  if (frame || pause) return;
  const wait = lastDraw + MIN_FRAME_MS - performance.now();
  if (wait > 0) {
    pause = setTimeout(() => {
      pause = 0;
      requestFrame();
    }, wait);
  } else {
    requestFrame();
  }
}

function requestFrame() {
  frame = requestAnimationFrame(draw);
  fallback = setTimeout(draw, 250);
}

function draw() {
  const t0 = performance.now();
  cancelAnimationFrame(frame);
  clearTimeout(fallback);
  frame = 0;
  grid.render();
  calls.render();
  queues.render();
  if (store.dirty.conn) {
    store.dirty.conn = false;
    drawStatus();
  }
  const t1 = performance.now();
  lastDraw = t1;
  perf.draws += 1;
  perf.drawMs += t1 - t0;
  if (perf.firstRender === null && store.extensions.size) perf.firstRender = t1;
}

function drawStatus() {
  banner.render(store.connections, wsStatus, store.now(), authProblem);
  const pbxs = [...store.connections.values()];
  const down = pbxs.filter((s) => s.state !== 'connected').length;
  const open = wsStatus.state === 'open';
  const live = open && pbxs.length > 0 && down === 0;
  const pill = $('live-pill');
  pill.dataset.state = live ? 'live' : open ? 'degraded' : 'offline';
  let word = 'Live';
  if (!open) word = 'Offline';
  else if (!pbxs.length || (pbxs.length === 1 && down)) word = 'PBX disconnected';
  else if (down) word = `${down} PBX${down > 1 ? 's' : ''} down`;
  $('live-text').textContent = word;
  document.body.dataset.ws = wsStatus.state;
  // With several PBXs only the sections of those down are washed out (see grid).
  $('main').classList.toggle('stale', !open || !pbxs.length || down === pbxs.length);
  const summary = pbxSummary(store.connections);
  const head = $('pbx-name');
  if (head.textContent !== summary) head.textContent = summary;
  grid.renderConnections();
}

/** A 401 from any call means the token is missing or wrong: the banner says so. */
function noteAuth(e) {
  if (e instanceof ApiError && e.status === 401 && authProblem !== e.message) {
    authProblem = e.message;
    drawStatus();
  }
}

function onStatus(status) {
  wsStatus = status;
  if (status.state === 'open') authProblem = '';
  drawStatus();
}

/** The live feed closed before it opened: ask whether the token is the reason. */
async function onRefused() {
  const why = await wsRefusal();
  if (why !== authProblem && wsStatus.state !== 'open') {
    authProblem = why;
    drawStatus();
  }
}

function onMessage(msg) {
  const data = msg.data;
  switch (msg.type) {
    case 'snapshot':
      store.applySnapshot(data || {}, msg.ts);
      queues.applySnapshot((data && data.queues) || []);
      if (!store.recent.length) loadRecent();
      if (!store.connections.size) loadConnections();
      break;
    case 'extension.status':
      store.applyExtension(data);
      perf.changes += 1;
      break;
    case 'call.started':
    case 'call.updated':
    case 'call.ended':
      store.applyCall(msg.type, data);
      break;
    case 'queue.updated':
      queues.apply(data);
      break;
    case 'ami.connection':
      store.applyConnection(data);
      break;
    case 'refresh.completed':
      refresh.announce(data);
      break;
    case 'error':
      console.warn('switchboard: the server rejected a message', data);
      break;
    default:
      break;
  }
  schedule();
}

/** After a service restart the live list of finished calls is empty: read the store. */
async function loadRecent() {
  try {
    const body = await api('/api/calls/history?pageSize=30');
    if (!store.recent.length) {
      store.setRecent(body.data || []);
      schedule();
    }
  } catch (e) {
    // The recent list stays empty; the live feed fills it.
    noteAuth(e);
  }
}

/** A snapshot taken before the PBX connection said anything: ask health. */
async function loadConnections() {
  try {
    const body = await api('/api/health');
    if (!store.connections.size) {
      // On standby another instance holds the PBX; its state comes over the WebSocket.
      for (const s of (body.data && body.data.pbxs) || []) {
        if (s.state !== 'standby') store.applyConnection(s);
      }
      schedule();
    }
  } catch (e) {
    // The banner keeps saying what it knows.
    noteAuth(e);
  }
}

/** The refresh button: POST, progress, statistics; on failure why, then reload. */
const refresh = {
  button: $('refresh-btn'),
  result: $('refresh-result'),
  running: false,

  show(kind, parts) {
    this.result.dataset.kind = kind;
    this.result.replaceChildren(...parts);
    this.result.hidden = false;
  },

  stats(report, heading) {
    const s = report.statistics || {};
    const items = [
      ['Checked', report.extensionsChecked, 'checked'],
      ['Succeeded', s.successfulQueries, 'succeeded'],
      ['Failed', s.failedQueries, 'failed'],
      ['Corrected', (report.corrections || []).length, 'corrected'],
    ];
    const title = document.createElement('strong');
    title.textContent = heading;
    const dl = document.createElement('dl');
    dl.className = 'stats';
    for (const [label, value, key] of items) {
      const div = document.createElement('div');
      div.dataset.stat = key;
      if (key === 'failed' && value > 0) div.className = 'bad';
      const dt = document.createElement('dt');
      dt.textContent = label;
      const dd = document.createElement('dd');
      dd.textContent = String(value ?? 0);
      div.append(dt, dd);
      dl.append(div);
    }
    const parts = [title, dl];
    if (typeof report.durationMs === 'number') {
      const took = document.createElement('span');
      took.className = 'muted';
      took.textContent = `in ${report.durationMs < 1000 ? `${Math.round(report.durationMs)} ms` : `${(report.durationMs / 1000).toFixed(1)} s`}`;
      parts.push(took);
    }
    return parts;
  },

  async run() {
    if (this.running) return;
    this.running = true;
    this.button.disabled = true;
    this.button.setAttribute('aria-busy', 'true');
    this.button.querySelector('.btn-label').textContent = 'Refreshing…';
    this.show('progress', [document.createTextNode('Re-reading every extension from the PBX over a separate login…')]);
    try {
      const body = await api('/api/extensions/hybrid-refresh', { method: 'POST', body: {}, timeoutMs: 60000 });
      const now = new Date().toLocaleTimeString();
      this.show('ok', this.stats(body.data || {}, `Refresh done at ${now}`));
    } catch (e) {
      const err = e instanceof ApiError ? e : new ApiError(0, 'ERROR', String(e));
      noteAuth(err);
      const title = document.createElement('strong');
      title.textContent = 'Refresh failed: ';
      const why = document.createTextNode(`${err.message} (${err.code}). `);
      const reload = document.createElement('span');
      reload.textContent = 'Reloading the last known states…';
      this.show('error', [title, why, reload]);
      try {
        const list = await api('/api/extensions');
        store.replaceExtensions(list.data || []);
        schedule();
        reload.textContent = `Showing the ${list.count ?? (list.data || []).length} extensions as last stored.`;
      } catch (e2) {
        reload.textContent = `Reloading also failed: ${e2.message}.`;
      }
    } finally {
      this.running = false;
      this.button.disabled = false;
      this.button.removeAttribute('aria-busy');
      this.button.querySelector('.btn-label').textContent = 'Refresh from PBX';
    }
  },

  /** A refresh finished elsewhere (another supervisor, or ours echoed). */
  announce(report) {
    if (this.running || !report || typeof report !== 'object' || !report.statistics) return;
    const at = report.lastQueryTime ? new Date(report.lastQueryTime).toLocaleTimeString() : 'just now';
    this.show('ok', this.stats(report, `Refreshed at ${at}`));
  },
};

refresh.button.addEventListener('click', () => refresh.run());

// Once a second: time in state, call durations, countdowns in the banner.
setInterval(() => {
  grid.tick();
  calls.tick();
  queues.tick();
  drawStatus();
}, 1000);

// For the console and the browser test: the state, the socket's counters, a drop.
window.switchboard = {
  store,
  get ws() {
    return wsStatus.state;
  },
  get lastSeq() {
    return socket.lastSeq;
  },
  get counts() {
    return { ...socket.counts };
  },
  drop: () => socket.drop(),
  queues,
  perf,
};

drawStatus();
socket.start();
