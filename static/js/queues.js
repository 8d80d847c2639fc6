// The queue panel: per queue the callers waiting (position, caller ID, time
// waiting), the members and what each does, today's figures and a sparkline of
// the callers waiting over the day, kept live from `queue.updated` messages.
//
// The panel keeps its own map of queues (they are not part of the extension
// store); waits are counted from each caller's `joinedAt` on the page's clock,
// corrected by the store's offset to the server's.

import { since, compareNumbers } from './format.js';

const SVG = 'http://www.w3.org/2000/svg';

/** Member states with the words a supervisor reads. */
const MEMBER_WORDS = {
  free: 'free',
  ringing: 'ringing',
  onCall: 'on a call',
  paused: 'paused',
  unavailable: 'unavailable',
};

const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};

/** `[minute, waiting]` pairs of the day as a plain SVG sparkline. */
export function sparkline(points, width = 240, height = 36) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('width', String(width));
  svg.setAttribute('height', String(height));
  svg.setAttribute('class', 'sparkline');
  // The day runs the panel's whole width: stretch, do not letterbox.
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('role', 'img');
  const most = Math.max(0, ...points.map((p) => p[1]));
  const peak = Math.max(1, most);
  const label = most > 0
    ? `Callers waiting today, at most ${most} at once`
    : 'No callers waited today';
  svg.setAttribute('aria-label', label);
  const x = (minute) => ((minute / 1440) * width).toFixed(1);
  const y = (n) => (height - 2 - (n / peak) * (height - 4)).toFixed(1);
  const base = document.createElementNS(SVG, 'line');
  base.setAttribute('x1', '0');
  base.setAttribute('x2', String(width));
  base.setAttribute('y1', String(height - 1));
  base.setAttribute('y2', String(height - 1));
  base.setAttribute('class', 'spark-base');
  svg.append(base);
  if (points.length) {
    // A step line: the count holds until the next minute that changed it.
    const coords = [];
    let last = 0;
    for (const [minute, n] of points) {
      coords.push(`${x(minute)},${y(last)}`, `${x(minute)},${y(n)}`);
      last = n;
    }
    const line = document.createElementNS(SVG, 'polyline');
    line.setAttribute('points', coords.join(' '));
    line.setAttribute('class', 'spark-line');
    svg.append(line);
  }
  return svg;
}

export class QueuesView {
  /**
   * @param {{ now: () => number }} clock the store (its `now()` follows the server's clock)
   * @param {{ panel: HTMLElement, list: HTMLElement, count: HTMLElement, empty: HTMLElement }} els
   */
  constructor(clock, els) {
    this.clock = clock;
    this.els = els;
    /** Queues by `pbx/name`. */
    this.queues = new Map();
    this.dirty = true;
  }

  static key(q) {
    return `${q.pbx}/${q.name}`;
  }

  /** Every queue of a snapshot (replaces what was shown). */
  applySnapshot(list) {
    this.queues.clear();
    for (const q of list || []) this.queues.set(QueuesView.key(q), q);
    this.dirty = true;
  }

  /** One `queue.updated` message. */
  apply(q) {
    if (!q || typeof q !== 'object' || !q.name) return;
    if (q.removed) this.queues.delete(QueuesView.key(q));
    else this.queues.set(QueuesView.key(q), q);
    this.dirty = true;
  }

  waited(joinedAt) {
    const t = Date.parse(joinedAt);
    return Number.isNaN(t) ? 0 : Math.max(0, Math.floor((this.clock.now() - t) / 1000));
  }

  render() {
    if (!this.dirty) return;
    this.dirty = false;
    const queues = [...this.queues.values()].sort(
      (a, b) => compareNumbers(a.pbx, b.pbx) || compareNumbers(a.name, b.name),
    );
    const pbxs = new Set(queues.map((q) => q.pbx));
    const waiting = queues.reduce((n, q) => n + (q.callers || []).length, 0);
    this.els.count.textContent = String(waiting);
    this.els.empty.hidden = queues.length > 0;
    this.els.panel.dataset.queues = String(queues.length);
    this.els.list.replaceChildren(...queues.map((q) => this.card(q, pbxs.size > 1)));
  }

  card(q, showPbx) {
    const card = el('article', 'queue');
    card.dataset.queue = q.name;
    card.dataset.pbx = q.pbx;
    card.tabIndex = 0;
    const callers = q.callers || [];
    const members = q.members || [];
    const today = q.today || {};
    const head = el('h3', 'queue-name', showPbx ? `${q.name} · ${q.pbx}` : q.name);
    const waiting = el('span', 'count', String(callers.length));
    waiting.dataset.field = 'waiting';
    waiting.title = 'callers waiting';
    head.append(' ', waiting);
    card.setAttribute('aria-label', `Queue ${q.name}: ${callers.length} waiting`);

    const figures = el('dl', 'queue-figures');
    const longest = callers.reduce((m, c) => Math.min(m, Date.parse(c.joinedAt) || Infinity), Infinity);
    const sl = today.serviceLevel;
    const avg = today.averageWaitSecs;
    for (const [label, value, key] of [
      ['Longest wait', callers.length ? since(this.waited(new Date(longest).toISOString())) : '–', 'longest'],
      ['Offered', today.offered ?? 0, 'offered'],
      ['Answered', today.answered ?? 0, 'answered'],
      ['Abandoned', today.abandoned ?? 0, 'abandoned'],
      ['Avg wait', avg == null ? '–' : since(Math.round(avg)), 'avgWait'],
      [`Within ${today.slaSecs ?? 20}s`, sl == null ? '–' : `${sl}%`, 'serviceLevel'],
    ]) {
      const div = el('div');
      div.dataset.figure = key;
      if (key === 'longest' && callers.length) div.dataset.joined = new Date(longest).toISOString();
      div.append(el('dt', '', label), el('dd', '', String(value)));
      figures.append(div);
    }

    const line = el('div', 'queue-spark');
    line.append(sparkline(today.waitingByMinute || []));

    const memberList = el('ul', 'queue-members');
    memberList.setAttribute('aria-label', `Members of ${q.name}`);
    for (const m of members) {
      const li = el('li', 'member');
      li.dataset.member = m.interface;
      li.dataset.state = m.state;
      const word = MEMBER_WORDS[m.state] || m.state;
      const what = m.state === 'paused' && m.pausedReason ? `${word}: ${m.pausedReason}` : word;
      li.append(el('span', 'member-name', m.name), el('span', 'member-state', what));
      li.title = `${m.interface} · ${m.callsTaken} calls taken`;
      memberList.append(li);
    }

    const callerList = el('ol', 'queue-callers');
    callerList.hidden = callers.length === 0;
    callerList.setAttribute('aria-label', `Callers waiting in ${q.name}`);
    for (const c of callers) {
      const li = el('li', 'caller');
      li.dataset.caller = c.uniqueid;
      const who = [c.callerName, c.callerNumber].filter(Boolean).join(' ') || 'unknown caller';
      const wait = el('span', 'caller-wait', since(this.waited(c.joinedAt)));
      wait.dataset.joined = c.joinedAt;
      li.append(el('span', 'caller-pos', `${c.position}.`), el('span', 'caller-id', who), wait);
      callerList.append(li);
    }
    card.append(head, figures, line, memberList, callerList);
    return card;
  }

  /** Once a second: the waits grow. */
  tick() {
    for (const e of this.els.list.querySelectorAll('[data-joined]')) {
      const text = since(this.waited(e.dataset.joined));
      const target = e.tagName === 'DIV' ? e.querySelector('dd') : e;
      if (target && target.textContent !== text) target.textContent = text;
    }
  }
}
