// SPDX-License-Identifier: Apache-2.0
//! `kubectl multinic status`: one row per node, as a kubectl user expects. Pure:
//! the rows are computed from the objects and the time, then rendered.

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use multinic_api::{Health, InterfaceState, MultiNicNodeConfig, NodeState};

use multinic_api::table::{self, Colour, Layout};

/// One node's row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// Node (and CR) name.
    pub node: String,
    /// Namespace of the CR.
    pub namespace: String,
    /// State as the daemon reported it, or `Pending` when it has not.
    pub state: NodeState,
    /// Configured interfaces / interfaces in the spec.
    pub ready: String,
    /// Interfaces failed, blocked or not found.
    pub failed: usize,
    /// Backend the daemon uses.
    pub backend: String,
    /// Age of the last status change.
    pub updated: String,
    /// What the daemon says, or why the row is stale.
    pub message: String,
    /// `name=State` per interface (for `-o wide`).
    pub interfaces: String,
    /// Everything configured and current.
    pub healthy: bool,
}

/// The rows for `items`, sorted by namespace and node.
pub fn rows(items: &[MultiNicNodeConfig], now: Timestamp) -> Vec<Row> {
    let mut rows: Vec<Row> = items.iter().map(|cr| row(cr, now)).collect();
    rows.sort_by(|a, b| (&a.namespace, &a.node).cmp(&(&b.namespace, &b.node)));
    rows
}

fn row(cr: &MultiNicNodeConfig, now: Timestamp) -> Row {
    // Each VLAN has a status entry of its own.
    let total: usize = cr.spec.interfaces.iter().map(|i| 1 + i.vlans.len()).sum();
    let s = cr.status.as_ref();
    let configured = s.map(|s| s.interface_statuses.values().filter(|i| i.state == InterfaceState::Configured).count());
    let failed = s.map(|s| s.interface_statuses.values().filter(|i| i.state.is_failure()).count()).unwrap_or(0);
    let health = cr.health();
    let said = || s.and_then(|s| s.message.clone()).unwrap_or_default();
    let (state, message) = match health {
        Health::NotReported => (NodeState::Pending, "no daemon has reported for this node yet".to_string()),
        Health::Stale { observed, generation } => (
            s.and_then(|s| s.state).unwrap_or_default(),
            format!("stale: the daemon has seen generation {observed}, the spec is at {generation}; {}", said()),
        ),
        Health::Current(state) => (state, said()),
    };
    let mut interfaces: Vec<String> = s
        .map(|s| {
            s.interface_statuses
                .iter()
                .map(|(name, i)| {
                    // `+source`: answers through its own table (sourceRouting).
                    // A VLAN's entry (`multinic0.100`) carries its NIC's MAC.
                    let nic = cr.spec.interfaces.iter().find(|sp| sp.mac_address.eq_ignore_ascii_case(&i.mac_address));
                    let routed = match name.split_once('.') {
                        Some((_, id)) => {
                            nic.is_some_and(|sp| sp.vlans.iter().any(|v| v.source_routing && id.parse() == Ok(v.id)))
                        }
                        None => nic.is_some_and(|sp| sp.source_routing),
                    };
                    format!("{name}={}{}", i.state, if routed { "+source" } else { "" })
                })
                .collect()
        })
        .unwrap_or_default();
    interfaces.sort();
    Row {
        node: cr.name_any(),
        namespace: cr.namespace().unwrap_or_default(),
        state,
        ready: format!("{}/{total}", configured.unwrap_or(0)),
        failed,
        backend: s.and_then(|s| s.backend.clone()).unwrap_or_else(|| "-".into()),
        updated: s.and_then(|s| s.last_updated.as_ref()).map(|t| age(t.0, now)).unwrap_or_else(|| "-".into()),
        message,
        interfaces: if interfaces.is_empty() { "-".into() } else { interfaces.join(",") },
        healthy: health.is_healthy(),
    }
}

/// kubectl's age format: `45s`, `12m`, `5h`, `3d`.
pub fn age(then: Timestamp, now: Timestamp) -> String {
    let secs = (now.as_second() - then.as_second()).max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 2 * 3600 => format!("{}m", s / 60),
        s if s < 2 * 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// How to render the table.
#[derive(Clone, Copy, Debug, Default)]
pub struct Style {
    /// Add the interface column.
    pub wide: bool,
    /// Leave out the header line.
    pub no_headers: bool,
    /// ANSI colours for the state.
    pub color: bool,
    /// Add a NAMESPACE column (`-A`).
    pub namespaces: bool,
}

/// The table, kubectl style: upper-case headers, columns three spaces apart.
pub fn render(rows: &[Row], style: Style) -> String {
    let mut header = vec!["NODE", "STATE", "READY", "FAILED", "BACKEND", "UPDATED", "MESSAGE"];
    if style.namespaces {
        header.insert(0, "NAMESPACE");
    }
    if style.wide {
        header.insert(header.len() - 1, "INTERFACES");
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut c = vec![
                r.node.clone(),
                r.state.to_string(),
                r.ready.clone(),
                r.failed.to_string(),
                r.backend.clone(),
                r.updated.clone(),
                r.message.clone(),
            ];
            if style.namespaces {
                c.insert(0, r.namespace.clone());
            }
            if style.wide {
                c.insert(c.len() - 1, r.interfaces.clone());
            }
            c
        })
        .collect();
    let layout = Layout {
        indent: "",
        gap: 3,
        header: !style.no_headers,
        paint: style.color.then(|| (usize::from(style.namespaces) + 1, rows.iter().map(|r| colour(r.state)).collect())),
    };
    table::render(&header, &cells, &layout)
}

fn colour(state: NodeState) -> Colour {
    match state {
        NodeState::Configured => Colour::Green,
        NodeState::Failed => Colour::Red,
        NodeState::Pending | NodeState::InProgress => Colour::Yellow,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cr(yaml: &str) -> MultiNicNodeConfig {
        serde_yaml::from_str(yaml).unwrap()
    }

    fn fixtures() -> Vec<MultiNicNodeConfig> {
        vec![
            cr(r#"
apiVersion: multinic.io/v1alpha1
kind: MultiNicNodeConfig
metadata: {name: worker-2, namespace: multinic-system, generation: 3}
spec:
  nodeName: worker-2
  interfaces:
    - {macAddress: "fa:16:3e:00:00:01", address: 11.11.11.2, cidr: 11.11.11.0/24, gateway: 11.11.11.1, sourceRouting: true}
    - {macAddress: "fa:16:3e:00:00:02", address: 11.11.11.3, cidr: 11.11.11.0/24}
status:
  state: Failed
  reason: PartiallyFailed
  message: "1/2 configured; not configured: multinic1 (MacNotFound)"
  observedGeneration: 3
  backend: networkd
  lastUpdated: "2026-11-23T10:00:00Z"
  interfaceStatuses:
    multinic0: {macAddress: "fa:16:3e:00:00:01", state: Configured}
    multinic1: {macAddress: "fa:16:3e:00:00:02", state: NotFound, reason: MacNotFound}
"#),
            cr(r#"
apiVersion: multinic.io/v1alpha1
kind: MultiNicNodeConfig
metadata: {name: worker-1, namespace: multinic-system, generation: 2}
spec:
  nodeName: worker-1
  interfaces:
    - {macAddress: "fa:16:3e:00:01:01", address: 11.11.11.12, cidr: 11.11.11.0/24}
status:
  state: Configured
  message: 1/1 interfaces configured
  observedGeneration: 2
  backend: networkmanager
  lastUpdated: "2026-11-23T11:58:00Z"
  interfaceStatuses:
    multinic0: {macAddress: "fa:16:3e:00:01:01", state: Configured}
"#),
            cr(r#"
apiVersion: multinic.io/v1alpha1
kind: MultiNicNodeConfig
metadata: {name: worker-3, namespace: multinic-system, generation: 5}
spec:
  nodeName: worker-3
  interfaces: []
status:
  state: Configured
  message: 0/0 interfaces configured
  observedGeneration: 4
  lastUpdated: "2026-11-20T12:00:00Z"
"#),
            cr(r#"
apiVersion: multinic.io/v1alpha1
kind: MultiNicNodeConfig
metadata: {name: worker-4, namespace: multinic-system, generation: 1}
spec:
  nodeName: worker-4
  interfaces:
    - {macAddress: "fa:16:3e:00:04:01", address: 11.11.11.40, cidr: 11.11.11.0/24}
"#),
        ]
    }

    fn now() -> Timestamp {
        "2026-11-23T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn table() {
        insta::assert_snapshot!(render(&rows(&fixtures(), now()), Style::default()));
    }

    #[test]
    fn table_wide_all_namespaces() {
        insta::assert_snapshot!(render(
            &rows(&fixtures(), now()),
            Style { wide: true, namespaces: true, ..Style::default() }
        ));
    }

    #[test]
    fn health_and_staleness() {
        let r = rows(&fixtures(), now());
        let by = |n: &str| r.iter().find(|r| r.node == n).unwrap().clone();
        assert!(by("worker-1").healthy);
        assert!(!by("worker-2").healthy);
        assert!(!by("worker-3").healthy && by("worker-3").message.starts_with("stale"));
        assert_eq!(by("worker-4").state, NodeState::Pending);
        assert!(!render(&r, Style { no_headers: true, ..Style::default() }).contains("NODE"));
        assert!(render(&r, Style { color: true, ..Style::default() }).contains("\x1b[32mConfigured"));
    }
}
