// Words, colours keys and durations shared by the pages.

/** Broad states in display order, with the word a supervisor reads. */
export const STATES = [
  ['idle', 'idle'],
  ['ringing', 'ringing'],
  ['inUse', 'in use'],
  ['busy', 'busy'],
  ['onHold', 'on hold'],
  ['unavailable', 'unavailable'],
  ['unknown', 'unknown'],
];

const STATE_WORDS = new Map(STATES);

/** The word for an extension: from its numeric hint status (as the service's label). */
export function stateLabel(status, state) {
  switch (status) {
    case -2: return 'removed';
    case -1: return 'deactivated';
    case 0: return 'idle';
    case 1: return 'in use';
    case 2: return 'busy';
    case 4: return 'unavailable';
    case 8: return 'ringing';
    case 9: return 'in use, ringing';
    case 16: return 'on hold';
    case 17: return 'in use, on hold';
    default: return STATE_WORDS.get(state) || 'unknown';
  }
}

/** A normalised broad state (unknown strings become `unknown`). */
export function stateKind(state) {
  return STATE_WORDS.has(state) ? state : 'unknown';
}

const pad = (n) => String(n).padStart(2, '0');

/** Time in a state, compact: `42s`, `3m 05s`, `2h 04m`, `3d 4h`. */
export function since(secs) {
  const s = Math.max(0, Math.floor(secs));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${pad(s % 60)}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${pad(m % 60)}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** A call duration as a clock: `0:42`, `12:05`, `1:02:03`. */
export function clock(secs) {
  const s = Math.max(0, Math.floor(secs));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

/** Local wall-clock time of an ISO date: `10:32:05`. */
export function timeOfDay(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Milliseconds since the epoch of an ISO date, or NaN. */
export function ms(iso) {
  return iso ? Date.parse(iso) : NaN;
}

/** `Normal Clearing (16)` from a call's or leg's hangup cause. */
export function hangupCause(text, code) {
  if (text && code !== null && code !== undefined) return `${text} (${code})`;
  if (text) return text;
  if (code !== null && code !== undefined) return `cause ${code}`;
  return '—';
}

const OUTCOMES = {
  answered: 'answered',
  noAnswer: 'no answer',
  busy: 'busy',
  cancelled: 'cancelled',
  failed: 'failed',
  lostWhileDisconnected: 'lost (disconnected)',
  timedOut: 'timed out',
};

/** The word for a call's outcome. */
export function outcomeLabel(outcome) {
  return OUTCOMES[outcome] || outcome || 'unknown';
}

const CALL_STATES = {
  dialing: 'dialing',
  ringing: 'ringing',
  answered: 'answered',
  bridged: 'talking',
  onHold: 'on hold',
  ended: 'ended',
};

/** The word for a call's state. */
export function callStateLabel(state, onHold) {
  if (onHold && state !== 'ended') return 'on hold';
  return CALL_STATES[state] || state || 'unknown';
}

/** Natural order of extension numbers: 2 before 10, then text. */
export function compareNumbers(a, b) {
  return a.localeCompare(b, undefined, { numeric: true, sensitivity: 'base' });
}
