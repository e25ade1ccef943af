//! The local gateway at the HTTP level, beyond its JSON routes: call ids, 405s, body limits,
//! read timeouts (tests/gateway_api.rs covers auth and bodies; this file the wire), replica logs
//! as faas-cli reads them, and asynchronous calls with callbacks as the queue-worker makes them.
//! Each fixture names the upstream source it follows.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{http, OpenApi};
use faasbed::platform::local::limits::Limits;
use faasbed::platform::local::Served;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Guard against a hung test; never a timed assertion.
const GUARD: Duration = Duration::from_secs(60);

struct Gw {
    served: Served,
    pw: String,
    addr: String,
    _tmp: tempfile::TempDir,
    logs: std::path::PathBuf,
    run_id: String,
}

impl Gw {
    fn url(&self, p: &str) -> String {
        format!("{}{p}", self.served.url)
    }
    fn auth(&self) -> Option<(&str, &str)> {
        Some(("admin", self.pw.as_str()))
    }
    fn basic(&self) -> String {
        use base64::Engine;
        let t = base64::engine::general_purpose::STANDARD.encode(format!("admin:{}", self.pw));
        format!("Basic {t}")
    }
}

/// `tests/fixtures/scenarios/api.toml` (echo and cpu on one native node), served in-process
/// with `limits`, every function deployed.
async fn start(limits: Limits) -> Gw {
    let (tmp, home) = common::temp_home();
    let scenario =
        faasbed::spec::load(&common::repo().join("harness/tests/fixtures/scenarios/api.toml"))
            .unwrap();
    let logs = tmp.path().join("logs");
    let run_id = format!("test-http-{}-{}", std::process::id(), rand::random::<u32>());
    let pw = format!("pw-{}", rand::random::<u32>());
    let served = faasbed::platform::local::serve_with(
        &scenario,
        &run_id,
        &pw,
        &home.images(),
        &logs,
        limits,
    )
    .await
    .unwrap_or_else(|e| panic!("serve: {e}"));
    let built = common::build(&scenario, &home).await;
    for (f, b) in scenario.functions.iter().zip(&built) {
        served
            .registry
            .deploy(faasbed::platform::deploy::deployment(f, &b.image))
            .await
            .unwrap_or_else(|e| panic!("deploy {}: {e}", f.name));
    }
    let addr = served.url.trim_start_matches("http://").to_string();
    Gw {
        served,
        pw,
        addr,
        _tmp: tmp,
        logs,
        run_id,
    }
}

/// Write `head` then `body` on a fresh connection while reading the answer; returns the answer's
/// status line and whether every byte of the request could be written (false: the gateway reset
/// or closed the connection under the client).
async fn exchange(addr: &str, head: String, body: Vec<u8>) -> (String, bool) {
    let s = TcpStream::connect(addr).await.unwrap();
    let (r, mut w) = s.into_split();
    // The writer keeps its half open until the answer is read: a client that shuts down its
    // side is a client gone (hyper, like Go's server, then drops the call).
    let writer = tokio::spawn(async move {
        let r: std::io::Result<()> = async {
            w.write_all(head.as_bytes()).await?;
            for c in body.chunks(64 << 10) {
                w.write_all(c).await?;
            }
            w.flush().await
        }
        .await;
        (r.is_ok(), w)
    });
    let mut r = BufReader::new(r);
    let mut status = String::new();
    tokio::time::timeout(GUARD, r.read_line(&mut status))
        .await
        .expect("no answer")
        .unwrap();
    let (wrote, _w) = tokio::time::timeout(GUARD, writer)
        .await
        .expect("writer hung")
        .unwrap();
    (status.trim_end().to_string(), wrote)
}

fn chunked(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in body.chunks(1000) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

#[tokio::test]
async fn every_invoke_answer_carries_a_call_id_and_start_time() {
    let gw = start(Limits::default()).await;
    let mut ids = BTreeSet::new();
    for path in [
        "/function/echo",
        "/function/echo.openfaas-fn/x?y=1",
        "/function/nope",
    ] {
        let (s, h, _) = http("POST", &gw.url(path), None, Some("hi")).await;
        assert!(
            s == 200 || (path.ends_with("nope") && s == 404),
            "{path}: {s}"
        );
        // openfaas/faas gateway/handlers/callid_middleware.go: a UUID and unix ns.
        let id = h["x-call-id"].to_str().unwrap().to_string();
        assert_eq!(id.len(), 36, "{id}");
        assert_eq!(id.matches('-').count(), 4, "{id}");
        assert!(
            h["x-start-time"].to_str().unwrap().parse::<u64>().unwrap() > 1_600_000_000_000_000_000
        );
        ids.insert(id);
    }
    assert_eq!(ids.len(), 3, "every call gets its own id: {ids:?}");
    // A caller's own id is kept.
    let mut c = TcpStream::connect(&gw.addr).await.unwrap();
    c.write_all(b"POST /function/echo HTTP/1.1\r\nHost: x\r\nX-Call-Id: my-call-7\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
        .await
        .unwrap();
    let mut all = String::new();
    tokio::time::timeout(GUARD, c.read_to_string(&mut all))
        .await
        .unwrap()
        .unwrap();
    assert!(
        all.to_ascii_lowercase()
            .contains("x-call-id: my-call-7\r\n"),
        "{all}"
    );
    gw.served.stop().await;
}

#[tokio::test]
async fn a_wrong_method_on_a_known_route_is_405_with_allow() {
    let gw = start(Limits::default()).await;
    // Methods as openfaas/faas gateway/main.go registers the routes.
    let cases = [
        ("DELETE", "/system/info", "GET"),
        ("PATCH", "/system/functions", "GET, POST, PUT, DELETE"),
        ("GET", "/system/scale-function/echo", "POST"),
        ("POST", "/system/function/echo", "GET"),
        ("PUT", "/system/namespaces", "GET"),
        ("POST", "/system/logs", "GET"),
        ("POST", "/healthz", "GET"),
        ("GET", "/async-function/echo", "POST"),
        ("PUT", "/async-function/echo/a/b", "POST"),
    ];
    for (m, p, allow) in cases {
        let (s, h, b) = http(m, &gw.url(p), gw.auth(), None).await;
        assert_eq!(s, 405, "{m} {p}: {}", String::from_utf8_lossy(&b));
        assert_eq!(h["allow"], allow, "{m} {p}");
    }
    let (s, _, _) = http("GET", &gw.url("/system/nope"), gw.auth(), None).await;
    assert_eq!(s, 404);
    gw.served.stop().await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_at_every_size_and_never_a_reset() {
    let limits = Limits {
        system_body_bytes: 1000,
        invoke_body_bytes: 4000,
        ..Limits::default()
    };
    let gw = start(limits).await;
    let auth = gw.basic();
    let routes = [
        ("POST", "/function/echo", 4000usize, String::new()),
        ("POST", "/async-function/echo", 4000, String::new()),
        (
            "POST",
            "/system/functions",
            1000,
            format!("Authorization: {auth}\r\n"),
        ),
        (
            "POST",
            "/system/scale-function/echo",
            1000,
            format!("Authorization: {auth}\r\n"),
        ),
    ];
    for (m, p, limit, extra) in &routes {
        for size in [limit + 1, limit + 999, 4 * limit, 8 << 20] {
            let body = vec![b'x'; size];
            let with_len =
                format!("{m} {p} HTTP/1.1\r\nHost: x\r\n{extra}Content-Length: {size}\r\n\r\n");
            let (s, wrote) = exchange(&gw.addr, with_len, body.clone()).await;
            assert!(
                s.starts_with("HTTP/1.1 413"),
                "{m} {p} {size} bytes with Content-Length: {s}"
            );
            assert!(
                wrote,
                "{m} {p} {size} bytes: the connection was cut under the client"
            );
            let chunk =
                format!("{m} {p} HTTP/1.1\r\nHost: x\r\n{extra}Transfer-Encoding: chunked\r\n\r\n");
            let (s, wrote) = exchange(&gw.addr, chunk, chunked(&body)).await;
            assert!(
                s.starts_with("HTTP/1.1 413"),
                "{m} {p} {size} bytes chunked: {s}"
            );
            assert!(
                wrote,
                "{m} {p} {size} bytes chunked: the connection was cut"
            );
        }
        // Expect: 100-continue over the limit: refused before the body is sent.
        let head = format!(
            "{m} {p} HTTP/1.1\r\nHost: x\r\n{extra}Content-Length: {}\r\nExpect: 100-continue\r\n\r\n",
            limit * 10
        );
        let (s, _) = exchange(&gw.addr, head, vec![]).await;
        assert!(
            s.starts_with("HTTP/1.1 413"),
            "{m} {p} expect-continue: {s}"
        );
    }
    // At the limit exactly, the call goes through.
    let body = "y".repeat(4000);
    let (s, _, b) = http("POST", &gw.url("/function/echo"), None, Some(&body)).await;
    assert_eq!((s, b.len()), (200, 4000));
    gw.served.stop().await;
}

#[tokio::test]
async fn slow_heads_are_closed_slow_bodies_are_408_and_a_slowloris_does_not_hold_the_gateway() {
    let limits = Limits {
        header_read_timeout: Duration::from_millis(300),
        body_read_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let gw = start(limits).await;
    // A head that never ends: closed without an answer, as Go's http.Server does on ReadTimeout.
    let mut c = TcpStream::connect(&gw.addr).await.unwrap();
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let n = tokio::time::timeout(GUARD, c.read_to_end(&mut buf))
        .await
        .expect("never closed");
    assert!(
        n.is_err() || buf.is_empty(),
        "{}",
        String::from_utf8_lossy(&buf)
    );
    // A body that stops half way: 408.
    let auth = gw.basic();
    for (p, extra) in [
        ("/function/echo", String::new()),
        ("/system/functions", format!("Authorization: {auth}\r\n")),
    ] {
        let mut c = TcpStream::connect(&gw.addr).await.unwrap();
        c.write_all(
            format!("POST {p} HTTP/1.1\r\nHost: x\r\n{extra}Content-Length: 100\r\n\r\nabc")
                .as_bytes(),
        )
        .await
        .unwrap();
        let mut r = BufReader::new(c);
        let mut status = String::new();
        tokio::time::timeout(GUARD, r.read_line(&mut status))
            .await
            .expect("no answer")
            .unwrap();
        assert!(status.starts_with("HTTP/1.1 408"), "{p}: {status}");
    }
    // Slowloris: 20 connections dribbling one header byte every 50 ms are each closed, and the
    // gateway answers others meanwhile.
    let mut slow = Vec::new();
    for _ in 0..20 {
        let addr = gw.addr.clone();
        slow.push(tokio::spawn(async move {
            let mut c = TcpStream::connect(&addr).await.unwrap();
            let head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
            for b in head.iter().cycle() {
                if c.write_all(&[*b]).await.is_err() {
                    return true;
                }
                let mut one = [0u8; 1];
                match tokio::time::timeout(Duration::from_millis(50), c.read(&mut one)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => return true,
                    _ => {}
                }
            }
            false
        }));
    }
    let (s, _, _) = http("GET", &gw.url("/healthz"), None, None).await;
    assert_eq!(s, 200);
    for t in slow {
        assert!(tokio::time::timeout(GUARD, t)
            .await
            .expect("a slow client was never closed")
            .unwrap());
    }
    gw.served.stop().await;
}

/// `GET /system/logs` and its NDJSON lines (follow=false).
async fn logs(gw: &Gw, query: &str) -> (u16, http::HeaderMap, Vec<serde_json::Value>) {
    let (s, h, b) = http(
        "GET",
        &gw.url(&format!("/system/logs?{query}")),
        gw.auth(),
        None,
    )
    .await;
    let api = OpenApi::load();
    let lines = if s == 200 {
        b.split(|c| *c == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| api.check("LogEntry", l))
            .collect()
    } else {
        vec![]
    };
    (s, h, lines)
}

#[tokio::test]
async fn logs_stream_as_faas_cli_reads_them_with_tail_since_and_follow() {
    let gw = start(Limits::default()).await;
    // Each replica logs a line when it starts listening (images/functions/contract).
    let deadline = std::time::Instant::now() + GUARD;
    let first = loop {
        let (s, _, l) = logs(&gw, "follow=false&name=echo").await;
        assert_eq!(s, 200);
        if !l.is_empty() {
            break l;
        }
        assert!(std::time::Instant::now() < deadline, "echo never logged");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(first[0]["name"], "echo");
    assert_eq!(first[0]["namespace"], "openfaas-fn");
    assert!(first[0]["instance"]
        .as_str()
        .unwrap()
        .starts_with("echo-vps-a-"));
    assert!(first[0]["text"].as_str().unwrap().contains("listening on"));
    let on_disk = std::fs::read_to_string(gw.logs.join("echo.vps-a.log")).unwrap();
    assert!(on_disk.contains("listening on"), "{on_disk}");

    // faas-cli's exact query (openfaas/faas-cli proxy/logs.go reqAsQueryValues, url.Values
    // encodes keys sorted): follow, name, namespace, tail.
    let q = "follow=true&name=echo&namespace=openfaas-fn&tail=1";
    let mut c = TcpStream::connect(&gw.addr).await.unwrap();
    c.write_all(
        format!(
            "GET /system/logs?{q} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\n\r\n",
            gw.basic()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut r = BufReader::new(c);
    let mut head = String::new();
    loop {
        let mut l = String::new();
        tokio::time::timeout(GUARD, r.read_line(&mut l))
            .await
            .unwrap()
            .unwrap();
        if l == "\r\n" {
            break;
        }
        head.push_str(&l);
    }
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/x-ndjson"),
        "{head}"
    );
    let mut stream = Ndjson { r, buf: Vec::new() };
    let got = stream.next().await;
    assert_eq!(
        got["text"],
        first.last().unwrap()["text"],
        "tail=1 is the last line"
    );
    // A new replica's first line arrives on the open stream.
    let (s, _, _) = http(
        "POST",
        &gw.url("/system/scale-function/echo"),
        gw.auth(),
        Some(r#"{"serviceName":"echo","replicas":2}"#),
    )
    .await;
    assert_eq!(s, 202);
    let next = stream.next().await;
    assert_ne!(next["instance"], first[0]["instance"]);
    assert!(next["text"].as_str().unwrap().contains("listening on"));
    drop(stream);

    let (_, _, all) = logs(&gw, "name=echo").await;
    assert_eq!(all.len(), 2);
    let (_, _, one) = logs(&gw, "name=echo&tail=1").await;
    assert_eq!(one, all[1..]);
    let (_, _, inst) = logs(
        &gw,
        &format!(
            "name=echo&instance={}",
            all[0]["instance"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(inst, all[..1]);
    let (_, _, later) = logs(&gw, "name=echo&since=2999-01-01T00:00:00Z").await;
    assert!(later.is_empty());
    let (_, _, since) = logs(&gw, "name=echo&since=2000-01-01T00:00:00%2B01:00").await;
    assert_eq!(since.len(), 2);
    // Refusals: faas-provider logs/handler.go answers 422 to what does not parse.
    for (q, want) in [
        ("name=echo&tail=x", 422),
        ("name=echo&since=yesterday", 422),
        ("tail=1", 400),
        ("name=nope", 404),
        ("name=echo&namespace=other", 404),
    ] {
        let (s, _, _) = logs(&gw, q).await;
        assert_eq!(s, want, "{q}");
    }
    let (s, _, _) = http("GET", &gw.url("/system/logs?name=echo"), None, None).await;
    assert_eq!(s, 401);
    gw.served.stop().await;
}

/// NDJSON lines from a chunked HTTP/1.1 body.
struct Ndjson<R> {
    r: R,
    buf: Vec<u8>,
}

impl<R: AsyncBufReadExt + Unpin> Ndjson<R> {
    async fn next(&mut self) -> serde_json::Value {
        loop {
            if let Some(i) = self.buf.iter().position(|c| *c == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return serde_json::from_slice(&line).unwrap();
            }
            let mut size = String::new();
            let n = tokio::time::timeout(GUARD, self.r.read_line(&mut size))
                .await
                .expect("no log line")
                .unwrap();
            assert!(n > 0, "stream ended");
            let n = usize::from_str_radix(size.trim(), 16).unwrap();
            assert!(n > 0, "stream ended");
            let mut data = vec![0u8; n + 2];
            self.r.read_exact(&mut data).await.unwrap();
            self.buf.extend_from_slice(&data[..n]);
        }
    }
}

/// One callback as the loopback callback server received it.
#[derive(Debug)]
struct Callback {
    headers: http::HeaderMap,
    body: bytes::Bytes,
}

/// A loopback HTTP server that records every request; answers 200.
async fn callback_server() -> (String, tokio::sync::mpsc::UnboundedReceiver<Callback>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cb", l.local_addr().unwrap());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else { return };
            let tx = tx.clone();
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let tx = tx.clone();
                        async move {
                            use http_body_util::BodyExt;
                            let (p, b) = req.into_parts();
                            let body = b.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
                            let _ = tx.send(Callback {
                                headers: p.headers,
                                body,
                            });
                            Ok::<_, std::convert::Infallible>(http::Response::new(
                                http_body_util::Full::new(bytes::Bytes::new()),
                            ))
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    (url, rx)
}

/// POST `/async-function/{path}` with headers; (status, headers, body).
async fn post_async(
    gw: &Gw,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, http::HeaderMap, String) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let mut req = http::Request::post(gw.url(&format!("/async-function/{path}")));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(http_body_util::Full::new(bytes::Bytes::from(
            body.to_string(),
        )))
        .unwrap();
    let r = client.request(req).await.unwrap();
    let (p, b) = r.into_parts();
    use http_body_util::BodyExt;
    let b = b.collect().await.unwrap().to_bytes();
    (
        p.status.as_u16(),
        p.headers,
        String::from_utf8_lossy(&b).into_owned(),
    )
}

#[tokio::test]
async fn async_calls_answer_202_and_call_back_as_the_queue_worker_does() {
    let gw = start(Limits::default()).await;
    let (cb, mut rx) = callback_server().await;
    let (s, h, b) = post_async(&gw, "echo", &[("X-Callback-Url", &cb)], "hello async").await;
    assert_eq!(s, 202, "{b}");
    let id = h["x-call-id"].to_str().unwrap().to_string();
    assert_eq!(id.len(), 36);
    assert!(h.contains_key("x-start-time"));
    let got = tokio::time::timeout(GUARD, rx.recv())
        .await
        .expect("no callback")
        .unwrap();
    assert_eq!(&got.body[..], b"hello async");
    // openfaas/nats-queue-worker main.go postResult: the function's headers plus these.
    assert_eq!(got.headers["x-call-id"], id.as_str());
    assert_eq!(got.headers["x-function-status"], "200");
    assert_eq!(got.headers["x-function-name"], "echo");
    let d = got.headers["x-duration-seconds"].to_str().unwrap();
    assert!(
        d.parse::<f64>().is_ok() && d.split('.').nth(1).map(str::len) == Some(6),
        "{d}"
    );
    assert_eq!(got.headers["x-faasbed-node"], "vps-a");
    // The caller's call id, a sub-path and a query reach the function and the callback.
    let (s, h, _) = post_async(
        &gw,
        "cpu.openfaas-fn/x?kib=1",
        &[("X-Callback-Url", &cb), ("X-Call-Id", "mine-1")],
        "",
    )
    .await;
    assert_eq!((s, h["x-call-id"].to_str().unwrap()), (202, "mine-1"));
    let got = tokio::time::timeout(GUARD, rx.recv())
        .await
        .expect("no callback")
        .unwrap();
    assert_eq!(got.headers["x-call-id"], "mine-1");
    assert_eq!(got.headers["x-function-name"], "cpu");
    let v: serde_json::Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(v["kib"], 1);
    // Without a callback it is still queued and run.
    let (s, _, _) = post_async(&gw, "echo", &[], "x").await;
    assert_eq!(s, 202);
    // Refusals.
    for (path, hs, want) in [
        ("nope", vec![], 404),
        (
            "echo",
            vec![("X-Callback-Url", "http://example.com/cb")],
            400,
        ),
        (
            "echo",
            vec![("X-Callback-Url", "https://127.0.0.1/cb")],
            400,
        ),
        ("echo", vec![("X-Callback-Url", "::nonsense")], 400),
    ] {
        let (s, h, b) = post_async(&gw, path, &hs, "").await;
        assert_eq!(s, want, "{path} {hs:?}: {b}");
        assert!(h.contains_key("x-call-id"));
    }
    gw.served.stop().await;
}

#[tokio::test]
async fn a_slow_async_call_neither_blocks_nor_fails_the_calls_queued_after_it() {
    let limits = Limits {
        async_workers: 2,
        async_queue_len: 16,
        ..Limits::default()
    };
    let gw = start(limits).await;
    let (cb, mut rx) = callback_server().await;
    // 64 GiB of sha256: minutes of work, far longer than the rest of this test.
    let (s, _, _) = post_async(
        &gw,
        "cpu?kib=65536&rounds=1000",
        &[("X-Callback-Url", &cb), ("X-Call-Id", "slow")],
        "",
    )
    .await;
    assert_eq!(s, 202);
    let mut fast = BTreeSet::new();
    for i in 0..10 {
        let id = format!("fast-{i}");
        let (s, _, b) = post_async(
            &gw,
            "echo",
            &[("X-Callback-Url", &cb), ("X-Call-Id", &id)],
            &id,
        )
        .await;
        assert_eq!(s, 202, "{id}: {b}");
        fast.insert(id);
    }
    let mut done = BTreeSet::new();
    while done.len() < fast.len() {
        let got = tokio::time::timeout(GUARD, rx.recv())
            .await
            .expect("a fast call never called back")
            .unwrap();
        let id = got.headers["x-call-id"].to_str().unwrap().to_string();
        assert_ne!(
            id, "slow",
            "the slow call finished first: the test proves nothing"
        );
        assert_eq!(got.headers["x-function-status"], "200", "{id}");
        assert_eq!(&got.body[..], id.as_bytes());
        done.insert(id);
    }
    assert_eq!(done, fast);
    // A full queue refuses at once instead of waiting: one worker is busy with the slow call,
    // so filling the queue needs at most len + 1 more calls.
    let mut statuses = Vec::new();
    for _ in 0..16 * 3 {
        let (s, _, _) = post_async(&gw, "cpu?kib=65536&rounds=1000", &[], "").await;
        statuses.push(s);
        if s == 429 {
            break;
        }
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert!(
        statuses[..statuses.len() - 1].iter().all(|s| *s == 202),
        "{statuses:?}"
    );
    // Stopping the gateway with calls still queued starts no replica afterwards.
    let run = gw.run_id.clone();
    gw.served.stop().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let left = faasbed::exec::labelled_pids(Some(&run));
    faasbed::platform::local::sweep(Some(&run));
    assert!(left.is_empty(), "replicas started after stop: {left:?}");
}
