// One extension's state over a day as coloured spans, drawn as plain SVG. Each span
// is a focusable group labelled with its state and times, so the timeline reads
// with a keyboard and a screen reader; colours are the dashboard's state colours
// and always come with the word (label, legend, list).

import { STATES } from './format.js';

const SVG = 'http://www.w3.org/2000/svg';
const pad = (n) => String(n).padStart(2, '0');
const WORDS = new Map(STATES);

function el(name, attrs = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** `HH:MM:SS` of a time in ms. */
export function hms(t) {
  const d = new Date(t);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** The word for a state. */
export function stateWord(state) {
  return WORDS.get(state) || state || 'unknown';
}

/**
 * Spans `{from, to, state}` (ms) over [start, end) from the state at `start`
 * (`stateAt`, may be null) and the transitions (newest first, as the API answers).
 * Consecutive spans of one state merge, a state held for no time at all (changes
 * within one millisecond) has no span, and the time before the first known state
 * is `unknown`.
 */
export function spans(stateAt, transitions, start, end) {
  // The API lists the newest first; reversed, the stable sort keeps changes of one
  // millisecond in the order they happened.
  const changes = [...transitions]
    .reverse()
    .map((t) => ({ at: Date.parse(t.at), state: t.state }))
    .filter((t) => !Number.isNaN(t.at) && t.at < end)
    .sort((a, b) => a.at - b.at);
  const out = [];
  // Before the first record there is nothing to draw (the track shows through).
  let state = stateAt ? stateAt.state : null;
  let from = start;
  const push = (to) => {
    if (to <= from || state === null) return;
    const last = out[out.length - 1];
    if (last && last.state === state && last.to === from) last.to = to;
    else out.push({ from, to, state });
  };
  for (const c of changes) {
    if (c.at <= start) {
      state = c.state;
      continue;
    }
    push(c.at);
    from = c.at;
    state = c.state;
  }
  push(end);
  return out;
}

/** Draws `list` (from [`spans`]) over [start, end) into `box`. */
export function drawTimeline(box, list, start, end) {
  // Drawn at the box's own width, so the hour labels stay readable on a phone.
  const W = Math.max(320, Math.round(box.clientWidth || 960));
  const H = 86;
  const left = 8;
  const right = 8;
  const barY = 8;
  const barH = 44;
  const plotW = W - left - right;
  const x = (t) => left + ((t - start) / (end - start)) * plotW;
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, class: 'timeline-svg', role: 'group', 'aria-label': `State from ${hms(start)}, ${list.length} spans` });
  svg.append(el('rect', { x: left, y: barY, width: plotW, height: barH, class: 'track' }));
  for (const s of list) {
    const label = `${stateWord(s.state)} from ${hms(s.from)} to ${hms(s.to)}`;
    const g = el('g', { class: 'span', tabindex: 0, role: 'img', 'aria-label': label, 'data-state': s.state });
    g.append(el('title', {}, label));
    g.append(el('rect', { x: x(s.from), y: barY, width: Math.max(1, x(s.to) - x(s.from)), height: barH }));
    svg.append(g);
  }
  const hours = Math.round((end - start) / 3600000);
  const every = W < 600 ? 6 : 3;
  for (let h = 0; h <= hours; h += every) {
    const t = start + h * 3600000;
    svg.append(el('line', { x1: x(t), x2: x(t), y1: barY + barH, y2: barY + barH + 6, class: 'tick' }));
    svg.append(el('text', { x: x(t), y: H - 8, class: 'axis', 'text-anchor': h === 0 ? 'start' : h === hours ? 'end' : 'middle' }, `${pad(h % 24)}:00`));
  }
  box.replaceChildren(svg);
}
