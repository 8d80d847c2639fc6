//! [`Channel`] and [`ChanState`]: one leg of a simulated call, the shape the wire
//! writes and the model keeps. A leaf, so the model and the wire share it without
//! pointing at each other.

use std::time::Instant;

/// A channel's state as `ChannelState`/`ChannelStateDesc` report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChanState {
    /// 0, not yet signalled.
    Down,
    /// 4, the caller side dialling.
    Ring,
    /// 5, the callee side alerting.
    Ringing,
    /// 6, answered.
    Up,
    /// 7, busy.
    Busy,
}

impl ChanState {
    /// The numeric `ChannelState`.
    pub fn code(self) -> u8 {
        match self {
            Self::Down => 0,
            Self::Ring => 4,
            Self::Ringing => 5,
            Self::Up => 6,
            Self::Busy => 7,
        }
    }

    /// The `ChannelStateDesc` word.
    pub fn desc(self) -> &'static str {
        match self {
            Self::Down => "Down",
            Self::Ring => "Ring",
            Self::Ringing => "Ringing",
            Self::Up => "Up",
            Self::Busy => "Busy",
        }
    }
}

/// One channel (leg) of a call, with the fields every channel event repeats.
#[derive(Debug, Clone)]
pub struct Channel {
    /// e.g. `PJSIP/1001-0000000a`.
    pub name: String,
    /// `simpbx-<epoch>.<n>`.
    pub uniqueid: String,
    /// The call's id (the first channel's Uniqueid).
    pub linkedid: String,
    /// Where the channel is.
    pub state: ChanState,
    /// Caller ID of this channel.
    pub cid_num: String,
    /// Caller ID name.
    pub cid_name: String,
    /// The party on the other end, once known.
    pub conn_num: String,
    /// Its name.
    pub conn_name: String,
    /// Dialplan context.
    pub context: String,
    /// Dialplan extension.
    pub exten: String,
    /// Index of the local extension this channel belongs to.
    pub ext: Option<usize>,
    /// When it was created (for `Duration`).
    pub created: Instant,
}
