// Active calls (updated in place, live duration) and recent finished calls.

import { callStateLabel, clock, hangupCause, ms, outcomeLabel, timeOfDay } from './format.js';

const DIRECTIONS = { internal: 'internal', inbound: 'inbound', outbound: 'outbound', unknown: '—' };

function party(p) {
  const cell = document.createElement('td');
  const num = (p && p.number) || '';
  const name = (p && p.name) || '';
  const strong = document.createElement('span');
  strong.className = 'party-num';
  strong.textContent = num || 'unknown';
  cell.append(strong);
  if (name && name !== num) {
    const small = document.createElement('span');
    small.className = 'party-name';
    small.textContent = name;
    cell.append(small);
  }
  return cell;
}

function cell(text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function badge(text, kind) {
  const td = document.createElement('td');
  const span = document.createElement('span');
  span.className = 'badge';
  span.dataset.kind = kind;
  span.textContent = text;
  td.append(span);
  return td;
}

export class CallsView {
  constructor(store, { body, count, empty, recentBody, recentEmpty }) {
    this.store = store;
    this.body = body;
    this.count = count;
    this.empty = empty;
    this.recentBody = recentBody;
    this.recentEmpty = recentEmpty;
    /** call key → {row, duration, started} */
    this.rows = new Map();
  }

  renderActive() {
    const frag = document.createDocumentFragment();
    const rows = new Map();
    const now = this.store.now();
    for (const c of this.store.sortedCalls()) {
      const key = `${c.pbx}\u0000${c.id}`;
      const tr = document.createElement('tr');
      tr.dataset.callId = c.id;
      const state = c.onHold ? 'onHold' : c.state;
      const duration = cell('', 'num duration');
      tr.append(
        party(c.caller),
        party(c.callee),
        cell(DIRECTIONS[c.direction] || c.direction || '—', 'direction'),
        badge(callStateLabel(c.state, c.onHold), state),
        duration,
      );
      const entry = { row: tr, duration, started: ms(c.startedAt), text: '' };
      this.tickRow(entry, now);
      rows.set(key, entry);
      frag.append(tr);
    }
    this.rows = rows;
    this.body.replaceChildren(frag);
    this.count.textContent = String(rows.size);
    this.empty.hidden = rows.size > 0;
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
      tr.append(cell(timeOfDay(c.endedAt), 'time'), party(c.caller), party(c.callee), duration, outcome);
      frag.append(tr);
    }
    this.recentBody.replaceChildren(frag);
    this.recentEmpty.hidden = this.store.recent.length > 0;
  }

  /** Redraws what the store marked. */
  render() {
    const d = this.store.dirty;
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
