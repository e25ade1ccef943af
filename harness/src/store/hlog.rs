//! HdrHistogram interval logs (V2 compressed histograms), readable by other HdrHistogram tools.
//!
//! Each function × node has one log; each interval is tagged `corrected` or `uncorrected`.
//! Values are nanoseconds.

use std::path::Path;
use std::time::{Duration, SystemTime};

use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};
use hdrhistogram::Histogram;

use super::StoreError;

/// One histogram to log, with its interval.
pub struct Interval<'a> {
    /// `corrected` or `uncorrected`.
    pub tag: &'a str,
    /// Interval start, relative to the log's base time.
    pub start: Duration,
    /// Interval length.
    pub duration: Duration,
    /// Values in nanoseconds.
    pub histogram: &'a Histogram<u64>,
}

/// Write (replace) an interval log at `path` with base time `base`.
pub fn write(
    path: &Path,
    base: SystemTime,
    comment: &str,
    intervals: &[Interval<'_>],
) -> Result<(), StoreError> {
    let err = |m: String| StoreError::Hdr {
        path: path.to_path_buf(),
        message: m,
    };
    let mut buf = Vec::new();
    {
        let mut ser = V2DeflateSerializer::new();
        let mut b = IntervalLogWriterBuilder::new();
        b.add_comment(comment)
            .with_base_time(base)
            .with_start_time(base);
        let mut w = b
            .begin_log_with(&mut buf, &mut ser)
            .map_err(|e| err(e.to_string()))?;
        for i in intervals {
            let tag = Tag::new(i.tag).ok_or_else(|| err(format!("invalid tag {:?}", i.tag)))?;
            w.write_histogram(i.histogram, i.start, i.duration, Some(tag))
                .map_err(|e| err(e.to_string()))?;
        }
    }
    super::write_atomic(path, &buf)
}

/// Read every tagged histogram of the log at `path`.
pub fn read(path: &Path) -> Result<Vec<(String, Histogram<u64>)>, StoreError> {
    let bytes = std::fs::read(path).map_err(super::io_err("read", path))?;
    let mut out = Vec::new();
    let mut de = Deserializer::new();
    for entry in IntervalLogIterator::new(&bytes) {
        let entry = entry.map_err(|e| StoreError::Hdr {
            path: path.to_path_buf(),
            message: format!("{e:?}"),
        })?;
        if let LogEntry::Interval(h) = entry {
            let raw = base64_decode(h.encoded_histogram()).map_err(|m| StoreError::Hdr {
                path: path.to_path_buf(),
                message: m,
            })?;
            let hist: Histogram<u64> =
                de.deserialize(&mut raw.as_slice())
                    .map_err(|e| StoreError::Hdr {
                        path: path.to_path_buf(),
                        message: format!("{e:?}"),
                    })?;
            out.push((
                h.tag().map(|t| t.as_str().to_string()).unwrap_or_default(),
                hist,
            ));
        }
    }
    Ok(out)
}

fn base64_decode(s: &str) -> Result<Vec<u8>, String> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_counts_and_tags() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f.n.hlog");
        let mut c = Histogram::<u64>::new(3).unwrap();
        let mut u = Histogram::<u64>::new(3).unwrap();
        for v in 1..=1000u64 {
            c.record(v * 1000 + 500).unwrap();
            u.record(v * 1000).unwrap();
        }
        write(
            &p,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            "test",
            &[
                Interval {
                    tag: "corrected",
                    start: Duration::ZERO,
                    duration: Duration::from_secs(5),
                    histogram: &c,
                },
                Interval {
                    tag: "uncorrected",
                    start: Duration::ZERO,
                    duration: Duration::from_secs(5),
                    histogram: &u,
                },
            ],
        )
        .unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains("#[BaseTime: 1700000000"), "{text}");
        let back = read(&p).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].0, "corrected");
        assert_eq!(back[0].1.len(), 1000);
        assert_eq!(back[0].1.value_at_quantile(0.5), c.value_at_quantile(0.5));
        assert_eq!(back[1].1.max(), u.max());
    }
}
