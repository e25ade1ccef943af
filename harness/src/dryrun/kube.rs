//! PLACEHOLDER (being written by helper `dkube`): a kube client whose requests are recorded and
//! answered from a placeholder cluster of the scenario's nodes.

use super::Journal;
use crate::platform::kube::Kube;
use crate::spec::Scenario;

/// A [`Kube`] whose every request is recorded into `journal` and answered from a placeholder
/// cluster made of `scenario`'s nodes.
pub fn placeholder_kube(scenario: &Scenario, journal: Journal) -> Kube {
    let _ = (scenario, journal);
    unimplemented!("dryrun::kube is being written")
}
