// SPDX-License-Identifier: Apache-2.0
//! `kubectl multinic describe NODE`: spec against status per interface, conditions,
//! NICs that could be added (with a ready-to-paste `--nic`), recent Events. Pure.

use std::fmt::Write as _;

use k8s_openapi::api::events::v1::Event;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use multinic_api::{InterfaceState, MultiNicNodeConfig, Reason};

use crate::status::age;
use multinic_api::table::{self, Layout};

/// The `--nic` value for a discovered NIC: complete when its OpenStack port gives
/// the fixed IP and prefix, placeholders otherwise.
fn nic_flag(d: &multinic_api::DiscoveredNic) -> String {
    match crate::discovered::interface(d) {
        Ok(i) => {
            let mtu = i.mtu.map(|m| format!(",mtu={m}")).unwrap_or_default();
            format!("mac={},address={},cidr={}{mtu}", i.mac_address, i.address, i.cidr)
        }
        Err(_) => format!("mac={},address=ADDRESS,cidr=CIDR", d.mac_address),
    }
}

fn table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    out.push_str(&table::render(header, rows, &Layout::plain("  ", 2)));
}

/// The IPv4 address with its prefix length, then the IPv6 ones (`+RA` when router
/// advertisements are on).
fn address(i: &multinic_api::InterfaceSpec) -> String {
    let mut out = format!("{}/{}", i.address, i.cidr.rsplit('/').next().unwrap_or("?"));
    if let Some(v6) = &i.ipv6 {
        for a in &v6.addresses {
            out.push_str(&format!(", {a}"));
        }
        if v6.accept_ra {
            out.push_str(", +RA");
        }
    }
    out
}

/// The interface's gateway and, with `sourceRouting`, its table (known once it has
/// its `multinicN` name).
/// `source table T, gw G` of an interface or VLAN (`table`: its table, once it
/// has a name).
fn routing(gateway: Option<&str>, source_routing: bool, table: Option<u32>) -> String {
    let gw = gateway.map(|g| format!("gw {g}"));
    if !source_routing {
        return gw.unwrap_or_else(|| "-".into());
    }
    let table = table.map(|t| format!("source table {t}")).unwrap_or_else(|| "source".into());
    match gw {
        Some(gw) => format!("{table}, {gw}"),
        None => table,
    }
}

/// The description of one node's CR.
pub fn render(cr: &MultiNicNodeConfig, events: &[Event], now: Timestamp) -> String {
    let mut out = String::new();
    let s = cr.status.as_ref();
    let _ = writeln!(out, "Name:          {}", cr.name_any());
    let _ = writeln!(out, "Namespace:     {}", cr.namespace().unwrap_or_default());
    let _ = writeln!(out, "Instance ID:   {}", cr.spec.instance_id.as_deref().unwrap_or("<none>"));
    match s {
        Some(s) => {
            let state = s.state.unwrap_or_default();
            let _ = writeln!(out, "State:         {state} ({})", s.reason.as_ref().map_or("-", Reason::as_str));
            let _ = writeln!(out, "Message:       {}", s.message.as_deref().unwrap_or("-"));
            let _ = writeln!(out, "Backend:       {}", s.backend.as_deref().unwrap_or("-"));
            let _ = writeln!(
                out,
                "Generation:    {} (observed {})",
                cr.metadata.generation.unwrap_or_default(),
                s.observed_generation.map(|g| g.to_string()).unwrap_or_else(|| "-".into())
            );
            let _ = writeln!(
                out,
                "Updated:       {}",
                s.last_updated.as_ref().map(|t| format!("{} ago", age(t.0, now))).unwrap_or_else(|| "-".into())
            );
        }
        None => {
            let _ = writeln!(out, "State:         Pending (no daemon has reported for this node yet)");
        }
    }

    let _ = writeln!(out, "\nInterfaces:");
    let rows: Vec<Vec<String>> = cr
        .spec
        .interfaces
        .iter()
        .flat_map(|i| {
            let mac = i.mac_address.to_ascii_lowercase();
            // A VLAN's entry (`multinic0.100`) carries its NIC's MAC too.
            let reported = s.and_then(|s| {
                s.interface_statuses
                    .iter()
                    .find(|(key, st)| !key.contains('.') && st.mac_address.eq_ignore_ascii_case(&mac))
            });
            let (name, state, reason, message) = match reported {
                Some((name, st)) => (
                    name.clone(),
                    st.state.to_string(),
                    st.reason.as_ref().map(Reason::to_string).unwrap_or_default(),
                    st.message.clone(),
                ),
                None => (
                    i.name.clone().unwrap_or_else(|| "-".into()),
                    InterfaceState::Pending.to_string(),
                    String::new(),
                    String::new(),
                ),
            };
            let dash = |v: String| if v.is_empty() { "-".to_string() } else { v };
            let nic_routing = routing(i.gateway.as_deref(), i.source_routing, multinic_api::source_table(&name));
            let vlans: Vec<Vec<String>> = i
                .vlans
                .iter()
                .map(|v| {
                    let key = format!("{name}.{}", v.id);
                    let st = s.and_then(|s| s.interface_statuses.get(&key));
                    vec![
                        key,
                        format!("vlan {}", v.id),
                        format!("{}/{}", v.address, v.cidr.split_once('/').map(|(_, p)| p).unwrap_or("?")),
                        v.mtu.map(|m| m.to_string()).unwrap_or_else(|| "-".into()),
                        routing(v.gateway.as_deref(), v.source_routing, multinic_api::vlan_source_table(&name, v.id)),
                        st.map(|st| st.state.to_string()).unwrap_or_else(|| InterfaceState::Pending.to_string()),
                        dash(st.and_then(|st| st.reason.as_ref()).map(Reason::to_string).unwrap_or_default()),
                        dash(st.map(|st| st.message.clone()).unwrap_or_default()),
                    ]
                })
                .collect();
            let nic = vec![
                name,
                mac,
                address(i),
                i.mtu.map(|m| m.to_string()).unwrap_or_else(|| "-".into()),
                nic_routing,
                state,
                dash(reason),
                dash(message),
            ];
            std::iter::once(nic).chain(vlans)
        })
        .collect();
    if rows.is_empty() {
        let _ = writeln!(out, "  <none in the spec>");
    } else {
        table(&mut out, &["NAME", "MAC", "ADDRESS", "MTU", "ROUTING", "STATE", "REASON", "MESSAGE"], &rows);
    }

    if let Some(s) = s.filter(|s| !s.conditions.is_empty()) {
        let _ = writeln!(out, "\nConditions:");
        let rows: Vec<Vec<String>> = s
            .conditions
            .iter()
            .map(|c| {
                vec![
                    c.type_.clone(),
                    c.status.clone(),
                    c.reason.clone(),
                    format!("{} ago", age(c.last_transition_time.0, now)),
                    c.message.clone(),
                ]
            })
            .collect();
        table(&mut out, &["TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"], &rows);
    }

    let discovered = s.map(|s| s.discovered.as_slice()).unwrap_or_default();
    let _ = writeln!(out, "\nDiscovered NICs (configured by nobody):");
    if discovered.is_empty() {
        let _ = writeln!(out, "  <none>");
    }
    for d in discovered {
        let _ = writeln!(out, "  {}  {}  {}  {}", d.name, d.mac_address, d.state, d.driver.as_deref().unwrap_or("-"));
        if let Some(port) = &d.port {
            let id = port.id.as_deref().unwrap_or("(no id)");
            let _ = writeln!(out, "    OpenStack port {id}");
            if port.dhcp {
                let _ = writeln!(
                    out,
                    "    its subnet runs DHCP: the address is not in the metadata; openstack port show {id} -c fixed_ips"
                );
            }
        }
        let _ = writeln!(out, "    add it: kubectl multinic add-nic {} --nic {}", cr.name_any(), nic_flag(d));
    }

    let _ = writeln!(out, "\nEvents:");
    let mut events: Vec<&Event> = events.iter().collect();
    events.sort_by_key(|e| e.event_time.as_ref().map(|t| t.0));
    if events.is_empty() {
        let _ = writeln!(out, "  <none>");
    } else {
        let rows: Vec<Vec<String>> = events
            .iter()
            .rev()
            .take(10)
            .rev()
            .map(|e| {
                let when = e.series.as_ref().map(|s| s.last_observed_time.0).or(e.event_time.as_ref().map(|t| t.0));
                vec![
                    e.type_.clone().unwrap_or_default(),
                    e.reason.clone().unwrap_or_default(),
                    when.map(|t| age(t, now)).unwrap_or_else(|| "-".into()),
                    e.reporting_instance.clone().or(e.reporting_controller.clone()).unwrap_or_default(),
                    e.note.clone().unwrap_or_default(),
                ]
            })
            .collect();
        table(&mut out, &["TYPE", "REASON", "AGE", "FROM", "MESSAGE"], &rows);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe() {
        let cr: MultiNicNodeConfig = serde_yaml::from_str(
            r#"
apiVersion: multinic.io/v1alpha1
kind: MultiNicNodeConfig
metadata: {name: worker-2, namespace: multinic-system, generation: 3}
spec:
  nodeName: worker-2
  instanceId: b4975c5f-50bb-479f-9e7b-a430815ae852
  interfaces:
    - {id: 1, macAddress: "fa:16:3e:00:00:01", address: 11.11.11.2, cidr: 11.11.11.0/24, mtu: 1450, ipv6: {addresses: ["2001:db8:1::2/64"]},
       vlans: [{id: 100, address: 10.100.0.5, cidr: 10.100.0.0/24, mtu: 1400}]}
    - {id: 2, macAddress: "fa:16:3e:00:00:02", address: 11.11.12.3, cidr: 11.11.12.0/24, gateway: 11.11.12.1, sourceRouting: true}
status:
  state: Failed
  reason: PartiallyFailed
  message: "1/2 configured; not configured: multinic1 (MacNotFound)"
  observedGeneration: 3
  backend: networkmanager
  lastUpdated: "2026-11-23T11:55:00Z"
  conditions:
    - {type: Ready, status: "False", reason: PartiallyFailed, message: "1/2 configured", lastTransitionTime: "2026-11-23T11:55:00Z"}
    - {type: Degraded, status: "True", reason: PartiallyFailed, message: "1/2 configured", lastTransitionTime: "2026-11-23T11:55:00Z"}
  interfaceStatuses:
    multinic0.100: {macAddress: "fa:16:3e:00:00:01", state: Configured, reason: Configured, message: "up with 10.100.0.5/24, VLAN 100 on multinic0, MTU 1400"}
    multinic0: {macAddress: "fa:16:3e:00:00:01", state: Configured, reason: Configured, message: "up with 11.11.11.2/24, MTU 1450"}
    multinic1: {macAddress: "fa:16:3e:00:00:02", state: NotFound, reason: MacNotFound, message: "no link with MAC fa:16:3e:00:00:02 on this host"}
  discovered:
    - {macAddress: "fa:16:3e:9d:de:e0", name: ens9, state: down, driver: virtio_net, mtu: 1500}
    - {macAddress: "fa:16:3e:9d:de:e1", name: ens10, state: down, driver: virtio_net, mtu: 1500,
       port: {id: 7d0b5f4e-3d1a-4a4e-9a3c-0e0f6a1d2b05, fixedIp: 11.11.12.38, prefix: 24, mtu: 1450}}
"#,
        )
        .unwrap();
        let event: Event = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "e1", "namespace": "multinic-system"},
            "eventTime": "2026-11-23T11:55:00.000000Z",
            "type": "Warning", "reason": "Blocked", "reportingController": "multinic.io/multinicd", "reportingInstance": "worker-2",
            "note": "multinic1 (fa:16:3e:00:00:02): MacNotFound", "action": "Reconcile"
        }))
        .unwrap();
        let now: Timestamp = "2026-11-23T12:00:00Z".parse().unwrap();
        insta::assert_snapshot!(render(&cr, &[event], now));
    }
}
