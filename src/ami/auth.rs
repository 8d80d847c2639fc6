//! How a client logs in to AMI: a protocol choice, so it lives with the protocol
//! (the settings read it, the connection acts on it).

/// How to log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// `Challenge` then `Login` with an MD5 key (the default).
    Md5,
    /// `Login` with the secret in plain text.
    Plain,
}
