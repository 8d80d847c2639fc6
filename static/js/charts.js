// Today at a glance: calls per hour, answered against missed, as plain SVG drawn
// here (no library, nothing loaded from elsewhere). Each hour is a focusable group
// whose label says its figures, so the chart reads with a keyboard and a screen
// reader as well as on a wall display.

const SVG = 'http://www.w3.org/2000/svg';

function el(name, attrs = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A round upper bound for the axis: 1, 2, 5, 10, 20, 50… at least `max`. */
export function niceMax(max) {
  if (max <= 1) return 1;
  let step = 1;
  for (;;) {
    for (const m of [1, 2, 5]) {
      if (m * step >= max) return m * step;
    }
    step *= 10;
  }
}

/** Counts calls per local hour of the day starting at `dayStart` (a Date). */
export function perHour(calls, dayStart) {
  const hours = Array.from({ length: 24 }, () => ({ answered: 0, missed: 0 }));
  const t0 = dayStart.getTime();
  for (const c of calls) {
    const at = Date.parse(c.startedAt);
    if (Number.isNaN(at)) continue;
    const h = Math.floor((at - t0) / 3600000);
    if (h < 0 || h > 23) continue;
    if (c.outcome === 'answered') hours[h].answered += 1;
    else hours[h].missed += 1;
  }
  return hours;
}

const pad = (n) => String(n).padStart(2, '0');

/**
 * Draws the stacked bars of `hours` (24 × {answered, missed}) into `box`,
 * replacing what was there.
 */
export function drawHourly(box, hours) {
  // Drawn at the box's own width, so text stays readable from a phone to a wall.
  const W = Math.max(320, Math.round(box.clientWidth || 720));
  const H = W < 600 ? 200 : Math.min(320, Math.round(W * 0.3));
  const left = 34;
  const bottom = 24;
  const top = 10;
  const plotW = W - left - 6;
  const plotH = H - top - bottom;
  const max = niceMax(Math.max(0, ...hours.map((h) => h.answered + h.missed)));
  const total = hours.reduce((a, h) => a + h.answered + h.missed, 0);
  const svg = el('svg', {
    viewBox: `0 0 ${W} ${H}`,
    class: 'chart-svg',
    role: 'group',
    'aria-label': `Calls per hour today: ${total} in all`,
  });
  // Lines at 0, the top and the middle when the middle is a whole number of calls.
  for (const f of max % 2 === 0 ? [0, 0.5, 1] : [0, 1]) {
    const y = top + plotH * (1 - f);
    svg.append(el('line', { x1: left, x2: W - 6, y1: y, y2: y, class: 'grid-line' }));
    svg.append(el('text', { x: left - 6, y: y + 4, class: 'axis', 'text-anchor': 'end' }, String(Math.round(max * f))));
  }
  const slot = plotW / 24;
  const barW = Math.max(4, slot * 0.7);
  hours.forEach((h, i) => {
    const x = left + i * slot + (slot - barW) / 2;
    const answeredH = (h.answered / max) * plotH;
    const missedH = (h.missed / max) * plotH;
    const label = `${pad(i)}:00 to ${pad((i + 1) % 24)}:00: ${h.answered} answered, ${h.missed} missed`;
    const g = el('g', { class: 'bar', tabindex: 0, role: 'img', 'aria-label': label, 'data-hour': i });
    g.append(el('title', {}, label));
    // An invisible full-height target, so an empty hour can still be pointed at.
    g.append(el('rect', { x: left + i * slot, y: top, width: slot, height: plotH, class: 'bar-hit' }));
    g.append(el('rect', { x, y: top + plotH - answeredH, width: barW, height: answeredH, class: 'bar-answered' }));
    g.append(el('rect', { x, y: top + plotH - answeredH - missedH, width: barW, height: missedH, class: 'bar-missed' }));
    svg.append(g);
    if (i % 3 === 0) {
      svg.append(el('text', { x: left + i * slot + slot / 2, y: H - 6, class: 'axis', 'text-anchor': 'middle' }, pad(i)));
    }
  });
  box.replaceChildren(svg);
}
