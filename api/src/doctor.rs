// SPDX-License-Identifier: Apache-2.0
//! The checks of `multinicd doctor` (on the node) and `kubectl multinic doctor`
//! (from the cluster): one line each, saying what to fix; and the checks both make
//! of a MultiNicNodeConfig.

use std::time::SystemTime;

use crate::{MultiNicNodeConfig, NodeState};

/// How a check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Fine.
    Ok,
    /// Works, but worth knowing.
    Warn,
    /// Broken: multinic cannot do its job until it is fixed.
    Fail,
}

/// One line of a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// What was checked.
    pub what: &'static str,
    /// How it came out.
    pub verdict: Verdict,
    /// What was found, and for a failure what to do.
    pub say: String,
}

impl Check {
    /// A check that came out `verdict`.
    pub fn new(what: &'static str, verdict: Verdict, say: impl Into<String>) -> Self {
        Check { what, verdict, say: say.into() }
    }
}

/// The report: `ok`, `warn` or `FAIL`, what, and what was found, a line each.
pub fn render(checks: &[Check]) -> String {
    checks
        .iter()
        .map(|c| {
            let verdict = match c.verdict {
                Verdict::Ok => "ok",
                Verdict::Warn => "warn",
                Verdict::Fail => "FAIL",
            };
            format!("{verdict:<5} {:<17} {}\n", c.what, c.say)
        })
        .collect()
}

/// No check failed.
pub fn passed(checks: &[Check]) -> bool {
    checks.iter().all(|c| c.verdict != Verdict::Fail)
}

/// What the daemon's last pass reported in the CR's status, as of `now`: applied
/// the current generation, and `Configured`.
pub fn last_pass(cr: &MultiNicNodeConfig, now: SystemTime) -> Check {
    let what = "last pass";
    let node = &cr.spec.node_name;
    let generation = cr.metadata.generation.unwrap_or_default();
    let Some(status) = &cr.status else {
        return Check::new(
            what,
            Verdict::Fail,
            format!("the daemon has written no status: is multinicd running on {node}? systemctl status multinicd"),
        );
    };
    let ago = status
        .last_updated
        .as_ref()
        .and_then(|t| now.duration_since(SystemTime::from(t.0)).ok())
        .map(|d| format!(", status written {} s ago", d.as_secs()))
        .unwrap_or_default();
    let observed = status.observed_generation.unwrap_or_default();
    if observed < generation {
        return Check::new(
            what,
            Verdict::Fail,
            format!(
                "generation {generation} is not applied (the status is of generation {observed}{ago}): is multinicd \
                 running on {node}? journalctl -u multinicd"
            ),
        );
    }
    match status.state.unwrap_or_default() {
        NodeState::Configured => Check::new(what, Verdict::Ok, format!("Configured at generation {generation}{ago}")),
        state => Check::new(
            what,
            Verdict::Fail,
            format!(
                "{state}: {}{ago}; see kubectl multinic describe {node}",
                status.message.clone().unwrap_or_default()
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::MultiNicNodeConfigStatus;

    fn cr(generation: i64, status: Option<MultiNicNodeConfigStatus>) -> MultiNicNodeConfig {
        let mut cr: MultiNicNodeConfig = serde_json::from_value(serde_json::json!({
            "apiVersion": "multinic.io/v1alpha1", "kind": "MultiNicNodeConfig",
            "metadata": { "name": "worker-1", "generation": generation },
            "spec": { "nodeName": "worker-1", "interfaces": [] },
        }))
        .unwrap();
        cr.status = status;
        cr
    }

    fn status(state: NodeState, observed: i64, at: &str) -> MultiNicNodeConfigStatus {
        MultiNicNodeConfigStatus {
            state: Some(state),
            observed_generation: Some(observed),
            message: Some("multinic1: no carrier".into()),
            last_updated: Some(crate::Time(at.parse().unwrap())),
            ..Default::default()
        }
    }

    #[test]
    fn the_last_pass_is_current_and_configured() {
        let now = SystemTime::from("2026-12-06T10:00:30Z".parse::<k8s_openapi::jiff::Timestamp>().unwrap());
        let ok = last_pass(&cr(3, Some(status(NodeState::Configured, 3, "2026-12-06T10:00:00Z"))), now);
        assert_eq!(ok, Check::new("last pass", Verdict::Ok, "Configured at generation 3, status written 30 s ago"));
        let stale = last_pass(&cr(4, Some(status(NodeState::Configured, 3, "2026-12-06T10:00:00Z"))), now);
        assert_eq!(stale.verdict, Verdict::Fail);
        assert!(
            stale
                .say
                .starts_with("generation 4 is not applied (the status is of generation 3, status written 30 s ago)")
        );
        let failed = last_pass(&cr(3, Some(status(NodeState::Failed, 3, "2026-12-06T10:00:00Z"))), now);
        assert_eq!(failed.verdict, Verdict::Fail);
        assert!(failed.say.starts_with("Failed: multinic1: no carrier"), "{}", failed.say);
        let none = last_pass(&cr(1, None), now);
        assert!(none.say.contains("is multinicd running on worker-1?"));
        let report = render(&[ok.clone(), failed.clone()]);
        assert!(report.starts_with("ok    last pass         Configured"), "{report}");
        assert!(report.contains("\nFAIL  last pass         Failed"), "{report}");
        assert!(passed(std::slice::from_ref(&ok)) && !passed(&[ok, failed]));
    }
}
