//! [`FastMap`]: a `HashMap` with foldhash instead of SipHash, for the maps looked up
//! on every event or every queued change.
//!
//! SipHash resists hash flooding at several times the cost per short key; these
//! maps are keyed by what the PBX names (channels, Linkedids, extensions) and by
//! the changes built from it, and a slow client's conflation pass hashed every
//! change it held with SipHash, which slowed the HTTP workers enough once clients
//! lagged to make them lag more (docs/PERFORMANCE.md). foldhash's per-process random seed still keeps the
//! layout unpredictable from outside.

/// A `HashMap` hashed with foldhash; build it with `FastMap::default()`.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
