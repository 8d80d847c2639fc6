// Table rows of finished calls for the history and extension pages, and the date
// helpers both pages use.

import { clock, hangupCause, outcomeLabel } from './format.js';

const pad = (n) => String(n).padStart(2, '0');

/** Local midnight of the day holding `d`. */
export function dayStart(d = new Date()) {
  return new Date(d.getFullYear(), d.getMonth(), d.getDate());
}

/** `YYYY-MM-DD` of a local date, for `<input type="date">`. */
export function dateValue(d) {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** Local date and time of an ISO instant: `2026-12-07 10:32:05`. */
export function dateTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return `${dateValue(d)} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** The value of a `datetime-local` input as an ISO instant, or ''. */
export function isoOfLocal(value) {
  if (!value) return '';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

/** A table cell holding `text`. */
export function td(text, className) {
  const cell = document.createElement('td');
  cell.textContent = text;
  if (className) cell.className = className;
  return cell;
}

/** A call party's cell: its number, and its name beneath when it differs. */
export function party(p) {
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

/** One finished call as a row: started, caller, callee, direction, outcome, duration. */
export function callRow(c) {
  const tr = document.createElement('tr');
  tr.dataset.id = c.id;
  const outcome = document.createElement('td');
  const b = document.createElement('span');
  b.className = 'badge';
  b.dataset.kind = c.outcome || 'unknown';
  b.textContent = outcomeLabel(c.outcome);
  outcome.append(b);
  if (c.outcome !== 'answered' && (c.hangupCauseText || c.hangupCause !== null)) {
    outcome.append(Object.assign(document.createElement('span'), {
      className: 'cause',
      textContent: hangupCause(c.hangupCauseText, c.hangupCause),
    }));
  }
  if (c.queue) {
    outcome.append(Object.assign(document.createElement('span'), { className: 'cause', textContent: `queue ${c.queue}` }));
  }
  const duration = td(clock(c.durationSecs || 0), 'num duration');
  if (c.talkSecs > 0) {
    duration.append(Object.assign(document.createElement('span'), { className: 'talk', textContent: `talk ${clock(c.talkSecs)}` }));
  }
  tr.append(
    td(dateTime(c.startedAt), 'time'),
    party(c.caller),
    party(c.callee),
    td(c.direction || '—', 'direction'),
    outcome,
    duration,
  );
  return tr;
}
