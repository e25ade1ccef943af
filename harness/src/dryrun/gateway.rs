//! A recording OpenFaaS gateway on loopback for a recorded run: every request is journaled
//! (GETs as [`Step::Read`], function calls and the rest as [`Step::Api`]) before it is
//! answered, and answered as a healthy faas-netes (OpenFaaS CE) gateway would, from
//! placeholder state: functions deploy at once with all their replicas available, and no
//! function runs.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::Value;

use super::{Journal, Step};
use crate::openfaas::{
    headers, DeleteFunctionRequest, FunctionDeployment, FunctionStatus, GatewayInfo, ProviderInfo,
    ScaleServiceRequest, VersionInfo, LABEL_SCALE_MIN,
};
use crate::spec::Scenario;

/// What the placeholder gateway answers where a live gateway would tell a real value (version,
/// arch, the node and instance of a function call).
pub const PLACEHOLDER: &str = "<placeholder>";

/// The one function namespace faas-netes serves in OpenFaaS CE.
pub const NAMESPACE: &str = "openfaas-fn";

/// Largest request body read, bytes; a larger one is answered 413.
const MAX_BODY_BYTES: usize = 8 << 20;

/// A placeholder gateway serving on loopback until dropped.
#[derive(Debug)]
pub struct PlaceholderGateway {
    /// Its base URL, `http://127.0.0.1:PORT`.
    pub url: String,
    state: Arc<State>,
    server: tokio::task::JoinHandle<()>,
}

impl PlaceholderGateway {
    /// The functions deployed now, by name.
    pub fn deployed(&self) -> Vec<String> {
        self.state.functions().keys().cloned().collect()
    }
}

impl Drop for PlaceholderGateway {
    fn drop(&mut self) {
        // The accept task owns the listener and every connection task (a `JoinSet`), so
        // aborting it closes them all, kept-alive connections included.
        self.server.abort();
    }
}

/// What the gateway did to a function, for a placeholder cluster to follow (faas-netes
/// rewrites a function's Deployment on each deploy and sets its replicas on a scale).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<'a> {
    /// `POST` or `PUT /system/functions` deployed this function.
    Deployed(&'a str),
    /// `POST /system/scale-function/NAME` set this function's replicas.
    Scaled(&'a str, u64),
    /// `DELETE /system/functions` removed this function.
    Deleted(&'a str),
    /// `/function/NAME` called this deployed function (the gateway scales it from zero).
    Called(&'a str),
}

/// Serve a recording gateway for `scenario`'s functions on `127.0.0.1:0`; every request is
/// recorded into `journal` before it is answered.
pub async fn serve(scenario: &Scenario, journal: Journal) -> std::io::Result<PlaceholderGateway> {
    serve_following(scenario, journal, |_| {}).await
}

/// [`serve`], calling `on_call(NAME)` on every call of a deployed function (a recorded run
/// scales the placeholder cluster's function from zero there, as the gateway does).
pub async fn serve_with(
    scenario: &Scenario,
    journal: Journal,
    on_call: impl Fn(&str) + Send + Sync + 'static,
) -> std::io::Result<PlaceholderGateway> {
    let follow = move |c: Change<'_>| {
        if let Change::Called(name) = c {
            on_call(name);
        }
    };
    serve_following(scenario, journal, follow).await
}

/// [`serve`], telling `follow` each [`Change`] once it is made (e.g. to keep a placeholder
/// kube cluster in step with the gateway).
pub async fn serve_following(
    scenario: &Scenario,
    journal: Journal,
    follow: impl Fn(Change<'_>) + Send + Sync + 'static,
) -> std::io::Result<PlaceholderGateway> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let state = Arc::new(State {
        journal,
        replicas: scenario
            .functions
            .iter()
            .map(|f| (f.name.clone(), u64::from(f.replicas)))
            .collect(),
        functions: Mutex::new(BTreeMap::new()),
        follow: Follow(Box::new(follow)),
    });
    let server = tokio::spawn(accept(listener, state.clone()));
    Ok(PlaceholderGateway {
        url: format!("http://{addr}"),
        state,
        server,
    })
}

/// Shared state of one placeholder gateway.
#[derive(Debug)]
struct State {
    journal: Journal,
    /// Replicas of each scenario function, by name.
    replicas: BTreeMap<String, u64>,
    /// Deployed functions, by name.
    functions: Mutex<BTreeMap<String, Deployed>>,
    follow: Follow,
}

/// Who hears each [`Change`].
struct Follow(Box<dyn Fn(Change<'_>) + Send + Sync>);

impl std::fmt::Debug for Follow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Follow")
    }
}

/// One deployed function.
#[derive(Debug)]
struct Deployed {
    deployment: FunctionDeployment,
    /// Desired replicas (all of them are reported available).
    replicas: u64,
    /// Calls through `/function/NAME`.
    invocations: u64,
}

impl State {
    fn functions(&self) -> MutexGuard<'_, BTreeMap<String, Deployed>> {
        self.functions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replicas a deployment starts with: the scenario function's; for a function the
    /// scenario does not name, the `com.openfaas.scale.min` label when positive, as
    /// faas-netes reads it (`getMinReplicaCount`); else 1.
    fn initial_replicas(&self, d: &FunctionDeployment) -> u64 {
        if let Some(r) = self.replicas.get(&d.service) {
            return *r;
        }
        d.labels
            .as_ref()
            .and_then(|l| l.get(LABEL_SCALE_MIN))
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|r| *r > 0)
            .unwrap_or(1)
    }

    /// The deployment's status: every replica reported available at once.
    fn status(f: &Deployed) -> FunctionStatus {
        FunctionStatus {
            invocation_count: f.invocations,
            replicas: f.replicas,
            available_replicas: f.replicas,
            ..FunctionStatus::of_deployment(&f.deployment, NAMESPACE)
        }
    }
}

/// Accept connections until the task is aborted; the connections are served in a `JoinSet`
/// this task owns, so they end with it.
async fn accept(listener: tokio::net::TcpListener, state: Arc<State>) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        while conns.try_join_next().is_some() {}
        let stream = match listener.accept().await {
            Ok((stream, _peer)) => stream,
            Err(_) => {
                // Out of file descriptors or an aborted handshake: try again shortly.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let state = state.clone();
        conns.spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(&state, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

type Answer = Response<Full<Bytes>>;
/// An answer, or the refusal (status, text) that replaces it.
type Reply = Result<Answer, Refusal>;

/// A refused request: its status and the text answered.
struct Refusal(StatusCode, String);

/// Record one request, then answer it.
async fn handle(state: &State, req: Request<Incoming>) -> Answer {
    let (parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_string(), |p| p.as_str().to_string());
    let body = Limited::new(body, MAX_BODY_BYTES).collect().await;
    let body = body.map(|c| c.to_bytes());
    record(&state.journal, &parts.method, path, body.as_ref().ok());
    let reply = match body {
        Ok(bytes) => answer(state, &parts, &bytes),
        Err(e) if e.is::<LengthLimitError>() => Err(Refusal(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body over {MAX_BODY_BYTES} bytes"),
        )),
        Err(e) => Err(bad(format!("cannot read the request body: {e}"))),
    };
    reply.unwrap_or_else(|Refusal(status, why)| {
        let mut r = text(status, why);
        if status == StatusCode::UNAUTHORIZED {
            let realm = HeaderValue::from_static("Basic realm=\"Restricted\"");
            r.headers_mut().insert(header::WWW_AUTHENTICATE, realm);
        }
        r
    })
}

/// Journal a request: a GET as a read, any other method as an API call with its JSON body.
fn record(journal: &Journal, method: &Method, path: String, body: Option<&Bytes>) {
    // A GET of `/function/…` calls the function: a step of its own, never a poll.
    if method == Method::GET && !path.starts_with("/function/") {
        return journal.step(Step::Read {
            via: "gateway",
            path,
        });
    }
    let body = body
        .filter(|b| !b.is_empty())
        .and_then(|b| serde_json::from_slice::<Value>(b).ok());
    let method = match method.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "OTHER",
    };
    journal.step(Step::Api { method, path, body });
}

/// Answer one request as a healthy faas-netes gateway with placeholder state.
fn answer(state: &State, parts: &http::request::Parts, body: &Bytes) -> Reply {
    let (method, path) = (&parts.method, parts.uri.path());
    if path == "/healthz" && *method == Method::GET {
        return Ok(text(StatusCode::OK, "OK"));
    }
    if let Some(rest) = path.strip_prefix("/function/") {
        return invoke(state, rest);
    }
    if !path.starts_with("/system/") {
        return Err(not_found(format!("no route {method} {path}")));
    }
    // The gateway guards /system/ with basic auth; any credentials pass here, and the header
    // is never recorded or printed.
    let basic = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.get(..6).is_some_and(|b| b.eq_ignore_ascii_case("basic ")));
    if !basic {
        return Err(Refusal(StatusCode::UNAUTHORIZED, "Unauthorized".into()));
    }
    check_namespace(query_value(parts.uri.query(), "namespace"))?;
    let found = |name: &str| format!("function {name} not found in {NAMESPACE}");
    match (method.clone(), path) {
        (Method::GET, "/system/info") => Ok(json(&info())),
        (Method::GET, "/system/functions") => {
            let fns = state.functions();
            let list: Vec<_> = fns.values().map(State::status).collect();
            Ok(json(&list))
        }
        (Method::POST, "/system/functions") => deploy(state, body, false),
        (Method::PUT, "/system/functions") => deploy(state, body, true),
        (Method::DELETE, "/system/functions") => delete(state, body),
        (Method::GET, p) if p.starts_with("/system/function/") => {
            let name = p.trim_start_matches("/system/function/");
            let fns = state.functions();
            let f = fns.get(name).ok_or_else(|| not_found(found(name)))?;
            Ok(json(&State::status(f)))
        }
        (Method::POST, p) if p.starts_with("/system/scale-function/") => {
            // As faas-netes `pkg/handlers/replica_updater.go` in CE: 0 replicas is refused
            // (CE cannot scale to zero); an unknown function is 404 as the OpenAPI spec says
            // (faas-netes itself answers 500 there).
            let name = p.trim_start_matches("/system/scale-function/");
            let req: ScaleServiceRequest = decode(body)?;
            if req.replicas == 0 {
                return Err(bad("replicas cannot be set to 0 in OpenFaaS CE"));
            }
            let mut fns = state.functions();
            let f = fns.get_mut(name).ok_or_else(|| not_found(found(name)))?;
            f.replicas = req.replicas;
            drop(fns);
            (state.follow.0)(Change::Scaled(name, req.replicas));
            Ok(text(StatusCode::ACCEPTED, ""))
        }
        (m, p) => Err(not_found(format!("no route {m} {p}"))),
    }
}

/// `POST` (create) or `PUT` (`update`) `/system/functions`, answered as faas-netes does
/// (`pkg/handlers/deploy.go`, `update.go`): 400 on a body that does not decode or a name that
/// is no DNS label, 500 on creating what exists, 404 on updating what does not, else 202.
fn deploy(state: &State, body: &Bytes, update: bool) -> Reply {
    let d: FunctionDeployment = decode(body)?;
    if !is_dns_label(&d.service) {
        return Err(bad(format!(
            "validation failed: service {:?} must be a DNS label: at most 63 of a-z, 0-9 and '-'",
            d.service
        )));
    }
    check_namespace(d.namespace.as_deref())?;
    let (name, replicas) = (d.service.clone(), state.initial_replicas(&d));
    let mut fns = state.functions();
    match (fns.get_mut(&name), update) {
        (Some(_), false) => {
            let why = format!("unable create Deployment: deployments.apps {name:?} already exists");
            return Err(Refusal(StatusCode::INTERNAL_SERVER_ERROR, why));
        }
        (None, true) => return Err(not_found(format!("deployment not found: {name}"))),
        (Some(f), true) => (f.deployment, f.replicas) = (d, replicas),
        (None, false) => {
            let invocations = 0;
            let f = Deployed {
                deployment: d,
                replicas,
                invocations,
            };
            fns.insert(name.clone(), f);
        }
    }
    drop(fns);
    (state.follow.0)(Change::Deployed(&name));
    Ok(text(StatusCode::ACCEPTED, ""))
}

/// `DELETE /system/functions`, as faas-netes `pkg/handlers/delete.go`: 400 on a bad body or
/// no name, 404 when not deployed, 202 when deleted.
fn delete(state: &State, body: &Bytes) -> Reply {
    let req: DeleteFunctionRequest = decode(body)?;
    if req.function_name.is_empty() {
        return Err(bad("functionName is required"));
    }
    check_namespace(req.namespace.as_deref())?;
    let removed = state.functions().remove(&req.function_name);
    match removed {
        Some(_) => {
            (state.follow.0)(Change::Deleted(&req.function_name));
            Ok(text(StatusCode::ACCEPTED, ""))
        }
        None => Err(not_found(format!(
            "deployments.apps {:?} not found",
            req.function_name
        ))),
    }
}

/// `/function/NAME[.openfaas-fn][/rest]`: a deployed function answers 200 with placeholder
/// `X-Faasbed-*` headers (nothing runs and nothing is measured); another is 404.
fn invoke(state: &State, rest: &str) -> Reply {
    let name_ns = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let suffix = format!(".{NAMESPACE}");
    let name = name_ns.strip_suffix(&suffix).unwrap_or(name_ns);
    let mut fns = state.functions();
    let Some(f) = fns.get_mut(name) else {
        return Err(not_found(format!(
            "function {name} is not deployed in {NAMESPACE}"
        )));
    };
    f.invocations += 1;
    drop(fns);
    (state.follow.0)(Change::Called(name));
    let mut r = text(
        StatusCode::OK,
        format!("placeholder answer of {name}: nothing ran\n"),
    );
    for h in [headers::NODE, headers::INSTANCE] {
        r.headers_mut()
            .insert(h, HeaderValue::from_static(PLACEHOLDER));
    }
    Ok(r)
}

/// `GET /system/info` of a faas-netes gateway, every version a placeholder.
fn info() -> GatewayInfo {
    let version = || VersionInfo {
        commit_message: None,
        sha: PLACEHOLDER.to_string(),
        release: PLACEHOLDER.to_string(),
    };
    GatewayInfo {
        provider: Some(ProviderInfo {
            provider: "faas-netes".to_string(),
            orchestration: "kubernetes".to_string(),
            version: Some(version()),
        }),
        version: Some(version()),
        arch: PLACEHOLDER.to_string(),
    }
}

/// A JSON body, or the 400 faas-netes answers when it does not decode.
fn decode<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, Refusal> {
    serde_json::from_slice(body).map_err(|e| bad(format!("failed to unmarshal request: {e}")))
}

/// A namespace other than [`NAMESPACE`] is refused, as faas-netes does.
fn check_namespace(ns: Option<&str>) -> Result<(), Refusal> {
    match ns {
        Some(ns) if !ns.is_empty() && ns != NAMESPACE => {
            Err(bad(format!("namespace must be: {NAMESPACE}")))
        }
        _ => Ok(()),
    }
}

/// Is `s` a DNS-1123 label (what Kubernetes accepts as a Deployment's name)?
fn is_dns_label(s: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    (1..=63).contains(&s.len())
        && s.chars().all(|c| alnum(c) || c == '-')
        && s.starts_with(alnum)
        && s.ends_with(alnum)
}

/// The value of `key` in a query string (no percent-decoding: namespaces need none).
fn query_value<'a>(query: Option<&'a str>, key: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

fn text(status: StatusCode, body: impl Into<String>) -> Answer {
    let mut r = Response::new(Full::new(Bytes::from(body.into())));
    *r.status_mut() = status;
    let plain = HeaderValue::from_static("text/plain; charset=utf-8");
    r.headers_mut().insert(header::CONTENT_TYPE, plain);
    r
}

fn bad(why: impl Into<String>) -> Refusal {
    Refusal(StatusCode::BAD_REQUEST, why.into())
}

fn not_found(why: impl Into<String>) -> Refusal {
    Refusal(StatusCode::NOT_FOUND, why.into())
}

/// A 200 with `v` as JSON.
fn json<T: serde::Serialize>(v: &T) -> Answer {
    let Ok(bytes) = serde_json::to_vec(v) else {
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot encode the answer",
        );
    };
    let mut r = Response::new(Full::new(Bytes::from(bytes)));
    let json = HeaderValue::from_static("application/json");
    r.headers_mut().insert(header::CONTENT_TYPE, json);
    r
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests;
