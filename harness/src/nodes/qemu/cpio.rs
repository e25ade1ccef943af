//! A gzip-compressed `newc` cpio archive: the initramfs of a faasbed VM, written without the
//! `cpio` program (the format is the kernel's `Documentation/driver-api/early-userspace`).

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;

/// One archive member: a directory, a regular file or a symbolic link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A directory (mode 0755).
    Dir,
    /// A regular file with its permission bits (e.g. 0o755) and contents.
    File { mode: u32, data: Vec<u8> },
    /// A symbolic link to `target`.
    Symlink { target: String },
}

const DIR: u32 = 0o040_000;
const FILE: u32 = 0o100_000;
const LINK: u32 = 0o120_000;

/// An archive being built: members in the order they are added (parents first).
#[derive(Debug, Default)]
pub struct Archive {
    members: Vec<(String, Entry)>,
}

impl Archive {
    /// Add `path` (relative, `/`-separated, no leading `/`), creating missing parent directories.
    pub fn add(&mut self, path: &str, entry: Entry) {
        let path = path.trim_start_matches('/');
        let mut parent = String::new();
        for part in path
            .split('/')
            .collect::<Vec<_>>()
            .split_last()
            .map_or(&[][..], |(_, p)| p)
        {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(part);
            if !self.members.iter().any(|(p, _)| *p == parent) {
                self.members.push((parent.clone(), Entry::Dir));
            }
        }
        self.members.retain(|(p, _)| p != path);
        self.members.push((path.to_string(), entry));
    }

    /// The member paths, in archive order.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.members.iter().map(|(p, _)| p.as_str())
    }

    /// The uncompressed `newc` bytes, ending with the `TRAILER!!!` member.
    pub fn to_newc(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (ino, (path, entry)) in self.members.iter().enumerate() {
            let (mode, data): (u32, &[u8]) = match entry {
                Entry::Dir => (DIR | 0o755, &[]),
                Entry::File { mode, data } => (FILE | (mode & 0o7777), data),
                Entry::Symlink { target } => (LINK | 0o777, target.as_bytes()),
            };
            member(&mut out, ino as u32 + 1, mode, path, data);
        }
        member(&mut out, 0, 0, "TRAILER!!!", &[]);
        out
    }

    /// The archive gzip-compressed (what `-initrd` takes).
    pub fn to_gzip(&self) -> std::io::Result<Vec<u8>> {
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(&self.to_newc())?;
        gz.finish()
    }
}

/// One header (13 eight-digit hex fields after the magic), the name and the data, each padded
/// to four bytes.
fn member(out: &mut Vec<u8>, ino: u32, mode: u32, name: &str, data: &[u8]) {
    let nlink = if mode & DIR == DIR { 2 } else { 1 };
    let fields = [
        ino,
        mode,
        0, // uid
        0, // gid
        nlink,
        0, // mtime: fixed, so the same inputs give the same bytes
        data.len() as u32,
        0, // devmajor
        0, // devminor
        0, // rdevmajor
        0, // rdevminor
        name.len() as u32 + 1,
        0, // check
    ];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Read the members back: (name, mode, data), checking magic and padding.
    fn read(mut b: &[u8]) -> Vec<(String, u32, Vec<u8>)> {
        let mut out = Vec::new();
        let total = b.len();
        loop {
            assert_eq!(&b[..6], b"070701", "magic at offset {}", total - b.len());
            let field = |i: usize| {
                u32::from_str_radix(std::str::from_utf8(&b[6 + 8 * i..14 + 8 * i]).unwrap(), 16)
                    .unwrap()
            };
            let (mode, size, namesize) = (field(1), field(6) as usize, field(11) as usize);
            let name_end = 110 + namesize;
            let name = std::str::from_utf8(&b[110..name_end - 1])
                .unwrap()
                .to_string();
            assert_eq!(b[name_end - 1], 0);
            let data_start = name_end.div_ceil(4) * 4;
            let data = b[data_start..data_start + size].to_vec();
            let next = (data_start + size).div_ceil(4) * 4;
            if name == "TRAILER!!!" {
                return out;
            }
            out.push((name, mode, data));
            b = &b[next..];
        }
    }

    #[test]
    fn members_come_back_with_parents_first_and_padding_kept() {
        let mut a = Archive::default();
        a.add(
            "bin/busybox",
            Entry::File {
                mode: 0o755,
                data: b"abc".to_vec(),
            },
        );
        a.add(
            "init",
            Entry::Symlink {
                target: "bin/busybox".into(),
            },
        );
        a.add(
            "etc/faasbed/boot.sh",
            Entry::File {
                mode: 0o644,
                data: b"echo hi\n".to_vec(),
            },
        );
        let m = read(&a.to_newc());
        let names: Vec<&str> = m.iter().map(|(n, _, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "bin",
                "bin/busybox",
                "init",
                "etc",
                "etc/faasbed",
                "etc/faasbed/boot.sh"
            ]
        );
        assert_eq!(m[1].1, 0o100_755);
        assert_eq!(m[1].2, b"abc");
        assert_eq!(m[2].1, 0o120_777);
        assert_eq!(m[2].2, b"bin/busybox");
        assert_eq!(m[0].1, 0o040_755);
    }

    #[test]
    fn adding_a_path_again_replaces_it() {
        let mut a = Archive::default();
        a.add(
            "etc/x",
            Entry::File {
                mode: 0o644,
                data: b"1".to_vec(),
            },
        );
        a.add(
            "etc/x",
            Entry::File {
                mode: 0o600,
                data: b"22".to_vec(),
            },
        );
        let m = read(&a.to_newc());
        assert_eq!(m.len(), 2);
        assert_eq!(m[1], ("etc/x".to_string(), 0o100_600, b"22".to_vec()));
    }

    #[test]
    fn gzip_output_is_a_gzip_stream_of_the_archive() {
        use std::io::Read;
        let mut a = Archive::default();
        a.add(
            "init",
            Entry::Symlink {
                target: "bin/busybox".into(),
            },
        );
        let gz = a.to_gzip().unwrap();
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, a.to_newc());
    }
}
