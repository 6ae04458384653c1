// SPDX-License-Identifier: Apache-2.0
//! Routing conflicts, refused before anything is written: a subnet or route of a
//! secondary interface must never take traffic away from the primary network — its
//! own subnets, its default gateway, the API server — and must not be absurdly wide.
//! A route covering half the address space or more would take over from the default
//! route, so it counts as one: a default route must be listed as `0.0.0.0/0`, which
//! is then checked against the API server path when applied.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use multinic_api::ValidInterface;
use serde::Serialize;

use super::classify::{Protection, Role};
use crate::observe::Host;

/// A subnet or route of the spec that would cut into the primary network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "conflict", rename_all = "camelCase")]
pub enum Conflict {
    /// Shorter than `minPrefixLength` (IPv4) or [`MIN_IPV6_PREFIX`].
    TooWide {
        /// `cidr`, `routes[N].to`, `ipv6.addresses[N]` or `ipv6.routes[N].to`.
        field: String,
        /// The prefix.
        prefix: IpNet,
        /// The minimum.
        min: u8,
    },
    /// A route of /1 (or wider, short of /0): a default route in disguise.
    HalfTheSpace {
        /// `routes[N].to` or `ipv6.routes[N].to`.
        field: String,
        /// The prefix.
        prefix: IpNet,
    },
    /// Overlaps a subnet of the primary network.
    OverlapsPrimary {
        /// The field.
        field: String,
        /// The prefix.
        prefix: IpNet,
        /// The primary's subnet.
        primary: IpNet,
        /// The primary link.
        link: String,
    },
    /// Contains the default gateway.
    CoversGateway {
        /// The field.
        field: String,
        /// The prefix.
        prefix: IpNet,
        /// The gateway.
        gateway: IpAddr,
    },
    /// Contains the API server's address.
    CoversApiServer {
        /// The field.
        field: String,
        /// The prefix.
        prefix: IpNet,
        /// The API server.
        server: IpAddr,
    },
    /// The source-routing table is used by someone else.
    TableInUse {
        /// `100 + N`.
        table: u32,
        /// By what.
        why: String,
    },
}

/// No IPv6 subnet or route shorter than this (an explicit `::/0` aside): a site's
/// allocation is a /48, an ISP's a /32; shorter ones take the node's traffic.
pub const MIN_IPV6_PREFIX: u8 = 16;

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Conflict::TooWide { field, prefix: p @ IpNet::V4(_), min } => {
                write!(f, "{field} {p} is shorter than minPrefixLength /{min}")
            }
            Conflict::TooWide { field, prefix, min } => {
                write!(f, "{field} {prefix} is shorter than /{min}, wider than any one site's IPv6 allocation")
            }
            Conflict::HalfTheSpace { field, prefix } => write!(
                f,
                "{field} {prefix} covers half the address space or more and would take over from the default route; \
                 list 0.0.0.0/0 if a default route is meant"
            ),
            Conflict::OverlapsPrimary { field, prefix, primary, link } => {
                write!(f, "{field} {prefix} overlaps {primary} of the primary network on {link}")
            }
            Conflict::CoversGateway { field, prefix, gateway } => {
                write!(f, "{field} {prefix} contains the default gateway {gateway}")
            }
            Conflict::CoversApiServer { field, prefix, server } => {
                write!(f, "{field} {prefix} contains the API server's address {server}")
            }
            Conflict::TableInUse { table, why } => write!(
                f,
                "sourceRouting needs routing table {table}, which is in use: {why}; free the table or turn sourceRouting off"
            ),
        }
    }
}

/// The first conflict of `d` with the primary network, if any; `min` is
/// `minPrefixLength` (IPv4).
pub(crate) fn conflict(d: &ValidInterface, host: &Host, roles: &HashMap<u32, Role>, min: u8) -> Option<Conflict> {
    let primary: Vec<(IpNet, &str)> = host
        .links
        .iter()
        .filter(|l| {
            matches!(
                roles.get(&l.index),
                Some(Role::Protected(Protection::DefaultRoute | Protection::ApiServer { .. }))
            )
        })
        .flat_map(|l| l.given_addresses().map(move |a| (a.trunc(), l.name.as_str())))
        .collect();
    let gateways: Vec<IpAddr> = host
        .defaults
        .iter()
        .filter(|r| matches!(roles.get(&r.oif), Some(Role::Protected(_))))
        .filter_map(|r| r.gateway)
        .collect();
    let server = host.api.as_ref().map(|a| a.to);

    // (field, prefix, a route rather than the NIC's own subnet)
    let subnet = std::iter::once(("cidr".to_string(), IpNet::V4(d.address.trunc()), false));
    let routes = d.routes.iter().enumerate().map(|(i, r)| (format!("routes[{i}].to"), IpNet::V4(r.to), true));
    let v6 = d.ipv6.iter().flat_map(|v6| {
        let subnets =
            v6.addresses.iter().enumerate().map(|(i, a)| (format!("ipv6.addresses[{i}]"), IpNet::V6(a.trunc()), false));
        let routes = v6.routes.iter().enumerate().map(|(i, r)| (format!("ipv6.routes[{i}].to"), IpNet::V6(r.to), true));
        subnets.chain(routes)
    });
    // A VLAN's subnet and routes are the NIC's to answer for: they block it.
    let vlans = d.vlans.iter().enumerate().flat_map(|(v, vlan)| {
        let subnet = std::iter::once((format!("vlans[{v}].cidr"), IpNet::V4(vlan.ip.address.trunc()), false));
        let routes = vlan
            .ip
            .routes
            .iter()
            .enumerate()
            .map(move |(i, r)| (format!("vlans[{v}].routes[{i}].to"), IpNet::V4(r.to), true));
        subnet.chain(routes)
    });
    for (field, prefix, route) in subnet.chain(routes).chain(v6).chain(vlans) {
        if prefix.prefix_len() == 0 && route {
            // An explicit default route: whether it takes the API server's path is
            // checked when it is applied.
            continue;
        }
        if prefix.prefix_len() <= 1 && route {
            return Some(Conflict::HalfTheSpace { field, prefix });
        }
        let min = if matches!(prefix, IpNet::V4(_)) { min } else { MIN_IPV6_PREFIX };
        if prefix.prefix_len() < min {
            return Some(Conflict::TooWide { field, prefix, min });
        }
        if let Some((p, link)) = primary.iter().find(|(p, _)| p.contains(&prefix.network()) || prefix.contains(p)) {
            return Some(Conflict::OverlapsPrimary { field, prefix, primary: *p, link: link.to_string() });
        }
        if let Some(gateway) = gateways.iter().find(|g| prefix.contains(*g)) {
            return Some(Conflict::CoversGateway { field, prefix, gateway: *gateway });
        }
        if let Some(server) = server.filter(|s| prefix.contains(s)) {
            return Some(Conflict::CoversApiServer { field, prefix, server });
        }
    }
    None
}
