//! [`SimConfig`]: how a simulator is set up. A leaf every other simulator module
//! may use (the binary's `sim` arguments are converted to it in `cli`).

use std::fmt;

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
    /// Queues with members and generated callers (0: none, and the generated
    /// calls are exactly those of a simulator without queues).
    pub queues: u32,
}

impl Default for SimConfig {
    /// 50 extensions from 1001, `admin`/`amisecret`, seed 1, 20 events/s.
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
            .field("queues", &self.queues)
            .finish()
    }
}
