//! OpenFaaS secrets on the local platform (`/system/secrets`, faas-netes CE's
//! `pkg/handlers/secrets.go` and `pkg/k8s/secrets.go`): each value is a file of mode 0600 under
//! `<run dir>/secrets/store/` (a folder of mode 0700, under the run's home, never in `results/`,
//! never logged). A function that names secrets gets its own copy of exactly those in
//! `<run dir>/secrets/fn/<function>/`, which every replica sees read-only at
//! `/var/openfaas/secrets/` (the OpenFaaS contract) through a private mount namespace; that
//! needs root, so without root a deploy naming secrets is refused with the command to run.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use http::{Method, StatusCode};

use super::namespace::{self, NAMESPACE};
use super::LocalError;
use crate::openfaas::{Secret, SecretDescription};

/// Where a replica sees its function's secrets (the OpenFaaS contract).
pub const MOUNT_PATH: &str = "/var/openfaas/secrets";

/// The secrets of one run.
#[derive(Debug)]
pub struct SecretStore {
    store: PathBuf,
    views: PathBuf,
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> LocalError {
    move |source| LocalError::Io { what, source }
}

/// A Kubernetes secret name (a DNS-1123 subdomain): at most 253 of `[a-z0-9.-]`, made of
/// dot-separated labels that start and end alphanumeric. So it is always a plain file name.
pub fn valid_name(name: &str) -> bool {
    name.len() <= 253
        && !name.is_empty()
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

fn check_name(name: &str) -> Result<(), LocalError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(LocalError::BadRequest(format!(
            "secret name {name:?} is invalid: use at most 253 lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
        )))
    }
}

fn mkdir_private(dir: &Path) -> Result<(), LocalError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io(format!("create {}", dir.display())))
}

/// Write `bytes` to `path` (mode 0600) through a temporary file and a rename, so a reader sees
/// the old value or the new one, never a part.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), LocalError> {
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io(format!("write {}", tmp.display())))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(io(format!("write {}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(io(format!("rename to {}", path.display())))
}

impl SecretStore {
    /// The store of the run whose directory is `run_dir` (created, mode 0700).
    pub fn open(run_dir: &Path) -> Result<SecretStore, LocalError> {
        let root = run_dir.join("secrets");
        let s = SecretStore {
            store: root.join("store"),
            views: root.join("fn"),
        };
        mkdir_private(&root)?;
        mkdir_private(&s.store)?;
        mkdir_private(&s.views)?;
        Ok(s)
    }

    /// The file holding secret `name`.
    fn file(&self, name: &str) -> PathBuf {
        self.store.join(name)
    }

    /// Names of every secret, sorted.
    pub fn list(&self) -> Result<Vec<String>, LocalError> {
        let rd =
            std::fs::read_dir(&self.store).map_err(io(format!("list {}", self.store.display())))?;
        let mut names: Vec<String> = rd
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| valid_name(n))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Create secret `name`; 409 when it exists (faas-netes: `AlreadyExists` → 409).
    pub fn create(&self, name: &str, value: &[u8]) -> Result<(), LocalError> {
        check_name(name)?;
        let path = self.file(name);
        if path.exists() {
            return Err(LocalError::Conflict(format!(
                "secret {name:?} already exists in {NAMESPACE}; update it with PUT /system/secrets"
            )));
        }
        write_private(&path, value)
    }

    /// Replace the value of secret `name` (and in every function's copy of it); 404 when absent.
    pub fn replace(&self, name: &str, value: &[u8]) -> Result<(), LocalError> {
        check_name(name)?;
        self.must_exist(name)?;
        write_private(&self.file(name), value)?;
        let views =
            std::fs::read_dir(&self.views).map_err(io(format!("list {}", self.views.display())))?;
        for v in views.flatten() {
            let copy = v.path().join(name);
            if copy.exists() {
                write_private(&copy, value)?;
            }
        }
        Ok(())
    }

    /// Delete secret `name`; 404 when absent. Running replicas keep their copy until the
    /// function is updated or removed (as a deleted Kubernetes secret stays in a running pod).
    pub fn delete(&self, name: &str) -> Result<(), LocalError> {
        check_name(name)?;
        self.must_exist(name)?;
        let path = self.file(name);
        std::fs::remove_file(&path).map_err(io(format!("remove {}", path.display())))
    }

    fn must_exist(&self, name: &str) -> Result<(), LocalError> {
        if self.file(name).is_file() {
            Ok(())
        } else {
            Err(LocalError::NoSuch(format!(
                "secret {name:?} not found in {NAMESPACE}; create it with POST /system/secrets (`faas-cli secret create {name}`)"
            )))
        }
    }

    /// Refuse a deployment naming a secret that does not exist, with faas-netes' message and
    /// status (deploy.go: 400 `unable to fetch secrets: secrets "NAME" not found`).
    pub fn check_exist(&self, names: &[String]) -> Result<(), LocalError> {
        for n in names {
            if !valid_name(n) || !self.file(n).is_file() {
                return Err(LocalError::BadRequest(format!(
                    "unable to fetch secrets: secrets {n:?} not found; create it first (`faas-cli secret create {n}` or POST /system/secrets)"
                )));
            }
        }
        Ok(())
    }

    /// The folder of `function`'s secrets, as its replicas see it at [`MOUNT_PATH`].
    pub fn view_dir(&self, function: &str) -> PathBuf {
        self.views.join(function)
    }

    /// Make `function`'s folder hold a copy of exactly `names` (and nothing else).
    pub fn make_view(&self, function: &str, names: &[String]) -> Result<PathBuf, LocalError> {
        self.check_exist(names)?;
        let dir = self.view_dir(function);
        mkdir_private(&dir)?;
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                let keep = e
                    .file_name()
                    .to_str()
                    .is_some_and(|n| names.iter().any(|x| x == n));
                if !keep {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        for n in names {
            let src = self.file(n);
            let bytes = std::fs::read(&src).map_err(io(format!("read {}", src.display())))?;
            write_private(&dir.join(n), &bytes)?;
        }
        Ok(dir)
    }

    /// Forget `function`'s copies.
    pub fn drop_view(&self, function: &str) {
        let _ = std::fs::remove_dir_all(self.view_dir(function));
    }
}

/// Can replicas see secrets at [`MOUNT_PATH`] here? Only root may make the private mount
/// namespace; otherwise the error says what to run.
pub fn mountable(function: &str, euid: u32) -> Result<(), LocalError> {
    if euid == 0 {
        return Ok(());
    }
    Err(LocalError::BadRequest(format!(
        "function {function} names secrets, which the local platform mounts read-only at {MOUNT_PATH} in a private mount namespace per replica; that needs root: run `sudo -E faasbed up` (or `sudo -E faasbed bench`), or deploy without secrets"
    )))
}

/// The secret's bytes: `rawValue` (base64) when set, else `value`.
fn value_of(s: &Secret) -> Result<Vec<u8>, LocalError> {
    match s.raw_value.as_deref().filter(|v| !v.is_empty()) {
        Some(raw) => base64::engine::general_purpose::STANDARD
            .decode(raw)
            .map_err(|e| {
                LocalError::BadRequest(format!("secret {:?}: rawValue is not base64: {e}", s.name))
            }),
        None => Ok(s.value.clone().unwrap_or_default().into_bytes()),
    }
}

/// Serve `/system/secrets` with faas-netes' shapes and codes: GET lists names (200), POST
/// creates (202; 409 when it exists), PUT replaces (202; 404 when absent), DELETE removes (202;
/// 404 when absent). The namespace comes from `?namespace=` (GET) or the body; any other than
/// openfaas-fn is 400. Returns the status and, for GET, the JSON list.
pub fn handle(
    store: &SecretStore,
    method: &Method,
    body: Option<Secret>,
) -> Result<(StatusCode, Option<Vec<SecretDescription>>), LocalError> {
    if *method == Method::GET {
        let list = store
            .list()?
            .into_iter()
            .map(|name| SecretDescription {
                name,
                namespace: Some(NAMESPACE.to_string()),
            })
            .collect();
        return Ok((StatusCode::OK, Some(list)));
    }
    let s = body.ok_or_else(|| LocalError::BadRequest("a JSON Secret body is required".into()))?;
    namespace::check(s.namespace.as_deref())?;
    match *method {
        Method::POST => store.create(&s.name, &value_of(&s)?)?,
        Method::PUT => store.replace(&s.name, &value_of(&s)?)?,
        Method::DELETE => store.delete(&s.name)?,
        _ => {
            return Err(LocalError::BadRequest(format!(
                "{method} /system/secrets: use GET, POST, PUT or DELETE"
            )))
        }
    }
    Ok((StatusCode::ACCEPTED, None))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn names_are_plain_file_names() {
        for ok in ["db-password", "a", "api.key-2", &"a".repeat(253)] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in [
            "",
            "..",
            ".",
            "a/b",
            "../x",
            "A",
            "-a",
            "a-",
            "a..b",
            "a b",
            &"a".repeat(254),
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn store_is_private_and_views_follow_updates() {
        let d = tempfile::tempdir().unwrap();
        let s = SecretStore::open(d.path()).unwrap();
        assert_eq!(mode(&d.path().join("secrets")), 0o700);
        s.create("k", b"v1").unwrap();
        assert_eq!(mode(&d.path().join("secrets/store/k")), 0o600);
        assert!(matches!(s.create("k", b"x"), Err(LocalError::Conflict(_))));
        assert!(matches!(
            s.replace("nope", b"x"),
            Err(LocalError::NoSuch(_))
        ));
        assert!(matches!(s.delete("nope"), Err(LocalError::NoSuch(_))));
        let e = s.check_exist(&["nope".into()]).unwrap_err().to_string();
        assert!(
            e.starts_with("unable to fetch secrets: secrets \"nope\" not found"),
            "{e}"
        );
        let v = s.make_view("fn1", &["k".into()]).unwrap();
        assert_eq!(std::fs::read(v.join("k")).unwrap(), b"v1");
        s.replace("k", b"v2").unwrap();
        assert_eq!(std::fs::read(v.join("k")).unwrap(), b"v2");
        assert_eq!(mode(&v.join("k")), 0o600);
        s.create("other", b"o").unwrap();
        s.make_view("fn1", &["other".into()]).unwrap();
        assert!(
            !v.join("k").exists(),
            "a view holds exactly the names it was made with"
        );
        assert_eq!(s.list().unwrap(), ["k", "other"]);
        s.delete("k").unwrap();
        assert_eq!(s.list().unwrap(), ["other"]);
        s.drop_view("fn1");
        assert!(!v.exists());
    }

    #[test]
    fn raw_value_wins_and_must_be_base64() {
        let s = Secret {
            name: "k".into(),
            value: Some("plain".into()),
            raw_value: Some("AAEC".into()),
            ..Default::default()
        };
        assert_eq!(value_of(&s).unwrap(), vec![0, 1, 2]);
        let bad = Secret {
            raw_value: Some("!!".into()),
            ..s.clone()
        };
        assert!(value_of(&bad).is_err());
        assert!(mountable("f", 0).is_ok());
        let e = mountable("f", 1000).unwrap_err().to_string();
        assert!(e.contains("sudo -E faasbed up"), "{e}");
    }
}
