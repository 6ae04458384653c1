// SPDX-License-Identifier: Apache-2.0
//! What the host looks like: links as netlink reports them. The data types here are
//! plain values so that the planner can be a pure function of them.

pub mod kernel;
pub mod netlink;
pub mod openstack;
pub mod reach;

pub use kernel::Kernel;

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
    /// An Ethernet link (`ARPHRD_ETHER`).
    pub ether: bool,
    /// What kind of virtual link it is (`IFLA_INFO_KIND`: `bridge`, `bond`, `veth`,
    /// `vlan`, …); `None` for hardware NICs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Index of the bridge, bond, team or OVS it is a port of (`IFLA_MASTER`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master: Option<u32>,
    /// Index of the link it is stacked on in this namespace (`IFLA_LINK`: a VLAN's or
    /// macvlan's parent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lower: Option<u32>,
    /// Alternative names (`IFLA_ALT_IFNAME`): udev gives a NIC its other
    /// predictable names, and keeps the old one when it is renamed. They share the
    /// kernel's namespace with link names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub altnames: Vec<String>,
    /// Addresses that are not usable yet or never will be: IPv6 duplicate address
    /// detection still running (`tentative`) or failed (`dadfailed`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tentative: Vec<IpNet>,
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
            IpAddr::V6(v6) => !v6.is_unicast_link_local(),
        })
    }

    /// Operationally up; `unknown` counts, as drivers without carrier reporting use it.
    pub fn has_carrier(&self) -> bool {
        matches!(self.oper_state.as_str(), "up" | "unknown")
    }

    /// Whether it carries `name`, as its name or one of its alternative names.
    pub fn is_called(&self, name: &str) -> bool {
        self.name == name || self.altnames.iter().any(|a| a == name)
    }

    /// Global and unique-local IPv6 addresses (not link-local).
    pub fn ipv6(&self) -> Vec<ipnet::Ipv6Net> {
        self.given_addresses()
            .filter_map(|a| match a {
                IpNet::V6(v6) => Some(*v6),
                IpNet::V4(_) => None,
            })
            .collect()
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

/// A default route of the main table (IPv4 or IPv6), one per next hop.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DefaultRoute {
    /// Index of the link it leaves through.
    pub oif: u32,
    /// Its gateway, if any.
    pub gateway: Option<IpAddr>,
    /// Its metric (priority); the lowest one wins.
    pub metric: u32,
    /// IPv6 rather than IPv4.
    pub v6: bool,
}

/// An IPv4 routing policy rule (`ip rule`) that looks up a table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// Its priority (the lower, the earlier).
    pub priority: u32,
    /// `from` prefix; `None` for `from all`.
    pub from: Option<Ipv4Net>,
    /// The table it looks up.
    pub table: u32,
}

/// An IPv4 unicast route of a source-routing table (`100 + N`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TableRoute {
    /// The table.
    pub table: u32,
    /// Destination.
    pub to: Ipv4Net,
    /// Next hop, when not on-link.
    pub gateway: Option<std::net::Ipv4Addr>,
    /// Index of the link it leaves through.
    pub oif: Option<u32>,
}

/// The IPv4 routing policy: every rule that looks up a table, and the routes of
/// the tables source routing uses ([`is_source_table`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRouting {
    /// The rules.
    pub rules: Vec<Rule>,
    /// The routes of the source-routing tables.
    pub routes: Vec<TableRoute>,
}

impl PolicyRouting {
    /// Nothing observed.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.routes.is_empty()
    }
}

/// The routes verify looks at: the default routes of the main table and the
/// policy routing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Routing {
    /// The main table's default routes, both families.
    pub defaults: Vec<DefaultRoute>,
    /// The IPv4 rules and source-routing tables.
    pub policy: PolicyRouting,
}

/// Whether source routing may use `table`: `100 + N` for `multinic0` …
/// `multinic9`, `10000 × (N + 1) + ID` for their VLANs.
pub fn is_source_table(table: u32) -> bool {
    use multinic_api::rules::{MAX_INTERFACES, SOURCE_TABLE_BASE, VLAN_ID_MAX, VLAN_ID_MIN, VLAN_TABLE_STEP};
    let nics = SOURCE_TABLE_BASE..SOURCE_TABLE_BASE + MAX_INTERFACES as u32;
    let vlan = |t: u32| {
        let (n, id) = (t / VLAN_TABLE_STEP, t % VLAN_TABLE_STEP);
        (1..=MAX_INTERFACES as u32).contains(&n) && (u32::from(VLAN_ID_MIN)..=u32::from(VLAN_ID_MAX)).contains(&id)
    };
    nics.contains(&table) || vlan(table)
}

/// How the kernel reaches one address right now (`ip route get`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PathTo {
    /// The address looked up.
    pub to: IpAddr,
    /// Index of the link it leaves through (none: unreachable).
    pub oif: Option<u32>,
    /// The gateway, when not on-link.
    pub gateway: Option<IpAddr>,
}

/// A configuration the network manager put on a NIC by itself, not because anyone
/// named that NIC: NetworkManager's auto-default DHCP profile (flag `NM_GENERATED`)
/// or a networkd catch-all `.network` (DHCP on every `en*`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Generated {
    /// The device's interface name.
    pub iface: String,
    /// The profile's name (`Wired connection 1`) or the file's path.
    pub id: String,
    /// The profile or the file.
    pub handle: Handle,
}

/// Where a configuration lives, in the terms of the manager that holds it. Only
/// that manager's backend looks inside; the planner carries it along.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Handle {
    /// A NetworkManager profile: its D-Bus object path.
    NmProfile(String),
    /// A systemd-networkd `.network` file.
    NetworkdFile(std::path::PathBuf),
}

impl std::fmt::Display for Generated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.handle {
            Handle::NmProfile(_) => write!(f, "NetworkManager's generated profile {:?}", self.id),
            Handle::NetworkdFile(_) => write!(f, "networkd's catch-all {}", self.id),
        }
    }
}

/// Everything observed about the host that decides what may be touched.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Host {
    /// Every link.
    pub links: Vec<Link>,
    /// The default routes of the main table.
    pub defaults: Vec<DefaultRoute>,
    /// How the API server is reached, when multinicd talks to one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<PathTo>,
    /// NetworkManager's own generated profiles and where they are active.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub generated: Vec<Generated>,
    /// The IPv4 routing policy.
    #[serde(skip_serializing_if = "PolicyRouting::is_empty")]
    pub policy: PolicyRouting,
}

impl Host {
    /// A host of these links and nothing else.
    #[cfg(test)]
    pub fn of(links: Vec<Link>) -> Host {
        Host { links, ..Host::default() }
    }

    /// The link with this index.
    pub fn link(&self, index: u32) -> Option<&Link> {
        self.links.iter().find(|l| l.index == index)
    }
}
