//! A replica's environment: the function's `envVars` plus what the contract needs, nothing
//! inherited from the shell that started faasbed, and no loader, path or emulator variable.
//!
//! Replicas run as the user faasbed runs as (root, for cgroups), so a deploy must not be able to
//! change what gets loaded into them. Refused: `PATH`, every `LD_*` (the dynamic loader) and
//! `QEMU_*` (read by qemu-user itself), the other variables glibc drops in secure-execution mode
//! (its `unsecvars.h`: `GCONV_PATH`, `LOCPATH`, `NLSPATH`, `HOSTALIASES`, ...), the contract's
//! own variables and the `FAASBED_*` labels.

use std::collections::BTreeMap;

/// The port the replica listens on.
pub const PORT: &str = "PORT";
/// The address the replica binds (the node's address; loopback on the local platform).
pub const HOST: &str = "HOST";
/// The node the replica runs on (`X-Faasbed-Node`).
pub const NODE_NAME: &str = "NODE_NAME";

/// The variable qemu-user reads its `-cpu` model from: set by faasbed on ARM container
/// replicas (binfmt runs them), never by a deploy.
pub const QEMU_CPU: &str = "QEMU_CPU";

/// What a replica of the local platform binds: loopback only, so every call goes through the
/// gateway and its link emulation.
pub const LOCAL_BIND: &str = "127.0.0.1";

/// Variables glibc ignores for setuid programs, beyond `LD_*` (sysdeps/generic/unsecvars.h).
const GLIBC_UNSECURE: &[&str] = &[
    "GCONV_PATH",
    "GETCONF_DIR",
    "HOSTALIASES",
    "LOCALDOMAIN",
    "LOCPATH",
    "MALLOC_TRACE",
    "NIS_PATH",
    "NLSPATH",
    "RESOLV_HOST_CONF",
    "RES_OPTIONS",
];

/// Why the environment variable `name` may not be set by a deploy (`None`: it may).
pub fn refused(name: &str) -> Option<String> {
    if name.is_empty() || name.contains('=') || name.contains('\0') {
        return Some(format!(
            "{name:?} is not a variable name (non-empty, no '=' and no NUL)"
        ));
    }
    let upper = name.to_ascii_uppercase();
    if upper == "PATH" || upper.starts_with("LD_") || GLIBC_UNSECURE.contains(&upper.as_str()) {
        return Some(format!(
            "{name} changes what the loader runs inside the replica; faasbed refuses loader and path variables"
        ));
    }
    if upper.starts_with("QEMU_") {
        return Some(format!(
            "{name} is read by the QEMU emulator that runs ARM replicas; set the CPU model in the scenario's [profile] instead"
        ));
    }
    if [PORT, HOST, NODE_NAME].contains(&upper.as_str()) || upper.starts_with("FAASBED_") {
        return Some(format!(
            "{name} is set by faasbed for every replica (the function contract and run labels); remove it"
        ));
    }
    None
}

/// Check a deploy's `envVars`; the error names the first refused variable and says why.
pub fn check(vars: &BTreeMap<String, String>) -> Result<(), String> {
    for (k, v) in vars {
        if let Some(why) = refused(k) {
            return Err(format!("envVars: {why}"));
        }
        if v.contains('\0') {
            return Err(format!("envVars: the value of {k} contains a NUL byte"));
        }
    }
    Ok(())
}

/// The whole environment of a replica (the run labels `FAASBED_RUN_ID` and `FAASBED_HOME` are
/// added by `exec::spawn`): the
/// contract's variables, then the function's `envVars` (checked with [`check`] at deploy).
pub fn replica(port: u16, node: &str, vars: &BTreeMap<String, String>) -> Vec<(String, String)> {
    let mut env = vec![
        (PORT.to_string(), port.to_string()),
        (HOST.to_string(), LOCAL_BIND.to_string()),
        (NODE_NAME.to_string(), node.to_string()),
    ];
    env.extend(
        vars.iter()
            .filter(|(k, _)| refused(k).is_none())
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loader_path_emulator_and_contract_variables_are_refused() {
        for v in [
            "LD_PRELOAD",
            "LD_LIBRARY_PATH",
            "LD_AUDIT",
            "ld_preload",
            "PATH",
            "QEMU_LD_PREFIX",
            "QEMU_STRACE",
            "GCONV_PATH",
            "PORT",
            "HOST",
            "NODE_NAME",
            "FAASBED_RUN_ID",
            "A=B",
            "",
        ] {
            assert!(refused(v).is_some(), "{v} must be refused");
        }
        for v in ["GREETING", "write_debug", "GODEBUG", "TZ", "MYPATH"] {
            assert_eq!(refused(v), None, "{v}");
        }
        let mut m = BTreeMap::new();
        m.insert("LD_PRELOAD".to_string(), "/tmp/x.so".to_string());
        assert!(check(&m).unwrap_err().contains("LD_PRELOAD"));
    }

    #[test]
    fn a_replica_gets_the_contract_and_its_own_variables_only() {
        let mut m = BTreeMap::new();
        m.insert("GREETING".to_string(), "hi".to_string());
        let env = replica(8081, "pi3-1", &m);
        let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["PORT", "HOST", "NODE_NAME", "GREETING"]);
        assert_eq!(env[1].1, "127.0.0.1");
    }
}
