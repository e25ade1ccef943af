//! A trivial loopback HTTP/1.1 server answering "ok" (with faasbed's node/instance headers), the
//! target of the load-generator-vs-peers benchmark.

use std::convert::Infallible;
use std::net::SocketAddr;

use anyhow::Context;
use bytes::Bytes;
use clap::Parser;
use http_body_util::Full;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Serve "ok" on every path.
#[derive(Parser)]
struct Args {
    /// Address to listen on (port 0 picks a free one; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:18080")]
    addr: SocketAddr,
    /// Runtime worker threads; keep it below the core count to leave cores for the client.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

async fn hello(_: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::new(Bytes::from_static(b"ok")));
    let headers = response.headers_mut();
    headers.insert(
        "x-faasbed-node",
        hyper::header::HeaderValue::from_static("loopback"),
    );
    headers.insert(
        "x-faasbed-instance",
        hyper::header::HeaderValue::from_static("hello-server"),
    );
    Ok(response)
}

async fn serve(addr: SocketAddr) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await.context("accept failed")?;
        stream.set_nodelay(true)?;
        tokio::spawn(async move {
            let service = hyper::service::service_fn(hello);
            // A client closing its connection mid-request is normal at the end of a benchmark.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?
        .block_on(serve(args.addr))
}
