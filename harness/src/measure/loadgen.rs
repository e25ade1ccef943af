//! The warm-latency load generator: open loop (sends follow a [`Schedule`]) and closed loop (each
//! connection sends back to back), over N workers that each own one HTTP/1.1 keep-alive connection.
//!
//! Timing: every sample keeps its intended, sent, first-byte and end times (ns since the run start).
//! In open loop one pacer OS thread walks the [`Schedule`]: it sleeps with a 1 ns timer slack
//! until `spin` before each intended time, busy-waits the rest, and hands the offset to the first
//! idle worker through a one-slot channel ([`HANDOFF_LEAD`] early; the worker yields until the
//! intended time). The tokio timer ticks in 1 ms, and workers that waited
//! for their own offsets by yield-spinning kept a core busy and sent ~0.4 ms late at p50 (1,000
//! rps, 16 connections, 2 cores: corrected p50 531 µs vs uncorrected 115 µs); see
//! `just bench-loadgen` for the figures of this design. When every worker is busy the pacer
//! blocks on the full slot and the offset keeps its scheduled time, so the wait shows in the
//! corrected latency (no coordinated omission); the schedule itself is the queue, so nothing
//! grows with the backlog.
//! `sent` is taken before the worker (re)connects, so a reconnect's cost is part of the latency.
//! Samples flow in small per-worker batches through a bounded channel to one consumer (the
//! caller's future), which feeds the [`Recorder`] and the [`Sink`]; memory does not grow with the
//! run length.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, HOST};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::record::{
    ErrorKind, Phase, RecordError, Recorder, RunShape, Sample, Sink, WarmResult,
    DEFAULT_LATE_THRESHOLD_NS,
};
use super::schedule::Schedule;
use crate::spec::WarmMode;

/// Response header naming the node that served the request.
pub const NODE_HEADER: &str = "x-faasbed-node";
/// Response header of a chain function: each hop's node, arch and times.
pub const HOPS_HEADER: &str = "x-faasbed-hops";
/// Response header naming the function instance (process) that served the request.
pub const INSTANCE_HEADER: &str = "x-faasbed-instance";
/// Response header with the serving instance's process start, unix ns (the function contract).
pub const STARTED_HEADER: &str = "x-faasbed-started";

/// Default busy-wait window of the pacer before each send.
pub const DEFAULT_SPIN: Duration = Duration::from_micros(100);

/// The pacer hands each offset over this long before its time, and the worker yields until it:
/// waking a parked runtime thread takes tens of µs. At 1,000 rps, 16 connections, 2 cores
/// (`faasbed-loadgen`, 5 s runs, while another build ran): corrected − uncorrected p50 was
/// 37–42 µs with no lead, 8–9 µs with 30 µs, 5–11 µs with 60 µs.
const HANDOFF_LEAD: Duration = Duration::from_micros(50);

/// Capacity of the workers → consumer channel, batches.
const BATCH_QUEUE: usize = 64;
/// A worker hands its samples over once it holds this many...
const BATCH_SAMPLES: usize = 64;
/// ...or once its oldest held sample is this old (checked when a request ends), so a slow run
/// still streams its samples. Batching cut cross-thread wake-ups (futex calls) from ~1.4 per
/// request to few, measured with `strace -f -c` on a closed-loop run.
const BATCH_AGE: Duration = Duration::from_millis(100);

/// Errors that stop a run (request failures are counted in the result instead).
#[derive(Debug, thiserror::Error)]
pub enum LoadgenError {
    /// The target URL cannot be used.
    #[error("target url {url}: {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A header (for example basic auth) is not a valid HTTP header value.
    #[error(
        "header {name} of the target is not a valid http header value; remove control characters"
    )]
    Header {
        /// Header name.
        name: String,
    },
    /// Zero connections were asked for.
    #[error("connections must be at least 1; set `experiment.warm.connections`")]
    Connections,
    /// The sample sink failed; the run stopped so no sample is lost silently.
    #[error("writing samples of function {function}: {source}")]
    Sink {
        /// Function being measured.
        function: String,
        /// The sink's error.
        #[source]
        source: std::io::Error,
    },
    /// Building histograms failed.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The pacer thread could not start.
    #[error("cannot start the open-loop pacer thread: {0}")]
    Pacer(#[source] std::io::Error),
    /// A worker task panicked.
    #[error("load generator task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// What to request: an `http://` URL, a method, a body and extra headers.
#[derive(Debug, Clone)]
pub struct Target {
    /// `http://host:port/path?query` (https is not supported).
    pub url: Uri,
    /// HTTP method.
    pub method: Method,
    /// Request body, bytes (empty for none).
    pub body: Bytes,
    /// Extra request headers, sent with every request.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Target {
    /// A GET of `url`, which must be `http://host[:port]/...`.
    pub fn get(url: &str) -> Result<Target, LoadgenError> {
        let bad = |reason| LoadgenError::Url {
            url: url.to_owned(),
            reason,
        };
        let uri: Uri = url
            .parse()
            .map_err(|_| bad("not a valid url; write it as http://host:port/path"))?;
        Endpoint::of(&uri).map_err(bad)?;
        Ok(Target {
            url: uri,
            method: Method::GET,
            body: Bytes::new(),
            headers: Vec::new(),
        })
    }

    /// Add an `Authorization: Basic base64(user:password)` header (the OpenFaaS gateway's auth).
    pub fn with_basic_auth(mut self, user: &str, password: &str) -> Result<Target, LoadgenError> {
        use base64::Engine;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let value =
            HeaderValue::from_str(&format!("Basic {token}")).map_err(|_| LoadgenError::Header {
                name: AUTHORIZATION.to_string(),
            })?;
        self.headers.push((AUTHORIZATION, value));
        Ok(self)
    }
}

/// Where to connect and what to put in the request line, derived once from the URL.
#[derive(Debug)]
struct Endpoint {
    /// `host:port` for `TcpStream::connect`.
    addr: String,
    /// Origin-form request target (`/path?query`).
    path: Uri,
    /// `Host` header value.
    host: HeaderValue,
}

impl Endpoint {
    fn of(uri: &Uri) -> Result<Endpoint, &'static str> {
        if uri.scheme_str() != Some("http") {
            return Err("only http:// urls are supported; put a plain-http gateway address");
        }
        let authority = uri
            .authority()
            .ok_or("has no host; write it as http://host:port/path")?;
        let port = authority.port_u16().unwrap_or(80);
        let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
        Ok(Endpoint {
            addr: format!("{}:{port}", authority.host()),
            path: path_and_query.parse().map_err(|_| "has an invalid path")?,
            host: HeaderValue::from_str(authority.as_str()).map_err(|_| "has an invalid host")?,
        })
    }
}

/// How a run behaves, apart from its target and its load shape.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Connections, one per worker; at least 1.
    pub connections: u32,
    /// Warm-up at the start of the run: its samples are recorded with phase `warmup` and kept out of
    /// the histograms. In open loop the schedule covers it (offsets below it are warm-up).
    pub warmup: Duration,
    /// Per-request timeout, from send (including any reconnect) to the end of the body.
    pub timeout: Duration,
    /// Function name recorded in every sample.
    pub function: String,
    /// Node recorded for samples whose response named none (errors).
    pub node_hint: String,
    /// The node every request of this function is routed to, when the platform allows only one
    /// (its constraints match one node): written into samples whose response named no node
    /// (`Sample::routed_node`), so their errors count against that node.
    pub routed_node: Option<String>,
    /// A send later than this against its schedule counts as late.
    pub late_threshold: Duration,
    /// Open loop: the pacer thread sleeps until this long before each intended time and
    /// busy-waits the rest (a sleep may overshoot by tens of µs). Zero: sleep only.
    pub spin: Duration,
    /// When this turns `true`, workers stop taking new requests, finish the ones in flight and
    /// hand over every buffered sample: the run ends early with everything it measured.
    pub stop: Option<tokio::sync::watch::Receiver<bool>>,
    /// Figures so far for a live view, fed one batch at a time (clock restarted at the start).
    pub live: Option<Arc<super::live::Live>>,
}

impl RunOptions {
    /// Defaults for `function`: 1 connection, no warm-up, 10 s timeout, 1 ms late threshold, and
    /// a [`DEFAULT_SPIN`] busy-wait window.
    pub fn new(function: &str) -> RunOptions {
        RunOptions {
            connections: 1,
            warmup: Duration::ZERO,
            timeout: Duration::from_secs(10),
            function: function.to_owned(),
            node_hint: String::new(),
            routed_node: None,
            late_threshold: Duration::from_nanos(DEFAULT_LATE_THRESHOLD_NS),
            spin: DEFAULT_SPIN,
            stop: None,
            live: None,
        }
    }
}

/// Open loop: send at the schedule's offsets (which include the warm-up) over
/// `options.connections` connections; every scheduled request yields exactly one sample.
pub async fn run_open(
    target: &Target,
    schedule: Schedule,
    options: &RunOptions,
    sink: &mut dyn Sink,
) -> Result<WarmResult, LoadgenError> {
    let plan = Plan {
        mode: WarmMode::Open,
        target_rps: Some(schedule.rate_rps()),
        measure_end: schedule.duration(),
    };
    let jobs = JobSource::Open {
        schedule: Box::new(schedule),
        spin: options.spin,
    };
    run(target, options, plan, jobs, sink).await
}

/// Open loop over planned offsets (a trace replay), all measured (no warm-up): each offset
/// below `duration` yields exactly one sample, sent at that offset from the run start.
pub async fn run_planned(
    target: &Target,
    offsets: Vec<Duration>,
    duration: Duration,
    options: &RunOptions,
    sink: &mut dyn Sink,
) -> Result<WarmResult, LoadgenError> {
    let planned = offsets.iter().filter(|o| **o < duration).count();
    let plan = Plan {
        mode: WarmMode::Open,
        target_rps: Some(planned as f64 / duration.as_secs_f64().max(1e-9)),
        measure_end: duration,
    };
    let jobs = JobSource::Open {
        schedule: Box::new(offsets.into_iter().filter(move |o| *o < duration)),
        spin: options.spin,
    };
    run(target, options, plan, jobs, sink).await
}

/// Closed loop: each of `options.connections` workers sends back to back for
/// `options.warmup + duration`; the last `duration` is measured.
pub async fn run_closed(
    target: &Target,
    duration: Duration,
    options: &RunOptions,
    sink: &mut dyn Sink,
) -> Result<WarmResult, LoadgenError> {
    let measure_end = options.warmup + duration;
    let plan = Plan {
        mode: WarmMode::Closed,
        target_rps: None,
        measure_end,
    };
    let jobs = JobSource::Closed { end: measure_end };
    run(target, options, plan, jobs, sink).await
}

/// The shape of one run, for the result.
struct Plan {
    mode: WarmMode,
    target_rps: Option<f64>,
    measure_end: Duration,
}

/// Where a run's requests come from, before it starts.
enum JobSource {
    /// Open loop: the schedule, walked by the pacer thread.
    Open {
        schedule: Box<dyn Iterator<Item = Duration> + Send>,
        spin: Duration,
    },
    /// Closed loop: send at once until `end`.
    Closed { end: Duration },
}

/// Where a worker's next request comes from; yields its intended offset from the run start.
#[derive(Clone)]
enum Jobs {
    /// The pacer's one-slot channel, shared by the workers (the lock holder waits for the next
    /// offset; the others wait for the lock, in order).
    Open(Arc<tokio::sync::Mutex<mpsc::Receiver<Duration>>>),
    /// Send at once until `end`.
    Closed { end: Duration },
}

impl Jobs {
    async fn next(&self, start: Instant) -> Option<Duration> {
        match self {
            Jobs::Open(rx) => {
                let offset = rx.lock().await.recv().await?;
                // Handed over up to HANDOFF_LEAD early: yield until the intended time.
                let at = start + offset;
                while Instant::now() < at {
                    tokio::task::yield_now().await;
                }
                Some(offset)
            }
            Jobs::Closed { end } => Some(start.elapsed()).filter(|now| now < end),
        }
    }
}

impl JobSource {
    /// Start the source at `start`: the pacer thread for open loop.
    fn start(self, start: Instant) -> Result<Jobs, LoadgenError> {
        match self {
            JobSource::Closed { end } => Ok(Jobs::Closed { end }),
            JobSource::Open { schedule, spin } => {
                let (tx, rx) = mpsc::channel(1);
                let start = start.into_std();
                std::thread::Builder::new()
                    .name("faasbed-pacer".into())
                    .spawn(move || pace(schedule, start, spin, &tx))
                    .map_err(LoadgenError::Pacer)?;
                Ok(Jobs::Open(Arc::new(tokio::sync::Mutex::new(rx))))
            }
        }
    }
}

/// The pacer thread: hand each scheduled offset to an idle worker at its time. Ends with the
/// schedule, or when every worker is gone (the run stopped).
fn pace(
    schedule: impl Iterator<Item = Duration>,
    start: std::time::Instant,
    spin: Duration,
    tx: &mpsc::Sender<Duration>,
) {
    precise_timers();
    for offset in schedule {
        let handoff = (start + offset).checked_sub(HANDOFF_LEAD).unwrap_or(start);
        if !wait_until(handoff, spin, tx) || tx.blocking_send(offset).is_err() {
            return;
        }
    }
}

/// Longest single sleep of the pacer, so it notices a stopped run soon.
const PACER_NAP: Duration = Duration::from_millis(50);

/// Sleep until `spin` before `at`, then busy-wait until `at`. False when the workers are gone.
fn wait_until(at: std::time::Instant, spin: Duration, tx: &mpsc::Sender<Duration>) -> bool {
    loop {
        let now = std::time::Instant::now();
        let Some(left) = at.checked_duration_since(now).filter(|l| !l.is_zero()) else {
            return true;
        };
        if tx.is_closed() {
            return false;
        }
        if left > spin {
            std::thread::sleep((left - spin).min(PACER_NAP));
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Ask the kernel to wake this thread's sleeps on time: the default timer slack of a thread is
/// 50 µs. Failure only costs precision, so it is ignored.
fn precise_timers() {
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument and changes only this thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
    }
}

/// Everything a worker shares with the others.
struct Shared {
    endpoint: Endpoint,
    target: Target,
    start: Instant,
    timeout: Duration,
    warmup: Duration,
    function: String,
    routed_node: Option<String>,
}

async fn run(
    target: &Target,
    options: &RunOptions,
    plan: Plan,
    jobs: JobSource,
    sink: &mut dyn Sink,
) -> Result<WarmResult, LoadgenError> {
    if options.connections == 0 {
        return Err(LoadgenError::Connections);
    }
    let endpoint = Endpoint::of(&target.url).map_err(|reason| LoadgenError::Url {
        url: target.url.to_string(),
        reason,
    })?;
    let t0_unix_ns = crate::store::clock::now_ns();
    let start = Instant::now();
    sink.started(t0_unix_ns);
    if let Some(live) = &options.live {
        live.start();
    }
    let jobs = jobs.start(start)?;
    let shared = Arc::new(Shared {
        endpoint,
        target: target.clone(),
        start,
        timeout: options.timeout,
        warmup: options.warmup,
        function: options.function.clone(),
        routed_node: options.routed_node.clone(),
    });
    let (samples_tx, mut samples_rx) = mpsc::channel(BATCH_QUEUE);
    // Dropping the set (on an early return) aborts every task.
    let mut tasks = JoinSet::new();
    for _ in 0..options.connections {
        tasks.spawn(worker(
            shared.clone(),
            jobs.clone(),
            samples_tx.clone(),
            options.stop.clone(),
        ));
    }
    drop((jobs, samples_tx));

    let late_threshold_ns = options.late_threshold.as_nanos() as u64;
    let mut recorder = Recorder::new(&options.function, &options.node_hint, late_threshold_ns);
    while let Some(batch) = samples_rx.recv().await {
        if let Some(live) = &options.live {
            live.observe(&batch);
        }
        for sample in &batch {
            recorder.observe(sample)?;
            sink.record(sample).map_err(|source| LoadgenError::Sink {
                function: options.function.clone(),
                source,
            })?;
        }
    }
    while let Some(joined) = tasks.join_next().await {
        joined?;
    }
    Ok(recorder.finish(RunShape {
        mode: plan.mode,
        target_rps: plan.target_rps,
        connections: options.connections,
        t0_unix_ns,
        measure_start_ns: options.warmup.as_nanos() as u64,
        measure_end_ns: plan.measure_end.as_nanos() as u64,
    })?)
}

/// Resolves once `rx` says stop; a dropped sender means the run is never stopped early.
pub async fn stop_requested(rx: &mut tokio::sync::watch::Receiver<bool>) {
    if rx.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// One connection's loop: take a job, send it, report the sample.
async fn worker(
    shared: Arc<Shared>,
    jobs: Jobs,
    samples: mpsc::Sender<Vec<Sample>>,
    mut stop: Option<tokio::sync::watch::Receiver<bool>>,
) {
    let mut conn = None;
    let mut batch = Vec::with_capacity(BATCH_SAMPLES);
    let mut oldest = Instant::now();
    loop {
        let next = match stop.as_mut() {
            None => jobs.next(shared.start).await,
            Some(rx) => tokio::select! {
                j = jobs.next(shared.start) => j,
                _ = stop_requested(rx) => None,
            },
        };
        let Some(intended) = next else { break };
        let sample = shared.request(&mut conn, intended).await;
        if batch.is_empty() {
            oldest = Instant::now();
        }
        batch.push(sample);
        if batch.len() >= BATCH_SAMPLES || oldest.elapsed() >= BATCH_AGE {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_SAMPLES));
            if samples.send(full).await.is_err() {
                return;
            }
        }
    }
    if !batch.is_empty() {
        // The consumer may be gone already (sink error); nothing is left to do then.
        let _ = samples.send(batch).await;
    }
}

fn ns(d: Duration) -> u64 {
    d.as_nanos() as u64
}

impl Shared {
    fn since_start(&self) -> u64 {
        ns(self.start.elapsed())
    }

    /// One request on `conn`, reconnecting first if it is missing or closed.
    async fn request(
        &self,
        conn: &mut Option<SendRequest<Full<Bytes>>>,
        intended: Duration,
    ) -> Sample {
        let sent = Instant::now();
        let sent_ns = ns(sent - self.start);
        let mut sample = Sample {
            phase: if intended < self.warmup {
                Phase::Warmup
            } else {
                Phase::Measure
            },
            function: self.function.clone(),
            node: None,
            instance: None,
            routed_node: None,
            hops: None,
            intended_ns: ns(intended),
            sent_ns,
            first_byte_ns: None,
            end_ns: sent_ns,
            status: None,
            bytes: 0,
            error: None,
            started_unix_ns: None,
        };
        let outcome =
            tokio::time::timeout_at(sent + self.timeout, self.exchange(conn, &mut sample)).await;
        sample.end_ns = self.since_start();
        sample.error = match outcome {
            Ok(Ok(())) => sample.status.and_then(ErrorKind::from_status),
            Ok(Err(kind)) => Some(kind),
            Err(_) => Some(ErrorKind::Timeout),
        };
        if sample.node.is_none() {
            sample.routed_node.clone_from(&self.routed_node);
        }
        if !matches!(outcome, Ok(Ok(()))) {
            // The connection may be mid-message or dead; start fresh next time.
            *conn = None;
        }
        sample
    }

    /// Connect if needed, send, read the head and the body into `sample`.
    async fn exchange(
        &self,
        conn: &mut Option<SendRequest<Full<Bytes>>>,
        sample: &mut Sample,
    ) -> Result<(), ErrorKind> {
        let ready = match conn.as_mut() {
            Some(sender) => sender.ready().await.is_ok(),
            None => false,
        };
        let sender = match conn {
            Some(sender) if ready => sender,
            _ => conn.insert(self.connect().await.map_err(|_| ErrorKind::Connect)?),
        };
        let response = sender
            .send_request(self.build_request())
            .await
            .map_err(|_| ErrorKind::Other)?;
        sample.first_byte_ns = Some(self.since_start());
        sample.status = Some(response.status().as_u16());
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        sample.node = header(NODE_HEADER);
        sample.instance = header(INSTANCE_HEADER);
        sample.hops = header(HOPS_HEADER);
        sample.started_unix_ns = header(STARTED_HEADER).and_then(|v| v.parse().ok());
        let mut body = response.into_body();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| ErrorKind::Body)?;
            if let Some(data) = frame.data_ref() {
                sample.bytes += data.len() as u64;
            }
        }
        Ok(())
    }

    async fn connect(
        &self,
    ) -> Result<SendRequest<Full<Bytes>>, Box<dyn std::error::Error + Send + Sync>> {
        let stream = TcpStream::connect(&self.endpoint.addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // The connection ends when the server closes it or the sender drops; the next
            // request then reconnects, so its error needs no handling here.
            let _ = connection.await;
        });
        Ok(sender)
    }

    fn build_request(&self) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(self.target.body.clone()));
        *request.method_mut() = self.target.method.clone();
        *request.uri_mut() = self.endpoint.path.clone();
        let headers = request.headers_mut();
        headers.insert(HOST, self.endpoint.host.clone());
        for (name, value) in &self.target.headers {
            headers.append(name.clone(), value.clone());
        }
        request
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn target_accepts_http_only() {
        assert!(Target::get("http://127.0.0.1:8080/function/hello").is_ok());
        assert!(matches!(
            Target::get("https://gw/function/hello"),
            Err(LoadgenError::Url { .. })
        ));
        assert!(matches!(
            Target::get("/function/hello"),
            Err(LoadgenError::Url { .. })
        ));
    }

    #[test]
    fn endpoint_defaults_port_and_path() {
        let t = Target::get("http://gw").unwrap();
        let e = Endpoint::of(&t.url).unwrap();
        assert_eq!(e.addr, "gw:80");
        assert_eq!(e.path, "/");
        let t = Target::get("http://gw:31112/function/f?x=1").unwrap();
        let e = Endpoint::of(&t.url).unwrap();
        assert_eq!(
            (e.addr.as_str(), e.path.to_string().as_str()),
            ("gw:31112", "/function/f?x=1")
        );
        assert_eq!(e.host, "gw:31112");
    }

    #[test]
    fn basic_auth_header() {
        let t = Target::get("http://gw")
            .unwrap()
            .with_basic_auth("admin", "secret")
            .unwrap();
        // base64("admin:secret") computed with `printf admin:secret | base64`.
        assert_eq!(
            t.headers,
            [(
                AUTHORIZATION,
                HeaderValue::from_static("Basic YWRtaW46c2VjcmV0")
            )]
        );
    }
}
