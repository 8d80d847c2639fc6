//! [`Origin`]: a web origin as `ALLOWED_ORIGINS` lists it and browsers send it.
//!
//! A setting's type, so it lives with the settings; `http::origin` compares requests to it.

/// A web origin, `scheme://host:port`, normalised (lower case, port made explicit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    /// Parses `scheme://host[:port]` (what browsers send in `Origin`); `None` for
    /// anything else, including `null` and origins with a path or credentials.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let (scheme, rest) = text.split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return None,
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = split_authority(rest, default_port)?;
        Some(Self { scheme, host, port })
    }

    /// The origin as `scheme://host:port`.
    pub fn text(&self) -> String {
        format!("{}://{}:{}", self.scheme, self.host, self.port)
    }

    /// True when a request whose `Host` header is `host` is addressed to this origin.
    /// A `Host` without a port means the default port of this origin's scheme
    /// (browsers leave the default port out of both headers).
    pub fn is_host(&self, host: &str) -> bool {
        let default_port = if self.scheme == "https" { 443 } else { 80 };
        split_authority(host.trim(), default_port)
            .is_some_and(|(h, p)| h == self.host && p == self.port)
    }
}

/// `host[:port]` or `[v6][:port]` → lower-cased host and port.
fn split_authority(text: &str, default_port: u16) -> Option<(String, u16)> {
    if text.is_empty() || text.contains(['/', '@', '?', '#', ' ']) {
        return None;
    }
    let (host, port) = if let Some(v6) = text.strip_prefix('[') {
        let (addr, after) = v6.split_once(']')?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (format!("[{}]", addr.to_ascii_lowercase()), port)
    } else {
        match text.rsplit_once(':') {
            Some((h, p)) => (h.to_ascii_lowercase(), Some(p)),
            None => (text.to_ascii_lowercase(), None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        None => default_port,
        Some(p) => p.parse().ok()?,
    };
    Some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalised() {
        let o = Origin::parse("HTTP://PBX.Example:8080/").expect("valid");
        assert_eq!(o.text(), "http://pbx.example:8080");
        assert_eq!(
            Origin::parse("https://a.b").map(|o| o.text()).as_deref(),
            Some("https://a.b:443")
        );
        assert_eq!(
            Origin::parse("http://[::1]:9").map(|o| o.text()).as_deref(),
            Some("http://[::1]:9")
        );
        for bad in [
            "null",
            "",
            "*",
            "ftp://a",
            "http://",
            "http://a/b",
            "http://u@a",
            "http://a:x",
        ] {
            assert_eq!(Origin::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn host_comparison_uses_default_ports() {
        let o = Origin::parse("http://10.0.0.5:8080").expect("valid");
        assert!(o.is_host("10.0.0.5:8080"));
        assert!(!o.is_host("10.0.0.5"));
        assert!(!o.is_host("10.0.0.6:8080"));
        let o = Origin::parse("https://pbx.example").expect("valid");
        assert!(o.is_host("PBX.example"));
        assert!(o.is_host("pbx.example:443"));
        assert!(!o.is_host("pbx.example:80"));
    }
}
