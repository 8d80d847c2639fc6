//! Display names of extensions: which sources to ask, in which order, and how each
//! answer reads.
//!
//! The order is the admin's names file (an explicit override, no AMI needed), then
//! an AstDB entry when a template is configured (FreePBX keeps its users' names
//! there), then the caller ID of the hint's device as its channel driver knows it:
//! `PJSIPShowEndpoint` for `PJSIP/…`, `SIPshowpeer` for `SIP/…`, the CLI's
//! `iax2 show peer` for `IAX2/…` (IAX2 has no AMI action that shows a peer's caller
//! ID). A source that errors — a module not loaded answers "Invalid/unknown command"
//! — or has no name simply hands over to the next one. The driving (sockets, many
//! actions in flight) is the actors' job; this file is plain code.

use std::collections::HashMap;
use std::sync::Arc;

use thiserror::Error;

use crate::ami::{Action, Event, Response};
use crate::model::{DisplayName, NameSource};

/// The name part of a caller ID such as `"User 1001" <1001>` or `User <1001>`;
/// `None` when there is no name (`<1001>`, `""`, or only the number again).
pub fn caller_id_name(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let name = match raw.rfind('<') {
        Some(at) if raw.ends_with('>') => &raw[..at],
        _ => raw,
    };
    let name = name.trim();
    let name = name
        .strip_prefix('"')
        .and_then(|n| n.strip_suffix('"'))
        .unwrap_or(name)
        .trim();
    (!name.is_empty()).then(|| name.to_string())
}

/// Why a names file could not be used.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum NamesFileError {
    /// A line without `=`, or with an empty number or name.
    #[error("line {line}: expected `EXTENSION = Name` or `PBX/EXTENSION = Name`")]
    BadLine {
        /// 1-based line number.
        line: usize,
    },
}

/// The admin's names file: one `EXTENSION = Name` per line (`PBX/EXTENSION = Name`
/// for one PBX only), `#` starts a comment line, blank lines are skipped. A
/// PBX-specific line beats a line for every PBX.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct NamesFile {
    names: HashMap<(Option<String>, String), String>,
}

impl NamesFile {
    /// Reads the file's text.
    pub fn parse(text: &str) -> Result<Self, NamesFileError> {
        let mut names = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = NamesFileError::BadLine { line: i + 1 };
            let (key, name) = line.split_once('=').ok_or(bad.clone())?;
            let (key, name) = (key.trim(), name.trim());
            let (pbx, exten) = match key.split_once('/') {
                Some((pbx, exten)) => (Some(pbx.trim().to_string()), exten.trim()),
                None => (None, key),
            };
            if exten.is_empty() || name.is_empty() || pbx.as_deref() == Some("") {
                return Err(bad);
            }
            names.insert((pbx, exten.to_string()), name.to_string());
        }
        Ok(Self { names })
    }

    /// The name the file gives `exten` on `pbx`.
    pub fn lookup(&self, pbx: &str, exten: &str) -> Option<&str> {
        self.names
            .get(&(Some(pbx.to_string()), exten.to_string()))
            .or_else(|| self.names.get(&(None, exten.to_string())))
            .map(String::as_str)
    }

    /// How many lines it holds.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when it holds no name.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Where in AstDB a name is kept: `FAMILY/KEY` with `{exten}` in it, e.g.
/// `AMPUSER/{exten}/cidname` (family `AMPUSER`, key `1001/cidname`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AstdbTemplate {
    family: String,
    key: String,
}

impl AstdbTemplate {
    /// Reads `FAMILY/KEY…`; `None` unless both parts are there and `{exten}` is used.
    pub fn parse(template: &str) -> Option<Self> {
        let (family, key) = template.trim().split_once('/')?;
        let ok = !family.is_empty() && !key.is_empty() && template.contains("{exten}");
        ok.then(|| Self {
            family: family.to_string(),
            key: key.to_string(),
        })
    }

    /// The `DBGet` of `exten`'s name.
    fn action(&self, exten: &str) -> Action {
        Action::db_get(
            &self.family.replace("{exten}", exten),
            &self.key.replace("{exten}", exten),
        )
    }
}

/// Which names sources are configured.
#[derive(Debug, Clone, Default)]
pub struct NameSettings {
    /// The admin's names file.
    pub file: Option<Arc<NamesFile>>,
    /// The AstDB entry to try.
    pub astdb: Option<AstdbTemplate>,
}

/// How a query's answer is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reader {
    /// `EndpointDetail` item's `Callerid`.
    Endpoint,
    /// The reply's own `Callerid`.
    SipPeer,
    /// The `Callerid` line of `iax2 show peer`.
    IaxPeer,
    /// The `DBGetResponse` item's `Val`.
    Astdb,
}

/// One AMI question that may answer an extension's name.
#[derive(Debug, Clone)]
pub struct NameQuery {
    /// What to send (no ActionID yet).
    pub action: Action,
    /// The source it stands for.
    pub source: NameSource,
    reader: Reader,
}

impl NameQuery {
    /// The name in the answer: the reply and, for an event list, its items. An
    /// error reply (unknown endpoint, module not loaded, no such entry) has none.
    pub fn read(&self, response: &Response, items: &[Event]) -> Option<DisplayName> {
        if !response.is_success() {
            return None;
        }
        let name = match self.reader {
            Reader::Endpoint => items
                .iter()
                .find(|e| e.name() == "EndpointDetail")
                .and_then(|e| e.get("Callerid"))
                .and_then(caller_id_name),
            Reader::SipPeer => response.get("Callerid").and_then(caller_id_name),
            Reader::IaxPeer => response.output().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                (key.trim() == "Callerid")
                    .then(|| caller_id_name(value))
                    .flatten()
            }),
            Reader::Astdb => items
                .iter()
                .find(|e| e.name() == "DBGetResponse")
                .and_then(|e| e.get("Val"))
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string),
        }?;
        Some(DisplayName {
            name,
            source: self.source,
        })
    }
}

/// What to do for one extension: the names file already knows (`Ok`), or these
/// queries are asked in order until one answers a name (`Err`, maybe empty).
pub fn plan(
    settings: &NameSettings,
    pbx: &str,
    exten: &str,
    hint: Option<&str>,
) -> Result<DisplayName, Vec<NameQuery>> {
    if let Some(name) = settings.file.as_ref().and_then(|f| f.lookup(pbx, exten)) {
        return Ok(DisplayName {
            name: name.to_string(),
            source: NameSource::NamesFile,
        });
    }
    let mut queries = Vec::new();
    if let Some(t) = &settings.astdb {
        queries.push(NameQuery {
            action: t.action(exten),
            source: NameSource::Astdb,
            reader: Reader::Astdb,
        });
    }
    let device = hint
        .unwrap_or("")
        .split('&')
        .find_map(|d| device_query(d.trim()));
    queries.extend(device);
    Err(queries)
}

/// The query for one hint device, when its channel driver can tell a name.
fn device_query(device: &str) -> Option<NameQuery> {
    let (tech, name) = device.split_once('/')?;
    let name = name.split('/').next().filter(|n| !n.is_empty())?;
    let (action, source, reader) = match tech.to_ascii_uppercase().as_str() {
        "PJSIP" => (
            Action::pjsip_show_endpoint(name),
            NameSource::PbxEndpoint,
            Reader::Endpoint,
        ),
        "SIP" => (
            Action::sip_show_peer(name),
            NameSource::SipPeer,
            Reader::SipPeer,
        ),
        "IAX2" if !name.contains(char::is_whitespace) => (
            Action::command(&format!("iax2 show peer {name}")),
            NameSource::SipPeer,
            Reader::IaxPeer,
        ),
        _ => return None,
    };
    Some(NameQuery {
        action,
        source,
        reader,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_id_forms() {
        assert_eq!(
            caller_id_name("\"User 1001\" <1001>").as_deref(),
            Some("User 1001")
        );
        assert_eq!(caller_id_name("Bob <1002>").as_deref(), Some("Bob"));
        assert_eq!(caller_id_name("<1003>"), None);
        assert_eq!(caller_id_name("\"\" <1003>"), None);
        assert_eq!(caller_id_name(""), None);
        assert_eq!(
            caller_id_name("\"Zoë 电话\" <7000>").as_deref(),
            Some("Zoë 电话")
        );
    }

    #[test]
    fn names_file_lines() {
        let f = NamesFile::parse(
            "# team\n1001 = Alice Smith\n\nmain/1001=Alice (main)\n1002 = Bob, Jr.\n",
        )
        .expect("valid file");
        assert_eq!(f.len(), 3);
        assert_eq!(f.lookup("main", "1001"), Some("Alice (main)"));
        assert_eq!(f.lookup("other", "1001"), Some("Alice Smith"));
        assert_eq!(f.lookup("other", "1002"), Some("Bob, Jr."));
        assert_eq!(f.lookup("other", "1003"), None);
        assert_eq!(
            NamesFile::parse("1001 Alice"),
            Err(NamesFileError::BadLine { line: 1 })
        );
        assert_eq!(
            NamesFile::parse("ok = x\n = nobody"),
            Err(NamesFileError::BadLine { line: 2 })
        );
    }

    #[test]
    fn plan_order() {
        let settings = NameSettings {
            file: Some(Arc::new(
                NamesFile::parse("1001 = From File").expect("valid"),
            )),
            astdb: AstdbTemplate::parse("AMPUSER/{exten}/cidname"),
        };
        let Ok(found) = plan(&settings, "p", "1001", Some("PJSIP/1001")) else {
            panic!("the names file answers first");
        };
        assert_eq!(found.source, NameSource::NamesFile);
        let Err(queries) = plan(&settings, "p", "1002", Some("Custom:x&PJSIP/1002")) else {
            panic!("no file entry");
        };
        let names: Vec<_> = queries.iter().map(|q| q.action.name()).collect();
        assert_eq!(names, ["DBGet", "PJSIPShowEndpoint"]);
        assert_eq!(queries[0].action.get("Family"), Some("AMPUSER"));
        assert_eq!(queries[0].action.get("Key"), Some("1002/cidname"));
        assert_eq!(queries[1].action.get("Endpoint"), Some("1002"));
        let Err(queries) = plan(&NameSettings::default(), "p", "2000", Some("Custom:2000")) else {
            panic!("no file");
        };
        assert!(queries.is_empty());
        assert!(AstdbTemplate::parse("AMPUSER").is_none());
        assert!(AstdbTemplate::parse("AMPUSER/cidname").is_none());
    }
}
