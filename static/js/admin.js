// The admin page: health, the main counters (from /metrics) and every actor, with
// counts by kind; reloads itself every few seconds until paused.

import { api, apiText } from './api.js';
import { since, timeOfDay, ms } from './format.js';

const RELOAD_MS = 5000;
const $ = (id) => document.getElementById(id);

const view = {
  actors: [],
  byKind: {},
  kind: '',
  query: '',
  paused: false,
  timer: 0,
  loading: false,
  clockOffset: 0,
};

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function card(title, value, detail, level) {
  const c = el('div', 'card');
  c.dataset.level = level || 'neutral';
  c.append(el('h3', '', title), el('div', 'value', value));
  if (detail) c.append(el('div', 'detail', detail));
  return c;
}

function ago(iso) {
  const t = ms(iso);
  if (Number.isNaN(t)) return 'never';
  return `${since((Date.now() + view.clockOffset - t) / 1000)} ago`;
}

function renderHealth(h) {
  const cards = [];
  const ami = h.ami || {};
  const svc = h.service || {};
  const store = h.store || {};
  const ws = h.websocket || {};
  const st = h.state || {};
  cards.push(card('Status', h.status || 'unknown', `${svc.name || 'switchboard'} ${svc.version || ''}`, h.status === 'ok' ? 'ok' : 'warn'));
  cards.push(card('Uptime', since(svc.uptimeSecs || 0), `started ${timeOfDay(svc.startedAt)}`, 'neutral'));
  for (const p of h.pbxs && h.pbxs.length ? h.pbxs : [ami]) {
    const level = p.state === 'connected' ? 'ok' : p.state === 'loginRefused' || p.state === 'disconnected' ? 'error' : 'warn';
    const detail = [
      `since ${timeOfDay(p.since)}`,
      `${p.reconnects ?? 0} reconnects`,
      p.lastEvent ? `last event ${ago(p.lastEvent)}` : '',
      p.lastError ? `error: ${p.lastError}` : '',
    ].filter(Boolean).join(' · ');
    cards.push(card(p.pbx ? `AMI · ${p.pbx}` : 'AMI', p.state || 'unknown', detail, level));
  }
  cards.push(card('Store', store.state || 'unknown',
    `${store.backend || ''} · ${store.pending ?? 0} pending · ${store.writesTotal ?? 0} writes${store.lastError ? ` · ${store.lastError}` : ''}`,
    store.state === 'ok' ? 'ok' : 'warn'));
  cards.push(card('WebSocket', `${ws.subscribers ?? 0} ${ws.subscribers === 1 ? 'client' : 'clients'}`, `sequence ${ws.seq ?? 0}`, 'neutral'));
  cards.push(card('Live state', `${st.activeCalls ?? 0} calls`, `${st.extensions ?? 0} extensions`, 'neutral'));
  $('health-cards').replaceChildren(...cards);
  const pill = $('health-pill');
  pill.dataset.state = h.status === 'ok' ? 'ok' : 'degraded';
  $('health-text').textContent = h.status === 'ok' ? 'Healthy' : 'Degraded';
}

/** Sums of a few Prometheus series: `name{labels} value` lines. */
export function parseMetrics(text) {
  const sums = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const value = Number(m[4]);
    if (!Number.isFinite(value)) continue;
    const add = (key) => sums.set(key, (sums.get(key) || 0) + value);
    add(m[1]);
    const result = /result="([^"]*)"/.exec(m[3] || '');
    if (result) add(`${m[1]}:${result[1]}`);
  }
  return sums;
}

const COUNTERS = [
  ['switchboard_ami_events_total', 'AMI events received'],
  ['switchboard_calls_active', 'Active calls'],
  ['switchboard_calls_finished_total', 'Calls finished'],
  ['switchboard_refreshes_total', 'Refreshes'],
  ['switchboard_refresh_corrections_total', 'Refresh corrections'],
  ['switchboard_ws_subscribers', 'WebSocket subscribers'],
  ['switchboard_ws_messages_total', 'WebSocket messages sent'],
  ['switchboard_ws_conflated_total', 'Messages conflated'],
  ['switchboard_ws_dropped_clients_total', 'Slow clients dropped'],
  ['switchboard_store_pending_writes', 'Store writes pending'],
];

function renderCounters(sums) {
  const items = [];
  for (const [name, label] of COUNTERS) {
    if (!sums.has(name)) continue;
    const div = el('div');
    div.dataset.metric = name;
    div.append(el('dt', '', label), el('dd', '', Math.round(sums.get(name)).toLocaleString()));
    items.push(div);
  }
  $('counters').replaceChildren(...items);
}

function renderKinds() {
  const box = $('kind-filter');
  const kinds = Object.keys(view.byKind).sort();
  const buttons = [['', 'All', view.actors.length], ...kinds.map((k) => [k, k, view.byKind[k]])].map(([kind, label, n]) => {
    const b = el('button', 'chip');
    b.type = 'button';
    b.dataset.kind = kind || 'all';
    b.setAttribute('aria-pressed', String(view.kind === kind));
    b.append(el('span', '', label), el('span', 'chip-count', String(n)));
    b.addEventListener('click', () => {
      view.kind = view.kind === kind ? '' : kind;
      renderKinds();
      renderActors();
      const again = box.querySelector(`[data-kind="${kind || 'all'}"]`);
      if (again) again.focus();
    });
    return b;
  });
  box.replaceChildren(...buttons);
}

function renderActors() {
  const q = view.query;
  const rows = view.actors
    .filter((a) => (!view.kind || a.kind === view.kind) && (!q || `${a.kind} ${a.name}`.toLowerCase().includes(q)))
    .sort((a, b) => a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name, undefined, { numeric: true }));
  const frag = document.createDocumentFragment();
  for (const a of rows) {
    const tr = el('tr');
    tr.dataset.kind = a.kind;
    const state = el('td');
    const badge = el('span', 'badge', a.state);
    badge.dataset.kind = a.state;
    state.append(badge);
    const last = el('td', 'time', a.lastMessage ? ago(a.lastMessage) : 'never');
    if (a.lastMessage) last.title = new Date(a.lastMessage).toLocaleString();
    tr.append(
      el('td', '', a.kind),
      el('td', '', a.name),
      state,
      el('td', 'num', String(a.restarts ?? 0)),
      el('td', 'num', (a.messagesHandled ?? 0).toLocaleString()),
      last,
      el('td', 'time', timeOfDay(a.started)),
    );
    frag.append(tr);
  }
  $('actors').replaceChildren(frag);
  $('actors-count').textContent = String(view.actors.length);
  $('actors-empty').hidden = rows.length > 0;
}

function showError(messages) {
  const banner = $('banner');
  if (!messages.length) {
    banner.hidden = true;
    banner.replaceChildren();
    return;
  }
  banner.dataset.level = 'error';
  banner.replaceChildren(...messages.map((m) => el('p', 'banner-item', m)));
  banner.hidden = false;
}

async function load() {
  if (view.loading) return;
  view.loading = true;
  const errors = [];
  const [health, actors, metrics] = await Promise.allSettled([
    api('/api/health'),
    api('/api/admin/actors'),
    apiText('/metrics'),
  ]);
  if (health.status === 'fulfilled') {
    renderHealth(health.value.data || {});
  } else {
    errors.push(`Health: ${health.reason.message}`);
    $('health-pill').dataset.state = 'error';
    $('health-text').textContent = 'Unreachable';
  }
  if (actors.status === 'fulfilled') {
    view.actors = actors.value.data || [];
    view.byKind = actors.value.byKind || {};
    renderKinds();
    renderActors();
  } else {
    errors.push(`Actors: ${actors.reason.message}`);
  }
  if (metrics.status === 'fulfilled') {
    renderCounters(parseMetrics(metrics.value));
  } else {
    errors.push(`Metrics: ${metrics.reason.message}`);
  }
  showError(errors);
  $('updated').textContent = errors.length === 3 ? `Last attempt ${new Date().toLocaleTimeString()} failed` : `Updated ${new Date().toLocaleTimeString()}`;
  view.loading = false;
  schedule();
}

function schedule() {
  clearTimeout(view.timer);
  if (!view.paused) view.timer = setTimeout(load, RELOAD_MS);
}

$('actor-search').addEventListener('input', (e) => {
  view.query = e.target.value.trim().toLowerCase();
  renderActors();
});
$('pause-btn').addEventListener('click', (e) => {
  view.paused = !view.paused;
  e.currentTarget.setAttribute('aria-pressed', String(view.paused));
  e.currentTarget.textContent = view.paused ? 'Resume auto-refresh' : 'Pause auto-refresh';
  schedule();
});
$('reload-btn').addEventListener('click', () => load());

load();
