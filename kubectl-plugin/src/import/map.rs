// SPDX-License-Identifier: Apache-2.0
//! v2 `multi_interface` rows → one MultiNicNodeConfig spec per node. Pure: every
//! rule about what can be imported lives here, tested without a database.
//!
//! A node is imported whole or not at all: one row that cannot be mapped skips its
//! node (so a CR never silently lacks a NIC the node had in v2), and every such row
//! is reported with its id, column and what to do.
//!
//! A row with `vlan` 0 (or NULL) is a NIC; a row with `vlan` N is VLAN N on the NIC
//! of the same MAC (a trunk subport), which becomes an entry of that interface's
//! `vlans`. The NIC needs a row of its own: multinic gives every NIC an address.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use multinic_api::rules::{MAX_INTERFACES, VLAN_ID_MAX, VLAN_ID_MIN};
use multinic_api::{InterfaceSpec, MacAddr, MultiNicNodeConfig, MultiNicNodeConfigSpec, RouteSpec, VlanSpec, validate};

/// One row of v2's `multi_interface` table, as stored (every column may be NULL).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Row {
    pub id: i64,
    pub attached_node_name: Option<String>,
    pub mac_address: Option<String>,
    pub ip_address: Option<String>,
    pub subnet_mask: Option<String>,
    pub gateway: Option<String>,
    pub dns: Option<String>,
    pub vlan: Option<i64>,
}

/// What the import adds that v2 did not store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// MTU for every interface (v2 had none); `None` leaves the NIC's MTU alone.
    pub mtu: Option<u32>,
    /// Metric of the default route made from a row's gateway; `None`: gateways are
    /// not imported.
    pub gateway_metric: Option<u32>,
}

/// Why a row cannot be imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The row's `id`.
    pub row: i64,
    /// The column (or `spec…` path) at fault.
    pub field: String,
    /// What is wrong and what to do.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "row {}: {}: {}", self.row, self.field, self.message)
    }
}

/// One node's outcome.
#[derive(Debug, Clone, PartialEq)]
pub enum Mapped {
    /// Every row mapped; the spec is valid.
    Ready(MultiNicNodeConfigSpec),
    /// At least one row could not be mapped: nothing is imported for this node.
    Skipped(Vec<Problem>),
}

/// The whole table, mapped.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Mapping {
    /// Per node, by name.
    pub nodes: BTreeMap<String, Mapped>,
    /// Rows with no node: they belong to no CR.
    pub orphans: Vec<Problem>,
}

/// Map every row. Rows keep their `id` order within a node, so that names are
/// given in the order v2 gave them.
pub fn map(rows: &[Row], options: Options) -> Mapping {
    let mut rows: Vec<&Row> = rows.iter().collect();
    rows.sort_by_key(|r| r.id);
    let mut mapping = Mapping::default();
    let mut per_node: BTreeMap<String, Vec<&Row>> = BTreeMap::new();
    for row in rows.iter().copied() {
        match row.attached_node_name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
            Some(node) => per_node.entry(node.to_string()).or_default().push(row),
            None => mapping.orphans.push(problem(
                row,
                "attached_node_name",
                "is empty: the row belongs to no node; set it to the node's name or delete the row".into(),
            )),
        }
    }
    let macs = mac_owners(&rows);
    for (node, rows) in per_node {
        mapping.nodes.insert(node.clone(), map_node(&node, &rows, &macs, options));
    }
    mapping
}

/// Every normalized MAC with the rows that carry it: (id, node, VLAN).
type Owners = BTreeMap<MacAddr, Vec<(i64, String, i64)>>;

fn mac_owners(rows: &[&Row]) -> Owners {
    let mut owners: Owners = BTreeMap::new();
    for row in rows {
        if let Some(mac) = row.mac_address.as_deref().and_then(|m| m.trim().parse::<MacAddr>().ok()) {
            let node = row.attached_node_name.clone().unwrap_or_default();
            owners.entry(mac).or_default().push((row.id, node, row.vlan.unwrap_or(0)));
        }
    }
    owners
}

fn map_node(node: &str, rows: &[&Row], macs: &Owners, options: Options) -> Mapped {
    let mut problems = Vec::new();
    let (nic_rows, vlan_rows): (Vec<&Row>, Vec<&Row>) = rows.iter().partition(|r| r.vlan.unwrap_or(0) == 0);
    if nic_rows.len() > MAX_INTERFACES {
        // One problem, not eleven copies of it: it names every row involved.
        let ids: Vec<String> = nic_rows.iter().map(|r| r.id.to_string()).collect();
        return Mapped::Skipped(vec![problem(
            nic_rows[0],
            "attached_node_name",
            format!(
                "node {node} has {} NIC rows ({}); multinic configures at most {MAX_INTERFACES} NICs per node: delete the extra rows",
                nic_rows.len(),
                ids.join(", ")
            ),
        )]);
    }
    let mut interfaces = Vec::new();
    for row in &nic_rows {
        match map_row(row, macs, options) {
            Ok(i) => interfaces.push(i),
            Err(mut p) => problems.append(&mut p),
        }
    }
    for row in &vlan_rows {
        match map_vlan_row(row, macs, options) {
            Ok((mac, vlan)) => match interfaces.iter_mut().find(|i| i.mac_address.parse::<MacAddr>().ok() == Some(mac))
            {
                Some(nic) => nic.vlans.push(vlan),
                // Its NIC's row failed (reported) or is missing.
                None if nic_rows
                    .iter()
                    .any(|r| r.mac_address.as_deref().and_then(|m| m.trim().parse().ok()) == Some(mac)) => {}
                None => problems.push(problem(
                    row,
                    "vlan",
                    format!(
                        "{}: VLAN {} of NIC {mac}, which has no row with vlan 0; multinic gives the NIC an address \
                         of its own (the trunk's parent port): add a row for it",
                        row.vlan.unwrap_or(0),
                        row.vlan.unwrap_or(0)
                    ),
                )),
            },
            Err(mut p) => problems.append(&mut p),
        }
    }
    if !problems.is_empty() {
        return Mapped::Skipped(problems);
    }
    let spec = MultiNicNodeConfigSpec { node_name: node.to_string(), instance_id: None, interfaces };
    // The same rules as the daemon and the admission policy, so a Ready spec is
    // one the cluster accepts.
    let errors = validate(&MultiNicNodeConfig::new(node, spec.clone())).errors;
    if errors.is_empty() {
        return Mapped::Ready(spec);
    }
    Mapped::Skipped(
        errors
            .into_iter()
            .map(|e| Problem {
                row: e.interface.map(|i| nic_rows[i].id).unwrap_or(rows[0].id),
                field: e.path,
                message: e.message,
            })
            .collect(),
    )
}

/// What a NIC row and a VLAN row share, parsed.
struct Parsed {
    mac: MacAddr,
    address: Ipv4Addr,
    cidr: String,
    routes: Vec<RouteSpec>,
    dns: Vec<String>,
}

fn map_row(row: &Row, macs: &Owners, options: Options) -> Result<InterfaceSpec, Vec<Problem>> {
    let p = parse(row, macs, options)?;
    Ok(InterfaceSpec {
        id: Some(row.id),
        mtu: options.mtu,
        routes: p.routes,
        dns: p.dns,
        ..InterfaceSpec::new(p.mac.to_string(), p.address.to_string(), p.cidr)
    })
}

/// A VLAN row: the NIC's MAC and its `vlans` entry. Its MTU is its NIC's (the
/// kernel's default for a VLAN); a gateway would make a default route through the
/// VLAN, which the import does not guess.
fn map_vlan_row(row: &Row, macs: &Owners, options: Options) -> Result<(MacAddr, VlanSpec), Vec<Problem>> {
    let id = row.vlan.unwrap_or(0);
    let mut problems = Vec::new();
    if !(i64::from(VLAN_ID_MIN)..=i64::from(VLAN_ID_MAX)).contains(&id) {
        problems.push(problem(
            row,
            "vlan",
            format!("{id} is not a VLAN id; use {VLAN_ID_MIN}-{VLAN_ID_MAX}, or 0 for the NIC itself"),
        ));
    }
    let gateway = row.gateway.as_deref().map(str::trim).filter(|g| !g.is_empty());
    if let (Some(gw), Some(_)) = (gateway, options.gateway_metric) {
        problems.push(problem(
            row,
            "gateway",
            format!(
                "{gw}: a default route through VLAN {id} is not imported; empty it on this row or pass --no-gateways"
            ),
        ));
    }
    let parsed = parse(row, macs, Options { gateway_metric: None, ..options });
    match parsed {
        Ok(p) if problems.is_empty() => Ok((
            p.mac,
            VlanSpec {
                id: u16::try_from(id).unwrap_or_default(),
                address: p.address.to_string(),
                cidr: p.cidr,
                mtu: None,
                routes: p.routes,
                dns: p.dns,
                gateway: None,
                source_routing: false,
            },
        )),
        Ok(_) => Err(problems),
        Err(mut more) => {
            problems.append(&mut more);
            Err(problems)
        }
    }
}

fn parse(row: &Row, macs: &Owners, options: Options) -> Result<Parsed, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut bad = |field: &str, message: String| problems.push(problem(row, field, message));

    let text = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    let mac = match text(&row.mac_address) {
        None => {
            bad("mac_address", "is empty; set the NIC's MAC such as fa:16:3e:1c:1a:6e".into());
            None
        }
        Some(m) => match m.parse::<MacAddr>() {
            Ok(mac) => {
                // A NIC has one row per VLAN (0: the NIC itself), all on one node.
                let node = row.attached_node_name.clone().unwrap_or_default();
                let vlan = row.vlan.unwrap_or(0);
                let others: Vec<String> = macs
                    .get(&mac)
                    .into_iter()
                    .flatten()
                    .filter(|(id, n, v)| *id != row.id && (*n != node || *v == vlan))
                    .map(|(id, node, _)| format!("row {id} (node {node})"))
                    .collect();
                if !others.is_empty() {
                    bad(
                        "mac_address",
                        format!(
                            "{mac} is also in {}: a NIC has one row per VLAN, on one node; delete the stale one",
                            others.join(", ")
                        ),
                    );
                }
                Some(mac)
            }
            Err(_) => {
                bad("mac_address", format!("{m:?} is not a MAC address; write it as fa:16:3e:1c:1a:6e"));
                None
            }
        },
    };
    let address = match text(&row.ip_address).map(|a| a.parse::<Ipv4Addr>().map_err(|_| a)) {
        None => {
            bad("ip_address", "is empty; multinic sets a static address: fill it in".into());
            None
        }
        Some(Ok(a)) => Some(a),
        Some(Err(a)) => {
            bad("ip_address", format!("{a:?} is not an IPv4 address such as 11.11.11.37"));
            None
        }
    };
    let prefix = match text(&row.subnet_mask) {
        None => {
            bad("subnet_mask", "is empty; write the mask such as 255.255.255.0".into());
            None
        }
        Some(m) => match multinic_api::prefix_len(&m) {
            Some(p) => Some(p),
            None => {
                bad(
                    "subnet_mask",
                    format!("{m:?} is not a netmask; write a contiguous mask such as 255.255.255.0 (or /24)"),
                );
                None
            }
        },
    };
    let mut routes = Vec::new();
    if let (Some(gw), Some(metric)) = (text(&row.gateway), options.gateway_metric) {
        match gw.parse::<Ipv4Addr>() {
            Ok(via) => {
                routes.push(RouteSpec { to: "0.0.0.0/0".into(), via: Some(via.to_string()), metric: Some(metric) })
            }
            Err(_) => bad("gateway", format!("{gw:?} is not an IPv4 address; fix it, empty it, or pass --no-gateways")),
        }
    }
    let dns: Vec<String> = text(&row.dns)
        .map(|d| d.split([',', ';', ' ', '\t']).filter(|s| !s.is_empty()).map(str::to_string).collect())
        .unwrap_or_default();

    match (mac, address, prefix) {
        (Some(mac), Some(address), Some(prefix)) if problems.is_empty() => {
            let network = ipnet::Ipv4Net::new(address, prefix).map(|n| n.network()).unwrap_or(address);
            Ok(Parsed { mac, address, cidr: format!("{network}/{prefix}"), routes, dns })
        }
        _ => Err(problems),
    }
}

fn problem(row: &Row, field: &str, message: String) -> Problem {
    Problem { row: row.id, field: field.to_string(), message }
}

#[cfg(test)]
mod tests;
