// SPDX-License-Identifier: Apache-2.0
//! `multinicd doctor` on a lab node against the real API server: all well, then
//! each broken prerequisite named on its own line with a non-zero exit.

use multinic_lab::node::{ApiPath, Node};
use multinic_lab::{Lab, Manager};

use super::{A, one};

/// `multinicd doctor` with `config`: exit code and report.
pub fn doctor(lab: &Lab, config: &str) -> (i32, String) {
    let out = lab.multinicd(&["--config", config, "doctor"]);
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    eprintln!("--- multinicd doctor\n{report}");
    (out.status.code().unwrap_or(-1), report)
}

/// The report's line for `what`, as (verdict, text).
pub fn line<'a>(report: &'a str, what: &str) -> (&'a str, &'a str) {
    report
        .lines()
        .find_map(|l| {
            let (verdict, rest) = l.split_once(' ')?;
            rest.trim_start().strip_prefix(what).map(|text| (verdict, text.trim()))
        })
        .unwrap_or_else(|| panic!("no line for {what} in\n{report}"))
}

/// All well: every line ok and exit 0. Then, one at a time: another identity's
/// credential, a manager that is not there, and a spec the daemon (stopped) has
/// not applied; each fails its own line, says what to do, and the exit is 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_passes_a_healthy_node_and_names_what_is_broken() {
    let Some(node) = Node::new("doctor", &[("ens4", A)]).await else { return };
    let daemon = node.daemon();
    let created = node.create(&[one(A, "198.51.100.4", "")]).await;
    node.until_configured(created.metadata.generation.unwrap()).await;

    let (code, report) = doctor(&node.lab, &node.config);
    assert_eq!(code, 0, "{report}");
    for what in [
        "network manager",
        "manager settings",
        "kubeconfig",
        "identity",
        "clock",
        "CRD",
        "RBAC",
        "admission policy",
        "last pass",
    ] {
        assert_eq!(line(&report, what).0, "ok", "{what}:\n{report}");
    }
    assert!(line(&report, "network manager").1.starts_with("NetworkManager 1."), "{report}");
    assert!(line(&report, "last pass").1.starts_with("Configured at generation"), "{report}");

    let config = std::fs::read_to_string(&node.config).unwrap();
    let other = node.lab.write("other-identity.yaml", &format!("{config}identity: system:node:someone-else\n"));
    let (code, report) = doctor(&node.lab, &other);
    assert_eq!(code, 1, "{report}");
    let (verdict, text) = line(&report, "identity");
    assert_eq!(verdict, "FAIL");
    assert!(text.contains(&format!("knows the credential as system:node:{}", node.name)), "{text}");

    let networkd = node.lab.write("networkd.yaml", &format!("{config}backend: networkd\n"));
    let (code, report) = doctor(&node.lab, &networkd);
    assert_eq!(code, 1, "{report}");
    let (verdict, text) = line(&report, "network manager");
    assert_eq!(verdict, "FAIL");
    assert!(text.contains("systemd-networkd"), "{text}");

    drop(daemon);
    node.set_interfaces(&[one(A, "198.51.100.40", "")]).await;
    let (code, report) = doctor(&node.lab, &node.config);
    assert_eq!(code, 1, "{report}");
    let (verdict, text) = line(&report, "last pass");
    assert_eq!(verdict, "FAIL");
    assert!(text.contains("is not applied") && text.contains("is multinicd running on node-doctor?"), "{text}");
}

/// systemd-networkd that would delete routes and rules multinic did not create:
/// doctor fails that line and names the setting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_names_networkd_settings_that_would_delete_foreign_rules() {
    let Some(node) = Node::shaped("doctor-nd", Manager::Networkd, false, ApiPath::Loopback, &[("ens4", A)]).await
    else {
        return;
    };
    let (_, report) = doctor(&node.lab, &node.config);
    assert_eq!(line(&report, "manager settings").0, "ok", "{report}");
    assert!(line(&report, "network manager").1.starts_with("systemd-networkd"), "{report}");
    let conf =
        "printf '[Network]\\nManageForeignRoutingPolicyRules=yes\\n' > /etc/systemd/networkd.conf.d/zz-local.conf";
    assert!(node.lab.run("sh", &["-c", conf]).status.success());
    let (code, report) = doctor(&node.lab, &node.config);
    assert_eq!(code, 1, "{report}");
    let (verdict, text) = line(&report, "manager settings");
    assert_eq!(verdict, "FAIL");
    assert!(text.contains("ManageForeignRoutingPolicyRules=yes"), "{text}");
}

/// `kubectl multinic doctor` sees the node from the cluster: all well (instanceId
/// unset is only a warning); an instanceId of another VM fails that line, the last
/// pass and the Node condition, with a Warning Event; a node without Node or CR
/// fails those lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_multinic_doctor_sees_the_node_from_the_cluster() {
    use kube::api::{Patch, PatchParams};
    use multinic_api::NodeState;
    let Some(node) = Node::new("kdoctor", &[("ens4", A)]).await else { return };
    let nodes = super::readiness::register(&node).await;
    let daemon = node.daemon();
    let created = node.create(&[one(A, "198.51.100.4", "")]).await;
    node.until_configured(created.metadata.generation.unwrap()).await;
    let admin = node.cluster.dir.join("admin.kubeconfig");
    let run = |name: &str| {
        let out = multinic_lab::cluster::kubectl_multinic(&admin, &["-n", &node.ns, "doctor", name], &[]);
        (out.status.code(), String::from_utf8_lossy(&out.stdout).to_string())
    };

    let (code, report) = run(&node.name);
    assert_eq!(code, Some(0), "{report}");
    for what in ["Node", "MultiNicNodeConfig", "last pass", "events"] {
        assert_eq!(line(&report, what).0, "ok", "{what}:\n{report}");
    }
    assert_eq!(line(&report, "instanceId").0, "warn", "{report}");
    // The condition is written after the status: it may lag a moment.
    multinic_lab::cluster::eventually(multinic_lab::node::WAIT, "condition ok", || async {
        (line(&run(&node.name).1, "Node condition").0 == "ok").then_some(())
    })
    .await;

    let wrong = json_patch("00000000-0000-0000-0000-000000000001");
    node.api.patch(&node.name, &PatchParams::default(), &Patch::Merge(&wrong)).await.unwrap();
    node.until("refused for the instanceId", |cr| {
        cr.status
            .as_ref()
            .is_some_and(|s| s.state == Some(NodeState::Failed) && s.observed_generation == cr.metadata.generation)
    })
    .await;
    let report = multinic_lab::cluster::eventually(multinic_lab::node::WAIT, "the condition follows", || async {
        let (code, report) = run(&node.name);
        (code == Some(1) && line(&report, "Node condition").0 == "FAIL").then_some(report)
    })
    .await;
    let (verdict, text) = line(&report, "instanceId");
    assert_eq!(verdict, "FAIL");
    assert!(text.contains("is not the Node's system UUID 4c4c4544-0042-3510-8052-b4c04f384e32"), "{text}");
    assert_eq!(line(&report, "last pass").0, "FAIL", "{report}");
    assert_eq!(line(&report, "events").0, "warn", "{report}");

    let (code, report) = run("node-nosuch");
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(line(&report, "Node").0, "FAIL", "{report}");
    assert!(line(&report, "MultiNicNodeConfig").1.contains("kubectl multinic create node-nosuch"), "{report}");
    drop(daemon);
    nodes.delete(&node.name, &Default::default()).await.unwrap();
}

fn json_patch(instance_id: &str) -> serde_json::Value {
    serde_json::json!({ "spec": { "instanceId": instance_id } })
}
