//! Integration tests of the warm load generator against an in-process hyper server on 127.0.0.1:0
//! that answers like a faasbed function (X-Faasbed-Node / X-Faasbed-Instance headers).
//! They assert counts and invariants only, never elapsed times.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use faasbed::measure::loadgen::{run_closed, run_open, LoadgenError, RunOptions, Target};
use faasbed::measure::record::{Phase, Sample, Sink, VecSink, WarmResult};
use faasbed::measure::schedule::{Arrival, Schedule};
use http_body_util::Full;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// What the test server has answered so far.
#[derive(Default)]
struct Served {
    requests: AtomicU64,
    ok: AtomicU64,
    status_500: AtomicU64,
}

struct TestServer {
    addr: SocketAddr,
    served: Arc<Served>,
    stop: watch::Sender<bool>,
}

impl TestServer {
    /// Serve until stopped, or until `stop_after` requests have been answered.
    async fn start(stop_after: Option<u64>) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let served = Arc::new(Served::default());
        let (stop, stop_rx) = watch::channel(false);
        let (served2, stop2) = (served.clone(), stop.clone());
        tokio::spawn(async move {
            let mut stop_rx = stop_rx;
            loop {
                let stream = tokio::select! {
                    accepted = listener.accept() => accepted.unwrap().0,
                    _ = stop_rx.changed() => return, // drops the listener: connects are refused
                };
                let (served, stop, mut conn_stop) =
                    (served2.clone(), stop2.clone(), stop_rx.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        handle(req, served.clone(), stop.clone(), stop_after)
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc);
                    tokio::select! {
                        _ = conn => {}
                        _ = conn_stop.changed() => {} // drops the connection
                    }
                });
            }
        });
        TestServer { addr, served, stop }
    }

    fn url(&self, path: &str) -> Target {
        Target::get(&format!("http://{}{path}", self.addr)).unwrap()
    }
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    served: Arc<Served>,
    stop: watch::Sender<bool>,
    stop_after: Option<u64>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let n = served.requests.fetch_add(1, Ordering::SeqCst) + 1;
    let status = match req.uri().path() {
        "/flaky" if n % 3 == 0 => 500,
        "/missing" => 404,
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            200
        }
        _ => 200,
    };
    if status == 500 {
        served.status_500.fetch_add(1, Ordering::SeqCst);
    } else if status == 200 {
        served.ok.fetch_add(1, Ordering::SeqCst);
    }
    if stop_after == Some(n) {
        let _ = stop.send(true);
    }
    let response = Response::builder()
        .status(status)
        .header("X-Faasbed-Node", "node-a")
        .header("X-Faasbed-Instance", "inst-1")
        .body(Full::new(Bytes::from_static(b"ok")))
        .unwrap();
    Ok(response)
}

fn options(connections: u32, warmup: Duration) -> RunOptions {
    RunOptions {
        connections,
        warmup,
        timeout: Duration::from_secs(5),
        node_hint: "hint".into(),
        ..RunOptions::new("hello")
    }
}

fn schedule(rate: f64, duration: Duration) -> Schedule {
    Schedule::new(Arrival::Uniform, rate, duration, 7).unwrap()
}

/// Invariants every run must keep, whatever the server did.
fn check_invariants(samples: &[Sample], result: &WarmResult) {
    let measured: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.phase == Phase::Measure)
        .collect();
    assert_eq!(result.total.requests, measured.len() as u64);
    assert_eq!(
        result.warmup.requests,
        (samples.len() - measured.len()) as u64
    );
    assert_eq!(
        result.total.ok + result.total.errors.total(),
        result.total.requests
    );
    for s in samples {
        assert!(s.intended_ns <= s.sent_ns, "{s:?}");
        assert!(s.sent_ns <= s.end_ns, "{s:?}");
        assert!(s.corrected_ns() >= s.uncorrected_ns());
        assert_eq!(
            s.phase == Phase::Warmup,
            s.intended_ns < result.warmup_ns,
            "{s:?}"
        );
        if let Some(fb) = s.first_byte_ns {
            assert!(s.sent_ns <= fb && fb <= s.end_ns, "{s:?}");
        }
        assert_eq!(
            s.error.is_none(),
            s.status.is_some_and(|c| c < 400),
            "{s:?}"
        );
    }
    let ok_measured = measured.iter().filter(|s| s.error.is_none()).count() as u64;
    let hist_len: u64 = result
        .keys
        .iter()
        .map(|k| k.corrected_histogram().len())
        .sum();
    assert_eq!(hist_len, ok_measured);
    for key in &result.keys {
        assert_eq!(
            key.uncorrected_histogram().len(),
            key.corrected_histogram().len()
        );
        if let (Some(c), Some(u)) = (key.corrected, key.uncorrected) {
            assert!(c.p50_us >= u.p50_us && c.p90_us >= u.p90_us, "{key:?}");
            assert!(c.p99_us >= u.p99_us && c.p999_us >= u.p999_us && c.max_us >= u.max_us);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_sends_every_scheduled_request() {
    let server = TestServer::start(None).await;
    let plan = schedule(200.0, Duration::from_secs(1));
    let expected = plan.clone().count();
    let mut sink = VecSink::default();
    let result = run_open(
        &server.url("/"),
        plan,
        &options(4, Duration::from_millis(200)),
        &mut sink,
    )
    .await
    .unwrap();

    assert_eq!(expected, 200);
    assert_eq!(sink.samples.len(), expected);
    assert_eq!(
        result.total.requests + result.warmup.requests,
        expected as u64
    );
    assert_eq!(result.warmup.requests, 40); // offsets 0, 5 ms, ..., 195 ms
    assert_eq!(result.total.ok, 160);
    assert_eq!(server.served.ok.load(Ordering::SeqCst), 200);
    for s in &sink.samples {
        assert_eq!(s.node.as_deref(), Some("node-a"));
        assert_eq!(s.instance.as_deref(), Some("inst-1"));
        assert_eq!(
            (s.status, s.bytes, s.function.as_str()),
            (Some(200), 2, "hello")
        );
    }
    let nodes: Vec<&str> = result.keys.iter().map(|k| k.node.as_str()).collect();
    assert_eq!(nodes, ["node-a"]);
    assert_eq!(result.target_rps, Some(200.0));
    check_invariants(&sink.samples, &result);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_errors_are_counted_by_kind() {
    let server = TestServer::start(None).await;
    let mut sink = VecSink::default();
    let flaky = run_open(
        &server.url("/flaky"),
        schedule(300.0, Duration::from_millis(500)),
        &options(3, Duration::ZERO),
        &mut sink,
    )
    .await
    .unwrap();
    let five_hundreds = server.served.status_500.load(Ordering::SeqCst);
    assert!(five_hundreds > 0);
    assert_eq!(flaky.total.errors.status_5xx, five_hundreds);
    assert_eq!(flaky.total.ok, server.served.ok.load(Ordering::SeqCst));
    assert_eq!(flaky.total.errors.total(), five_hundreds);
    check_invariants(&sink.samples, &flaky);

    let mut sink = VecSink::default();
    let missing = run_open(
        &server.url("/missing"),
        schedule(100.0, Duration::from_millis(200)),
        &options(2, Duration::ZERO),
        &mut sink,
    )
    .await
    .unwrap();
    assert_eq!(missing.total.errors.status_4xx, 20);
    assert_eq!(missing.total.ok, 0);
    assert!(missing.corrected.is_none());
    check_invariants(&sink.samples, &missing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_server_gives_connect_errors() {
    let server = TestServer::start(Some(50)).await;
    let plan = schedule(200.0, Duration::from_secs(1));
    let expected = plan.clone().count();
    let mut sink = VecSink::default();
    let result = run_open(
        &server.url("/"),
        plan,
        &options(4, Duration::ZERO),
        &mut sink,
    )
    .await
    .unwrap();
    assert_eq!(sink.samples.len(), expected);
    assert!(result.total.errors.connect > 0, "{:?}", result.total);
    let served_ok = server.served.ok.load(Ordering::SeqCst);
    assert!(
        result.total.ok >= 1 && result.total.ok <= served_ok,
        "{:?}",
        result.total
    );
    assert_eq!(
        result.total.errors.status_5xx + result.total.errors.status_4xx,
        0
    );
    check_invariants(&sink.samples, &result);
    drop(server.stop);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_responses_time_out() {
    let server = TestServer::start(None).await;
    let mut sink = VecSink::default();
    let opts = RunOptions {
        timeout: Duration::from_millis(100),
        ..options(5, Duration::ZERO)
    };
    let result = run_open(
        &server.url("/slow"),
        schedule(50.0, Duration::from_millis(100)),
        &opts,
        &mut sink,
    )
    .await
    .unwrap();
    assert_eq!(result.total.errors.timeout, 5);
    assert_eq!(result.total.errors.timeout, result.total.requests);
    check_invariants(&sink.samples, &result);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_runs_back_to_back() {
    let server = TestServer::start(None).await;
    let mut sink = VecSink::default();
    let result = run_closed(
        &server.url("/"),
        Duration::from_millis(300),
        &options(2, Duration::from_millis(50)),
        &mut sink,
    )
    .await
    .unwrap();
    assert!(result.total.ok > 0);
    assert_eq!(result.total.errors.total(), 0);
    assert_eq!(result.target_rps, None);
    assert_eq!(
        server.served.ok.load(Ordering::SeqCst),
        sink.samples.len() as u64
    );
    check_invariants(&sink.samples, &result);
}

struct FailingSink;

impl Sink for FailingSink {
    fn record(&mut self, _: &Sample) -> std::io::Result<()> {
        Err(std::io::Error::other("disk full"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_failure_stops_the_run() {
    let server = TestServer::start(None).await;
    let err = run_open(
        &server.url("/"),
        schedule(100.0, Duration::from_secs(1)),
        &options(1, Duration::ZERO),
        &mut FailingSink,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, LoadgenError::Sink { .. }), "{err}");
    assert!(server.served.requests.load(Ordering::SeqCst) < 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_connections_is_an_error() {
    let err = run_closed(
        &Target::get("http://127.0.0.1:9/").unwrap(),
        Duration::from_millis(10),
        &options(0, Duration::ZERO),
        &mut VecSink::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, LoadgenError::Connections));
}

/// A stop request ends an open-loop run early, with every request it sent recorded, even while
/// the pacer waits for a far-off offset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_ends_an_open_loop_run_with_what_it_measured() {
    let server = TestServer::start(None).await;
    // 4 rps for 10 minutes: the test would hang if the stop were not honoured.
    let plan = schedule(4.0, Duration::from_secs(600));
    let (stop_tx, stop_rx) = watch::channel(false);
    let opts = RunOptions {
        stop: Some(stop_rx),
        ..options(2, Duration::ZERO)
    };
    let served = server.served.clone();
    tokio::spawn(async move {
        // Stop once a few requests were answered.
        while served.ok.load(Ordering::SeqCst) < 3 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = stop_tx.send(true);
    });
    let mut sink = VecSink::default();
    // A watchdog, not a timing assertion: without the stop the run lasts 10 minutes.
    let target = server.url("/");
    let run = run_open(&target, plan, &opts, &mut sink);
    let result = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the run ignored its stop request")
        .unwrap();
    let answered = server.served.ok.load(Ordering::SeqCst);
    assert!(answered >= 3 && answered < 2400, "{answered}");
    assert_eq!(sink.samples.len() as u64, answered);
    assert_eq!(result.total.ok, answered);
    check_invariants(&sink.samples, &result);
}
