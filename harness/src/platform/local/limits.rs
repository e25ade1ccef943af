//! The local gateway's request limits: body sizes (413 at every size over the limit), header and
//! body read timeouts (a slowloris is closed or answered 408), the methods each known route
//! allows (405 with `Allow`), and the call id every invoke answer carries.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::Method;
use http_body_util::BodyExt;
use hyper::body::{Body as _, Incoming};
use rand::RngCore;

/// Limits and timeouts of one gateway.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest body a `/system/*` call may send, bytes.
    pub system_body_bytes: usize,
    /// Largest body a function call (`/function/*`, `/async-function/*`) may send, bytes.
    pub invoke_body_bytes: usize,
    /// Time a connection has to send a complete request head (also the idle keep-alive time).
    /// Go's `http.Server` as the CE gateway runs it (`ReadTimeout`, default 8 s in
    /// openfaas/faas `gateway/types/readconfig.go`) closes the connection without an answer.
    pub header_read_timeout: Duration,
    /// Time a request has to send its whole body once its head is read; over it the gateway
    /// answers 408.
    pub body_read_timeout: Duration,
    /// Asynchronous calls run at once (the queue-worker's `max_inflight`).
    pub async_workers: usize,
    /// Asynchronous calls waiting at most; one more is answered 429.
    pub async_queue_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            system_body_bytes: 1 << 20,
            invoke_body_bytes: 64 << 20,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            async_workers: 8,
            async_queue_len: 1024,
        }
    }
}

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The body (declared or sent) is larger than the route allows.
    #[error("request body over the limit of {limit} bytes; send at most {limit} bytes")]
    TooLarge {
        /// The limit, bytes.
        limit: usize,
    },
    /// The body did not arrive in time.
    #[error("request body not received within {timeout:?}")]
    Timeout {
        /// The body read timeout.
        timeout: Duration,
    },
    /// The connection failed while reading the body.
    #[error("reading request body: {0}")]
    Read(#[source] hyper::Error),
}

impl BodyError {
    /// The status the gateway answers with.
    pub fn status(&self) -> http::StatusCode {
        match self {
            BodyError::TooLarge { .. } => http::StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Timeout { .. } => http::StatusCode::REQUEST_TIMEOUT,
            BodyError::Read(_) => http::StatusCode::BAD_REQUEST,
        }
    }
}

/// Read a whole body of at most `limit` bytes within `timeout`. A body over the limit (by its
/// `Content-Length` or as it arrives, chunked or not) or too slow is refused; what is left of it
/// is then read and dropped in the background for up to `timeout`, so the client can send its
/// request to the end and read the answer instead of meeting a reset connection.
pub async fn read_body(
    mut body: Incoming,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, BodyError> {
    if body.size_hint().lower() > limit as u64 {
        drain(body, timeout);
        return Err(BodyError::TooLarge { limit });
    }
    let deadline = Instant::now() + timeout;
    let mut buf = BytesMut::new();
    loop {
        let frame = match tokio::time::timeout_at(deadline.into(), body.frame()).await {
            Err(_) => {
                drain(body, timeout);
                return Err(BodyError::Timeout { timeout });
            }
            Ok(None) => return Ok(buf.freeze()),
            Ok(Some(Err(e))) => return Err(BodyError::Read(e)),
            Ok(Some(Ok(f))) => f,
        };
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                drain(body, timeout);
                return Err(BodyError::TooLarge { limit });
            }
            buf.extend_from_slice(&data);
        }
    }
}

/// Read and drop the rest of `body` for at most `timeout`, in the background, so a request
/// answered before its body was read still ends cleanly.
pub fn discard(body: Incoming, timeout: Duration) {
    drain(body, timeout)
}

fn drain(mut body: Incoming, timeout: Duration) {
    if body.is_end_stream() {
        return;
    }
    tokio::spawn(async move {
        let _ = tokio::time::timeout(timeout, async {
            while let Some(Ok(_)) = body.frame().await {}
        })
        .await;
    });
}

/// The methods a known gateway route allows, as openfaas/faas `gateway/main.go` registers them
/// (gorilla/mux answers 405 on a known path with another method). `None`: not a known route.
pub fn allowed_methods(path: &str) -> Option<&'static [Method]> {
    const GET: &[Method] = &[Method::GET];
    const POST: &[Method] = &[Method::POST];
    const CRUD: &[Method] = &[Method::GET, Method::POST, Method::PUT, Method::DELETE];
    let named = |prefix: &str| {
        path.strip_prefix(prefix)
            .is_some_and(|n| !n.is_empty() && !n.contains('/'))
    };
    match path {
        "/healthz" | "/system/info" | "/system/namespaces" | "/system/logs" => Some(GET),
        "/system/functions" | "/system/secrets" => Some(CRUD),
        _ if named("/system/function/")
            || named("/system/namespace/")
            || named("/system/faasbed/replicas/") =>
        {
            Some(GET)
        }
        _ if named("/system/scale-function/") => Some(POST),
        _ if path.starts_with("/async-function/") => Some(POST),
        _ => None,
    }
}

/// `Allow` header value for `methods`.
pub fn allow_header(methods: &[Method]) -> String {
    methods
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A new call id: a random (version 4) UUID, as the CE gateway's `MakeCallIDMiddleware`
/// (openfaas/faas `gateway/handlers/callid_middleware.go`) makes one.
pub fn new_call_id() -> String {
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_ids_are_version_4_uuids_and_differ() {
        let a = new_call_id();
        let b = new_call_id();
        assert_ne!(a, b);
        let parts: Vec<&str> = a.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'), "{a}");
        assert!("89ab".contains(&parts[3][..1]), "{a}");
    }

    #[test]
    fn known_routes_list_their_methods_and_others_are_unknown() {
        assert_eq!(allowed_methods("/system/info"), Some(&[Method::GET][..]));
        assert_eq!(
            allow_header(allowed_methods("/system/functions").unwrap()),
            "GET, POST, PUT, DELETE"
        );
        assert_eq!(
            allowed_methods("/system/scale-function/echo"),
            Some(&[Method::POST][..])
        );
        assert_eq!(
            allowed_methods("/async-function/echo/x"),
            Some(&[Method::POST][..])
        );
        assert_eq!(allowed_methods("/system/function/"), None);
        assert_eq!(allowed_methods("/system/function/a/b"), None);
        assert_eq!(allowed_methods("/system/nope"), None);
    }
}
