// SPDX-License-Identifier: Apache-2.0
use super::*;

fn row(id: i64, node: &str, mac: &str, ip: &str, mask: &str) -> Row {
    Row {
        id,
        attached_node_name: Some(node.into()),
        mac_address: Some(mac.into()),
        ip_address: Some(ip.into()),
        subnet_mask: Some(mask.into()),
        gateway: None,
        dns: None,
        vlan: Some(0),
    }
}

const OPTIONS: Options = Options { mtu: Some(1450), gateway_metric: Some(10000) };

fn ready(m: &Mapping, node: &str) -> MultiNicNodeConfigSpec {
    match &m.nodes[node] {
        Mapped::Ready(spec) => spec.clone(),
        other => panic!("{node}: {other:?}"),
    }
}

fn skipped(m: &Mapping, node: &str) -> Vec<Problem> {
    match &m.nodes[node] {
        Mapped::Skipped(p) => p.clone(),
        other => panic!("{node} should be skipped: {other:?}"),
    }
}

#[test]
fn rows_become_interfaces_in_id_order_with_cidr_mtu_gateway_and_dns() {
    let mut r2 = row(7, "worker-1", "FA:16:3E:00:00:02", "10.10.0.5", "255.255.0.0");
    r2.gateway = Some("10.10.0.1".into());
    r2.dns = Some("8.8.8.8, 1.1.1.1".into());
    let rows = vec![r2, row(3, "worker-1", "fa:16:3e:00:00:01", "11.11.11.37", "255.255.255.0")];
    let m = map(&rows, OPTIONS);
    let spec = ready(&m, "worker-1");
    assert_eq!(spec.node_name, "worker-1");
    assert_eq!(spec.instance_id, None);
    let ids: Vec<_> = spec.interfaces.iter().map(|i| i.id).collect();
    assert_eq!(ids, vec![Some(3), Some(7)], "v2's id order, so names follow it");
    let first = &spec.interfaces[0];
    assert_eq!(
        (first.mac_address.as_str(), first.address.as_str(), first.cidr.as_str()),
        ("fa:16:3e:00:00:01", "11.11.11.37", "11.11.11.0/24")
    );
    assert_eq!(first.mtu, Some(1450));
    assert!(first.routes.is_empty() && first.dns.is_empty() && first.name.is_none());
    let second = &spec.interfaces[1];
    assert_eq!(second.mac_address, "fa:16:3e:00:00:02", "MACs are normalized to lower case");
    assert_eq!(second.cidr, "10.10.0.0/16");
    assert_eq!(
        second.routes,
        vec![RouteSpec { to: "0.0.0.0/0".into(), via: Some("10.10.0.1".into()), metric: Some(10000) }]
    );
    assert_eq!(second.dns, vec!["8.8.8.8", "1.1.1.1"]);
    assert!(m.orphans.is_empty());
}

#[test]
fn without_gateway_metric_or_mtu_those_are_left_out() {
    let mut r = row(1, "n", "fa:16:3e:00:00:01", "10.0.0.5", "/24");
    r.gateway = Some("10.0.0.1".into());
    let spec = ready(&map(&[r], Options { mtu: None, gateway_metric: None }), "n");
    assert!(spec.interfaces[0].routes.is_empty());
    assert_eq!(spec.interfaces[0].mtu, None);
    assert_eq!(spec.interfaces[0].cidr, "10.0.0.0/24");
}

#[test]
fn one_bad_row_skips_its_node_only_and_names_row_column_and_fix() {
    let rows = vec![
        row(1, "good", "fa:16:3e:00:00:01", "10.0.0.5", "255.255.255.0"),
        row(2, "bad", "fa:16:3e:00:00:02", "10.0.1.5", "255.255.255.0"),
        row(3, "bad", "zz:16:3e:00:00:03", "10.0.1.6", "255.255.255.0"),
        row(4, "badmask", "fa:16:3e:00:00:04", "10.0.2.5", "255.0.255.0"),
        row(5, "badip", "fa:16:3e:00:00:05", "10.0.3.300", "255.255.255.0"),
    ];
    let m = map(&rows, OPTIONS);
    assert_eq!(ready(&m, "good").interfaces.len(), 1);
    let p = skipped(&m, "bad");
    assert_eq!(p.len(), 1, "the good row of a skipped node is not a problem: {p:?}");
    assert_eq!((p[0].row, p[0].field.as_str()), (3, "mac_address"));
    assert!(p[0].message.contains("\"zz:16:3e:00:00:03\" is not a MAC address"), "{}", p[0].message);
    let p = skipped(&m, "badmask");
    assert_eq!((p[0].row, p[0].field.as_str()), (4, "subnet_mask"));
    assert!(p[0].message.contains("contiguous"), "{}", p[0].message);
    let p = skipped(&m, "badip");
    assert_eq!((p[0].row, p[0].field.as_str()), (5, "ip_address"));
}

#[test]
fn empty_node_rows_are_orphans() {
    let mut r = row(9, "", "fa:16:3e:00:00:09", "10.0.0.9", "255.255.255.0");
    let m = map(&[r.clone()], OPTIONS);
    assert!(m.nodes.is_empty());
    assert_eq!((m.orphans[0].row, m.orphans[0].field.as_str()), (9, "attached_node_name"));
    r.attached_node_name = None;
    assert_eq!(map(&[r], OPTIONS).orphans.len(), 1);
}

#[test]
fn more_than_ten_rows_skip_the_node_naming_every_row() {
    let rows: Vec<Row> = (1..=11)
        .map(|i| row(i, "big", &format!("fa:16:3e:00:01:{i:02x}"), &format!("10.0.0.{i}"), "255.255.255.0"))
        .collect();
    let p = skipped(&map(&rows, OPTIONS), "big");
    assert_eq!(p.len(), 1, "one problem naming every row: {p:?}");
    assert!(p[0].message.contains("11 NIC rows (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)"), "{}", p[0].message);
    assert!(p[0].message.contains("at most 10"), "{}", p[0].message);
    let ten = &rows[..10];
    assert_eq!(ready(&map(ten, OPTIONS), "big").interfaces.len(), 10);
}

#[test]
fn a_duplicate_mac_skips_every_node_that_has_it() {
    let rows = vec![
        row(1, "a", "fa:16:3e:00:00:01", "10.0.0.5", "255.255.255.0"),
        row(2, "b", "FA:16:3E:00:00:01", "10.0.0.6", "255.255.255.0"),
        row(3, "c", "fa:16:3e:00:00:03", "10.0.0.7", "255.255.255.0"),
    ];
    let m = map(&rows, OPTIONS);
    let a = skipped(&m, "a");
    assert!(a[0].message.contains("also in row 2 (node b)"), "{}", a[0].message);
    let b = skipped(&m, "b");
    assert!(b[0].message.contains("also in row 1 (node a)"), "{}", b[0].message);
    ready(&m, "c");
}

/// A row with `vlan` N is VLAN N of the NIC with the same MAC: it lands in that
/// interface's `vlans`, whatever the order of the rows.
#[test]
fn vlan_rows_land_in_their_nics_vlans() {
    let mut tagged = row(3, "n", "FA:16:3E:00:00:04", "10.100.0.5", "255.255.255.0");
    tagged.vlan = Some(100);
    tagged.dns = Some("10.100.0.53".into());
    let mut other = row(5, "n", "fa:16:3e:00:00:04", "10.200.0.5", "/24");
    other.vlan = Some(200);
    let nic = row(4, "n", "fa:16:3e:00:00:04", "10.0.0.5", "255.255.255.0");
    let spec = ready(&map(&[tagged, nic.clone(), other], OPTIONS), "n");
    assert_eq!(spec.interfaces.len(), 1);
    let i = &spec.interfaces[0];
    assert_eq!((i.id, i.address.as_str()), (Some(4), "10.0.0.5"));
    let vlans: Vec<(u16, &str, &str, Option<u32>)> =
        i.vlans.iter().map(|v| (v.id, v.address.as_str(), v.cidr.as_str(), v.mtu)).collect();
    assert_eq!(vlans, [(100, "10.100.0.5", "10.100.0.0/24", None), (200, "10.200.0.5", "10.200.0.0/24", None)]);
    assert_eq!(i.vlans[0].dns, ["10.100.0.53"]);
    // NULL is the NIC itself, as 0.
    let mut untagged = nic;
    untagged.vlan = None;
    assert!(ready(&map(&[untagged], OPTIONS), "n").interfaces[0].vlans.is_empty());
}

/// What a VLAN row cannot be: without its NIC's row, an id out of range, twice the
/// same VLAN, with a gateway to import; each names the row and the fix.
#[test]
fn bad_vlan_rows_skip_the_node_with_the_fix() {
    let nic = row(4, "n", "fa:16:3e:00:00:04", "10.0.0.5", "255.255.255.0");
    let mut tagged = row(6, "n", "fa:16:3e:00:00:04", "10.100.0.5", "255.255.255.0");
    tagged.vlan = Some(100);
    let p = skipped(&map(std::slice::from_ref(&tagged), OPTIONS), "n");
    assert_eq!((p[0].row, p[0].field.as_str()), (6, "vlan"));
    assert!(p[0].message.contains("no row with vlan 0"), "{}", p[0].message);
    let mut big = tagged.clone();
    big.vlan = Some(4095);
    let p = skipped(&map(&[nic.clone(), big], OPTIONS), "n");
    assert!(p[0].message.contains("4095 is not a VLAN id; use 1-4094"), "{}", p[0].message);
    let mut twice = tagged.clone();
    twice.id = 7;
    let p = skipped(&map(&[nic.clone(), tagged.clone(), twice], OPTIONS), "n");
    assert!(p.iter().all(|p| p.field == "mac_address" && p.message.contains("one row per VLAN")), "{p:?}");
    let mut routed = tagged.clone();
    routed.gateway = Some("10.100.0.1".into());
    let p = skipped(&map(&[nic.clone(), routed.clone()], OPTIONS), "n");
    assert_eq!((p[0].row, p[0].field.as_str()), (6, "gateway"));
    let no_gateways = Options { gateway_metric: None, ..OPTIONS };
    assert_eq!(ready(&map(&[nic, routed], no_gateways), "n").interfaces[0].vlans.len(), 1);
}

#[test]
fn api_rules_apply_too_with_the_row_named() {
    // Node names must be valid object names; DNS entries are checked by the api crate.
    let rows = vec![row(1, "Worker_1", "fa:16:3e:00:00:01", "10.0.0.5", "255.255.255.0")];
    let p = skipped(&map(&rows, OPTIONS), "Worker_1");
    assert!(p.iter().any(|p| p.field == "spec.nodeName"), "{p:?}");
    let mut r = row(6, "n", "fa:16:3e:00:00:06", "10.0.0.5", "255.255.255.0");
    r.dns = Some("8.8.8.8 dns.example".into());
    let p = skipped(&map(&[r], OPTIONS), "n");
    assert_eq!((p[0].row, p[0].field.as_str()), (6, "spec.interfaces[0].dns[1]"));
    let big = Options { mtu: Some(9001), gateway_metric: None };
    let p = skipped(&map(&[row(2, "n", "fa:16:3e:00:00:02", "10.0.0.5", "24")], big), "n");
    assert_eq!(p[0].field, "spec.interfaces[0].mtu");
}

#[test]
fn bad_gateway_is_reported() {
    let mut r = row(1, "n", "fa:16:3e:00:00:01", "10.0.0.5", "255.255.255.0");
    r.gateway = Some("10.0.0".into());
    let p = skipped(&map(&[r], OPTIONS), "n");
    assert_eq!(p[0].field, "gateway");
}
