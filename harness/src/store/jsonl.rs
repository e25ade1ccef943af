//! Append-only JSON Lines files: one record per line, flushed as it is written, read back
//! tolerantly (a torn last line from a crash is reported, earlier lines are kept).

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{io_err, StoreError};

/// Appends records of type `T` to a `.jsonl` file.
#[derive(Debug)]
pub struct JsonlWriter<T> {
    path: PathBuf,
    out: BufWriter<File>,
    buf: Vec<u8>,
    written: u64,
    _t: PhantomData<fn(&T)>,
}

impl<T> JsonlWriter<T> {
    /// Open `path` for appending (created if missing).
    pub fn append(path: &Path) -> Result<Self, StoreError> {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io_err("open", path))?;
        Ok(JsonlWriter {
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(64 * 1024, f),
            buf: Vec::with_capacity(512),
            written: 0,
            _t: PhantomData,
        })
    }

    /// Write one record as one line and flush it to the file.
    pub fn write(&mut self, rec: &T) -> Result<(), StoreError>
    where
        T: Serialize,
    {
        self.write_ref(rec)
    }

    /// Write any serializable value (e.g. a borrowed view of `T`) as one flushed line.
    pub fn write_ref<U: Serialize + ?Sized>(&mut self, rec: &U) -> Result<(), StoreError> {
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, rec).map_err(|e| StoreError::Parse {
            path: self.path.clone(),
            line: 0,
            message: e.to_string(),
        })?;
        self.buf.push(b'\n');
        self.out
            .write_all(&self.buf)
            .map_err(io_err("append to", &self.path))?;
        self.out.flush().map_err(io_err("flush", &self.path))?;
        self.written += 1;
        Ok(())
    }

    /// Records written through this writer.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Read every line of `path` as `T`, calling `each` per record. A line that does not parse
/// stops the read with its line number, unless it is a torn final line (no newline), which is
/// skipped and counted in the returned value.
pub fn read_each<T: DeserializeOwned>(
    path: &Path,
    mut each: impl FnMut(T),
) -> Result<ReadStats, StoreError> {
    read_lines(path, |text| serde_json::from_str(text).map(&mut each))
}

/// Call `parse` with the text of every non-empty line of `path` (no newline), which may borrow
/// from it. Errors as [`read_each`]: a failed parse stops the read, unless it is the torn final
/// line.
pub fn read_lines(
    path: &Path,
    parse: impl FnMut(&str) -> Result<(), serde_json::Error>,
) -> Result<ReadStats, StoreError> {
    read_range(path, 0, u64::MAX, parse)
        .map(|(stats, _)| stats)
        .map_err(|e| e.into_store(path, 0))
}

/// [`read_lines`] on `parts` threads: the file is cut at line boundaries into `parts` byte
/// ranges, and each range is read into its own state made by `init`, returned in file order (so
/// concatenating what each part collected keeps the file's order). Errors as [`read_lines`],
/// with the file's line number; a torn line is accepted only at the very end of the file.
pub fn read_lines_parallel<S: Send>(
    path: &Path,
    parts: usize,
    init: impl Fn() -> S + Sync,
    parse: impl Fn(&mut S, &str) -> Result<(), serde_json::Error> + Sync,
) -> Result<(Vec<S>, ReadStats), StoreError> {
    let len = std::fs::metadata(path).map_err(io_err("stat", path))?.len();
    let mut cuts = vec![0u64];
    for i in 1..parts.max(1) {
        let at = next_line_start(path, len * i as u64 / parts as u64)?;
        if at > *cuts.last().unwrap_or(&0) && at < len {
            cuts.push(at);
        }
    }
    cuts.push(len);
    let ranges: Vec<(u64, u64)> = cuts.windows(2).map(|w| (w[0], w[1])).collect();
    let results: Vec<Result<(S, ReadStats, usize), RangeError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = ranges
            .iter()
            .map(|&(start, end)| {
                let (init, parse) = (&init, &parse);
                scope.spawn(move || {
                    let mut state = init();
                    let read = read_range(path, start, end, |text| parse(&mut state, text));
                    read.map(|(stats, lines)| (state, stats, lines))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let (mut states, mut stats, mut lines_before) = (Vec::new(), ReadStats::default(), 0usize);
    for r in results {
        match r {
            Ok((state, st, lines)) => {
                states.push(state);
                stats.records += st.records;
                stats.torn_tail |= st.torn_tail;
                lines_before += lines;
            }
            Err(e) => return Err(e.into_store(path, lines_before)),
        }
    }
    Ok((states, stats))
}

/// The offset of the first line that starts at or after `at` (the file's length if none).
fn next_line_start(path: &Path, at: u64) -> Result<u64, StoreError> {
    if at == 0 {
        return Ok(0);
    }
    let mut f = File::open(path).map_err(io_err("open", path))?;
    f.seek(SeekFrom::Start(at - 1))
        .map_err(io_err("seek in", path))?;
    let mut r = BufReader::new(f);
    let mut skipped = Vec::new();
    let n = r
        .read_until(b'\n', &mut skipped)
        .map_err(io_err("read", path))?;
    Ok(at - 1 + n as u64)
}

/// Why reading a range of lines stopped.
enum RangeError {
    /// Opening, seeking or reading failed.
    Io {
        what: &'static str,
        source: std::io::Error,
    },
    /// Line `line` (1-based within the range) did not parse.
    Parse { line: usize, message: String },
}

impl RangeError {
    /// As a [`StoreError`] of `path`, the range starting after `lines_before` lines.
    fn into_store(self, path: &Path, lines_before: usize) -> StoreError {
        match self {
            RangeError::Io { what, source } => io_err(what, path)(source),
            RangeError::Parse { line, message } => StoreError::Parse {
                path: path.to_path_buf(),
                line: lines_before + line,
                message,
            },
        }
    }
}

/// Call `parse` with every non-empty line in bytes `start..end` of `path` (both at line starts;
/// `end` may lie past the end of the file). Returns the stats and the number of lines, or why
/// it stopped. A line that fails to parse is a torn tail when it has no newline.
fn read_range(
    path: &Path,
    start: u64,
    end: u64,
    mut parse: impl FnMut(&str) -> Result<(), serde_json::Error>,
) -> Result<(ReadStats, usize), RangeError> {
    let io = |what| move |source| RangeError::Io { what, source };
    let mut f = File::open(path).map_err(io("open"))?;
    f.seek(SeekFrom::Start(start)).map_err(io("seek in"))?;
    let mut r = BufReader::with_capacity(256 * 1024, f.take(end - start));
    let mut line = String::new();
    let mut stats = ReadStats::default();
    let mut n = 0usize;
    loop {
        line.clear();
        if r.read_line(&mut line).map_err(io("read"))? == 0 {
            return Ok((stats, n));
        }
        n += 1;
        let complete = line.ends_with('\n');
        let text = line.trim_end();
        if text.is_empty() {
            continue;
        }
        match parse(text) {
            Ok(()) => stats.records += 1,
            Err(_) if !complete => stats.torn_tail = true,
            Err(e) => {
                return Err(RangeError::Parse {
                    line: n,
                    message: e.to_string(),
                })
            }
        }
    }
}

/// What [`read_each`] found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReadStats {
    /// Records read.
    pub records: u64,
    /// The last line was cut short (a crash mid-write) and was skipped.
    pub torn_tail: bool,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[derive(Debug, Serialize, serde::Deserialize, PartialEq)]
    struct R {
        a: u32,
    }

    /// Every way of cutting the file gives the lines in order, the torn tail once, and the
    /// file's own line number for a bad line.
    #[test]
    fn parallel_reading_keeps_order_torn_tail_and_line_numbers() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.jsonl");
        let mut text: String = (0..500).map(|i| format!("{{\"a\":{i}}}\n")).collect();
        text.push_str("\n{\"a\":");
        std::fs::write(&p, &text).unwrap();
        let parse = |v: &mut Vec<u32>, t: &str| serde_json::from_str::<R>(t).map(|r| v.push(r.a));
        for parts in [1, 2, 3, 8, 64, 10_000] {
            let (states, stats) = read_lines_parallel(&p, parts, Vec::new, parse).unwrap();
            let all: Vec<u32> = states.into_iter().flatten().collect();
            assert_eq!(all, (0..500).collect::<Vec<_>>(), "{parts} parts");
            assert_eq!(stats.records, 500);
            assert!(stats.torn_tail);
        }
        let mut bad = text.replace("{\"a\":321}", "{\"a\":\"x\"}");
        bad.truncate(bad.len() - 6);
        std::fs::write(&p, &bad).unwrap();
        for parts in [1, 2, 5] {
            match read_lines_parallel(&p, parts, Vec::new, parse) {
                Err(StoreError::Parse { line, .. }) => assert_eq!(line, 322, "{parts} parts"),
                other => panic!("{parts} parts: {other:?}"),
            }
        }
    }

    #[test]
    fn round_trip_and_torn_tail() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.jsonl");
        let mut w = JsonlWriter::append(&p).unwrap();
        for a in 0..3 {
            w.write(&R { a }).unwrap();
        }
        drop(w);
        // simulate a crash mid-line
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"{\"a\":")
            .unwrap();
        let mut got = vec![];
        let s = read_each::<R>(&p, |r| got.push(r.a)).unwrap();
        assert_eq!(got, [0, 1, 2]);
        assert_eq!(
            s,
            ReadStats {
                records: 3,
                torn_tail: true
            }
        );
    }

    #[test]
    fn bad_middle_line_is_located() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.jsonl");
        std::fs::write(&p, "{\"a\":1}\nnot json\n{\"a\":2}\n").unwrap();
        let e = read_each::<R>(&p, |_| {}).unwrap_err().to_string();
        assert!(e.contains("x.jsonl:2:"), "{e}");
    }
}
