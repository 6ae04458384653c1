// SPDX-License-Identifier: Apache-2.0
//! systemd-networkd drop-ins as typed values: a `.network` file (address, MTU,
//! routes, DNS; no IPv6 link-local or RA) and a `.link` file that pins the
//! `multinicN` name to the MAC across reboots. Rendered by a small INI serializer
//! that refuses values it cannot write safely; pure, tested on exact output.
//!
//! Files are named `10-multinic-<mac hex>.{network,link}` (stable across renames)
//! and start with a header that marks them as multinic's and carries what multinic
//! needs to read them back. Files without that header are never touched.
//!
//! networkd and udev apply the first file, in lexical order of file names across
//! their directories, whose `[Match]` fits a link. `10-` sorts before the catch-alls
//! distributions and images ship (`20-wired.network`, `80-ethernet.network`,
//! `99-default.link`, netplan's `10-netplan-*`), so multinic's file wins for a spec
//! MAC; the transaction also checks which file networkd applied. Releases before
//! this one wrote `90-multinic-*`: those are read back and replaced on the next
//! change.

use std::fmt::Write as _;
use std::path::Path;

use ipnet::{Ipv4Net, Ipv6Net};
use multinic_api::{MacAddr, ValidInterface, ValidVlan};
use serde::{Deserialize, Serialize};

use crate::plan::{InterfacePlan, Owned, SourceRouting, source};

/// Where multinic writes its drop-ins (the admin's directory, not netplan's /run).
pub const DIR: &str = "/etc/systemd/network";
/// File-name prefix of multinic's drop-ins.
pub const PREFIX: &str = "10-multinic-";
/// The prefix of earlier releases, which lost to distribution catch-alls.
pub const LEGACY_PREFIX: &str = "90-multinic-";
/// First line of every file multinic writes.
pub const HEADER: &str = "# Managed by multinic (multinicd); do not edit, changes are overwritten.";
const META: &str = "# multinic: ";

/// What multinic records in the header, to read its own files back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// MAC the files match.
    pub mac: MacAddr,
    /// Name multinic gives the link.
    pub name: String,
    /// Kernel name before multinic renamed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_name: Option<String>,
    /// The link's MTU before multinic configured it: networkd leaves a link's MTU
    /// as it is when its `.network` goes, so cleanup puts this back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_mtu: Option<u32>,
    /// `plan::config_hash` of what the files apply.
    pub config_hash: String,
    /// Addresses the `.network` gives.
    pub addresses: Vec<Ipv4Net>,
    /// IPv6 addresses the `.network` gives.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses6: Vec<Ipv6Net>,
    /// The `.network` takes IPv6 addresses from router advertisements.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub accept_ra: bool,
    /// The VLAN id, in a VLAN's files (whose `mac` is the parent's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<u16>,
}

impl Meta {
    /// The header of the files applying `plan` as `name`.
    pub fn of(plan: &InterfacePlan, name: &str, original_name: Option<&str>) -> Meta {
        Meta {
            mac: plan.mac,
            name: name.to_string(),
            original_name: original_name.map(str::to_string),
            original_mtu: None,
            config_hash: plan.config_hash.clone(),
            addresses: vec![plan.desired.address],
            addresses6: plan.desired.ipv6_addresses().collect(),
            accept_ra: plan.desired.accepts_ra(),
            vlan: None,
        }
    }
}

/// One `[Section]` with its `Key=value` lines, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    name: &'static str,
    entries: Vec<(&'static str, String)>,
}

impl Section {
    fn new(name: &'static str) -> Self {
        Section { name, entries: Vec::new() }
    }

    fn set(mut self, key: &'static str, value: impl ToString) -> Self {
        self.entries.push((key, value.to_string()));
        self
    }
}

/// A unit file: sections in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unit(Vec<Section>);

/// A value that cannot be written into a unit file.
#[derive(Debug, thiserror::Error)]
#[error("[{section}] {key}={value:?}: a unit file value may not contain a line break or be empty")]
pub struct RenderError {
    section: &'static str,
    key: &'static str,
    value: String,
}

impl Unit {
    /// The file's text: header, metadata, sections.
    pub fn render(&self, meta: &Meta) -> Result<String, RenderError> {
        let mut out = String::new();
        let meta_json = serde_json::to_string(meta).expect("metadata serializes");
        let _ = writeln!(out, "{HEADER}\n{META}{meta_json}");
        for section in &self.0 {
            let _ = writeln!(out, "\n[{}]", section.name);
            for (key, value) in &section.entries {
                if value.is_empty() || value.contains(['\n', '\r']) {
                    return Err(RenderError { section: section.name, key, value: value.clone() });
                }
                let _ = writeln!(out, "{key}={value}");
            }
        }
        Ok(out)
    }
}

impl Unit {
    /// The NIC's `.network` with its VLANs (`VLAN=`), which networkd creates on it.
    pub fn with_vlans<'a>(mut self, names: impl IntoIterator<Item = &'a str>) -> Unit {
        if let Some(network) = self.0.iter_mut().find(|s| s.name == "Network") {
            network.entries.extend(names.into_iter().map(|n| ("VLAN", n.to_string())));
        }
        self
    }
}

/// The header of a VLAN's files: its NIC's MAC, its name and id.
pub fn vlan_meta(parent: MacAddr, name: &str, v: &ValidVlan, config_hash: &str) -> Meta {
    Meta {
        mac: parent,
        name: name.to_string(),
        original_name: None,
        original_mtu: None,
        config_hash: config_hash.to_string(),
        addresses: vec![v.ip.address],
        addresses6: Vec::new(),
        accept_ra: false,
        vlan: Some(v.id),
    }
}

/// The `.network` of an interface; with source routing also the routes of its
/// table and its rule.
pub fn network_unit(d: &ValidInterface, source: Option<SourceRouting>) -> Unit {
    let mut units = vec![Section::new("Match").set("MACAddress", d.mac)];
    if let Some(mtu) = d.mtu {
        units.push(Section::new("Link").set("MTUBytes", mtu));
    }
    let mut network = Section::new("Network").set("Address", d.address);
    for a in d.ipv6_addresses() {
        network = network.set("Address", a);
    }
    for dns in &d.dns {
        network = network.set("DNS", dns);
    }
    // Without `ipv6`: no IPv6 link-local address or router advertisements on a
    // secondary NIC (without these, networkd also waits ~14 s before calling the
    // link configured). No LLDP receiver: its packet socket costs an RCU grace
    // period per link in networkd's single thread (~15 ms each, ten NICs one after
    // the other), for neighbour data a cloud's virtual switch does not send.
    let (link_local, accept_ra) = match &d.ipv6 {
        None => ("no", "no"),
        Some(v6) => ("ipv6", if v6.accept_ra { "yes" } else { "no" }),
    };
    network = network.set("LinkLocalAddressing", link_local).set("IPv6AcceptRA", accept_ra).set("LLDP", "no");
    units.push(network);
    if d.accepts_ra() {
        // Addresses from router advertisements, never the default route.
        units.push(Section::new("IPv6AcceptRA").set("UseGateway", "no").set("UseDNS", "no").set("DHCPv6Client", "no"));
    }
    for r in &d.routes {
        units.push(route(r.to.into(), r.via.map(Into::into), r.metric));
    }
    for r in d.ipv6.iter().flat_map(|v6| &v6.routes) {
        units.push(route(r.to.into(), r.via.map(Into::into), r.metric));
    }
    if let Some(sr) = source {
        units.extend(source_routing(d.into(), sr));
    }
    Unit(units)
}

/// The routes of a source-routing table (`[Route] Table=`) and its rule.
fn source_routing(side: source::Side<'_>, sr: SourceRouting) -> Vec<Section> {
    let mut units: Vec<Section> = source::routes(side)
        .into_iter()
        .map(|w| {
            let mut section = route(w.to.into(), w.via.map(Into::into), w.metric);
            if w.via.is_none() {
                section = section.set("Scope", "link").set("PreferredSource", side.address.addr());
            }
            section.set("Table", sr.table)
        })
        .collect();
    units.push(
        Section::new("RoutingPolicyRule")
            .set("From", source::from(side))
            .set("Table", sr.table)
            .set("Priority", sr.priority),
    );
    units
}

fn route(to: ipnet::IpNet, via: Option<std::net::IpAddr>, metric: Option<u32>) -> Section {
    let mut route = Section::new("Route").set("Destination", to);
    if let Some(via) = via {
        route = route.set("Gateway", via);
    }
    if let Some(metric) = metric {
        route = route.set("Metric", metric);
    }
    route
}

/// The `.link` that gives the NIC its name at boot (applied by udev). A NIC with
/// VLANs matches by its permanent MAC too: its VLANs carry its MAC, and udev would
/// try to give them the NIC's name, fail, and leave them unconfigured (systemd-networkd
/// waits for udev). udev before 245 ignores the key, with a warning.
pub fn link_unit(mac: MacAddr, name: &str, has_vlans: bool) -> Unit {
    let mut m = Section::new("Match").set("MACAddress", mac);
    if has_vlans {
        m = m.set("PermanentMACAddress", mac);
    }
    Unit(vec![m, Section::new("Link").set("Name", name)])
}

/// The VLAN sub-interface `name` (`multinicN.ID`) of a NIC: its `.netdev`, which
/// networkd creates on the parent named in the parent's `.network` (`VLAN=`).
pub fn vlan_netdev_unit(name: &str, v: &ValidVlan) -> Unit {
    let mut netdev = Section::new("NetDev").set("Name", name).set("Kind", "vlan");
    if let Some(mtu) = v.ip.mtu {
        netdev = netdev.set("MTUBytes", mtu);
    }
    Unit(vec![netdev, Section::new("VLAN").set("Id", v.id)])
}

/// The `.network` of a VLAN sub-interface, matched by its name (it has the
/// parent's MAC): address, routes, DNS; no IPv6, no LLDP, as a NIC without `ipv6`.
pub fn vlan_network_unit(name: &str, v: &ValidVlan, source: Option<SourceRouting>) -> Unit {
    let mut network = Section::new("Network").set("Address", v.ip.address);
    for dns in &v.ip.dns {
        network = network.set("DNS", dns);
    }
    network = network.set("LinkLocalAddressing", "no").set("IPv6AcceptRA", "no").set("LLDP", "no");
    let mut units = vec![Section::new("Match").set("Name", name)];
    // The `.netdev`'s MTU applies when networkd creates the link only.
    if let Some(mtu) = v.ip.mtu {
        units.push(Section::new("Link").set("MTUBytes", mtu));
    }
    units.push(network);
    for r in &v.ip.routes {
        units.push(route(r.to.into(), r.via.map(Into::into), r.metric));
    }
    if let Some(sr) = source {
        units.extend(source_routing((&v.ip).into(), sr));
    }
    Unit(units)
}

/// File names of a VLAN's drop-ins: (`.netdev`, `.network`), after its parent's MAC.
pub fn vlan_file_names(mac: MacAddr, id: u16) -> (String, String) {
    let hex: String = mac.0.iter().map(|b| format!("{b:02x}")).collect();
    (format!("{PREFIX}{hex}-{id}.netdev"), format!("{PREFIX}{hex}-{id}.network"))
}

/// File names of a MAC's drop-ins: (`.network`, `.link`).
pub fn file_names(mac: MacAddr) -> (String, String) {
    names(PREFIX, mac)
}

/// The names earlier releases gave a MAC's drop-ins.
pub fn legacy_file_names(mac: MacAddr) -> (String, String) {
    names(LEGACY_PREFIX, mac)
}

fn names(prefix: &str, mac: MacAddr) -> (String, String) {
    let hex: String = mac.0.iter().map(|b| format!("{b:02x}")).collect();
    (format!("{prefix}{hex}.network"), format!("{prefix}{hex}.link"))
}

/// Whether a `.network` file's `[Match]` takes any link of a kind rather than this
/// very NIC: nothing in it names the NIC — no `MACAddress=`/`PermanentMACAddress=`
/// with `mac` (in any of systemd's spellings), no `Name=`/`OriginalName=`/`Path=`
/// without a glob. Such a file is a distribution's catch-all (DHCP on every `en*`,
/// every `Type=ether`, every `Driver=`); one that names the NIC is someone's
/// deliberate configuration.
pub fn is_catch_all(text: &str, name: &str, mac: MacAddr) -> bool {
    let hex =
        |s: &str| -> String { s.chars().filter(char::is_ascii_hexdigit).collect::<String>().to_ascii_lowercase() };
    let ours = hex(&mac.to_string());
    let glob = |w: &str| w.contains(['*', '?', '[']) || w.starts_with('!');
    for (key, value) in section(text, "Match") {
        let mut words = value.split_whitespace();
        let specific = match key {
            "MACAddress" | "PermanentMACAddress" => words.any(|w| hex(w) == ours),
            "Name" => words.any(|w| w == name && !glob(w)),
            "OriginalName" | "Path" => words.any(|w| !glob(w)),
            _ => false,
        };
        if specific {
            return false;
        }
    }
    true
}

/// The `key=value` pairs of every `[name]` section of a unit file's text, trimmed
/// and in order (comments and other sections left out).
pub fn section<'a>(text: &'a str, name: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
    let mut inside = false;
    text.lines().map(str::trim).filter_map(move |line| {
        if let Some(header) = line.strip_prefix('[') {
            inside = header.strip_suffix(']') == Some(name);
            return None;
        }
        let (key, value) = line.split_once('=').filter(|_| inside && !line.starts_with(['#', ';']))?;
        Some((key.trim(), value.trim()))
    })
}

/// The owned record of a file's text, when multinic wrote it. `active` is true: a
/// `.network` is applied by networkd for as long as it exists.
pub fn owned_from(text: &str, file: &Path) -> Option<Owned> {
    let meta = meta_of(text)?;
    if meta.vlan.is_some() {
        // A VLAN's file carries its parent's MAC: read by `owned_vlan_from`.
        return None;
    }
    Some(Owned {
        mac: meta.mac,
        name: meta.name,
        original_name: meta.original_name,
        original_mtu: meta.original_mtu,
        config_hash: meta.config_hash,
        addresses: meta.addresses,
        addresses6: meta.addresses6,
        accept_ra: meta.accept_ra,
        active: true,
        handle: crate::observe::Handle::NetworkdFile(file.to_path_buf()),
    })
}

/// The owned record of a VLAN's `.network`, when multinic wrote it.
pub fn owned_vlan_from(text: &str, file: &Path) -> Option<crate::plan::vlan::OwnedVlan> {
    let meta = meta_of(text)?;
    Some(crate::plan::vlan::OwnedVlan {
        parent: meta.mac,
        id: meta.vlan?,
        name: meta.name,
        config_hash: meta.config_hash,
        addresses: meta.addresses,
        handle: crate::observe::Handle::NetworkdFile(file.to_path_buf()),
    })
}

fn meta_of(text: &str) -> Option<Meta> {
    let mut lines = text.lines();
    if lines.next()? != HEADER {
        return None;
    }
    serde_json::from_str(lines.next()?.strip_prefix(META)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface() -> ValidInterface {
        ValidInterface {
            index: 0,
            id: Some(1),
            mac: "fa:16:3e:1c:1a:6e".parse().unwrap(),
            address: "11.11.11.37/24".parse().unwrap(),
            mtu: Some(1450),
            name: None,
            routes: vec![multinic_api::ValidRoute {
                to: "10.20.0.0/16".parse().unwrap(),
                via: Some("11.11.11.1".parse().unwrap()),
                metric: Some(100),
            }],
            dns: vec!["11.11.11.53".parse().unwrap()],
            gateway: None,
            source_routing: false,
            ipv6: None,
            vlans: Vec::new(),
        }
    }

    fn meta() -> Meta {
        Meta {
            mac: iface().mac,
            name: "multinic0".into(),
            original_name: Some("ens4".into()),
            original_mtu: Some(1500),
            config_hash: "abc".into(),
            addresses: vec![iface().address],
            addresses6: vec![],
            accept_ra: false,
            vlan: None,
        }
    }

    #[test]
    fn network_file_is_exact() {
        let text = network_unit(&iface(), None).render(&meta()).unwrap();
        assert_eq!(
            text,
            "# Managed by multinic (multinicd); do not edit, changes are overwritten.\n\
             # multinic: {\"mac\":\"fa:16:3e:1c:1a:6e\",\"name\":\"multinic0\",\"originalName\":\"ens4\",\"originalMtu\":1500,\"configHash\":\"abc\",\"addresses\":[\"11.11.11.37/24\"]}\n\
             \n[Match]\nMACAddress=fa:16:3e:1c:1a:6e\n\
             \n[Link]\nMTUBytes=1450\n\
             \n[Network]\nAddress=11.11.11.37/24\nDNS=11.11.11.53\nLinkLocalAddressing=no\nIPv6AcceptRA=no\nLLDP=no\n\
             \n[Route]\nDestination=10.20.0.0/16\nGateway=11.11.11.1\nMetric=100\n"
        );
    }

    #[test]
    fn source_routing_adds_the_table_and_the_rule_and_leaves_main_as_it_was() {
        let mut d = iface();
        d.gateway = Some("11.11.11.1".parse().unwrap());
        d.source_routing = true;
        let sr = SourceRouting { table: 102, priority: 32002 };
        let plain = network_unit(&iface(), None).render(&meta()).unwrap();
        let text = network_unit(&d, Some(sr)).render(&meta()).unwrap();
        assert_eq!(
            text.strip_prefix(plain.as_str()).expect("main's routes first, as without source routing"),
            "\n[Route]\nDestination=11.11.11.0/24\nScope=link\nPreferredSource=11.11.11.37\nTable=102\n\
             \n[Route]\nDestination=10.20.0.0/16\nGateway=11.11.11.1\nMetric=100\nTable=102\n\
             \n[Route]\nDestination=0.0.0.0/0\nGateway=11.11.11.1\nTable=102\n\
             \n[RoutingPolicyRule]\nFrom=11.11.11.37/32\nTable=102\nPriority=32002\n"
        );
    }

    #[test]
    fn ipv6_gives_link_local_addressing_addresses_and_routes() {
        let mut d = iface();
        d.routes.clear();
        d.dns.clear();
        d.mtu = None;
        d.ipv6 = Some(multinic_api::ValidIpv6 {
            addresses: vec!["2001:db8:60::10/64".parse().unwrap()],
            routes: vec![multinic_api::ValidRoute6 {
                to: "2001:db8:70::/48".parse().unwrap(),
                via: Some("2001:db8:60::1".parse().unwrap()),
                metric: None,
            }],
            accept_ra: false,
        });
        let text = network_unit(&d, None).render(&meta()).unwrap();
        assert!(
            text.ends_with(
                "\n[Network]\nAddress=11.11.11.37/24\nAddress=2001:db8:60::10/64\nLinkLocalAddressing=ipv6\nIPv6AcceptRA=no\nLLDP=no\n\
                 \n[Route]\nDestination=2001:db8:70::/48\nGateway=2001:db8:60::1\n"
            ),
            "{text}"
        );
        d.ipv6.as_mut().unwrap().accept_ra = true;
        let text = network_unit(&d, None).render(&meta()).unwrap();
        assert!(
            text.contains("IPv6AcceptRA=yes\nLLDP=no\n\n[IPv6AcceptRA]\nUseGateway=no\nUseDNS=no\nDHCPv6Client=no\n"),
            "{text}"
        );
    }

    #[test]
    fn vlan_files_are_exact() {
        let v = ValidVlan {
            id: 100,
            ip: multinic_api::ValidIp4 {
                address: "11.11.21.5/24".parse().unwrap(),
                mtu: Some(1400),
                routes: vec![multinic_api::ValidRoute {
                    to: "10.21.0.0/16".parse().unwrap(),
                    via: Some("11.11.21.1".parse().unwrap()),
                    metric: None,
                }],
                dns: vec![],
                gateway: None,
            },
            source_routing: false,
        };
        let netdev = vlan_netdev_unit("multinic0.100", &v).render(&meta()).unwrap();
        assert!(
            netdev.ends_with("\n[NetDev]\nName=multinic0.100\nKind=vlan\nMTUBytes=1400\n\n[VLAN]\nId=100\n"),
            "{netdev}"
        );
        let network = vlan_network_unit("multinic0.100", &v, None).render(&meta()).unwrap();
        assert!(
            network.ends_with(
                "\n[Match]\nName=multinic0.100\n\n[Link]\nMTUBytes=1400\n\n[Network]\nAddress=11.11.21.5/24\nLinkLocalAddressing=no\nIPv6AcceptRA=no\nLLDP=no\n\
                 \n[Route]\nDestination=10.21.0.0/16\nGateway=11.11.21.1\n"
            ),
            "{network}"
        );
        let vmeta = Meta { vlan: Some(100), name: "multinic0.100".into(), ..meta() };
        let text = vlan_network_unit("multinic0.100", &v, None).render(&vmeta).unwrap();
        assert!(owned_from(&text, Path::new("x")).is_none(), "never a second configuration of the NIC");
        let back = owned_vlan_from(&text, Path::new("x")).unwrap();
        assert_eq!((back.parent, back.id, back.name.as_str()), (iface().mac, 100, "multinic0.100"));
        assert_eq!(
            vlan_file_names(iface().mac, 100),
            ("10-multinic-fa163e1c1a6e-100.netdev".to_string(), "10-multinic-fa163e1c1a6e-100.network".to_string())
        );
        // With source routing: its table's routes and its rule, as a NIC's.
        let mut routed = v.clone();
        (routed.ip.gateway, routed.source_routing) = (Some("11.11.21.1".parse().unwrap()), true);
        let sr = SourceRouting { table: 10100, priority: 32000 };
        let network = vlan_network_unit("multinic0.100", &routed, Some(sr)).render(&meta()).unwrap();
        assert!(
            network.ends_with(
                "\n[Route]\nDestination=10.21.0.0/16\nGateway=11.11.21.1\n\
                 \n[Route]\nDestination=11.11.21.0/24\nScope=link\nPreferredSource=11.11.21.5\nTable=10100\n\
                 \n[Route]\nDestination=10.21.0.0/16\nGateway=11.11.21.1\nTable=10100\n\
                 \n[Route]\nDestination=0.0.0.0/0\nGateway=11.11.21.1\nTable=10100\n\
                 \n[RoutingPolicyRule]\nFrom=11.11.21.5/32\nTable=10100\nPriority=32000\n"
            ),
            "{network}"
        );
    }

    #[test]
    fn link_file_is_exact() {
        let text = link_unit(iface().mac, "multinic0", false).render(&meta()).unwrap();
        assert!(text.ends_with("\n[Match]\nMACAddress=fa:16:3e:1c:1a:6e\n\n[Link]\nName=multinic0\n"), "{text}");
        // With VLANs, which carry the NIC's MAC, only the NIC itself matches.
        let text = link_unit(iface().mac, "multinic0", true).render(&meta()).unwrap();
        assert!(
            text.ends_with(
                "\n[Match]\nMACAddress=fa:16:3e:1c:1a:6e\nPermanentMACAddress=fa:16:3e:1c:1a:6e\n\n[Link]\nName=multinic0\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_nics_network_lists_its_vlans() {
        let text = network_unit(&iface(), None).with_vlans(["multinic0.100", "multinic0.200"]).render(&meta()).unwrap();
        assert!(
            text.contains("LLDP=no\nVLAN=multinic0.100\nVLAN=multinic0.200\n"),
            "VLAN= lines belong to [Network]: {text}"
        );
    }

    #[test]
    fn own_files_read_back_and_foreign_ones_do_not() {
        let text = network_unit(&iface(), None).render(&meta()).unwrap();
        let owned = owned_from(&text, Path::new("/etc/systemd/network/x.network")).unwrap();
        assert_eq!(owned.mac, iface().mac);
        assert_eq!(owned.name, "multinic0");
        assert_eq!(owned.original_name.as_deref(), Some("ens4"));
        assert_eq!(owned.original_mtu, Some(1500));
        assert_eq!(owned.addresses, vec![iface().address]);
        assert!(owned_from("[Match]\nName=ens4\n", Path::new("x")).is_none());
        assert!(owned_from(&text.replacen("Managed by multinic", "Managed by someone", 1), Path::new("x")).is_none());
    }

    #[test]
    fn no_default_route_unless_listed_and_no_line_breaks() {
        let mut d = iface();
        d.routes.clear();
        let text = network_unit(&d, None).render(&meta()).unwrap();
        assert!(!text.contains("[Route]") && !text.contains("Gateway"));
        let bad = Unit(vec![Section::new("Link").set("Name", "a\nb")]);
        assert!(bad.render(&meta()).is_err());
    }

    #[test]
    fn file_names_are_stable_per_mac() {
        let (n, l) = file_names(iface().mac);
        assert_eq!(n, "10-multinic-fa163e1c1a6e.network");
        assert_eq!(l, "10-multinic-fa163e1c1a6e.link");
        assert_eq!(legacy_file_names(iface().mac).0, "90-multinic-fa163e1c1a6e.network");
    }

    #[test]
    fn catch_alls_are_told_from_files_that_name_the_nic() {
        let mac = iface().mac;
        for catch_all in [
            "[Match]\nName=en*\n\n[Network]\nDHCP=yes\n",
            "[Match]\nType=ether\n[Network]\nDHCP=ipv4\n",
            "[Network]\nDHCP=yes\n",
            "[Match]\nName=ens4*\nMACAddress=fa:16:3e:00:00:99\n",
            "[Match]\nDriver=virtio_net\n",
            "[Match]\nPath=pci-*\n",
        ] {
            assert!(is_catch_all(catch_all, "ens4", mac), "{catch_all}");
        }
        for specific in [
            "[Match]\nMACAddress=fa:16:3e:1c:1a:6e\n[Network]\nDHCP=yes\n",
            "[Match]\nPermanentMACAddress=FA:16:3E:1C:1A:6E\n",
            "[Match]\nName=eth0 ens4\n",
            "[Match]\n Name = ens4\n",
            "[Match]\nMACAddress=fa-16-3e-1c-1a-6e\n",
            "[Match]\nMACAddress=fa16.3e1c.1a6e\n",
            "[Match]\nPath=pci-0000:00:05.0\n",
        ] {
            assert!(!is_catch_all(specific, "ens4", mac), "{specific}");
        }
    }
}
