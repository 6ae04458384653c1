// SPDX-License-Identifier: Apache-2.0
//! A VM node joined to the test cluster as a real node would be: the chart in its
//! own namespace, the product's .deb installed, the kubelet's kubeconfig of its
//! node identity at `/etc/kubernetes/kubelet.conf` (server: [`API_ADDRESS`], so TLS
//! is verified against the kit's SAN), and `multinicd` run by the guest's systemd.

use std::time::Duration;

use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use multinic_api::{InterfaceState, InterfaceStatus, MultiNicNodeConfig};
use serde_json::json;

use super::{API_ADDRESS, VmNode};
use crate::Manager;
use crate::cluster::Cluster;

/// How long VM tests wait for the daemon (TCG is slow, and two VMs share two cores).
pub const WAIT: Duration = Duration::from_secs(90);

/// A VM node with a namespace of the test cluster.
pub struct ClusterNode {
    /// The VM.
    pub vm: VmNode,
    /// The API server.
    pub cluster: Cluster,
    /// Its namespace.
    pub ns: String,
    /// The node name: the VM's hostname, multinicd's default `nodeName`.
    pub name: String,
    /// Admin access to the CRs of its namespace.
    pub api: Api<MultiNicNodeConfig>,
    /// Its node kubeconfig, placed by [`ClusterNode::start_daemon`] as `kubeadm join`
    /// would.
    kubeconfig: String,
}

impl ClusterNode {
    /// Boot a VM running `manager` with system UUID `uuid` and install the .deb: the
    /// node has not joined yet (no kubeconfig), so multinicd runs and waits. `None`
    /// when the cluster or the VM cannot run here outside CI.
    pub async fn new(test: &str, manager: Manager, uuid: &str) -> Option<ClusterNode> {
        let cluster = Cluster::from_env().await?;
        let name = format!("vm-{test}-{}", std::process::id());
        let ns = name.clone();
        cluster.install_chart(&ns).await;
        let boot_name = name.clone();
        let boot_uuid = uuid.to_string();
        let mut vm = tokio::task::spawn_blocking(move || VmNode::boot(manager, &boot_uuid, &boot_name))
            .await
            .expect("boot task")?;
        vm.forward_api(cluster.port());
        let kubeconfig = std::fs::read_to_string(cluster.node_kubeconfig(&name)).expect("node kubeconfig");
        let kubeconfig = kubeconfig.replace(&cluster.server, &format!("https://{API_ADDRESS}:6443"));
        let api = Api::namespaced(cluster.admin.clone(), &ns);
        let node = ClusterNode { vm, cluster, ns, name, api, kubeconfig };
        node.vm.write_file("/etc/multinic/multinicd.yaml.d/50-test.yaml", &format!("namespace: {}\n", node.ns), "644");
        let apt = node.vm.install_multinicd();
        assert!(apt.contains("Setting up multinicd"), "apt-get did not set up multinicd:\n{apt}");
        if manager == Manager::Networkd {
            // README: networkd reads the package's networkd.conf.d drop-in only when it
            // starts; multinicd configures nothing until it has.
            node.vm.must("systemctl restart systemd-networkd");
        }
        Some(node)
    }

    /// Join: place the node kubeconfig (multinicd, waiting for it, goes on by
    /// itself); `systemctl start multinicd` (when stopped), then wait until systemd
    /// has READY=1 (active).
    pub fn start_daemon(&self) {
        self.vm.write_file("/etc/kubernetes/kubelet.conf", &self.kubeconfig, "600");
        self.vm.must("systemctl start multinicd");
        self.vm.wait_for("multinicd active", WAIT, |vm| {
            (vm.exec("systemctl show -p ActiveState --value multinicd").1.trim() == "active").then_some(())
        });
    }

    /// A CR for this node.
    pub fn cr(&self, interfaces: &[String], instance_id: Option<&str>) -> MultiNicNodeConfig {
        crate::node::cr(&self.name, &self.ns, interfaces, instance_id)
    }

    /// Create its CR (as admin); returns its generation.
    pub async fn create(&self, interfaces: &[String], instance_id: Option<&str>) -> i64 {
        let cr = self.api.create(&PostParams::default(), &self.cr(interfaces, instance_id)).await.expect("create CR");
        cr.metadata.generation.expect("generation")
    }

    /// Merge-patch its spec (as admin); returns the new generation.
    pub async fn patch_spec(&self, spec: serde_json::Value) -> i64 {
        let cr = self
            .api
            .patch(&self.name, &PatchParams::default(), &Patch::Merge(&json!({ "spec": spec })))
            .await
            .expect("patch spec");
        cr.metadata.generation.expect("generation")
    }

    /// Wait until the CR satisfies `pred`; returns it.
    pub async fn until(&self, what: &str, pred: impl Fn(&MultiNicNodeConfig) -> bool) -> MultiNicNodeConfig {
        crate::node::until(&self.api, &self.name, WAIT, what, pred).await
    }

    /// Wait until the status of `generation` has the NIC with `mac` in `state`;
    /// returns the CR.
    pub async fn until_nic(&self, generation: i64, mac: &str, state: InterfaceState) -> MultiNicNodeConfig {
        self.until(&format!("{mac} {state:?} at generation {generation}"), |cr| {
            cr.status.as_ref().and_then(|s| s.observed_generation) == Some(generation)
                && nic_status(cr, mac).is_some_and(|(_, i)| i.state == state)
        })
        .await
    }

    /// Wait until the node is `Configured` at `generation`.
    pub async fn until_configured(&self, generation: i64) -> MultiNicNodeConfig {
        self.until(&format!("Configured at generation {generation}"), crate::node::configured_at(generation)).await
    }
}

/// The status entry (name, status) of the NIC with this MAC.
pub fn nic_status<'a>(cr: &'a MultiNicNodeConfig, mac: &str) -> Option<(&'a str, &'a InterfaceStatus)> {
    cr.status.as_ref()?.interface_statuses.iter().find(|(_, i)| i.mac_address == mac).map(|(n, i)| (n.as_str(), i))
}
