// SPDX-License-Identifier: Apache-2.0
//! The Node condition `MultiNicReady`: whether this node's secondary networks are
//! configured, where the cluster looks for a node's health. `True` once its
//! MultiNicNodeConfig is `Configured`, `False` with the CR's reason otherwise (or
//! when there is none), `Unknown` while the daemon starts.

use k8s_openapi::api::core::v1::NodeCondition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use multinic_api::{MultiNicNodeConfigStatus, NodeState, Reason};

/// The condition's type on the Node.
pub const CONDITION: &str = "MultiNicReady";

/// What the condition says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Readiness {
    /// `True`, `False` or `Unknown`.
    pub status: Status,
    /// Why, as on the CR.
    pub reason: Reason,
    /// The CR's message.
    pub message: String,
}

/// A condition's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Configured.
    True,
    /// Not (yet) configured.
    False,
    /// Not known yet.
    Unknown,
}

impl Status {
    /// As the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::True => "True",
            Status::False => "False",
            Status::Unknown => "Unknown",
        }
    }
}

/// Before the first pass.
impl Default for Readiness {
    fn default() -> Self {
        Readiness::starting()
    }
}

impl Readiness {
    /// Before the first pass.
    pub fn starting() -> Self {
        Readiness { status: Status::Unknown, reason: Reason::Starting, message: "multinicd is starting".into() }
    }

    /// No CR for the node (not yet, or deleted).
    pub fn no_config(namespace: &str, node: &str) -> Self {
        Readiness {
            status: Status::False,
            reason: Reason::NoConfig,
            message: format!("no MultiNicNodeConfig {namespace}/{node}"),
        }
    }

    /// What the CR's status says. A CR without interfaces is `Configured` but not
    /// ready: the workloads the gate waits for need a NIC, and an empty CR is how a
    /// node is onboarded (its daemon then reports the NICs it discovers).
    pub fn of(status: &MultiNicNodeConfigStatus) -> Self {
        let state = status.state.unwrap_or_default();
        if state == NodeState::Configured && status.interface_statuses.is_empty() {
            return Readiness {
                status: Status::False,
                reason: Reason::NoInterfaces,
                message: "the MultiNicNodeConfig lists no interfaces: add them (kubectl multinic create NODE \
                          --from-discovered, or kubectl multinic add-nic)"
                    .into(),
            };
        }
        let reason = status.reason.clone().unwrap_or_else(|| Reason::from(state.to_string().as_str()));
        let message = status.message.clone().unwrap_or_else(|| state.to_string());
        let status = if state == NodeState::Configured { Status::True } else { Status::False };
        Readiness { status, reason, message }
    }

    /// The message as the Node carries it (the API caps a condition's message).
    pub fn message_on_node(&self) -> String {
        self.message.chars().take(1000).collect()
    }

    /// The condition to write at `now`, given the one the Node carries: its
    /// transition time stays while its status does.
    pub fn condition(&self, now: &Time, on_node: Option<&NodeCondition>) -> NodeCondition {
        let status = self.status.as_str();
        let since = on_node.filter(|c| c.status == status).and_then(|c| c.last_transition_time.clone());
        NodeCondition {
            type_: CONDITION.into(),
            status: status.into(),
            reason: Some(self.reason.to_string()),
            message: Some(self.message_on_node()),
            last_heartbeat_time: Some(now.clone()),
            last_transition_time: Some(since.unwrap_or_else(|| now.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Time {
        Time(s.parse().unwrap())
    }

    fn status(state: NodeState, reason: Option<Reason>, message: &str) -> MultiNicNodeConfigStatus {
        let mut s = MultiNicNodeConfigStatus {
            state: Some(state),
            reason,
            message: Some(message.into()),
            ..Default::default()
        };
        let one = serde_json::json!({ "macAddress": "fa:16:3e:00:00:01", "state": "Configured" });
        s.interface_statuses.insert("multinic0".into(), serde_json::from_value(one).unwrap());
        s
    }

    #[test]
    fn follows_the_state_of_the_cr() {
        let mut empty = status(NodeState::Configured, None, "0/0 interfaces configured");
        empty.interface_statuses.clear();
        let r = Readiness::of(&empty);
        assert_eq!((r.status, r.reason), (Status::False, Reason::NoInterfaces), "no interfaces: not ready");
        let r = Readiness::of(&status(NodeState::Configured, None, "2 interfaces configured"));
        assert_eq!(
            (r.status, r.reason, r.message.as_str()),
            (Status::True, Reason::Configured, "2 interfaces configured")
        );
        let r = Readiness::of(&status(NodeState::Failed, Some(Reason::PartiallyFailed), "multinic1: no carrier"));
        assert_eq!((r.status, r.reason), (Status::False, Reason::PartiallyFailed));
        let r = Readiness::of(&status(NodeState::InProgress, None, "applying"));
        assert_eq!((r.status, r.reason), (Status::False, Reason::from("InProgress")));
        assert_eq!(Readiness::starting().status, Status::Unknown);
        let none = Readiness::no_config("multinic-system", "worker-1");
        assert_eq!((none.status, none.reason), (Status::False, Reason::NoConfig));
        assert_eq!(none.message, "no MultiNicNodeConfig multinic-system/worker-1");
    }

    #[test]
    fn the_transition_time_moves_only_with_the_status() {
        let configured = Readiness::of(&status(NodeState::Configured, None, "1 interface configured"));
        let first = configured.condition(&at("2026-12-06T09:00:00Z"), None);
        assert_eq!(first.type_, "MultiNicReady");
        assert_eq!(first.status, "True");
        assert_eq!(first.reason.as_deref(), Some("Configured"));
        assert_eq!(first.last_transition_time, Some(at("2026-12-06T09:00:00Z")));

        let again = configured.condition(&at("2026-12-06T09:05:00Z"), Some(&first));
        assert_eq!(again.last_transition_time, Some(at("2026-12-06T09:00:00Z")), "still True since 09:00");
        assert_eq!(again.last_heartbeat_time, Some(at("2026-12-06T09:05:00Z")));

        let failed = Readiness::of(&status(NodeState::Failed, Some(Reason::RolledBack), "rolled back"));
        let flipped = failed.condition(&at("2026-12-06T09:10:00Z"), Some(&again));
        assert_eq!(flipped.status, "False");
        assert_eq!(flipped.last_transition_time, Some(at("2026-12-06T09:10:00Z")));
    }
}
