// SPDX-License-Identifier: Apache-2.0
//! OpenStack metadata: a metadata service on the lab's own link-local address (in
//! the lab's namespace, never the host's) serves `network_data.json`; the daemon
//! puts each discovered NIC's port in the status, `kubectl multinic describe`
//! prints a complete `add-nic` line from it, and that line is applied.

use multinic_api::{InterfaceState, NodeState};
use multinic_lab::cluster::kubectl_multinic;
use multinic_lab::node::Node;

use super::{A, B, one};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovered_nics_carry_their_openstack_port() {
    let Some(node) = Node::new("metadata", &[("ens4", A)]).await else { return };
    node.lab.add_nic("ens5", B, 1500);
    let json = format!(
        r#"{{"links": [{{"id": "tap-b", "vif_id": "7d0b5f4e-3d1a-4a4e-9a3c-0e0f6a1d2b05", "type": "ovs", "mtu": 1450,
            "ethernet_mac_address": "{B}"}}],
           "networks": [{{"id": "network0", "type": "ipv4", "link": "tap-b", "ip_address": "198.51.100.5",
            "netmask": "255.255.255.0"}}], "services": []}}"#
    );
    let dir = std::path::PathBuf::from(node.lab.write("placeholder", "")).with_file_name("metadata");
    std::fs::create_dir_all(dir.join("openstack/latest")).unwrap();
    node.lab.write("metadata/openstack/latest/network_data.json", &json);
    let root = dir.display();
    let serve = format!(
        "ip addr add 169.254.169.254/32 dev lo && \
         (python3 -m http.server 80 --bind 169.254.169.254 --directory {root} >/dev/null 2>&1 &)"
    );
    assert!(node.lab.run("sh", &["-c", &serve]).status.success());
    let url = "http://169.254.169.254/openstack/latest/network_data.json";
    multinic_lab::cluster::eventually(multinic_lab::node::WAIT, "the metadata service answers", || async {
        node.lab.run("curl", &["-sf", "--max-time", "2", url]).status.success().then_some(())
    })
    .await;
    let config = std::fs::read_to_string(&node.config).unwrap();
    std::fs::write(&node.config, format!("{config}openstackMetadata: http://169.254.169.254\n")).unwrap();
    let daemon = node.daemon();

    node.create(&[one(A, "198.51.100.4", "")]).await;
    let cr = node
        .until("B discovered with its port", |cr| {
            cr.status.as_ref().is_some_and(|s| s.discovered.iter().any(|d| d.mac_address == B && d.port.is_some()))
        })
        .await;
    let port = cr.status.unwrap().discovered.into_iter().find(|d| d.mac_address == B).unwrap().port.unwrap();
    assert_eq!(port.id.as_deref(), Some("7d0b5f4e-3d1a-4a4e-9a3c-0e0f6a1d2b05"));
    assert_eq!((port.fixed_ip.as_deref(), port.prefix, port.mtu), (Some("198.51.100.5"), Some(24), Some(1450)));

    let admin = node.cluster.dir.join("admin.kubeconfig");
    let out = kubectl_multinic(&admin, &["-n", &node.ns, "describe", &node.name], &[]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let add = format!(
        "kubectl multinic add-nic {} --nic mac={B},address=198.51.100.5,cidr=198.51.100.0/24,mtu=1450",
        node.name
    );
    assert!(text.contains(&add), "{text}");
    let nic = add.rsplit(' ').next().unwrap();
    let out = kubectl_multinic(&admin, &["-n", &node.ns, "add-nic", &node.name, "--nic", nic], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    node.until("both configured", |cr| {
        cr.status.as_ref().is_some_and(|s| {
            s.state == Some(NodeState::Configured)
                && s.interface_statuses.values().filter(|i| i.state == InterfaceState::Configured).count() == 2
        })
    })
    .await;
    assert_eq!(node.lab.ipv4("multinic1"), vec!["198.51.100.5/24"]);
    drop(daemon);
}
