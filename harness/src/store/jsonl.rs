//! Append-only JSON Lines files: one record per line, flushed as it is written, read back
//! tolerantly (a torn last line from a crash is reported, earlier lines are kept).

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
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
    mut parse: impl FnMut(&str) -> Result<(), serde_json::Error>,
) -> Result<ReadStats, StoreError> {
    let f = File::open(path).map_err(io_err("open", path))?;
    let mut r = BufReader::with_capacity(256 * 1024, f);
    let mut line = String::new();
    let mut stats = ReadStats::default();
    let mut n = 0usize;
    loop {
        line.clear();
        let got = r.read_line(&mut line).map_err(io_err("read", path))?;
        if got == 0 {
            break;
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
                return Err(StoreError::Parse {
                    path: path.to_path_buf(),
                    line: n,
                    message: e.to_string(),
                })
            }
        }
    }
    Ok(stats)
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
mod tests {
    use super::*;

    #[derive(Debug, Serialize, serde::Deserialize, PartialEq)]
    struct R {
        a: u32,
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
