//! Line scanning for the codec: finding line ends and colons fast, and turning one
//! line into a header [`Field`].
//!
//! AMI lines are short (a key of about ten bytes, a value of about twenty), so the
//! searches here check eight bytes at a time in plain code first: for such lines that
//! beats calling into `memchr`, whose set-up costs more than the search. Longer runs
//! (command output, long values) are handed to `memchr`.
//!
//! [`push_line`] is shared by the streaming decoder and by [`index_fields`], which
//! re-indexes a message after lossy UTF-8 repair, so the two can never disagree.

use super::message::{Field, OUTPUT_KEY};

const END_COMMAND: &[u8] = b"--END COMMAND--";

/// How far the word-at-a-time loop searches before handing over to `memchr`.
const SHORT: usize = 64;

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Index of the first `needle` in `hay`.
#[inline]
pub(crate) fn find(needle: u8, hay: &[u8]) -> Option<usize> {
    let pattern = LO.wrapping_mul(u64::from(needle));
    let short = &hay[..hay.len().min(SHORT)];
    let mut words = short.chunks_exact(8);
    let mut at = 0;
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let x = u64::from_le_bytes(bytes) ^ pattern;
        // A byte of `x` is zero where `needle` is; the lowest flagged byte is exact.
        let zero = x.wrapping_sub(LO) & !x & HI;
        if zero != 0 {
            return Some(at + (zero.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    if let Some(i) = words.remainder().iter().position(|&b| b == needle) {
        return Some(at + i);
    }
    if hay.len() <= SHORT {
        return None;
    }
    memchr::memchr(needle, &hay[SHORT..]).map(|i| SHORT + i)
}

/// Where the lines of the message being read go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Body {
    /// Ordinary `Key: Value` headers.
    Headers,
    /// Just after `Response: Follows`: Asterisk still writes `Privilege:` and
    /// `ActionID:` headers before the command's raw output starts.
    FollowsHead,
    /// Raw command output: every line is an `Output` value, up to `--END COMMAND--`.
    Output,
}

impl Body {
    /// True inside a `Response: Follows` message, where blank lines belong to the output.
    pub(crate) fn in_follows(self) -> bool {
        self != Body::Headers
    }
}

fn is_follows_header(key: &[u8]) -> bool {
    key.eq_ignore_ascii_case(b"ActionID") || key.eq_ignore_ascii_case(b"Privilege")
}

/// Adds the line `buf[start..end]` (without its line break) to `fields`.
///
/// Empty lines add nothing: the caller decides whether one ends the message.
#[inline]
pub(crate) fn push_line(
    buf: &[u8],
    start: usize,
    end: usize,
    fields: &mut Vec<Field>,
    body: &mut Body,
) {
    if end == start {
        return;
    }
    let line = &buf[start..end];
    let colon = find(b':', line);
    if *body == Body::FollowsHead && !colon.is_some_and(|c| is_follows_header(&line[..c])) {
        *body = Body::Output;
    }
    if *body == Body::Output {
        push_output(start, end, line, fields, body);
        return;
    }
    match colon {
        Some(colon) => {
            let key_end = start + colon;
            let mut vs = key_end + 1;
            // Asterisk writes exactly one space; anything else takes the loop.
            if vs < end && buf[vs] == b' ' {
                vs += 1;
            }
            while vs < end && (buf[vs] == b' ' || buf[vs] == b'\t') {
                vs += 1;
            }
            if *body == Body::Headers
                && colon == 8
                && line[..8].eq_ignore_ascii_case(b"Response")
                && buf[vs..end].eq_ignore_ascii_case(b"Follows")
            {
                *body = Body::FollowsHead;
            }
            fields.push(Field {
                key: (start as u32, key_end as u32),
                value: (vs as u32, end as u32),
            });
        }
        None => fields.push(Field {
            key: (start as u32, end as u32),
            value: (end as u32, end as u32),
        }),
    }
}

/// One line of command output; `--END COMMAND--` (alone or glued to the last line)
/// ends the output and goes back to headers.
fn push_output(start: usize, end: usize, line: &[u8], fields: &mut Vec<Field>, body: &mut Body) {
    let mut text_end = end;
    if line.ends_with(END_COMMAND) {
        *body = Body::Headers;
        text_end = end - END_COMMAND.len();
    }
    if text_end > start {
        fields.push(Field {
            key: OUTPUT_KEY,
            value: (start as u32, text_end as u32),
        });
    }
}

/// Indexes the header lines of a complete message held in `text`.
pub(crate) fn index_fields(text: &[u8]) -> Vec<Field> {
    let mut fields = Vec::new();
    let mut body = Body::Headers;
    let mut start = 0;
    while start < text.len() {
        let nl = find(b'\n', &text[start..]).map_or(text.len(), |i| start + i);
        let end = if nl > start && text[nl - 1] == b'\r' {
            nl - 1
        } else {
            nl
        };
        push_line(text, start, end, &mut fields, &mut body);
        start = nl + 1;
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_agrees_with_a_plain_search_at_every_length_and_offset() {
        let mut hay = [b'a'; 200];
        for len in 0..hay.len() {
            for at in [None, Some(0), Some(len / 2), len.checked_sub(1)] {
                hay.iter_mut().for_each(|b| *b = b'a');
                if let Some(i) = at.filter(|&i| i < len) {
                    hay[i] = b'\n';
                    // A second match later must not be reported first.
                    if i + 3 < len {
                        hay[i + 3] = b'\n';
                    }
                }
                let want = hay[..len].iter().position(|&b| b == b'\n');
                assert_eq!(find(b'\n', &hay[..len]), want, "len {len} at {at:?}");
            }
        }
    }

    #[test]
    fn find_handles_bytes_around_the_needle() {
        // Bytes just above and below the needle, and 0x80+, must not match.
        let hay = [0x0b, 0x09, 0x8a, 0xff, 0x00, 0x0b, 0x0a, 0x0a];
        assert_eq!(find(b'\n', &hay), Some(6));
        assert_eq!(find(b':', b"Event: X"), Some(5));
        assert_eq!(
            find(b':', b"no colon here at all, not one, really none"),
            None
        );
    }
}
