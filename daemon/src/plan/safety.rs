// SPDX-License-Identifier: Apache-2.0
//! The safety rules: which links multinic must never touch. Each rule exists because
//! the predecessor once broke a node without it (see DESIGN.md, "Safety").

use globset::{Glob, GlobSet, GlobSetBuilder};
use multinic_api::ValidInterface;

use super::classify::Role;
use super::{Block, Owned};
use crate::observe::Link;

/// Names that are never touched whatever the spec says: the usual primary NICs of
/// cloud images and the links of container networking (CNI plugins, kube-proxy,
/// NodeLocal DNSCache), whose veths look like NICs to the kernel.
pub const DEFAULT_PROTECTED: &[&str] = &[
    "lo",
    "eth0",
    "ens3",
    "enp0s3",
    "enp1s0",
    "eno1",
    "docker*",
    "cni*",
    "flannel*",
    "cali*",
    "cilium*",
    "lxc*",
    "vxlan*",
    "tunl*",
    "weave*",
    "kube-*",
    "nodelocaldns",
    "virbr*",
    "br-*",
    "veth*",
    "wg*",
    "tailscale*",
    "genev_sys_*",
    "ovs-*",
    "ovn-k8s-*",
    "antrea-*",
    "nsx*",
];

/// Default `minPrefixLength`: no interface subnet or route shorter than a /8.
pub const DEFAULT_MIN_PREFIX_LENGTH: u8 = 8;

/// The configurable part of the planner's rules: protected name patterns (the
/// defaults plus the configured ones), the shortest prefix a subnet or route may
/// have, and where source-routing rules go.
#[derive(Clone, Debug)]
pub struct Policy {
    patterns: Vec<String>,
    set: GlobSet,
    /// `minPrefixLength`.
    pub min_prefix_len: u8,
    /// `sourceRoutingPriority`: the rule of `multinicN` gets this plus N.
    pub source_priority: u32,
}

impl Policy {
    /// The default patterns plus `extra`; an invalid glob is an error naming it.
    pub fn new(extra: &[String]) -> Result<Self, String> {
        let patterns: Vec<String> =
            DEFAULT_PROTECTED.iter().map(|s| s.to_string()).chain(extra.iter().cloned()).collect();
        let mut builder = GlobSetBuilder::new();
        for p in &patterns {
            builder.add(Glob::new(p).map_err(|e| format!("protected pattern {p:?}: {e}"))?);
        }
        let set = builder.build().map_err(|e| e.to_string())?;
        Ok(Policy {
            patterns,
            set,
            min_prefix_len: DEFAULT_MIN_PREFIX_LENGTH,
            source_priority: super::source::DEFAULT_PRIORITY,
        })
    }

    /// The first pattern `name` matches.
    pub fn protected_by(&self, name: &str) -> Option<&str> {
        self.set.matches(name).first().map(|&i| self.patterns[i].as_str())
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy::new(&[]).expect("built-in patterns are valid")
    }
}

/// The first rule that forbids configuring `link` for `d`, if any. `role` is the
/// link's [`classify`](super::classify) role.
pub(crate) fn check(d: &ValidInterface, link: &Link, role: &Role, owned: Option<&Owned>) -> Option<Block> {
    match role {
        Role::Protected(p) => Some(Block::Protected(p.clone())),
        Role::InUse { addresses } => Some(Block::ForeignAddresses { addresses: addresses.clone() }),
        Role::Owned { .. } if link.up => {
            let ours: Vec<_> = owned.map(|o| o.addresses.clone()).unwrap_or_default();
            let ours6: Vec<_> = owned.map(|o| o.addresses6.clone()).unwrap_or_default();
            let foreign: Vec<String> = link
                .given_addresses()
                .filter(|a| match a {
                    ipnet::IpNet::V4(v4) => !(ours.contains(v4) || *v4 == d.address),
                    // When multinic's configuration took router advertisements, the
                    // link's SLAAC addresses are its doing.
                    ipnet::IpNet::V6(v6) => {
                        !(ours6.contains(v6)
                            || owned.is_some_and(|o| o.accept_ra)
                            || d.ipv6.as_ref().is_some_and(|w| w.addresses.contains(v6)))
                    }
                })
                .map(|a| a.to_string())
                .collect();
            (!foreign.is_empty()).then_some(Block::ForeignAddresses { addresses: foreign })
        }
        Role::Owned { .. } | Role::Free | Role::Generated { .. } => None,
    }
}
