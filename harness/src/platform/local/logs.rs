//! Replica logs: each replica's stdout and stderr, captured line by line, appended to
//! `<run dir>/logs/<function>.<node>.log` and kept as a bounded ring of recent lines per function,
//! served by `GET /system/logs` as newline-delimited JSON in faas-provider's `logs.Message`
//! format (openfaas/faas-provider `logs/handler.go`, as `faas-cli logs` reads it in
//! openfaas/faas-cli `proxy/logs.go`).

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::sync::broadcast;

/// Lines kept per function (older ones stay only in the file on disk).
pub const RING_LINES: usize = 2000;
/// Text bytes kept per function at most (older lines stay only in the file on disk).
pub const RING_BYTES: usize = 1 << 20;
/// A line longer than this is cut into pieces of this many bytes.
pub const MAX_LINE_BYTES: usize = 16 << 10;

/// One log line, as faas-provider's `logs.Message` serialises it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Message {
    /// Function name.
    pub name: String,
    /// Namespace of the function.
    pub namespace: String,
    /// The replica that wrote it.
    pub instance: String,
    /// When the gateway read it, RFC 3339 with nanoseconds, UTC.
    pub timestamp: String,
    /// The line, without its newline.
    pub text: String,
    /// When the gateway read it, unix ns (for `since`).
    #[serde(skip)]
    pub unix_ns: u64,
}

struct FnLog {
    ring: VecDeque<Message>,
    /// Text bytes in `ring`.
    bytes: usize,
    tx: broadcast::Sender<Message>,
}

impl FnLog {
    fn new() -> FnLog {
        FnLog {
            ring: VecDeque::new(),
            bytes: 0,
            tx: broadcast::channel(1024).0,
        }
    }
}

/// What a `GET /system/logs` asks for (faas-provider `logs.Request`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// Function name.
    pub name: String,
    /// Only this replica's lines, when set.
    pub instance: Option<String>,
    /// At most this many of the most recent lines; 0 or less: all.
    pub tail: i64,
    /// Only lines read at or after this time, unix ns.
    pub since_ns: Option<u64>,
    /// Keep streaming new lines.
    pub follow: bool,
}

/// Why a log query is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QueryError {
    /// `name` is missing.
    #[error("query parameter name is required: GET /system/logs?name=<function>")]
    NoName,
    /// `tail` is not an integer.
    #[error("query parameter tail={0:?} is not an integer")]
    Tail(String),
    /// `since` is not RFC 3339.
    #[error("query parameter since={0:?} is not an RFC 3339 time (like 2024-01-02T15:04:05Z)")]
    Since(String),
}

impl Query {
    /// Parse the query string as faas-provider's `parseRequest` does: the last value of a key
    /// wins; `follow` that is not a boolean is false; `tail` and `since` must parse. The
    /// provider answers 422 to a parse error.
    pub fn parse(query: Option<&str>) -> Result<Query, QueryError> {
        let mut last: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in form_pairs(query.unwrap_or("")) {
            last.insert(k, v);
        }
        let name = last.get("name").cloned().unwrap_or_default();
        if name.is_empty() {
            return Err(QueryError::NoName);
        }
        let tail = match last.get("tail").map(String::as_str) {
            None | Some("") => 0,
            Some(t) => t.parse().map_err(|_| QueryError::Tail(t.to_string()))?,
        };
        let since_ns = match last.get("since").map(String::as_str) {
            None | Some("") => None,
            Some(s) => Some(
                parse_rfc3339(s)
                    .map(crate::store::clock::unix_ns)
                    .ok_or_else(|| QueryError::Since(s.to_string()))?,
            ),
        };
        let follow = matches!(
            last.get("follow").map(String::as_str),
            Some("1" | "t" | "T" | "true" | "TRUE" | "True")
        );
        Ok(Query {
            name,
            instance: last.get("instance").filter(|i| !i.is_empty()).cloned(),
            tail,
            since_ns,
            follow,
        })
    }
}

/// The last `namespace` value of a query string ("" when absent).
pub fn namespace_param(query: Option<&str>) -> String {
    form_pairs(query.unwrap_or(""))
        .into_iter()
        .rev()
        .find(|(k, _)| k == "namespace")
        .map(|(_, v)| v)
        .unwrap_or_default()
}

/// Does an RFC 3339 time end in a numeric offset (`+02:00`)?
fn has_offset(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() > 6 && matches!(b[b.len() - 6], b'+' | b'-') && b[b.len() - 3] == b':'
}

/// RFC 3339 with `Z` or a numeric offset, to a system time.
fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    if s.ends_with('Z') || s.ends_with('z') {
        return humantime::parse_rfc3339_weak(&s[..s.len() - 1]).ok();
    }
    if !has_offset(s) {
        return None;
    }
    let (local, off) = s.split_at(s.len() - 6);
    let t = humantime::parse_rfc3339_weak(local).ok()?;
    let sign = if off.starts_with('-') { -1i64 } else { 1 };
    let h: i64 = off[1..3].parse().ok()?;
    let m: i64 = off[4..6].parse().ok()?;
    let secs = sign * (h * 3600 + m * 60);
    // local = UTC + offset, so UTC = local - offset.
    if secs >= 0 {
        t.checked_sub(std::time::Duration::from_secs(secs as u64))
    } else {
        t.checked_add(std::time::Duration::from_secs((-secs) as u64))
    }
}

/// `application/x-www-form-urlencoded` pairs, percent-decoded (invalid escapes kept as-is).
fn form_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len()
                && b[i + 1].is_ascii_hexdigit()
                && b[i + 2].is_ascii_hexdigit() =>
            {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("0");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every function's recent log lines, and a live feed of new ones.
#[derive(Default)]
pub struct LogStore {
    functions: Mutex<BTreeMap<String, FnLog>>,
}

impl std::fmt::Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStore").finish_non_exhaustive()
    }
}

/// How often a container's output file is read for new lines.
pub const FOLLOW_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// The bytes of `path` from offset `at` on.
fn read_from(path: &std::path::Path, at: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek};
    let mut f = std::fs::File::open(path)?;
    f.seek(std::io::SeekFrom::Start(at))?;
    let mut v = Vec::new();
    f.read_to_end(&mut v)?;
    Ok(v)
}

/// A replica's identity in its log lines.
#[derive(Debug, Clone)]
pub struct Source {
    /// Function name.
    pub function: String,
    /// Namespace.
    pub namespace: String,
    /// Replica name (`<function>-<node>-<pid>`).
    pub instance: String,
    /// File the lines are appended to.
    pub file: PathBuf,
}

impl LogStore {
    /// Read `stdout` and `stderr` of one replica line by line until they close.
    pub fn attach(
        self: &Arc<Self>,
        source: Source,
        stdout: Option<impl AsyncRead + Unpin + Send + 'static>,
        stderr: Option<impl AsyncRead + Unpin + Send + 'static>,
    ) {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&source.file)
            .ok()
            .map(|f| Arc::new(Mutex::new(f)));
        let source = Arc::new(source);
        if let Some(o) = stdout {
            tokio::spawn(self.clone().pump(o, source.clone(), file.clone()));
        }
        if let Some(e) = stderr {
            tokio::spawn(self.clone().pump(e, source, file));
        }
    }

    async fn pump(
        self: Arc<Self>,
        r: impl AsyncRead + Unpin,
        source: Arc<Source>,
        file: Option<Arc<Mutex<std::fs::File>>>,
    ) {
        let mut r = BufReader::new(r);
        let mut line = Vec::new();
        loop {
            line.clear();
            // Read at most MAX_LINE_BYTES: a replica printing without newlines cannot grow memory.
            let mut limited = (&mut r).take(MAX_LINE_BYTES as u64);
            match limited.read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if let Some(f) = &file {
                let mut f = f.lock().unwrap_or_else(|p| p.into_inner());
                let _ = f.write_all(&line);
                if !line.ends_with(b"\n") {
                    let _ = f.write_all(b"\n");
                }
            }
            while matches!(line.last(), Some(b'\n' | b'\r')) {
                line.pop();
            }
            self.push(
                &source,
                String::from_utf8_lossy(&line).into_owned(),
                SystemTime::now(),
            );
        }
    }

    /// Follow the file a container's output is appended to (by its shim, not through a pipe
    /// faasbed holds) as [`Self::attach`] reads a process replica's pipes: every line reaches
    /// the function's log file and `GET /system/logs`. Polls every [`FOLLOW_POLL`] while
    /// `alive()` says the container runs, then reads what is left once.
    pub fn follow(
        self: &Arc<Self>,
        source: Source,
        raw: PathBuf,
        alive: impl Fn() -> bool + Send + 'static,
    ) {
        let (mut tx, rx) = tokio::io::duplex(64 << 10);
        self.attach(source, Some(rx), None::<tokio::io::DuplexStream>);
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let mut at = 0u64;
            loop {
                let running = alive();
                // The shim creates the file when the task starts; until then there is nothing.
                let new = read_from(&raw, at).unwrap_or_default();
                at += new.len() as u64;
                if !new.is_empty() && tx.write_all(&new).await.is_err() {
                    return;
                }
                if !running {
                    return;
                }
                tokio::time::sleep(FOLLOW_POLL).await;
            }
        });
    }

    /// Record one line of `source` read at `at`.
    pub fn push(&self, source: &Source, text: String, at: SystemTime) {
        let msg = Message {
            name: source.function.clone(),
            namespace: source.namespace.clone(),
            instance: source.instance.clone(),
            timestamp: humantime::format_rfc3339_nanos(at).to_string(),
            text,
            unix_ns: crate::store::clock::unix_ns(at),
        };
        let mut fs = self.functions.lock().unwrap_or_else(|p| p.into_inner());
        let log = fs.entry(source.function.clone()).or_insert_with(FnLog::new);
        while log.ring.len() >= RING_LINES || log.bytes + msg.text.len() > RING_BYTES {
            let Some(old) = log.ring.pop_front() else {
                break;
            };
            log.bytes -= old.text.len();
        }
        log.bytes += msg.text.len();
        log.ring.push_back(msg.clone());
        let _ = log.tx.send(msg);
    }

    /// Drop the kept lines of a removed function (its file stays).
    pub fn forget(&self, function: &str) {
        self.functions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(function);
    }

    /// Has `function` ever logged?
    pub fn knows(&self, function: &str) -> bool {
        self.functions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(function)
    }

    /// The lines `q` asks for that are kept now, and (when `q.follow`) a feed of later ones,
    /// taken under one lock so no line is lost or repeated between the two.
    pub fn query(&self, q: &Query) -> (Vec<Message>, Option<broadcast::Receiver<Message>>) {
        let mut fs = self.functions.lock().unwrap_or_else(|p| p.into_inner());
        let log = fs.entry(q.name.clone()).or_insert_with(FnLog::new);
        let mut lines: Vec<Message> = log.ring.iter().filter(|m| q.matches(m)).cloned().collect();
        if q.tail > 0 && lines.len() > q.tail as usize {
            lines.drain(..lines.len() - q.tail as usize);
        }
        let rx = q.follow.then(|| log.tx.subscribe());
        (lines, rx)
    }
}

impl Query {
    /// Does `m` pass the instance and since filters?
    pub fn matches(&self, m: &Message) -> bool {
        self.instance.as_ref().is_none_or(|i| *i == m.instance)
            && self.since_ns.is_none_or(|s| m.unix_ns >= s)
    }
}

/// One message as a line of newline-delimited JSON.
pub fn ndjson(m: &Message) -> bytes::Bytes {
    let mut v = serde_json::to_vec(m).unwrap_or_default();
    v.push(b'\n');
    bytes::Bytes::from(v)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn a_followed_file_reaches_the_function_file_and_the_ring() {
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("c1.log");
        let file = dir.path().join("echo.pi4-1.log");
        let store = Arc::new(LogStore::default());
        let alive = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let a = alive.clone();
        let mut s = src("echo-pi4-1-c1");
        s.file = file.clone();
        store.follow(s, raw.clone(), move || {
            a.load(std::sync::atomic::Ordering::SeqCst)
        });
        let q = Query::parse(Some("name=echo&follow=true")).unwrap();
        let (_, rx) = store.query(&q);
        let mut rx = rx.unwrap();
        std::fs::write(&raw, "first\nsecond").unwrap();
        assert_eq!(rx.recv().await.unwrap().text, "first");
        // the rest of a line written later, and a last line after the container ended
        let mut f = std::fs::OpenOptions::new().append(true).open(&raw).unwrap();
        std::io::Write::write_all(&mut f, b" half\nlast\n").unwrap();
        alive.store(false, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(rx.recv().await.unwrap().text, "second half");
        let m = rx.recv().await.unwrap();
        assert_eq!(
            (m.text.as_str(), m.instance.as_str()),
            ("last", "echo-pi4-1-c1")
        );
        let (kept, _) = store.query(&Query::parse(Some("name=echo")).unwrap());
        assert_eq!(kept.len(), 3);
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "first\nsecond half\nlast\n"
        );
    }

    fn src(instance: &str) -> Source {
        Source {
            function: "echo".into(),
            namespace: "openfaas-fn".into(),
            instance: instance.into(),
            file: PathBuf::from("/nonexistent"),
        }
    }

    #[test]
    fn query_parses_like_faas_provider() {
        // faas-cli's own query string (proxy/logs.go reqAsQueryValues).
        let q = Query::parse(Some(
            "follow=false&name=echo&namespace=openfaas-fn&since=2024-01-02T15%3A04%3A05Z&tail=5",
        ))
        .unwrap();
        assert_eq!(q.name, "echo");
        assert_eq!(q.tail, 5);
        assert!(!q.follow);
        let want = humantime::parse_rfc3339("2024-01-02T15:04:05Z").unwrap();
        assert_eq!(q.since_ns, Some(crate::store::clock::unix_ns(want)));
        let q = Query::parse(Some("name=a&name=b&follow=true&follow=nonsense")).unwrap();
        assert_eq!((q.name.as_str(), q.follow), ("b", false));
        let q = Query::parse(Some("name=a&since=2024-01-02T17:04:05%2B02:00")).unwrap();
        assert_eq!(q.since_ns, Some(crate::store::clock::unix_ns(want)));
        assert_eq!(Query::parse(Some("tail=1")), Err(QueryError::NoName));
        assert_eq!(
            Query::parse(Some("name=a&tail=x")),
            Err(QueryError::Tail("x".into()))
        );
        assert_eq!(
            Query::parse(Some("name=a&since=yesterday")),
            Err(QueryError::Since("yesterday".into()))
        );
        assert_eq!(
            Query::parse(Some("name=a&since=2024-01-02T15:04:05")),
            Err(QueryError::Since("2024-01-02T15:04:05".into()))
        );
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%zz%41+b"), "%zzA b");
    }

    #[test]
    fn the_ring_is_bounded_and_tail_since_instance_filter_it() {
        let store = LogStore::default();
        let t0 = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        for i in 0..RING_LINES + 10 {
            let inst = if i % 2 == 0 { "a" } else { "b" };
            store.push(
                &src(inst),
                format!("line {i}"),
                t0 + std::time::Duration::from_millis(i as u64),
            );
        }
        let all = Query {
            name: "echo".into(),
            ..Default::default()
        };
        let (lines, rx) = store.query(&all);
        assert!(rx.is_none());
        assert_eq!(lines.len(), RING_LINES);
        assert_eq!(lines[0].text, "line 10");
        let (lines, _) = store.query(&Query {
            tail: 3,
            ..all.clone()
        });
        let texts: Vec<_> = lines.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(texts, ["line 2007", "line 2008", "line 2009"]);
        let (lines, _) = store.query(&Query {
            instance: Some("a".into()),
            tail: 2,
            ..all.clone()
        });
        let texts: Vec<_> = lines.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(texts, ["line 2006", "line 2008"]);
        let since = crate::store::clock::unix_ns(t0 + std::time::Duration::from_millis(2005));
        let (lines, _) = store.query(&Query {
            since_ns: Some(since),
            ..all.clone()
        });
        assert_eq!(lines.len(), 5);
        let j: serde_json::Value = serde_json::from_slice(&ndjson(&lines[0])).unwrap();
        // Bytes bound too: long lines push out old ones long before RING_LINES.
        let big = "x".repeat(MAX_LINE_BYTES);
        for _ in 0..200 {
            store.push(&src("a"), big.clone(), t0);
        }
        let (lines, _) = store.query(&all);
        assert_eq!(lines.len(), RING_BYTES / MAX_LINE_BYTES);
        store.forget("echo");
        assert!(!store.knows("echo"));
        assert_eq!(
            j,
            serde_json::json!({"name":"echo","namespace":"openfaas-fn","instance":"b",
                "timestamp": "2023-11-14T22:13:22.005000000Z","text":"line 2005"})
        );
    }
}
