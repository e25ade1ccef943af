//! Kernel modules of a VM: which `.ko` files a set of modules needs, read from the kernel's
//! `modules.dep` (as written by `depmod`).

use std::collections::BTreeMap;

/// Errors reading `modules.dep`.
#[derive(Debug, thiserror::Error)]
pub enum ModulesError {
    /// A line is not `path: dep dep ...`.
    #[error("{file} line {line}: expected `kernel/…/name.ko: deps…`, found {text:?}; rerun `depmod -b DIR VERSION`")]
    Line {
        file: String,
        line: usize,
        text: String,
    },
    /// A module the VM needs is not in the kernel package.
    #[error("{file}: no module {name}; this kernel cannot boot a faasbed VM (does the package match the arch?)")]
    Missing { file: String, name: String },
}

/// `modules.dep`, read: each module's path and the paths it depends on.
#[derive(Debug, Default)]
pub struct ModuleDeps {
    deps: BTreeMap<String, Vec<String>>,
    by_name: BTreeMap<String, String>,
    file: String,
}

/// The module name of a path: `kernel/fs/ext4/ext4.ko` gives `ext4` (`-` and `_` are one).
fn name_of(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem = file.split(".ko").next().unwrap_or(file);
    stem.replace('-', "_")
}

impl ModuleDeps {
    /// Parse the text of `file` (named in errors).
    pub fn parse(file: &str, text: &str) -> Result<Self, ModulesError> {
        let mut m = ModuleDeps {
            file: file.to_string(),
            ..Default::default()
        };
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let Some((path, rest)) = line.split_once(':') else {
                return Err(ModulesError::Line {
                    file: file.to_string(),
                    line: i + 1,
                    text: line.to_string(),
                });
            };
            if !path.contains(".ko") {
                return Err(ModulesError::Line {
                    file: file.to_string(),
                    line: i + 1,
                    text: line.to_string(),
                });
            }
            m.by_name.insert(name_of(path), path.to_string());
            m.deps.insert(
                path.to_string(),
                rest.split_whitespace().map(str::to_string).collect(),
            );
        }
        Ok(m)
    }

    /// The paths of `names` and of everything they depend on, each once, dependencies first
    /// (the order `insmod` needs).
    pub fn closure(&self, names: &[&str]) -> Result<Vec<String>, ModulesError> {
        let mut out = Vec::new();
        for name in names {
            let path =
                self.by_name
                    .get(&name.replace('-', "_"))
                    .ok_or_else(|| ModulesError::Missing {
                        file: self.file.clone(),
                        name: name.to_string(),
                    })?;
            self.visit(path, &mut out);
        }
        Ok(out)
    }

    fn visit(&self, path: &str, out: &mut Vec<String>) {
        if out.iter().any(|p| p == path) {
            return;
        }
        // modules.dep lists every transitive dependency already; visiting them first keeps
        // their own order right even when a file lists them unsorted.
        for d in self.deps.get(path).into_iter().flatten() {
            if d != path {
                self.visit(d, out);
            }
        }
        out.push(path.to_string());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Lines as depmod wrote them for Debian's 6.1.0-50-arm64 kernel.
    const DEP: &str = "\
kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko
kernel/fs/overlayfs/overlay.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko
kernel/drivers/block/virtio_blk.ko:
kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
kernel/lib/crc16.ko:
kernel/fs/mbcache.ko:
kernel/fs/jbd2/jbd2.ko:
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/crypto/crc32c_generic.ko:
";

    #[test]
    fn closure_puts_dependencies_first_and_each_once() {
        let m = ModuleDeps::parse("modules.dep", DEP).unwrap();
        let c = m.closure(&["virtio_net", "ext4", "virtio-pci"]).unwrap();
        assert_eq!(
            c,
            [
                "kernel/net/core/failover.ko",
                "kernel/drivers/net/net_failover.ko",
                "kernel/drivers/net/virtio_net.ko",
                "kernel/lib/crc16.ko",
                "kernel/fs/mbcache.ko",
                "kernel/fs/jbd2/jbd2.ko",
                "kernel/fs/ext4/ext4.ko",
                "kernel/drivers/virtio/virtio_pci_legacy_dev.ko",
                "kernel/drivers/virtio/virtio_pci_modern_dev.ko",
                "kernel/drivers/virtio/virtio_pci.ko",
            ]
        );
    }

    #[test]
    fn a_missing_module_and_a_bad_line_are_named() {
        let m = ModuleDeps::parse("x/modules.dep", DEP).unwrap();
        let e = m.closure(&["wireguard"]).unwrap_err().to_string();
        assert!(
            e.contains("x/modules.dep") && e.contains("wireguard"),
            "{e}"
        );
        let e = ModuleDeps::parse("y/modules.dep", "kernel/a.ko:\nnot a module line\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("y/modules.dep line 2"), "{e}");
    }
}
