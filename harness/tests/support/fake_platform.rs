//! A [`Platform`] held in memory, for fast tests of the cold logic and the deploy loop.
//!
//! Its gateway is a small HTTP server on loopback that answers the OpenFaaS calls the harness
//! makes (`/system/functions`, `/system/function/NAME`, `/function/NAME`) from the same state
//! the trait methods read and change. Every call is logged in order ([`FakePlatform::calls`]).
//! What it models, each switchable per test:
//! - where each function's replica runs (`place`), and where `enforce_placement` moves it
//!   (`enforce_to`);
//! - whether `force_cold` really ends the replica (`cold_works`), and the gateway's settle
//!   time: a call sooner than `settle` after the replica went still reaches the old instance
//!   (the CE gateway's replica cache);
//! - how many readiness polls answer "0 ready" before the replicas count (`unready_polls`).
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use faasbed::openfaas::headers;
use faasbed::platform::deploy::{DeployError, Deployed};
use faasbed::platform::{GatewayAccess, Platform, PlatformError, ReplicaPlacement};
use faasbed::spec::{Arch, Scenario};
use faasbed::store::manifest::NodeProvenance;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

/// One function as the fake holds it.
#[derive(Debug, Clone, Default)]
pub struct FakeFn {
    /// The node its replica runs on.
    pub node: String,
    /// The instance number of its current replica (bumped by each real cold start).
    pub instance: u32,
    /// When `force_cold` ended the replica; the next call after `settle` starts a new one.
    pub gone_at: Option<Instant>,
    /// Deployed through the gateway.
    pub deployed: bool,
    /// Readiness polls answered so far.
    pub polls: u32,
}

/// The shared state of the fake and its gateway.
#[derive(Debug, Default)]
pub struct FakeState {
    /// Every call, in order: `deploy F`, `enforce`, `status F`, `placement F`, `force_cold F`,
    /// `invoke F`, `down`.
    pub calls: Vec<String>,
    /// Functions by name.
    pub functions: BTreeMap<String, FakeFn>,
    /// Where `enforce_placement` moves each function (absent: it moves nothing).
    pub enforce_to: BTreeMap<String, String>,
    /// Whether `force_cold` ends the replica.
    pub cold_works: bool,
    /// How long after a replica went a call still reaches it.
    pub settle: Duration,
    /// Readiness polls answering "0 ready" before the replicas count.
    pub unready_polls: u32,
    /// When each invoke arrived, with the instant `force_cold` returned before it.
    pub invoked_after_cold: Vec<Option<Duration>>,
}

/// The in-memory platform.
pub struct FakePlatform {
    /// Shared with the gateway task.
    pub state: Arc<Mutex<FakeState>>,
    gateway: GatewayAccess,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakePlatform {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn reply(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r
}

fn handle(
    state: &Mutex<FakeState>,
    method: &http::Method,
    path: &str,
    body: &[u8],
) -> Response<Full<Bytes>> {
    let mut st = state.lock().unwrap();
    if path == "/system/functions" && (method == http::Method::POST || method == http::Method::PUT)
    {
        let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let name = v["service"].as_str().unwrap_or_default().to_string();
        st.calls.push(format!("deploy {name}"));
        st.functions.entry(name).or_default().deployed = true;
        return reply(StatusCode::ACCEPTED, String::new());
    }
    if let Some(name) = path.strip_prefix("/system/function/") {
        let unready = st.unready_polls;
        let Some(f) = st.functions.get_mut(name).filter(|f| f.deployed) else {
            return reply(StatusCode::NOT_FOUND, format!("no function {name}"));
        };
        f.polls += 1;
        let ready = u64::from(f.polls > unready);
        let s = serde_json::json!({
            "name": name, "image": "fake", "replicas": 1, "availableReplicas": ready,
        });
        st.calls.push(format!("status {name}"));
        return reply(StatusCode::OK, s.to_string());
    }
    if let Some(rest) = path.strip_prefix("/function/") {
        let name = rest
            .split(['/', '?'])
            .next()
            .unwrap_or_default()
            .to_string();
        let settle = st.settle;
        let Some(f) = st.functions.get_mut(&name) else {
            return reply(StatusCode::NOT_FOUND, format!("no function {name}"));
        };
        let waited = f.gone_at.map(|t| t.elapsed());
        if let Some(w) = waited {
            if w >= settle {
                f.instance += 1;
                f.gone_at = None;
            }
        }
        let (node, instance) = (f.node.clone(), format!("{name}-{}", f.instance));
        st.calls.push(format!("invoke {name}"));
        st.invoked_after_cold.push(waited);
        let mut r = reply(StatusCode::OK, "ok".into());
        let h = r.headers_mut();
        h.insert(headers::NODE, node.parse().unwrap());
        h.insert(headers::ARCH, "amd64".parse().unwrap());
        h.insert(headers::INSTANCE, instance.parse().unwrap());
        return r;
    }
    reply(
        StatusCode::NOT_FOUND,
        format!("the fake gateway does not serve {method} {path}"),
    )
}

impl FakePlatform {
    /// A fake whose functions run where `place` says (function → node), with a gateway on
    /// loopback. `force_cold` works and nothing needs to settle until a test says otherwise.
    pub async fn new(place: &[(&str, &str)]) -> FakePlatform {
        let state = Arc::new(Mutex::new(FakeState {
            cold_works: true,
            functions: place
                .iter()
                .map(|(f, n)| {
                    (
                        f.to_string(),
                        FakeFn {
                            node: n.to_string(),
                            ..FakeFn::default()
                        },
                    )
                })
                .collect(),
            ..FakeState::default()
        }));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shared = state.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let st = shared.clone();
                tokio::spawn(async move {
                    let svc =
                        hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                            let st = st.clone();
                            async move {
                                use http_body_util::BodyExt;
                                let method = req.method().clone();
                                let path = req.uri().path().to_string();
                                let body = req
                                    .into_body()
                                    .collect()
                                    .await
                                    .map(|b| b.to_bytes())
                                    .unwrap_or_default();
                                Ok::<_, Infallible>(handle(&st, &method, &path, &body))
                            }
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        FakePlatform {
            state,
            gateway: GatewayAccess {
                url,
                user: "admin".into(),
                password: "fake".into(),
            },
            server,
        }
    }

    /// The calls so far, in order.
    pub fn calls(&self) -> Vec<String> {
        self.state.lock().unwrap().calls.clone()
    }

    /// Change the state.
    pub fn with(&self, f: impl FnOnce(&mut FakeState)) {
        f(&mut self.state.lock().unwrap());
    }
}

impl Platform for FakePlatform {
    fn gateway(&self) -> &GatewayAccess {
        &self.gateway
    }

    async fn build(
        &self,
        scenario: &Scenario,
        log: &mut dyn FnMut(&str),
    ) -> Result<Vec<Deployed>, DeployError> {
        log("fake build");
        Ok(scenario
            .functions
            .iter()
            .map(|f| Deployed {
                function: f.name.clone(),
                image: format!("fake/{}", f.source),
                hash: "0".repeat(16),
                arches: vec![Arch::Amd64],
                cached: BTreeMap::new(),
            })
            .collect())
    }

    async fn enforce_placement(&self, _scenario: &Scenario) -> Result<(), PlatformError> {
        let mut st = self.state.lock().unwrap();
        st.calls.push("enforce".into());
        let moves = st.enforce_to.clone();
        for (f, node) in moves {
            if let Some(ff) = st.functions.get_mut(&f) {
                ff.node = node;
            }
        }
        Ok(())
    }

    async fn node_provenance(&self, _scenario: &Scenario) -> Vec<NodeProvenance> {
        Vec::new()
    }

    async fn force_cold(&self, function: &str) -> Result<(), PlatformError> {
        let mut st = self.state.lock().unwrap();
        st.calls.push(format!("force_cold {function}"));
        let works = st.cold_works;
        if let Some(f) = st.functions.get_mut(function) {
            if works {
                f.gone_at = Some(Instant::now());
            }
        }
        Ok(())
    }

    async fn placement(&self, function: &str) -> Result<Vec<ReplicaPlacement>, PlatformError> {
        let mut st = self.state.lock().unwrap();
        st.calls.push(format!("placement {function}"));
        Ok(st
            .functions
            .get(function)
            .filter(|f| f.gone_at.is_none())
            .map(|f| ReplicaPlacement {
                node: f.node.clone(),
                arch: Arch::Amd64,
                class: "fake".into(),
                instance: Some(format!("{function}-{}", f.instance)),
                ready: true,
            })
            .into_iter()
            .collect())
    }

    async fn down(&mut self) -> Result<(), PlatformError> {
        self.state.lock().unwrap().calls.push("down".into());
        Ok(())
    }

    fn cold_settle(&self) -> Duration {
        self.state.lock().unwrap().settle
    }
}
