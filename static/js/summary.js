// Words about several PBXs at once: the header's "20 PBXs · 17 connected · 3 down"
// and name lists shortened so twenty names never fill a line.

import { compareNumbers } from './format.js';

/** How many names a shortened list shows before "+N more". */
const NAMES_SHOWN = 3;

/** `p03, p07, p11 +2 more`. */
export function shortList(names, shown = NAMES_SHOWN) {
  if (names.length <= shown + 1) return names.join(', ');
  return `${names.slice(0, shown).join(', ')} +${names.length - shown} more`;
}

/** Names of the PBXs whose AMI connection is not up, sorted. */
export function downPbxs(connections) {
  return [...connections.values()]
    .filter((s) => s.state !== 'connected')
    .map((s) => s.pbx)
    .sort(compareNumbers);
}

/**
 * The header's line: with one PBX its name (or its AMI banner), as it always read;
 * with several a count of connected and down ones.
 * @param {Map} connections pbx → ConnectionStatus
 */
export function pbxSummary(connections) {
  const pbxs = [...connections.values()];
  if (pbxs.length <= 1) {
    const names = pbxs.map((s) => s.pbx).filter((n) => n && n !== 'default');
    const banners = pbxs.map((s) => s.banner).filter(Boolean);
    return names.length ? names.join(', ') : banners[0] || 'PBX';
  }
  const down = downPbxs(connections);
  const up = pbxs.length - down.length;
  const head = `${pbxs.length} PBXs · ${up} connected`;
  return down.length ? `${head} · ${down.length} down: ${shortList(down)}` : head;
}
