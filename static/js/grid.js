// The extension grid: one card per extension, updated in place, filtered by text,
// state and PBX, with counts per state. With several PBXs the cards sit in one
// collapsible section per PBX (see groups.js) and the PBX's name is on the section,
// so a card always has room for its full number.
//
// Only changed cards are touched; counts and the number of cards shown are kept
// up to date change by change; the "time in state" labels of the cards on screen
// are refreshed once a second, and only when their text changes.

import { STATES, since, stateKind, stateLabel, timeOfDay, ms } from './format.js';
import { PbxGroup } from './groups.js';

export class Grid {
  constructor(store, { list, search, stateFilter, pbxFilter, pbxFilterBox, empty, total }) {
    this.store = store;
    this.list = list;
    this.search = search;
    this.stateFilterEl = stateFilter;
    this.pbxFilterEl = pbxFilter;
    this.pbxFilterBox = pbxFilterBox;
    this.empty = empty;
    this.total = total;
    /** key → {el, num, name, badge, since, text, changed, pbx} */
    this.cards = new Map();
    /** pbx → PbxGroup (only while grouped) */
    this.groups = new Map();
    /** PBXs whose sections the user closed, kept across snapshots. */
    this.collapsed = new Set();
    this.grouped = false;
    /** Cards not hidden by a filter. */
    this.shown = 0;
    /** PBXs whose headings need redrawing. */
    this.dirtyGroups = new Set();
    /** Cards on or near the screen: the only ones whose "time in state" ticks. */
    this.onScreen = new Set();
    this.cardOf = new WeakMap();
    this.watcher = new IntersectionObserver((entries) => this.seen(entries), { rootMargin: '200px' });
    this.query = '';
    this.stateFilter = '';
    this.pbxFilter = '';
    this.pbxOptions = '';
    this.chips = new Map();
    this.buildChips();
    search.addEventListener('input', () => {
      this.query = search.value.trim().toLowerCase();
      this.applyFilter();
    });
    pbxFilter.addEventListener('change', () => {
      this.pbxFilter = pbxFilter.value;
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
    if (this.pbxFilter && e.pbx !== this.pbxFilter) return false;
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
    // The number opens the extension's page (its day as a timeline, its calls).
    const link = document.createElement('a');
    num.append(link);
    const badge = document.createElement('span');
    badge.className = 'ext-badge';
    head.append(num, badge);
    const name = document.createElement('span');
    name.className = 'ext-name';
    const sinceEl = document.createElement('span');
    sinceEl.className = 'ext-since';
    el.append(head, name, sinceEl);
    const card = { el, num, link, name, badge, since: sinceEl, text: '', changed: 0, pbx: '' };
    this.cardOf.set(el, card);
    this.watcher.observe(el);
    return card;
  }

  /** Cards scrolled into or out of view; those coming in get a fresh label. */
  seen(entries) {
    const now = this.store.now();
    for (const entry of entries) {
      const card = this.cardOf.get(entry.target);
      if (!card) continue;
      if (entry.isIntersecting) {
        this.onScreen.add(card);
        this.tickCard(card, now);
      } else {
        this.onScreen.delete(card);
      }
    }
  }

  fill(card, e) {
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
    card.pbx = e.pbx;
    set(card.link, e.extension);
    const href = `extension.html?exten=${encodeURIComponent(e.extension)}&pbx=${encodeURIComponent(e.pbx)}`;
    if (card.link.getAttribute('href') !== href) card.link.setAttribute('href', href);
    const name = this.store.nameOf(e);
    set(card.name, name || '\u00a0');
    set(card.badge, label);
    card.changed = ms(e.lastChange);
    const details = [
      `Extension ${e.extension}${name ? ` (${name})` : ''}${this.grouped ? ` on ${e.pbx}` : ''}: ${label}`,
      `since ${timeOfDay(e.lastChange)}`,
      e.hint ? `hint ${e.hint}` : '',
      e.deviceState ? `device ${e.deviceState}` : '',
      e.lastConfirmed ? `confirmed by the PBX at ${timeOfDay(e.lastConfirmed)}` : '',
    ].filter(Boolean);
    const title = details.join('\n');
    if (card.el.title !== title) card.el.title = title;
    this.tickCard(card, this.store.now());
    this.setHidden(card, !this.matches(e));
  }

  /** Hides or shows a card, keeping the shown counts (total and per PBX) current. */
  setHidden(card, hidden) {
    if (card.el.hidden === hidden) return;
    card.el.hidden = hidden;
    const delta = hidden ? -1 : 1;
    this.shown += delta;
    const group = this.groups.get(card.pbx);
    if (group) group.shown += delta;
    this.dirtyGroups.add(card.pbx);
  }

  tickCard(card, now) {
    const text = Number.isNaN(card.changed) ? '' : since((now - card.changed) / 1000);
    if (text !== card.text) {
      card.text = text;
      card.since.textContent = text;
    }
  }

  /** Rebuilds every card and section (snapshot, reload, new extension). */
  rebuild() {
    this.grouped = this.store.pbxCount() > 1;
    this.list.classList.toggle('ext-grid', !this.grouped);
    this.list.classList.toggle('pbx-groups', this.grouped);
    const names = this.grouped ? this.store.pbxNames() : [];
    const groups = new Map();
    for (const pbx of names) {
      const group = this.groups.get(pbx) || new PbxGroup(pbx, (g) => this.toggled(g));
      group.setCollapsed(this.collapsed.has(pbx));
      group.shown = 0;
      groups.set(pbx, group);
    }
    this.groups = groups;
    this.syncPbxFilter(names);
    const frags = new Map(names.map((pbx) => [pbx, document.createDocumentFragment()]));
    const flat = document.createDocumentFragment();
    const next = new Map();
    this.shown = 0;
    for (const e of this.store.sortedExtensions()) {
      const key = this.store.key(e);
      const card = this.cards.get(key) || this.makeCard();
      // Counted afresh below: start every card as hidden.
      card.el.hidden = true;
      this.fill(card, e);
      next.set(key, card);
      (frags.get(e.pbx) || flat).append(card.el);
    }
    for (const [key, card] of this.cards) {
      if (!next.has(key)) {
        this.watcher.unobserve(card.el);
        this.onScreen.delete(card);
      }
    }
    this.cards = next;
    for (const [pbx, group] of this.groups) {
      group.list.replaceChildren(frags.get(pbx));
      this.dirtyGroups.add(pbx);
    }
    if (this.grouped) this.list.replaceChildren(...[...this.groups.values()].map((g) => g.el));
    else this.list.replaceChildren(flat);
    this.renderConnections();
  }

  toggled(group) {
    if (group.collapsed) this.collapsed.add(group.pbx);
    else this.collapsed.delete(group.pbx);
  }

  /** The PBX filter offers every PBX; it is hidden with only one. */
  syncPbxFilter(names) {
    const key = names.join('\u0000');
    this.pbxFilterBox.hidden = names.length < 2;
    if (key === this.pbxOptions) return;
    this.pbxOptions = key;
    if (this.pbxFilter && !names.includes(this.pbxFilter)) this.pbxFilter = '';
    const all = new Option('All PBXs', '');
    this.pbxFilterEl.replaceChildren(all, ...names.map((n) => new Option(n, n)));
    this.pbxFilterEl.value = this.pbxFilter;
  }

  /** Redraws what the store marked; called from the page's animation frame. */
  render() {
    const d = this.store.dirty;
    if (d.all) {
      d.all = false;
      d.exts.clear();
      this.rebuild();
    } else if (d.exts.size) {
      for (const key of d.exts) {
        const card = this.cards.get(key);
        const e = this.store.extensions.get(key);
        if (card && e) {
          this.fill(card, e);
          this.dirtyGroups.add(e.pbx);
        }
      }
      d.exts.clear();
    } else {
      return;
    }
    this.renderCounts();
  }

  renderCounts() {
    const tally = this.store.tally;
    const all = this.store.extensions.size;
    for (const [state, chip] of this.chips) {
      const n = state ? tally.get(state) : all;
      if (chip.count.textContent !== String(n)) chip.count.textContent = String(n);
      // Unknown is only offered when something is in that state.
      if (state === 'unknown') chip.el.hidden = n === 0 && this.stateFilter !== 'unknown';
    }
    const filtering = Boolean(this.query || this.stateFilter);
    for (const pbx of this.dirtyGroups) {
      const group = this.groups.get(pbx);
      const t = this.store.tallies.get(pbx);
      if (!group || !t) continue;
      group.renderCounts(t);
      const hidden = (this.pbxFilter !== '' && this.pbxFilter !== pbx) || (filtering && group.shown === 0);
      if (group.el.hidden !== hidden) group.el.hidden = hidden;
    }
    this.dirtyGroups.clear();
    const total = this.shown === all ? `${all}` : `${this.shown} of ${all}`;
    if (this.total.textContent !== total) this.total.textContent = total;
    this.empty.hidden = this.shown > 0 || all === 0;
  }

  /** Marks each PBX section with its AMI connection's state. */
  renderConnections() {
    for (const [pbx, group] of this.groups) {
      const s = this.store.connections.get(pbx);
      group.setConnection(s ? s.state : '');
    }
  }

  applyFilter() {
    for (const [key, card] of this.cards) {
      const e = this.store.extensions.get(key);
      if (e) this.setHidden(card, !this.matches(e));
    }
    for (const pbx of this.groups.keys()) this.dirtyGroups.add(pbx);
    this.renderCounts();
    this.tick();
  }

  /** Refreshes the "time in state" labels of the cards on screen (hidden, closed
   * and scrolled-away cards are brought up to date as they come into view). */
  tick() {
    const now = this.store.now();
    for (const card of this.onScreen) this.tickCard(card, now);
  }
}
