// The history page: today at a glance (calls per hour, answered against missed),
// and every finished call searchable by number, name or extension, time range,
// outcome, direction and queue, paged, exported as CSV with the same filters.
//
// The filters live in the page's address (`history.html?q=1001&outcome=busy`), so
// a search can be bookmarked or shared, and the dashboard links here with one.

import { api, apiDownload, ApiError } from './api.js';
import { drawHourly, perHour } from './charts.js';
import { callRow, dateValue, dayStart, isoOfLocal } from './rows.js';

const PAGE_SIZE = 50;
/** Calls read for today's chart at most (pages of 500), once a minute. */
const TODAY_MAX_PAGES = 20;

const $ = (id) => document.getElementById(id);
const form = $('search-form');
let page = 1;
/** Today's figures as last drawn, to draw again at a new width. */
let lastHours = null;

/** The filters as API parameters (empty ones left out, times as ISO instants). */
function filters() {
  const data = new FormData(form);
  const p = new URLSearchParams();
  for (const [k, v] of data.entries()) {
    const value = String(v).trim();
    if (!value) continue;
    if (k === 'from' || k === 'to') {
      const iso = isoOfLocal(value);
      if (iso) p.set(k, iso);
    } else {
      p.set(k, value);
    }
  }
  return p;
}

/** Keeps the address in step with the filters and page. */
function remember() {
  const data = new FormData(form);
  const p = new URLSearchParams();
  for (const [k, v] of data.entries()) if (String(v).trim()) p.set(k, String(v).trim());
  if (page > 1) p.set('page', String(page));
  const search = p.toString();
  window.history.replaceState(null, '', search ? `?${search}` : window.location.pathname);
}

/** Fills the form from the address. */
function restore() {
  const p = new URLSearchParams(window.location.search);
  for (const [k, v] of p.entries()) {
    const input = form.elements.namedItem(k);
    if (input && 'value' in input) input.value = v;
  }
  page = Math.max(1, Number(p.get('page')) || 1);
}

function showError(err) {
  const box = $('search-error');
  if (!err) {
    box.hidden = true;
    return;
  }
  box.hidden = false;
  box.textContent = err instanceof ApiError ? `${err.message} (${err.code})` : String(err);
}

async function search() {
  const p = filters();
  p.set('page', String(page));
  p.set('pageSize', String(PAGE_SIZE));
  remember();
  $('search-btn').setAttribute('aria-busy', 'true');
  try {
    const body = await api(`api/calls/history?${p}`);
    showError(null);
    const rows = body.data.map(callRow);
    $('history').replaceChildren(...rows);
    // Past HISTORY_COUNT_LIMIT the total is a floor ("10,000+ calls"), and a
    // next page exists while this one is full.
    const { total, totalExact, next } = body.pagination;
    const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    $('history-empty').hidden = rows.length > 0;
    $('result-count').textContent = totalExact
      ? `${total} call${total === 1 ? '' : 's'}`
      : `${total.toLocaleString('en-US')}+ calls`;
    $('page-info').textContent = totalExact ? `page ${page} of ${pages}` : `page ${page}`;
    $('prev-btn').disabled = page <= 1;
    $('next-btn').disabled = totalExact ? page >= pages : !next;
  } catch (err) {
    showError(err);
    $('history').replaceChildren();
    $('result-count').textContent = '';
  } finally {
    $('search-btn').removeAttribute('aria-busy');
  }
}

async function exportCsv() {
  const btn = $('export-btn');
  btn.setAttribute('aria-busy', 'true');
  btn.disabled = true;
  try {
    const p = filters();
    p.set('format', 'csv');
    const name = await apiDownload(`api/calls/history?${p}`, 'calls.csv');
    $('foot-status').textContent = `Exported ${name}`;
    showError(null);
  } catch (err) {
    showError(err);
  } finally {
    btn.disabled = false;
    btn.removeAttribute('aria-busy');
  }
}

/** Reads today's calls (bounded) and draws the chart and the figures. */
async function today() {
  const start = dayStart();
  const calls = [];
  let truncated = false;
  try {
    for (let n = 1; n <= TODAY_MAX_PAGES; n += 1) {
      const body = await api(`api/calls/history?from=${encodeURIComponent(start.toISOString())}&page=${n}&pageSize=500`);
      calls.push(...body.data);
      const { total, totalExact } = body.pagination;
      if (body.data.length < 500 || (totalExact && calls.length >= total)) break;
      truncated = n === TODAY_MAX_PAGES;
    }
  } catch (err) {
    $('today-note').textContent = `Cannot read today's calls: ${err.message}`;
    return;
  }
  const hours = perHour(calls, start);
  lastHours = hours;
  drawHourly($('today-chart'), hours);
  const answered = hours.reduce((a, h) => a + h.answered, 0);
  const missed = hours.reduce((a, h) => a + h.missed, 0);
  const stats = [
    ['Calls today', answered + missed, ''],
    ['Answered', answered, ''],
    ['Missed', missed, missed > 0 ? 'bad' : ''],
  ];
  $('today-stats').replaceChildren(...stats.map(([label, value, cls]) => {
    const div = document.createElement('div');
    if (cls) div.className = cls;
    div.dataset.stat = label;
    div.append(Object.assign(document.createElement('dt'), { textContent: label }),
      Object.assign(document.createElement('dd'), { textContent: String(value) }));
    return div;
  }));
  $('today-note').textContent = `${dateValue(start)}${truncated ? ` · first ${calls.length} calls` : ''}`;
}

/** Offers the PBX and queue selects when there is more than one PBX / any queue. */
async function options() {
  try {
    const health = await api('api/health');
    const pbxs = ((health.data && health.data.pbxs) || []).map((p) => p.pbx || p.name).filter(Boolean);
    if (pbxs.length > 1) {
      $('f-pbx').append(...pbxs.map((n) => new Option(n, n)));
      $('f-pbx-box').hidden = false;
    }
  } catch { /* the filter stays hidden */ }
  try {
    const queues = await api('api/queues');
    const names = (queues.data || []).map((q) => q.name).filter(Boolean);
    if (names.length) {
      $('f-queue').append(...names.map((n) => new Option(n, n)));
      $('f-queue-box').hidden = false;
    }
  } catch { /* a service without queues: no queue filter */ }
  restore();
}

form.addEventListener('submit', (e) => {
  e.preventDefault();
  page = 1;
  search();
});
form.addEventListener('reset', () => {
  setTimeout(() => {
    page = 1;
    search();
  }, 0);
});
$('export-btn').addEventListener('click', exportCsv);
$('prev-btn').addEventListener('click', () => {
  page = Math.max(1, page - 1);
  search();
});
$('next-btn').addEventListener('click', () => {
  page += 1;
  search();
});

let resizing = 0;
window.addEventListener('resize', () => {
  clearTimeout(resizing);
  resizing = setTimeout(() => {
    if (lastHours) drawHourly($('today-chart'), lastHours);
  }, 150);
});

restore();
options().then(search);
today();
// A wall display keeps the glance current: read again every minute while shown.
setInterval(() => {
  if (document.visibilityState === 'visible') today();
}, 60000);
