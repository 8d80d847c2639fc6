//! [`AmiCodec`]: the tokio-util `Decoder`/`Encoder` for the AMI wire format.
//!
//! The wire format: one banner line (`Asterisk Call Manager/x.y.z`) when the
//! connection opens, then messages made of `Key: Value` lines (CRLF, or a bare LF
//! that Asterisk sometimes writes inside a value) ended by an empty line. A
//! `Response: Follows` message carries raw command output up to a line ending in
//! `--END COMMAND--`; those lines become `Output` headers, like the `Output:` lines
//! newer Asterisk versions send (the `Privilege:` and `ActionID:` headers Asterisk
//! writes before the output stay headers, so the reply still correlates).
//!
//! Written by hand because no crate frames AMI; it follows tokio-util's
//! `LinesCodec`: a scan index so partial reads are never rescanned, and limits on
//! the message being read (line length, header count, message size) rather than on
//! the whole buffer. A message that breaks a limit is reported once as
//! [`Frame::Malformed`] and skipped up to its blank line, dropping its bytes as they
//! arrive, so hostile input can neither grow memory nor end the stream.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use bytestring::ByteString;
use tokio_util::codec::{Decoder, Encoder};

use memchr::memmem::Finder;

use super::action::Action;
use super::consumed::skip_label;
use super::error::{AmiError, FrameError};
use super::message::{Field, RawMessage};
use super::scan::{find, index_fields, push_line, Body};

/// The first bytes of an AMI banner line.
pub const BANNER_PREFIX: &[u8] = b"Asterisk Call Manager/";

/// Hard limits on what one message may be; all configurable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest line accepted, in bytes (without the line break).
    pub max_line: usize,
    /// Most header lines in one message.
    pub max_headers: usize,
    /// Largest message, in bytes.
    pub max_message: usize,
}

impl Limits {
    /// The default largest message (and so longest line): 1 MiB.
    ///
    /// Asterisk puts no limit on a header's length: a `VarSet` or `UserEvent` value
    /// holding a base64 blob of 70 KiB is legitimate, and the largest reply seen
    /// (`ListCommands`) is 35 KB. A megabyte admits such a value fourteen times over,
    /// yet caps what a hostile peer can make one connection hold.
    pub const DEFAULT_MAX_MESSAGE: usize = 1024 * 1024;
    /// The default most header lines in one message.
    pub const DEFAULT_MAX_HEADERS: usize = 4096;
}

impl Default for Limits {
    /// A line may be as long as the whole message: a real PBX sends one long value
    /// rather than many long lines, so a separate, smaller line limit would only
    /// lose legitimate events.
    fn default() -> Self {
        Self {
            max_line: Self::DEFAULT_MAX_MESSAGE,
            max_headers: Self::DEFAULT_MAX_HEADERS,
            max_message: Self::DEFAULT_MAX_MESSAGE,
        }
    }
}

/// What the decoder yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// The banner line, e.g. `Asterisk Call Manager/11.0.0`.
    Banner(ByteString),
    /// One complete message.
    Message(RawMessage),
    /// A message that broke a limit or was cut off; already skipped.
    Malformed(FrameError),
    /// An event nothing in the service reads, dropped unparsed (only with
    /// [`AmiCodec::skip_unread`]); carries its metric label so it is still counted.
    Skipped(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Discard {
    /// Not discarding.
    No,
    /// Dropping bytes up to the next line break, then up to a blank line.
    ToLineEnd,
    /// Dropping whole lines up to a blank line.
    ToBlank,
}

/// Decoder and encoder for one AMI connection (either side).
#[derive(Debug)]
pub struct AmiCodec {
    limits: Limits,
    banner_checked: bool,
    scan: usize,
    /// Where the search for the current line's end resumes: the bytes from `scan` up to
    /// here hold no line break, so a long line arriving in many reads is scanned once.
    searched: usize,
    /// Headers of the message being read; copied out at its end, so it keeps its capacity.
    fields: Vec<Field>,
    body: Body,
    discard: Discard,
    /// Drop events that nothing reads without building their headers.
    skip_unread: bool,
    /// An event being skipped whose blank line has not arrived: its label and where
    /// the search for the blank line resumes.
    pending_skip: Option<(&'static str, usize)>,
    blank_crlf: Finder<'static>,
    blank_lf: Finder<'static>,
    action_id: Finder<'static>,
}

/// How far into a message the skip check looks for the end of its `Event:` line;
/// longer first lines are read the ordinary way, so a hostile one is never rescanned.
const FIRST_LINE_MAX: usize = 128;

/// What the early look at a message's first line decided.
enum Early {
    /// The event was dropped whole; its label.
    Skipped(&'static str),
    /// A skippable event whose end has not arrived yet.
    NeedMore,
    /// Read it the ordinary way.
    Read,
}

impl Default for AmiCodec {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

impl AmiCodec {
    /// A codec expecting a banner as its first line (the client side of a connection).
    pub fn new(limits: Limits) -> Self {
        let max = u32::MAX as usize / 2;
        Self {
            limits: Limits {
                max_line: limits.max_line.min(max),
                max_headers: limits.max_headers,
                max_message: limits.max_message.min(max),
            },
            banner_checked: false,
            scan: 0,
            searched: 0,
            fields: Vec::with_capacity(64),
            body: Body::Headers,
            discard: Discard::No,
            skip_unread: false,
            pending_skip: None,
            blank_crlf: Finder::new(b"\n\r\n"),
            blank_lf: Finder::new(b"\n\n"),
            action_id: Finder::new(b"\nActionID:"),
        }
    }

    /// Skips events that nothing in the service reads ([`Frame::Skipped`]): read
    /// their `Event:` line, then drop them to the blank line without building headers.
    /// Events carrying an `ActionID` (list items, replies to us) are always read.
    pub fn skip_unread(mut self, on: bool) -> Self {
        self.skip_unread = on;
        self
    }

    /// Sets [`Self::skip_unread`] on a codec already in use (after login); takes
    /// effect from the next message.
    pub fn set_skip_unread(&mut self, on: bool) {
        self.skip_unread = on;
    }

    /// A codec that never treats the first line as a banner (the server side).
    pub fn server(limits: Limits) -> Self {
        let mut codec = Self::new(limits);
        codec.banner_checked = true;
        codec
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn reset_message(&mut self) {
        self.scan = 0;
        self.searched = 0;
        self.fields.clear();
        self.body = Body::Headers;
        self.pending_skip = None;
    }

    /// The largest event skipped unparsed: one this size cannot break the line or
    /// header limits (a header line takes at least two bytes), so skipping it can
    /// never hide a message the ordinary path would report as malformed.
    fn skip_cap(&self) -> usize {
        self.limits
            .max_line
            .min(self.limits.max_message)
            .min(self.limits.max_headers.saturating_mul(2))
    }

    /// At the start of a message: if it is an event nobody reads, drops it whole.
    fn early(&mut self, src: &mut BytesMut) -> Early {
        let (label, from) = match self.pending_skip {
            Some(pending) => pending,
            None => {
                let head = &src[..src.len().min(FIRST_LINE_MAX)];
                let Some(nl) = find(b'\n', head) else {
                    return Early::Read;
                };
                let line = head[..nl].strip_suffix(b"\r").unwrap_or(&head[..nl]);
                let Some(value) = line
                    .get(..6)
                    .filter(|k| k.eq_ignore_ascii_case(b"Event:"))
                    .map(|_| line[6..].trim_ascii())
                else {
                    return Early::Read;
                };
                match skip_label(value) {
                    Some(label) => (label, nl),
                    None => return Early::Read,
                }
            }
        };
        let cap = self.skip_cap();
        let limit = src.len().min(cap);
        let region = &src[from.min(limit)..limit];
        let crlf = self.blank_crlf.find(region).map(|i| i + 3);
        let lf_region = &region[..crlf.unwrap_or(region.len())];
        let end = match self.blank_lf.find(lf_region).map(|i| i + 2).or(crlf) {
            Some(rel) => from + rel,
            None if src.len() >= cap => {
                self.pending_skip = None;
                return Early::Read;
            }
            None => {
                self.pending_skip = Some((label, from.max(src.len().saturating_sub(2))));
                return Early::NeedMore;
            }
        };
        self.pending_skip = None;
        if self.action_id.find(&src[..end]).is_some() {
            return Early::Read;
        }
        src.advance(end);
        self.searched = 0;
        Early::Skipped(label)
    }

    fn malformed(&mut self, src: &mut BytesMut, upto: Option<usize>, err: FrameError) -> Frame {
        match upto {
            // The offending line is complete: drop through it, then skip to the blank line.
            Some(n) => {
                src.advance(n);
                self.discard = Discard::ToBlank;
            }
            None => {
                src.clear();
                self.discard = Discard::ToLineEnd;
            }
        }
        self.reset_message();
        Frame::Malformed(err)
    }

    /// Drops input of a skipped message; true once the message is fully skipped.
    fn skip(&mut self, src: &mut BytesMut) -> bool {
        loop {
            let Some(nl) = find(b'\n', src) else {
                if self.discard == Discard::ToBlank && src.len() <= self.limits.max_line {
                    return false; // keep the partial line: it may be the blank line
                }
                src.clear();
                self.discard = Discard::ToLineEnd;
                return false;
            };
            let blank = nl == 0 || (nl == 1 && src[0] == b'\r');
            src.advance(nl + 1);
            if self.discard == Discard::ToLineEnd {
                self.discard = Discard::ToBlank;
            } else if blank {
                self.discard = Discard::No;
                return true;
            }
        }
    }

    fn finish(&mut self, src: &mut BytesMut, len: usize) -> Frame {
        let bytes = src.split_to(len).freeze();
        // One exact-size allocation per message instead of growing a fresh Vec.
        let fields = self.fields.as_slice().to_vec();
        self.reset_message();
        Frame::Message(build_message(bytes, fields))
    }
}

/// Builds a message, repairing invalid UTF-8 lossily (and re-indexing, since the
/// repair moves bytes) rather than failing: a PBX's odd byte must not cost an event.
fn build_message(bytes: Bytes, fields: Vec<Field>) -> RawMessage {
    match ByteString::try_from(bytes.clone()) {
        Ok(text) => RawMessage::from_parts(text, fields),
        Err(_) => {
            let repaired = String::from_utf8_lossy(&bytes).into_owned();
            let fields = index_fields(repaired.as_bytes());
            RawMessage::from_parts(ByteString::from(repaired), fields)
        }
    }
}

impl Decoder for AmiCodec {
    type Item = Frame;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, Self::Error> {
        loop {
            if self.discard != Discard::No && !self.skip(src) {
                return Ok(None);
            }
            if self.skip_unread
                && self.banner_checked
                && self.scan == 0
                && self.fields.is_empty()
                && self.body == Body::Headers
            {
                match self.early(src) {
                    Early::Skipped(label) => return Ok(Some(Frame::Skipped(label))),
                    Early::NeedMore => return Ok(None),
                    Early::Read => {}
                }
            }
            let from = self.scan.max(self.searched);
            let Some(rel) = find(b'\n', &src[from..]) else {
                self.searched = src.len();
                // A CR waiting for its LF is not part of the line.
                let partial = src.len() - self.scan - usize::from(src.last() == Some(&b'\r'));
                if partial > self.limits.max_line {
                    let limit = self.limits.max_line;
                    return Ok(Some(self.malformed(
                        src,
                        None,
                        FrameError::LineTooLong { limit },
                    )));
                }
                if src.len() > self.limits.max_message {
                    let limit = self.limits.max_message;
                    return Ok(Some(self.malformed(
                        src,
                        None,
                        FrameError::MessageTooLarge { limit },
                    )));
                }
                return Ok(None);
            };
            let nl = from + rel;
            let start = self.scan;
            let end = if nl > start && src[nl - 1] == b'\r' {
                nl - 1
            } else {
                nl
            };
            if end - start > self.limits.max_line {
                let limit = self.limits.max_line;
                return Ok(Some(self.malformed(
                    src,
                    Some(nl + 1),
                    FrameError::LineTooLong { limit },
                )));
            }
            if !self.banner_checked {
                self.banner_checked = true;
                if src[start..end].starts_with(BANNER_PREFIX) {
                    let line = src.split_to(nl + 1).freeze().slice(..end);
                    self.reset_message();
                    let banner = ByteString::try_from(line.clone()).unwrap_or_else(|_| {
                        ByteString::from(String::from_utf8_lossy(&line).into_owned())
                    });
                    return Ok(Some(Frame::Banner(banner)));
                }
            }
            let blank = start == end;
            if blank && !self.body.in_follows() {
                if self.fields.is_empty() {
                    src.advance(nl + 1);
                    self.scan = 0;
                    self.searched = 0;
                    continue;
                }
                return Ok(Some(self.finish(src, nl + 1)));
            }
            // Every line but the closing blank one counts, blank output lines included.
            if nl + 1 > self.limits.max_message {
                let limit = self.limits.max_message;
                return Ok(Some(self.malformed(
                    src,
                    Some(nl + 1),
                    FrameError::MessageTooLarge { limit },
                )));
            }
            if blank {
                self.scan = nl + 1;
                continue;
            }
            if self.fields.len() >= self.limits.max_headers {
                let limit = self.limits.max_headers;
                return Ok(Some(self.malformed(
                    src,
                    Some(nl + 1),
                    FrameError::TooManyHeaders { limit },
                )));
            }
            push_line(src, start, end, &mut self.fields, &mut self.body);
            self.scan = nl + 1;
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, Self::Error> {
        if let Some(frame) = self.decode(src)? {
            return Ok(Some(frame));
        }
        if self.discard != Discard::No {
            src.clear();
            self.discard = Discard::No;
            return Ok(None);
        }
        let leftover = src.iter().any(|b| !b.is_ascii_whitespace());
        let bytes = src.len();
        src.clear();
        let had_message = !self.fields.is_empty() || self.body.in_follows();
        self.reset_message();
        if leftover || had_message {
            return Ok(Some(Frame::Malformed(FrameError::Truncated { bytes })));
        }
        Ok(None)
    }
}

impl Encoder<&Action> for AmiCodec {
    type Error = AmiError;

    fn encode(&mut self, action: &Action, dst: &mut BytesMut) -> Result<(), AmiError> {
        Ok(action.encode_into(dst)?)
    }
}

impl Encoder<Bytes> for AmiCodec {
    type Error = std::io::Error;

    /// Pre-encoded bytes (the simulator's replies and events) go out unchanged.
    fn encode(&mut self, bytes: Bytes, dst: &mut BytesMut) -> Result<(), Self::Error> {
        dst.put(bytes);
        Ok(())
    }
}
