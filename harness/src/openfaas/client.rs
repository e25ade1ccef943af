//! Client of the OpenFaaS gateway REST API, the same on every platform (local, k3d, existing).
//!
//! Every error names the method, the URL and the status, and keeps the gateway's body.

use std::time::{Duration, Instant, SystemTime};

use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client as HyperClient};
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;

use super::types::*;

/// Errors talking to a gateway.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Could not connect or the connection broke.
    #[error("{method} {url}: {source}; is the gateway running? (`faasbed status`)")]
    Transport {
        method: Method,
        url: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The gateway answered with an unexpected status.
    #[error("{method} {url}: gateway answered {status}: {body}")]
    Status {
        method: Method,
        url: String,
        status: StatusCode,
        body: String,
    },
    /// The gateway's body did not have the documented shape.
    #[error("{method} {url}: unexpected response body ({source}); body was: {body}")]
    Decode {
        method: Method,
        url: String,
        body: String,
        #[source]
        source: serde_json::Error,
    },
    /// No answer within the deadline.
    #[error("{method} {url}: no answer within {timeout:?}")]
    Timeout {
        method: Method,
        url: String,
        timeout: Duration,
    },
    /// The base URL or a path could not form a valid request.
    #[error("invalid request {url}: {message}")]
    Request { url: String, message: String },
}

/// One function invocation with its timings.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// HTTP status.
    pub status: StatusCode,
    /// Response headers (the function's `X-Faasbed-*` among them).
    pub headers: HeaderMap,
    /// Response body.
    pub body: Bytes,
    /// Wall clock when the request was sent.
    pub sent_at: SystemTime,
    /// Time from send to the response head.
    pub first_byte: Duration,
    /// Time from send to the end of the body.
    pub total: Duration,
}

impl Invocation {
    /// A response header as text, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A gateway client with basic auth and a keep-alive pool.
#[derive(Clone)]
pub struct Client {
    base: String,
    auth: String,
    http: HyperClient<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for `base` (e.g. `http://127.0.0.1:8080`) with basic-auth credentials.
    pub fn new(base: &str, user: &str, password: &str) -> Self {
        let mut conn = HttpConnector::new();
        conn.set_nodelay(true);
        let http = HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(conn);
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        Client {
            base: base.trim_end_matches('/').to_string(),
            auth: format!("Basic {token}"),
            http,
            timeout: Duration::from_secs(60),
        }
    }

    /// Change the per-request deadline (default 60 s).
    pub fn with_timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// The gateway's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
        auth: bool,
    ) -> Result<Invocation, ClientError> {
        let url = format!("{}{}", self.base, path);
        let mut req = Request::builder().method(method.clone()).uri(&url);
        if auth {
            req = req.header(http::header::AUTHORIZATION, &self.auth);
        }
        if !body.is_empty() {
            req = req.header(http::header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Full::new(body))
            .map_err(|e| ClientError::Request {
                url: url.clone(),
                message: e.to_string(),
            })?;
        let sent_at = SystemTime::now();
        let t0 = Instant::now();
        let fut = async {
            let resp = self
                .http
                .request(req)
                .await
                .map_err(|e| ClientError::Transport {
                    method: method.clone(),
                    url: url.clone(),
                    source: Box::new(e),
                })?;
            let first_byte = t0.elapsed();
            let (parts, body) = resp.into_parts();
            let body = body.collect().await.map_err(|e| ClientError::Transport {
                method: method.clone(),
                url: url.clone(),
                source: Box::new(e),
            })?;
            Ok(Invocation {
                status: parts.status,
                headers: parts.headers,
                body: body.to_bytes(),
                sent_at,
                first_byte,
                total: t0.elapsed(),
            })
        };
        tokio::time::timeout(self.timeout, fut)
            .await
            .map_err(|_| ClientError::Timeout {
                method: method.clone(),
                url: url.clone(),
                timeout: self.timeout,
            })?
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
        ok: &[StatusCode],
    ) -> Result<Invocation, ClientError> {
        let inv = self.send(method.clone(), path, body, true).await?;
        if ok.contains(&inv.status) {
            Ok(inv)
        } else {
            Err(ClientError::Status {
                method,
                url: format!("{}{}", self.base, path),
                status: inv.status,
                body: String::from_utf8_lossy(&inv.body).into_owned(),
            })
        }
    }

    /// `GET path` (with auth) decoded as JSON; for endpoints beyond the typed ones.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let inv = self
            .call(Method::GET, path, Bytes::new(), &[StatusCode::OK])
            .await?;
        serde_json::from_slice(&inv.body).map_err(|source| ClientError::Decode {
            method: Method::GET,
            url: format!("{}{}", self.base, path),
            body: String::from_utf8_lossy(&inv.body)
                .chars()
                .take(500)
                .collect(),
            source,
        })
    }

    fn encode<T: serde::Serialize>(v: &T) -> Bytes {
        // Serializing our own plain structs cannot fail.
        Bytes::from(serde_json::to_vec(v).unwrap_or_default())
    }

    /// `GET /healthz` (no auth): is the gateway up?
    pub async fn healthz(&self) -> Result<(), ClientError> {
        let inv = self
            .send(Method::GET, "/healthz", Bytes::new(), false)
            .await?;
        if inv.status == StatusCode::OK {
            Ok(())
        } else {
            Err(ClientError::Status {
                method: Method::GET,
                url: format!("{}/healthz", self.base),
                status: inv.status,
                body: String::from_utf8_lossy(&inv.body).into_owned(),
            })
        }
    }

    /// `GET /system/info`.
    pub async fn info(&self) -> Result<GatewayInfo, ClientError> {
        self.get_json("/system/info").await
    }

    /// `GET /system/functions`.
    pub async fn list(&self) -> Result<Vec<FunctionStatus>, ClientError> {
        self.get_json("/system/functions").await
    }

    /// `GET /system/function/{name}`.
    pub async fn status(&self, name: &str) -> Result<FunctionStatus, ClientError> {
        self.get_json(&format!("/system/function/{name}")).await
    }

    /// `POST /system/functions` (202).
    pub async fn deploy(&self, d: &FunctionDeployment) -> Result<(), ClientError> {
        self.call(
            Method::POST,
            "/system/functions",
            Self::encode(d),
            &[StatusCode::ACCEPTED, StatusCode::OK],
        )
        .await
        .map(drop)
    }

    /// `PUT /system/functions` (200 or 202).
    pub async fn update(&self, d: &FunctionDeployment) -> Result<(), ClientError> {
        self.call(
            Method::PUT,
            "/system/functions",
            Self::encode(d),
            &[StatusCode::OK, StatusCode::ACCEPTED],
        )
        .await
        .map(drop)
    }

    /// Deploy, or update when the function exists already.
    pub async fn deploy_or_update(&self, d: &FunctionDeployment) -> Result<(), ClientError> {
        match self.status(&d.service).await {
            Ok(_) => self.update(d).await,
            Err(ClientError::Status {
                status: StatusCode::NOT_FOUND,
                ..
            }) => self.deploy(d).await,
            Err(e) => Err(e),
        }
    }

    /// `DELETE /system/functions`.
    pub async fn delete(&self, name: &str) -> Result<(), ClientError> {
        let body = Self::encode(&DeleteFunctionRequest {
            function_name: name.to_string(),
            namespace: None,
        });
        self.call(
            Method::DELETE,
            "/system/functions",
            body,
            &[StatusCode::OK, StatusCode::ACCEPTED],
        )
        .await
        .map(drop)
    }

    /// `POST /system/scale-function/{name}`.
    pub async fn scale(&self, name: &str, replicas: u64) -> Result<(), ClientError> {
        let body = Self::encode(&ScaleServiceRequest {
            service_name: name.to_string(),
            namespace: String::new(),
            replicas,
        });
        self.call(
            Method::POST,
            &format!("/system/scale-function/{name}"),
            body,
            &[StatusCode::OK, StatusCode::ACCEPTED],
        )
        .await
        .map(drop)
    }

    /// Invoke `/function/{name}{path}`; any status is returned (the caller judges it).
    pub async fn invoke(
        &self,
        name: &str,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<Invocation, ClientError> {
        let path = match path.strip_prefix('/') {
            Some(rest) if rest.is_empty() || rest.starts_with('?') => {
                format!("/function/{name}{rest}")
            }
            _ => format!("/function/{name}{path}"),
        };
        let (method, body) = match body {
            Some(b) => (Method::POST, b),
            None => (Method::GET, Bytes::new()),
        };
        self.send(method, &path, body, false).await
    }
}
