//! The VM node: real systemd, udev, stock NetworkManager or networkd, a DMI UUID,
//! NICs hot-attached over QMP, the product installed from its .deb and run by
//! systemd against the real API server. Every scenario runs on both backends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use multinic_api::{InterfaceState, NodeState};
use multinic_lab::Manager;
use multinic_lab::vm::VmNode;
use multinic_lab::vm::cluster::{ClusterNode, WAIT, nic_status};
use serde_json::json;

const MAC: &str = "02:00:00:00:0b:01";
const ADDRESS: &str = "198.51.100.7";
const UUID: &str = "8b2f4e2a-1c3d-4e5f-9a0b-1c2d3e4f5a6b";

fn nic() -> String {
    format!("{{id: 1, macAddress: \"{MAC}\", address: \"{ADDRESS}\", cidr: \"198.51.100.0/24\", mtu: 1400}}")
}

/// Run blocking VM calls without stalling the runtime's other worker (the API client).
fn vm<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// multinic0 in the guest carries the NIC's MAC, MTU 1400, exactly the address, and is up.
fn assert_configured(vm: &VmNode) {
    let link = vm.link("multinic0").unwrap_or_else(|| panic!("no multinic0 in the guest: {}", vm.ip("link")));
    assert_eq!(link["address"], MAC, "{link}");
    assert_eq!(link["mtu"], 1400, "{link}");
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

/// Boot, install, start the daemon on a CR whose NIC is not attached yet; then
/// attach it over QMP and wait for Configured. Returns the node and the CR's generation.
async fn configured_node(test: &str, manager: Manager) -> Option<(ClusterNode, i64)> {
    let node = ClusterNode::new(test, manager, UUID).await?;
    assert_eq!(node.vm.exec("systemctl is-enabled multinicd").1.trim(), "enabled");
    // No kubeconfig when the package was installed: the postinst did not start it.
    let generation = node.create(&[nic()], None).await;
    vm(|| node.start_daemon());
    let cr = node.until_nic(generation, MAC, InterfaceState::NotFound).await;
    assert_eq!(cr.status.as_ref().unwrap().state, Some(NodeState::Failed));
    let started = Instant::now();
    vm(|| node.vm.attach_nic(MAC));
    node.until_configured(generation).await;
    eprintln!("device_add -> Configured: {:.2} s ({manager:?})", started.elapsed().as_secs_f64());
    Some((node, generation))
}

async fn attach_configures(test: &str, manager: Manager) {
    let Some((node, _)) = configured_node(test, manager).await else { return };
    let cr = node.api.get(&node.name).await.unwrap();
    let (name, status) = nic_status(&cr, MAC).unwrap();
    assert_eq!((name, status.state), ("multinic0", InterfaceState::Configured));
    assert_eq!(cr.status.as_ref().unwrap().backend.as_deref(), Some(manager.backend()));
    vm(|| {
        assert_configured(&node.vm);
        assert_reachable(&node.vm);
        let journal = node.vm.journal("multinicd");
        assert!(journal.contains(&format!("multinic0 ({MAC}): configured")), "journal:\n{journal}");
    });
}

async fn detach_and_reattach(test: &str, manager: Manager) {
    let Some((node, generation)) = configured_node(test, manager).await else { return };
    vm(|| node.vm.detach_nic(MAC));
    let cr = node.until_nic(generation, MAC, InterfaceState::NotFound).await;
    assert_eq!(nic_status(&cr, MAC).unwrap().0, "multinic0", "the detached NIC keeps its name in the status");
    assert!(vm(|| node.vm.link_by_mac(MAC)).is_none(), "the NIC is gone from the guest");
    let started = Instant::now();
    vm(|| node.vm.attach_nic(MAC));
    node.until_nic(generation, MAC, InterfaceState::Configured).await;
    node.until_configured(generation).await;
    eprintln!("re-attach -> Configured: {:.2} s ({manager:?})", started.elapsed().as_secs_f64());
    vm(|| {
        assert_configured(&node.vm);
        assert_reachable(&node.vm);
    });
}

/// The manager's write methods, and where its configuration lives on disk.
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

async fn reboot_keeps_configuration(test: &str, manager: Manager) {
    let Some((node, generation)) = configured_node(test, manager).await else { return };
    let (bus_name, bus_path, dirs) = manager_traits(manager);
    let files = format!("find {dirs} -type f -printf '%p %T@\\n' 2>/dev/null | sort");
    vm(|| {
        let guest = &node.vm;
        let before = guest.exec(&files).1;
        // Keep the daemon from running at boot: what the node has then is what persisted.
        guest.must("systemctl mask multinicd");
        guest.reboot();
        assert_eq!(guest.exec("systemctl show -p ActiveState --value multinicd").1.trim(), "inactive");
        guest.wait_for("multinic0 configured by the manager alone", WAIT, |g| {
            let link = g.link("multinic0")?;
            link["addr_info"].as_array()?.iter().any(|a| a["local"] == ADDRESS).then_some(())
        });
        assert_configured(guest);
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
    });
    vm(|| node.start_daemon());
    // READY=1 comes after the first pass: everything it did is in the log by now.
    node.until_configured(generation).await;
    vm(|| {
        let guest = &node.vm;
        let calls = guest.must(
            "sleep 1; kill $(cat /run/monitor.pid); grep -o 'member=[A-Za-z0-9]*' /run/calls.log | sort | uniq -c",
        );
        let writes: Vec<&str> = calls
            .lines()
            .filter(|l| multinic_lab::NM_WRITE_METHODS.iter().any(|m| l.trim_end().ends_with(&format!("member={m}"))))
            .collect();
        assert!(writes.is_empty(), "the daemon wrote after the reboot: {writes:?}\nall calls:\n{calls}");
        assert_configured(guest);
        let journal = guest.journal("multinicd");
        assert!(!journal.contains("renamed"), "the daemon renamed after the reboot:\n{journal}");
    });
}

async fn instance_id_gate(test: &str, manager: Manager) {
    let Some(node) = ClusterNode::new(test, manager, UUID).await else { return };
    vm(|| node.vm.attach_nic(MAC));
    let generation = node.create(&[nic()], Some("00000000-0000-4000-8000-000000000001")).await;
    vm(|| node.start_daemon());
    let cr = node
        .until("InstanceIdMismatch", |cr| {
            let s = cr.status.as_ref();
            s.and_then(|s| s.observed_generation) == Some(generation)
                && s.and_then(|s| s.reason.as_deref()) == Some("InstanceIdMismatch")
        })
        .await;
    let status = cr.status.unwrap();
    assert_eq!(status.state, Some(NodeState::Failed));
    assert!(status.message.as_deref().unwrap_or_default().contains(UUID), "{:?}", status.message);
    vm(|| {
        let link = node.vm.link_by_mac(MAC).expect("the NIC is there");
        assert_ne!(link["ifname"], "multinic0", "refused, yet renamed: {link}");
        assert!(!link.to_string().contains(ADDRESS), "refused, yet addressed: {link}");
    });
    // The VM's own UUID (as OpenStack writes it, upper case) is accepted.
    let generation = node.patch_spec(json!({ "instanceId": UUID.to_uppercase() })).await;
    node.until_configured(generation).await;
    vm(|| assert_configured(&node.vm));
}

macro_rules! on_both_backends {
    ($($scenario:ident: $tag:literal),*) => {
        mod networkmanager {
            use super::*;
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                super::$scenario(concat!("nm-", $tag), Manager::NetworkManager).await
            })*
        }
        mod networkd {
            use super::*;
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                super::$scenario(concat!("nd-", $tag), Manager::Networkd).await
            })*
        }
    };
}

on_both_backends!(
    attach_configures: "attach",
    detach_and_reattach: "detach",
    reboot_keeps_configuration: "reboot",
    instance_id_gate: "uuid"
);
