//! What the host looks like: links as netlink reports them. The data types here are
//! plain values so that the planner can be a pure function of them.

pub mod netlink;

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net};
use multinic_api::MacAddr;
use serde::Serialize;

/// One network link of the host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Link {
    /// Kernel interface index.
    pub index: u32,
    /// Current kernel name.
    pub name: String,
    /// Current MAC address.
    pub mac: Option<MacAddr>,
    /// Permanent (factory) MAC, where the driver reports one.
    pub perm_mac: Option<MacAddr>,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// Operational state as the kernel names it (`up`, `down`, `lowerlayerdown`, …).
    pub oper_state: String,
    /// Current MTU.
    pub mtu: u32,
    /// Addresses with prefix length.
    pub addresses: Vec<IpNet>,
    /// Kernel driver (from sysfs), when known.
    pub driver: Option<String>,
    /// The loopback device.
    pub loopback: bool,
    /// Holds a default route (IPv4 or IPv6, main table).
    pub default_route: bool,
}

impl Link {
    /// The MAC the NIC is known by: the permanent one when present.
    pub fn hw_mac(&self) -> Option<MacAddr> {
        self.perm_mac.or(self.mac)
    }

    /// Addresses someone gave the link: all but IPv6 and IPv4 link-local ones, which
    /// the kernel adds by itself.
    pub fn given_addresses(&self) -> impl Iterator<Item = &IpNet> {
        self.addresses.iter().filter(|a| match a.addr() {
            IpAddr::V4(v4) => !v4.is_link_local(),
            IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) != 0xfe80,
        })
    }

    /// Operationally up; `unknown` counts, as drivers without carrier reporting use it.
    pub fn has_carrier(&self) -> bool {
        matches!(self.oper_state.as_str(), "up" | "unknown")
    }

    /// IPv4 addresses someone gave the link.
    pub fn ipv4(&self) -> Vec<Ipv4Net> {
        self.given_addresses()
            .filter_map(|a| match a {
                IpNet::V4(v4) => Some(*v4),
                IpNet::V6(_) => None,
            })
            .collect()
    }
}
