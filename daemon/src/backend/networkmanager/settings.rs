// SPDX-License-Identifier: Apache-2.0
//! NM connection profiles as typed D-Bus values: what multinic writes, and how it
//! recognises its own profiles when reading them back. Pure, so that the exact
//! settings are tested without a NetworkManager.
//!
//! A profile is bound to its NIC by MAC (`802-3-ethernet.mac-address`, no
//! `interface-name`), has a UUID derived from the MAC, and carries `user.data` keys
//! that mark it as multinic's. Only profiles with `multinic.managed=yes` are ever
//! updated or deleted.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use multinic_api::{MacAddr, ValidInterface};
use uuid::Uuid;
use zbus::zvariant::{OwnedValue, Value};

use super::dbus::{OwnedSettings, Settings};
use crate::plan::{Owned, SourceRouting, source};

/// `user.data` key marking a profile as multinic's.
pub const KEY_MANAGED: &str = "multinic.managed";
/// `user.data` key: the MAC the profile was made for.
pub const KEY_MAC: &str = "multinic.mac";
/// `user.data` key: the name multinic gave the link.
pub const KEY_NAME: &str = "multinic.name";
/// `user.data` key: the kernel name before multinic renamed the link.
pub const KEY_ORIGINAL_NAME: &str = "multinic.original-name";
/// `user.data` key: hash of what was applied (see `plan::config_hash`).
pub const KEY_CONFIG_HASH: &str = "multinic.config-hash";

/// Namespace of the UUIDv5 profile ids (a fixed random UUID, never to change).
const UUID_NAMESPACE: Uuid = Uuid::from_u128(0x6d756c74_696e_4963_8e6f_6465636f6e66);

/// The deterministic profile UUID of a MAC: re-creating a profile gives the same id.
pub fn profile_uuid(mac: MacAddr) -> String {
    Uuid::new_v5(&UUID_NAMESPACE, format!("multinic:{mac}").as_bytes()).to_string()
}

/// What goes into one profile.
pub struct Profile<'a> {
    /// The desired interface.
    pub desired: &'a ValidInterface,
    /// The name the link gets.
    pub name: &'a str,
    /// The link's kernel name before multinic renamed it.
    pub original_name: Option<&'a str>,
    /// `plan::config_hash` of it.
    pub config_hash: &'a str,
    /// Its table and rule, with `sourceRouting`.
    pub source: Option<SourceRouting>,
}

/// Build the settings of a profile.
pub fn build(p: &Profile<'_>) -> Settings<'static> {
    let d = p.desired;
    let mut connection: HashMap<&str, Value<'static>> = HashMap::new();
    connection.insert("id", Value::from(p.name.to_string()));
    connection.insert("uuid", Value::from(profile_uuid(d.mac)));
    connection.insert("type", Value::from("802-3-ethernet"));
    connection.insert("autoconnect", Value::from(true));

    let mut ethernet: HashMap<&str, Value<'static>> = HashMap::new();
    ethernet.insert("mac-address", Value::from(d.mac.0.to_vec()));
    if let Some(mtu) = d.mtu {
        ethernet.insert("mtu", Value::from(mtu));
    }

    let mut ipv4: HashMap<&str, Value<'static>> = HashMap::new();
    ipv4.insert("method", Value::from("manual"));
    ipv4.insert("address-data", Value::from(vec![address(d.address.into())]));
    // A default route only when the spec lists one explicitly.
    let default_route = d.routes.iter().any(|r| r.to.prefix_len() == 0);
    ipv4.insert("never-default", Value::from(!default_route));
    // The main table's routes as without source routing, then the NIC's own table
    // (`route-data` entries with a `table`: `ipv4.route-table` would move the
    // subnet route out of main too).
    let mut routes: Vec<HashMap<String, Value<'static>>> =
        d.routes.iter().map(|r| route(r.to.into(), r.via.map(Into::into), r.metric, None)).collect();
    if let Some(sr) = p.source {
        let (table, rule) = source_routing(d.into(), sr);
        routes.extend(table);
        ipv4.insert("routing-rules", Value::from(vec![rule]));
    }
    if !routes.is_empty() {
        ipv4.insert("route-data", Value::from(routes));
    }
    if !d.dns.is_empty() {
        // `ipv4.dns` is `au` in network byte order.
        let dns: Vec<u32> = d.dns.iter().map(|a| u32::from_le_bytes(a.octets())).collect();
        ipv4.insert("dns", Value::from(dns));
    }

    let mut ipv6: HashMap<&str, Value<'static>> = HashMap::new();
    match &d.ipv6 {
        // No link-local address or router advertisements on a secondary NIC.
        None => {
            ipv6.insert("method", Value::from("disabled"));
        }
        Some(v6) => {
            ipv6.insert("method", Value::from(if v6.accept_ra { "auto" } else { "manual" }));
            if !v6.addresses.is_empty() {
                let data: Vec<HashMap<String, Value<'static>>> =
                    v6.addresses.iter().map(|a| address((*a).into())).collect();
                ipv6.insert("address-data", Value::from(data));
            }
            let routes: Vec<HashMap<String, Value<'static>>> =
                v6.routes.iter().map(|r| route(r.to.into(), r.via.map(Into::into), r.metric, None)).collect();
            if !routes.is_empty() {
                ipv6.insert("route-data", Value::from(routes));
            }
            // Router advertisements give addresses, never the default route or
            // the node's DNS servers.
            let default_route = v6.routes.iter().any(|r| r.to.prefix_len() == 0);
            ipv6.insert("never-default", Value::from(!default_route));
            ipv6.insert("ignore-auto-dns", Value::from(true));
        }
    }

    let mut data: HashMap<String, String> = HashMap::new();
    data.insert(KEY_MANAGED.into(), "yes".into());
    data.insert(KEY_MAC.into(), d.mac.to_string());
    data.insert(KEY_NAME.into(), p.name.into());
    data.insert(KEY_CONFIG_HASH.into(), p.config_hash.into());
    if let Some(original) = p.original_name {
        data.insert(KEY_ORIGINAL_NAME.into(), original.into());
    }
    let mut user: HashMap<&str, Value<'static>> = HashMap::new();
    user.insert("data", Value::from(data));

    HashMap::from([
        ("connection", connection),
        ("802-3-ethernet", ethernet),
        ("ipv4", ipv4),
        ("ipv6", ipv6),
        ("user", user),
    ])
}

/// The `route-data` entries of a source-routing table (each with its `table`) and
/// the rule that looks it up.
fn source_routing(
    side: source::Side<'_>,
    sr: SourceRouting,
) -> (Vec<HashMap<String, Value<'static>>>, HashMap<String, Value<'static>>) {
    let routes = source::routes(side)
        .into_iter()
        .map(|w| {
            let mut m = route(w.to.into(), w.via.map(Into::into), w.metric, Some(sr.table));
            if w.via.is_none() {
                m.insert("src".to_string(), Value::from(side.address.addr().to_string()));
            }
            m
        })
        .collect();
    let rule = HashMap::from([
        ("family".to_string(), Value::from(AF_INET)),
        ("priority".to_string(), Value::from(sr.priority)),
        ("from".to_string(), Value::from(side.address.addr().to_string())),
        ("from-len".to_string(), Value::from(32u8)),
        ("table".to_string(), Value::from(sr.table)),
    ]);
    (routes, rule)
}

/// `AF_INET`, as NM's routing rules name the family.
const AF_INET: i32 = 2;

/// One `route-data` entry.
fn route(to: IpNet, via: Option<IpAddr>, metric: Option<u32>, table: Option<u32>) -> HashMap<String, Value<'static>> {
    let mut m = HashMap::new();
    m.insert("dest".to_string(), Value::from(to.network().to_string()));
    m.insert("prefix".to_string(), Value::from(u32::from(to.prefix_len())));
    if let Some(via) = via {
        m.insert("next-hop".to_string(), Value::from(via.to_string()));
    }
    if let Some(metric) = metric {
        m.insert("metric".to_string(), Value::from(metric));
    }
    if let Some(table) = table {
        m.insert("table".to_string(), Value::from(table));
    }
    m
}

fn address(net: IpNet) -> HashMap<String, Value<'static>> {
    HashMap::from([
        ("address".to_string(), Value::from(net.addr().to_string())),
        ("prefix".to_string(), Value::from(u32::from(net.prefix_len()))),
    ])
}

/// `user.data` key: the VLAN id of a VLAN profile (its `multinic.mac` is the parent's).
pub const KEY_VLAN: &str = "multinic.vlan";

/// The deterministic UUID of a NIC's VLAN profile.
pub fn vlan_uuid(mac: MacAddr, id: u16) -> String {
    Uuid::new_v5(&UUID_NAMESPACE, format!("multinic:{mac}:vlan:{id}").as_bytes()).to_string()
}

/// The profile of VLAN `v` on the NIC with `parent` MAC, as link `name`
/// (`multinicN.ID`): bound to the parent's profile by its UUID, so that it follows
/// the NIC by MAC and across its rename.
pub fn build_vlan(
    parent: MacAddr,
    name: &str,
    v: &multinic_api::ValidVlan,
    config_hash: &str,
    source: Option<SourceRouting>,
) -> Settings<'static> {
    let connection: HashMap<&str, Value<'static>> = HashMap::from([
        ("id", Value::from(name.to_string())),
        ("uuid", Value::from(vlan_uuid(parent, v.id))),
        ("type", Value::from("vlan")),
        ("interface-name", Value::from(name.to_string())),
        ("autoconnect", Value::from(true)),
    ]);
    let vlan: HashMap<&str, Value<'static>> =
        HashMap::from([("parent", Value::from(profile_uuid(parent))), ("id", Value::from(u32::from(v.id)))]);
    let mut ipv4: HashMap<&str, Value<'static>> = HashMap::from([
        ("method", Value::from("manual")),
        ("address-data", Value::from(vec![address(v.ip.address.into())])),
        ("never-default", Value::from(!v.ip.routes.iter().any(|r| r.to.prefix_len() == 0))),
    ]);
    let mut routes: Vec<HashMap<String, Value<'static>>> =
        v.ip.routes.iter().map(|r| route(r.to.into(), r.via.map(Into::into), r.metric, None)).collect();
    if let Some(sr) = source {
        let (table, rule) = source_routing((&v.ip).into(), sr);
        routes.extend(table);
        ipv4.insert("routing-rules", Value::from(vec![rule]));
    }
    if !routes.is_empty() {
        ipv4.insert("route-data", Value::from(routes));
    }
    if !v.ip.dns.is_empty() {
        let dns: Vec<u32> = v.ip.dns.iter().map(|a| u32::from_le_bytes(a.octets())).collect();
        ipv4.insert("dns", Value::from(dns));
    }
    let ipv6: HashMap<&str, Value<'static>> = HashMap::from([("method", Value::from("disabled"))]);
    let data: HashMap<String, String> = HashMap::from([
        (KEY_MANAGED.to_string(), "yes".to_string()),
        (KEY_MAC.to_string(), parent.to_string()),
        (KEY_NAME.to_string(), name.to_string()),
        (KEY_CONFIG_HASH.to_string(), config_hash.to_string()),
        (KEY_VLAN.to_string(), v.id.to_string()),
    ]);
    let user: HashMap<&str, Value<'static>> = HashMap::from([("data", Value::from(data))]);
    let mut s =
        HashMap::from([("connection", connection), ("vlan", vlan), ("ipv4", ipv4), ("ipv6", ipv6), ("user", user)]);
    // A VLAN's MTU is the wired setting's, as for an Ethernet profile.
    if let Some(mtu) = v.ip.mtu {
        s.insert("802-3-ethernet", HashMap::from([("mtu", Value::from(mtu))]));
    }
    s
}

/// Keys that must not survive an update: the ones multinic sets (a route, DNS
/// server or MTU removed from the spec must go from the profile too); NM prefers the
/// deprecated `addresses` and `routes` over `address-data`/`route-data` when both are
/// sent, and its `dns-data` (NM 1.42+, read back beside `dns`) over `dns`; and
/// `interface-name` would unbind the profile from its MAC after a rename.
const DROP_ON_UPDATE: &[(&str, &str)] = &[
    ("connection", "interface-name"),
    ("802-3-ethernet", "mtu"),
    ("ipv4", "address-data"),
    ("ipv4", "route-data"),
    ("ipv4", "dns"),
    ("ipv4", "dns-data"),
    ("ipv4", "gateway"),
    ("ipv4", "addresses"),
    ("ipv4", "routes"),
    ("ipv4", "route-table"),
    ("ipv4", "routing-rules"),
    ("ipv6", "addresses"),
    ("ipv6", "routes"),
    ("ipv6", "address-data"),
    ("ipv6", "route-data"),
    ("ipv6", "ignore-auto-dns"),
    ("ipv6", "never-default"),
];

/// Our settings on top of the existing ones, so that an update keeps whatever an
/// admin or NM itself added (other settings, other keys).
pub fn merge<'a>(ours: Settings<'static>, existing: &'a OwnedSettings) -> Settings<'a> {
    let mut out: Settings<'a> = HashMap::new();
    for (group, keys) in existing {
        let kept: HashMap<&str, Value<'a>> = keys
            .iter()
            .filter(|(k, _)| !DROP_ON_UPDATE.contains(&(group.as_str(), k.as_str())))
            .filter_map(|(k, v)| Value::try_from(v).ok().map(|v| (k.as_str(), v)))
            .collect();
        out.insert(group.as_str(), kept);
    }
    for (group, keys) in ours {
        let entry = out.entry(group).or_default();
        for (k, v) in keys {
            entry.insert(k, v);
        }
    }
    out
}

/// The owned record of a profile, when it is multinic's. `active` is filled in by
/// the caller.
pub fn owned_from(settings: &OwnedSettings, handle: &str) -> Option<Owned> {
    let data = user_data(settings)?;
    // A VLAN profile carries its parent's MAC: it is read by `owned_vlan_from`.
    if data.get(KEY_MANAGED).map(String::as_str) != Some("yes") || data.contains_key(KEY_VLAN) {
        return None;
    }
    let mac: MacAddr = data.get(KEY_MAC)?.parse().ok()?;
    let addresses = address_data(settings, "ipv4")
        .into_iter()
        .filter_map(|(addr, prefix)| Ipv4Net::new(addr.parse().ok()?, prefix).ok())
        .collect();
    let addresses6 = address_data(settings, "ipv6")
        .into_iter()
        .filter_map(|(addr, prefix)| Ipv6Net::new(addr.parse().ok()?, prefix).ok())
        .collect();
    let method: Option<String> =
        settings.get("ipv6").and_then(|g| g.get("method")).and_then(|v| v.try_clone().ok()?.try_into().ok());
    Some(Owned {
        accept_ra: method.as_deref() == Some("auto"),
        addresses6,
        mac,
        name: data.get(KEY_NAME)?.clone(),
        original_name: data.get(KEY_ORIGINAL_NAME).cloned(),
        original_mtu: None,
        config_hash: data.get(KEY_CONFIG_HASH).cloned().unwrap_or_default(),
        addresses,
        active: false,
        handle: crate::observe::Handle::NmProfile(handle.to_string()),
    })
}

/// The owned record of one of multinic's VLAN profiles.
pub fn owned_vlan_from(settings: &OwnedSettings, handle: &str) -> Option<crate::plan::vlan::OwnedVlan> {
    let data = user_data(settings)?;
    if data.get(KEY_MANAGED).map(String::as_str) != Some("yes") {
        return None;
    }
    Some(crate::plan::vlan::OwnedVlan {
        parent: data.get(KEY_MAC)?.parse().ok()?,
        id: data.get(KEY_VLAN)?.parse().ok()?,
        name: data.get(KEY_NAME)?.clone(),
        config_hash: data.get(KEY_CONFIG_HASH).cloned().unwrap_or_default(),
        addresses: address_data(settings, "ipv4")
            .into_iter()
            .filter_map(|(addr, prefix)| Ipv4Net::new(addr.parse().ok()?, prefix).ok())
            .collect(),
        handle: crate::observe::Handle::NmProfile(handle.to_string()),
    })
}

/// `(address, prefix)` of a group's `address-data`.
fn address_data(settings: &OwnedSettings, group: &str) -> Vec<(String, u8)> {
    settings
        .get(group)
        .and_then(|g| g.get("address-data"))
        .and_then(|v| Vec::<HashMap<String, OwnedValue>>::try_from(v.try_clone().ok()?).ok())
        .unwrap_or_default()
        .iter()
        .filter_map(|m| {
            let addr: String = m.get("address")?.try_clone().ok()?.try_into().ok()?;
            let prefix: u32 = m.get("prefix")?.try_clone().ok()?.try_into().ok()?;
            Some((addr, u8::try_from(prefix).ok()?))
        })
        .collect()
}

fn user_data(settings: &OwnedSettings) -> Option<HashMap<String, String>> {
    let v = settings.get("user")?.get("data")?;
    HashMap::<String, String>::try_from(v.try_clone().ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface() -> ValidInterface {
        ValidInterface {
            index: 0,
            id: Some(7),
            mac: "fa:16:3e:00:00:01".parse().unwrap(),
            address: "198.51.100.7/24".parse().unwrap(),
            mtu: Some(9000),
            name: None,
            routes: vec![],
            dns: vec!["10.1.2.3".parse().unwrap()],
            gateway: None,
            source_routing: false,
            ipv6: None,
            vlans: Vec::new(),
        }
    }

    fn owned(settings: Settings<'static>) -> OwnedSettings {
        settings
            .into_iter()
            .map(|(g, keys)| {
                (g.to_string(), keys.into_iter().map(|(k, v)| (k.to_string(), v.try_to_owned().unwrap())).collect())
            })
            .collect()
    }

    #[test]
    fn profile_is_bound_by_mac_marked_and_never_default() {
        let d = iface();
        let s = build(&Profile {
            desired: &d,
            name: "multinic0",
            original_name: Some("ens4"),
            config_hash: "abc",
            source: None,
        });
        assert_eq!(s["802-3-ethernet"]["mac-address"], Value::from(vec![0xfau8, 0x16, 0x3e, 0, 0, 1]));
        assert_eq!(s["802-3-ethernet"]["mtu"], Value::from(9000u32));
        assert!(!s["connection"].contains_key("interface-name"));
        assert_eq!(s["connection"]["uuid"], Value::from(profile_uuid(d.mac)));
        assert_eq!(s["ipv4"]["method"], Value::from("manual"));
        assert_eq!(s["ipv4"]["never-default"], Value::from(true));
        assert_eq!(s["ipv4"]["dns"], Value::from(vec![50462986u32]));
        assert_eq!(s["ipv6"]["method"], Value::from("disabled"));
        let back = owned_from(&owned(s), "/p/1").expect("our own profile is recognised");
        assert_eq!(back.mac, d.mac);
        assert_eq!(back.name, "multinic0");
        assert_eq!(back.original_name.as_deref(), Some("ens4"));
        assert_eq!(back.config_hash, "abc");
        assert_eq!(back.addresses, vec![d.address]);
    }

    #[test]
    fn uuid_is_stable_per_mac() {
        let a = profile_uuid("fa:16:3e:00:00:01".parse().unwrap());
        assert_eq!(a, profile_uuid("FA:16:3E:00:00:01".parse().unwrap()));
        assert_ne!(a, profile_uuid("fa:16:3e:00:00:02".parse().unwrap()));
    }

    #[test]
    fn default_route_only_when_listed() {
        let mut d = iface();
        d.routes.push(multinic_api::ValidRoute {
            to: "0.0.0.0/0".parse().unwrap(),
            via: Some("198.51.100.1".parse().unwrap()),
            metric: None,
        });
        let s = build(&Profile { desired: &d, name: "multinic0", original_name: None, config_hash: "h", source: None });
        assert_eq!(s["ipv4"]["never-default"], Value::from(false));
    }

    /// A `route-data` or `routing-rules` entry as `key=value` words, sorted.
    fn words(entry: &HashMap<String, OwnedValue>) -> String {
        let mut words: Vec<String> = entry
            .iter()
            .map(|(k, v)| match &**v {
                Value::Str(s) => format!("{k}={s}"),
                Value::U32(n) => format!("{k}={n}"),
                Value::I32(n) => format!("{k}={n}"),
                Value::U8(n) => format!("{k}={n}"),
                other => format!("{k}={other:?}"),
            })
            .collect();
        words.sort();
        words.join(" ")
    }

    fn entries(v: &Value<'_>) -> Vec<String> {
        let list: Vec<HashMap<String, OwnedValue>> = v.try_to_owned().unwrap().try_into().unwrap();
        list.iter().map(words).collect()
    }

    #[test]
    fn source_routing_copies_the_routes_into_the_table_and_adds_the_rule() {
        let mut d = iface();
        d.routes.push(multinic_api::ValidRoute {
            to: "10.9.0.0/16".parse().unwrap(),
            via: Some("198.51.100.1".parse().unwrap()),
            metric: Some(50),
        });
        d.gateway = Some("198.51.100.1".parse().unwrap());
        d.source_routing = true;
        let source = Some(SourceRouting { table: 103, priority: 32003 });
        let s = build(&Profile { desired: &d, name: "multinic3", original_name: None, config_hash: "h", source });
        // No gateway key and never-default: main gets no default route.
        assert!(!s["ipv4"].contains_key("gateway") && !s["ipv4"].contains_key("route-table"));
        assert_eq!(s["ipv4"]["never-default"], Value::from(true));
        assert_eq!(
            entries(&s["ipv4"]["route-data"]),
            [
                "dest=10.9.0.0 metric=50 next-hop=198.51.100.1 prefix=16",
                "dest=198.51.100.0 prefix=24 src=198.51.100.7 table=103",
                "dest=10.9.0.0 metric=50 next-hop=198.51.100.1 prefix=16 table=103",
                "dest=0.0.0.0 next-hop=198.51.100.1 prefix=0 table=103",
            ]
        );
        assert_eq!(
            entries(&s["ipv4"]["routing-rules"]),
            ["family=2 from-len=32 from=198.51.100.7 priority=32003 table=103"]
        );
    }

    #[test]
    fn ipv6_is_manual_without_router_advertisements_and_never_default() {
        let mut d = iface();
        d.ipv6 = Some(multinic_api::ValidIpv6 {
            addresses: vec!["2001:db8:60::10/64".parse().unwrap()],
            routes: vec![multinic_api::ValidRoute6 {
                to: "2001:db8:70::/48".parse().unwrap(),
                via: Some("2001:db8:60::1".parse().unwrap()),
                metric: Some(20),
            }],
            accept_ra: false,
        });
        let s = build(&Profile { desired: &d, name: "multinic0", original_name: None, config_hash: "h", source: None });
        assert_eq!(s["ipv6"]["method"], Value::from("manual"));
        assert_eq!(s["ipv6"]["never-default"], Value::from(true));
        assert_eq!(s["ipv6"]["ignore-auto-dns"], Value::from(true));
        assert_eq!(entries(&s["ipv6"]["address-data"]), ["address=2001:db8:60::10 prefix=64"]);
        assert_eq!(
            entries(&s["ipv6"]["route-data"]),
            ["dest=2001:db8:70:: metric=20 next-hop=2001:db8:60::1 prefix=48"]
        );
        let back = owned_from(&owned(s), "/p/6").unwrap();
        assert_eq!(back.addresses6, d.ipv6.as_ref().unwrap().addresses);
        assert!(!back.accept_ra);
        d.ipv6.as_mut().unwrap().accept_ra = true;
        let s = build(&Profile { desired: &d, name: "multinic0", original_name: None, config_hash: "h", source: None });
        assert_eq!(s["ipv6"]["method"], Value::from("auto"));
        assert!(owned_from(&owned(s), "/p/6").unwrap().accept_ra, "read back: its addresses are multinic's doing");
    }

    #[test]
    fn a_vlan_profile_follows_its_parent_profile() {
        let v = multinic_api::ValidVlan {
            id: 100,
            ip: multinic_api::ValidIp4 {
                address: "11.11.21.5/24".parse().unwrap(),
                mtu: None,
                routes: vec![],
                dns: vec![],
                gateway: None,
            },
            source_routing: false,
        };
        let mac = iface().mac;
        let s = build_vlan(mac, "multinic0.100", &v, "h", None);
        assert_eq!(s["connection"]["type"], Value::from("vlan"));
        assert_eq!(s["connection"]["interface-name"], Value::from("multinic0.100"));
        assert_eq!(s["vlan"]["parent"], Value::from(profile_uuid(mac)));
        assert_eq!(s["vlan"]["id"], Value::from(100u32));
        assert_eq!(entries(&s["ipv4"]["address-data"]), ["address=11.11.21.5 prefix=24"]);
        assert_ne!(vlan_uuid(mac, 100), vlan_uuid(mac, 101));
        assert_ne!(vlan_uuid(mac, 100), profile_uuid(mac));
        // Read back as a VLAN of its parent, never as a second profile of the NIC.
        let back = owned(s);
        assert!(owned_from(&back, "/p/v").is_none());
        let v = owned_vlan_from(&back, "/p/v").unwrap();
        assert_eq!((v.parent, v.id, v.name.as_str(), v.config_hash.as_str()), (mac, 100, "multinic0.100", "h"));
        assert_eq!(v.addresses, vec!["11.11.21.5/24".parse::<Ipv4Net>().unwrap()]);
    }

    #[test]
    fn foreign_profile_is_not_ours() {
        let mut s = build(&Profile {
            desired: &iface(),
            name: "multinic0",
            original_name: None,
            config_hash: "h",
            source: None,
        });
        s.remove("user");
        assert!(owned_from(&owned(s), "/p/2").is_none());
    }

    #[test]
    fn merge_keeps_unknown_settings_and_drops_deprecated_keys() {
        let d = iface();
        let mut before = owned(build(&Profile {
            desired: &d,
            name: "multinic0",
            original_name: None,
            config_hash: "h",
            source: None,
        }));
        before.entry("ethtool".into()).or_default().insert("feature-tso".into(), OwnedValue::from(false));
        before.get_mut("ipv4").unwrap().insert("addresses".into(), OwnedValue::from(7u32));
        before.get_mut("ipv4").unwrap().insert("may-fail".into(), OwnedValue::from(false));
        let mut changed = d.clone();
        changed.mtu = Some(1450);
        let ours = build(&Profile {
            desired: &changed,
            name: "multinic0",
            original_name: None,
            config_hash: "h2",
            source: None,
        });
        let merged = merge(ours, &before);
        assert_eq!(merged["ethtool"]["feature-tso"], Value::from(false));
        assert_eq!(merged["ipv4"]["may-fail"], Value::from(false));
        assert!(!merged["ipv4"].contains_key("addresses"));
        assert_eq!(merged["802-3-ethernet"]["mtu"], Value::from(1450u32));
    }

    #[test]
    fn merge_drops_what_the_spec_no_longer_sets() {
        let mut d = iface();
        d.routes.push(multinic_api::ValidRoute { to: "10.9.0.0/16".parse().unwrap(), via: None, metric: None });
        let mut before = owned(build(&Profile {
            desired: &d,
            name: "multinic0",
            original_name: None,
            config_hash: "h",
            source: None,
        }));
        assert!(before["ipv4"].contains_key("route-data") && before["ipv4"].contains_key("dns"));
        // NM 1.42 reads DNS back as `dns-data` too, and prefers it.
        let dns_data = OwnedValue::try_from(Value::from(vec!["11.11.11.53".to_string()])).unwrap();
        before.get_mut("ipv4").unwrap().insert("dns-data".into(), dns_data);
        let (mut bare, mut no_mtu) = (iface(), iface());
        bare.dns.clear();
        no_mtu.mtu = None;
        let merged = merge(
            build(&Profile { desired: &bare, name: "multinic0", original_name: None, config_hash: "h2", source: None }),
            &before,
        );
        assert!(!merged["ipv4"].contains_key("route-data"));
        assert!(!merged["ipv4"].contains_key("dns") && !merged["ipv4"].contains_key("dns-data"));
        let merged = merge(
            build(&Profile {
                desired: &no_mtu,
                name: "multinic0",
                original_name: None,
                config_hash: "h3",
                source: None,
            }),
            &before,
        );
        assert!(!merged["802-3-ethernet"].contains_key("mtu"));
    }
}
