// Active calls (updated in place, live duration) and recent finished calls.

import { callStateLabel, clock, hangupCause, ms, outcomeLabel, timeOfDay } from './format.js';
import { party, td as cell } from './rows.js';

const CALLS_MIN_MS = 250;
/** Rows drawn at most: the longest-running calls (a big call centre has hundreds). */
const ACTIVE_MAX = 150;

const DIRECTIONS = { internal: 'internal', inbound: 'inbound', outbound: 'outbound', unknown: '—' };

function badge(text, kind) {
  const td = document.createElement('td');
  const span = document.createElement('span');
  span.className = 'badge';
  span.dataset.kind = kind;
  span.textContent = text;
  td.append(span);
  return td;
}

/** With several PBXs, a row says which one the call belongs to. */
function withPbx(td, c, store) {
  if (c.pbx && store.pbxCount() > 1) {
    td.append(Object.assign(document.createElement('span'), { className: 'pbx', textContent: ` · ${c.pbx}` }));
  }
  return td;
}

export class CallsView {
  constructor(store, { body, count, empty, more, recentBody, recentEmpty }) {
    this.store = store;
    this.more = more;
    this.body = body;
    this.count = count;
    this.empty = empty;
    this.recentBody = recentBody;
    this.recentEmpty = recentEmpty;
    /** call key → {row, duration, started} */
    this.rows = new Map();
    this.lastDraw = -Infinity;
    this.pending = 0;
  }

  /** Fills a row for call `c` (only when the call object changed). */
  fillRow(entry, c, now) {
    if (entry.call === c) return;
    entry.call = c;
    const tr = entry.row;
    tr.dataset.callId = c.id;
    const state = c.onHold ? 'onHold' : c.state;
    entry.duration = cell('', 'num duration');
    entry.text = '';
    entry.started = ms(c.startedAt);
    tr.replaceChildren(
      party(c.caller),
      party(c.callee),
      withPbx(cell(DIRECTIONS[c.direction] || c.direction || '—', 'direction'), c, this.store),
      badge(callStateLabel(c.state, c.onHold), state),
      entry.duration,
    );
    this.tickRow(entry, now);
  }

  /** Updates changed rows in place; moves rows only when calls came or went. */
  renderActive() {
    const rows = new Map();
    const now = this.store.now();
    const order = [];
    const all = this.store.sortedCalls();
    for (const c of all.slice(0, ACTIVE_MAX)) {
      const key = `${c.pbx}\u0000${c.id}`;
      const entry = this.rows.get(key) || { row: document.createElement('tr'), call: null };
      this.fillRow(entry, c, now);
      rows.set(key, entry);
      order.push(entry.row);
    }
    // Keyed: rows of ended calls go, new rows are inserted in place; the rest stay.
    for (const [key, entry] of this.rows) {
      if (!rows.has(key)) entry.row.remove();
    }
    let at = this.body.firstChild;
    for (const row of order) {
      if (row === at) at = at.nextSibling;
      else this.body.insertBefore(row, at);
    }
    this.rows = rows;
    const n = String(all.length);
    if (this.count.textContent !== n) this.count.textContent = n;
    this.empty.hidden = all.length > 0;
    this.more.hidden = all.length <= ACTIVE_MAX;
    const more = `Showing the ${ACTIVE_MAX} longest of ${all.length} active calls.`;
    if (!this.more.hidden && this.more.textContent !== more) this.more.textContent = more;
  }

  tickRow(entry, now) {
    const text = Number.isNaN(entry.started) ? '' : clock((now - entry.started) / 1000);
    if (text !== entry.text) {
      entry.text = text;
      entry.duration.textContent = text;
    }
  }

  renderRecent() {
    const frag = document.createDocumentFragment();
    for (const c of this.store.recent) {
      const tr = document.createElement('tr');
      tr.dataset.callId = c.id;
      const secs = typeof c.durationSecs === 'number' ? c.durationSecs : (ms(c.endedAt) - ms(c.startedAt)) / 1000;
      const duration = cell(clock(secs), 'num');
      if (typeof c.talkSecs === 'number' && c.talkSecs > 0) {
        duration.append(Object.assign(document.createElement('span'), { className: 'talk', textContent: `talk ${clock(c.talkSecs)}` }));
      }
      const outcome = badge(outcomeLabel(c.outcome), c.outcome || 'unknown');
      outcome.classList.add('outcome');
      const cause = document.createElement('span');
      cause.className = 'cause';
      cause.textContent = hangupCause(c.hangupCauseText, c.hangupCause);
      outcome.append(cause);
      tr.append(withPbx(cell(timeOfDay(c.endedAt), 'time'), c, this.store), party(c.caller), party(c.callee), duration, outcome);
      frag.append(tr);
    }
    this.recentBody.replaceChildren(frag);
    this.recentEmpty.hidden = this.store.recent.length > 0;
  }

  /** Redraws what the store marked, at most every CALLS_MIN_MS (a busy PBX changes
   * calls many times a second; the timers tick on their own). */
  render() {
    const d = this.store.dirty;
    if (!d.calls && !d.recent) return;
    const wait = this.lastDraw + CALLS_MIN_MS - performance.now();
    if (wait > 0) {
      if (!this.pending) {
        this.pending = setTimeout(() => {
          this.pending = 0;
          this.render();
        }, wait);
      }
      return;
    }
    this.lastDraw = performance.now();
    if (d.calls) {
      d.calls = false;
      this.renderActive();
    }
    if (d.recent) {
      d.recent = false;
      this.renderRecent();
    }
  }

  /** Advances the live duration timers. */
  tick() {
    const now = this.store.now();
    for (const entry of this.rows.values()) this.tickRow(entry, now);
  }
}
