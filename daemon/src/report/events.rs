// SPDX-License-Identifier: Apache-2.0
//! Kubernetes Events on transitions only: what changed between the status on the CR
//! and the new one, plus what happened in this pass (rollbacks, repairs). Pure.

use multinic_api::{InterfaceState, MultiNicNodeConfigStatus, NodeState, Reason};

use crate::backend::Action;
use crate::pass::Record;

/// An event to publish about the node's CR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// `Normal` or not (`Warning`).
    pub normal: bool,
    /// Configured, Failed, Blocked, RolledBack, DriftRepaired, CleanedUp, CRDOutdated, or
    /// the reason the backend is unavailable.
    pub reason: Reason,
    /// Human-readable note.
    pub note: String,
}

/// The events a pass warrants.
pub fn transitions(
    previous: Option<&MultiNicNodeConfigStatus>,
    now: &MultiNicNodeConfigStatus,
    records: &[Record],
) -> Vec<Notice> {
    let mut out = Vec::new();
    let was = |name: &str| previous.and_then(|p| p.interface_statuses.get(name)).map(|s| s.state);
    if now.state == Some(NodeState::Configured) && previous.and_then(|p| p.state) != Some(NodeState::Configured) {
        out.push(Notice { normal: true, reason: Reason::Configured, note: now.message.clone().unwrap_or_default() });
    }
    let rolled_back: Vec<&str> = records
        .iter()
        .filter(|r| matches!(r.outcome.action, Some((Action::RolledBack, _))))
        .filter_map(|r| r.plan.name.as_deref())
        .collect();
    for (name, s) in &now.interface_statuses {
        let (reason, wanted) = match s.state {
            // A rollback has an Event of its own, below.
            InterfaceState::Failed if !rolled_back.contains(&name.as_str()) => (Reason::Failed, InterfaceState::Failed),
            InterfaceState::Blocked => (Reason::Blocked, InterfaceState::Blocked),
            _ => continue,
        };
        if was(name) != Some(wanted) {
            out.push(Notice {
                normal: false,
                reason,
                note: format!(
                    "{name} ({}): {}: {}",
                    s.mac_address,
                    s.reason.as_ref().map(Reason::as_str).unwrap_or_default(),
                    s.message
                ),
            });
        }
    }
    // A retry that fails the same way is not news: one RolledBack per transition
    // into Failed, or per generation.
    let same_generation = previous.and_then(|p| p.observed_generation) == now.observed_generation;
    for Record { plan: ip, outcome: o } in records {
        let name = ip.name.as_deref().unwrap_or("-");
        if let Some((Action::RolledBack, _)) = &o.action
            && (was(name) != Some(InterfaceState::Failed) || !same_generation)
        {
            out.push(Notice {
                normal: false,
                reason: Reason::RolledBack,
                note: format!("{name} ({}): {}: {}", ip.mac, o.reason, o.message),
            });
        }
        if let Some((Action::DriftRepaired, detail)) = &o.action {
            out.push(Notice {
                normal: true,
                reason: Reason::DriftRepaired,
                note: format!("{name} ({}): {detail}", ip.mac),
            });
        }
    }
    // A node that turns Failed gets a Warning, unless one about an interface says
    // why already: a refusal of the whole spec (its instanceId, an invalid spec)
    // leaves the interfaces pending.
    if now.state == Some(NodeState::Failed)
        && previous.and_then(|p| p.state) != Some(NodeState::Failed)
        && out.iter().all(|n| n.normal)
    {
        out.push(Notice {
            normal: false,
            reason: Reason::Failed,
            note: format!(
                "{}: {}",
                now.reason.as_ref().map(Reason::as_str).unwrap_or_default(),
                now.message.clone().unwrap_or_default()
            ),
        });
    }
    out
}
