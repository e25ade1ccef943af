//! Local function images: which built binaries an image reference of a deployment names.
//!
//! `faasbed deploy` builds each function into `<images>/<source>-<hash16>/<arch>/<source>` and
//! records the last build of each source in `<images>/<source>.latest`. A deployment may name
//! a build exactly (`faasbed.local/echo:534a387a975ce7b6`, what `faasbed deploy` sends) or by
//! source alone, as a user of faas-cli would: `faasbed.local/echo:latest`, `faasbed.local/echo`,
//! `echo:latest` or `echo` all mean the last build of `images/functions/echo`.

use std::path::{Path, PathBuf};

/// Prefix of local image references: `faasbed.local/<source>:<hash16>`.
pub const LOCAL_IMAGE_PREFIX: &str = "faasbed.local/";

/// The file recording the last build of `source` in `images`.
pub fn latest_file(images: &Path, source: &str) -> PathBuf {
    images.join(format!("{source}.latest"))
}

/// Record `hash` (16 hex digits or more; 16 are kept) as the last build of `source`.
pub fn record_latest(images: &Path, source: &str, hash: &str) -> std::io::Result<()> {
    let short = hash.get(..16).unwrap_or(hash);
    // Unique per writer: builds run concurrently (threads of one process, and processes).
    let tmp = images.join(format!(
        ".{source}.latest.{}-{}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::write(&tmp, short)?;
    std::fs::rename(&tmp, latest_file(images, source))
}

fn plain(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The last build of `source`: the recorded one, else the newest `<source>-<hash>` folder.
fn latest_hash(images: &Path, source: &str) -> Option<String> {
    if let Ok(h) = std::fs::read_to_string(latest_file(images, source)) {
        let h = h.trim();
        if plain(h) && images.join(format!("{source}-{h}")).is_dir() {
            return Some(h.to_string());
        }
    }
    builds(images)
        .into_iter()
        .filter(|(s, _, _)| s == source)
        .max_by_key(|(_, _, t)| *t)
        .map(|(_, h, _)| h)
}

/// Every build folder under `images`: (source, hash, modification time).
fn builds(images: &Path) -> Vec<(String, String, std::time::SystemTime)> {
    std::fs::read_dir(images)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let (source, hash) = name.rsplit_once('-')?;
            let hex = hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit());
            let t = e.metadata().and_then(|m| m.modified()).ok()?;
            (hex && plain(source)).then(|| (source.to_string(), hash.to_string(), t))
        })
        .collect()
}

/// The images a deployment may name here, for error messages: one
/// `faasbed.local/<source>:latest (= :<hash>)` per built source, sorted.
pub fn known(images: &Path) -> String {
    let mut sources: Vec<String> = builds(images).into_iter().map(|(s, _, _)| s).collect();
    sources.sort();
    sources.dedup();
    let list: Vec<String> = sources
        .iter()
        .filter_map(|s| {
            let h = latest_hash(images, s)?;
            Some(format!("{LOCAL_IMAGE_PREFIX}{s}:latest (= :{h})"))
        })
        .collect();
    if list.is_empty() {
        "none yet: `faasbed deploy` builds the scenario's functions from images/functions".into()
    } else {
        list.join(", ")
    }
}

/// Resolve image reference `image` to the folder of its binaries and its source name.
pub fn image_dir(images: &Path, image: &str) -> Result<(PathBuf, String), String> {
    let forms = format!(
        "name a function built here as `echo`, `echo:latest`, `{LOCAL_IMAGE_PREFIX}echo:latest` or `{LOCAL_IMAGE_PREFIX}echo:<hash>`; known images: {}",
        known(images)
    );
    let rest = image.strip_prefix(LOCAL_IMAGE_PREFIX).unwrap_or(image);
    let (source, tag) = match rest.split_once(':') {
        Some((s, t)) => (s, Some(t)),
        None => (rest, None),
    };
    if !plain(source) || tag.is_some_and(|t| !plain(t)) {
        return Err(format!(
            "image {image:?} is not a local build; the local platform runs only the functions of images/functions: {forms}"
        ));
    }
    let hash = match tag {
        None | Some("latest") => latest_hash(images, source)
            .ok_or_else(|| format!("image {image:?} names no function built here; {forms}"))?,
        Some(h) => h.to_string(),
    };
    Ok((images.join(format!("{source}-{hash}")), source.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_short_form_names_the_last_build() {
        let d = tempfile::tempdir().unwrap();
        let images = d.path();
        for h in ["0123456789abcdef", "fedcba9876543210"] {
            std::fs::create_dir_all(images.join(format!("echo-{h}/amd64"))).unwrap();
        }
        record_latest(images, "echo", "0123456789abcdef0000").unwrap();
        let want = images.join("echo-0123456789abcdef");
        for i in [
            "echo",
            "echo:latest",
            "faasbed.local/echo",
            "faasbed.local/echo:latest",
        ] {
            assert_eq!(
                image_dir(images, i).unwrap(),
                (want.clone(), "echo".into()),
                "{i}"
            );
        }
        let exact = image_dir(images, "faasbed.local/echo:fedcba9876543210").unwrap();
        assert_eq!(exact.0, images.join("echo-fedcba9876543210"));
        assert_eq!(
            known(images),
            "faasbed.local/echo:latest (= :0123456789abcdef)"
        );
    }

    #[test]
    fn concurrent_builds_record_the_latest_without_error() {
        let d = tempfile::tempdir().unwrap();
        let images = d.path().to_path_buf();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let images = images.clone();
                std::thread::spawn(move || {
                    (0..50).try_for_each(|_| record_latest(&images, "echo", "0123456789abcdef"))
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap().unwrap();
        }
        let latest = std::fs::read_to_string(latest_file(&images, "echo")).unwrap();
        assert_eq!(latest, "0123456789abcdef");
    }

    #[test]
    fn bad_names_list_the_known_images() {
        let d = tempfile::tempdir().unwrap();
        let images = d.path();
        std::fs::create_dir_all(images.join("cpu-00000000000000aa/amd64")).unwrap();
        for bad in [
            "docker.io/functions/alpine:latest",
            "echo@sha256:00",
            "../x",
            "a:../b",
        ] {
            let e = image_dir(images, bad).unwrap_err();
            assert!(e.contains("is not a local build"), "{bad}: {e}");
            assert!(
                e.contains("faasbed.local/cpu:latest (= :00000000000000aa)"),
                "{e}"
            );
        }
        let e = image_dir(images, "echo:latest").unwrap_err();
        assert!(e.contains("names no function built here"), "{e}");
        assert!(e.contains("known images: faasbed.local/cpu:latest"), "{e}");
        let none = tempfile::tempdir().unwrap();
        assert!(image_dir(none.path(), "echo")
            .unwrap_err()
            .contains("none yet"));
    }
}
