//! The gateway's keep-alive HTTP/1.1 connections to replicas: one stack of idle connections per
//! replica address, taken for one exchange and put back once the response body is read.
//!
//! It replaces hyper-util's general client (pool keys, URI parsing, a connector and an executor
//! per call): the local gateway only ever talks plain HTTP/1.1 to a replica's address (`127.0.0.1:<port>` for
//! a process, its bridge address for a container).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use bytes::Bytes;
use http::{response, Request};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

type Body = Full<Bytes>;

/// Why an exchange with a replica failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No connection could be opened.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// Replica address.
        addr: SocketAddr,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP exchange failed.
    #[error("{0}")]
    Http(#[from] hyper::Error),
}

/// Idle connections by replica address.
#[derive(Default)]
pub struct Upstream {
    idle: Mutex<HashMap<SocketAddr, Vec<SendRequest<Body>>>>,
}

/// Idle connections kept per replica; more are closed when put back.
const MAX_IDLE_PER_REPLICA: usize = 64;

impl Upstream {
    /// Send `req` to the replica at `addr` and read the whole response. A pooled connection the
    /// replica closed meanwhile is dropped and the request goes out on a fresh one.
    pub async fn exchange(
        &self,
        addr: SocketAddr,
        mut req: Request<Body>,
    ) -> Result<(response::Parts, Bytes), UpstreamError> {
        let (mut sender, response) = loop {
            let (mut sender, pooled) = match self.take(addr) {
                Some(s) => (s, true),
                None => (connect(addr).await?, false),
            };
            match sender.try_send_request(req).await {
                Ok(r) => break (sender, r),
                Err(mut e) => match e.take_message() {
                    // Never written: safe to send again, on a new connection.
                    Some(back) if pooled => req = back,
                    _ => return Err(e.into_error().into()),
                },
            }
        };
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        if sender.ready().await.is_ok() {
            self.put(addr, sender);
        }
        Ok((parts, body))
    }

    /// An idle connection to `addr` that is still open.
    fn take(&self, addr: SocketAddr) -> Option<SendRequest<Body>> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let stack = idle.get_mut(&addr)?;
        while let Some(s) = stack.pop() {
            if !s.is_closed() {
                return Some(s);
            }
        }
        None
    }

    fn put(&self, addr: SocketAddr, sender: SendRequest<Body>) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let stack = idle.entry(addr).or_default();
        if stack.len() < MAX_IDLE_PER_REPLICA {
            stack.push(sender);
        }
    }
}

async fn connect(addr: SocketAddr) -> Result<SendRequest<Body>, UpstreamError> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|source| UpstreamError::Connect { addr, source })?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // Ends when the replica closes the connection or the sender is dropped; the next
        // exchange notices a closed connection and opens another.
        let _ = conn.await;
    });
    Ok(sender)
}
