//! [`SimConfig`]: how a simulator is set up. A leaf every other simulator module
//! may use (the binary's `sim` arguments are converted to it in `cli`).
//!
//! The account's `read`/`write` classes and `timestampevents` are settings here;
//! what they change (which actions answer `Permission denied`, which events a
//! session sees, whether events carry `Timestamp:`) is in `permissions.rs`.

use std::fmt;
use std::str::FromStr;

/// How a simulator is set up.
#[derive(Clone)]
pub struct SimConfig {
    /// AMI user name accepted (case-insensitive, as Asterisk).
    pub username: String,
    /// Its secret, plain or through the MD5 challenge.
    pub secret: String,
    /// Seed of every random choice: same seed, same calls.
    pub seed: u64,
    /// Number of extensions with a hint.
    pub extensions: u32,
    /// Number of the first one (the others follow).
    pub first_extension: u32,
    /// Generated events per second (0 = only what actions and the handle cause).
    pub rate: f64,
    /// `SystemName` of events and prefix of Uniqueids.
    pub system_name: String,
    /// Dialplan context of the hints.
    pub context: String,
    /// How many event chunks a session may fall behind before it is dropped.
    pub lag_capacity: usize,
    /// The user's `read =` classes in manager.conf terms: the events it receives.
    pub read: Classes,
    /// The user's `write =` classes: the actions it may run.
    pub write: Classes,
    /// `timestampevents` in manager.conf: whether events carry `Timestamp:`.
    pub timestamps: bool,
    /// Queues with members and generated callers (0: none, and the generated
    /// calls are exactly those of a simulator without queues).
    pub queues: u32,
}

/// A manager.conf permission class (Asterisk's `EVENT_FLAG_*`), as `read =` and
/// `write =` name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// `system`: FullyBooted, Shutdown, contact status; PJSIPShowEndpoint, Filter.
    System,
    /// `call`: channel, dial, bridge, hangup and hint events; ExtensionState(List).
    Call,
    /// `log`.
    Log,
    /// `verbose`.
    Verbose,
    /// `command`: the CLI `Command` action.
    Command,
    /// `agent`: queue member events.
    Agent,
    /// `user`: UserEvent.
    User,
    /// `config`.
    Config,
    /// `dtmf`.
    Dtmf,
    /// `reporting`: read-only queries such as CoreShowChannels, ExtensionStateList.
    Reporting,
    /// `cdr`.
    Cdr,
    /// `dialplan`: Newexten, VarSet.
    Dialplan,
    /// `originate`: Originate.
    Originate,
    /// `agi`.
    Agi,
    /// `cc`.
    Cc,
    /// `aoc`.
    Aoc,
    /// `test`.
    Test,
    /// `security`: SuccessfulAuth and the other security events.
    Security,
    /// `message`.
    Message,
}

impl Class {
    /// Every class, in Asterisk's order.
    pub const ALL: [Self; 19] = [
        Self::System,
        Self::Call,
        Self::Log,
        Self::Verbose,
        Self::Command,
        Self::Agent,
        Self::User,
        Self::Config,
        Self::Dtmf,
        Self::Reporting,
        Self::Cdr,
        Self::Dialplan,
        Self::Originate,
        Self::Agi,
        Self::Cc,
        Self::Aoc,
        Self::Test,
        Self::Security,
        Self::Message,
    ];

    /// The word manager.conf and `Privilege:` use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::Call => "call",
            Self::Log => "log",
            Self::Verbose => "verbose",
            Self::Command => "command",
            Self::Agent => "agent",
            Self::User => "user",
            Self::Config => "config",
            Self::Dtmf => "dtmf",
            Self::Reporting => "reporting",
            Self::Cdr => "cdr",
            Self::Dialplan => "dialplan",
            Self::Originate => "originate",
            Self::Agi => "agi",
            Self::Cc => "cc",
            Self::Aoc => "aoc",
            Self::Test => "test",
            Self::Security => "security",
            Self::Message => "message",
        }
    }

    /// The class a word names (any case), if any.
    pub fn from_word(word: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(word.trim()))
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// A set of [`Class`]es: what a manager.conf `read =` or `write =` line grants.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Classes(u32);

impl Classes {
    /// `all`: every class (the simulator's default account, like `admin`).
    pub const ALL: Self = Self((1 << Class::ALL.len()) - 1);
    /// No class at all.
    pub const NONE: Self = Self(0);

    /// Whether `class` is granted.
    pub fn has(self, class: Class) -> bool {
        self.0 & class.bit() != 0
    }

    /// Whether every class of `other` is granted.
    pub fn covers(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any class of `other` is granted.
    pub fn meets(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }

    /// The set of `classes`.
    pub fn of(classes: &[Class]) -> Self {
        Self(classes.iter().fold(0, |acc, c| acc | c.bit()))
    }
}

impl FromStr for Classes {
    type Err = String;

    /// A manager.conf list: `call,system,reporting`, `all` or `none`.
    fn from_str(text: &str) -> Result<Self, String> {
        let mut set = Self::NONE;
        for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            if word.eq_ignore_ascii_case("all") {
                set = Self::ALL;
            } else if word.eq_ignore_ascii_case("none") {
                continue;
            } else {
                let class = Class::from_word(word).ok_or_else(|| {
                    format!(
                        "{word:?} is not a manager.conf class (system, call, reporting, …, all)"
                    )
                })?;
                set.0 |= class.bit();
            }
        }
        Ok(set)
    }
}

impl fmt::Display for Classes {
    /// `all` or the comma list, as manager.conf writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Self::ALL {
            return f.write_str("all");
        }
        let words: Vec<&str> = Class::ALL
            .into_iter()
            .filter(|c| self.has(*c))
            .map(Class::as_str)
            .collect();
        f.write_str(if words.is_empty() { "none" } else { "" })?;
        f.write_str(&words.join(","))
    }
}

impl fmt::Debug for Classes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Default for SimConfig {
    /// 50 extensions from 1001, `admin`/`amisecret` with `read = all`, `write = all`,
    /// timestamps on, seed 1, 20 events/s.
    fn default() -> Self {
        Self {
            username: "admin".to_string(),
            secret: "amisecret".to_string(),
            seed: 1,
            extensions: 50,
            first_extension: 1001,
            rate: 20.0,
            system_name: "simpbx".to_string(),
            context: "from-internal".to_string(),
            lag_capacity: 1024,
            read: Classes::ALL,
            write: Classes::ALL,
            timestamps: true,
            queues: 0,
        }
    }
}

impl fmt::Debug for SimConfig {
    /// Never prints the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("username", &self.username)
            .field("secret", &"***")
            .field("seed", &self.seed)
            .field("extensions", &self.extensions)
            .field("first_extension", &self.first_extension)
            .field("rate", &self.rate)
            .field("system_name", &self.system_name)
            .field("context", &self.context)
            .field("lag_capacity", &self.lag_capacity)
            .field("read", &self.read)
            .field("write", &self.write)
            .field("timestamps", &self.timestamps)
            .field("queues", &self.queues)
            .finish()
    }
}
