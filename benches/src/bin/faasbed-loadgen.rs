//! faasbed's warm load generator as a standalone tool: open loop at a fixed rate, or closed loop
//! over N connections; prints the result as JSON or as one summary line.

use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use faasbed::measure::loadgen::{run_closed, run_open, RunOptions, Target};
use faasbed::measure::record::{NullSink, Percentiles, WarmResult};
use faasbed::measure::schedule::{Arrival, Schedule};

/// Load an HTTP endpoint and report latency percentiles (µs) and throughput.
#[derive(Parser)]
struct Args {
    /// `http://host:port/path` to request.
    #[arg(long)]
    url: String,
    /// Open loop: target requests per second.
    #[arg(long, conflicts_with = "closed", required_unless_present = "closed")]
    rate: Option<f64>,
    /// Closed loop: every connection sends back to back.
    #[arg(long)]
    closed: bool,
    /// Connections (one worker each).
    #[arg(long, default_value_t = 16)]
    connections: u32,
    /// Measured duration, e.g. `10s`.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    duration: Duration,
    /// Discarded warm-up before the measured duration, e.g. `1s`.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0s")]
    warmup: Duration,
    /// Per-request timeout.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    timeout: Duration,
    /// Open loop inter-arrival: `uniform` or `poisson`.
    #[arg(long, default_value = "uniform")]
    arrival: String,
    /// Seed of the Poisson schedule.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Open loop: the pacer busy-waits this long before each send (its sleeps may overshoot), µs.
    #[arg(long, default_value_t = 100)]
    spin_us: u64,
    /// Runtime worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Print one summary line instead of JSON.
    #[arg(long)]
    summary: bool,
}

fn percentiles_line(name: &str, p: Option<Percentiles>) -> String {
    match p {
        Some(p) => format!(
            "{name} p50={:.0}us p90={:.0}us p99={:.0}us p99.9={:.0}us max={:.0}us",
            p.p50_us, p.p90_us, p.p99_us, p.p999_us, p.max_us
        ),
        None => format!("{name} -"),
    }
}

fn summary(r: &WarmResult) -> String {
    format!(
        "requests={} ok={} errors={} late={} achieved={:.0}rps {} {}",
        r.total.requests,
        r.total.ok,
        r.total.errors.total(),
        r.total.late_sends,
        r.achieved_rps,
        percentiles_line("corrected", r.corrected),
        percentiles_line("uncorrected", r.uncorrected),
    )
}

async fn run(args: &Args) -> anyhow::Result<WarmResult> {
    let target = Target::get(&args.url)?;
    let options = RunOptions {
        connections: args.connections,
        warmup: args.warmup,
        timeout: args.timeout,
        spin: Duration::from_micros(args.spin_us),
        ..RunOptions::new("loadgen")
    };
    let result = match args.rate {
        Some(rate) => {
            let arrival = match args.arrival.as_str() {
                "uniform" => Arrival::Uniform,
                "poisson" => Arrival::Poisson,
                other => anyhow::bail!("unknown --arrival {other}; use uniform or poisson"),
            };
            let schedule = Schedule::new(arrival, rate, args.warmup + args.duration, args.seed)?;
            run_open(&target, schedule, &options, &mut NullSink).await?
        }
        None => run_closed(&target, args.duration, &options, &mut NullSink).await?,
    };
    Ok(result)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        builder.worker_threads(threads.max(1));
    }
    let runtime = builder
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let result = runtime.block_on(run(&args))?;
    if args.summary {
        println!("{}", summary(&result));
    } else {
        println!("{}", serde_json::to_string_pretty(&result)?);
    }
    Ok(())
}
