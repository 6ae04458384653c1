// SPDX-License-Identifier: Apache-2.0
//! The VM node: real systemd, udev, stock NetworkManager or networkd, a DMI UUID,
//! NICs hot-attached over QMP, the product installed from its .deb and run by
//! systemd against the real API server.
//!
//! A boot under TCG costs most of a minute, so each backend's node lives through
//! the six scenarios in turn, one VM per backend (the two run side by side):
//! hot-attach → configured; detach and attach again; reboot (the name and
//! configuration persisted, the daemon writes nothing); the instanceId gate; a real
//! node's shape (NetworkManager: a DHCP NIC taken over; networkd: a bonded primary);
//! a VLAN on the NIC (a trunk subport), its tagged peer on the same segment.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use multinic_api::{InterfaceState, NodeState, Reason};
use multinic_lab::Manager;
use multinic_lab::vm::VmNode;
use multinic_lab::vm::cluster::{ClusterNode, WAIT, nic_status};
use serde_json::json;

const MAC: &str = "02:00:00:00:0b:01";
const ADDRESS: &str = "198.51.100.7";
/// The kernel's log of link renames.
const RENAMES: &str = "dmesg | grep 'renamed from'";
const UUID: &str = "8b2f4e2a-1c3d-4e5f-9a0b-1c2d3e4f5a6b";

fn nic(mtu: u32) -> String {
    format!("{{id: 1, macAddress: \"{MAC}\", address: \"{ADDRESS}\", cidr: \"198.51.100.0/24\", mtu: {mtu}}}")
}

fn nic_value(mtu: u32) -> serde_json::Value {
    json!({ "id": 1, "macAddress": MAC, "address": ADDRESS, "cidr": "198.51.100.0/24", "mtu": mtu })
}

/// Run blocking VM calls without stalling the runtime's other worker (the API client).
fn vm<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// multinic0 in the guest carries the NIC's MAC, the MTU, exactly the address, and is up.
fn assert_configured(vm: &VmNode, mtu: u32) {
    let link = vm.link("multinic0").unwrap_or_else(|| panic!("no multinic0 in the guest: {}", vm.ip("link")));
    assert_eq!(link["address"], MAC, "{link}");
    assert_eq!(link["mtu"], mtu, "{link}");
    assert!(link["flags"].as_array().unwrap().iter().any(|f| f == "UP"), "{link}");
    let v4: Vec<String> = link["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["family"] == "inet")
        .map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]))
        .collect();
    assert_eq!(v4, vec![format!("{ADDRESS}/24")], "{link}");
}

/// Traffic crosses the hot-attached NIC: its segment's far end pings the address.
fn assert_reachable(vm: &VmNode) {
    let tap = vm.segment(MAC);
    let _ = vm.peer("ip", &["addr", "replace", "198.51.100.1/24", "dev", &tap]);
    let ping = vm.peer("ping", &["-c", "1", "-W", "10", ADDRESS]);
    assert!(ping.status.success(), "no answer from {ADDRESS} over {tap}: {}", String::from_utf8_lossy(&ping.stdout));
}

/// Scenario 1: The package is installed before the node joined (no kubeconfig yet:
/// enabled, running, waiting for it); the kubeconfig placed → the CR's NIC reported
/// missing; `device_add` → configured (name, address, MTU, traffic) and `Configured`.
async fn attach_configures(node: &ClusterNode, manager: Manager) -> i64 {
    assert_eq!(vm(|| node.vm.exec("systemctl is-enabled multinicd").1).trim(), "enabled");
    assert_eq!(vm(|| node.vm.exec("systemctl show -p ActiveState --value multinicd").1).trim(), "active");
    let waiting = vm(|| node.vm.exec("systemctl show -p StatusText --value multinicd").1);
    assert!(waiting.starts_with("waiting for /etc/kubernetes/kubelet.conf"), "{waiting}");
    let generation = node.create(&[nic(1400)], None).await;
    vm(|| node.start_daemon());
    let cr = node.until_nic(generation, MAC, InterfaceState::NotFound).await;
    assert_eq!(cr.status.as_ref().unwrap().state, Some(NodeState::Failed));
    let started = Instant::now();
    vm(|| node.vm.attach_nic(MAC));
    let cr = node.until_configured(generation).await;
    eprintln!("device_add -> Configured: {:.2} s ({manager:?})", started.elapsed().as_secs_f64());
    let (name, status) = nic_status(&cr, MAC).unwrap();
    assert_eq!((name, status.state), ("multinic0", InterfaceState::Configured));
    assert_eq!(cr.status.as_ref().unwrap().backend.as_deref(), Some(manager.backend()));
    vm(|| {
        assert_configured(&node.vm, 1400);
        assert_reachable(&node.vm);
        let journal = node.vm.journal("multinicd");
        assert!(journal.contains(&format!("multinic0 ({MAC}): configured")), "journal:\n{journal}");
    });
    generation
}

/// Scenario 2: `device_del`: the status says the NIC is missing (keeping its name); attached
/// again, it is configured again under the same name.
async fn detach_and_reattach(node: &ClusterNode, generation: i64, manager: Manager) {
    // Which profiles and files exist (a repair may rewrite one in place).
    let (_, _, dirs) = manager_traits(manager);
    let files = format!("find {dirs} -type f 2>/dev/null | sort");
    let before = vm(|| node.vm.exec(&files).1);
    vm(|| node.vm.detach_nic(MAC));
    let cr = node.until_nic(generation, MAC, InterfaceState::NotFound).await;
    let (name, gone) = nic_status(&cr, MAC).unwrap();
    assert_eq!(name, "multinic0", "the detached NIC keeps its name in the status");
    assert_eq!(gone.reason, Some(multinic_api::Reason::Detached), "{gone:?}");
    assert!(vm(|| node.vm.link_by_mac(MAC)).is_none(), "the NIC is gone from the guest");
    let started = Instant::now();
    vm(|| node.vm.attach_nic(MAC));
    node.until_nic(generation, MAC, InterfaceState::Configured).await;
    node.until_configured(generation).await;
    eprintln!("re-attach -> Configured: {:.2} s ({manager:?})", started.elapsed().as_secs_f64());
    vm(|| {
        assert_configured(&node.vm, 1400);
        assert_reachable(&node.vm);
        assert_eq!(node.vm.exec(&files).1, before, "the NIC came back with a new profile or file");
    });
}

/// The manager's bus name and object, and where configuration lives on disk.
fn manager_traits(manager: Manager) -> (&'static str, &'static str, &'static str) {
    match manager {
        Manager::Networkd => ("org.freedesktop.network1", "/org/freedesktop/network1", "/etc/systemd/network"),
        _ => (
            "org.freedesktop.NetworkManager",
            "/org/freedesktop/NetworkManager",
            "/etc/NetworkManager/system-connections /etc/systemd/network",
        ),
    }
}

/// Scenario 3: Reboot with the daemon kept from starting: the NIC comes up as multinic0 with
/// its configuration from what persisted (`.link`, profile or `.network`); then the
/// daemon starts and makes no D-Bus write and rewrites no file.
async fn reboot_keeps_configuration(node: &ClusterNode, generation: i64, manager: Manager) {
    let (bus_name, bus_path, dirs) = manager_traits(manager);
    let files = format!("find {dirs} -type f -printf '%p %T@\\n' 2>/dev/null | sort");
    vm(|| {
        let guest = &node.vm;
        let before = guest.exec(&files).1;
        guest.must("systemctl stop multinicd && systemctl mask multinicd");
        guest.reboot();
        assert_eq!(guest.exec("systemctl show -p ActiveState --value multinicd").1.trim(), "inactive");
        guest.wait_for("multinic0 configured by the manager alone", WAIT, |g| {
            let link = g.link("multinic0")?;
            link["addr_info"].as_array()?.iter().any(|a| a["local"] == ADDRESS).then_some(())
        });
        assert_configured(guest, 1400);
        assert_eq!(guest.exec(&files).1, before, "the reboot rewrote configuration files");
        // Record every method call to the manager while the daemon starts.
        guest.must(&format!(
            "nohup dbus-monitor --system \"type='method_call',destination='{bus_name}'\" >/run/calls.log 2>&1 </dev/null &
             echo $! >/run/monitor.pid
             for i in $(seq 100); do
               busctl call {bus_name} {bus_path} org.freedesktop.DBus.Peer Ping >/dev/null
               grep -q member=Ping /run/calls.log && exit 0; sleep 0.1
             done; exit 1"
        ));
        guest.must("systemctl unmask multinicd");
        // The kernel logs every rename ("multinic0: renamed from ens2", udev's at boot).
        let renames = guest.exec(RENAMES).1;
        assert!(renames.contains("multinic0: renamed from"), "udev did not name it at boot:\n{renames}");
        // READY=1 comes after the first pass: all it did is recorded by then.
        node.start_daemon();
        let calls = guest.must(
            "sleep 1; kill $(cat /run/monitor.pid); grep -o 'member=[A-Za-z0-9]*' /run/calls.log | sort | uniq -c",
        );
        let writes: Vec<&str> = calls
            .lines()
            .filter(|l| multinic_lab::NM_WRITE_METHODS.iter().any(|m| l.trim_end().ends_with(&format!("member={m}"))))
            .collect();
        assert!(writes.is_empty(), "the daemon wrote after the reboot: {writes:?}\nall calls:\n{calls}");
        assert_eq!(guest.exec(&files).1, before, "the daemon rewrote configuration files after the reboot");
        assert_configured(guest, 1400);
        assert_eq!(guest.exec(RENAMES).1, renames, "the daemon renamed a link after the reboot");
    });
    node.until_configured(generation).await;
}

/// Scenario 4: An edit whose `instanceId` is another VM's is refused (nothing applied, the
/// configuration kept); the VM's own UUID, as OpenStack writes it in upper case,
/// lets the edit apply.
async fn instance_id_gate(node: &ClusterNode) {
    let generation = node
        .patch_spec(json!({ "instanceId": "00000000-0000-4000-8000-000000000001", "interfaces": [nic_value(1450)] }))
        .await;
    let cr = node
        .until("InstanceIdMismatch", |cr| {
            let s = cr.status.as_ref();
            s.and_then(|s| s.observed_generation) == Some(generation)
                && s.and_then(|s| s.reason.clone()) == Some(Reason::InstanceIdMismatch)
        })
        .await;
    let status = cr.status.unwrap();
    assert_eq!(status.state, Some(NodeState::Failed));
    assert!(status.message.as_deref().unwrap_or_default().contains(UUID), "{:?}", status.message);
    vm(|| assert_configured(&node.vm, 1400));
    let generation = node.patch_spec(json!({ "instanceId": UUID.to_uppercase() })).await;
    node.until_configured(generation).await;
    vm(|| assert_configured(&node.vm, 1450));
}

/// A NIC on a segment whose DHCP server offers a router (scenario 5, NetworkManager).
const DHCP_MAC: &str = "02:00:00:00:0b:02";
/// The two ports of the bonded primary (scenario 5, networkd).
const BOND_MACS: [&str; 2] = ["02:00:00:00:0b:03", "02:00:00:00:0b:04"];

/// The guest's default routes and a link's IPv4 addresses (without their lifetimes,
/// which count down).
fn routes_and_addresses(vm: &VmNode, dev: &str) -> serde_json::Value {
    let addresses: Vec<String> = vm.ip(&format!("-4 addr show dev {dev}"))[0]["addr_info"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| format!("{}/{}", a["local"].as_str().unwrap_or("?"), a["prefixlen"]))
        .collect();
    json!({ "routes": vm.ip("route show default"), "addresses": addresses })
}

/// Scenario 5 (NetworkManager): a NIC hot-attached before the CR names it, on a
/// segment whose DHCP server offers a router: stock NetworkManager gives it its own
/// "Wired connection N" and a second default route. Named in the CR, it is taken
/// over: only the spec's address, no default route through it, the generated profile
/// deleted and the NIC recorded in no-auto-default.state; the primary's default route
/// and address are as they were.
async fn dhcp_nic_is_taken_over(node: &ClusterNode) {
    let before = vm(|| {
        // A primary default route, as a cloud's DHCP gives one (restrict=on gives none).
        node.vm.must("ip route add default via 10.0.2.2 dev ens3 metric 50");
        let before = routes_and_addresses(&node.vm, "ens3");
        node.vm.attach_nic(DHCP_MAC);
        node.vm.dhcp(DHCP_MAC, "10.82.0");
        node.vm.wait_for("a DHCP default route through the new NIC", WAIT, |g| {
            let routes = g.ip("route show default");
            routes.as_array()?.iter().any(|r| r["gateway"] == "10.82.0.1").then_some(())
        });
        let profiles = node.vm.must("nmcli -t -f NAME connection show");
        assert!(profiles.contains("Wired connection 2"), "stock NM made its own profile:\n{profiles}");
        before
    });
    let dhcp_nic = json!({ "id": 2, "macAddress": DHCP_MAC, "address": "10.82.0.7", "cidr": "10.82.0.0/24" });
    let generation = node.patch_spec(json!({ "interfaces": [nic_value(1450), dhcp_nic] })).await;
    let cr = node.until_configured(generation).await;
    let (name, _) = nic_status(&cr, DHCP_MAC).unwrap();
    vm(|| {
        let guest = &node.vm;
        let taken = routes_and_addresses(guest, name);
        assert_eq!(taken["addresses"], json!(["10.82.0.7/24"]), "only the spec's address on {name}");
        let through: Vec<_> =
            taken["routes"].as_array().unwrap().iter().filter(|r| r["dev"].as_str() == Some(name)).collect();
        assert!(through.is_empty(), "a default route through {name}: {through:?}");
        let profiles = guest.must("nmcli -t -f NAME connection show");
        assert!(!profiles.contains("Wired connection 2"), "the generated profile is still there:\n{profiles}");
        let state = guest.exec("cat /var/lib/NetworkManager/no-auto-default.state").1.to_lowercase();
        assert!(state.contains(DHCP_MAC), "NM does not remember the NIC: {state:?}");
        assert_eq!(routes_and_addresses(guest, "ens3"), before, "the primary changed");
    });
    // Out of the spec again: multinic's profile goes, the kernel name comes back, and
    // NetworkManager, which remembers the NIC by its permanent MAC, makes no new
    // profile for it.
    let generation = node.patch_spec(json!({ "interfaces": [nic_value(1450)] })).await;
    node.until_configured(generation).await;
    vm(|| {
        let guest = &node.vm;
        let deadline = Instant::now() + WAIT;
        let kernel = loop {
            let name = guest.link_by_mac(DHCP_MAC).and_then(|l| l["ifname"].as_str().map(str::to_string));
            match name {
                Some(name) if !name.starts_with("multinic") => break name,
                _ if Instant::now() < deadline => std::thread::sleep(std::time::Duration::from_millis(500)),
                _ => panic!(
                    "the NIC did not get its kernel name back: {:?}\n{}\njournal:\n{}",
                    name,
                    guest.ip("addr"),
                    guest.journal("multinicd")
                ),
            }
        };
        // NM would make its profile within a second; give it ample time not to.
        std::thread::sleep(std::time::Duration::from_secs(5));
        let profiles = guest.must("nmcli -t -f NAME,DEVICE connection show");
        assert!(!profiles.contains(&format!(":{kernel}")), "a profile came back for {kernel}:\n{profiles}");
        assert_eq!(routes_and_addresses(guest, &kernel)["addresses"], json!([]), "an address came back on {kernel}");
        assert_eq!(routes_and_addresses(guest, "ens3"), before, "the primary changed");
    });
}

/// Scenario 5 (networkd): the primary on an active-backup bond over two virtio NICs
/// (their permanent MACs are real here; both ports carry the bond's MAC), holding the
/// best default route. A spec naming a port is refused with the bond named; the
/// bond's ports, address and routes are as they were, and the other interface stays
/// configured.
async fn bonded_primary_is_never_touched(node: &ClusterNode) {
    let state = |g: &VmNode| {
        let ports: Vec<serde_json::Value> =
            g.ip("link show master bond0").as_array().unwrap().iter().map(|l| l["ifname"].clone()).collect();
        json!({ "ports": ports, "bond": routes_and_addresses(g, "bond0") })
    };
    let before = vm(|| {
        let guest = &node.vm;
        for mac in BOND_MACS {
            guest.attach_nic(mac);
        }
        let ports: Vec<String> = BOND_MACS
            .iter()
            .map(|mac| {
                // Until udev has named it (the kernel's eth0 comes first).
                guest.wait_for("the bond's port named by udev", WAIT, |g| {
                    g.must("udevadm settle");
                    let name = g.link_by_mac(mac)?["ifname"].as_str()?.to_string();
                    (!name.starts_with("eth")).then_some(name)
                })
            })
            .collect();
        guest.must(&format!(
            "ip link add bond0 type bond mode active-backup miimon 100 && \
             ip link set {a} down && ip link set {a} master bond0 && ip link set {b} down && ip link set {b} master bond0 && \
             ip link set bond0 up && ip addr add 10.83.0.5/24 dev bond0 && \
             ip route add default via 10.83.0.1 dev bond0 metric 10",
            a = ports[0],
            b = ports[1]
        ));
        state(guest)
    });
    let port = json!({ "id": 3, "macAddress": BOND_MACS[1], "address": "10.84.0.7", "cidr": "10.84.0.0/24" });
    let generation = node.patch_spec(json!({ "interfaces": [nic_value(1450), port] })).await;
    let cr = node.until_nic(generation, BOND_MACS[1], InterfaceState::Blocked).await;
    let (_, status) = nic_status(&cr, BOND_MACS[1]).unwrap();
    assert_eq!(status.reason, Some(Reason::UnderAnotherLink), "{status:?}");
    assert!(status.message.contains("port of bond0, which holds the default route"), "{}", status.message);
    vm(|| {
        assert_eq!(state(&node.vm), before, "the bond changed");
        assert_configured(&node.vm, 1450);
    });
}

/// The tagged peer of scenario 6: a second NIC on the first one's segment.
const TRUNK_PEER_MAC: &str = "02:00:00:00:0b:05";

/// Scenario 6: a VLAN on the NIC, as a Neutron trunk subport arrives. The NIC's
/// segment is shared with a second NIC that the guest moves into a namespace of its
/// own with VLAN 100 on it: the far end of the trunk. multinic0.100 is created on
/// multinic0 with its address and MTU, reported `Configured` under its own key, and
/// tagged traffic reaches the peer; with `sourceRouting` a remote subnet behind the
/// peer is answered through the VLAN; taken out of the spec, the VLAN link, its
/// rule, its profile or files go, and multinic0 stays as it was; the NIC taken out
/// of the spec with its VLAN, the VLAN goes first.
async fn vlan_on_the_nic(node: &ClusterNode, manager: Manager) {
    let (_, _, dirs) = manager_traits(manager);
    let files = format!("find {dirs} -type f 2>/dev/null | sort");
    let before = vm(|| {
        let guest = &node.vm;
        guest.attach_nic(TRUNK_PEER_MAC);
        guest.join_segments(&[MAC, TRUNK_PEER_MAC]);
        let peer = guest.wait_for("the peer NIC named by udev", WAIT, |g| {
            g.must("udevadm settle");
            let name = g.link_by_mac(TRUNK_PEER_MAC)?["ifname"].as_str()?.to_string();
            (!name.starts_with("eth")).then_some(name)
        });
        guest.must(&format!(
            "ip netns add trunk && ip link set {peer} netns trunk && \
             ip -n trunk link add link {peer} name peer.100 type vlan id 100 && \
             ip -n trunk addr add 10.100.0.2/24 dev peer.100 && ip -n trunk link set {peer} up && \
             ip -n trunk link set peer.100 up"
        ));
        guest.exec(&files).1
    });
    let mut nic = nic_value(1450);
    nic["vlans"] = json!([{ "id": 100, "address": "10.100.0.1", "cidr": "10.100.0.0/24", "mtu": 1400 }]);
    let generation = node.patch_spec(json!({ "interfaces": [nic.clone()] })).await;
    let cr = node.until_configured(generation).await;
    let entry = &cr.status.as_ref().unwrap().interface_statuses["multinic0.100"];
    assert_eq!((entry.state, entry.mac_address.as_str()), (InterfaceState::Configured, MAC), "{entry:?}");
    assert!(entry.message.contains("VLAN 100 on multinic0"), "{}", entry.message);
    vm(|| {
        let guest = &node.vm;
        let link = &guest.ip("-d addr show dev multinic0.100")[0];
        assert_eq!(link["linkinfo"]["info_kind"], "vlan", "{link}");
        assert_eq!(link["linkinfo"]["info_data"]["id"], 100, "{link}");
        assert_eq!(link["link"], "multinic0", "{link}");
        assert_eq!(link["mtu"], 1400, "{link}");
        let v4: Vec<&str> = link["addr_info"].as_array().unwrap().iter().filter_map(|a| a["local"].as_str()).collect();
        assert_eq!(v4, ["10.100.0.1"], "{link}");
        let (code, out) = guest.exec("ping -c 3 -W 2 10.100.0.2");
        assert_eq!(code, 0, "tagged traffic does not reach the trunk's peer: {out}");
        assert_configured(guest, 1450);
    });
    // A remote subnet behind the trunk's peer pings the VLAN's address, with
    // rp_filter on: without source routing the answer would leave by the node's
    // default route; with it (table 10100, default via the peer) it comes back by
    // the VLAN.
    let remote = "ip netns exec trunk ping -c 2 -W 2 -I 198.18.0.5 10.100.0.1";
    vm(|| {
        let guest = &node.vm;
        guest.must(
            "echo 1 >/proc/sys/net/ipv4/conf/all/rp_filter && ip -n trunk link set lo up && \
             ip -n trunk addr add 198.18.0.5/32 dev lo",
        );
        assert_ne!(guest.exec(remote).0, 0, "answered without source routing");
    });
    let mut routed = nic.clone();
    routed["vlans"][0]["gateway"] = json!("10.100.0.2");
    routed["vlans"][0]["sourceRouting"] = json!(true);
    let generation = node.patch_spec(json!({ "interfaces": [routed] })).await;
    let cr = node.until_configured(generation).await;
    let entry = &cr.status.as_ref().unwrap().interface_statuses["multinic0.100"];
    assert!(entry.message.contains("source routing table 10100"), "{}", entry.message);
    vm(|| {
        let guest = &node.vm;
        let (code, out) = guest.exec(remote);
        let policy = guest.exec("ip rule; ip route show table 10100").1;
        assert_eq!(code, 0, "no answer through the VLAN's own table: {out}\n{policy}");
        let rules = guest.must("ip rule show table 10100");
        assert!(rules.contains("from 10.100.0.1 lookup 10100"), "{rules}");
        let table = guest.must("ip route show table 10100");
        assert!(table.contains("default via 10.100.0.2 dev multinic0.100"), "{table}");
        assert!(table.contains("10.100.0.0/24 dev multinic0.100"), "{table}");
        // The VLAN's address flushed by hand: its NIC's next pass puts it back.
        guest.must("ip addr flush dev multinic0.100");
        guest.wait_for("multinic0.100's address repaired", WAIT, |g| {
            let link = g.link("multinic0.100")?;
            let v4 = link["addr_info"].as_array()?.iter().any(|a| a["local"] == "10.100.0.1");
            v4.then_some(())
        });
        assert_eq!(guest.exec(remote).0, 0, "no answer after the repair");
    });
    let generation = node.patch_spec(json!({ "interfaces": [nic_value(1450)] })).await;
    let cr = node.until_configured(generation).await;
    assert!(!cr.status.as_ref().unwrap().interface_statuses.contains_key("multinic0.100"));
    vm(|| {
        let guest = &node.vm;
        guest.wait_for("multinic0.100 gone", WAIT, |g| g.link("multinic0.100").is_none().then_some(()));
        assert_eq!(guest.must("ip rule show table 10100"), "", "the VLAN's rule stayed");
        assert_eq!(guest.exec(&files).1, before, "the VLAN's profile or files are still there");
        assert_configured(guest, 1450);
    });
    // Back, then the NIC out of the spec: the VLAN goes first, then the NIC.
    let generation = node.patch_spec(json!({ "interfaces": [nic] })).await;
    node.until_configured(generation).await;
    let generation = node.patch_spec(json!({ "interfaces": [] })).await;
    node.until_configured(generation).await;
    vm(|| {
        let guest = &node.vm;
        guest.wait_for("multinic0 gone", WAIT, |g| g.link("multinic0").is_none().then_some(()));
        assert!(guest.link("multinic0.100").is_none(), "{}", guest.ip("link"));
        let journal = guest.journal("multinicd");
        let vlan = journal.rfind("removed owned VLAN configuration").expect("the VLAN's removal is logged");
        let nic = journal.rfind("removed owned configuration").expect("the NIC's removal is logged");
        assert!(vlan < nic, "the NIC went before its VLAN:\n{journal}");
    });
}

async fn node_life(manager: Manager, tag: &str) {
    let Some(node) = ClusterNode::new(tag, manager, UUID).await else { return };
    let generation = attach_configures(&node, manager).await;
    eprintln!("{manager:?} 1/6 hot-attach: ok");
    detach_and_reattach(&node, generation, manager).await;
    eprintln!("{manager:?} 2/6 detach and re-attach: ok");
    reboot_keeps_configuration(&node, generation, manager).await;
    eprintln!("{manager:?} 3/6 reboot: ok");
    instance_id_gate(&node).await;
    eprintln!("{manager:?} 4/6 instanceId: ok");
    match manager {
        Manager::Networkd => bonded_primary_is_never_touched(&node).await,
        _ => dhcp_nic_is_taken_over(&node).await,
    }
    eprintln!("{manager:?} 5/6 real node shape: ok");
    vlan_on_the_nic(&node, manager).await;
    eprintln!("{manager:?} 6/6 VLAN: ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn networkmanager_node() {
    node_life(Manager::NetworkManager, "nm").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn networkd_node() {
    node_life(Manager::Networkd, "networkd").await
}
