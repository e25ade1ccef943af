//! Function images where Docker has no buildx plugin: each arch's binary, cross-compiled by
//! faasbed's own Go build, goes `FROM scratch` into an image of that platform (`docker build`),
//! is pushed, and the three become one multi-arch manifest list (`docker manifest`), pushed
//! under the source's tag. The result is what buildx would have pushed: one reference, one
//! digest, every node pulls its own arch.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::error::KubePlatformError;
use super::parse::PushedImage;
use crate::build;
use crate::exec::{Cmd, Runner};
use crate::spec::{Arch, Function, Runtime, Scenario};

/// The image around one binary (the same as the last stage of `images/functions/*/Dockerfile`).
pub const SCRATCH_DOCKERFILE: &str =
    "FROM scratch\nCOPY fn /fn\nEXPOSE 8080\nUSER 65534\nENTRYPOINT [\"/fn\"]\n";

/// `docker buildx version`: fails when the plugin is missing.
pub fn buildx_version() -> Cmd {
    Cmd::new("docker").args(["buildx", "version"])
}

/// The per-arch tag: `TAG-amd64`, `TAG-arm64`, `TAG-armv7`.
pub fn arch_ref(list_ref: &str, arch: Arch) -> String {
    let suffix = match arch {
        Arch::Armhf => "armv7",
        other => other.as_str(),
    };
    format!("{list_ref}-{suffix}")
}

/// `docker build` of `ctx` (binary + [`SCRATCH_DOCKERFILE`]) as a `platform` image. No cache:
/// the legacy builder would reuse a layer built for another platform.
pub fn docker_build(ctx: &Path, arch: Arch, reference: &str) -> Cmd {
    Cmd::new("docker")
        .args([
            "build",
            "--no-cache",
            "--platform",
            arch.oci_platform(),
            "-t",
            reference,
        ])
        .arg(ctx)
        .timeout(BUILD_TIMEOUT)
}

/// `docker push REF`.
pub fn docker_push(reference: &str) -> Cmd {
    Cmd::new("docker")
        .args(["push", reference])
        .timeout(BUILD_TIMEOUT)
}

/// `docker manifest create` of the list from its members (`--insecure`: the k3d registry
/// speaks plain HTTP; `--amend`: a list left by an earlier run is replaced).
pub fn manifest_create(list_ref: &str, members: &[String]) -> Cmd {
    Cmd::new("docker")
        .args(["manifest", "create", "--insecure", "--amend", list_ref])
        .args(members)
}

/// `docker manifest annotate` of one member with its os, arch and (arm/v7) variant.
pub fn manifest_annotate(list_ref: &str, member: &str, arch: Arch) -> Cmd {
    let c = Cmd::new("docker")
        .args(["manifest", "annotate", list_ref, member])
        .args(["--os", "linux", "--arch", arch.goarch()]);
    match arch.goarm() {
        Some(v) => c.args(["--variant", &format!("v{v}")]),
        None => c,
    }
}

/// `docker manifest push`: prints the pushed list's digest.
pub fn manifest_push(list_ref: &str) -> Cmd {
    Cmd::new("docker")
        .args(["manifest", "push", "--insecure", "--purge", list_ref])
        .timeout(BUILD_TIMEOUT)
}

/// The digest `docker manifest push` printed (its last `sha256:` line).
pub fn pushed_digest(stdout: &str) -> Option<String> {
    stdout
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| {
            l.strip_prefix("sha256:")
                .is_some_and(|h| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()))
        })
        .map(str::to_string)
}

/// Build, push and join into one manifest list the images of `source` for every arch;
/// binaries and build folders go under `run_dir`.
pub async fn build_and_push<R: Runner>(
    runner: &R,
    functions_root: &Path,
    source: &str,
    list_ref: &str,
    run_dir: &Path,
) -> Result<PushedImage, KubePlatformError> {
    let step = |what: String| {
        move |e| KubePlatformError::Exec {
            step: what,
            source: Box::new(e),
        }
    };
    let built = build::build_all(
        functions_root,
        source,
        &Arch::ALL,
        &run_dir.join("binaries"),
    )
    .await
    .map_err(|e| KubePlatformError::Build {
        source_name: source.to_string(),
        source: e,
    })?;
    let mut members = Vec::new();
    for b in &built {
        let ctx = run_dir
            .join("images")
            .join(format!("{source}-{}", b.arch.as_str()));
        let file = |name: &str, action| {
            let path = ctx.join(name);
            move |e| KubePlatformError::File {
                action,
                path,
                source: e,
            }
        };
        std::fs::create_dir_all(&ctx).map_err(file("", "create"))?;
        std::fs::copy(&b.path, ctx.join("fn")).map_err(file("fn", "write"))?;
        std::fs::write(ctx.join("Dockerfile"), SCRATCH_DOCKERFILE)
            .map_err(file("Dockerfile", "write"))?;
        let member = arch_ref(list_ref, b.arch);
        for c in [docker_build(&ctx, b.arch, &member), docker_push(&member)] {
            runner.run(&c).await.map_err(step(format!(
                "build and push the {} image of {source}",
                b.arch
            )))?;
        }
        members.push((member, b.arch));
    }
    let names: Vec<String> = members.iter().map(|(m, _)| m.clone()).collect();
    let mut cmds = vec![manifest_create(list_ref, &names)];
    cmds.extend(
        members
            .iter()
            .map(|(m, a)| manifest_annotate(list_ref, m, *a)),
    );
    for c in cmds {
        runner
            .run(&c)
            .await
            .map_err(step(format!("make the manifest list of {source}")))?;
    }
    let out = runner
        .run(&manifest_push(list_ref))
        .await
        .map_err(step(format!("push the manifest list of {source}")))?;
    let digest = pushed_digest(&out.stdout).ok_or_else(|| KubePlatformError::NoDigest {
        command: manifest_push(list_ref).display(),
        stdout: out.stdout.clone(),
    })?;
    Ok(PushedImage {
        name: list_ref.to_string(),
        digest,
    })
}

/// Name of the buildx builder faasbed creates (docker-container driver, host network).
pub const BUILDER: &str = "faasbed";
/// Longest one multi-arch image build and push may take.
pub const BUILD_TIMEOUT: Duration = Duration::from_secs(900);

/// `docker buildx inspect faasbed`: succeeds when the builder exists already.
pub fn buildx_inspect() -> Cmd {
    Cmd::new("docker").args(["buildx", "inspect", BUILDER])
}

/// `docker buildx create` of the [`BUILDER`] (host network, so it can push to `localhost:PORT`).
pub fn buildx_create() -> Cmd {
    Cmd::new("docker").args([
        "buildx",
        "create",
        "--name",
        BUILDER,
        "--driver",
        "docker-container",
        "--driver-opt",
        "network=host",
    ])
}

/// The image a function source is pushed as (`push` registry) or pulled by (`pull` registry).
pub fn image_ref(registry: &str, source: &str, tag: &str) -> String {
    format!("{registry}/faasbed/{source}:{tag}")
}

/// The image name of a function: its Go source folder, or `py-<source>` for a Python function
/// (so a Python twin and its Go function, both named after the workload, get distinct images).
pub fn image_name(f: &Function) -> String {
    match f.runtime {
        Runtime::Go => f.source.clone(),
        Runtime::Python => format!("{}{}", crate::python::IMAGE_PREFIX, f.source),
    }
}

/// The tag hash of a Python image: the script, the shared modules (see
/// [`crate::python::source_hash`]) and `images/python/Dockerfile`, so an edit to any of them
/// gives a new tag.
pub fn python_image_hash(python_root: &Path, source: &str) -> Result<String, KubePlatformError> {
    let image = format!("{}{source}", crate::python::IMAGE_PREFIX);
    let scripts = crate::python::source_hash(python_root, source).map_err(|e| {
        KubePlatformError::PythonHash {
            image: image.clone(),
            source: e,
        }
    })?;
    let path = python_root.join("Dockerfile");
    let dockerfile = std::fs::read(&path).map_err(|e| KubePlatformError::File {
        action: "read",
        path: path.clone(),
        source: e,
    })?;
    let mut h = Sha256::new();
    h.update(scripts.as_bytes());
    h.update([0]);
    h.update(&dockerfile);
    Ok(format!("{:x}", h.finalize()))
}

/// The Dockerfile and build context of an image, relative to the checkout root.
fn dockerfile_and_context(runtime: Runtime, source: &str) -> (String, &'static str) {
    match runtime {
        Runtime::Go => (
            format!("images/functions/{source}/Dockerfile"),
            "images/functions",
        ),
        Runtime::Python => ("images/python/Dockerfile".to_string(), "images/python"),
    }
}

/// `docker buildx build --push` of one function image for `platforms` (OCI names, e.g.
/// `linux/arm/v7`), run from the checkout root; buildx writes the pushed digest to
/// `metadata_file` (read it with [`super::parse::buildx_metadata`]). A Go source builds from
/// `images/functions/<source>/Dockerfile`; a Python one from `images/python/Dockerfile` with
/// `--build-arg FUNCTION=<source>` (the script `images/python/<source>.py`).
pub fn buildx_build(
    push_ref: &str,
    platforms: &[&str],
    runtime: Runtime,
    source: &str,
    metadata_file: &Path,
) -> Cmd {
    let (dockerfile, context) = dockerfile_and_context(runtime, source);
    let c = Cmd::new("docker")
        .args(["buildx", "build", "--builder", BUILDER])
        .args(["--platform", &platforms.join(",")])
        .args(["--push", "-t", push_ref])
        .arg("--metadata-file")
        .arg(metadata_file);
    let c = match runtime {
        Runtime::Go => c,
        Runtime::Python => c.args(["--build-arg", &format!("FUNCTION={source}")]),
    };
    c.args(["-f", &dockerfile, context]).timeout(BUILD_TIMEOUT)
}

/// One function image: what it is built from and the arches of the nodes it may run on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSource<'s> {
    /// The language runtime the image is built for.
    pub runtime: Runtime,
    /// The function source (Go folder or Python script stem).
    pub source: &'s str,
    /// Arches of the nodes its functions may run on.
    pub arches: BTreeSet<Arch>,
}

/// Function images by [`image_name`], with their sources and the arches they may run on.
pub fn sources(scenario: &Scenario) -> BTreeMap<String, ImageSource<'_>> {
    let mut out: BTreeMap<String, ImageSource<'_>> = BTreeMap::new();
    for f in &scenario.functions {
        out.entry(image_name(f))
            .or_insert_with(|| ImageSource {
                runtime: f.runtime,
                source: f.source.as_str(),
                arches: BTreeSet::new(),
            })
            .arches
            .extend(scenario.eligible_nodes(f).iter().map(|n| n.arch));
    }
    out
}

/// Where buildx writes the pushed digest of a function image (named by [`image_name`]).
pub fn metadata_file(run: &Path, image: &str) -> PathBuf {
    run.join("images").join(format!("{image}.json"))
}

/// The build of every function image, by [`image_name`], in order (`tag` gives each image's tag).
pub fn image_builds(
    scenario: &Scenario,
    registry_push: &str,
    run: &Path,
    tag: impl Fn(&str) -> String,
) -> Vec<(String, Cmd)> {
    // One image per source for all three arches, as the thesis built them with buildx (amd64,
    // arm64, arm/v7): any node of the cluster can run it, also one that joins later.
    let platforms: Vec<&str> = Arch::ALL.iter().map(|a| a.oci_platform()).collect();
    sources(scenario)
        .into_iter()
        .map(|(image, s)| {
            let push = image_ref(registry_push, &image, &tag(&image));
            let build = buildx_build(
                &push,
                &platforms,
                s.runtime,
                s.source,
                &metadata_file(run, &image),
            );
            (image, build)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pushed_list_digest_is_the_last_sha256_line() {
        let d = format!("sha256:{}", "ab".repeat(32));
        let out = format!(
            "Pushed ref localhost:5111/faasbed/echo:t-amd64@sha256:{}\n{d}\n",
            "cd".repeat(32)
        );
        assert_eq!(pushed_digest(&out), Some(d));
        assert_eq!(pushed_digest("sha256:short\n"), None);
    }

    #[test]
    fn arm_v7_members_carry_their_variant() {
        let c = manifest_annotate("r:1", "r:1-armv7", Arch::Armhf).display();
        assert_eq!(
            c,
            "docker manifest annotate r:1 r:1-armv7 --os linux --arch arm --variant v7"
        );
        assert_eq!(arch_ref("r:1", Arch::Arm64), "r:1-arm64");
        assert!(docker_build(Path::new("/c"), Arch::Armhf, "r:1-armv7")
            .display()
            .contains("--no-cache --platform linux/arm/v7"));
    }

    #[test]
    fn python_images_build_from_the_shared_dockerfile_with_the_function_as_build_arg() {
        let platforms = ["linux/amd64", "linux/arm64", "linux/arm/v7"];
        let py = buildx_build(
            "localhost:5111/faasbed/py-json:t",
            &platforms,
            Runtime::Python,
            "json",
            Path::new("/run/images/py-json.json"),
        )
        .display();
        assert_eq!(
            py,
            "docker buildx build --builder faasbed --platform linux/amd64,linux/arm64,linux/arm/v7 \
             --push -t localhost:5111/faasbed/py-json:t --metadata-file /run/images/py-json.json \
             --build-arg FUNCTION=json -f images/python/Dockerfile images/python"
        );
        let go = buildx_build(
            "r/faasbed/json:t",
            &platforms,
            Runtime::Go,
            "json",
            Path::new("/m.json"),
        )
        .display();
        assert!(go.ends_with("-f images/functions/json/Dockerfile images/functions"));
        assert!(!go.contains("--build-arg"));
    }
}
