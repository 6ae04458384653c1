// SPDX-License-Identifier: Apache-2.0
//! multinicd against a real NetworkManager and a real systemd-networkd, each test in
//! its own lab (see `tests/lab/lab.sh`): the binary is run inside the lab, and the
//! result is checked with `ip -j` and the manager's own view (NM's D-Bus API,
//! networkd's files). One suite: every scenario runs on both backends (see the end
//! of the file); a few are specific to one.

#![allow(clippy::unwrap_used)]

use multinic_api::{InterfaceState, InterfaceStatus, MultiNicNodeConfigStatus, NodeState, Reason};
use multinic_lab::{Lab, Manager, NM_WRITE_METHODS, PRIMARY_MAC, PRIMARY_UUID, nic, spec};
use serde_json::Value;

const A: &str = "02:00:00:00:01:04";
const B: &str = "02:00:00:00:01:05";
const C: &str = "02:00:00:00:01:06";

fn lab_with(m: Manager, nics: &[(&str, &str)]) -> Option<Lab> {
    let lab = Lab::start_with(m)?;
    for (name, mac) in nics {
        lab.add_nic(name, mac, 1500);
    }
    Some(lab)
}

fn two_nics() -> String {
    spec(&[nic(1, A, "198.51.100.4", "198.51.100.0/24", ", mtu: 9000"), nic(2, B, "203.0.113.5", "203.0.113.0/26", "")])
}

/// Run `apply`, return (exit code, status block).
fn apply(lab: &Lab, file: &str) -> (i32, MultiNicNodeConfigStatus) {
    let (code, status, _) = apply_logged(lab, file);
    (code, status)
}

/// Run `apply`, return (exit code, status block, log on stderr).
fn apply_logged(lab: &Lab, file: &str) -> (i32, MultiNicNodeConfigStatus, String) {
    let out = lab.multinicd(&["apply", "--file", file, "-o", "json"]);
    let code = out.status.code().expect("exit code");
    (code, status_of(&out.stdout), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The status block `apply -o json` printed, read as the product's own type (empty
/// when it printed none).
fn status_of(stdout: &[u8]) -> MultiNicNodeConfigStatus {
    let v: Value = serde_json::from_slice(stdout).unwrap_or(Value::Null);
    match v.get("status") {
        Some(s) => serde_json::from_value(s.clone()).expect("a status block"),
        None => MultiNicNodeConfigStatus::default(),
    }
}

fn iface<'a>(status: &'a MultiNicNodeConfigStatus, name: &str) -> &'a InterfaceStatus {
    status.interface_statuses.get(name).unwrap_or_else(|| panic!("no status for {name}: {status:?}"))
}

fn mtu(lab: &Lab, name: &str) -> u64 {
    lab.link(name).expect("link exists")["mtu"].as_u64().expect("mtu")
}

fn is_up(lab: &Lab, name: &str) -> bool {
    lab.link(name).expect("link exists")["flags"].as_array().expect("flags").iter().any(|f| f == "UP")
}

/// Host state a failed or refused run must leave untouched: links and addresses,
/// and every configuration of the manager.
fn snapshot(lab: &Lab) -> (Value, Vec<Value>, Vec<(String, Value)>) {
    let mut addr = lab.ip(&["addr", "show"]);
    // Byte counters and lifetimes move on their own; keep what configuration sets.
    for l in addr.as_array_mut().expect("array") {
        if let Some(o) = l.as_object_mut() {
            o.retain(|k, _| ["ifname", "address", "mtu", "flags", "addr_info"].contains(&k.as_str()));
        }
        for a in l["addr_info"].as_array_mut().into_iter().flatten() {
            if let Some(o) = a.as_object_mut() {
                o.retain(|k, _| ["local", "prefixlen", "family"].contains(&k.as_str()));
            }
        }
    }
    (addr, lab.foreign(), lab.owned())
}

fn owned_macs(lab: &Lab) -> Vec<String> {
    lab.owned().into_iter().map(|(mac, _)| mac).collect()
}

fn two_nics_are_configured_by_mac_with_names_address_prefix_mtu_and_up(m: Manager) {
    let Some(lab) = lab_with(m, &[("ens4", A), ("ens5", B)]) else {
        return;
    };
    let file = lab.write("node.yaml", &two_nics());
    let (code, status) = apply(&lab, &file);
    assert_eq!(code, 0, "{status:?}");
    assert_eq!(status.state, Some(NodeState::Configured));
    assert_eq!(lab.ipv4("multinic0"), vec!["198.51.100.4/24"]);
    assert_eq!(lab.ipv4("multinic1"), vec!["203.0.113.5/26"]);
    assert_eq!(mtu(&lab, "multinic0"), 9000);
    assert_eq!(mtu(&lab, "multinic1"), 1500);
    assert!(is_up(&lab, "multinic0") && is_up(&lab, "multinic1"));
    assert_eq!(lab.link("multinic0").unwrap()["address"], A);
    assert!(lab.link("ens4").is_none() && lab.link("ens5").is_none());
    assert_eq!(iface(&status, "multinic0").state, InterfaceState::Configured);
    assert_eq!(iface(&status, "multinic1").mac_address, B);
    // One owned configuration per NIC, bound by MAC.
    assert_eq!(owned_macs(&lab), vec![A, B]);
    let owned = lab.owned();
    // On both backends a udev .link pins the name for the next boot and re-attach.
    let links = link_files(&lab);
    assert!(links.iter().any(|t| t.contains(&format!("MACAddress={A}")) && t.contains("Name=multinic0")), "{links:?}");
    match m {
        Manager::Networkd => {
            // Matched by MAC.
            assert!(owned.iter().all(|(mac, f)| f["text"].as_str().unwrap().contains(&format!("MACAddress={mac}"))));
        }
        _ => {
            assert!(owned.iter().all(|(_, p)| p["settings"]["connection"]["interface-name"].is_null()));
            assert_eq!(lab.active_connections().len(), 4, "primary, NM's own lo, two multinic profiles");
        }
    }
    // The primary keeps its address and default route.
    assert_eq!(lab.ipv4("eth0"), vec!["192.0.2.10/24"]);
    let routes = lab.ip(&["route", "show", "default"]);
    assert_eq!(routes[0]["dev"], "eth0");
}

fn missing_mac_is_not_found_for_that_interface_only(m: Manager) {
    let Some(lab) = lab_with(m, &[("ens4", A)]) else {
        return;
    };
    let file = lab.write(
        "node.yaml",
        &spec(&[
            nic(1, "02:00:00:00:09:99", "198.51.100.9", "198.51.100.0/24", ""),
            nic(2, A, "198.51.100.4", "198.51.100.0/24", ""),
        ]),
    );
    let (code, status) = apply(&lab, &file);
    assert_eq!(code, 1);
    assert_eq!(status.state, Some(NodeState::Failed));
    assert_eq!(status.reason, Some(Reason::PartiallyFailed));
    assert_eq!(iface(&status, "multinic0").state, InterfaceState::NotFound);
    assert_eq!(iface(&status, "multinic1").state, InterfaceState::Configured);
    assert_eq!(status.failed_interfaces[0].mac_address, "02:00:00:00:09:99");
    assert_eq!(lab.ipv4("multinic1"), vec!["198.51.100.4/24"]);
}

fn reapply_changes_nothing_and_writes_nothing_over_dbus(m: Manager) {
    let Some(lab) = lab_with(m, &[("ens4", A), ("ens5", B)]) else {
        return;
    };
    let file = lab.write("node.yaml", &two_nics());
    assert_eq!(apply(&lab, &file).0, 0);
    let before = lab.owned();
    let active_before = (m == Manager::NetworkManager).then(|| lab.active_connections());
    let monitor = lab.monitor_calls();
    let (code, status) = apply(&lab, &file);
    let calls = monitor.stop();
    assert_eq!(code, 0);
    assert_eq!(status.state, Some(NodeState::Configured));
    let writes: Vec<&String> = calls.iter().filter(|m| NM_WRITE_METHODS.contains(&m.as_str())).collect();
    assert!(writes.is_empty(), "re-apply made D-Bus writes: {writes:?}");
    if m == Manager::NetworkManager {
        assert!(calls.iter().any(|m| m == "GetSettings"), "the monitor saw the run's reads: {calls:?}");
        assert_eq!(active_before, Some(lab.active_connections()), "no new activation");
    }
    // Same profiles with the same UUIDs (NM); the same files, not even rewritten (networkd).
    assert_eq!(before, lab.owned(), "owned configurations unchanged");
}

fn changed_address_and_mtu_are_applied(m: Manager) {
    let Some(lab) = lab_with(m, &[("ens4", A), ("ens5", B)]) else {
        return;
    };
    assert_eq!(apply(&lab, &lab.write("node.yaml", &two_nics())).0, 0);
    let changed = spec(&[
        nic(1, A, "198.51.100.40", "198.51.100.0/25", ", mtu: 1400"),
        nic(2, B, "203.0.113.5", "203.0.113.0/26", ""),
    ]);
    let (code, status, log) = apply_logged(&lab, &lab.write("node2.yaml", &changed));
    assert_eq!(code, 0, "{status:?}");
    assert!(log.contains("action=\"Updated\"") && log.contains("interface=multinic0"), "{log}");
    assert_eq!(lab.ipv4("multinic0"), vec!["198.51.100.40/25"]);
    assert_eq!(mtu(&lab, "multinic0"), 1400);
    assert_eq!(iface(&status, "multinic0").message, "up with 198.51.100.40/25, MTU 1400");
    assert_eq!(iface(&status, "multinic1").reason, Some(Reason::Configured));
    assert_eq!(owned_macs(&lab), vec![A, B], "updated in place, not duplicated");
}

/// Routes and DNS servers taken out of the spec leave the host too: the manager's
/// configuration does not keep what multinic no longer sets.
fn removed_routes_and_dns_servers_are_removed(m: Manager) {
    let Some(lab) = lab_with(m, &[("ens4", A)]) else {
        return;
    };
    let routes = |lab: &Lab| -> Vec<String> {
        let v = lab.ip(&["-4", "route", "show", "dev", "multinic0", "proto", "static"]);
        let mut out: Vec<String> =
            v.as_array().unwrap().iter().map(|r| r["dst"].as_str().unwrap().to_string()).collect();
        out.sort();
        out
    };
    let extra = |routes: &[&str], dns: &[&str]| {
        let routes: Vec<String> = routes.iter().map(|r| format!("{{to: {r}, via: 198.51.100.1}}")).collect();
        format!(", routes: [{}], dns: [{}]", routes.join(", "), dns.join(", "))
    };
    let step = |routes_in: &[&str], dns_in: &[&str]| {
        let file =
            lab.write("node.yaml", &spec(&[nic(1, A, "198.51.100.4", "198.51.100.0/24", &extra(routes_in, dns_in))]));
        let (code, status) = apply(&lab, &file);
        assert_eq!(code, 0, "{status:?}");
        assert_eq!(routes(&lab), routes_in, "routes on multinic0");
        eventually(
            || lab.dns("multinic0") == dns_in,
            || format!("DNS servers {dns_in:?}, have {:?}", lab.dns("multinic0")),
        );
    };
    step(&["10.20.0.0/16", "10.30.0.0/16"], &["198.51.100.53", "198.51.100.54"]);
    step(&["10.20.0.0/16"], &["198.51.100.53"]);
    step(&[], &[]);
    assert_eq!(lab.ipv4("multinic0"), vec!["198.51.100.4/24"], "the address stays throughout");
}

fn removed_interface_loses_its_profile_and_the_others_keep_their_names(m: Manager) {
    let Some(lab) = lab_with(m, &[("ens4", A), ("ens5", B), ("ens6", C)]) else {
        return;
    };
    let all = spec(&[
        nic(1, A, "198.51.100.4", "198.51.100.0/24", ""),
        nic(2, B, "198.51.100.5", "198.51.100.0/24", ""),
        nic(3, C, "198.51.100.6", "198.51.100.0/24", ""),
    ]);
    assert_eq!(apply(&lab, &lab.write("all.yaml", &all)).0, 0);
    assert_eq!(lab.link("multinic0").unwrap()["address"], A);
    let without_first =
        spec(&[nic(2, B, "198.51.100.5", "198.51.100.0/24", ""), nic(3, C, "198.51.100.6", "198.51.100.0/24", "")]);
    let (code, status) = apply(&lab, &lab.write("two.yaml", &without_first));
    assert_eq!(code, 0, "{status:?}");
    // The others keep multinic1 and multinic2; the removed NIC gets its kernel name back.
    assert_eq!(lab.link("multinic1").unwrap()["address"], B);
    assert_eq!(lab.link("multinic2").unwrap()["address"], C);
    assert!(lab.link("multinic0").is_none());
    assert_eq!(lab.link("ens4").unwrap()["address"], A);
    assert!(lab.ipv4("ens4").is_empty());
    assert_eq!(owned_macs(&lab), vec![B, C]);
    assert_eq!(iface(&status, "multinic1").state, InterfaceState::Configured);
}

fn primary_mac_in_the_spec_is_blocked_and_the_primary_untouched(m: Manager) {
    let Some(lab) = lab_with(m, &[("ens4", A)]) else {
        return;
    };
    let before = snapshot(&lab);
    let file = lab.write("node.yaml", &spec(&[nic(1, PRIMARY_MAC, "198.51.100.1", "198.51.100.0/24", ", mtu: 9000")]));
    let (code, status) = apply(&lab, &file);
    assert_eq!(code, 1);
    let entry = iface(&status, "multinic0");
    assert_eq!(entry.state, InterfaceState::Blocked);
    assert_eq!(entry.reason, Some(Reason::DefaultRouteInterface));
    assert_eq!(snapshot(&lab), before, "nothing changed on the host or in NM");
    assert_eq!(lab.ipv4("eth0"), vec!["192.0.2.10/24"]);
}

fn existing_multinic0_with_another_mac_blocks_that_interface(m: Manager) {
    let Some(lab) = lab_with(m, &[("multinic0", C), ("ens4", A), ("ens5", B)]) else {
        return;
    };
    let before_c = lab.link("multinic0").unwrap();
    let file = lab.write(
        "node.yaml",
        &spec(&[
            nic(1, A, "198.51.100.4", "198.51.100.0/24", ", name: multinic0"),
            nic(2, B, "198.51.100.5", "198.51.100.0/24", ""),
        ]),
    );
    let (code, status) = apply(&lab, &file);
    assert_eq!(code, 1);
    let entry = iface(&status, "multinic0");
    assert_eq!(entry.state, InterfaceState::Blocked, "{status:?}");
    assert_eq!(entry.reason, Some(Reason::NameTakenByOtherMac));
    assert!(entry.message.contains(C));
    // The other interface still goes ahead, and the foreign multinic0 is left alone.
    assert_eq!(iface(&status, "multinic1").state, InterfaceState::Configured);
    assert_eq!(lab.link("multinic0").unwrap()["address"], before_c["address"]);
    assert!(lab.link("ens4").is_some(), "the blocked NIC was not renamed");
    let out = lab.multinicd(&["apply", "--file", &file]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("priority=\"crit\""), "logged at priority crit");
}

#[test]
fn foreign_profiles_are_never_modified_or_deleted() {
    let Some(lab) = lab_with(Manager::NetworkManager, &[("ens4", A), ("ens6", C)]) else {
        return;
    };
    // An admin's own profile on another NIC.
    let out = lab.run(
        "nmcli",
        &[
            "con",
            "add",
            "type",
            "ethernet",
            "ifname",
            "ens6",
            "con-name",
            "admin",
            "ipv4.method",
            "manual",
            "ipv4.addresses",
            "203.0.113.66/24",
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let foreign = |lab: &Lab| {
        let mut p: Vec<(String, Value)> = lab.nm_profiles().into_iter().filter(|(_, s)| s["user"].is_null()).collect();
        for (_, s) in &mut p {
            s["connection"].as_object_mut().map(|c| c.remove("timestamp"));
        }
        p
    };
    let before = foreign(&lab);
    assert!(before.iter().any(|(_, s)| s["connection"]["uuid"]["data"] == PRIMARY_UUID));
    assert!(before.iter().any(|(_, s)| s["connection"]["id"]["data"] == "admin"));
    let file = lab.write("node.yaml", &spec(&[nic(1, A, "198.51.100.4", "198.51.100.0/24", "")]));
    assert_eq!(apply(&lab, &file).0, 0);
    assert_eq!(foreign(&lab), before, "apply left foreign profiles alone");
    assert_eq!(lab.multinicd(&["cleanup"]).status.code(), Some(0));
    assert_eq!(foreign(&lab), before, "cleanup left foreign profiles alone");
}

/// The texts of multinic's udev `.link` files in the lab.
fn link_files(lab: &Lab) -> Vec<String> {
    lab.networkd_files()
        .into_iter()
        .filter(|(n, t, _)| n.ends_with(".link") && t.starts_with("# Managed by multinic"))
        .map(|(_, t, _)| t)
        .collect()
}

fn cleanup_removes_every_owned_profile_and_restores_names(m: Manager) {
    let Some(lab) = lab_with(m, &[("ens4", A), ("ens5", B)]) else {
        return;
    };
    let foreign = lab.foreign();
    assert_eq!(apply(&lab, &lab.write("node.yaml", &two_nics())).0, 0);
    assert_eq!(lab.owned().len(), 2);
    let out = lab.multinicd(&["cleanup"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("name restored to ens4"));
    assert!(lab.owned().is_empty());
    assert!(link_files(&lab).is_empty(), "cleanup left .link files: {:?}", link_files(&lab));
    assert_eq!(lab.foreign(), foreign, "the primary's configuration (and NM's lo) remain as they were");
    assert!(lab.link("ens4").is_some() && lab.link("ens5").is_some());
    assert!(lab.ipv4("ens4").is_empty() && lab.ipv4("ens5").is_empty());
    assert_eq!(mtu(&lab, "ens4"), 1500, "the MTU the NIC had before multinic configured it");
    assert_eq!(lab.ipv4("eth0"), vec!["192.0.2.10/24"]);
    // A second cleanup has nothing to do.
    let again = lab.multinicd(&["cleanup"]);
    assert_eq!(again.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing to clean up"));
}

fn bad_input_exits_2_names_the_field_and_changes_nothing(m: Manager) {
    let Some(lab) = lab_with(m, &[("ens4", A), ("ens5", B)]) else {
        return;
    };
    let good = |extra: &str| nic(1, A, "198.51.100.4", "198.51.100.0/24", extra);
    let eleven: Vec<String> = (0..11)
        .map(|i| nic(i, &format!("02:00:00:00:02:{i:02x}"), &format!("198.51.100.{}", i + 10), "198.51.100.0/24", ""))
        .collect();
    let cases: Vec<(&str, String, &str)> = vec![
        ("malformed", "apiVersion: multinic.io/v1alpha1\nkind: MultiNicNodeConfig\nspec: [unclosed\n".into(), "line"),
        (
            "bad-mac",
            spec(&[nic(1, "02:00:00:00:01:zz", "198.51.100.4", "198.51.100.0/24", "")]),
            "spec.interfaces[0].macAddress",
        ),
        ("outside-cidr", spec(&[nic(1, A, "198.51.200.4", "198.51.100.0/24", "")]), "spec.interfaces[0].address"),
        ("mtu-20", spec(&[good(", mtu: 20")]), "spec.interfaces[0].mtu"),
        ("eleven", spec(&eleven), "spec.interfaces: lists 11"),
        (
            "duplicate-mac",
            spec(&[good(""), nic(2, A, "198.51.100.5", "198.51.100.0/24", "")]),
            "spec.interfaces[1].macAddress",
        ),
    ];
    let before = snapshot(&lab);
    for (name, content, field) in cases {
        let file = lab.write(&format!("{name}.yaml"), &content);
        let out = lab.multinicd(&["apply", "--file", &file]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(field), "{name}: stderr does not name {field}: {stderr}");
        assert!(out.stdout.is_empty(), "{name}: printed a status");
    }
    let config = lab.write("multinicd.yaml", "rollbackTimeout: 10s\nrollbackTimout: 10s\n");
    let out = lab.multinicd(&["--config", &config, "apply", "--file", &lab.write("ok.yaml", &spec(&[good("")]))]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("rollbackTimout") && stderr.contains("multinicd.yaml"), "{stderr}");
    assert_eq!(snapshot(&lab), before, "bad input changed the host");
}

/// Only NICs are candidates: a macvlan is a virtual link, and its parent is under
/// it (a lower link), however the spec names them; the real NIC beside them is
/// configured.
fn a_virtual_link_and_its_lower_nic_are_never_touched(m: Manager) {
    let Some(lab) = lab_with(m, &[("ens4", A), ("ens8", C)]) else {
        return;
    };
    let out = lab
        .run("ip", &["link", "add", "link", "ens8", "name", "ens5", "address", B, "type", "macvlan", "mode", "bridge"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let file = lab.write(
        "node.yaml",
        &spec(&[
            nic(1, A, "198.51.100.4", "198.51.100.0/24", ""),
            nic(2, B, "198.51.100.5", "198.51.100.0/24", ""),
            nic(3, C, "198.51.100.6", "198.51.100.0/24", ""),
        ]),
    );
    let (code, status) = apply(&lab, &file);
    assert_eq!(code, 1, "{status:?}");
    assert_eq!(iface(&status, "multinic0").state, InterfaceState::Configured);
    let blocked: Vec<(Reason, String)> = status
        .interface_statuses
        .values()
        .filter(|i| i.state == InterfaceState::Blocked)
        .filter_map(|i| Some((i.reason.clone()?, i.message.clone())))
        .collect();
    assert_eq!(blocked.len(), 2, "{status:?}");
    assert!(blocked.iter().any(|(r, m)| *r == Reason::NotANic && m.contains("macvlan")), "{blocked:?}");
    assert!(
        blocked.iter().any(|(r, m)| *r == Reason::UnderAnotherLink && m.contains("lower link of ens5")),
        "{blocked:?}"
    );
    assert_eq!(owned_macs(&lab), vec![A]);
    assert!(lab.link("ens5").is_some() && lab.link("ens8").is_some(), "neither renamed");
    assert!(lab.ipv4("ens5").is_empty() && lab.ipv4("ens8").is_empty());
}

/// A NIC without carrier: the manager takes the configuration but the link never
/// comes up, so verification times out and the transaction is rolled back (NM's
/// checkpoint; networkd's previous files).
fn a_nic_that_never_comes_up_is_rolled_back_after_the_verify_timeout(m: Manager) {
    let Some(lab) = lab_with(m, &[("ens4", A)]) else {
        return;
    };
    lab.add_nic_without_carrier("ens5", B);
    assert_rolled_back_beside_a_configured_one(&lab);
}

fn assert_rolled_back_beside_a_configured_one(lab: &Lab) {
    let config = lab.write("multinicd.yaml", "rollbackTimeout: 4s\n");
    let file = lab.write("node.yaml", &two_nics());
    let out = lab.multinicd(&["--config", &config, "apply", "--file", &file, "-o", "json"]);
    let status = status_of(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{status:?}");
    assert_eq!(status.reason, Some(Reason::PartiallyFailed));
    assert_eq!(iface(&status, "multinic0").state, InterfaceState::Configured);
    let failed = iface(&status, "multinic1");
    assert_eq!(failed.state, InterfaceState::Failed);
    assert_eq!(failed.reason, Some(Reason::RolledBack));
    // Rolled back: no configuration left for it, kernel name restored, no address.
    assert_eq!(owned_macs(lab), vec![A]);
    assert!(lab.link("ens5").is_some(), "renamed back");
    assert!(lab.ipv4("ens5").is_empty());
    assert_eq!(lab.ipv4("multinic0"), vec!["198.51.100.4/24"]);
}

fn explicit_rename_of_a_configured_interface_is_applied(m: Manager) {
    let Some(lab) = lab_with(m, &[("ens4", A)]) else {
        return;
    };
    assert_eq!(apply(&lab, &lab.write("a.yaml", &spec(&[nic(1, A, "198.51.100.4", "198.51.100.0/24", "")]))).0, 0);
    assert!(lab.link("multinic0").is_some());
    let (code, status) =
        apply(&lab, &lab.write("b.yaml", &spec(&[nic(1, A, "198.51.100.4", "198.51.100.0/24", ", name: multinic3")])));
    assert_eq!(code, 0, "{status:?}");
    assert!(lab.link("multinic0").is_none());
    assert_eq!(lab.ipv4("multinic3"), vec!["198.51.100.4/24"]);
    assert!(is_up(&lab, "multinic3"));
    // Cleanup still knows the kernel name from before the first rename.
    assert_eq!(lab.multinicd(&["cleanup"]).status.code(), Some(0));
    assert!(lab.link("ens4").is_some());
}

fn drifted_address_is_repaired_on_the_next_apply(m: Manager) {
    let Some(lab) = lab_with(m, &[("ens4", A)]) else {
        return;
    };
    let file = lab.write("a.yaml", &spec(&[nic(1, A, "198.51.100.4", "198.51.100.0/24", "")]));
    assert_eq!(apply(&lab, &file).0, 0);
    assert!(lab.run("ip", &["addr", "flush", "dev", "multinic0"]).status.success());
    assert!(lab.ipv4("multinic0").is_empty());
    let plan = lab.multinicd(&["plan", "--file", &file]);
    assert!(String::from_utf8_lossy(&plan.stdout).contains("repair"), "{}", String::from_utf8_lossy(&plan.stdout));
    assert!(lab.ipv4("multinic0").is_empty(), "plan touched nothing");
    let (code, status, log) = apply_logged(&lab, &file);
    assert_eq!(code, 0);
    assert_eq!(iface(&status, "multinic0").state, InterfaceState::Configured);
    assert!(log.contains("action=\"DriftRepaired\""), "{log}");
    assert_eq!(lab.ipv4("multinic0"), vec!["198.51.100.4/24"]);
}

#[test]
fn netlink_events_arrive_for_hot_plugged_nics() {
    let Some(lab) = Lab::start() else { return };
    let bin = multinic_lab::multinicd_bin();
    let mut watch = lab
        .command(bin.to_str().unwrap())
        .args(["inventory", "--watch", "-o", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start inventory --watch");
    let rx = multinic_lab::stdout_lines(&mut watch);
    // The initial inventory (a JSON array) comes first; then events, one per line.
    let first = rx.recv_timeout(std::time::Duration::from_secs(10)).expect("inventory printed");
    assert!(first.starts_with('['));
    lab.add_nic("ens7", "02:00:00:00:01:07", 1500);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut seen = false;
    while std::time::Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(std::time::Duration::from_millis(200))
            && let Ok(event) = serde_json::from_str::<Value>(&line)
            && event["event"] == "link"
            && event["name"] == "ens7"
        {
            seen = true;
            break;
        }
    }
    let _ = watch.kill();
    let _ = watch.wait();
    assert!(seen, "no link event for the hot-plugged ens7");
}

/// `ip` inside the lab, which must succeed.
fn must(lab: &Lab, args: &[&str]) {
    let out = lab.run("ip", args);
    assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

/// What the primary network and a CNI's state look like: the bridge's ports and
/// addresses, every route and policy rule, and the paths to addresses that matter.
fn primary_state(lab: &Lab) -> Value {
    serde_json::json!({
        "ports": lab.ip(&["link", "show", "master", "br0"]).as_array().unwrap().iter().map(|l| l["ifname"].clone()).collect::<Vec<_>>(),
        "br0": lab.ipv4("br0"),
        "routing": lab.routing_state(&["10.99.0.129", "10.99.0.3", "10.244.1.5", "8.8.8.8"], &["ens5", "multinic0"]),
    })
}

/// A node shaped like real ones: the primary on a bridge `br0` (own MAC, the best
/// default route) whose uplink port carries a MAC the spec names, and a CNI's veth
/// with a /32 route, a route in table 200 and a policy rule. The port is refused and
/// named after its holder, subnets and routes that would cut into the primary are
/// refused before anything is written, a good interface beside them is configured,
/// and neither the apply nor the cleanup changes the primary, its routes or the
/// CNI's state.
fn bridged_primary_its_port_and_routing_conflicts_are_refused(m: Manager) {
    let Some(lab) = lab_with(m, &[("ens4", A), ("ens5", B)]) else {
        return;
    };
    must(&lab, &["link", "add", "br0", "address", "02:00:00:00:0b:0b", "type", "bridge"]);
    must(&lab, &["link", "set", "ens4", "master", "br0"]);
    must(&lab, &["link", "set", "ens4", "up"]);
    must(&lab, &["link", "set", "br0", "up"]);
    must(&lab, &["addr", "add", "10.99.0.5/24", "dev", "br0"]);
    must(&lab, &["route", "add", "default", "via", "10.99.0.1", "dev", "br0", "metric", "50"]);
    must(&lab, &["link", "add", "cali1a2b3c", "type", "veth", "peer", "name", "cali-peer", "netns", "peers"]);
    must(&lab, &["link", "set", "cali1a2b3c", "up"]);
    must(&lab, &["route", "add", "10.244.1.5/32", "dev", "cali1a2b3c"]);
    must(&lab, &["route", "add", "10.244.0.0/16", "via", "192.0.2.1", "dev", "eth0", "table", "200"]);
    must(&lab, &["rule", "add", "from", "10.244.0.0/16", "lookup", "200", "priority", "100"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while lab.link("br0").unwrap()["operstate"] != "UP" {
        assert!(std::time::Instant::now() < deadline, "br0 never got carrier");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let before = primary_state(&lab);

    let refused = lab.write(
        "refused.yaml",
        &spec(&[nic(1, A, "10.50.0.4", "10.50.0.0/24", ""), nic(2, B, "10.99.0.200", "10.99.0.128/25", "")]),
    );
    let (code, status) = apply(&lab, &refused);
    assert_eq!(code, 1, "{status:?}");
    let by_mac = |mac: &str| status.interface_statuses.values().find(|i| i.mac_address == mac).unwrap().clone();
    let port = by_mac(A);
    assert_eq!((port.state, port.reason.clone()), (InterfaceState::Blocked, Some(Reason::UnderAnotherLink)));
    assert!(port.message.as_str().contains("port of br0, which holds the default route"), "{port:?}");
    let inside = by_mac(B);
    assert_eq!(inside.reason, Some(Reason::RoutingConflict), "{inside:?}");
    assert!(inside.message.as_str().contains("overlaps 10.99.0.0/24 of the primary network on br0"));
    let inventory = lab.multinicd(&["inventory", "-o", "json"]);
    let inventory: Value = serde_json::from_slice(&inventory.stdout).expect("inventory JSON");
    let role = |name: &str| inventory.as_array().unwrap().iter().find(|l| l["name"] == name).unwrap()["role"].clone();
    assert!(role("ens4").as_str().unwrap().contains("port of br0"), "{inventory:#}");
    assert!(role("cali1a2b3c").as_str().unwrap().starts_with("protected"), "{inventory:#}");
    assert_eq!(role("ens5"), "free");

    for (bad, why) in [
        (nic(2, B, "10.200.0.1", "0.0.0.0/1", ""), "shorter than minPrefixLength /8"),
        (nic(2, B, "198.51.100.5", "198.51.100.0/24", ", routes: [{to: 10.99.0.0/28, via: 198.51.100.1}]"), "overlaps"),
        (nic(2, B, "198.51.100.5", "198.51.100.0/24", ", routes: [{to: 128.0.0.0/1, via: 198.51.100.1}]"), "half"),
    ] {
        let file = lab.write("bad.yaml", &spec(&[bad]));
        let (code, status) = apply(&lab, &file);
        assert_eq!(code, 1, "{status:?}");
        let i = status.interface_statuses.values().next().unwrap().clone();
        assert_eq!(i.reason, Some(Reason::RoutingConflict), "{i:?}");
        assert!(i.message.as_str().contains(why), "{i:?}");
        assert!(lab.owned().is_empty(), "nothing written");
        assert_eq!(primary_state(&lab), before);
    }

    let good = lab.write("good.yaml", &spec(&[nic(2, B, "198.51.100.5", "198.51.100.0/24", "")]));
    let (code, status) = apply(&lab, &good);
    assert_eq!(code, 0, "{status:?}");
    assert_eq!(lab.ipv4("multinic0"), vec!["198.51.100.5/24"]);
    assert_eq!(primary_state(&lab), before, "apply left the primary and the CNI's routes and rules alone");
    let out = lab.multinicd(&["cleanup"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(lab.owned().is_empty());
    assert_eq!(primary_state(&lab), before, "cleanup left the primary and the CNI's routes and rules alone");
}

/// A NIC detached from the node and attached again with the same MAC (a port
/// detached and attached again in the cloud; here its veth deleted and made again):
/// while it is gone it is NotFound, Detached, its name and configuration kept; back,
/// it is configured again under the same name from the same profile or file.
fn a_detached_nic_keeps_its_name_and_configuration_and_comes_back_as_it_was(m: Manager) {
    let Some(lab) = lab_with(m, &[("ens4", A), ("ens5", B)]) else {
        return;
    };
    let file = lab.write("node.yaml", &two_nics());
    assert_eq!(apply(&lab, &file).0, 0);
    // The configuration itself: NM's profile (its settings are normalized by NM on
    // every update), networkd's files with their modification times.
    let kept = |lab: &Lab| -> Vec<(String, Value)> {
        let owned = lab.owned().into_iter();
        owned.map(|(mac, v)| (mac, if m == Manager::Networkd { v } else { v["path"].clone() })).collect()
    };
    let before = kept(&lab);
    assert_eq!(before.len(), 2);

    lab.del_nic("multinic0");
    let (code, status) = apply(&lab, &file);
    assert_eq!(code, 1);
    let gone = iface(&status, "multinic0");
    assert_eq!((gone.state, &gone.reason), (InterfaceState::NotFound, &Some(Reason::Detached)), "{gone:?}");
    assert!(gone.message.starts_with("detached: no link with MAC 02:00:00:00:01:04"), "{}", gone.message);
    assert_eq!(iface(&status, "multinic1").state, InterfaceState::Configured);
    assert_eq!(kept(&lab), before, "the detached NIC's configuration is kept");

    lab.add_nic("ens4", A, 1500);
    let (code, status) = apply(&lab, &file);
    assert_eq!(code, 0, "{status:?}");
    assert_eq!(iface(&status, "multinic0").state, InterfaceState::Configured);
    assert_eq!(lab.ipv4("multinic0"), vec!["198.51.100.4/24"]);
    assert_eq!(mtu(&lab, "multinic0"), 9000);
    assert_eq!(kept(&lab), before, "no new profile or file for the NIC that came back");
}

#[path = "integration/ipv6.rs"]
mod ipv6;
#[path = "integration/source_routing.rs"]
mod source_routing;
use ipv6::ipv6_static_addresses_routes_and_router_advertisements;
use source_routing::replies_leave_by_the_nic_the_request_came_in;

/// Every scenario that takes a [`Manager`], on each backend.
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        mod networkmanager {
            $( #[test] fn $scenario() { super::$scenario(super::Manager::NetworkManager) } )*
        }
        mod networkd {
            $( #[test] fn $scenario() { super::$scenario(super::Manager::Networkd) } )*
        }
    };
}

on_both_backends!(
    two_nics_are_configured_by_mac_with_names_address_prefix_mtu_and_up,
    missing_mac_is_not_found_for_that_interface_only,
    reapply_changes_nothing_and_writes_nothing_over_dbus,
    changed_address_and_mtu_are_applied,
    removed_interface_loses_its_profile_and_the_others_keep_their_names,
    removed_routes_and_dns_servers_are_removed,
    primary_mac_in_the_spec_is_blocked_and_the_primary_untouched,
    existing_multinic0_with_another_mac_blocks_that_interface,
    cleanup_removes_every_owned_profile_and_restores_names,
    bad_input_exits_2_names_the_field_and_changes_nothing,
    a_nic_that_never_comes_up_is_rolled_back_after_the_verify_timeout,
    a_virtual_link_and_its_lower_nic_are_never_touched,
    bridged_primary_its_port_and_routing_conflicts_are_refused,
    explicit_rename_of_a_configured_interface_is_applied,
    drifted_address_is_repaired_on_the_next_apply,
    killed_in_a_transaction_converges,
    a_detached_nic_keeps_its_name_and_configuration_and_comes_back_as_it_was,
    replies_leave_by_the_nic_the_request_came_in,
    ipv6_static_addresses_routes_and_router_advertisements,
);

/// NetworkManager as distributions ship it (auto-default on) and a DHCP server that
/// offers a router on the NIC's segment: NM puts its own "Wired connection 1" on the
/// hot-attached NIC and a second default route through it. Named in the spec, the
/// NIC is taken over: multinic's profile replaces the generated one, the DHCP
/// address and the default route go, the generated profile is deleted and NM
/// records the NIC in no-auto-default.state. The primary's routes are the same
/// throughout, also after a cleanup. (That a NIC with a permanent MAC gets no new
/// generated profile after a cleanup is shown by the VM node; a veth has none, so NM
/// records it by name.)
#[test]
fn stock_networkmanager_dhcp_nic_is_taken_over() {
    let Some(lab) = Lab::start_stock() else { return };
    lab.add_nic("ens4", A, 1500);
    lab.dhcp("ens4", "10.80.0");
    let dhcp_route = lab.wait_default_route("ens4");
    assert_eq!(dhcp_route["gateway"], "10.80.0.1", "{dhcp_route}");
    let generated = |lab: &Lab| -> Vec<String> {
        lab.nm_profiles()
            .into_iter()
            .filter_map(|(_, s)| s["connection"]["id"]["data"].as_str().map(str::to_string))
            .filter(|id| id.starts_with("Wired connection"))
            .collect()
    };
    assert_eq!(generated(&lab), vec!["Wired connection 1"]);
    let before = lab.routing_state(&["192.0.2.1", "8.8.8.8"], &["ens4", "multinic0"]);
    let inventory: Value = serde_json::from_slice(&lab.multinicd(&["inventory", "-o", "json"]).stdout).unwrap();
    let ens4 = inventory.as_array().unwrap().iter().find(|l| l["name"] == "ens4").unwrap().clone();
    assert!(ens4["role"].as_str().unwrap().contains("generated profile"), "{ens4:#}");

    let file = lab.write("node.yaml", &spec(&[nic(1, A, "10.80.0.10", "10.80.0.0/24", "")]));
    let (code, status) = apply(&lab, &file);
    assert_eq!(code, 0, "{status:?}");
    assert_eq!(lab.ipv4("multinic0"), vec!["10.80.0.10/24"], "the DHCP address is gone");
    assert!(lab.ip(&["route", "show", "default", "dev", "multinic0"]).as_array().unwrap().is_empty());
    assert!(generated(&lab).is_empty(), "the generated profile is deleted");
    let state = lab.run("cat", &["/var/lib/NetworkManager/no-auto-default.state"]);
    let state = String::from_utf8_lossy(&state.stdout).to_lowercase();
    // By permanent MAC where the NIC has one; a veth has none: by its name.
    assert!(
        state.contains(A) || state.contains("interface-name:=multinic0"),
        "NM remembers the NIC in no-auto-default.state: {state:?}"
    );
    assert_eq!(lab.routing_state(&["192.0.2.1", "8.8.8.8"], &["ens4", "multinic0"]), before);

    let out = lab.multinicd(&["cleanup"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(lab.link("ens4").is_some(), "the kernel name is back");
    assert_eq!(lab.routing_state(&["192.0.2.1", "8.8.8.8"], &["ens4", "multinic0"]), before);
}

/// networkd with a catch-all `.network` as images ship one (DHCP on every Ethernet
/// NIC) and a DHCP server that offers a router: the hot-attached NIC gets a DHCP
/// address and a default route from it. Named in the spec, the NIC is taken over:
/// multinic's file sorts first and is the one networkd applies, the DHCP address and
/// route go, the catch-all is untouched and the primary unchanged. A file that sorts
/// before multinic's and matches the NIC would win: that is caught before commit,
/// rolled back, and the file named.
#[test]
fn networkd_catch_all_dhcp_nic_is_taken_over() {
    let Some(lab) = lab_with(Manager::Networkd, &[]) else { return };
    let write = |name: &str, text: &str| {
        let out = lab.run("sh", &["-c", &format!("printf '{text}' > /etc/systemd/network/{name}")]);
        assert!(out.status.success());
    };
    lab.catch_all_dhcp();
    lab.add_nic("ens4", A, 1500);
    lab.dhcp("ens4", "10.80.0");
    assert_eq!(lab.wait_default_route("ens4")["gateway"], "10.80.0.1");
    let inventory: Value = serde_json::from_slice(&lab.multinicd(&["inventory", "-o", "json"]).stdout).unwrap();
    let ens4 = inventory.as_array().unwrap().iter().find(|l| l["name"] == "ens4").unwrap().clone();
    assert!(
        ens4["role"].as_str().unwrap().contains("networkd's catch-all /etc/systemd/network/20-wired.network"),
        "{ens4:#}"
    );
    let before = lab.routing_state(&["192.0.2.1", "8.8.8.8"], &["ens4", "ens5", "multinic0", "multinic1"]);
    let foreign = lab.foreign();

    let file = lab.write("node.yaml", &spec(&[nic(1, A, "10.80.0.10", "10.80.0.0/24", "")]));
    let (code, status) = apply(&lab, &file);
    assert_eq!(code, 0, "{status:?}");
    eventually_ipv4(&lab, "multinic0", "10.80.0.10/24");
    assert!(lab.ip(&["route", "show", "default", "dev", "multinic0"]).as_array().unwrap().is_empty());
    let files: Vec<String> = lab.networkd_files().into_iter().map(|(n, _, _)| n).collect();
    assert!(files.contains(&"10-multinic-020000000104.network".to_string()), "{files:?}");
    assert_eq!(lab.foreign(), foreign, "the catch-all is untouched");
    assert_eq!(lab.routing_state(&["192.0.2.1", "8.8.8.8"], &["ens4", "ens5", "multinic0", "multinic1"]), before);

    // A file that sorts first and matches the NIC once it is renamed.
    write("05-early.network", "[Match]\\nName=ens5* multinic1\\n\\n[Network]\\nDHCP=ipv4\\n");
    lab.add_nic("ens5", B, 1500);
    let file = lab.write(
        "two.yaml",
        &spec(&[nic(1, A, "10.80.0.10", "10.80.0.0/24", ""), nic(2, B, "10.81.0.10", "10.81.0.0/24", "")]),
    );
    let (code, status) = apply(&lab, &file);
    assert_eq!(code, 1, "{status:?}");
    let failed = iface(&status, "multinic1");
    assert_eq!(failed.reason, Some(Reason::RolledBack), "{failed:?}");
    let message = failed.message.as_str();
    assert!(message.contains("networkd applies /etc/systemd/network/05-early.network to"), "{message}");
    assert!(message.contains("not multinic's"), "{message}");
    assert!(lab.link("ens5").is_some(), "renamed back");
    assert_eq!(iface(&status, "multinic0").state, InterfaceState::Configured);
    assert_eq!(lab.routing_state(&["192.0.2.1", "8.8.8.8"], &["ens4", "ens5", "multinic0", "multinic1"]), before);
}

/// networkd: files an earlier release wrote (`90-multinic-*`, which lost to
/// catch-alls) are still multinic's: an unchanged spec leaves them alone, the next
/// change replaces them with `10-multinic-*` files.
#[test]
fn networkd_files_of_an_earlier_release_are_adopted_and_replaced() {
    let Some(lab) = lab_with(Manager::Networkd, &[("ens4", A)]) else { return };
    assert_eq!(apply(&lab, &lab.write("node.yaml", &two_nics_first_only())).0, 0);
    let moved =
        lab.run("sh", &["-c", "cd /etc/systemd/network && for f in 10-multinic-*; do mv \"$f\" \"90-${f#10-}\"; done"]);
    assert!(moved.status.success());
    let names = |lab: &Lab| -> Vec<String> {
        let mut n: Vec<String> =
            lab.networkd_files().into_iter().map(|(n, _, _)| n).filter(|n| n.contains("multinic")).collect();
        n.sort();
        n
    };
    let legacy = names(&lab);
    assert_eq!(legacy, vec!["90-multinic-020000000104.link", "90-multinic-020000000104.network"]);
    let (code, status) = apply(&lab, &lab.write("node.yaml", &two_nics_first_only()));
    assert_eq!(code, 0, "{status:?}");
    assert_eq!(names(&lab), legacy, "an unchanged spec leaves them");
    let changed = spec(&[nic(1, A, "198.51.100.4", "198.51.100.0/24", ", mtu: 1400")]);
    assert_eq!(apply(&lab, &lab.write("changed.yaml", &changed)).0, 0);
    assert_eq!(names(&lab), vec!["10-multinic-020000000104.link", "10-multinic-020000000104.network"]);
    assert_eq!(mtu(&lab, "multinic0"), 1400);
}

fn two_nics_first_only() -> String {
    spec(&[nic(1, A, "198.51.100.4", "198.51.100.0/24", "")])
}

/// networkd reads `ManageForeignRoutingPolicyRules=` and `ManageForeignRoutes=` only
/// when it starts. While its configuration turns them on, or is newer than networkd
/// (not restarted since), multinic makes it reconfigure nothing and says what to do;
/// a CNI's policy rule survives.
#[test]
fn networkd_that_would_delete_foreign_rules_is_refused() {
    let Some(lab) = lab_with(Manager::Networkd, &[("ens4", A)]) else { return };
    must(&lab, &["rule", "add", "from", "10.244.0.0/16", "lookup", "200", "priority", "100"]);
    let rules = lab.ip(&["rule", "show"]);
    let sh = |script: &str| {
        let out = lab.run("sh", &["-c", script]);
        assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let file = lab.write("node.yaml", &two_nics_first_only());
    let refused = |why: &str| {
        let (code, status) = apply(&lab, &file);
        assert_eq!(code, 1, "{status:?}");
        let i = status.interface_statuses.values().next().unwrap().clone();
        assert_eq!(i.reason, Some(Reason::NetworkdSettings), "{i:?}");
        assert!(i.message.as_str().contains(why), "{i:?}");
        assert!(lab.owned().is_empty(), "nothing written");
        assert_eq!(lab.ip(&["rule", "show"]), rules);
    };
    sh("printf '[Network]\\nManageForeignRoutingPolicyRules=yes\\n' > /etc/systemd/networkd.conf.d/zz-local.conf");
    refused("configured with ManageForeignRoutingPolicyRules=yes");
    // Changed after networkd started (its start time is known to about 20 ms here).
    std::thread::sleep(std::time::Duration::from_millis(200));
    sh("rm /etc/systemd/networkd.conf.d/zz-local.conf; touch /etc/systemd/networkd.conf.d/multinic.conf");
    refused("systemd-networkd started before its configuration set ManageForeignRoutingPolicyRules=no");
    // Restarted, networkd has read them: applied, the rule kept. Rewriting the
    // drop-in with the same settings later (a package upgrade) changes nothing.
    lab.restart_networkd();
    let (code, status) = apply(&lab, &file);
    assert_eq!(code, 0, "{status:?}");
    assert_eq!(lab.ip(&["rule", "show"]), rules, "the CNI's rule survived the apply");
    std::thread::sleep(std::time::Duration::from_millis(200));
    sh(
        "cp -a /etc/systemd/networkd.conf.d/multinic.conf /run/m && mv /run/m /etc/systemd/networkd.conf.d/multinic.conf",
    );
    let changed = lab.write("changed.yaml", &spec(&[nic(1, A, "198.51.100.4", "198.51.100.0/24", ", mtu: 1400")]));
    let (code, status) = apply(&lab, &changed);
    assert_eq!(code, 0, "{status:?}");
    assert_eq!(lab.ip(&["rule", "show"]), rules);
}

/// udev keeps a renamed NIC's old name as an alternative name (systemd 252 does it
/// when multinic renames `ens6` to `multinic1`); the kernel then refuses that name as
/// taken, even for the link itself. Cleanup drops the altname and gives the name back.
#[test]
fn a_kernel_name_kept_as_altname_is_given_back() {
    let Some(lab) = lab_with(Manager::NetworkManager, &[("ens4", A)]) else { return };
    assert_eq!(apply(&lab, &lab.write("node.yaml", &two_nics_first_only())).0, 0);
    must(&lab, &["link", "property", "add", "dev", "multinic0", "altname", "ens4"]);
    let out = lab.multinicd(&["cleanup"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let link = lab.link("ens4").expect("the kernel name is back");
    assert_eq!(link["address"], A);
}

/// networkd: an admin's own `.network` (no multinic header) is never touched, by
/// apply or by cleanup, even when it matches a NIC multinic does not manage.
#[test]
fn networkd_foreign_files_are_left_alone() {
    let Some(lab) = lab_with(Manager::Networkd, &[("ens4", A), ("ens6", C)]) else { return };
    let admin = format!("[Match]\nMACAddress={C}\n\n[Network]\nAddress=203.0.113.66/24\n");
    let out = lab.run("sh", &["-c", &format!("printf '%s' '{admin}' > /etc/systemd/network/50-admin.network && busctl --system call org.freedesktop.network1 /org/freedesktop/network1 org.freedesktop.network1.Manager Reload")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let before = lab.foreign();
    assert!(before.iter().any(|f| f["file"] == "50-admin.network"));
    assert!(before.iter().any(|f| f["file"] == "10-lab-primary.network"));
    assert_eq!(apply(&lab, &lab.write("node.yaml", &spec(&[nic(1, A, "198.51.100.4", "198.51.100.0/24", "")]))).0, 0);
    assert_eq!(lab.foreign(), before, "apply left foreign files alone (same text, same mtime)");
    assert_eq!(lab.multinicd(&["cleanup"]).status.code(), Some(0));
    assert_eq!(lab.foreign(), before, "cleanup left foreign files alone");
    assert!(lab.owned().is_empty());
}

/// networkd has no checkpoint: a failed update puts the previous files back,
/// reloads, and the previous state returns. The update is made while the NIC has
/// lost its carrier, so verification fails.
#[test]
fn networkd_failed_update_restores_the_previous_files_and_state() {
    let Some(lab) = lab_with(Manager::Networkd, &[("ens5", B)]) else { return };
    let config = lab.write("multinicd.yaml", "rollbackTimeout: 4s\n");
    let good = lab.write("good.yaml", &spec(&[nic(1, B, "198.51.100.5", "198.51.100.0/24", ", mtu: 1500")]));
    let out = lab.multinicd(&["--config", &config, "apply", "--file", &good]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let files_before = lab.owned();
    lab.carrier("multinic0", false);
    let bad = lab.write("bad.yaml", &spec(&[nic(1, B, "198.51.100.50", "198.51.100.0/24", ", mtu: 1400")]));
    let out = lab.multinicd(&["--config", &config, "apply", "--file", &bad, "-o", "json"]);
    let status = status_of(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{status:?}");
    assert_eq!(iface(&status, "multinic0").reason, Some(Reason::RolledBack));
    let after = lab.owned();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].1["text"], files_before[0].1["text"], "previous .network restored");
    lab.carrier("multinic0", true);
    eventually_ipv4(&lab, "multinic0", "198.51.100.5/24");
    assert_eq!(mtu(&lab, "multinic0"), 1500);
}

/// Wait up to 10 s for `cond`; `what` says what was missing.
fn eventually(cond: impl Fn() -> bool, what: impl Fn() -> String) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "timed out: {}", what());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn eventually_ipv4(lab: &Lab, name: &str, want: &str) {
    eventually(|| lab.ipv4(name) == [want], || format!("{name} never got back {want}: {:?}", lab.ipv4(name)));
}

/// The backend is picked from the bus: whichever runs, NetworkManager when both
/// do (unless the config says networkd), neither → exit 3 naming what was looked for.
#[test]
fn backend_is_detected_from_the_bus() {
    let one = || spec(&[nic(1, A, "198.51.100.4", "198.51.100.0/24", "")]);
    for (manager, config, want) in [
        (Manager::NetworkManager, "", "networkmanager"),
        (Manager::Networkd, "", "networkd"),
        (Manager::Both, "", "networkmanager"),
        (Manager::Both, "backend: networkd\n", "networkd"),
    ] {
        let Some(lab) = lab_with(manager, &[("ens4", A)]) else { return };
        let config = lab.write("multinicd.yaml", config);
        let out =
            lab.multinicd(&["--config", &config, "apply", "--file", &lab.write("node.yaml", &one()), "-o", "json"]);
        let status = status_of(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{manager:?}: {status:?}");
        assert_eq!(status.backend.as_deref(), Some(want), "{manager:?} with {config:?}");
    }
    let Some(lab) = lab_with(Manager::None, &[("ens4", A)]) else { return };
    let out = lab.multinicd(&["apply", "--file", &lab.write("node.yaml", &one())]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("org.freedesktop.NetworkManager") && stderr.contains("org.freedesktop.network1"),
        "{stderr}"
    );
}

/// The daemon is killed (SIGKILL) at each step of a transaction: after it began (the
/// record written), after the rename, after the configuration was written, after it
/// verified, after the commit. Started again, it undoes what was left open and
/// converges: the NIC configured, exactly one owned configuration for it; and
/// `cleanup` gives the NIC its kernel name back.
fn killed_in_a_transaction_converges(m: Manager) {
    let Some(lab) = lab_with(m, &[("ens4", A)]) else { return };
    let config = lab.write("multinicd.yaml", "rollbackTimeout: 6s\n");
    let file = lab.write("node.yaml", &spec(&[nic(1, A, "198.51.100.4", "198.51.100.0/24", ", mtu: 1400")]));
    for step in ["begun", "renamed", "configured", "verified", "committed"] {
        let daemon = lab.spawn_multinicd_env(
            &format!("killed-{step}"),
            &["--config", &config, "apply", "--file", &file],
            &[("MULTINIC_TEST_PAUSE_AT", step)],
        );
        eventually(|| daemon.log().contains("paused at transaction step"), || format!("{step}: {}", daemon.log()));
        daemon.kill();

        let (code, status, log) = apply_logged(&lab, &file);
        assert_eq!(code, 0, "{step}: {status:?}");
        assert_eq!(iface(&status, "multinic0").state, InterfaceState::Configured, "{step}");
        // Undone, except once it verified and was committing: then kept as it is.
        let said = if step == "committed" {
            "interrupted while committing: keeping"
        } else {
            "interrupted transaction rolled back"
        };
        assert!(log.contains(said), "{step}: {log}");
        assert_eq!(lab.ipv4("multinic0"), vec!["198.51.100.4/24"], "{step}");
        let owned = lab.owned();
        assert_eq!(owned.iter().filter(|(mac, _)| mac == A).count(), 1, "{step}: one owned configuration: {owned:#?}");

        let out = lab.multinicd(&["--config", &config, "cleanup"]);
        assert_eq!(out.status.code(), Some(0), "{step}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(lab.link("ens4").is_some(), "{step}: kernel name restored: {:?}", lab.ip(&["-br", "link"]));
        assert!(lab.owned().is_empty(), "{step}: cleaned up");
    }
    // An update killed half-way: the previous configuration is restored from the
    // record, then the update is applied again.
    let update = lab.write("update.yaml", &spec(&[nic(1, A, "198.51.100.40", "198.51.100.0/24", ", mtu: 1300")]));
    for step in ["begun", "configured", "verified"] {
        assert_eq!(apply(&lab, &file).0, 0, "{step}: the configuration before the update");
        let daemon = lab.spawn_multinicd_env(
            &format!("killed-update-{step}"),
            &["--config", &config, "apply", "--file", &update],
            &[("MULTINIC_TEST_PAUSE_AT", step)],
        );
        eventually(|| daemon.log().contains("paused at transaction step"), || format!("{step}: {}", daemon.log()));
        daemon.kill();
        let (code, status, log) = apply_logged(&lab, &update);
        assert_eq!(code, 0, "update {step}: {status:?}");
        assert!(log.contains("interrupted transaction rolled back"), "update {step}: {log}");
        assert_eq!(lab.ipv4("multinic0"), vec!["198.51.100.40/24"], "update {step}");
        assert_eq!(mtu(&lab, "multinic0"), 1300, "update {step}");
        assert_eq!(lab.owned().iter().filter(|(mac, _)| mac == A).count(), 1, "update {step}");
        let out = lab.multinicd(&["--config", &config, "cleanup"]);
        assert_eq!(out.status.code(), Some(0), "update {step}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(lab.link("ens4").is_some(), "update {step}: kernel name restored");
    }
    // A cleanup killed after it deleted the configuration (the only record of the
    // kernel name): the next cleanup still gives the name back.
    assert_eq!(apply(&lab, &file).0, 0);
    let daemon = lab.spawn_multinicd_env(
        "killed-cleanup",
        &["--config", &config, "cleanup"],
        &[("MULTINIC_TEST_PAUSE_AT", "removed")],
    );
    eventually(|| daemon.log().contains("paused at transaction step"), || format!("cleanup: {}", daemon.log()));
    daemon.kill();
    assert!(lab.owned().is_empty(), "the configuration was deleted before the kill");
    assert!(lab.link("multinic0").is_some(), "the kill came before the name was given back");
    let out = lab.multinicd(&["--config", &config, "cleanup"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(lab.link("ens4").is_some(), "kernel name restored after an interrupted cleanup");
}
