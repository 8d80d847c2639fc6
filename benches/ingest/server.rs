//! The corpus server: this same binary run as a child process
//! (`INGEST_ROLE=server`), answering the login and the resync lists and then
//! writing the corpus as fast as the reader takes it.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use crate::ami_corpus::{answer, closing_hangups, is_resync_list, read_action, ID_PREFIX};
use crate::{env_num, mono_ns};

/// `INGEST_ROLE=server`: serves sessions one after another on a free port (printed
/// as `port N`); each gets the corpus `INGEST_REPEAT` times once it has asked for
/// both resync lists (`stream <ns>` printed then, `done <ns>` after). With
/// `INGEST_PAUSE_AFTER=P` it prints `paused <ns>` after pass P and waits for a line
/// on its stdin before the next (the rss mode measures the drained service there).
/// The user `minimal` is disconnected after the corpus; any other stays until it
/// leaves.
pub(crate) fn serve() {
    let path = std::env::var("INGEST_CORPUS").expect("INGEST_CORPUS");
    let repeat = env_num("INGEST_REPEAT", 1);
    let pause_after = env_num("INGEST_PAUSE_AFTER", 0);
    let mut corpus = std::fs::read(&path).expect("corpus");
    if repeat > 1 {
        let tail = closing_hangups(&corpus);
        corpus.extend_from_slice(&tail);
    }
    let ids: Vec<usize> = memchr::memmem::find_iter(&corpus, ID_PREFIX).collect();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut out = std::io::stdout();
    writeln!(out, "port {}", listener.local_addr().expect("addr").port()).ok();
    out.flush().ok();
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let _ = stream.set_nodelay(true);
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let _ = stream.write_all(b"Asterisk Call Manager/11.0.0\r\n");
        let (mut user, mut asked) = (String::new(), 0);
        while asked < 2 {
            let Some(action) = read_action(&mut reader) else {
                break;
            };
            if let Some(u) = action.get("username") {
                user = u.clone();
            }
            asked += usize::from(is_resync_list(&action));
            let _ = stream.write_all(answer(&action).0.as_bytes());
        }
        if asked < 2 {
            continue;
        }
        writeln!(out, "stream {}", mono_ns()).ok();
        out.flush().ok();
        for pass in 0..repeat {
            let digits = format!("{:03}", pass % 1000);
            for &at in &ids {
                corpus[at + 7..at + 10].copy_from_slice(digits.as_bytes());
            }
            if corpus
                .chunks(256 * 1024)
                .any(|c| stream.write_all(c).is_err())
            {
                break;
            }
            if pass + 1 == pause_after && pass + 1 < repeat {
                writeln!(out, "paused {}", mono_ns()).ok();
                out.flush().ok();
                let mut line = String::new();
                if std::io::stdin().read_line(&mut line).is_err() {
                    break;
                }
            }
        }
        writeln!(out, "done {}", mono_ns()).ok();
        out.flush().ok();
        if user == "minimal" {
            let _ = stream.shutdown(std::net::Shutdown::Both);
            continue;
        }
        while let Some(action) = read_action(&mut reader) {
            let (text, close) = answer(&action);
            if stream.write_all(text.as_bytes()).is_err() || close {
                break;
            }
        }
    }
}

/// The server child process and what it prints.
pub(crate) struct Server {
    pub(crate) child: Child,
    lines: BufReader<ChildStdout>,
    stdin: ChildStdin,
    pub(crate) port: u16,
}

impl Server {
    /// Serves `corpus` `repeat` times per session, pausing after `pause_after`
    /// passes (0: never).
    pub(crate) fn start(corpus: &Path, repeat: usize, pause_after: usize) -> Server {
        let mut child = Command::new(std::env::current_exe().expect("exe"))
            .env("INGEST_ROLE", "server")
            .env("INGEST_CORPUS", corpus)
            .env("INGEST_REPEAT", repeat.to_string())
            .env("INGEST_PAUSE_AFTER", pause_after.to_string())
            .stdout(Stdio::piped())
            .stdin(Stdio::piped())
            .spawn()
            .expect("server process");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout"));
        let stdin = child.stdin.take().expect("stdin");
        let port = Self::read_tag(&mut lines, "port") as u16;
        Server {
            child,
            lines,
            stdin,
            port,
        }
    }

    fn read_tag(lines: &mut BufReader<ChildStdout>, tag: &str) -> u64 {
        let mut line = String::new();
        lines.read_line(&mut line).expect("server output");
        let (t, v) = line.trim().split_once(' ').expect("tagged line");
        assert_eq!(t, tag, "server said {line:?}");
        v.parse().expect("number")
    }

    /// The number the server printed next, which must be tagged `tag`.
    pub(crate) fn line(&mut self, tag: &str) -> u64 {
        Self::read_tag(&mut self.lines, tag)
    }

    /// When the next session's corpus started (CLOCK_MONOTONIC ns).
    pub(crate) fn streamed(&mut self) -> u64 {
        let start = self.line("stream");
        self.line("done");
        start
    }

    /// Lets a paused server write its next passes.
    pub(crate) fn resume(&mut self) {
        self.stdin.write_all(b"go\n").expect("server stdin");
        self.stdin.flush().expect("server stdin");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
