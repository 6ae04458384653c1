//! Kubernetes Events on transitions only: what changed between the status on the CR
//! and the new one, plus what happened in this pass (rollbacks, repairs). Pure.

use multinic_api::{InterfaceState, MultiNicNodeConfigStatus, NodeState};

use crate::backend::Outcome;
use crate::plan::Plan;

/// An event to publish about the node's CR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// `Normal` or not (`Warning`).
    pub normal: bool,
    /// CamelCase reason: Configured, Failed, Blocked, RolledBack, DriftRepaired, CleanedUp.
    pub reason: &'static str,
    /// Human-readable note.
    pub note: String,
}

/// The events a pass warrants.
pub fn transitions(
    previous: Option<&MultiNicNodeConfigStatus>,
    now: &MultiNicNodeConfigStatus,
    plan: &Plan,
    outcomes: &[Outcome],
) -> Vec<Notice> {
    let mut out = Vec::new();
    let was = |name: &str| previous.and_then(|p| p.interface_statuses.get(name)).map(|s| s.state);
    if now.state == Some(NodeState::Configured) && previous.and_then(|p| p.state) != Some(NodeState::Configured) {
        out.push(Notice { normal: true, reason: "Configured", note: now.message.clone().unwrap_or_default() });
    }
    if now.state == Some(NodeState::Failed)
        && previous.and_then(|p| p.state) != Some(NodeState::Failed)
        && now.interface_statuses.is_empty()
    {
        out.push(Notice {
            normal: false,
            reason: "Failed",
            note: format!("{}: {}", now.reason.clone().unwrap_or_default(), now.message.clone().unwrap_or_default()),
        });
    }
    let rolled_back: Vec<&str> = outcomes
        .iter()
        .filter(|o| matches!(o.action, Some(("RolledBack", _))))
        .filter_map(|o| plan.interfaces.get(o.index).and_then(|ip| ip.name.as_deref()))
        .collect();
    for (name, s) in &now.interface_statuses {
        let (reason, wanted) = match s.state {
            // A rollback has an Event of its own, below.
            InterfaceState::Failed if !rolled_back.contains(&name.as_str()) => ("Failed", InterfaceState::Failed),
            InterfaceState::Blocked => ("Blocked", InterfaceState::Blocked),
            _ => continue,
        };
        if was(name) != Some(wanted) {
            out.push(Notice {
                normal: false,
                reason,
                note: format!("{name} ({}): {}: {}", s.mac_address, s.reason, s.message),
            });
        }
    }
    // A retry that fails the same way is not news: one RolledBack per transition
    // into Failed, or per generation.
    let same_generation = previous.and_then(|p| p.observed_generation) == now.observed_generation;
    for o in outcomes {
        let Some(ip) = plan.interfaces.get(o.index) else {
            continue;
        };
        let name = ip.name.as_deref().unwrap_or("-");
        if let Some(("RolledBack", _)) = &o.action
            && (was(name) != Some(InterfaceState::Failed) || !same_generation)
        {
            out.push(Notice {
                normal: false,
                reason: "RolledBack",
                note: format!("{name} ({}): {}: {}", ip.mac, o.reason, o.message),
            });
        }
        if let Some(("DriftRepaired", detail)) = &o.action {
            out.push(Notice { normal: true, reason: "DriftRepaired", note: format!("{name} ({}): {detail}", ip.mac) });
        }
    }
    out
}
