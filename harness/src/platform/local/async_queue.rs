//! `/async-function/{name}`: a bounded in-memory queue of calls, run by a fixed number of
//! workers, with the result POSTed to `X-Callback-Url` the way openfaas/nats-queue-worker
//! (`main.go`, `postResult`) does it: the function's response headers and body, plus
//! `X-Call-Id`, `X-Function-Status`, `X-Function-Name` and `X-Duration-Seconds`.

use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Request, Response, Uri};
use http_body_util::Full;
use tokio::sync::mpsc;

/// Time a callback POST may take.
pub const CALLBACK_TIMEOUT: Duration = Duration::from_secs(30);

/// One queued call.
#[derive(Debug)]
pub struct Job {
    /// Function name.
    pub function: String,
    /// The request as the worker sends it to the function (path after the name, query, headers).
    pub request: Request<Bytes>,
    /// Where the result goes, if anywhere.
    pub callback: Option<Uri>,
    /// The call id (`X-Call-Id`).
    pub call_id: String,
}

/// Why a call was not queued.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue holds its maximum of calls.
    #[error("the async queue is full ({0} calls waiting); retry later")]
    Full(usize),
    /// The gateway is stopping.
    #[error("the async queue is closed: the gateway is stopping")]
    Closed,
}

/// The queue and its workers.
pub struct AsyncQueue {
    tx: mpsc::Sender<Job>,
    rx: Mutex<Option<mpsc::Receiver<Job>>>,
    len: usize,
}

impl std::fmt::Debug for AsyncQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncQueue")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl AsyncQueue {
    /// A queue holding at most `len` waiting calls.
    pub fn new(len: usize) -> AsyncQueue {
        let (tx, rx) = mpsc::channel(len.max(1));
        AsyncQueue {
            tx,
            rx: Mutex::new(Some(rx)),
            len: len.max(1),
        }
    }

    /// Queue `job`; never waits.
    pub fn enqueue(&self, job: Job) -> Result<(), QueueError> {
        self.tx.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => QueueError::Full(self.len),
            mpsc::error::TrySendError::Closed(_) => QueueError::Closed,
        })
    }

    /// Start `workers` tasks that take calls and `run` them (once; later calls do nothing).
    /// A slow call holds one worker; the others go on, and queuing never waits for any.
    pub fn start<F, Fut>(&self, workers: usize, run: F)
    where
        F: Fn(Request<Bytes>, String) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
    {
        let Some(rx) = self.rx.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return;
        };
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        for _ in 0..workers.max(1) {
            let (rx, run) = (rx.clone(), run.clone());
            tokio::spawn(async move {
                loop {
                    let Some(job) = rx.lock().await.recv().await else {
                        return;
                    };
                    let started = Instant::now();
                    let resp = run(job.request, job.function.clone()).await;
                    if let Some(url) = job.callback {
                        let took = started.elapsed();
                        if let Err(e) =
                            post_result(&url, &job.function, &job.call_id, took, resp).await
                        {
                            eprintln!(
                                "async call {} to {}: callback {url} failed: {e}",
                                job.call_id, job.function
                            );
                        }
                    }
                }
            });
        }
    }
}

/// Check an `X-Callback-Url`: plain `http://` to a loopback host (`localhost`, 127.0.0.0/8,
/// `::1`), the only hosts the local gateway (bound on 127.0.0.1) is meant to call. CE's gateway
/// (openfaas/faas `gateway/handlers/queue_proxy.go`) only checks that the URL parses; here a
/// URL it cannot or should not reach is refused up front with 400 instead of failing later.
pub fn callback_url(v: &HeaderValue) -> Result<Uri, String> {
    let s = v
        .to_str()
        .map_err(|_| "X-Callback-Url is not visible ASCII".to_string())?;
    let uri: Uri = s
        .parse()
        .map_err(|e| format!("X-Callback-Url {s:?} is not a URL: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!(
            "X-Callback-Url {s:?}: the local gateway calls back over plain http:// only"
        ));
    }
    let host = uri.host().unwrap_or("");
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        return Err(format!(
            "X-Callback-Url {s:?}: the local gateway only calls back to loopback hosts (localhost, 127.0.0.1, [::1])"
        ));
    }
    Ok(uri)
}

/// Hop-by-hop or framing headers not copied from the function's response to the callback.
fn skip_header(name: &header::HeaderName) -> bool {
    [
        header::CONNECTION,
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
        header::HOST,
        header::TE,
        header::TRAILER,
        header::UPGRADE,
        header::PROXY_AUTHENTICATE,
    ]
    .contains(name)
        || name.as_str() == "keep-alive"
}

/// The headers of a callback: the function's response headers, then the queue-worker's own.
pub fn callback_headers(
    function_headers: &HeaderMap,
    status: u16,
    function: &str,
    call_id: &str,
    took: Duration,
) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in function_headers {
        if !skip_header(k) {
            h.append(k.clone(), v.clone());
        }
    }
    let set = |h: &mut HeaderMap, k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    };
    // Go's fmt "%f": six decimals.
    set(
        &mut h,
        "x-duration-seconds",
        format!("{:.6}", took.as_secs_f64()),
    );
    set(&mut h, "x-function-status", status.to_string());
    set(&mut h, "x-function-name", function.to_string());
    if !call_id.is_empty() {
        set(&mut h, "x-call-id", call_id.to_string());
    }
    h
}

async fn post_result(
    url: &Uri,
    function: &str,
    call_id: &str,
    took: Duration,
    resp: Response<Full<Bytes>>,
) -> Result<u16, String> {
    use http_body_util::BodyExt;
    let (parts, body) = resp.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut req = Request::post(url.clone())
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    *req.headers_mut() = callback_headers(
        &parts.headers,
        parts.status.as_u16(),
        function,
        call_id,
        took,
    );
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    match tokio::time::timeout(CALLBACK_TIMEOUT, client.request(req)).await {
        Err(_) => Err(format!("no answer within {CALLBACK_TIMEOUT:?}")),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(r)) => {
            let status = r.status().as_u16();
            let _ = r.into_body().collect().await;
            Ok(status)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callbacks_go_to_loopback_http_only() {
        for ok in [
            "http://127.0.0.1:9000/cb",
            "http://localhost/x?y=1",
            "http://[::1]:8/",
            "http://127.5.6.7/",
        ] {
            assert!(callback_url(&HeaderValue::from_static(ok)).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("https://127.0.0.1/", "plain http"),
            ("http://example.com/", "loopback"),
            ("http://10.0.0.1/", "loopback"),
            ("not a url", "not a URL"),
            ("/relative", "plain http"),
        ] {
            let e = callback_url(&HeaderValue::from_static(bad)).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn callback_headers_are_the_queue_workers() {
        let mut fh = HeaderMap::new();
        fh.insert("content-type", HeaderValue::from_static("text/plain"));
        fh.insert("content-length", HeaderValue::from_static("3"));
        fh.insert("x-call-id", HeaderValue::from_static("from-function"));
        fh.insert("x-duration-seconds", HeaderValue::from_static("0.1"));
        let h = callback_headers(&fh, 200, "echo", "abc", Duration::from_micros(1_500_250));
        assert_eq!(h["content-type"], "text/plain");
        assert!(h.get("content-length").is_none());
        assert_eq!(h["x-duration-seconds"], "1.500250");
        assert_eq!(h["x-function-status"], "200");
        assert_eq!(h["x-function-name"], "echo");
        assert_eq!(h["x-call-id"], "abc");
        assert_eq!(h.get_all("x-call-id").iter().count(), 1);
    }
}
