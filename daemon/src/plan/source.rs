// SPDX-License-Identifier: Apache-2.0
//! Source routing (`sourceRouting: true`): what reaches a secondary NIC's address
//! is answered through that NIC, not through the node's default route (which
//! `rp_filter` and OpenStack's port security drop as asymmetric). `multinicN` gets
//! table `100 + N`, holding its subnet, its `routes` and `default via gateway`,
//! and a rule `from <address> lookup <table>` at `sourceRoutingPriority + N`; its
//! VLAN `multinicN.ID` the same in table `10000 × (N + 1) + ID`, its rule at its
//! NIC's priority. The main table keeps exactly what it has without source routing.
//!
//! Pure: what the table and rule must hold, whether the kernel holds it, and
//! whether the table is someone else's.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use multinic_api::{ValidInterface, ValidIp4, ValidRoute, ValidVlan};
use serde::Serialize;

use crate::observe::{PolicyRouting, Rule, TableRoute};

/// Default `sourceRoutingPriority`: after the rules CNIs install (Calico, Cilium
/// and kube-router use priorities below it), before `main` (32766).
pub const DEFAULT_PRIORITY: u32 = 32000;

/// The table and rule priority of one interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SourceRouting {
    /// `100 + N`.
    pub table: u32,
    /// `sourceRoutingPriority + N`.
    pub priority: u32,
}

impl SourceRouting {
    /// Those of `multinicN`, when `d` asks for source routing and the name is one
    /// of multinic's.
    pub fn of(d: &ValidInterface, name: &str, base_priority: u32) -> Option<SourceRouting> {
        if !d.source_routing {
            return None;
        }
        let n = multinic_api::multinic_index(name)?;
        Some(SourceRouting { table: multinic_api::source_table(name)?, priority: base_priority + n })
    }

    /// Those of VLAN `v` on `multinicN` (named `nic`), when it asks for source
    /// routing: its own table, its NIC's priority (the rules differ by source).
    pub fn of_vlan(v: &ValidVlan, nic: &str, base_priority: u32) -> Option<SourceRouting> {
        if !v.source_routing {
            return None;
        }
        let n = multinic_api::multinic_index(nic)?;
        Some(SourceRouting { table: multinic_api::vlan_source_table(nic, v.id)?, priority: base_priority + n })
    }
}

/// The IPv4 side that source routing reads: an interface's or a VLAN's.
#[derive(Clone, Copy, Debug)]
pub struct Side<'a> {
    /// Address and prefix length.
    pub address: Ipv4Net,
    /// Its routes.
    pub routes: &'a [ValidRoute],
    /// Its subnet's gateway.
    pub gateway: Option<Ipv4Addr>,
}

impl<'a> From<&'a ValidInterface> for Side<'a> {
    fn from(d: &'a ValidInterface) -> Self {
        Side { address: d.address, routes: &d.routes, gateway: d.gateway }
    }
}

impl<'a> From<&'a ValidIp4> for Side<'a> {
    fn from(ip: &'a ValidIp4) -> Self {
        Side { address: ip.address, routes: &ip.routes, gateway: ip.gateway }
    }
}

/// One route the table must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wanted {
    /// Destination.
    pub to: Ipv4Net,
    /// Next hop; on-link when `None`.
    pub via: Option<Ipv4Addr>,
    /// Metric, when the spec sets one.
    pub metric: Option<u32>,
}

/// The routes of the interface's table: its subnet (on-link, from its address),
/// its `routes`, and `default via gateway`.
pub fn routes<'a>(d: impl Into<Side<'a>>) -> Vec<Wanted> {
    let d = d.into();
    let subnet = d.address.trunc();
    let mut out = vec![Wanted { to: subnet, via: None, metric: None }];
    // A route to the subnet itself would be the same kernel route twice.
    out.extend(d.routes.iter().filter(|r| r.to != subnet).map(|r| Wanted { to: r.to, via: r.via, metric: r.metric }));
    if let Some(gateway) = d.gateway
        && !d.routes.iter().any(|r| r.to.prefix_len() == 0)
    {
        out.push(Wanted { to: Ipv4Net::default(), via: Some(gateway), metric: None });
    }
    out
}

/// The rule's `from`: the interface's address alone.
pub fn from<'a>(d: impl Into<Side<'a>>) -> Ipv4Net {
    Ipv4Net::new(d.into().address.addr(), 32).expect("/32 is a valid prefix length")
}

/// What the kernel holds for `d` on link `index` once its manager applied it: the
/// rule, and the routes of the table.
pub fn expected<'a>(d: impl Into<Side<'a>>, sr: SourceRouting, index: u32) -> PolicyRouting {
    let d = d.into();
    PolicyRouting {
        rules: vec![Rule { priority: sr.priority, from: Some(from(d)), table: sr.table }],
        routes: routes(d)
            .into_iter()
            .map(|w| TableRoute { table: sr.table, to: w.to, gateway: w.via, oif: Some(index) })
            .collect(),
    }
}

/// Does the kernel hold the table and the rule of `d` on link `index`? Returns
/// the differences.
pub fn verify<'a>(
    d: impl Into<Side<'a>>,
    sr: SourceRouting,
    index: u32,
    seen: &PolicyRouting,
) -> Result<(), Vec<String>> {
    let d = d.into();
    let mut diffs = Vec::new();
    let want = expected(d, sr, index);
    for rule in &want.rules {
        if !seen.rules.contains(rule) {
            diffs.push(format!("no rule \"from {} lookup {} priority {}\"", d.address.addr(), sr.table, sr.priority));
        }
    }
    for stale in seen.rules.iter().filter(|r| r.table == sr.table && !want.rules.contains(r)) {
        diffs.push(format!("a stale rule looks up table {}: {}", sr.table, describe(stale)));
    }
    for w in &want.routes {
        // The manager may leave the output link out of a dumped route.
        let present = seen.routes.iter().any(|r| {
            r.table == w.table && r.to == w.to && r.gateway == w.gateway && r.oif.is_none_or(|o| Some(o) == w.oif)
        });
        if !present {
            let via = w.gateway.map(|v| format!(" via {v}")).unwrap_or_default();
            diffs.push(format!("table {} has no route {}{via}", sr.table, w.to));
        }
    }
    if diffs.is_empty() { Ok(()) } else { Err(diffs) }
}

/// Why table `sr.table` is not free for `d` on link `index`: a route in it leaves
/// through another link, or a rule looks it up for a source that is neither `d`'s
/// address nor one multinic gave the link before (`ours`).
pub fn in_use(sr: SourceRouting, index: u32, ours: &[Ipv4Net], seen: &PolicyRouting) -> Option<String> {
    if let Some(r) = seen.routes.iter().find(|r| r.table == sr.table && r.oif.is_some_and(|o| o != index)) {
        return Some(format!("route {} of table {} leaves through another link", r.to, sr.table));
    }
    let ours = |net: &Ipv4Net| net.prefix_len() == 32 && ours.iter().any(|o| o.addr() == net.addr());
    seen.rules
        .iter()
        .find(|r| r.table == sr.table && !r.from.as_ref().is_some_and(ours))
        .map(|r| format!("rule \"{}\" looks up table {}", describe(r), sr.table))
}

fn describe(r: &Rule) -> String {
    let from = r.from.map(|f| f.to_string()).unwrap_or_else(|| "all".into());
    format!("{}: from {from} lookup {}", r.priority, r.table)
}
