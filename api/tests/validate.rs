// SPDX-License-Identifier: Apache-2.0
//! `validate()` reports every error with its field path and keeps the good interfaces.

#![allow(clippy::unwrap_used)]

use multinic_api::{MultiNicNodeConfig, validate};

fn cr(interfaces: &str) -> MultiNicNodeConfig {
    let yaml = format!(
        "apiVersion: multinic.io/v1alpha1\nkind: MultiNicNodeConfig\nmetadata: {{name: node-a}}\nspec:\n  nodeName: node-a\n  interfaces:\n{interfaces}"
    );
    serde_yaml::from_str(&yaml).expect("test yaml parses")
}

fn iface(mac: &str, address: &str, cidr: &str, extra: &str) -> String {
    format!("  - {{macAddress: \"{mac}\", address: \"{address}\", cidr: \"{cidr}\"{extra}}}\n")
}

fn paths(cr: &MultiNicNodeConfig) -> Vec<String> {
    validate(cr).errors.iter().map(|e| e.to_string()).collect()
}

#[test]
fn good_spec_has_no_errors() {
    let c = cr(&(iface("fa:16:3e:00:00:01", "11.11.11.2", "11.11.11.0/24", ", mtu: 9000, name: multinic3")
        + &iface("FA:16:3E:00:00:02", "11.11.12.2", "11.11.12.0/24", ", routes: [{to: 10.0.0.0/8, via: 11.11.12.1}]")));
    let v = validate(&c);
    assert!(v.errors.is_empty(), "{:?}", v.errors);
    assert_eq!(v.interfaces.len(), 2);
    assert_eq!(v.interfaces[1].mac.to_string(), "fa:16:3e:00:00:02");
    assert_eq!(v.interfaces[1].routes[0].to.to_string(), "10.0.0.0/8");
}

#[test]
fn each_bad_field_is_named_with_its_index() {
    let c = cr(&(iface("fa:16:3e:00:00:01", "11.11.11.2", "11.11.11.0/24", "")
        + &iface("fa:16:3e:00:00:0g", "11.11.11.3", "11.11.11.0/24", "")
        + &iface("fa:16:3e:00:00:03", "11.11.99.3", "11.11.11.0/24", "")
        + &iface("fa:16:3e:00:00:04", "11.11.11.4", "11.11.11.0/24", ", mtu: 20")
        + &iface("fa:16:3e:00:00:05", "300.1.1.1", "11.11.11.0/33", ", name: eth1")));
    let v = validate(&c);
    let p = paths(&c);
    assert!(p.iter().any(|e| e.starts_with("spec.interfaces[1].macAddress:")), "{p:?}");
    assert!(p.iter().any(|e| e.starts_with("spec.interfaces[2].address:") && e.contains("outside cidr")), "{p:?}");
    assert!(p.iter().any(|e| e.starts_with("spec.interfaces[3].mtu:") && e.contains("68-9000")), "{p:?}");
    assert!(p.iter().any(|e| e.starts_with("spec.interfaces[4].address:")), "{p:?}");
    assert!(p.iter().any(|e| e.starts_with("spec.interfaces[4].cidr:")), "{p:?}");
    assert!(p.iter().any(|e| e.starts_with("spec.interfaces[4].name:")), "{p:?}");
    // Only the good interface survives.
    assert_eq!(v.interfaces.iter().map(|i| i.index).collect::<Vec<_>>(), vec![0]);
}

#[test]
fn duplicate_macs_and_names_fail_every_holder() {
    let c = cr(&(iface("fa:16:3e:00:00:01", "11.11.11.2", "11.11.11.0/24", ", name: multinic1")
        + &iface("FA:16:3E:00:00:01", "11.11.11.3", "11.11.11.0/24", "")
        + &iface("fa:16:3e:00:00:03", "11.11.11.4", "11.11.11.0/24", ", name: multinic1")));
    let p = paths(&c);
    assert!(p.iter().any(|e| e.starts_with("spec.interfaces[0].macAddress:") && e.contains("unique")), "{p:?}");
    assert!(p.iter().any(|e| e.starts_with("spec.interfaces[1].macAddress:")), "{p:?}");
    assert!(p.iter().any(|e| e.starts_with("spec.interfaces[2].name:")), "{p:?}");
    assert!(validate(&c).interfaces.is_empty());
}

#[test]
fn more_than_ten_interfaces_is_a_spec_error() {
    let list: String = (0..11)
        .map(|i| iface(&format!("fa:16:3e:00:00:{i:02x}"), &format!("11.11.11.{}", i + 2), "11.11.11.0/24", ""))
        .collect();
    let c = cr(&list);
    let v = validate(&c);
    assert!(v.spec_errors().any(|e| e.path == "spec.interfaces" && e.message.contains("at most 10")), "{:?}", v.errors);
    assert!(v.interfaces.is_empty());
}

#[test]
fn name_must_match_node() {
    let mut c = cr(&iface("fa:16:3e:00:00:01", "11.11.11.2", "11.11.11.0/24", ""));
    c.metadata.name = Some("other".into());
    assert!(paths(&c).iter().any(|e| e.starts_with("metadata.name:")));
}

#[test]
fn gateway_must_be_a_router_on_the_subnet() {
    let c =
        cr(&(iface("fa:16:3e:00:00:01", "11.11.11.2", "11.11.11.0/24", ", gateway: 11.11.11.1, sourceRouting: true")
            + &iface("fa:16:3e:00:00:02", "11.11.12.2", "11.11.12.0/24", ", gateway: 11.11.13.1")
            + &iface("fa:16:3e:00:00:03", "11.11.14.2", "11.11.14.0/24", ", gateway: 11.11.14.2")
            + &iface("fa:16:3e:00:00:04", "11.11.15.2", "11.11.15.0/24", ", gateway: 11.11.15")
            + &iface("fa:16:3e:00:00:05", "11.11.16.2", "11.11.16.0/24", ", gateway: 11.11.16.255")));
    let v = validate(&c);
    let p = paths(&c);
    assert!(p.iter().any(|e| e.starts_with("spec.interfaces[1].gateway:") && e.contains("outside cidr")), "{p:?}");
    assert!(p.iter().any(|e| e.starts_with("spec.interfaces[2].gateway:") && e.contains("own address")), "{p:?}");
    assert!(p.iter().any(|e| e.starts_with("spec.interfaces[3].gateway:") && e.contains("not an IPv4")), "{p:?}");
    assert!(p.iter().any(|e| e.starts_with("spec.interfaces[4].gateway:") && e.contains("broadcast")), "{p:?}");
    assert_eq!(v.interfaces.len(), 1);
    assert_eq!(v.interfaces[0].gateway, Some("11.11.11.1".parse().unwrap()));
    assert!(v.interfaces[0].source_routing);
}

#[test]
fn ipv6_addresses_and_routes_are_checked_field_by_field() {
    let good =
        ", ipv6: {addresses: [\"2001:db8:1::10/64\"], routes: [{to: \"2001:db8:2::/48\", via: \"2001:db8:1::1\"}]}";
    let c = cr(&(iface("fa:16:3e:00:00:01", "11.11.11.2", "11.11.11.0/24", good)
        + &iface(
            "fa:16:3e:00:00:02",
            "11.11.12.2",
            "11.11.12.0/24",
            ", ipv6: {addresses: [\"fe80::1/64\", \"2001:db8::1\"]}",
        )
        + &iface(
            "fa:16:3e:00:00:03",
            "11.11.13.2",
            "11.11.13.0/24",
            ", ipv6: {routes: [{to: \"::/1\"}, {to: \"10.0.0.0/8\"}]}",
        )
        + &iface("fa:16:3e:00:00:04", "11.11.14.2", "11.11.14.0/24", ", ipv6: {acceptRA: true}")));
    let v = validate(&c);
    let p = paths(&c);
    assert!(
        p.iter().any(|e| e.starts_with("spec.interfaces[1].ipv6.addresses[0]:") && e.contains("link-local")),
        "{p:?}"
    );
    assert!(
        p.iter().any(|e| e.starts_with("spec.interfaces[1].ipv6.addresses[1]:") && e.contains("prefix length")),
        "{p:?}"
    );
    assert!(
        p.iter().any(|e| e.starts_with("spec.interfaces[2].ipv6:") && e.contains("neither addresses nor acceptRA")),
        "{p:?}"
    );
    assert!(p.iter().any(|e| e.starts_with("spec.interfaces[2].ipv6.routes[0].to:") && e.contains("half")), "{p:?}");
    assert!(
        p.iter().any(|e| e.starts_with("spec.interfaces[2].ipv6.routes[1].to:") && e.contains("not an IPv6 prefix")),
        "{p:?}"
    );
    assert_eq!(v.interfaces.iter().map(|i| i.index).collect::<Vec<_>>(), vec![0, 3]);
    let v6 = v.interfaces[0].ipv6.as_ref().unwrap();
    assert_eq!(v6.addresses[0].to_string(), "2001:db8:1::10/64");
    assert_eq!(v6.routes[0].via, Some("2001:db8:1::1".parse().unwrap()));
    assert!(!v6.accept_ra && v.interfaces[1].ipv6.as_ref().unwrap().accept_ra);
}

#[test]
fn vlans_are_checked_like_interfaces_with_their_own_paths() {
    let vlans = ", vlans: [{id: 100, address: 11.11.21.5, cidr: 11.11.21.0/24, gateway: 11.11.21.1}, \
                 {id: 4095, address: 11.11.22.5, cidr: 11.11.23.0/24}, {id: 100, address: 11.11.24.5, cidr: 11.11.24.0/24, mtu: 20}]";
    let c = cr(&(iface("fa:16:3e:00:00:01", "11.11.11.2", "11.11.11.0/24", vlans)
        + &iface(
            "fa:16:3e:00:00:02",
            "11.11.12.2",
            "11.11.12.0/24",
            ", vlans: [{id: 7, address: 11.11.27.5, cidr: 11.11.27.0/24}]",
        )));
    let v = validate(&c);
    let p = paths(&c);
    assert!(p.iter().any(|e| e.starts_with("spec.interfaces[0].vlans[1].id:") && e.contains("1-4094")), "{p:?}");
    assert!(
        p.iter().any(|e| e.starts_with("spec.interfaces[0].vlans[1].address:") && e.contains("outside cidr")),
        "{p:?}"
    );
    assert!(p.iter().any(|e| e.starts_with("spec.interfaces[0].vlans[2].id:") && e.contains("twice")), "{p:?}");
    assert!(p.iter().any(|e| e.starts_with("spec.interfaces[0].vlans[2].mtu:")), "{p:?}");
    assert_eq!(v.interfaces.iter().map(|i| i.index).collect::<Vec<_>>(), vec![1]);
    assert_eq!(v.interfaces[0].vlans[0].id, 7);
    assert_eq!(v.interfaces[0].vlans[0].ip.address.to_string(), "11.11.27.5/24");
}

#[test]
fn a_vlans_gateway_is_checked_and_its_table_is_readable_back() {
    let vlans =
        ", vlans: [{id: 100, address: 11.11.21.5, cidr: 11.11.21.0/24, gateway: 11.11.22.1, sourceRouting: true}]";
    let c = cr(&iface("fa:16:3e:00:00:01", "11.11.11.2", "11.11.11.0/24", vlans));
    let p = paths(&c);
    assert!(
        p.iter().any(|e| e.starts_with("spec.interfaces[0].vlans[0].gateway:") && e.contains("outside cidr")),
        "{p:?}"
    );
    let ok = ", vlans: [{id: 100, address: 11.11.21.5, cidr: 11.11.21.0/24, gateway: 11.11.21.1, sourceRouting: true}]";
    let v = validate(&cr(&iface("fa:16:3e:00:00:01", "11.11.11.2", "11.11.11.0/24", ok)));
    let vlan = &v.interfaces[0].vlans[0];
    assert_eq!((vlan.ip.gateway.map(|g| g.to_string()), vlan.source_routing), (Some("11.11.21.1".into()), true));
    assert_eq!(multinic_api::vlan_source_table("multinic0", 100), Some(10100));
    assert_eq!(multinic_api::vlan_source_table("multinic9", 4094), Some(104094));
    assert_eq!(multinic_api::vlan_source_table("eth0", 100), None);
}

#[test]
fn a_vlan_has_no_default_route_and_no_mtu_above_its_nics() {
    let vlans = ", mtu: 1400, vlans: [{id: 100, address: 11.11.21.5, cidr: 11.11.21.0/24, mtu: 1500, \
                 routes: [{to: 0.0.0.0/0, via: 11.11.21.1}]}]";
    let p = paths(&cr(&iface("fa:16:3e:00:00:01", "11.11.11.2", "11.11.11.0/24", vlans)));
    assert!(p.iter().any(|e| e.starts_with("spec.interfaces[0].vlans[0].mtu:") && e.contains("at most 1400")), "{p:?}");
    assert!(
        p.iter().any(|e| e.starts_with("spec.interfaces[0].vlans[0].routes[0].to:") && e.contains("default route")),
        "{p:?}"
    );
}

#[test]
fn masks() {
    use multinic_api::prefix_len;
    assert_eq!(prefix_len("255.255.255.0"), Some(24));
    assert_eq!(prefix_len("255.255.255.255"), Some(32));
    assert_eq!(prefix_len("255.255.240.0"), Some(20));
    assert_eq!(prefix_len("/16"), Some(16));
    assert_eq!(prefix_len("0.0.0.0"), None);
    assert_eq!(prefix_len("255.0.255.0"), None);
    assert_eq!(prefix_len("33"), None);
    assert_eq!(prefix_len("banana"), None);
}
