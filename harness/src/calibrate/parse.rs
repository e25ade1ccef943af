//! Parsers for the output of the calibration programs (`7zz b`, `openssl speed`, `sysbench cpu`,
//! `sysbench memory`). Pure functions, tested against captured output in
//! `tests/fixtures/calibrate/`.

/// A parse failure: which program's output and what was not found in it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("cannot read the output of `{program}`: {what}")]
pub struct ParseError {
    /// The program whose output it was.
    pub program: &'static str,
    /// What was missing or malformed.
    pub what: String,
}

fn err(program: &'static str, what: impl Into<String>) -> ParseError {
    ParseError {
        program,
        what: what.into(),
    }
}

/// The Rating columns of a `7z b` run, MIPS.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SevenZip {
    /// Compression rating (the `Avr:` line, left half), MIPS.
    pub compress_mips: f64,
    /// Decompression rating (the `Avr:` line, right half), MIPS.
    pub decompress_mips: f64,
    /// Total rating (the `Tot:` line), MIPS.
    pub total_mips: f64,
    /// Total rating per usage (the `Tot:` line's `R/U`): the rating at 100 % of one core,
    /// whatever share of the CPU the run got, MIPS.
    pub total_ru_mips: f64,
}

fn numbers(s: &str) -> Vec<f64> {
    s.split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect()
}

/// Parse `7z b` / `7zz b` output: the Rating (last number) of the `Avr:` halves and `Tot:`.
pub fn seven_zip(out: &str) -> Result<SevenZip, ParseError> {
    const P: &str = "7z b";
    let avr = out
        .lines()
        .rev()
        .find_map(|l| l.trim_start().strip_prefix("Avr:"))
        .ok_or_else(|| err(P, "no `Avr:` line (did the benchmark finish?)"))?;
    let (c, d) = avr
        .split_once('|')
        .ok_or_else(|| err(P, format!("`Avr:` line has no `|`: {avr:?}")))?;
    let last = |s: &str, what: &str| {
        numbers(s)
            .last()
            .copied()
            .ok_or_else(|| err(P, format!("no {what} rating in {s:?}")))
    };
    let tot = out
        .lines()
        .rev()
        .find_map(|l| l.trim_start().strip_prefix("Tot:"))
        .ok_or_else(|| err(P, "no `Tot:` line"))?;
    let t = numbers(tot);
    let [.., ru, rating] = t[..] else {
        return Err(err(
            P,
            format!("`Tot:` line has no R/U and Rating: {tot:?}"),
        ));
    };
    Ok(SevenZip {
        compress_mips: last(c, "compression")?,
        decompress_mips: last(d, "decompression")?,
        total_mips: rating,
        total_ru_mips: ru,
    })
}

/// Parse `openssl speed` output: the figure (1000s of bytes/s, as printed with `k`) of
/// algorithm `algo` (case-insensitive, e.g. `aes-128-cbc`) at block size `bytes`.
pub fn openssl_speed(out: &str, algo: &str, bytes: u32) -> Result<f64, ParseError> {
    const P: &str = "openssl speed";
    let header = out
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with("type ") && l.contains("bytes"))
        .ok_or_else(|| err(P, "no `type ... bytes` header line"))?;
    // "type  16 bytes  64 bytes ..." -> the sizes in column order.
    let sizes: Vec<u32> = header
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let col = sizes
        .iter()
        .position(|s| *s == bytes)
        .ok_or_else(|| err(P, format!("no {bytes}-byte column (columns: {sizes:?})")))?;
    let row = out
        .lines()
        .rev()
        .find(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|n| n.eq_ignore_ascii_case(algo))
        })
        .ok_or_else(|| err(P, format!("no row for {algo}")))?;
    let cells: Vec<&str> = row.split_whitespace().skip(1).collect();
    let cell = cells.get(col).ok_or_else(|| {
        err(
            P,
            format!("row for {algo} has no column {}: {row:?}", col + 1),
        )
    })?;
    let v: f64 = cell
        .strip_suffix('k')
        .ok_or_else(|| err(P, format!("{cell:?} is not in 1000s of bytes (no `k`)")))?
        .parse()
        .map_err(|_| err(P, format!("{cell:?} is not a number")))?;
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(err(P, format!("{algo}: {v} is not a speed")))
    }
}

/// Parse `sysbench cpu run`: events per second.
pub fn sysbench_cpu(out: &str) -> Result<f64, ParseError> {
    const P: &str = "sysbench cpu";
    let v = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("events per second:"))
        .ok_or_else(|| err(P, "no `events per second:` line"))?;
    positive(P, v.trim())
}

/// Parse `sysbench memory run`: MiB/s transferred.
pub fn sysbench_memory(out: &str) -> Result<f64, ParseError> {
    const P: &str = "sysbench memory";
    let line = out
        .lines()
        .find(|l| l.contains("MiB transferred"))
        .ok_or_else(|| err(P, "no `MiB transferred` line"))?;
    let inner = line
        .split_once('(')
        .and_then(|(_, r)| r.split_once("MiB/sec"))
        .map(|(n, _)| n.trim())
        .ok_or_else(|| err(P, format!("no `(N MiB/sec)` in {line:?}")))?;
    positive(P, inner)
}

fn positive(p: &'static str, s: &str) -> Result<f64, ParseError> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(err(p, format!("{s:?} is not a positive number"))),
    }
}

/// Parse `qemu-<arch> --version`: the version (`7.2.22`).
pub fn qemu_version(out: &str) -> Result<String, ParseError> {
    const P: &str = "qemu --version";
    out.lines()
        .find_map(|l| l.split_once(" version "))
        .and_then(|(_, r)| r.split_whitespace().next())
        .map(str::to_string)
        .ok_or_else(|| err(P, "no `version` in the first line"))
}

/// The `model name` of the first CPU in `/proc/cpuinfo`.
pub fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == "model name").then(|| v.trim().to_string())
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let p = format!(
            "{}/tests/fixtures/calibrate/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    #[test]
    fn seven_zip_ratings() {
        let s = seven_zip(&fixture("7zz-b-armhf-cortex-a7.txt")).unwrap();
        assert!(
            s.compress_mips > 100.0 && s.decompress_mips > 100.0,
            "{s:?}"
        );
        assert!(s.total_mips > 100.0);
        // "Tot: 84 895 757": usage 84 %, R/U 895, rating 757.
        assert_eq!((s.total_ru_mips, s.total_mips), (895.0, 757.0));
        // The published sbc-bench log format (p7zip 16.02) parses too.
        let p = "Avr:             100    686    686  |              100   1406   1406\nTot:             100   1046   1046\n";
        assert_eq!(
            seven_zip(p).unwrap(),
            SevenZip {
                compress_mips: 686.0,
                decompress_mips: 1406.0,
                total_mips: 1046.0,
                total_ru_mips: 1046.0,
            }
        );
        assert!(seven_zip("7-Zip 26.02\nERROR: out of memory").is_err());
        assert!(seven_zip("Avr: 1 2 3 | 4 5 6\nTot: 7").is_err());
        assert!(seven_zip("Avr: 1 2 3\nTot: 4")
            .unwrap_err()
            .what
            .contains('|'));
    }

    #[test]
    fn openssl_columns() {
        let one = fixture("openssl-speed-aes-128-cbc-16384-armhf.txt");
        assert!(openssl_speed(&one, "aes-128-cbc", 16384).unwrap() > 1000.0);
        let all = fixture("openssl-speed-aes-256-cbc-all-sizes-armhf.txt");
        let big = openssl_speed(&all, "AES-256-CBC", 16384).unwrap();
        let small = openssl_speed(&all, "aes-256-cbc", 16).unwrap();
        assert!(big > small, "{big} {small}");
        assert!(openssl_speed(&one, "aes-128-cbc", 64).is_err());
        assert!(openssl_speed(&one, "sha256", 16384).is_err());
        assert!(openssl_speed("nothing", "aes-128-cbc", 16384).is_err());
    }

    #[test]
    fn sysbench_lines() {
        assert!(sysbench_cpu(&fixture("sysbench-cpu-armhf.txt")).unwrap() > 0.0);
        assert!(sysbench_memory(&fixture("sysbench-memory-armhf.txt")).unwrap() > 0.0);
        assert!(sysbench_cpu("events per second: nan").is_err());
        assert!(sysbench_memory("102400.00 MiB transferred").is_err());
        assert_eq!(
            sysbench_memory("102400.00 MiB transferred (3636.61 MiB/sec)").unwrap(),
            3636.61
        );
    }

    #[test]
    fn host_facts() {
        assert_eq!(
            qemu_version(
                "qemu-aarch64 version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright"
            )
            .unwrap(),
            "7.2.22"
        );
        assert!(qemu_version("").is_err());
        assert_eq!(
            cpu_model("processor\t: 0\nmodel name\t: AMD EPYC 7B13\n").as_deref(),
            Some("AMD EPYC 7B13")
        );
    }
}
