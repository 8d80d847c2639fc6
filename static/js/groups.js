// One section per PBX when the board watches several: a heading button that
// collapses the section (aria-expanded) and says how many extensions are in each
// state, the PBX's connection when it is not up, and the section's own card grid.
// Headings are redrawn only for the PBXs whose counts changed.

import { STATES } from './format.js';

const CONN_WORDS = {
  connecting: 'connecting',
  authenticating: 'logging in',
  backingOff: 'reconnecting',
  loginRefused: 'login refused',
  disconnected: 'disconnected',
  standby: 'standby',
};

const STATE_WORDS = new Map(STATES);

let nextId = 0;

export class PbxGroup {
  /**
   * @param {string} pbx the PBX's name
   * @param {(group: PbxGroup) => void} onToggle called after it opens or closes
   */
  constructor(pbx, onToggle) {
    this.pbx = pbx;
    this.collapsed = false;
    /** Cards of this PBX not hidden by a filter. */
    this.shown = 0;
    this.countsKey = '';
    this.el = document.createElement('li');
    this.el.className = 'pbx-group';
    this.el.dataset.pbx = pbx;
    const heading = document.createElement('h2');
    heading.className = 'pbx-head';
    this.button = document.createElement('button');
    this.button.type = 'button';
    this.button.className = 'group-toggle';
    this.button.setAttribute('aria-expanded', 'true');
    nextId += 1;
    const listId = `pbx-group-${nextId}`;
    this.button.setAttribute('aria-controls', listId);
    const caret = document.createElement('span');
    caret.className = 'caret';
    caret.setAttribute('aria-hidden', 'true');
    const name = document.createElement('span');
    name.className = 'pbx-tag';
    name.textContent = pbx;
    this.conn = document.createElement('span');
    this.conn.className = 'pbx-conn';
    this.conn.hidden = true;
    this.counts = document.createElement('span');
    this.counts.className = 'group-counts';
    this.button.append(caret, name, this.conn, this.counts);
    heading.append(this.button);
    this.list = document.createElement('ul');
    this.list.className = 'ext-grid';
    this.list.id = listId;
    this.list.setAttribute('aria-label', `Extensions of ${pbx}`);
    this.el.append(heading, this.list);
    this.button.addEventListener('click', () => {
      this.setCollapsed(!this.collapsed);
      onToggle(this);
    });
  }

  setCollapsed(collapsed) {
    this.collapsed = collapsed;
    this.button.setAttribute('aria-expanded', String(!collapsed));
    this.list.hidden = collapsed;
  }

  /** Redraws the counts from `tally` (state kind → n), only when they changed. */
  renderCounts(tally) {
    let total = 0;
    const parts = [];
    for (const [state, n] of tally) {
      total += n;
      if (n > 0) parts.push([state, n]);
    }
    const key = parts.map(([s, n]) => `${s}${n}`).join();
    if (key === this.countsKey) return;
    this.countsKey = key;
    const totalEl = document.createElement('span');
    totalEl.className = 'group-total';
    totalEl.textContent = `${total} extensions`;
    const items = parts.map(([state, n]) => {
      const span = document.createElement('span');
      span.className = 'group-count';
      span.dataset.state = state;
      span.textContent = `${n} ${STATE_WORDS.get(state)}`;
      return span;
    });
    this.counts.replaceChildren(totalEl, ...items);
  }

  /** Shows the AMI connection's state in the heading when it is not connected. */
  setConnection(state) {
    const word = state && state !== 'connected' ? CONN_WORDS[state] || state : '';
    if (this.conn.textContent !== word) this.conn.textContent = word;
    this.conn.hidden = !word;
    const attr = state || 'unknown';
    if (this.el.dataset.conn !== attr) this.el.dataset.conn = attr;
  }
}
