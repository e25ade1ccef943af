//! `[experiment.trace]`: the trace files, window, compression, mapping and keep-alive, each
//! checked against its limit. The files themselves are read by `crate::trace` when the run starts.

use super::*;

/// The longest trace window (the 2021 trace covers two weeks).
const MAX_WINDOW: Duration = Duration::from_secs(14 * 24 * 3600);
/// The longest keep-alive (OpenFaaS Pro and faasd idlers use minutes).
const MAX_KEEP_ALIVE: Duration = Duration::from_secs(3600);
/// The shortest keep-alive: the idler checks a few times per keep-alive.
const MIN_KEEP_ALIVE: Duration = Duration::from_millis(500);

fn duration(cx: &Cx, v: &Option<Spanned<String>>, field: &str, default: Duration) -> R<Duration> {
    match v {
        None => Ok(default),
        Some(s) => parse_duration(s.get_ref()).map_err(|e| cx.err(s.span(), field, e)),
    }
}

fn whole_minutes(cx: &Cx, v: &Option<Spanned<String>>, field: &str, d: Duration) -> R<()> {
    match v {
        Some(s) if !d.as_nanos().is_multiple_of(60_000_000_000) => Err(cx.err(
            s.span(),
            field,
            "an azure2019 trace counts invocations per minute: use whole minutes, e.g. \"10m\"",
        )),
        _ => Ok(()),
    }
}

pub(super) fn trace(
    cx: &Cx,
    raw: Option<&RawTrace>,
    functions: &[Function],
    seed: u64,
) -> R<Option<TraceSpec>> {
    let Some(t) = raw else { return Ok(None) };
    let format = match t.format.get_ref().as_str() {
        "azure2019" => TraceFormat::Azure2019,
        "azure2021" => TraceFormat::Azure2021,
        o => {
            return Err(cx.err(
                t.format.span(),
                "experiment.trace.format",
                format!("unknown format {o:?}; use \"azure2019\" or \"azure2021\""),
            ))
        }
    };
    let dir = cx.path.parent().unwrap_or(Path::new(""));
    let file = |s: &Spanned<String>| dir.join(s.get_ref());
    for (v, field) in [(&t.durations, "durations"), (&t.memory, "memory")] {
        if let (Some(s), TraceFormat::Azure2021) = (v, format) {
            return Err(cx.err(
                s.span(),
                format!("experiment.trace.{field}"),
                "only an azure2019 trace has duration and memory files; remove it",
            ));
        }
    }
    let files = TraceFiles {
        format,
        invocations: file(&t.file),
        durations: t.durations.as_ref().map(file),
        memory: t.memory.as_ref().map(file),
    };
    let start = duration(cx, &t.start, "experiment.trace.start", Duration::ZERO)?;
    let window = duration(
        cx,
        &t.window,
        "experiment.trace.window",
        Duration::from_secs(600),
    )?;
    if window.is_zero() || start + window > MAX_WINDOW {
        let span = t
            .window
            .as_ref()
            .or(t.start.as_ref())
            .map_or(0..0, Spanned::span);
        return Err(cx.err(
            span,
            "experiment.trace.window",
            "the window must be longer than 0 and end within 14 days of trace time",
        ));
    }
    if format == TraceFormat::Azure2019 {
        whole_minutes(cx, &t.start, "experiment.trace.start", start)?;
        whole_minutes(cx, &t.window, "experiment.trace.window", window)?;
    }
    let compress = match &t.compress {
        None => 1.0,
        Some(c) if c.get_ref().is_finite() && *c.get_ref() > 0.0 && *c.get_ref() <= 1e6 => {
            *c.get_ref()
        }
        Some(c) => {
            return Err(cx.err(
                c.span(),
                "experiment.trace.compress",
                "trace seconds per replay second: above 0 and at most 1000000 (1 = real time)",
            ))
        }
    };
    let seed = match &t.seed {
        None => seed,
        Some(s) if *s.get_ref() >= 0 => *s.get_ref() as u64,
        Some(s) => return Err(cx.err(s.span(), "experiment.trace.seed", "must be ≥ 0")),
    };
    let spread = match t.spread.as_ref().map(|s| (s, s.get_ref().as_str())) {
        None | Some((_, "poisson")) => Spread::Poisson,
        Some((_, "equidistant")) => Spread::Equidistant,
        Some((s, o)) => {
            return Err(cx.err(
                s.span(),
                "experiment.trace.spread",
                format!("unknown spread {o:?}; use \"poisson\" or \"equidistant\""),
            ))
        }
    };
    let mapping = mapping(cx, t, functions)?;
    let keep_alive = match &t.keep_alive {
        None => None,
        Some(s) => Some(check_keep_alive(cx, s, "experiment.trace.keep_alive")?),
    };
    let mut keep_alive_for = BTreeMap::new();
    for (k, v) in &t.keep_alive_for {
        known_function(cx, k, functions, "experiment.trace.keep_alive_for")?;
        let field = format!("experiment.trace.keep_alive_for.{}", k.get_ref());
        keep_alive_for.insert(k.get_ref().clone(), check_keep_alive(cx, v, &field)?);
    }
    let connections = match &t.connections {
        None => 64,
        Some(c) if (1..=4096).contains(c.get_ref()) => *c.get_ref() as u32,
        Some(c) => {
            return Err(cx.err(
                c.span(),
                "experiment.trace.connections",
                "must be between 1 and 4096",
            ))
        }
    };
    Ok(Some(TraceSpec {
        files,
        start,
        window,
        compress,
        seed,
        spread,
        mapping,
        keep_alive,
        keep_alive_for,
        connections,
    }))
}

/// `k` (a key of `field`) names a function of the scenario; else an error at the key listing
/// the functions there are.
fn known_function(cx: &Cx, k: &Spanned<String>, functions: &[Function], field: &str) -> R<()> {
    if functions.iter().any(|f| f.name == *k.get_ref()) {
        return Ok(());
    }
    Err(cx.err(
        k.span(),
        field,
        format!(
            "{:?} is not a function of this scenario; known: {}",
            k.get_ref(),
            functions
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ))
}

fn check_keep_alive(cx: &Cx, s: &Spanned<String>, field: &str) -> R<Duration> {
    let d = parse_duration(s.get_ref()).map_err(|e| cx.err(s.span(), field, e))?;
    if !(MIN_KEEP_ALIVE..=MAX_KEEP_ALIVE).contains(&d) {
        return Err(cx.err(
            s.span(),
            field,
            "must be between 500ms and 1h (replay time); leave it out to never scale to zero",
        ));
    }
    Ok(d)
}

fn mapping(cx: &Cx, t: &RawTrace, functions: &[Function]) -> R<Mapping> {
    let named = t.mapping.as_ref().map(|m| (m, m.get_ref().as_str()));
    let m = match named {
        None if !t.map.is_empty() => "explicit",
        None => "top",
        Some((_, m)) => m,
    };
    let span = t.mapping.as_ref().map_or(0..0, Spanned::span);
    let field = "experiment.trace.mapping";
    if m != "explicit" && !t.map.is_empty() {
        return Err(cx.err(
            span,
            field,
            format!("mapping {m:?} takes no [experiment.trace.map]; use mapping = \"explicit\" or remove the map"),
        ));
    }
    Ok(match m {
        "top" => Mapping::Top,
        "round-robin" => Mapping::RoundRobin,
        "same" => Mapping::Same,
        "explicit" => {
            if t.map.is_empty() {
                return Err(cx.err(
                    span,
                    field,
                    "\"explicit\" needs [experiment.trace.map] with scenario function = \"trace function id\"",
                ));
            }
            let mut out = BTreeMap::new();
            for (k, v) in &t.map {
                known_function(cx, k, functions, "experiment.trace.map")?;
                out.insert(k.get_ref().clone(), v.get_ref().clone());
            }
            Mapping::Explicit(out)
        }
        o => {
            return Err(cx.err(
                span,
                field,
                format!(
                    "unknown mapping {o:?}; use \"top\", \"round-robin\", \"same\" or \"explicit\""
                ),
            ))
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use std::path::Path;

    const BASE: &str =
        "[[node]]\nname = \"v\"\nclass = \"vps\"\n[[function]]\nname = \"f\"\nsource = \"echo\"\n";

    fn load(trace: &str) -> Result<crate::spec::Scenario, String> {
        let text = format!("{BASE}[experiment.trace]\n{trace}");
        crate::spec::parse(&text, Path::new("scenarios/t.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_paths_relative_to_the_scenario() {
        let s = load("file = \"../traces/x.csv\"\nformat = \"azure2019\"\nkeep_alive = \"30s\"\n")
            .unwrap();
        let t = s.experiment.trace.unwrap();
        assert_eq!(t.files.invocations, Path::new("scenarios/../traces/x.csv"));
        assert_eq!(t.compress, 1.0);
        assert_eq!(t.mapping, crate::spec::Mapping::Top);
        assert_eq!(t.keep_alive, Some(std::time::Duration::from_secs(30)));
        assert_eq!(t.seed, 42);
        let s = load("file = \"x\"\nformat = \"azure2021\"\nkeep_alive = \"30s\"\n[experiment.trace.keep_alive_for]\nf = \"2s\"\n")
            .unwrap();
        let t = s.experiment.trace.unwrap();
        assert_eq!(
            t.keep_alive_of("f"),
            Some(std::time::Duration::from_secs(2))
        );
        assert_eq!(
            t.keep_alive_of("g"),
            Some(std::time::Duration::from_secs(30))
        );
    }

    #[test]
    fn rejects_bad_fields_by_name() {
        let e = load("file = \"x\"\nformat = \"azure2020\"\n").unwrap_err();
        assert!(
            e.contains("experiment.trace.format: unknown format \"azure2020\""),
            "{e}"
        );
        let e = load("file = \"x\"\nformat = \"azure2019\"\nwindow = \"90s\"\n").unwrap_err();
        assert!(
            e.contains("experiment.trace.window: an azure2019 trace counts"),
            "{e}"
        );
        let e = load("file = \"x\"\nformat = \"azure2021\"\ncompress = 0.0\n").unwrap_err();
        assert!(e.contains("experiment.trace.compress"), "{e}");
        let e = load("file = \"x\"\nformat = \"azure2021\"\nkeep_alive = \"2h\"\n").unwrap_err();
        assert!(
            e.contains("experiment.trace.keep_alive: must be between"),
            "{e}"
        );
        let e = load("file = \"x\"\nformat = \"azure2021\"\n[experiment.trace.keep_alive_for]\nf = \"1ms\"\n")
            .unwrap_err();
        assert!(
            e.contains("experiment.trace.keep_alive_for.f: must be between"),
            "{e}"
        );
        let e = load("file = \"x\"\nformat = \"azure2021\"\n[experiment.trace.map]\ng = \"a/b\"\n")
            .unwrap_err();
        assert!(
            e.contains("experiment.trace.map: \"g\" is not a function"),
            "{e}"
        );
    }
}
