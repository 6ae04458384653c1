// SPDX-License-Identifier: Apache-2.0
//! One classification of every link, used by the planner, `inventory` and
//! `status.discovered` alike (DESIGN.md, "Safety"). Pure: a function of what was
//! observed.
//!
//! The primary is what keeps the node reachable: every link that carries a default
//! route or the path to the API server. It and everything under it (its ports, its
//! lower links) are never touched. One exception, because stock NetworkManager
//! (and many images' networkd) configure every new NIC by themselves: a default
//! route that only NM's own generated DHCP profile or a networkd catch-all put on a
//! NIC does not make that NIC the primary — unless it is the best default route or
//! the way to the API server, which is what an image whose primary runs on that
//! very configuration looks like.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

use multinic_api::{MacAddr, Reason};
use serde::Serialize;

use super::Owned;
use super::safety::Policy;
use crate::observe::{DefaultRoute, Generated, Host, Link};

/// What a link is to multinic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "role", rename_all = "camelCase")]
pub enum Role {
    /// An Ethernet NIC that nobody configures: a candidate.
    Free,
    /// multinic's own configuration is on it (by MAC).
    Owned {
        /// The name multinic gave it.
        name: String,
    },
    /// Held only by what the manager put on it by itself (see [`Generated`]):
    /// taken over when its MAC is in the spec.
    Generated {
        /// That configuration, described.
        profile: String,
    },
    /// Up with addresses that neither multinic nor the manager's own catch-all
    /// configuration gave it.
    InUse {
        /// Those addresses.
        addresses: Vec<String>,
    },
    /// Never touched.
    Protected(Protection),
}

/// Why a link is never touched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "why", rename_all = "camelCase")]
pub enum Protection {
    /// The loopback device.
    Loopback,
    /// It carries a default route.
    DefaultRoute,
    /// The API server is reached through it.
    ApiServer {
        /// The API server's address.
        server: IpAddr,
    },
    /// It is a port or a lower link of another link.
    Under {
        /// `port` (of a bridge, bond, team, OVS) or `lower` (of a VLAN, macvlan, …).
        relation: Relation,
        /// The link it is under.
        holder: String,
        /// The primary link above it, if any, and why that one is primary.
        primary: Option<(String, Box<Protection>)>,
    },
    /// Its name matches a protected pattern (built in or configured).
    Name {
        /// The pattern.
        pattern: String,
    },
    /// Not an Ethernet NIC: a virtual link of this kind, or another link type.
    NotANic {
        /// `bridge`, `bond`, `vxlan`, … or `not Ethernet`.
        kind: String,
    },
}

/// How a link hangs under another one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Relation {
    /// A port of a bridge, bond, team or OVS bridge.
    Port,
    /// The link a VLAN, macvlan or similar is stacked on.
    Lower,
}

impl Protection {
    /// CamelCase reason for status.
    pub fn reason(&self) -> Reason {
        match self {
            Protection::Loopback => Reason::Loopback,
            Protection::DefaultRoute => Reason::DefaultRouteInterface,
            Protection::ApiServer { .. } => Reason::APIServerInterface,
            Protection::Under { .. } => Reason::UnderAnotherLink,
            Protection::Name { .. } => Reason::ProtectedInterface,
            Protection::NotANic { .. } => Reason::NotANic,
        }
    }
}

impl fmt::Display for Protection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protection::Loopback => write!(f, "the loopback device"),
            Protection::DefaultRoute => write!(f, "holds the default route (primary network)"),
            Protection::ApiServer { server } => write!(f, "the API server {server} is reached through it"),
            Protection::Under { relation, holder, primary } => {
                let rel = match relation {
                    Relation::Port => "port of",
                    Relation::Lower => "lower link of",
                };
                match primary {
                    Some((top, why)) if top == holder => write!(f, "{rel} {holder}, which {}", primary_why(why)),
                    Some((top, why)) => write!(f, "{rel} {holder}, under {top}, which {}", primary_why(why)),
                    None => write!(f, "{rel} {holder}"),
                }
            }
            Protection::Name { pattern } => write!(f, "its name matches protected pattern {pattern:?}"),
            Protection::NotANic { kind } => write!(f, "a {kind} link, not an Ethernet NIC"),
        }
    }
}

fn primary_why(p: &Protection) -> String {
    match p {
        Protection::DefaultRoute => "holds the default route".into(),
        Protection::ApiServer { server } => format!("carries the route to the API server {server}"),
        other => other.to_string(),
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::Free => write!(f, "free"),
            Role::Owned { name } => write!(f, "multinic: {name}"),
            Role::Generated { profile } => {
                write!(f, "{profile} (taken over when its MAC is in the spec)")
            }
            Role::InUse { addresses } => write!(f, "in use: up with {}", addresses.join(", ")),
            Role::Protected(p) => write!(f, "protected: {p}"),
        }
    }
}

/// The role of every link, by index. `explicit_default` are the MACs whose spec
/// asks for a default route: on a link multinic owns, that route is its own.
/// `vlans`: the VLAN links multinic owns, by name, which protect no parent.
pub fn classify(
    host: &Host,
    owned: &[Owned],
    vlans: &[String],
    explicit_default: &[MacAddr],
    policy: &Policy,
) -> HashMap<u32, Role> {
    let owned_of = |l: &Link| l.hw_mac().and_then(|m| owned.iter().find(|o| o.mac == m));
    let generated_of = |l: &Link| host.generated.iter().find(|g| g.iface == l.name);
    let primary = primaries(host, owned, explicit_default);
    host.links
        .iter()
        .map(|l| {
            let role = match protection(host, l, &primary, policy, vlans) {
                Some(p) => Role::Protected(p),
                None => match (owned_of(l), generated_of(l)) {
                    (Some(o), _) => Role::Owned { name: o.name.clone() },
                    (None, Some(g)) => Role::Generated { profile: g.to_string() },
                    (None, None) => {
                        let foreign: Vec<String> = l.given_addresses().map(|a| a.to_string()).collect();
                        if l.up && !foreign.is_empty() { Role::InUse { addresses: foreign } } else { Role::Free }
                    }
                },
            };
            (l.index, role)
        })
        .collect()
}

/// The links that keep the node reachable, with why: the way to the API server,
/// every link with a default route that someone configured for it, and a link
/// whose default route only the manager's own catch-all put there when that route
/// is what the node's traffic takes — no such link's default route is at least as
/// good (ties: `DHCP` on every NIC gives them all metric 1024 on networkd).
fn primaries(host: &Host, owned: &[Owned], explicit_default: &[MacAddr]) -> HashMap<u32, Protection> {
    let mut out = HashMap::new();
    let generated =
        |oif: u32| host.link(oif).is_some_and(|l| host.generated.iter().any(|g: &Generated| g.iface == l.name));
    let ours = |oif: u32| {
        host.link(oif)
            .and_then(Link::hw_mac)
            .is_some_and(|m| owned.iter().any(|o| o.mac == m) && explicit_default.contains(&m))
    };
    // An IPv6 default route that router advertisements put on a NIC multinic took
    // them for is multinic's doing (verify reports it), not the node's primary.
    let slaac = |oif: u32| {
        host.link(oif).and_then(Link::hw_mac).is_some_and(|m| owned.iter().any(|o| o.mac == m && o.accept_ra))
    };
    let routes: Vec<&DefaultRoute> = host
        .defaults
        .iter()
        .filter(|r| host.link(r.oif).is_some() && !ours(r.oif) && !(r.v6 && slaac(r.oif)))
        .collect();
    for r in routes.iter().filter(|r| !generated(r.oif)) {
        out.insert(r.oif, Protection::DefaultRoute);
    }
    let api = host.api.as_ref().and_then(|a| a.oif.map(|oif| (oif, a.to)));
    let firm = |oif: u32| out.contains_key(&oif) || api.is_some_and(|(a, _)| a == oif);
    let firm_metrics = |v6: bool| routes.iter().filter(move |r| r.v6 == v6 && firm(r.oif)).map(|r| r.metric);
    let mut catch_all = Vec::new();
    for r in routes.iter().filter(|r| generated(r.oif) && !firm(r.oif)) {
        let carries = match firm_metrics(r.v6).min() {
            Some(best_firm) => r.metric < best_firm,
            None => !routes.iter().any(|o| o.v6 == r.v6 && o.metric < r.metric),
        };
        if carries {
            catch_all.push(r.oif);
        }
    }
    for oif in catch_all {
        out.insert(oif, Protection::DefaultRoute);
    }
    if let Some((oif, server)) = api {
        out.insert(oif, Protection::ApiServer { server });
    }
    out
}

fn protection(
    host: &Host,
    l: &Link,
    primary: &HashMap<u32, Protection>,
    policy: &Policy,
    vlans: &[String],
) -> Option<Protection> {
    if l.loopback {
        return Some(Protection::Loopback);
    }
    if let Some(p) = primary.get(&l.index) {
        return Some(p.clone());
    }
    if let Some((relation, holder)) = holder_of(host, l, vlans) {
        let top = chain_above(host, l).into_iter().find_map(|up| primary.get(&up.index).map(|p| (up.name.clone(), p)));
        return Some(Protection::Under {
            relation,
            holder: holder.name.clone(),
            primary: top.map(|(name, p)| (name, Box::new(p.clone()))),
        });
    }
    if let Some(pattern) = policy.protected_by(&l.name) {
        return Some(Protection::Name { pattern: pattern.to_string() });
    }
    if !l.ether {
        return Some(Protection::NotANic { kind: "non-Ethernet".into() });
    }
    // veth is the kernel's cable into another namespace: what labs and nested
    // nodes hand a machine as its NICs. CNI veths are caught by their names.
    match l.kind.as_deref() {
        None | Some("veth") => None,
        Some(kind) => Some(Protection::NotANic { kind: kind.to_string() }),
    }
}

/// The link directly above `l`: its master, else a link stacked on it.
fn holder_of<'a>(host: &'a Host, l: &Link, vlans: &[String]) -> Option<(Relation, &'a Link)> {
    if let Some(m) = l.master.and_then(|m| host.link(m)) {
        return Some((Relation::Port, m));
    }
    let ours = |u: &Link| u.kind.as_deref() == Some("vlan") && vlans.contains(&u.name);
    host.links.iter().find(|u| u.lower == Some(l.index) && u.index != l.index && !ours(u)).map(|u| (Relation::Lower, u))
}

/// Every link above `l`, nearest first (masters and uppers, transitively).
fn chain_above<'a>(host: &'a Host, l: &Link) -> Vec<&'a Link> {
    let mut out: Vec<&Link> = Vec::new();
    let mut todo = vec![l.index];
    while let Some(i) = todo.pop() {
        let ups = host
            .links
            .iter()
            .filter(|u| u.index != i && (host.link(i).and_then(|x| x.master) == Some(u.index) || u.lower == Some(i)));
        for u in ups {
            if !out.iter().any(|o| o.index == u.index) && u.index != l.index {
                out.push(u);
                todo.push(u.index);
            }
        }
    }
    out
}
