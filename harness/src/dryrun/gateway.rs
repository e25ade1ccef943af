//! PLACEHOLDER (being written by helper `dgw`): a recording OpenFaaS gateway on loopback.

use super::Journal;
use crate::spec::Scenario;

/// A placeholder gateway serving on loopback until dropped.
pub struct PlaceholderGateway {
    /// Its base URL, `http://127.0.0.1:PORT`.
    pub url: String,
}

/// Serve a recording gateway for `scenario`'s functions on `127.0.0.1:0`.
pub async fn serve(scenario: &Scenario, journal: Journal) -> std::io::Result<PlaceholderGateway> {
    let _ = (scenario, journal);
    unimplemented!("dryrun::gateway is being written")
}
