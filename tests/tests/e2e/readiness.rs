// SPDX-License-Identifier: Apache-2.0
//! Readiness gating: the `MultiNicReady` condition the daemon keeps on its own Node,
//! and the startup taint it removes once the node is configured.

use k8s_openapi::api::core::v1::{Node as K8sNode, NodeCondition};
use kube::Api;
use kube::api::{Patch, PatchParams};
use multinic_lab::cluster::{client, eventually};
use multinic_lab::node::{Node, WAIT};
use serde_json::json;

use super::{A, B, one};

const TAINT: &str = "multinic.io/not-ready";

/// A Node object for the lab's node, as its kubelet would register it: the startup
/// taint on it, among another one. A Node left by an earlier run is replaced.
pub async fn register(node: &Node) -> Api<K8sNode> {
    let nodes: Api<K8sNode> = Api::all(node.cluster.admin.clone());
    if nodes.get_opt(&node.name).await.unwrap().is_some() {
        nodes.delete(&node.name, &Default::default()).await.unwrap();
    }
    node.cluster.create_node(&node.name, "4c4c4544-0042-3510-8052-b4c04f384e32").await;
    let taints = json!({ "spec": { "taints": [
        { "key": TAINT, "effect": "NoSchedule" },
        { "key": "example.com/other", "effect": "NoSchedule" },
    ] } });
    nodes.patch(&node.name, &PatchParams::default(), &Patch::Merge(&taints)).await.unwrap();
    nodes
}

fn condition(n: &K8sNode) -> Option<NodeCondition> {
    n.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "MultiNicReady").cloned()
}

fn taint_keys(n: &K8sNode) -> Vec<String> {
    n.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default().into_iter().map(|t| t.key).collect()
}

async fn until_condition(nodes: &Api<K8sNode>, name: &str, status: &str, reason: &str) -> NodeCondition {
    eventually(WAIT, &format!("MultiNicReady {status} ({reason})"), || async {
        condition(&nodes.get(name).await.unwrap()).filter(|c| c.status == status && c.reason.as_deref() == Some(reason))
    })
    .await
}

/// The condition follows the CR through Configured → Failed → Configured, its
/// transition time moving with its status, also when the Node is registered after
/// the node was configured; the Node's other conditions stay. As the
/// node identity the daemon cannot remove the startup taint (NodeRestriction) and
/// says so, naming the fix; the taint stays. Another node's identity cannot write
/// this Node's condition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_condition_follows_the_cr() {
    let Some(node) = Node::new("ready", &[("ens4", A)]).await else { return };
    let config = std::fs::read_to_string(&node.config).unwrap();
    std::fs::write(&node.config, format!("{config}removeTaint: {TAINT}\n")).unwrap();
    // Configured before its kubelet registers the Node: the condition waits for it.
    let daemon = node.daemon();
    let created = node.create(&[one(A, "198.51.100.4", "")]).await;
    let cr = node.until_configured(created.metadata.generation.unwrap()).await;
    let nodes = register(&node).await;
    let kubelets =
        json!({ "status": { "conditions": [{ "type": "Ready", "status": "True", "reason": "KubeletReady" }] } });
    nodes.patch_status(&node.name, &PatchParams::default(), &Patch::Strategic(&kubelets)).await.unwrap();
    let ready = until_condition(&nodes, &node.name, "True", "Configured").await;
    assert_eq!(ready.message, cr.status.as_ref().unwrap().message);

    // A NIC that is not there: the CR fails, and so does the condition. (The API's
    // times have whole seconds: wait one out, so that the transition shows.)
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    node.set_interfaces(&[one(A, "198.51.100.4", ""), one(B, "198.51.100.5", "")]).await;
    let failed = node
        .until("Failed", |cr| cr.status.as_ref().is_some_and(|s| s.state == Some(multinic_api::NodeState::Failed)))
        .await;
    let reason = failed.status.as_ref().unwrap().reason.as_ref().unwrap().to_string();
    let down = until_condition(&nodes, &node.name, "False", &reason).await;
    assert!(down.last_transition_time > ready.last_transition_time, "{down:?} after {ready:?}");

    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    node.set_interfaces(&[one(A, "198.51.100.4", "")]).await;
    let up = until_condition(&nodes, &node.name, "True", "Configured").await;
    assert!(up.last_transition_time > down.last_transition_time);
    let now = nodes.get(&node.name).await.unwrap();
    let kubelet = now.status.unwrap().conditions.unwrap().into_iter().find(|c| c.type_ == "Ready");
    assert_eq!(kubelet.map(|c| c.reason), Some(Some("KubeletReady".into())), "the kubelet's condition stays");

    // The node identity may not touch taints: said once, with the fix; both stay.
    eventually(WAIT, "the daemon says why the taint stays", || async {
        daemon.log().contains("NodeRestriction lets no node identity change taints").then_some(())
    })
    .await;
    assert_eq!(taint_keys(&nodes.get(&node.name).await.unwrap()), vec![TAINT, "example.com/other"]);
    let (code, report) = super::doctor::doctor(&node.lab, &node.config);
    let (verdict, said) = super::doctor::line(&report, "startup taint");
    assert!(code == 1 && verdict == "FAIL" && said.contains("NodeRestriction"), "{report}");

    // Another node may not write this Node's condition.
    let other: Api<K8sNode> = Api::all(client(&node.cluster.node_kubeconfig(&format!("{}-b", node.name))).await);
    let forged =
        json!({ "status": { "conditions": [{ "type": "MultiNicReady", "status": "False", "reason": "Forged" }] } });
    let r = other.patch_status(&node.name, &PatchParams::default(), &Patch::Strategic(&forged)).await;
    assert!(matches!(r, Err(kube::Error::Api(ref e)) if e.code == 403), "another node wrote the condition: {r:?}");
    assert_eq!(condition(&nodes.get(&node.name).await.unwrap()).unwrap().reason.as_deref(), Some("Configured"));

    // Deleted: no config, said on the Node.
    node.api.delete(&node.name, &Default::default()).await.unwrap();
    until_condition(&nodes, &node.name, "False", "NoConfig").await;
    drop(daemon);
    nodes.delete(&node.name, &Default::default()).await.unwrap();
}

/// With an identity of its own (user `multinic:node:NODE`, group `multinic:nodes`,
/// and the chart told so, with `removeTaint`), the daemon removes the startup taint
/// once its node is configured, and only that one; the chart's policy lets that
/// identity change nothing else on its Node (not another taint, not the kubelet's
/// condition) and nothing on another Node. A kit of its own: the chart's policies
/// are cluster-wide.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_own_identity_removes_the_startup_taint_once_configured() {
    use multinic_lab::cluster::{Cluster, OwnKit};
    if Cluster::from_env().await.is_none() {
        return;
    }
    let (_kit, admin) = OwnKit::start("taint");
    let cluster = Cluster::at(&admin).await;
    let Some(mut lab) = multinic_lab::Lab::start() else { return };
    let ns = "e2e-taint";
    lab.add_nic("ens4", A, 1500);
    lab.forward_tcp(cluster.port());
    let name = "node-taint";
    let identity = format!("multinic:node:{name}");
    let kubeconfig = cluster.user_kubeconfig(&identity, &["multinic:nodes"]);
    let config = multinic_lab::node::daemon_config(&lab, name, ns, &kubeconfig.display().to_string());
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}identity: {identity}\nremoveTaint: {TAINT}\n")).unwrap();
    // A cluster without the chart: doctor says so.
    let (code, report) = super::doctor::doctor(&lab, &config);
    assert_eq!(code, 1, "{report}");
    let (verdict, said) = super::doctor::line(&report, "CRD");
    assert!(verdict == "FAIL" && said.contains("install the chart"), "{report}");
    let values = [("nodeUserPrefix", "multinic:node:"), ("nodesGroup", "multinic:nodes"), ("removeTaint", TAINT)];
    cluster.install_chart_with(ns, &values).await;
    let node = Node::at(cluster, ns, name, lab, config);
    let nodes = register(&node).await;
    let daemon = node.daemon();

    // Not configured yet: the condition says so, the taint stays; an empty CR (how a
    // node is onboarded) is no readiness either.
    until_condition(&nodes, name, "False", "NoConfig").await;
    assert_eq!(taint_keys(&nodes.get(name).await.unwrap()), vec![TAINT, "example.com/other"]);
    let created = node.create(&[]).await;
    node.until_configured(created.metadata.generation.unwrap()).await;
    until_condition(&nodes, name, "False", "NoInterfaces").await;
    assert_eq!(taint_keys(&nodes.get(name).await.unwrap()), vec![TAINT, "example.com/other"]);
    node.set_interfaces(&[one(A, "198.51.100.4", "")]).await;
    node.until_configured(created.metadata.generation.unwrap() + 1).await;
    until_condition(&nodes, name, "True", "Configured").await;
    eventually(WAIT, "the startup taint removed", || async {
        (taint_keys(&nodes.get(name).await.unwrap()) == ["example.com/other"]).then_some(())
    })
    .await;
    assert!(daemon.log().contains(&format!("its taint {TAINT} is removed")), "{}", daemon.log());
    let (_, report) = super::doctor::doctor(&node.lab, &node.config);
    assert_eq!(super::doctor::line(&report, "startup taint").0, "ok", "{report}");

    // What the chart's policy refuses that identity.
    let as_daemon: Api<K8sNode> = Api::all(client(&kubeconfig).await);
    let denied = |r: Result<K8sNode, kube::Error>, what: &str| {
        assert!(matches!(r, Err(kube::Error::Api(ref e)) if e.code == 403 || e.code == 422), "{what}: {r:?}");
    };
    let no_taints = json!({ "spec": { "taints": [] } });
    denied(as_daemon.patch(name, &PatchParams::default(), &Patch::Merge(&no_taints)).await, "removed another taint");
    let forged = json!({ "status": { "conditions": [{ "type": "Ready", "status": "False", "reason": "Forged" }] } });
    denied(as_daemon.patch_status(name, &PatchParams::default(), &Patch::Strategic(&forged)).await, "forged Ready");
    let labels = json!({ "metadata": { "labels": { "example.com/x": "y" } } });
    denied(as_daemon.patch(name, &PatchParams::default(), &Patch::Merge(&labels)).await, "labelled its Node");
    node.cluster.create_node("node-taint-b", "4c4c4544-0000-0000-0000-000000000000").await;
    let condition =
        json!({ "status": { "conditions": [{ "type": "MultiNicReady", "status": "True", "reason": "Configured" }] } });
    denied(
        as_daemon.patch_status("node-taint-b", &PatchParams::default(), &Patch::Strategic(&condition)).await,
        "wrote another Node's condition",
    );
    // The policy leaves the kubelets alone: node-taint-b's kubelet updates its Node.
    let kubelet: Api<K8sNode> = Api::all(client(&node.cluster.node_kubeconfig("node-taint-b")).await);
    let ready =
        json!({ "status": { "conditions": [{ "type": "Ready", "status": "True", "reason": "KubeletReady" }] } });
    kubelet.patch_status("node-taint-b", &PatchParams::default(), &Patch::Strategic(&ready)).await.unwrap();
    drop(daemon);
}

/// The chart refuses `removeTaint` with the kubelet's identity, saying why, rather
/// than installing a gate that can never open.
#[test]
fn the_chart_refuses_remove_taint_for_node_identities() {
    let out = std::process::Command::new(multinic_lab::cluster::python())
        .arg(multinic_lab::repo_root().join("charts/render.py"))
        .args(["--set", &format!("removeTaint={TAINT}")])
        .output()
        .expect("run charts/render.py");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("NodeRestriction lets no node identity"), "{stderr}");
}

/// The chart refuses values that would let its policy on Nodes stand in every
/// kubelet's way (an own user prefix with the kubelets' group), and a taint of
/// Kubernetes' own.
#[test]
fn the_chart_refuses_the_kubelets_group_and_kubernetes_taints() {
    let render = |sets: &[&str]| {
        let mut command = std::process::Command::new(multinic_lab::cluster::python());
        command.arg(multinic_lab::repo_root().join("charts/render.py"));
        for set in sets {
            command.args(["--set", set]);
        }
        let out = command.output().expect("run charts/render.py");
        (out.status.success(), String::from_utf8_lossy(&out.stderr).to_string())
    };
    let (ok, stderr) = render(&["nodeUserPrefix=multinic:node:"]);
    assert!(!ok && stderr.contains("nodesGroup is still system:nodes"), "{stderr}");
    let own = ["nodeUserPrefix=multinic:node:", "nodesGroup=multinic:nodes"];
    let (ok, stderr) = render(&[own[0], own[1], "removeTaint=node.kubernetes.io/not-ready"]);
    assert!(!ok && stderr.contains("a taint of Kubernetes' own"), "{stderr}");
    let (ok, stderr) = render(&[own[0], own[1], &format!("removeTaint={TAINT}")]);
    assert!(ok, "{stderr}");
}
