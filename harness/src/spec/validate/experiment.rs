//! `[experiment]`: warm and cold settings, each duration and count checked against its limit.

use super::*;

fn dur(
    cx: &Cx,
    v: &Option<Spanned<String>>,
    field: &str,
    default: Duration,
    range: std::ops::RangeInclusive<Duration>,
) -> R<Duration> {
    match v {
        None => Ok(default),
        Some(s) => {
            let d = parse_duration(s.get_ref()).map_err(|e| cx.err(s.span(), field, e))?;
            if d < *range.start() {
                return Err(cx.err(
                    s.span(),
                    field,
                    format!(
                        "must be at least {}",
                        humantime::format_duration(*range.start())
                    ),
                ));
            }
            if d > *range.end() {
                return Err(cx.err(
                    s.span(),
                    field,
                    format!(
                        "{:?} is longer than the limit of {}; split a longer experiment into several runs",
                        s.get_ref(),
                        humantime::format_duration(*range.end())
                    ),
                ));
            }
            Ok(d)
        }
    }
}

/// The longest measured warm phase of one function.
const MAX_WARM: Duration = Duration::from_secs(24 * 3600);
/// The longest warm-up, idle gap or per-request/cold-start timeout.
const MAX_WAIT: Duration = Duration::from_secs(3600);
const MAX_TIMEOUT: Duration = Duration::from_secs(600);
/// The most warm requests one function's open-loop schedule may hold (each is a stored sample).
const MAX_WARM_REQUESTS: f64 = 10_000_000.0;
/// The most cold starts per function.
const MAX_REPETITIONS: i64 = 10_000;

fn int_in(
    cx: &Cx,
    v: &Option<Spanned<i64>>,
    field: &str,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
) -> R<i64> {
    match v {
        None => Ok(default),
        Some(x) if range.contains(x.get_ref()) => Ok(*x.get_ref()),
        Some(x) => Err(cx.err(
            x.span(),
            field,
            format!("must be between {} and {}", range.start(), range.end()),
        )),
    }
}

pub(super) fn experiment(cx: &Cx, e: &RawExperiment) -> R<Experiment> {
    let seed = int_in(cx, &e.seed, "experiment.seed", 42, 0..=i64::MAX)? as u64;
    let w = &e.warm;
    let mode = match w.mode.as_ref().map(|m| (m, m.get_ref().as_str())) {
        None | Some((_, "open")) => WarmMode::Open,
        Some((_, "closed")) => WarmMode::Closed,
        Some((m, o)) => {
            return Err(cx.err(
                m.span(),
                "experiment.warm.mode",
                format!("unknown mode {o:?}; use \"open\" or \"closed\""),
            ))
        }
    };
    let arrival = match w.arrival.as_ref().map(|m| (m, m.get_ref().as_str())) {
        None | Some((_, "uniform")) => Arrival::Uniform,
        Some((_, "poisson")) => Arrival::Poisson,
        Some((m, o)) => {
            return Err(cx.err(
                m.span(),
                "experiment.warm.arrival",
                format!("unknown arrival {o:?}; use \"uniform\" or \"poisson\""),
            ))
        }
    };
    let rate = match &w.rate {
        None => 50.0,
        Some(r) if r.get_ref().is_finite() && *r.get_ref() > 0.0 && *r.get_ref() <= 1e6 => {
            *r.get_ref()
        }
        Some(r) => {
            return Err(cx.err(
                r.span(),
                "experiment.warm.rate",
                "rate is requests per second, above 0 and at most 1000000",
            ))
        }
    };
    let warm = Warm {
        mode,
        arrival,
        rate,
        duration: dur(
            cx,
            &w.duration,
            "experiment.warm.duration",
            Duration::from_secs(5),
            Duration::from_millis(100)..=MAX_WARM,
        )?,
        warmup: dur(
            cx,
            &w.warmup,
            "experiment.warm.warmup",
            Duration::from_secs(1),
            Duration::ZERO..=MAX_WAIT,
        )?,
        connections: int_in(
            cx,
            &w.connections,
            "experiment.warm.connections",
            4,
            1..=4096,
        )? as u32,
        timeout: dur(
            cx,
            &w.timeout,
            "experiment.warm.timeout",
            Duration::from_secs(10),
            Duration::from_millis(1)..=MAX_TIMEOUT,
        )?,
    };
    let c = &e.cold;
    let cold = Cold {
        repetitions: int_in(
            cx,
            &c.repetitions,
            "experiment.cold.repetitions",
            20,
            1..=MAX_REPETITIONS,
        )? as u32,
        idle_gap: dur(
            cx,
            &c.idle_gap,
            "experiment.cold.idle_gap",
            Duration::from_millis(300),
            Duration::ZERO..=MAX_WAIT,
        )?,
        timeout: dur(
            cx,
            &c.timeout,
            "experiment.cold.timeout",
            Duration::from_secs(60),
            Duration::from_millis(10)..=MAX_TIMEOUT,
        )?,
        image_cache: super::runtime::image_cache(cx, &c.image_cache)?,
    };
    let planned = warm.rate * (warm.warmup + warm.duration).as_secs_f64();
    if warm.mode == WarmMode::Open && planned > MAX_WARM_REQUESTS {
        let span = w
            .rate
            .as_ref()
            .map(Spanned::span)
            .or_else(|| w.duration.as_ref().map(Spanned::span))
            .unwrap_or(0..0);
        return Err(cx.err(
            span,
            if w.rate.is_some() {
                "experiment.warm.rate"
            } else {
                "experiment.warm.duration"
            },
            format!(
                "rate × (warmup + duration) is {planned:.0} requests per function, above the limit of {MAX_WARM_REQUESTS:.0} (each is a stored sample); lower the rate or the duration"
            ),
        ));
    }
    Ok(Experiment {
        seed,
        warm,
        cold,
        thresholds: Vec::new(),
        trace: None,
    })
}
