// SPDX-License-Identifier: Apache-2.0
//! One node of the e2e tests and benchmarks: a namespace with the chart applied, a
//! lab with NICs, the node identity's kubeconfig, and `multinicd run` for it.

use std::time::Duration;

use k8s_openapi::api::events::v1::Event as K8sEvent;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use multinic_api::{MultiNicNodeConfig, NodeState};
use serde_json::json;

use crate::cluster::{Cluster, eventually};
use crate::{Daemon, Lab, Manager};

/// How a node's lab reaches the API server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiPath {
    /// On the lab's loopback (a relay to the host): no route can cut it.
    Loopback,
    /// Over the lab's primary network, behind its gateway ([`crate::API_BEHIND_GATEWAY`]).
    BehindGateway,
}

/// How long e2e waits for the daemon.
pub const WAIT: Duration = Duration::from_secs(30);

/// One node: a namespace with the chart, a lab with NICs, the node's daemon.
pub struct Node {
    /// The API server.
    pub cluster: Cluster,
    /// Its namespace.
    pub ns: String,
    /// The node name (and CR name).
    pub name: String,
    /// Its lab.
    pub lab: Lab,
    /// Admin access to the CRs of its namespace.
    pub api: Api<MultiNicNodeConfig>,
    /// multinicd config file.
    pub config: String,
}

impl Node {
    /// `None` when the e2e prerequisites are missing outside CI.
    pub async fn new(test: &str, nics: &[(&str, &str)]) -> Option<Node> {
        Self::shaped(test, Manager::NetworkManager, false, ApiPath::Loopback, nics).await
    }

    /// A node whose lab runs `manager`, as distributions ship it when `stock` (NM
    /// with auto-default on; networkd with a catch-all `.network` that runs DHCP on
    /// every Ethernet NIC), and reaches the API server as `api` says.
    pub async fn shaped(
        test: &str,
        manager: Manager,
        stock: bool,
        api: ApiPath,
        nics: &[(&str, &str)],
    ) -> Option<Node> {
        let cluster = Cluster::from_env().await?;
        let mut lab = match (manager, stock) {
            (Manager::NetworkManager, true) => Lab::start_stock()?,
            _ => Lab::start_with(manager)?,
        };
        if stock && manager == Manager::Networkd {
            lab.catch_all_dhcp();
        }
        let ns = format!("e2e-{test}-{}", std::process::id());
        let name = format!("node-{test}");
        cluster.install_chart(&ns).await;
        for (n, mac) in nics {
            lab.add_nic(n, mac, 1500);
        }
        let kubeconfig = cluster.node_kubeconfig(&name);
        let kubeconfig = match api {
            ApiPath::Loopback => {
                lab.forward_tcp(cluster.port());
                kubeconfig.display().to_string()
            }
            ApiPath::BehindGateway => {
                let url = lab.serve_behind_gateway(cluster.port());
                let text = std::fs::read_to_string(&kubeconfig).expect("node kubeconfig");
                lab.write("node.kubeconfig", &text.replace(&cluster.server, &url))
            }
        };
        let config = daemon_config(&lab, &name, &ns, &kubeconfig);
        Some(Node::at(cluster, &ns, &name, lab, config))
    }

    /// A node put together by the test: its CRs in `ns` of `cluster`, its daemon
    /// started with `config`.
    pub fn at(cluster: Cluster, ns: &str, name: &str, lab: Lab, config: String) -> Node {
        let api = Api::namespaced(cluster.admin.clone(), ns);
        Node { cluster, ns: ns.into(), name: name.into(), lab, api, config }
    }

    /// Start `multinicd run` for this node.
    pub fn daemon(&self) -> Daemon {
        self.lab.spawn_multinicd(&format!("multinicd-{}", self.name), &["--config", &self.config, "run"])
    }

    /// A CR for this node.
    pub fn cr(&self, interfaces: &[String], instance_id: Option<&str>) -> MultiNicNodeConfig {
        cr(&self.name, &self.ns, interfaces, instance_id)
    }

    /// Create its CR (as admin).
    pub async fn create(&self, interfaces: &[String]) -> MultiNicNodeConfig {
        self.api.create(&PostParams::default(), &self.cr(interfaces, None)).await.expect("admin creates the CR")
    }

    /// Replace the interfaces of its spec (as admin).
    pub async fn set_interfaces(&self, interfaces: &[String]) {
        let cr = self.cr(interfaces, None);
        let patch = json!({ "spec": { "interfaces": cr.spec.interfaces } });
        self.api.patch(&self.name, &PatchParams::default(), &Patch::Merge(&patch)).await.expect("admin edits the spec");
    }

    /// Wait until the CR satisfies `pred`; returns it.
    pub async fn until(&self, what: &str, pred: impl Fn(&MultiNicNodeConfig) -> bool) -> MultiNicNodeConfig {
        until(&self.api, &self.name, WAIT, what, pred).await
    }

    /// Wait until `Configured` at `generation`.
    pub async fn until_configured(&self, generation: i64) -> MultiNicNodeConfig {
        self.until(&format!("Configured at generation {generation}"), configured_at(generation)).await
    }

    /// Events about its CR.
    pub async fn events(&self) -> Vec<K8sEvent> {
        let api: Api<K8sEvent> = Api::namespaced(self.cluster.admin.clone(), &self.ns);
        api.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(&self.name))
            .collect()
    }

    /// Wait for an event with this reason.
    pub async fn until_event(&self, reason: multinic_api::Reason) -> K8sEvent {
        eventually(WAIT, &format!("event {reason}"), || async {
            self.events().await.into_iter().find(|e| e.reason.as_deref() == Some(reason.as_str()))
        })
        .await
    }
}

/// multinicd's config file in `lab` for node `name` watching `ns` with `kubeconfig`
/// (the lab's DMI UUID file, no periodic resync within a test); returns its path.
pub fn daemon_config(lab: &Lab, name: &str, ns: &str, kubeconfig: &str) -> String {
    let uuid = lab.write("product_uuid", "4C4C4544-0042-3510-8052-B4C04F384E32\n");
    lab.write(
        "multinicd.yaml",
        &format!(
            "nodeName: {name}\nnamespace: {ns}\nkubeconfig: {kubeconfig}\nsystemUuidPath: {uuid}\nresyncInterval: 1h\nrollbackTimeout: 6s\n"
        ),
    )
}

/// A `MultiNicNodeConfig` named `name` in `ns` with these interfaces (YAML items).
pub fn cr(name: &str, ns: &str, interfaces: &[String], instance_id: Option<&str>) -> MultiNicNodeConfig {
    let mut spec = json!({ "nodeName": name, "interfaces": [] });
    for i in interfaces {
        let v: serde_json::Value = serde_yaml::from_str(i).unwrap();
        spec["interfaces"].as_array_mut().unwrap().push(v);
    }
    if let Some(id) = instance_id {
        spec["instanceId"] = json!(id);
    }
    serde_json::from_value(json!({
        "apiVersion": "multinic.io/v1alpha1",
        "kind": "MultiNicNodeConfig",
        "metadata": { "name": name, "namespace": ns },
        "spec": spec,
    }))
    .unwrap()
}

/// Wait until the CR `name` satisfies `pred`, up to `timeout`; returns it.
pub async fn until(
    api: &Api<MultiNicNodeConfig>,
    name: &str,
    timeout: Duration,
    what: &str,
    pred: impl Fn(&MultiNicNodeConfig) -> bool,
) -> MultiNicNodeConfig {
    eventually(timeout, what, || async {
        let cr = api.get_opt(name).await.ok().flatten()?;
        pred(&cr).then_some(cr)
    })
    .await
}

/// Whether a CR's status says `Configured` for `generation`.
pub fn configured_at(generation: i64) -> impl Fn(&MultiNicNodeConfig) -> bool {
    move |cr| {
        let s = cr.status.as_ref();
        s.and_then(|s| s.state) == Some(NodeState::Configured)
            && s.and_then(|s| s.observed_generation) == Some(generation)
    }
}
