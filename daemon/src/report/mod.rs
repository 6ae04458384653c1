// SPDX-License-Identifier: Apache-2.0
//! From a pass's records to what operators see: the interfaces' status entries,
//! Events ([`events`]), the blocked ones in the journal, the list of NICs nobody
//! configures, and tables.

pub mod events;
pub mod node;
#[cfg(test)]
mod snapshot;

use multinic_api::status::{InterfaceResult, InterfaceState};
use multinic_api::{DiscoveredNic, Reason};

use crate::journal::ids;
use crate::observe::Host;
use crate::pass::Record;
use crate::plan::vlan::{self, VlanPlan, VlanStep};
use crate::plan::{Change, Owned, Plan, Policy, Role, Step, classify};

/// One result per record, keyed by its name (or `interfaces[N]`), each followed by
/// one per VLAN of it (`multinicN.ID`, or `interfaces[N].vlans[M]`).
pub fn results(records: &[Record]) -> Vec<InterfaceResult> {
    records
        .iter()
        .flat_map(|r @ Record { plan: ip, outcome: o }| {
            let nic = InterfaceResult {
                key: ip.name.clone().unwrap_or_else(|| format!("interfaces[{}]", ip.desired.index)),
                id: ip.desired.id,
                mac_address: ip.mac.to_string(),
                address: Some(ip.desired.address.to_string()),
                mtu: ip.desired.mtu,
                state: o.state,
                reason: o.reason.clone(),
                message: o.message.clone(),
            };
            std::iter::once(nic).chain(ip.vlans.iter().enumerate().map(move |(m, v)| vlan_result(r, m, v)))
        })
        .collect()
}

/// A VLAN's entry: its own when it waits or is refused, else its NIC's outcome,
/// since it is applied in its NIC's transaction.
fn vlan_result(Record { plan: ip, outcome: o }: &Record, m: usize, v: &VlanPlan) -> InterfaceResult {
    let nic = ip.name.as_deref().unwrap_or("its NIC");
    let (state, reason, message) = match (&v.step, o.state) {
        (VlanStep::Waiting { parent }, _) => {
            (InterfaceState::Pending, Reason::Pending, format!("waits for {nic}, which is {parent}"))
        }
        (VlanStep::Blocked(b), _) => (InterfaceState::Blocked, b.reason(), b.to_string()),
        (VlanStep::NameTaken { name }, _) => (
            InterfaceState::Blocked,
            Reason::NameTakenByOtherMac,
            format!("{name} already exists and is not VLAN {} of {nic}; not configuring it: free the name", v.id),
        ),
        (VlanStep::Update(Change::Drift(d)), InterfaceState::Drifted) => {
            (InterfaceState::Drifted, Reason::Drifted, d.join("; "))
        }
        (_, InterfaceState::Configured | InterfaceState::Drifted) => {
            (InterfaceState::Configured, Reason::Configured, vlan::configured_message(v, nic))
        }
        (_, state) => (state, o.reason.clone(), o.message.clone()),
    };
    InterfaceResult {
        key: v.name.clone().unwrap_or_else(|| format!("interfaces[{}].vlans[{m}]", ip.desired.index)),
        id: ip.desired.id,
        mac_address: ip.mac.to_string(),
        address: Some(v.desired.ip.address.to_string()),
        mtu: v.desired.ip.mtu,
        state,
        reason,
        message,
    }
}

/// Log each blocked interface once per transition into Blocked (every one when
/// there is no previous status): at `crit` when a protected link was at stake.
pub fn log_blocked(plan: &Plan, previous: Option<&multinic_api::MultiNicNodeConfigStatus>) {
    for ip in &plan.interfaces {
        let Step::Blocked(b) = &ip.step else { continue };
        let mac = ip.mac.to_string();
        let known = previous.is_some_and(|p| {
            p.interface_statuses
                .values()
                .any(|s| s.mac_address == mac && s.state == InterfaceState::Blocked && s.reason == Some(b.reason()))
        });
        if known {
            continue;
        }
        let name = ip.name.as_deref().unwrap_or("-");
        if b.is_critical() {
            tracing::error!(interface = name, mac = %ip.mac, reason = %b.reason(), priority = "crit", message_id = ids::BLOCKED, "BLOCKED: {b}");
        } else {
            tracing::warn!(interface = name, mac = %ip.mac, reason = %b.reason(), message_id = ids::BLOCKED, "blocked: {b}");
        }
    }
}

/// NICs on the host that nobody configures: links the classification calls free
/// (or held only by the manager's generated configuration), not in the spec.
pub fn discovered(host: &Host, plan: &Plan, owned: &[Owned], policy: &Policy) -> Vec<DiscoveredNic> {
    let roles = classify(host, owned, &[], &[], policy);
    let mut out: Vec<DiscoveredNic> = host
        .links
        .iter()
        .filter(|l| matches!(roles.get(&l.index), Some(Role::Free | Role::Generated { .. })))
        .filter_map(|l| {
            let mac = l.hw_mac()?;
            let known = owned.iter().any(|o| o.mac == mac) || plan.interfaces.iter().any(|i| i.mac == mac);
            (!known).then(|| DiscoveredNic {
                mac_address: mac.to_string(),
                name: l.name.clone(),
                state: l.oper_state.clone(),
                driver: l.driver.clone(),
                mtu: Some(l.mtu),
                port: None,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Render rows as an aligned table with a header, two spaces between columns.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    multinic_api::table::render(header, rows, &multinic_api::table::Layout::plain("", 2))
}
