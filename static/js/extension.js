// The extension page (`extension.html?exten=1001&pbx=main&day=2026-12-07`): who it
// is and its state now, its state over a chosen day as a timeline, and its calls
// that day. The day is in the address, so the page can be bookmarked per day.

import { api, ApiError } from './api.js';
import { STATES, stateKind, stateLabel } from './format.js';
import { callRow, dateTime, dateValue, dayStart } from './rows.js';
import { drawTimeline, hms, spans, stateWord } from './timeline.js';
import { showQueues } from './ext_queues.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(window.location.search);
const exten = params.get('exten') || '';
const pbx = params.get('pbx') || '';
/** The timeline as last drawn, to draw again at a new width. */
let drawn = null;

const SOURCES = {
  names_file: 'names file',
  astdb: 'AstDB',
  pbx_endpoint: 'PJSIP endpoint',
  sip_peer: 'SIP/IAX2 peer',
};

function showError(err) {
  const box = $('ext-error');
  box.hidden = !err;
  if (err) box.textContent = err instanceof ApiError ? `${err.message} (${err.code})` : String(err);
}

function pbxParam() {
  return pbx ? `&pbx=${encodeURIComponent(pbx)}` : '';
}

/** The chosen day as a local Date (from the address, else today). */
function chosenDay() {
  const v = $('day').value;
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(v);
  return m ? new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : dayStart();
}

async function summary() {
  const body = await api(`api/extensions/${encodeURIComponent(exten)}?${pbxParam().slice(1)}`);
  const e = body.data;
  $('ext-name').textContent = e.name || '';
  document.title = `switchboard — ${e.extension}${e.name ? ` ${e.name}` : ''}`;
  const state = $('ext-state');
  state.dataset.kind = stateKind(e.state);
  state.textContent = stateLabel(e.status, e.state);
  const facts = [
    ['PBX', e.pbx],
    ['Hint', e.hint || '—'],
    ['Name from', e.name ? (SOURCES[e.nameSource] || 'stored') : '—'],
    ['Since', dateTime(e.lastChange)],
  ];
  await showQueues($('ext-queues'), $('ext-queues-body'), exten, e.name, pbx || e.pbx);
  $('ext-facts').replaceChildren(...facts.map(([k, v]) => {
    const div = document.createElement('div');
    div.append(Object.assign(document.createElement('dt'), { textContent: k }),
      Object.assign(document.createElement('dd'), { textContent: v }));
    return div;
  }));
}

async function timeline(start, end) {
  const from = encodeURIComponent(new Date(start).toISOString());
  const to = encodeURIComponent(new Date(end - 1).toISOString());
  const body = await api(`api/extensions/${encodeURIComponent(exten)}/history?from=${from}&to=${to}&at=${from}&limit=1000${pbxParam()}`);
  const { stateAt, transitions } = body.data;
  const until = Math.min(end, Date.now());
  const list = until > start ? spans(stateAt, transitions, start, until) : [];
  drawn = { list, start, end };
  drawTimeline($('timeline'), list, start, end);
  $('timeline-list').replaceChildren(...list.map((s) => {
    const li = document.createElement('li');
    li.dataset.state = s.state;
    li.textContent = `${hms(s.from)}–${hms(s.to)} ${stateWord(s.state)}`;
    return li;
  }));
  const notes = [];
  if (transitions.length >= 1000) notes.push('Only the last 1000 changes of the day are drawn.');
  if (until <= start) notes.push('This day has not begun yet.');
  else if (!list.length) notes.push('Nothing recorded that day.');
  else if (until < end) notes.push(`Up to now (${hms(until)}).`);
  $('timeline-note').textContent = notes.join(' ');
}

async function calls(start, end) {
  const from = encodeURIComponent(new Date(start).toISOString());
  const to = encodeURIComponent(new Date(end - 1).toISOString());
  const body = await api(`api/calls/history?extension=${encodeURIComponent(exten)}&from=${from}&to=${to}&pageSize=200${pbxParam()}`);
  $('ext-calls').replaceChildren(...body.data.map(callRow));
  $('ext-calls-count').textContent = String(body.pagination.total);
  $('ext-calls-empty').hidden = body.data.length > 0;
  const more = new URLSearchParams({ extension: exten });
  if (pbx) more.set('pbx', pbx);
  $('ext-calls-more').href = `history.html?${more}`;
}

async function showDay() {
  const day = chosenDay();
  const start = day.getTime();
  const end = new Date(day.getFullYear(), day.getMonth(), day.getDate() + 1).getTime();
  const p = new URLSearchParams(window.location.search);
  p.set('day', dateValue(day));
  window.history.replaceState(null, '', `?${p}`);
  try {
    await Promise.all([timeline(start, end), calls(start, end)]);
    showError(null);
  } catch (err) {
    showError(err);
  }
}

function shiftDay(by) {
  const d = chosenDay();
  $('day').value = dateValue(new Date(d.getFullYear(), d.getMonth(), d.getDate() + by));
  showDay();
}

function legend() {
  $('timeline-legend').replaceChildren(...STATES.map(([kind, word]) => {
    const span = document.createElement('span');
    span.className = 'key';
    span.dataset.state = kind;
    span.textContent = word;
    return span;
  }));
}

$('ext-number').textContent = exten;
$('day').value = params.get('day') || dateValue(new Date());
$('day').addEventListener('change', showDay);
$('day-form').addEventListener('submit', (e) => {
  e.preventDefault();
  showDay();
});
$('day-prev').addEventListener('click', () => shiftDay(-1));
$('day-next').addEventListener('click', () => shiftDay(1));
let resizing = 0;
window.addEventListener('resize', () => {
  clearTimeout(resizing);
  resizing = setTimeout(() => {
    if (drawn) drawTimeline($('timeline'), drawn.list, drawn.start, drawn.end);
  }, 150);
});
legend();
if (!exten) {
  showError('No extension named: open this page from the dashboard.');
} else {
  summary().catch(showError);
  showDay();
  // Today's timeline grows while it is watched: read again every 30 s.
  setInterval(() => {
    if (document.visibilityState !== 'visible') return;
    if ($('day').value !== dateValue(new Date())) return;
    summary().catch(showError);
    showDay();
  }, 30000);
}
