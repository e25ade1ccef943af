//! Integration: builds every function for amd64, arm64 and armhf, checks the build cache, then
//! runs each binary (natively, or under QEMU user mode) and checks the function contract and
//! what each function computes.
//!
//! Needs `go` (golang-go) and `qemu-user-static`; when either is missing the test fails and
//! says what to install.

#![allow(clippy::unwrap_used)]

use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use faasbed::build::{self, Built};
use faasbed::exec::{self, Cmd, SpawnOpts};
use faasbed::spec::Arch;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const FUNCTIONS: [&str; 3] = ["echo", "cpu", "json"];

/// How long a replica may take to answer its health check (armhf under QEMU on a busy host).
const READY_WITHIN: Duration = Duration::from_secs(30);

const QEMU_INSTALL: &str = "sudo apt-get install -y qemu-user-static binfmt-support";

fn chain(e: &dyn Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(&format!("\ncaused by: {c}"));
        cur = c.source();
    }
    s
}

fn require(program: &str) -> PathBuf {
    exec::which(program)
        .unwrap_or_else(|| panic!("{program} not found on PATH; run `{QEMU_INSTALL}`"))
}

/// The command that runs a binary built for `arch` on this (x86_64) host.
fn command_for(arch: Arch, bin: &Path) -> Cmd {
    match arch {
        Arch::Amd64 => Cmd::new(bin),
        Arch::Arm64 => Cmd::new(require("qemu-aarch64-static"))
            .args(["-cpu", "cortex-a53"])
            .arg(bin),
        Arch::Armhf => Cmd::new(require("qemu-arm-static"))
            .args(["-cpu", "cortex-a7"])
            .arg(bin),
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn now_ns() -> i64 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(d.as_nanos()).unwrap()
}

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not json ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

fn parse_response(raw: &[u8]) -> std::io::Result<Response> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let body = raw[split + 4..].to_vec();
    let r = Response {
        status,
        headers,
        body,
    };
    if let Some(len) = r.header("content-length") {
        if len.parse::<usize>().ok() != Some(r.body.len()) {
            return Err(bad("body length differs from content-length"));
        }
    }
    Ok(r)
}

/// One request on a fresh connection (`Connection: close`, read to end of stream).
async fn request(port: u16, method: &str, path: &str, body: &[u8]) -> std::io::Result<Response> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await?;
    s.write_all(body).await?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await?;
    parse_response(&raw)
}

/// A running function process; its process group is killed on drop.
struct Replica {
    child: tokio::process::Child,
    port: u16,
    node: String,
    log: PathBuf,
    spawned_ns: i64,
}

impl Replica {
    fn start(built: &Built, function: &str, logs: &Path) -> Replica {
        let port = free_port();
        let node = format!("test-{}-node", built.arch);
        let log = logs.join(format!("{function}-{}.log", built.arch));
        let cmd = command_for(built.arch, &built.path)
            .env("PORT", port.to_string())
            .env("NODE_NAME", &node);
        let spawned_ns = now_ns();
        let child = exec::spawn(
            &cmd,
            &SpawnOpts {
                run_id: format!("functions-test-{}", std::process::id()),
                log: Some(log.clone()),
                ..Default::default()
            },
        )
        .unwrap_or_else(|e| panic!("{}", chain(&e)));
        Replica {
            child,
            port,
            node,
            log,
            spawned_ns,
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Poll `/_/health` until it answers 200, the process exits, or the deadline passes.
    async fn wait_healthy(&mut self) -> Response {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if let Ok(r) = request(self.port, "GET", "/_/health", b"").await {
                if r.status == 200 {
                    return r;
                }
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "replica exited with {status} before it was healthy; log:\n{}",
                    self.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "replica on port {} not healthy within {READY_WITHIN:?}; log:\n{}",
                self.port,
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn call(&self, method: &str, path: &str, body: &[u8]) -> Response {
        request(self.port, method, path, body)
            .await
            .unwrap_or_else(|e| panic!("{method} {path} on port {}: {e}", self.port))
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            let _ = exec::kill_group(pid, libc::SIGKILL);
        }
    }
}

/// The contract headers, checked on every response of one replica.
fn check_contract(r: &Response, arch: Arch, replica: &Replica, instance: &str) {
    let h = |name: &str| {
        r.header(name)
            .unwrap_or_else(|| panic!("{arch}: header {name} missing: {:?}", r.headers))
    };
    assert_eq!(h("X-Faasbed-Arch"), arch.reported());
    assert_eq!(h("X-Faasbed-Node"), replica.node);
    assert_eq!(
        h("X-Faasbed-Instance"),
        instance,
        "{arch}: instance changed"
    );
    let started: i64 = h("X-Faasbed-Started").parse().unwrap();
    assert!(
        started >= replica.spawned_ns && started <= now_ns(),
        "{arch}: started {started} is not between spawn {} and now",
        replica.spawned_ns
    );
    let took: f64 = h("X-Duration-Seconds").parse().unwrap();
    assert!(took >= 0.0, "{arch}: X-Duration-Seconds {took}");
}

/// sha256 of the cpu function's input: a 1 KiB block (byte i = i mod 256) written n times.
fn cpu_digest(blocks: usize) -> String {
    let block: Vec<u8> = (0..1024).map(|i| (i % 256) as u8).collect();
    let mut h = Sha256::new();
    for _ in 0..blocks {
        h.update(&block);
    }
    hex::encode(h.finalize())
}

/// What the json function must report: counts per type, object keys and depth (top = 1).
#[derive(Default)]
struct Tally {
    counts: std::collections::BTreeMap<&'static str, u64>,
    keys: u64,
    max_depth: u64,
}

impl Tally {
    fn walk(&mut self, v: &serde_json::Value, depth: u64) {
        use serde_json::Value;
        self.max_depth = self.max_depth.max(depth);
        let kind = match v {
            Value::Object(m) => {
                self.keys += m.len() as u64;
                m.values().for_each(|c| self.walk(c, depth + 1));
                "object"
            }
            Value::Array(a) => {
                a.iter().for_each(|c| self.walk(c, depth + 1));
                "array"
            }
            Value::String(_) => "string",
            Value::Number(_) => "number",
            Value::Bool(_) => "bool",
            Value::Null => "null",
        };
        *self.counts.entry(kind).or_default() += 1;
    }
}

async fn check_echo(r: &Replica, arch: Arch, instance: &str) {
    let payload: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    let resp = r.call("POST", "/some/rest?x=1", &payload).await;
    check_contract(&resp, arch, r, instance);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, payload, "{arch}: echo round-trip");
    let empty = r.call("GET", "/", b"").await;
    assert_eq!((empty.status, empty.body.as_slice()), (200, &b"ok\n"[..]));
}

async fn check_cpu(r: &Replica, arch: Arch, instance: &str) {
    let (kib, rounds) = (37, 3);
    let resp = r
        .call("GET", &format!("/?kib={kib}&rounds={rounds}"), b"")
        .await;
    check_contract(&resp, arch, r, instance);
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    let v = resp.json();
    assert_eq!(v["sha256"], cpu_digest(kib * rounds), "{arch}: cpu digest");
    assert_eq!(v["bytes"], kib * 1024 * rounds);
    let bad = r.call("GET", "/?kib=0", b"").await;
    assert_eq!(bad.status, 400);
    assert!(String::from_utf8_lossy(&bad.body).contains("kib"));
}

async fn check_json(r: &Replica, arch: Arch, instance: &str) {
    let doc = serde_json::json!({
        "zeta": [1, 2.5, {"deep": [null, true, "s"]}],
        "alpha": "x",
        "mid": {"a": false, "b": {"c": {}}},
        "n": null
    });
    let mut want = Tally::default();
    want.walk(&doc, 1);
    let resp = r.call("POST", "/", doc.to_string().as_bytes()).await;
    check_contract(&resp, arch, r, instance);
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    let got = resp.json();
    assert_eq!(got["top"], "object");
    for (kind, n) in &want.counts {
        assert_eq!(got["counts"][kind], *n, "{arch}: count of {kind}");
    }
    assert_eq!(got["keys"], want.keys);
    assert_eq!(got["max_depth"], want.max_depth);
    let mut top: Vec<&String> = doc.as_object().unwrap().keys().collect();
    top.sort();
    assert_eq!(got["top_keys"], serde_json::json!(top));

    for invalid in [&b"{\"a\": "[..], b"3", b"[1] [2]"] {
        let bad = r.call("POST", "/", invalid).await;
        assert_eq!(
            bad.status,
            400,
            "{arch}: {:?}",
            String::from_utf8_lossy(invalid)
        );
        assert!(!bad.body.is_empty());
    }
}

async fn check_function(function: &str, r: &Replica, arch: Arch, instance: &str) {
    match function {
        "echo" => check_echo(r, arch, instance).await,
        "cpu" => check_cpu(r, arch, instance).await,
        "json" => check_json(r, arch, instance).await,
        other => panic!("no check for function {other}"),
    }
}

async fn build_every(root: &Path, cache: &Path) -> Vec<(&'static str, Built)> {
    let mut out = Vec::new();
    for f in FUNCTIONS {
        let built = build::build_all(root, f, &Arch::ALL, cache)
            .await
            .unwrap_or_else(|e| panic!("{}", chain(&e)));
        out.extend(built.into_iter().map(|b| (f, b)));
    }
    out
}

#[tokio::test]
async fn functions_build_cache_and_honour_the_contract_on_every_arch() {
    assert_eq!(
        Arch::host(),
        Some(Arch::Amd64),
        "this test runs amd64 binaries natively and ARM ones under qemu; run it on x86_64"
    );
    require("qemu-aarch64-static");
    require("qemu-arm-static");
    let root = build::functions_root(Path::new(env!("CARGO_MANIFEST_DIR")))
        .expect("images/functions/go.mod not found above the harness crate");
    let cache = tempfile::tempdir().unwrap();

    let t0 = Instant::now();
    let cold = build_every(&root, cache.path()).await;
    eprintln!(
        "build of {} binaries (empty faasbed cache): {:?}",
        cold.len(),
        t0.elapsed()
    );
    for (f, b) in &cold {
        assert!(!b.cached, "{f} {} came from an empty cache", b.arch);
        let size = std::fs::metadata(&b.path).unwrap().len();
        eprintln!("  {f:5} {:6} {size:>9} bytes  {}", b.arch, b.path.display());
    }

    let mtimes: Vec<SystemTime> = cold
        .iter()
        .map(|(_, b)| std::fs::metadata(&b.path).unwrap().modified().unwrap())
        .collect();
    let t1 = Instant::now();
    let warm = build_every(&root, cache.path()).await;
    eprintln!(
        "rebuild of {} binaries (cached): {:?}",
        warm.len(),
        t1.elapsed()
    );
    for (((f, c), (_, w)), mtime) in cold.iter().zip(&warm).zip(&mtimes) {
        assert!(w.cached, "{f} {} was rebuilt", w.arch);
        assert_eq!((&w.path, &w.hash), (&c.path, &c.hash));
        assert_eq!(
            std::fs::metadata(&w.path).unwrap().modified().unwrap(),
            *mtime
        );
    }

    let logs = tempfile::tempdir().unwrap();
    for (function, built) in &cold {
        let mut replica = Replica::start(built, function, logs.path());
        let health = replica.wait_healthy().await;
        let instance = health
            .header("X-Faasbed-Instance")
            .unwrap_or_else(|| panic!("{function} {}: no instance header", built.arch))
            .to_string();
        assert!(
            !instance.is_empty() && instance.chars().all(|c| c.is_ascii_hexdigit()),
            "instance id {instance:?}"
        );
        check_contract(&health, built.arch, &replica, &instance);
        check_function(function, &replica, built.arch, &instance).await;
        eprintln!("  {function:5} {:6} contract and behaviour ok", built.arch);
    }
}

#[tokio::test]
async fn unknown_function_names_the_existing_ones() {
    let root = build::functions_root(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let err = build::build(&root, "nope", Arch::Amd64, cache.path())
        .await
        .unwrap_err()
        .to_string();
    for f in FUNCTIONS {
        assert!(err.contains(f), "{err}");
    }
}
