//! The local gateway's HTTP server: the OpenFaaS gateway API (`/system/*` behind basic auth,
//! `/function/*` proxied to replicas through the emulated link, `/healthz`), plus one faasbed
//! extension, `GET /system/faasbed/replicas/{name}`, that reports where replicas run, and
//! `GET /system/faasbed/events`, the replica crashes and restarts so far.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;

use super::registry::{Picked, Registry, NAMESPACE};
use super::upstream::Upstream;
use super::LocalError;
use crate::openfaas::{
    headers, DeleteFunctionRequest, FunctionDeployment, GatewayInfo, ProviderInfo,
    ScaleServiceRequest, VersionInfo,
};

/// Largest body a `/system/*` call may send, bytes.
const SYSTEM_BODY_LIMIT: usize = 1 << 20;
/// Largest body a function call may send, bytes.
const INVOKE_BODY_LIMIT: usize = 64 << 20;

type Body = Full<Bytes>;

/// Shared state of the gateway server.
pub struct Gateway {
    registry: Arc<Registry>,
    auth: String,
    upstream: Upstream,
    invoke_timeout: Duration,
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
        }
    }

    /// The registry behind the gateway.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Accept connections on `listener` until the task is dropped.
    pub async fn serve(self: Arc<Self>, listener: tokio::net::TcpListener) {
        loop {
            let Ok((stream, _peer)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let gw = self.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let gw = gw.clone();
                    async move { Ok::<_, Infallible>(gw.handle(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    }

    /// Route one request.
    pub async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        let path = req.uri().path().to_string();
        if path == "/healthz" {
            return text(StatusCode::OK, "OK");
        }
        if let Some(rest) = path.strip_prefix("/function/") {
            return self.invoke(rest.to_string(), req).await;
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
        match (method, path) {
            (Method::GET, "/system/info") => Ok(json(StatusCode::OK, &info())),
            (Method::GET, "/system/namespaces") => Ok(json(StatusCode::OK, &[NAMESPACE])),
            (Method::GET, "/system/functions") => Ok(json(StatusCode::OK, &reg.list())),
            (Method::POST, "/system/functions") => {
                reg.deploy(body_json::<FunctionDeployment>(req).await?)
                    .await?;
                Ok(text(StatusCode::ACCEPTED, ""))
            }
            (Method::PUT, "/system/functions") => {
                reg.update(body_json::<FunctionDeployment>(req).await?)
                    .await?;
                Ok(text(StatusCode::ACCEPTED, ""))
            }
            (Method::DELETE, "/system/functions") => {
                let d: DeleteFunctionRequest = body_json(req).await?;
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

    /// `/function/{name}[.{namespace}][/{rest}]`: proxy to a replica through the node's link.
    async fn invoke(&self, rest: String, req: Request<Incoming>) -> Response<Body> {
        let (name_ns, tail) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest.as_str(), "/"),
        };
        let name = name_ns
            .strip_suffix(&format!(".{NAMESPACE}"))
            .unwrap_or(name_ns);
        let Some(f) = self.registry.get(name) else {
            return text(
                StatusCode::NOT_FOUND,
                &format!("function {name} not found; deploy it first (`faasbed deploy`)"),
            );
        };
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, INVOKE_BODY_LIMIT).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                return text(
                    StatusCode::BAD_REQUEST,
                    &format!("reading request body: {e}"),
                )
            }
        };
        let Picked { replica, cold } = match self.registry.pick(&f).await {
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
        let exchange = self.upstream.exchange(replica.port, up);
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
        }
        rparts.headers.remove(header::TRANSFER_ENCODING);
        Response::from_parts(rparts, Full::new(rbody))
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
    let bytes = Limited::new(req.into_body(), SYSTEM_BODY_LIMIT)
        .collect()
        .await
        .map_err(|e| LocalError::BadRequest(format!("reading request body: {e}")))?
        .to_bytes();
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
        LocalError::NotFound(_) => StatusCode::NOT_FOUND,
        LocalError::HealthTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
        LocalError::ReplicaDied { .. } => StatusCode::BAD_GATEWAY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    text(status, &e.to_string())
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
