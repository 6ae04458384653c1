// SPDX-License-Identifier: Apache-2.0
//! The status block the node's daemon writes, and how per-interface results fold
//! into it. Pure: the caller passes the time and the previous status, so that an
//! unchanged result gives an identical status (and no API write).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::reason::Reason;
use crate::resource::MultiNicNodeConfig;

/// The condition that says the node is configured as its spec says.
pub const READY: &str = "Ready";
/// The condition that says some interface is not as its spec says.
pub const DEGRADED: &str = "Degraded";

/// Overall state of a node's config.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum NodeState {
    /// Not looked at yet.
    #[default]
    Pending,
    /// Being applied, or a repair is pending.
    InProgress,
    /// Every interface is configured.
    Configured,
    /// Some or all interfaces failed, were blocked or were not found.
    Failed,
}

/// State of one interface.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InterfaceState {
    /// Up with the desired address and MTU.
    Configured,
    /// Applying failed (and was rolled back), or the input was invalid.
    Failed,
    /// Not applied yet.
    Pending,
    /// Refused by a safety rule; see reason.
    Blocked,
    /// Actual state differs from the desired one; a repair is pending.
    Drifted,
    /// No NIC with this MAC on the host.
    NotFound,
}

impl InterfaceState {
    /// Every state.
    pub const ALL: [InterfaceState; 6] =
        [Self::Configured, Self::Failed, Self::Pending, Self::Blocked, Self::Drifted, Self::NotFound];

    /// Whether this state counts as a failure for `status.state` and exit codes.
    pub fn is_failure(self) -> bool {
        matches!(self, Self::Failed | Self::Blocked | Self::NotFound)
    }

    /// The name, as written in status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Configured => "Configured",
            Self::Failed => "Failed",
            Self::Pending => "Pending",
            Self::Blocked => "Blocked",
            Self::Drifted => "Drifted",
            Self::NotFound => "NotFound",
        }
    }
}

impl NodeState {
    /// The name, as written in status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::InProgress => "InProgress",
            Self::Configured => "Configured",
            Self::Failed => "Failed",
        }
    }
}

impl std::fmt::Display for InterfaceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for NodeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Status of one interface, keyed by its name in `interfaceStatuses`.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct InterfaceStatus {
    /// Upstream port id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// MAC of the NIC.
    pub mac_address: String,
    /// Desired address with prefix length, e.g. `11.11.11.37/24`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Desired MTU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// Current state.
    pub state: InterfaceState,
    /// Machine-readable reason (CamelCase).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub reason: Option<Reason>,
    /// Human-readable detail.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// When this entry last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<Time>,
}

/// An interface that is not configured, as listed in `failedInterfaces`.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FailedInterface {
    /// Upstream port id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// MAC of the NIC.
    pub mac_address: String,
    /// The interface name (key in `interfaceStatuses`).
    pub name: String,
    /// Why it is not configured.
    pub reason: Reason,
}

/// A NIC on the host that nobody configures, so that an operator can write a spec.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveredNic {
    /// MAC (permanent MAC where the kernel has one).
    pub mac_address: String,
    /// Current kernel name.
    pub name: String,
    /// Operational state (`up`, `down`, …).
    pub state: String,
    /// Kernel driver, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Current MTU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// The OpenStack port behind the NIC, from the instance's `network_data.json`
    /// (config drive or metadata service), when its MAC is there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<OpenStackPort>,
}

/// An OpenStack port as the instance's metadata describes it: what a spec for its
/// NIC needs.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OpenStackPort {
    /// The Neutron port's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Its fixed IPv4 address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_ip: Option<String>,
    /// The prefix length of its IPv4 subnet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<u8>,
    /// The MTU of its network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// Its IPv4 subnet runs DHCP, so the metadata leaves its address out
    /// (`openstack port show ID -c fixed_ips` has it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dhcp: bool,
}

/// Status of a `MultiNicNodeConfig`, written by the node's daemon only.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct MultiNicNodeConfigStatus {
    /// Overall state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<NodeState>,
    /// Machine-readable reason for the state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// Human-readable summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Hash of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_hash: Option<String>,
    /// Network backend that applied it (`networkmanager`, `networkd`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// When the status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<Time>,
    /// `Ready`, and `Degraded` when anything is drifted, blocked or failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Per-interface status keyed by interface name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub interface_statuses: BTreeMap<String, InterfaceStatus>,
    /// The interfaces that are not configured.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_interfaces: Vec<FailedInterface>,
    /// NICs nobody configures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub discovered: Vec<DiscoveredNic>,
}

/// What the daemon says of a node's current spec: the one rule for "is this node
/// healthy", used by `multinicd apply` and by `kubectl multinic`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// No daemon has reported on this CR yet.
    NotReported,
    /// The daemon's last word is about an earlier generation of the spec.
    Stale {
        /// The generation it reported on.
        observed: i64,
        /// The spec's generation.
        generation: i64,
    },
    /// The daemon's word on the current spec.
    Current(NodeState),
}

impl Health {
    /// Configured, and about the current spec.
    pub fn is_healthy(self) -> bool {
        self == Health::Current(NodeState::Configured)
    }

    /// The daemon is done with the current spec, one way or the other.
    pub fn is_settled(self) -> bool {
        matches!(self, Health::Current(NodeState::Configured | NodeState::Failed))
    }
}

impl MultiNicNodeConfigStatus {
    /// Its health against the spec's `generation` (`None` for a CR read from a file,
    /// which has none).
    pub fn health(&self, generation: Option<i64>) -> Health {
        match (self.observed_generation, generation) {
            (observed, generation) if observed == generation => Health::Current(self.state.unwrap_or_default()),
            (Some(observed), Some(generation)) => Health::Stale { observed, generation },
            _ => Health::NotReported,
        }
    }
}

impl MultiNicNodeConfig {
    /// What its daemon says of its current spec.
    pub fn health(&self) -> Health {
        self.status.as_ref().map_or(Health::NotReported, |s| s.health(self.metadata.generation))
    }
}

/// What happened to one interface in a pass; the input of [`fold`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceResult {
    /// Key in `interfaceStatuses`: the interface's name, or `interfaces[N]` when it has none.
    pub key: String,
    /// Upstream port id.
    pub id: Option<i64>,
    /// MAC as written in the spec, normalised.
    pub mac_address: String,
    /// Desired address with prefix length.
    pub address: Option<String>,
    /// Desired MTU.
    pub mtu: Option<u32>,
    /// Resulting state.
    pub state: InterfaceState,
    /// Machine-readable reason.
    pub reason: Reason,
    /// Human-readable detail.
    pub message: String,
}

/// Everything [`fold`] needs besides the per-interface results.
#[derive(Clone, Debug, Default)]
pub struct FoldInput<'a> {
    /// `metadata.generation` of the CR.
    pub generation: Option<i64>,
    /// [`crate::spec_hash`] of the spec.
    pub spec_hash: String,
    /// Backend name.
    pub backend: Option<String>,
    /// Spec-wide failure (e.g. invalid spec, instance id mismatch): `(reason, message)`.
    pub spec_failure: Option<(Reason, String)>,
    /// NICs nobody configures.
    pub discovered: Vec<DiscoveredNic>,
    /// The status currently on the CR, to keep timestamps of what did not change.
    pub previous: Option<&'a MultiNicNodeConfigStatus>,
}

/// Fold per-interface results into the status block. Timestamps of entries and
/// conditions that did not change are kept from `input.previous`, so an unchanged
/// outcome gives an identical status.
pub fn fold(results: &[InterfaceResult], input: FoldInput<'_>, now: Time) -> MultiNicNodeConfigStatus {
    let previous = input.previous;
    let mut interface_statuses = BTreeMap::new();
    let mut failed_interfaces = Vec::new();
    for r in results {
        let mut entry = InterfaceStatus {
            id: r.id,
            mac_address: r.mac_address.clone(),
            address: r.address.clone(),
            mtu: r.mtu,
            state: r.state,
            reason: Some(r.reason.clone()),
            message: r.message.clone(),
            last_updated: None,
        };
        let before = previous.and_then(|p| p.interface_statuses.get(&r.key));
        entry.last_updated = match before {
            Some(b) if InterfaceStatus { last_updated: None, ..b.clone() } == entry => b.last_updated.clone(),
            _ => Some(now.clone()),
        };
        if r.state.is_failure() {
            failed_interfaces.push(FailedInterface {
                id: r.id,
                mac_address: r.mac_address.clone(),
                name: r.key.clone(),
                reason: r.reason.clone(),
            });
        }
        interface_statuses.insert(r.key.clone(), entry);
    }

    let (state, reason, message) = summarize(results, input.spec_failure.as_ref());
    let degraded = results.iter().any(|r| r.state != InterfaceState::Configured) || input.spec_failure.is_some();
    let conditions = vec![
        condition(READY, state == NodeState::Configured, reason.as_str(), &message, input.generation, previous, &now),
        condition(DEGRADED, degraded, reason.as_str(), &message, input.generation, previous, &now),
    ];

    let mut status = MultiNicNodeConfigStatus {
        state: Some(state),
        reason: Some(reason),
        message: Some(message),
        observed_generation: input.generation,
        spec_hash: Some(input.spec_hash),
        backend: input.backend,
        last_updated: None,
        conditions,
        interface_statuses,
        failed_interfaces,
        discovered: input.discovered,
    };
    status.last_updated = match previous {
        Some(p) if MultiNicNodeConfigStatus { last_updated: None, ..p.clone() } == status => p.last_updated.clone(),
        _ => Some(now),
    };
    status
}

fn summarize(results: &[InterfaceResult], spec_failure: Option<&(Reason, String)>) -> (NodeState, Reason, String) {
    if let Some((reason, message)) = spec_failure {
        return (NodeState::Failed, reason.clone(), message.clone());
    }
    let count = |f: fn(InterfaceState) -> bool| results.iter().filter(|r| f(r.state)).count();
    let total = results.len();
    let configured = count(|s| s == InterfaceState::Configured);
    let failed = count(InterfaceState::is_failure);
    let pending = total - configured - failed;
    if failed == 0 && pending == 0 {
        let message = format!("{configured}/{total} interfaces configured");
        return (NodeState::Configured, Reason::Configured, message);
    }
    if failed == 0 {
        let drifted = count(|s| s == InterfaceState::Drifted);
        let reason = if drifted > 0 { Reason::Drifted } else { Reason::Applying };
        return (NodeState::InProgress, reason, format!("{configured}/{total} configured, {pending} pending"));
    }
    let names: Vec<String> =
        results.iter().filter(|r| r.state.is_failure()).map(|r| format!("{} ({})", r.key, r.reason)).collect();
    let message = format!("{configured}/{total} configured; not configured: {}", names.join(", "));
    let reason = if configured > 0 {
        Reason::PartiallyFailed
    } else {
        let mut reasons: Vec<&Reason> = results.iter().filter(|r| r.state.is_failure()).map(|r| &r.reason).collect();
        reasons.dedup();
        if reasons.len() == 1 { reasons[0].clone() } else { Reason::Failed }
    };
    (NodeState::Failed, reason, message)
}

fn condition(
    type_: &str,
    true_: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    previous: Option<&MultiNicNodeConfigStatus>,
    now: &Time,
) -> Condition {
    let status = if true_ { "True" } else { "False" }.to_string();
    let before = previous.and_then(|p| p.conditions.iter().find(|c| c.type_ == type_));
    let last_transition_time = match before {
        Some(b) if b.status == status => b.last_transition_time.clone(),
        _ => now.clone(),
    };
    Condition {
        type_: type_.into(),
        status,
        reason: reason.into(),
        message: message.into(),
        observed_generation: generation,
        last_transition_time,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(key: &str, state: InterfaceState, reason: Reason) -> InterfaceResult {
        InterfaceResult {
            key: key.into(),
            id: Some(1),
            mac_address: format!("fa:16:3e:00:00:0{}", key.len()),
            address: Some("11.11.11.2/24".into()),
            mtu: None,
            state,
            reason,
            message: String::new(),
        }
    }

    fn at(secs: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(secs).unwrap())
    }

    fn input(previous: Option<&MultiNicNodeConfigStatus>) -> FoldInput<'_> {
        FoldInput { generation: Some(3), spec_hash: "h".into(), previous, ..Default::default() }
    }

    #[test]
    fn state_names_are_the_serialized_ones() {
        use InterfaceState as I;
        for s in [I::Configured, I::Failed, I::Pending, I::Blocked, I::Drifted, I::NotFound] {
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        for s in [NodeState::Pending, NodeState::InProgress, NodeState::Configured, NodeState::Failed] {
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
    }

    #[test]
    fn health_is_the_word_on_the_current_generation() {
        let status = |state, observed| MultiNicNodeConfigStatus {
            state: Some(state),
            observed_generation: observed,
            ..Default::default()
        };
        assert!(status(NodeState::Configured, Some(3)).health(Some(3)).is_healthy());
        assert!(status(NodeState::Configured, None).health(None).is_healthy(), "a CR from a file has no generation");
        let stale = status(NodeState::Configured, Some(2)).health(Some(3));
        assert_eq!(stale, Health::Stale { observed: 2, generation: 3 });
        assert!(!stale.is_healthy() && !stale.is_settled());
        assert_eq!(status(NodeState::Configured, None).health(Some(3)), Health::NotReported);
        let failed = status(NodeState::Failed, Some(3)).health(Some(3));
        assert!(failed.is_settled() && !failed.is_healthy());
        assert!(!status(NodeState::InProgress, Some(3)).health(Some(3)).is_settled());
    }

    #[test]
    fn all_configured_is_ready_and_not_degraded() {
        let s = fold(&[result("multinic0", InterfaceState::Configured, Reason::Configured)], input(None), at(10));
        assert_eq!(s.state, Some(NodeState::Configured));
        assert_eq!(s.observed_generation, Some(3));
        let ready = s.conditions.iter().find(|c| c.type_ == READY).unwrap();
        let degraded = s.conditions.iter().find(|c| c.type_ == DEGRADED).unwrap();
        assert_eq!((ready.status.as_str(), degraded.status.as_str()), ("True", "False"));
        assert!(s.failed_interfaces.is_empty());
    }

    #[test]
    fn some_failed_is_partially_failed_with_failed_interfaces() {
        let s = fold(
            &[
                result("multinic0", InterfaceState::Configured, Reason::Configured),
                result("multinic1", InterfaceState::Blocked, Reason::DefaultRouteInterface),
            ],
            input(None),
            at(10),
        );
        assert_eq!(s.state, Some(NodeState::Failed));
        assert_eq!(s.reason, Some(Reason::PartiallyFailed));
        assert_eq!(s.failed_interfaces.len(), 1);
        assert_eq!(s.failed_interfaces[0].name, "multinic1");
        assert_eq!(s.failed_interfaces[0].reason, Reason::DefaultRouteInterface);
    }

    #[test]
    fn all_failed_for_one_reason_carries_that_reason() {
        let s = fold(&[result("multinic0", InterfaceState::NotFound, Reason::MacNotFound)], input(None), at(10));
        assert_eq!(s.reason, Some(Reason::MacNotFound));
        let s = fold(
            &[],
            FoldInput { spec_failure: Some((Reason::InstanceIdMismatch, "x".into())), ..input(None) },
            at(10),
        );
        assert_eq!(s.state, Some(NodeState::Failed));
        assert_eq!(s.reason, Some(Reason::InstanceIdMismatch));
    }

    #[test]
    fn drifted_is_in_progress_and_degraded() {
        let s = fold(&[result("multinic0", InterfaceState::Drifted, Reason::Drifted)], input(None), at(10));
        assert_eq!(s.state, Some(NodeState::InProgress));
        assert_eq!(s.reason, Some(Reason::Drifted));
        assert_eq!(s.conditions.iter().find(|c| c.type_ == DEGRADED).unwrap().status, "True");
    }

    #[test]
    fn unchanged_outcome_gives_an_identical_status() {
        let results = [result("multinic0", InterfaceState::Configured, Reason::Configured)];
        let first = fold(&results, input(None), at(10));
        let second = fold(&results, input(Some(&first)), at(99));
        assert_eq!(first, second, "nothing changed, so no timestamp moves");
        // A change moves the entry's and the status's timestamps, and the transition time.
        let failed = [result("multinic0", InterfaceState::Failed, Reason::RolledBack)];
        let third = fold(&failed, input(Some(&second)), at(200));
        assert_eq!(third.last_updated, Some(at(200)));
        assert_eq!(third.interface_statuses["multinic0"].last_updated, Some(at(200)));
        assert_eq!(third.conditions.iter().find(|c| c.type_ == READY).unwrap().last_transition_time, at(200));
    }
}
