//! OCI image layouts of one static function binary, written here byte for byte (no docker, no
//! registry, no buildx): the tar that `ctr images import` reads, one per arch.
//!
//! The layout follows the OCI image-layout and image-spec v1 documents: `oci-layout`,
//! `index.json` (with the `org.opencontainers.image.ref.name` annotation that `ctr` names the
//! image by), and `blobs/sha256/` holding one gzip layer, the config and the manifest. Every
//! byte is deterministic (mtime 0, uid 0, fixed gzip header), so the same binary gives the same
//! digest and a rebuilt image is recognised as unchanged.

use std::io::Write;

use sha2::{Digest, Sha256};

use crate::spec::Arch;

/// Media type of an OCI image manifest.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of an OCI image config.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// Media type of a gzip-compressed layer.
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// Where the binary sits in the image, and its entrypoint.
pub const ENTRYPOINT: &str = "/fn";

/// Errors while writing an image layout.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// Writing the in-memory tar or gzip stream failed.
    #[error("cannot write the OCI image {reference}")]
    Write {
        /// The image reference being written.
        reference: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The OCI `platform` of an arch: (architecture, variant).
pub fn platform(arch: Arch) -> (&'static str, Option<&'static str>) {
    match arch {
        Arch::Amd64 => ("amd64", None),
        Arch::Arm64 => ("arm64", Some("v8")),
        Arch::Armhf => ("arm", Some("v7")),
    }
}

/// `linux/amd64`, `linux/arm64/v8`, `linux/arm/v7`: the `--platform` that `ctr` takes.
pub fn platform_string(arch: Arch) -> String {
    match platform(arch) {
        (a, Some(v)) => format!("linux/{a}/{v}"),
        (a, None) => format!("linux/{a}"),
    }
}

/// One image to write: a static binary for one arch.
#[derive(Debug, Clone)]
pub struct ImageSpec<'a> {
    /// The name `ctr` gives the image, e.g. `faasbed.local/echo:0123abcd-arm64`.
    pub reference: &'a str,
    /// The binary's arch.
    pub arch: Arch,
    /// The static binary's bytes; it becomes [`ENTRYPOINT`].
    pub binary: &'a [u8],
}

/// A written layout and the digests that name it.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The image-layout tar, for `ctr images import`.
    pub tar: Vec<u8>,
    /// `sha256:…` of the manifest: the image's identity.
    pub manifest_digest: String,
    /// `sha256:…` of the uncompressed layer (the config's `diff_ids`).
    pub diff_id: String,
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn tar_entry(
    t: &mut tar::Builder<&mut Vec<u8>>,
    path: &str,
    mode: u32,
    data: &[u8],
) -> std::io::Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_size(data.len() as u64);
    h.set_mode(mode);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_entry_type(tar::EntryType::Regular);
    t.append_data(&mut h, path, data)
}

fn layer(binary: &[u8]) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let mut raw = Vec::new();
    {
        let mut t = tar::Builder::new(&mut raw);
        tar_entry(&mut t, ENTRYPOINT.trim_start_matches('/'), 0o755, binary)?;
        t.finish()?;
    }
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw)?;
    let gz = gz.finish()?;
    Ok((raw, gz))
}

/// Write the OCI image layout of `spec`.
pub fn image_layout(spec: &ImageSpec<'_>) -> Result<Layout, OciError> {
    let err = |source| OciError::Write {
        reference: spec.reference.to_string(),
        source,
    };
    let (raw, gz) = layer(spec.binary).map_err(err)?;
    let diff_id = format!("sha256:{}", sha256(&raw));
    let layer_digest = sha256(&gz);
    let (architecture, variant) = platform(spec.arch);
    let mut plat = serde_json::json!({ "architecture": architecture, "os": "linux" });
    if let Some(v) = variant {
        plat["variant"] = v.into();
    }
    let mut config = plat.clone();
    config["config"] = serde_json::json!({ "Entrypoint": [ENTRYPOINT] });
    config["rootfs"] = serde_json::json!({ "type": "layers", "diff_ids": [diff_id] });
    let config = config.to_string().into_bytes();
    let config_digest = sha256(&config);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": { "mediaType": CONFIG_MEDIA_TYPE, "digest": format!("sha256:{config_digest}"), "size": config.len() },
        "layers": [{ "mediaType": LAYER_MEDIA_TYPE, "digest": format!("sha256:{layer_digest}"), "size": gz.len() }],
    })
    .to_string()
    .into_bytes();
    let manifest_digest = sha256(&manifest);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": MANIFEST_MEDIA_TYPE,
            "digest": format!("sha256:{manifest_digest}"),
            "size": manifest.len(),
            "annotations": { "org.opencontainers.image.ref.name": spec.reference },
            "platform": plat,
        }],
    })
    .to_string()
    .into_bytes();
    let mut tar_bytes = Vec::new();
    {
        let mut t = tar::Builder::new(&mut tar_bytes);
        let entries: [(String, &[u8]); 5] = [
            ("oci-layout".into(), br#"{"imageLayoutVersion":"1.0.0"}"#),
            ("index.json".into(), &index),
            (format!("blobs/sha256/{layer_digest}"), &gz),
            (format!("blobs/sha256/{config_digest}"), &config),
            (format!("blobs/sha256/{manifest_digest}"), &manifest),
        ];
        for (path, data) in entries {
            tar_entry(&mut t, &path, 0o644, data).map_err(err)?;
        }
        t.finish().map_err(err)?;
    }
    Ok(Layout {
        tar: tar_bytes,
        manifest_digest: format!("sha256:{manifest_digest}"),
        diff_id,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::HashMap;
    use std::io::Read;

    fn entries(tar_bytes: &[u8]) -> HashMap<String, Vec<u8>> {
        let mut a = tar::Archive::new(tar_bytes);
        a.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let p = e.path().unwrap().to_string_lossy().into_owned();
                let mut v = Vec::new();
                e.read_to_end(&mut v).unwrap();
                (p, v)
            })
            .collect()
    }

    fn json(b: &[u8]) -> serde_json::Value {
        serde_json::from_slice(b).unwrap()
    }

    #[test]
    fn every_blob_is_named_by_its_digest_and_the_index_names_the_image() {
        let bin = b"\x7fELF not really a binary";
        let l = image_layout(&ImageSpec {
            reference: "faasbed.local/echo:t-armhf",
            arch: Arch::Armhf,
            binary: bin,
        })
        .unwrap();
        let files = entries(&l.tar);
        for (p, data) in &files {
            if let Some(d) = p.strip_prefix("blobs/sha256/") {
                assert_eq!(d, sha256(data), "{p}");
            }
        }
        let index = json(&files["index.json"]);
        let m = &index["manifests"][0];
        assert_eq!(m["digest"], l.manifest_digest);
        assert_eq!(
            m["annotations"]["org.opencontainers.image.ref.name"],
            "faasbed.local/echo:t-armhf"
        );
        assert_eq!(m["platform"]["architecture"], "arm");
        assert_eq!(m["platform"]["variant"], "v7");
        let manifest = json(&files[&format!("blobs/sha256/{}", &l.manifest_digest[7..])]);
        let config_digest = manifest["config"]["digest"].as_str().unwrap();
        let config = json(&files[&format!("blobs/sha256/{}", &config_digest[7..])]);
        assert_eq!(config["architecture"], "arm");
        assert_eq!(config["rootfs"]["diff_ids"][0], l.diff_id);
        assert_eq!(config["config"]["Entrypoint"][0], ENTRYPOINT);
        // the layer holds the binary at /fn, executable
        let layer_digest = manifest["layers"][0]["digest"].as_str().unwrap();
        let gz = &files[&format!("blobs/sha256/{}", &layer_digest[7..])];
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut raw)
            .unwrap();
        assert_eq!(format!("sha256:{}", sha256(&raw)), l.diff_id);
        let mut a = tar::Archive::new(&raw[..]);
        let mut e = a.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(e.path().unwrap().to_string_lossy(), "fn");
        assert_eq!(e.header().mode().unwrap() & 0o777, 0o755);
        let mut got = Vec::new();
        e.read_to_end(&mut got).unwrap();
        assert_eq!(got, bin);
    }

    #[test]
    fn the_same_binary_gives_the_same_digest_and_another_arch_another() {
        let spec = |arch| ImageSpec {
            reference: "faasbed.local/echo:x",
            arch,
            binary: b"same bytes",
        };
        let a = image_layout(&spec(Arch::Arm64)).unwrap();
        let b = image_layout(&spec(Arch::Arm64)).unwrap();
        let c = image_layout(&spec(Arch::Amd64)).unwrap();
        assert_eq!(a.tar, b.tar);
        assert_eq!(a.manifest_digest, b.manifest_digest);
        assert_ne!(a.manifest_digest, c.manifest_digest);
    }

    #[test]
    fn platform_strings_are_what_ctr_takes() {
        assert_eq!(platform_string(Arch::Amd64), "linux/amd64");
        assert_eq!(platform_string(Arch::Arm64), "linux/arm64/v8");
        assert_eq!(platform_string(Arch::Armhf), "linux/arm/v7");
    }
}
