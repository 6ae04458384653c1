// SPDX-License-Identifier: Apache-2.0
//! OpenStack metadata: a metadata service on the lab's own link-local address (in
//! the lab's namespace, never the host's) serves `network_data.json`; the daemon
//! puts each discovered NIC's port in the status, `kubectl multinic describe`
//! prints a complete `add-nic` line from it, and `kubectl multinic create
//! --from-discovered` shows, then writes, the CR the ports describe.

use multinic_api::{InterfaceSpec, InterfaceState, MultiNicNodeConfig, NodeState};
use multinic_lab::cluster::kubectl_multinic;
use multinic_lab::node::Node;

use super::{A, B};

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
    node.cluster.create_node(&node.name, "4c4c4544-0042-3510-8052-b4c04f384e32").await;
    let daemon = node.daemon();
    let admin = node.cluster.dir.join("admin.kubeconfig");
    let plugin = |args: &[&str]| {
        let mut all = vec!["-n", node.ns.as_str()];
        all.extend_from_slice(args);
        let out = kubectl_multinic(&admin, &all, &[]);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };

    let (code, _, err) = plugin(&["create", &node.name, "--from-discovered"]);
    assert_eq!(code, Some(1), "no CR, nothing discovered: {err}");
    assert!(err.contains(&format!("kubectl multinic create {} --empty", node.name)), "{err}");
    let (code, _, err) = plugin(&["create", &node.name, "--empty"]);
    assert_eq!(code, Some(0), "{err}");
    let cr = node
        .until("B discovered with its port", |cr| {
            cr.status.as_ref().is_some_and(|s| s.discovered.iter().any(|d| d.mac_address == B && d.port.is_some()))
        })
        .await;
    let generation = cr.metadata.generation;
    let status = cr.status.unwrap();
    assert!(status.discovered.iter().any(|d| d.mac_address == A && d.port.is_none()), "A has no port: {status:?}");
    let port = status.discovered.into_iter().find(|d| d.mac_address == B).unwrap().port.unwrap();
    assert_eq!(port.id.as_deref(), Some("7d0b5f4e-3d1a-4a4e-9a3c-0e0f6a1d2b05"));
    assert_eq!((port.fixed_ip.as_deref(), port.prefix, port.mtu), (Some("198.51.100.5"), Some(24), Some(1450)));

    let (_, text, _) = plugin(&["describe", &node.name]);
    let add = format!(
        "kubectl multinic add-nic {} --nic mac={B},address=198.51.100.5,cidr=198.51.100.0/24,mtu=1450",
        node.name
    );
    assert!(text.contains(&add), "{text}");

    // Shown, not written, by default: the CR B's port describes, A left out with why.
    let (code, shown, err) = plugin(&["create", &node.name, "--from-discovered"]);
    assert_eq!(code, Some(0), "{err}");
    let shown: MultiNicNodeConfig = serde_yaml::from_str(&shown).expect("the dry run prints the CR");
    let mut want = InterfaceSpec::new(B, "198.51.100.5", "198.51.100.0/24");
    want.mtu = Some(1450);
    want.port_id = Some("7d0b5f4e-3d1a-4a4e-9a3c-0e0f6a1d2b05".into());
    assert_eq!(shown.spec.interfaces, vec![want.clone()]);
    assert!(err.contains(&format!("left out {A} (ens4): no OpenStack port")), "{err}");
    let stored = node.api.get(&node.name).await.unwrap();
    assert_eq!((stored.metadata.generation, stored.spec.interfaces.len()), (generation, 0), "a dry run writes nothing");

    let (code, _, err) = plugin(&["create", &node.name, "--from-discovered", "--apply", "--wait"]);
    assert_eq!(code, Some(0), "written and Configured: {err}");
    let cr = node.api.get(&node.name).await.unwrap();
    assert_eq!(cr.spec.interfaces, vec![want]);
    assert_eq!(cr.spec.instance_id.as_deref(), Some("4c4c4544-0042-3510-8052-b4c04f384e32"), "from the Node");
    let status = cr.status.unwrap();
    assert_eq!(status.state, Some(NodeState::Configured));
    assert_eq!(status.interface_statuses.get("multinic0").map(|i| i.state), Some(InterfaceState::Configured));
    assert_eq!(node.lab.ipv4("multinic0"), vec!["198.51.100.5/24"]);
    assert_eq!(node.lab.link("multinic0").and_then(|l| l["mtu"].as_u64()), Some(1450));
    drop(daemon);
}
