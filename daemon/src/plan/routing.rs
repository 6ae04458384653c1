// SPDX-License-Identifier: Apache-2.0
//! Routing conflicts, refused before anything is written: a subnet or route of a
//! secondary interface must never take traffic away from the primary network — its
//! own subnets, its default gateway, the API server — and must not be absurdly wide.
//! A route covering half the address space or more would take over from the default
//! route, so it counts as one: a default route must be listed as `0.0.0.0/0`, which
//! is then checked against the API server path when applied.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::{Ipv4Net, Ipv6Net};
use multinic_api::ValidInterface;
use serde::Serialize;

use super::classify::{Protection, Role};
use crate::observe::Host;

/// A subnet or route of the spec that would cut into the primary network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "conflict", rename_all = "camelCase")]
pub enum Conflict {
    /// Shorter than `minPrefixLength`.
    TooWide {
        /// `cidr` or `routes[N].to`.
        field: String,
        /// The prefix.
        prefix: Ipv4Net,
        /// The configured minimum.
        min: u8,
    },
    /// A route of /1 (or wider, short of /0): a default route in disguise.
    HalfTheSpace {
        /// `routes[N].to`.
        field: String,
        /// The prefix.
        prefix: Ipv4Net,
    },
    /// Overlaps a subnet of the primary network.
    OverlapsPrimary {
        /// `cidr` or `routes[N].to`.
        field: String,
        /// The prefix.
        prefix: Ipv4Net,
        /// The primary's subnet.
        primary: Ipv4Net,
        /// The primary link.
        link: String,
    },
    /// Contains the default gateway.
    CoversGateway {
        /// `cidr` or `routes[N].to`.
        field: String,
        /// The prefix.
        prefix: Ipv4Net,
        /// The gateway.
        gateway: Ipv4Addr,
    },
    /// Contains the API server's address.
    CoversApiServer {
        /// `cidr` or `routes[N].to`.
        field: String,
        /// The prefix.
        prefix: Ipv4Net,
        /// The API server.
        server: Ipv4Addr,
    },
    /// An IPv6 subnet or route overlaps an IPv6 subnet of the primary network.
    OverlapsPrimary6 {
        /// `ipv6.addresses[N]` or `ipv6.routes[N].to`.
        field: String,
        /// The prefix.
        prefix: Ipv6Net,
        /// The primary's subnet.
        primary: Ipv6Net,
        /// The primary link.
        link: String,
    },
    /// The source-routing table is used by someone else.
    TableInUse {
        /// `100 + N`.
        table: u32,
        /// By what.
        why: String,
    },
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Conflict::TooWide { field, prefix, min } => {
                write!(f, "{field} {prefix} is shorter than minPrefixLength /{min}")
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
            Conflict::OverlapsPrimary6 { field, prefix, primary, link } => {
                write!(f, "{field} {prefix} overlaps {primary} of the primary network on {link}")
            }
            Conflict::TableInUse { table, why } => write!(
                f,
                "sourceRouting needs routing table {table}, which is in use: {why}; free the table or turn sourceRouting off"
            ),
        }
    }
}

/// The first conflict of `d` with the primary network, if any.
pub(crate) fn conflict(d: &ValidInterface, host: &Host, roles: &HashMap<u32, Role>, min: u8) -> Option<Conflict> {
    let primary: Vec<(Ipv4Net, &str)> = host
        .links
        .iter()
        .filter(|l| {
            matches!(
                roles.get(&l.index),
                Some(Role::Protected(Protection::DefaultRoute | Protection::ApiServer { .. }))
            )
        })
        .flat_map(|l| l.ipv4().into_iter().map(move |a| (a.trunc(), l.name.as_str())))
        .collect();
    let gateways: Vec<Ipv4Addr> = host
        .defaults
        .iter()
        .filter(|r| matches!(roles.get(&r.oif), Some(Role::Protected(_))))
        .filter_map(|r| match r.gateway {
            Some(IpAddr::V4(g)) => Some(g),
            _ => None,
        })
        .collect();
    let server = host.api.as_ref().and_then(|a| match a.to {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(_) => None,
    });

    if let Some(c) = conflict6(d, host, roles) {
        return Some(c);
    }
    let subnet = std::iter::once(("cidr".to_string(), d.address.trunc()));
    let routes = d.routes.iter().enumerate().map(|(i, r)| (format!("routes[{i}].to"), r.to));
    for (field, prefix) in subnet.chain(routes) {
        if prefix.prefix_len() == 0 && field != "cidr" {
            // An explicit default route: whether it takes the API server's path is
            // checked when it is applied.
            continue;
        }
        if prefix.prefix_len() <= 1 && field != "cidr" {
            return Some(Conflict::HalfTheSpace { field, prefix });
        }
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

/// The IPv6 subnets and routes of `d` against the primary's IPv6 subnets. An
/// explicit `::/0` is checked when it is applied, as IPv4's `0.0.0.0/0`.
fn conflict6(d: &ValidInterface, host: &Host, roles: &HashMap<u32, Role>) -> Option<Conflict> {
    let v6 = d.ipv6.as_ref()?;
    let primary: Vec<(Ipv6Net, &str)> = host
        .links
        .iter()
        .filter(|l| {
            matches!(
                roles.get(&l.index),
                Some(Role::Protected(Protection::DefaultRoute | Protection::ApiServer { .. }))
            )
        })
        .flat_map(|l| l.ipv6().into_iter().map(move |a| (a.trunc(), l.name.as_str())))
        .collect();
    let subnets = v6.addresses.iter().enumerate().map(|(i, a)| (format!("ipv6.addresses[{i}]"), a.trunc()));
    let routes = v6.routes.iter().enumerate().map(|(i, r)| (format!("ipv6.routes[{i}].to"), r.to));
    subnets.chain(routes).filter(|(_, p)| p.prefix_len() > 0).find_map(|(field, prefix)| {
        primary
            .iter()
            .find(|(p, _)| p.contains(&prefix.network()) || prefix.contains(p))
            .map(|(p, link)| Conflict::OverlapsPrimary6 { field, prefix, primary: *p, link: link.to_string() })
    })
}
