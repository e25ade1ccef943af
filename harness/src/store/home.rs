//! faasbed's working directory (`.faasbed/`: run directories, build cache, the current run) and
//! the run ids that name run directories.

use std::path::PathBuf;
use std::time::SystemTime;

use rand::RngCore;

/// faasbed's working directory: `$FAASBED_HOME`, else `./.faasbed`.
#[derive(Debug, Clone)]
pub struct Home {
    /// The directory.
    pub root: PathBuf,
}

/// The file in a run's state directory (`runs/<run>/`) holding the gateway password, mode
/// 0600, on every platform; never copied into the results.
pub const PASSWORD_FILE: &str = "password";

impl Home {
    /// From `$FAASBED_HOME` or `./.faasbed`.
    pub fn from_env() -> Home {
        let root = std::env::var_os("FAASBED_HOME")
            .map_or_else(|| PathBuf::from(".faasbed"), PathBuf::from);
        Home { root }
    }
    /// Where run directories live.
    pub fn runs(&self) -> PathBuf {
        self.root.join("runs")
    }
    /// Where built function binaries live.
    pub fn images(&self) -> PathBuf {
        self.root.join("cache").join("functions")
    }
    /// The file that holds the id of the run that is up.
    pub(crate) fn current_file(&self) -> PathBuf {
        self.root.join("current")
    }
    /// The run directory of the topology that is up, if any.
    pub fn current(&self) -> Option<PathBuf> {
        let id = std::fs::read_to_string(self.current_file()).ok()?;
        let dir = self.runs().join(id.trim());
        dir.is_dir().then_some(dir)
    }
}

/// Make a new run id: `YYYYMMDD-HHMMSS-xxxx` (UTC, then 16 random bits).
pub fn new_run_id() -> String {
    run_id_at(SystemTime::now(), rand::thread_rng().next_u32())
}

fn run_id_at(t: SystemTime, random: u32) -> String {
    let now = humantime::format_rfc3339_seconds(t).to_string();
    let compact: String = now.chars().filter(|c| c.is_ascii_digit()).collect();
    format!(
        "{}-{}-{:04x}",
        &compact[..8],
        &compact[8..14],
        random & 0xffff
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn run_id_is_utc_date_time_and_four_hex_digits() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(run_id_at(t, 0x1_abcd), "20231114-221320-abcd");
        assert_eq!(new_run_id().len(), "20231114-221320-abcd".len());
    }

    #[test]
    fn current_is_none_until_a_run_directory_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home {
            root: dir.path().to_path_buf(),
        };
        assert_eq!(home.current(), None);
        std::fs::create_dir_all(home.runs().join("r1")).unwrap();
        std::fs::write(home.current_file(), "r1\n").unwrap();
        assert_eq!(home.current(), Some(home.runs().join("r1")));
    }
}
