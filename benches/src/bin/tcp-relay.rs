//! A byte-for-byte TCP relay (no HTTP parsing), the floor of any user-space proxy hop on this
//! machine: `just bench-local` sends the same load through it and through the local gateway.

use std::net::SocketAddr;

use anyhow::Context;
use clap::Parser;
use tokio::net::{TcpListener, TcpStream};

/// Relay every connection on `--listen` to `--to`.
#[derive(Parser)]
struct Args {
    /// Address to listen on (port 0 picks a free one; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Upstream address.
    #[arg(long)]
    to: SocketAddr,
}

async fn relay(args: Args) -> anyhow::Result<()> {
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (mut down, _) = listener.accept().await.context("accept failed")?;
        let to = args.to;
        tokio::spawn(async move {
            let Ok(mut up) = TcpStream::connect(to).await else {
                return;
            };
            let _ = (down.set_nodelay(true), up.set_nodelay(true));
            // Either side closing ends the relay; its error needs no handling here.
            let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
        });
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // One thread, like the local gateway daemon.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?
        .block_on(relay(args))
}
