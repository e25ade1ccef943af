//! The local gateway's HTTP server: the OpenFaaS gateway API (`/system/*` behind basic auth,
//! `/function/*` proxied to replicas through the emulated link, `/healthz`), plus one faasbed
//! extension, `GET /system/faasbed/replicas/{name}`, that reports where replicas run, and
//! `GET /system/faasbed/events`, the replica crashes and restarts so far.
//! Logs (`GET /system/logs`) stream from [`super::logs`], `/async-function/*` queues into
//! [`super::async_queue`], and sizes, timeouts and methods are checked by [`super::limits`].

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Either, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;

use super::async_queue::{AsyncQueue, Job};
use super::limits::{self, Limits};
use super::registry::{Func, Picked, Registry, NAMESPACE};
use super::upstream::Upstream;
use super::LocalError;
use super::{namespace, secrets};
use crate::openfaas::{
    headers, DeleteFunctionRequest, FunctionDeployment, GatewayInfo, ProviderInfo,
    ScaleServiceRequest, Secret, VersionInfo,
};

type Body = Full<Bytes>;
/// A whole body, or a stream (`/system/logs`).
type Out = Either<Body, UnsyncBoxBody<Bytes, Infallible>>;

/// Shared state of the gateway server.
pub struct Gateway {
    registry: Arc<Registry>,
    auth: String,
    upstream: Upstream,
    invoke_timeout: Duration,
    limits: Limits,
    queue: AsyncQueue,
}

impl Gateway {
    /// A gateway over `registry`, accepting `admin:<password>`.
    pub fn new(registry: Arc<Registry>, password: &str, invoke_timeout: Duration) -> Self {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("admin:{password}"));
        Gateway {
            registry,
            auth: format!("Basic {token}"),
            upstream: Upstream::default(),
            invoke_timeout,
            queue: AsyncQueue::new(Limits::default().async_queue_len),
            limits: Limits::default(),
        }
    }

    /// The same gateway with other limits and timeouts.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.queue = AsyncQueue::new(limits.async_queue_len);
        self.limits = limits;
        self
    }

    /// The registry behind the gateway.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Accept connections on `listener` until the task is dropped.
    pub async fn serve(self: Arc<Self>, listener: tokio::net::TcpListener) {
        // Weak: queued calls do not keep a stopped gateway alive.
        let gw = Arc::downgrade(&self);
        self.queue
            .start(self.limits.async_workers, move |req, name| {
                let gw = gw.clone();
                async move {
                    match gw.upgrade() {
                        Some(gw) => gw.run_async(req, &name).await,
                        None => text(StatusCode::SERVICE_UNAVAILABLE, "the gateway stopped"),
                    }
                }
            });
        loop {
            let Ok((stream, _peer)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let gw = self.clone();
            let gw_header_timeout = self.limits.header_read_timeout;
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let gw = gw.clone();
                    async move { Ok::<_, Infallible>(gw.route(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(gw_header_timeout)
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    }

    /// Route one request, streaming routes included.
    pub async fn route(&self, req: Request<Incoming>) -> Response<Out> {
        if req.uri().path() == "/system/logs"
            && req.method() == Method::GET
            && self.authorized(&req)
        {
            return self.logs(&req);
        }
        self.handle(req).await.map(Either::Left)
    }

    /// Route one request.
    pub async fn handle(&self, mut req: Request<Incoming>) -> Response<Body> {
        let path = req.uri().path().to_string();
        // The system routes read their JSON bodies through `body_json`, which finds them here.
        req.extensions_mut().insert(self.limits.clone());
        if let Some(allow) = limits::allowed_methods(&path) {
            if !allow.contains(req.method()) {
                let mut r = text(
                    StatusCode::METHOD_NOT_ALLOWED,
                    &format!(
                        "{} {path}: method not allowed; use {}",
                        req.method(),
                        limits::allow_header(allow)
                    ),
                );
                if let Ok(v) = HeaderValue::from_str(&limits::allow_header(allow)) {
                    r.headers_mut().insert(header::ALLOW, v);
                }
                limits::discard(req.into_body(), self.limits.body_read_timeout);
                return r;
            }
        }
        if path == "/healthz" {
            return text(StatusCode::OK, "OK");
        }
        if let Some(rest) = path.strip_prefix("/function/") {
            let stamp = CallStamp::take(&mut req);
            return stamp.mark(self.invoke(rest.to_string(), req).await);
        }
        if let Some(rest) = path.strip_prefix("/async-function/") {
            let stamp = CallStamp::take(&mut req);
            let call_id = stamp.call_id.clone();
            return stamp.mark(self.enqueue(rest.to_string(), req, call_id).await);
        }
        if path.starts_with("/system/") {
            if !self.authorized(&req) {
                let mut r = text(StatusCode::UNAUTHORIZED, "unauthorized: /system/* needs basic auth (user admin, password in the run directory)");
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"faasbed\""),
                );
                return r;
            }
            return match self.system(&path, req).await {
                Ok(r) => r,
                Err(e) => error_response(&e),
            };
        }
        text(StatusCode::NOT_FOUND, &format!("no route {path}"))
    }

    fn authorized(&self, req: &Request<Incoming>) -> bool {
        req.headers()
            .get(header::AUTHORIZATION)
            .is_some_and(|v| constant_time_eq(v.as_bytes(), self.auth.as_bytes()))
    }

    async fn system(
        &self,
        path: &str,
        req: Request<Incoming>,
    ) -> Result<Response<Body>, LocalError> {
        let reg = &self.registry;
        let method = req.method().clone();
        match (&method, path) {
            (&Method::GET, "/system/info") => return Ok(json(StatusCode::OK, &info())),
            (&Method::GET, "/system/namespaces") => {
                return Ok(json(StatusCode::OK, &namespace::list()))
            }
            (m, p) if p.starts_with("/system/namespace/") => {
                let name = p.trim_start_matches("/system/namespace/");
                return match *m {
                    Method::GET => Ok(json(StatusCode::OK, &namespace::describe(name)?)),
                    _ => Err(namespace::refuse_change(m, name)),
                };
            }
            _ => {}
        }
        // Every other route is about one namespace's objects: `?namespace=` names it.
        namespace::check(namespace::from_query(req.uri().query()).as_deref())?;
        match (method, path) {
            (m, "/system/secrets") => {
                let body = match m {
                    Method::GET => None,
                    _ => Some(body_json::<Secret>(req).await?),
                };
                Ok(match secrets::handle(reg.secrets()?, &m, body)? {
                    (status, Some(list)) => json(status, &list),
                    (status, None) => text(status, ""),
                })
            }
            (Method::GET, "/system/functions") => Ok(json(StatusCode::OK, &reg.list())),
            (Method::POST, "/system/functions") => {
                let d: FunctionDeployment = body_json(req).await?;
                namespace::check(d.namespace.as_deref())?;
                reg.deploy(d).await?;
                Ok(text(StatusCode::ACCEPTED, ""))
            }
            (Method::PUT, "/system/functions") => {
                let d: FunctionDeployment = body_json(req).await?;
                namespace::check(d.namespace.as_deref())?;
                reg.update(d).await?;
                Ok(text(StatusCode::ACCEPTED, ""))
            }
            (Method::DELETE, "/system/functions") => {
                let d: DeleteFunctionRequest = body_json(req).await?;
                namespace::check(d.namespace.as_deref())?;
                reg.delete(&d.function_name).await?;
                Ok(text(StatusCode::OK, ""))
            }
            (Method::GET, p) if p.starts_with("/system/function/") => {
                let name = p.trim_start_matches("/system/function/");
                let f = reg
                    .get(name)
                    .ok_or_else(|| LocalError::NotFound(name.to_string()))?;
                Ok(json(StatusCode::OK, &reg.status(&f)))
            }
            (Method::POST, p) if p.starts_with("/system/scale-function/") => {
                let name = p.trim_start_matches("/system/scale-function/").to_string();
                let s: ScaleServiceRequest = body_json(req).await?;
                namespace::check(Some(&s.namespace))?;
                if !s.service_name.is_empty() && s.service_name != name {
                    return Err(LocalError::BadRequest(format!(
                        "serviceName {:?} does not match the path's {name:?}",
                        s.service_name
                    )));
                }
                let f = reg
                    .get(&name)
                    .ok_or_else(|| LocalError::NotFound(name.clone()))?;
                let n = u32::try_from(s.replicas)
                    .map_err(|_| LocalError::BadRequest("replicas too large".into()))?;
                reg.scale(&f, n).await?;
                Ok(text(StatusCode::ACCEPTED, ""))
            }
            (Method::GET, "/system/faasbed/events") => Ok(json(StatusCode::OK, &reg.events(0))),
            (Method::GET, p) if p.starts_with("/system/faasbed/replicas/") => {
                let name = p.trim_start_matches("/system/faasbed/replicas/");
                let f = reg
                    .get(name)
                    .ok_or_else(|| LocalError::NotFound(name.to_string()))?;
                Ok(json(StatusCode::OK, &reg.placement(&f)))
            }
            (m, p) => Ok(text(StatusCode::NOT_FOUND, &format!("no route {m} {p}"))),
        }
    }

    /// The function a `/function/` or `/async-function/` path names, and the path after it.
    fn function_of<'a>(&self, rest: &'a str) -> Result<(Arc<Func>, &'a str), Box<Response<Body>>> {
        let (name_ns, tail) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let name = name_ns
            .strip_suffix(&format!(".{NAMESPACE}"))
            .unwrap_or(name_ns);
        match self.registry.get(name) {
            Some(f) => Ok((f, tail)),
            None => Err(Box::new(text(
                StatusCode::NOT_FOUND,
                &format!("function {name} not found; deploy it first (`faasbed deploy`)"),
            ))),
        }
    }

    /// `/function/{name}[.{namespace}][/{rest}]`: proxy to a replica through the node's link.
    async fn invoke(&self, rest: String, req: Request<Incoming>) -> Response<Body> {
        let (f, tail) = match self.function_of(&rest) {
            Ok(x) => x,
            Err(r) => {
                limits::discard(req.into_body(), self.limits.body_read_timeout);
                return *r;
            }
        };
        let (parts, body) = req.into_parts();
        let l = &self.limits;
        let body = match limits::read_body(body, l.invoke_body_bytes, l.body_read_timeout).await {
            Ok(b) => b,
            Err(e) => return text(e.status(), &e.to_string()),
        };
        self.forward(&f, tail, parts, body).await
    }

    /// `/async-function/{name}[.{namespace}][/{rest}]`: queue the call and answer 202.
    async fn enqueue(
        &self,
        rest: String,
        req: Request<Incoming>,
        call_id: String,
    ) -> Response<Body> {
        let (f, tail) = match self.function_of(&rest) {
            Ok(x) => x,
            Err(r) => {
                limits::discard(req.into_body(), self.limits.body_read_timeout);
                return *r;
            }
        };
        let callback = match req.headers().get("x-callback-url") {
            None => None,
            Some(v) => match super::async_queue::callback_url(v) {
                Ok(u) => Some(u),
                Err(e) => {
                    limits::discard(req.into_body(), self.limits.body_read_timeout);
                    return text(StatusCode::BAD_REQUEST, &e);
                }
            },
        };
        let (mut parts, body) = req.into_parts();
        let l = &self.limits;
        let body = match limits::read_body(body, l.invoke_body_bytes, l.body_read_timeout).await {
            Ok(b) => b,
            Err(e) => return text(e.status(), &e.to_string()),
        };
        let target = match parts.uri.query() {
            Some(q) => format!("{tail}?{q}").parse(),
            None => tail.parse(),
        };
        let Ok(target) = target else {
            return text(StatusCode::BAD_REQUEST, "cannot forward this request path");
        };
        parts.uri = target;
        // The queue-worker always invokes with POST (openfaas/nats-queue-worker main.go).
        parts.method = Method::POST;
        let function = f.deployment().service;
        let job = Job {
            function,
            request: Request::from_parts(parts, body),
            callback,
            call_id,
        };
        // CE answers 500 when NATS refuses a message; a full local queue is 429, so the
        // caller knows to retry.
        match self.queue.enqueue(job) {
            Ok(()) => text(StatusCode::ACCEPTED, ""),
            Err(e) => text(StatusCode::TOO_MANY_REQUESTS, &e.to_string()),
        }
    }

    /// Run one queued call (a worker of [`AsyncQueue`]).
    async fn run_async(&self, req: Request<Bytes>, name: &str) -> Response<Body> {
        let Some(f) = self.registry.get(name) else {
            return text(
                StatusCode::NOT_FOUND,
                &format!("function {name} was removed before its queued call ran"),
            );
        };
        let (parts, body) = req.into_parts();
        let tail = parts.uri.path().to_string();
        self.forward(&f, &tail, parts, body).await
    }

    /// `GET /system/logs`: the function's kept lines as NDJSON, then (`follow=true`) new ones
    /// until the client goes away.
    fn logs(&self, req: &Request<Incoming>) -> Response<Out> {
        use super::logs::{ndjson, Query, QueryError};
        let q = match Query::parse(req.uri().query()) {
            Ok(q) => q,
            // faas-provider logs/handler.go answers 422 when tail or since does not parse.
            Err(e @ QueryError::NoName) => {
                return text(StatusCode::BAD_REQUEST, &e.to_string()).map(Either::Left)
            }
            Err(e) => {
                return text(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()).map(Either::Left)
            }
        };
        let ns = super::logs::namespace_param(req.uri().query());
        if !ns.is_empty() && ns != NAMESPACE {
            let msg = format!("namespace {ns} not found; the local platform has {NAMESPACE}");
            return text(StatusCode::NOT_FOUND, &msg).map(Either::Left);
        }
        let store = self.registry.log_store();
        if self.registry.get(&q.name).is_none() && !store.knows(&q.name) {
            let msg = format!(
                "function {} not found; deploy it first (`faasbed deploy`)",
                q.name
            );
            return text(StatusCode::NOT_FOUND, &msg).map(Either::Left);
        }
        let (lines, rx) = store.query(&q);
        let head = futures::stream::iter(lines.into_iter().map(|m| ndjson(&m)));
        let live = futures::stream::unfold((rx, q), |(rx, q)| async move {
            let mut rx = rx?;
            loop {
                match rx.recv().await {
                    Ok(m) if q.matches(&m) => return Some((ndjson(&m), (Some(rx), q))),
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
        use futures::StreamExt;
        let frames = head
            .chain(live)
            .map(|b| Ok::<_, Infallible>(hyper::body::Frame::data(b)));
        let mut r = Response::new(Either::Right(
            http_body_util::StreamBody::new(frames).boxed_unsync(),
        ));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        );
        r
    }

    /// Send one call to a replica of `f` through its node's link.
    async fn forward(
        &self,
        f: &Arc<Func>,
        tail: &str,
        parts: http::request::Parts,
        body: Bytes,
    ) -> Response<Body> {
        let name = f.deployment().service;
        let Picked {
            replica,
            cold,
            noticed_ns,
        } = match self.registry.pick(f).await {
            Ok(p) => p,
            Err(e) => return error_response(&e),
        };
        f.count_invocation();
        let node = &self.registry.nodes[replica.node];
        let shape = &node.shape;
        // The RNG is thread-local and not Send: draw the hold before awaiting it.
        let hold = shape.hold(
            body.len() + header_bytes(&parts.headers),
            &mut rand::thread_rng(),
        );
        super::link::hold_for(hold).await;
        let target = match parts.uri.query() {
            Some(q) => format!("{tail}?{q}").parse(),
            None => tail.parse(),
        };
        let Ok(target) = target else {
            return text(StatusCode::BAD_REQUEST, "cannot forward this request path");
        };
        let mut parts = parts;
        parts.uri = target;
        // Hop-by-hop; `Host` stays (the replica's HTTP/1.1 server requires one).
        parts.headers.remove(header::CONNECTION);
        let up = Request::from_parts(parts, Full::new(body));
        let exchange = self.upstream.exchange(replica.addr, up);
        let (mut rparts, rbody) = match tokio::time::timeout(self.invoke_timeout, exchange).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                let msg = format!(
                    "function {name}: replica on node {} (pid {}) failed: {e}",
                    node.node.name, replica.pid
                );
                return on_node(text(StatusCode::BAD_GATEWAY, &msg), &node.node.name);
            }
            Err(_) => {
                let msg = format!(
                    "function {name}: no answer from node {} within {:?}",
                    node.node.name, self.invoke_timeout
                );
                return on_node(text(StatusCode::GATEWAY_TIMEOUT, &msg), &node.node.name);
            }
        };
        let hold = shape.hold(
            rbody.len() + header_bytes(&rparts.headers),
            &mut rand::thread_rng(),
        );
        super::link::hold_for(hold).await;
        if cold {
            let h = &mut rparts.headers;
            h.insert(headers::SPAWNED, HeaderValue::from(replica.spawned_ns));
            if let Some(t) = replica.healthy_ns() {
                h.insert(headers::HEALTHY, HeaderValue::from(t));
            }
            let phases = cold_phases(&replica, node, self.registry.model(), noticed_ns);
            if let Ok(v) =
                HeaderValue::from_str(&serde_json::to_string(&phases).unwrap_or_default())
            {
                h.insert(crate::openfaas::PHASES_HEADER, v);
            }
        }
        rparts.headers.remove(header::TRANSFER_ENCODING);
        Response::from_parts(rparts, Full::new(rbody))
    }
}

/// How the cold start of `r` was spent, for `X-Faasbed-Phases`.
fn cold_phases(
    r: &super::registry::Replica,
    node: &super::node::NodeRuntime,
    model: crate::spec::GatewayModel,
    noticed_ns: Option<u64>,
) -> crate::openfaas::ColdPhases {
    use crate::openfaas::PhaseSpan;
    let span = |s: &crate::nodes::containerd::Span| PhaseSpan {
        start_ns: s.start_ns,
        end_ns: s.end_ns,
    };
    let c = r.container.as_ref();
    crate::openfaas::ColdPhases {
        runtime: node.node.runtime.as_str().to_string(),
        model: model.as_str().to_string(),
        container: c.map(|c| c.id.clone()),
        spawned_ns: r.spawned_ns,
        import: c.and_then(|c| c.phases.import.as_ref()).map(span),
        create: c.map(|c| span(&c.phases.create)),
        network: c.map(|c| span(&c.phases.network)),
        task_start: c.map(|c| span(&c.phases.start)),
        probe_pass_ns: r.healthy_ns(),
        noticed_ns,
    }
}

/// Bytes the headers take on the wire: `name: value\r\n` each.
fn header_bytes(h: &http::HeaderMap) -> usize {
    h.iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum()
}

/// Name the node a failed call went to (`X-Faasbed-Node`), so its error counts against that node.
fn on_node(mut r: Response<Body>, node: &str) -> Response<Body> {
    if let Ok(v) = HeaderValue::from_str(node) {
        r.headers_mut().insert(headers::NODE, v);
    }
    r
}

fn info() -> GatewayInfo {
    let v = VersionInfo {
        commit_message: None,
        sha: option_env!("FAASBED_GIT_SHA")
            .unwrap_or("unknown")
            .to_string(),
        release: env!("CARGO_PKG_VERSION").to_string(),
    };
    GatewayInfo {
        provider: Some(ProviderInfo {
            provider: "faasbed-local".into(),
            orchestration: "faasbed".into(),
            version: Some(v.clone()),
        }),
        version: Some(v),
        arch: std::env::consts::ARCH.to_string(),
    }
}

async fn body_json<T: DeserializeOwned>(req: Request<Incoming>) -> Result<T, LocalError> {
    let l = req
        .extensions()
        .get::<Limits>()
        .cloned()
        .unwrap_or_default();
    let bytes =
        limits::read_body(req.into_body(), l.system_body_bytes, l.body_read_timeout).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| LocalError::BadRequest(format!("invalid JSON body: {e}")))
}

fn text(status: StatusCode, s: &str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(s.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn json<T: serde::Serialize + ?Sized>(status: StatusCode, v: &T) -> Response<Body> {
    let body = serde_json::to_vec(v).unwrap_or_default();
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn error_response(e: &LocalError) -> Response<Body> {
    let status = match e {
        LocalError::BadRequest(_) => StatusCode::BAD_REQUEST,
        LocalError::NotFound(_) | LocalError::NoSuch(_) => StatusCode::NOT_FOUND,
        LocalError::Conflict(_) => StatusCode::CONFLICT,
        LocalError::HealthTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
        LocalError::ReplicaDied { .. } => StatusCode::BAD_GATEWAY,
        LocalError::Body(b) => b.status(),
        LocalError::Stopping => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    // A failed container start: every cause once, so the message names the command and its
    // output (the other errors carry their cause in their text).
    let mut msg = e.to_string();
    let mut cause = match e {
        LocalError::Container(_) => std::error::Error::source(e),
        _ => None,
    };
    while let Some(c) = cause {
        msg.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text(status, &msg)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Bind the gateway on a free loopback port.
pub async fn bind() -> Result<(tokio::net::TcpListener, SocketAddr), LocalError> {
    let l = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|source| LocalError::Io {
            what: "bind the gateway on 127.0.0.1".into(),
            source,
        })?;
    let a = l.local_addr().map_err(|source| LocalError::Io {
        what: "read the gateway address".into(),
        source,
    })?;
    Ok((l, a))
}

/// `X-Call-Id` and `X-Start-Time` of one function call, as CE's `MakeCallIDMiddleware`
/// (openfaas/faas `gateway/handlers/callid_middleware.go`) sets them: the caller's call id or a
/// new UUID, and the arrival time in unix ns, on both the request the function gets and the
/// answer. CE puts `X-Call-Id` on the answer only when it made the id; here every answer
/// carries it, the caller's own included, so every call can be traced from its answer.
struct CallStamp {
    call_id: String,
    start: HeaderValue,
}

impl CallStamp {
    fn take(req: &mut Request<Incoming>) -> CallStamp {
        let start = HeaderValue::from(crate::store::clock::now_ns());
        let h = req.headers_mut();
        let call_id = match h.get("x-call-id").and_then(|v| v.to_str().ok()) {
            Some(id) if !id.is_empty() => id.to_string(),
            _ => {
                let id = limits::new_call_id();
                if let Ok(v) = HeaderValue::from_str(&id) {
                    h.insert("x-call-id", v);
                }
                id
            }
        };
        h.append("x-start-time", start.clone());
        CallStamp { call_id, start }
    }

    fn mark(self, mut r: Response<Body>) -> Response<Body> {
        let h = r.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&self.call_id) {
            h.insert("x-call-id", v);
        }
        h.insert("x-start-time", self.start);
        r
    }
}
