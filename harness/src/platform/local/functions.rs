//! Building a scenario's functions for the embedded platform: native binaries per arch of the
//! eligible nodes, cached under the home's image folder, named `faasbed.local/<source>:<hash16>`.

use std::collections::BTreeSet;
use std::path::Path;

use super::registry::LOCAL_IMAGE_PREFIX;
use crate::build;
use crate::platform::deploy::{functions_root, DeployError, Deployed};
use crate::python;
use crate::spec::{Arch, Runtime, Scenario};

/// Build every function of `scenario` for the arches of its eligible nodes into `images`;
/// one [`Deployed`] per function, scenario order.
pub async fn build_functions(
    scenario: &Scenario,
    images: &Path,
    log: &mut dyn FnMut(&str),
) -> Result<Vec<Deployed>, DeployError> {
    let root = functions_root(scenario)?;
    let mut out = Vec::new();
    for f in &scenario.functions {
        let arches: Vec<Arch> = scenario
            .eligible_nodes(f)
            .iter()
            .map(|n| n.arch)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let (image, hash, cached) = match f.runtime {
            Runtime::Go => {
                let built = build::build_all(&root, &f.source, &arches, images)
                    .await
                    .map_err(|source| DeployError::Build {
                        function: f.name.clone(),
                        source_dir: f.source.clone(),
                        source,
                    })?;
                let hash = built.first().map(|b| b.hash.clone()).unwrap_or_default();
                let cached = built.iter().map(|b| (b.arch, b.cached)).collect();
                (f.source.clone(), hash, cached)
            }
            Runtime::Python => {
                let py_root = python::python_root(&root);
                let mut hash = String::new();
                let mut cached = std::collections::BTreeMap::new();
                for &arch in &arches {
                    let b = python::build(&py_root, &f.source, arch, images)
                        .await
                        .map_err(|source| DeployError::PythonBuild {
                            function: f.name.clone(),
                            source_file: f.source.clone(),
                            source,
                        })?;
                    log(&format!(
                        "python {} for {arch}: Debian {}",
                        f.name, b.python
                    ));
                    hash = b.hash;
                    cached.insert(arch, false);
                }
                (
                    format!("{}{}", python::IMAGE_PREFIX, f.source),
                    hash,
                    cached,
                )
            }
        };
        log(&format!(
            "built {} ({} {}) for {}",
            f.name,
            f.runtime,
            f.source,
            arches
                .iter()
                .map(|a| a.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        out.push(Deployed {
            function: f.name.clone(),
            image: format!(
                "{LOCAL_IMAGE_PREFIX}{image}:{}",
                &hash[..hash.len().min(16)]
            ),
            hash,
            arches,
            cached,
        });
    }
    Ok(out)
}
