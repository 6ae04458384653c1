//! The safety rules: which links multinic must never touch. Each rule exists because
//! the predecessor once broke a node without it (see DESIGN.md, "Safety").

use globset::{Glob, GlobSet, GlobSetBuilder};
use multinic_api::ValidInterface;

use super::{Block, Owned};
use crate::observe::Link;

/// Names that are never touched whatever the spec says: the usual primary NICs of
/// cloud images and the links of container networking.
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
    "vxlan*",
    "tunl*",
    "weave*",
    "kube-*",
    "virbr*",
    "br-*",
    "veth*",
    "wg*",
    "tailscale*",
    "genev_sys_*",
    "ovs-*",
];

/// Protected name patterns (the defaults plus the configured ones).
#[derive(Clone, Debug)]
pub struct Policy {
    patterns: Vec<String>,
    set: GlobSet,
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
        Ok(Policy { patterns, set })
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

/// The first rule that forbids configuring `link` for `d`, if any.
pub(crate) fn check(
    d: &ValidInterface,
    link: &Link,
    owned: Option<&Owned>,
    name: Option<&str>,
    policy: &Policy,
) -> Option<Block> {
    if link.loopback {
        return Some(Block::Loopback);
    }
    let asked_for_default = owned.is_some() && d.routes.iter().any(|r| r.to.prefix_len() == 0);
    if link.default_route && !asked_for_default {
        return Some(Block::DefaultRoute);
    }
    if let Some(pattern) = policy.protected_by(&link.name) {
        return Some(Block::ProtectedName { pattern: pattern.to_string() });
    }
    if link.up {
        let ours: Vec<_> = owned.map(|o| o.addresses.clone()).unwrap_or_default();
        let foreign: Vec<String> = link
            .given_addresses()
            .filter(|a| match a {
                ipnet::IpNet::V4(v4) => !(ours.contains(v4) || (owned.is_some() && *v4 == d.address)),
                ipnet::IpNet::V6(_) => true,
            })
            .map(|a| a.to_string())
            .collect();
        if !foreign.is_empty() {
            return Some(Block::ForeignAddresses { addresses: foreign });
        }
    }
    if name.is_none() {
        return Some(Block::NoFreeName);
    }
    None
}
