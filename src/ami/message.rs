//! [`RawMessage`]: one AMI message as ordered `Key: Value` pairs over one buffer.
//!
//! The frame layer, with no meaning attached (like mini-redis's `Frame`): keys may
//! repeat and keep their order, values may contain `: `, and nothing is copied — the
//! message is one reference-counted UTF-8 buffer plus byte ranges into it. That is
//! what lets the decoder produce typed messages at memory speed.

use std::fmt;

use bytestring::ByteString;

/// Byte range of one header's key and value inside [`RawMessage::text`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Field {
    pub(crate) key: (u32, u32),
    pub(crate) value: (u32, u32),
}

/// Key range standing for `Output`: the lines of a `Response: Follows` body have no
/// key of their own on the wire.
pub(crate) const OUTPUT_KEY: (u32, u32) = (u32::MAX, u32::MAX);

/// One AMI message: the headers in wire order over a shared, immutable buffer.
#[derive(Clone, PartialEq, Eq)]
pub struct RawMessage {
    text: ByteString,
    fields: Vec<Field>,
}

impl RawMessage {
    pub(crate) fn from_parts(text: ByteString, fields: Vec<Field>) -> Self {
        Self { text, fields }
    }

    /// Builds a message from pairs; for tests, the simulator and replies built in memory.
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> Self {
        let mut text = String::new();
        let mut fields = Vec::with_capacity(pairs.len());
        for (k, v) in pairs {
            let ks = text.len() as u32;
            text.push_str(k.as_ref());
            let ke = text.len() as u32;
            text.push_str(": ");
            let vs = text.len() as u32;
            text.push_str(v.as_ref());
            let ve = text.len() as u32;
            text.push_str("\r\n");
            fields.push(Field {
                key: (ks, ke),
                value: (vs, ve),
            });
        }
        text.push_str("\r\n");
        Self {
            text: ByteString::from(text),
            fields,
        }
    }

    /// The text of one byte range of [`Self::as_text`] (a key's or value's).
    pub(crate) fn slice(&self, (start, end): (u32, u32)) -> &str {
        if (start, end) == OUTPUT_KEY {
            return "Output";
        }
        let s: &str = &self.text;
        s.get(start as usize..end as usize).unwrap_or("")
    }

    /// The key of header `index` as bytes (empty when out of range), for hot paths
    /// that match keys without building `&str` pairs.
    pub(crate) fn key_bytes(&self, index: usize) -> &[u8] {
        match self.fields.get(index) {
            Some(f) if f.key == OUTPUT_KEY => b"Output",
            Some(f) => self
                .text
                .as_bytes()
                .get(f.key.0 as usize..f.key.1 as usize)
                .unwrap_or(b""),
            None => b"",
        }
    }

    /// How many headers the message has (repeats counted).
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True for a message without headers (never produced by the codec).
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The header at position `index` in wire order.
    pub fn field(&self, index: usize) -> Option<(&str, &str)> {
        self.fields
            .get(index)
            .map(|f| (self.slice(f.key), self.slice(f.value)))
    }

    /// The value of the header at position `index`: what the hot paths that located
    /// a header once read, without slicing its key too.
    pub(crate) fn value(&self, index: usize) -> Option<&str> {
        self.fields.get(index).map(|f| self.slice(f.value))
    }

    /// The byte range of the value at `index`, trimmed of surrounding whitespace, so a
    /// value read on every hop (an event's name) is trimmed once.
    pub(crate) fn trimmed_value_range(&self, index: usize) -> (u32, u32) {
        let Some(f) = self.fields.get(index) else {
            return (0, 0);
        };
        let v = self.slice(f.value);
        let lead = (v.len() - v.trim_start().len()) as u32;
        let kept = v.trim().len() as u32;
        let start = f.value.0.saturating_add(lead).min(f.value.1);
        (start, start.saturating_add(kept).min(f.value.1))
    }

    /// The value of the first header named `key` (ASCII case-insensitive, as Asterisk matches).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.position(key).and_then(|i| self.value(i))
    }

    /// Index of the first header named `key`, so hot paths can look it up once.
    pub fn position(&self, key: &str) -> Option<usize> {
        let kb = key.as_bytes();
        let text = self.text.as_bytes();
        self.fields.iter().position(|f| {
            if f.key == OUTPUT_KEY {
                return key.eq_ignore_ascii_case("Output");
            }
            let (s, e) = (f.key.0 as usize, f.key.1 as usize);
            e - s == kb.len() && text[s..e].eq_ignore_ascii_case(kb)
        })
    }

    /// Every value of the header `key`, in order (AMI repeats keys such as `Variable` and `Output`).
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    }

    /// All headers in wire order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.fields
            .iter()
            .map(|f| (self.slice(f.key), self.slice(f.value)))
    }

    /// The message text as received (after lossy UTF-8 repair), including the blank line.
    pub fn as_text(&self) -> &str {
        &self.text
    }

    /// Size of the message in bytes, for limits and metrics.
    pub fn byte_len(&self) -> usize {
        self.text.len()
    }
}

impl fmt::Debug for RawMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_list();
        for (k, v) in self.iter() {
            if k.eq_ignore_ascii_case("secret") || k.eq_ignore_ascii_case("key") {
                m.entry(&(k, "***"));
            } else {
                m.entry(&(k, v));
            }
        }
        m.finish()
    }
}
