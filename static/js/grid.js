// The extension grid: one card per extension, updated in place, filtered by text and
// state, with counts per state. Only changed cards are touched; the "time in state"
// labels are refreshed once a second, and only when their text changes.

import { STATES, since, stateKind, stateLabel, timeOfDay, ms } from './format.js';

export class Grid {
  constructor(store, { list, search, stateFilter, empty, total }) {
    this.store = store;
    this.list = list;
    this.search = search;
    this.stateFilterEl = stateFilter;
    this.empty = empty;
    this.total = total;
    /** key → {el, num, name, badge, since, text} */
    this.cards = new Map();
    this.query = '';
    this.stateFilter = '';
    this.chips = new Map();
    this.buildChips();
    search.addEventListener('input', () => {
      this.query = search.value.trim().toLowerCase();
      this.applyFilter();
    });
  }

  buildChips() {
    const make = (state, word) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'chip';
      b.dataset.state = state || 'all';
      b.setAttribute('aria-pressed', state === this.stateFilter ? 'true' : 'false');
      const dot = document.createElement('span');
      dot.className = 'chip-dot';
      dot.setAttribute('aria-hidden', 'true');
      const label = document.createElement('span');
      label.textContent = word;
      const count = document.createElement('span');
      count.className = 'chip-count';
      count.textContent = '0';
      b.append(dot, label, count);
      b.addEventListener('click', () => {
        this.stateFilter = this.stateFilter === state ? '' : state;
        for (const [s, chip] of this.chips) chip.el.setAttribute('aria-pressed', String(s === this.stateFilter));
        this.applyFilter();
      });
      this.chips.set(state, { el: b, count });
      this.stateFilterEl.append(b);
    };
    make('', 'All');
    for (const [state, word] of STATES) make(state, word);
  }

  matches(e) {
    if (this.stateFilter && stateKind(e.state) !== this.stateFilter) return false;
    if (!this.query) return true;
    const q = this.query;
    return (
      e.extension.toLowerCase().includes(q) ||
      this.store.nameOf(e).toLowerCase().includes(q) ||
      (e.hint || '').toLowerCase().includes(q)
    );
  }

  makeCard() {
    const el = document.createElement('li');
    el.className = 'ext';
    const head = document.createElement('div');
    head.className = 'ext-head';
    const num = document.createElement('span');
    num.className = 'ext-num';
    const badge = document.createElement('span');
    badge.className = 'ext-badge';
    head.append(num, badge);
    const name = document.createElement('span');
    name.className = 'ext-name';
    const sinceEl = document.createElement('span');
    sinceEl.className = 'ext-since';
    el.append(head, name, sinceEl);
    return { el, num, name, badge, since: sinceEl, text: '', changed: 0 };
  }

  fill(card, e, showPbx) {
    const kind = stateKind(e.state);
    const label = stateLabel(e.status, e.state);
    // Writes only what changed: an unchanged write still costs a style and layout pass.
    const set = (node, text) => {
      if (node.textContent !== text) node.textContent = text;
    };
    const data = card.el.dataset;
    if (data.ext !== e.extension) data.ext = e.extension;
    if (data.pbx !== e.pbx) data.pbx = e.pbx;
    if (data.state !== kind) data.state = kind;
    set(card.num, showPbx ? `${e.extension} · ${e.pbx}` : e.extension);
    const name = this.store.nameOf(e);
    set(card.name, name || '\u00a0');
    set(card.badge, label);
    card.changed = ms(e.lastChange);
    const details = [
      `Extension ${e.extension}${name ? ` (${name})` : ''}: ${label}`,
      `since ${timeOfDay(e.lastChange)}`,
      e.hint ? `hint ${e.hint}` : '',
      e.deviceState ? `device ${e.deviceState}` : '',
      e.lastConfirmed ? `confirmed by the PBX at ${timeOfDay(e.lastConfirmed)}` : '',
    ].filter(Boolean);
    const title = details.join('\n');
    if (card.el.title !== title) card.el.title = title;
    this.tickCard(card, this.store.now());
    const hidden = !this.matches(e);
    if (card.el.hidden !== hidden) card.el.hidden = hidden;
  }

  tickCard(card, now) {
    const text = Number.isNaN(card.changed) ? '' : since((now - card.changed) / 1000);
    if (text !== card.text) {
      card.text = text;
      card.since.textContent = text;
    }
  }

  /** Rebuilds every card (snapshot, reload, new extension). */
  rebuild() {
    const showPbx = this.store.pbxCount() > 1;
    const frag = document.createDocumentFragment();
    const next = new Map();
    for (const e of this.store.sortedExtensions()) {
      const key = this.store.key(e);
      const card = this.cards.get(key) || this.makeCard();
      this.fill(card, e, showPbx);
      next.set(key, card);
      frag.append(card.el);
    }
    this.cards = next;
    this.list.replaceChildren(frag);
  }

  /** Redraws what the store marked; called from the page's animation frame. */
  render() {
    const d = this.store.dirty;
    if (d.all) {
      d.all = false;
      d.exts.clear();
      this.rebuild();
    } else if (d.exts.size) {
      const showPbx = this.store.pbxCount() > 1;
      for (const key of d.exts) {
        const card = this.cards.get(key);
        const e = this.store.extensions.get(key);
        if (card && e) this.fill(card, e, showPbx);
      }
      d.exts.clear();
    } else {
      return;
    }
    this.renderCounts();
  }

  renderCounts() {
    const counts = new Map(STATES.map(([s]) => [s, 0]));
    let shown = 0;
    for (const e of this.store.extensions.values()) {
      const k = stateKind(e.state);
      counts.set(k, counts.get(k) + 1);
    }
    for (const card of this.cards.values()) if (!card.el.hidden) shown += 1;
    const all = this.store.extensions.size;
    for (const [state, chip] of this.chips) {
      const n = state ? counts.get(state) : all;
      if (chip.count.textContent !== String(n)) chip.count.textContent = String(n);
      // Unknown is only offered when something is in that state.
      if (state === 'unknown') chip.el.hidden = n === 0 && this.stateFilter !== 'unknown';
    }
    const total = shown === all ? `${all}` : `${shown} of ${all}`;
    if (this.total.textContent !== total) this.total.textContent = total;
    this.empty.hidden = shown > 0 || all === 0;
  }

  applyFilter() {
    for (const [key, card] of this.cards) {
      const e = this.store.extensions.get(key);
      const hidden = e ? !this.matches(e) : card.el.hidden;
      if (card.el.hidden !== hidden) card.el.hidden = hidden;
    }
    this.renderCounts();
    this.tick();
  }

  /** Refreshes the "time in state" labels. */
  tick() {
    const now = this.store.now();
    for (const card of this.cards.values()) {
      if (!card.el.hidden) this.tickCard(card, now);
    }
  }
}
