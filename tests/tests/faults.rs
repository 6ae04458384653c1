// SPDX-License-Identifier: Apache-2.0
//! What an operator's cluster and node throw at multinic besides good input: the
//! chart's lifecycle (uninstall, upgrade with a new schema), identities that are not
//! what they claim, a node that boots before it joins, credentials that rotate,
//! faults of the network manager and the API server. Real API servers (private ones
//! where a test changes cluster-scoped objects), real NetworkManager labs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::events::v1::Event as K8sEvent;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use multinic_api::crd::{CRD_NAME, REVISION_ANNOTATION, SCHEMA_REVISION};
use multinic_api::{MultiNicNodeConfig, NodeState, Reason};
use multinic_lab::cluster::{Cluster, OwnKit, eventually};
use multinic_lab::node::{ApiPath, Node, WAIT, cr, daemon_config};
use multinic_lab::{Lab, Manager, nic, repo_root};
use serde_json::json;

const A: &str = "02:00:00:00:0e:04";

/// The chart as the previous release shipped it: the CRD without `routes[].metric`
/// and without a schema revision (revision 1).
fn older_chart(dir: &Path) -> PathBuf {
    let chart = dir.join("multinic");
    let out =
        std::process::Command::new("cp").arg("-r").arg(repo_root().join("charts/multinic")).arg(dir).output().unwrap();
    assert!(out.status.success());
    let path = chart.join("templates/crd.yaml");
    let mut crd: serde_json::Value = serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    crd["metadata"]["annotations"].as_object_mut().unwrap().remove(REVISION_ANNOTATION);
    let spec = &mut crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    let route = &mut spec["properties"]["interfaces"]["items"]["properties"]["routes"]["items"];
    assert!(route["properties"].as_object_mut().unwrap().remove("metric").is_some(), "the CRD has routes[].metric");
    // Rules about the removed field would not compile.
    route.as_object_mut().unwrap().remove("x-kubernetes-validations");
    std::fs::write(&path, serde_yaml::to_string(&crd).unwrap()).unwrap();
    chart
}

async fn metric_of(api: &Api<MultiNicNodeConfig>, name: &str) -> Option<u32> {
    api.get(name).await.unwrap().spec.interfaces[0].routes.first().and_then(|r| r.metric)
}

/// `helm install` of a chart whose CRD lacks a field, CRs, a node's daemon; the daemon
/// says the served CRD is older than it is. `helm upgrade` to this chart serves the
/// new schema (Helm never upgrades `crds/`: the CRD is a template), the CRs are
/// intact, a CR using the new field keeps it. `helm uninstall` keeps the CRD, the
/// Namespace and every CR, and the node keeps its configuration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_upgrade_serves_the_new_schema_and_uninstall_keeps_every_cr() {
    if Cluster::from_env().await.is_none() {
        return;
    }
    let (_kit, kubeconfig) = OwnKit::start("helm");
    let cluster = Cluster::at(&kubeconfig).await;
    let Some(mut lab) = Lab::start() else { return };
    let ns = "multinic-system";
    let tmp = tempfile::tempdir().unwrap();
    cluster.helm("install", &older_chart(tmp.path()), ns);
    cluster.wait_crd().await;

    let api: Api<MultiNicNodeConfig> = Api::namespaced(cluster.admin.clone(), ns);
    let route = ", routes: [{to: 10.70.0.0/16, via: 198.51.100.1, metric: 50}]";
    let old = cr("old-node", ns, &[nic(1, A, "198.51.100.9", "198.51.100.0/24", route)], None);
    // The older schema is in effect once it prunes the field it does not know.
    eventually(WAIT, "the older CRD served", || async {
        let _ = api.delete("old-node", &Default::default()).await;
        api.create(&PostParams::default(), &old).await.ok()?;
        metric_of(&api, "old-node").await.is_none().then_some(())
    })
    .await;

    lab.add_nic("ens4", A, 1500);
    lab.forward_tcp(cluster.port());
    let name = "node-helm";
    let config = daemon_config(&lab, name, ns, &cluster.node_kubeconfig(name).display().to_string());
    let daemon = lab.spawn_multinicd("multinicd", &["--config", &config, "run"]);
    let mine = cr(name, ns, &[nic(1, A, "198.51.100.4", "198.51.100.0/24", "")], None);
    api.create(&PostParams::default(), &mine).await.unwrap();
    let configured = || async {
        let s = api.get(name).await.ok()?.status?;
        (s.state == Some(NodeState::Configured)).then_some(())
    };
    eventually(WAIT, "configured under the older CRD", configured).await;
    let events: Api<K8sEvent> = Api::namespaced(cluster.admin.clone(), ns);
    let warning = eventually(WAIT, "a CRDOutdated event", || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items.into_iter().find(|e| e.reason.as_deref() == Some(Reason::CRDOutdated.as_str()))
    })
    .await;
    let note = warning.note.unwrap_or_default();
    assert!(note.contains(&format!("revision 1, older than multinicd's {SCHEMA_REVISION}")), "{note}");
    assert!(daemon.log().contains("helm upgrade"), "journal says what to do:\n{}", daemon.log());
    let out = multinic_lab::cluster::kubectl_multinic(&kubeconfig, &["status", "-n", ns], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("revision 1, older than kubectl-multinic's"), "the plugin says so too: {stderr}");

    cluster.helm("upgrade", &repo_root().join("charts/multinic"), ns);
    let crds: Api<CustomResourceDefinition> = Api::all(cluster.admin.clone());
    let served = crds.get(CRD_NAME).await.unwrap();
    assert_eq!(multinic_api::crd::served_revision(&served), SCHEMA_REVISION);
    let with_metric = cr("new-node", ns, &[nic(1, A, "198.51.100.10", "198.51.100.0/24", route)], None);
    eventually(WAIT, "the new field kept", || async {
        let _ = api.delete("new-node", &Default::default()).await;
        api.create(&PostParams::default(), &with_metric).await.ok()?;
        (metric_of(&api, "new-node").await == Some(50)).then_some(())
    })
    .await;
    assert_eq!(api.get("old-node").await.unwrap().spec.interfaces[0].address, "198.51.100.9", "CRs intact");
    let patch = json!({ "spec": { "interfaces": [ { "id": 1, "macAddress": A, "address": "198.51.100.9",
        "cidr": "198.51.100.0/24", "routes": [{ "to": "10.70.0.0/16", "via": "198.51.100.1", "metric": 60 }] } ] } });
    api.patch("old-node", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    assert_eq!(metric_of(&api, "old-node").await, Some(60), "a CR of the old schema takes the new field");

    cluster.helm("uninstall", &repo_root().join("charts/multinic"), ns);
    assert!(crds.get_opt(CRD_NAME).await.unwrap().is_some(), "the CRD is kept");
    let namespace = Api::<Namespace>::all(cluster.admin.clone()).get(ns).await.unwrap();
    assert!(namespace.metadata.deletion_timestamp.is_none(), "the Namespace is kept, not terminating");
    let names: Vec<String> =
        api.list(&ListParams::default()).await.unwrap().items.into_iter().filter_map(|c| c.metadata.name).collect();
    assert_eq!(names.len(), 3, "every CR is kept: {names:?}");
    // The daemon lost its RBAC with the chart: it keeps what it applied.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(lab.ipv4("multinic0"), vec!["198.51.100.4/24"]);
    assert!(daemon.pid().is_some(), "daemon still running:\n{}", daemon.log());
    drop(daemon);
}

const B: &str = "02:00:00:00:0e:05";

fn attempts(daemon: &multinic_lab::Daemon, mac: &str) -> usize {
    daemon.log().lines().filter(|l| l.contains("rolled back") && l.contains(mac)).count()
}

/// A NIC that never verifies (its peer end is down: no carrier) is rolled back and
/// tried again after a delay that doubles, not on a fixed cadence: the second minute
/// sees at most half the attempts of the first, the status says when the next one
/// is, the other interface stays configured, and the Events about it are a couple,
/// not one per attempt. Carrier back: tried at once, configured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interface_that_never_verifies_backs_off() {
    let Some(node) = Node::new("backoff", &[("ens4", A)]).await else { return };
    node.lab.add_nic_without_carrier("ens5", B);
    let daemon = node.daemon();
    let start = std::time::Instant::now();
    node.create(&[nic(1, A, "198.51.100.4", "198.51.100.0/24", ""), nic(2, B, "198.51.100.5", "198.51.100.0/24", "")])
        .await;
    let cr = node
        .until("B failed, retrying", |cr| {
            cr.status.as_ref().is_some_and(|s| {
                s.interface_statuses.values().any(|i| i.mac_address == B && i.message.contains("retrying in"))
            })
        })
        .await;
    let a = cr.status.as_ref().unwrap().interface_statuses.values().find(|i| i.mac_address == A).unwrap().clone();
    assert_eq!(a.state, multinic_api::InterfaceState::Configured);

    tokio::time::sleep(Duration::from_secs(60).saturating_sub(start.elapsed())).await;
    let first = attempts(&daemon, B);
    tokio::time::sleep(Duration::from_secs(120).saturating_sub(start.elapsed())).await;
    let second = attempts(&daemon, B) - first;
    eprintln!("attempts: {first} in the first minute, {second} in the second");
    assert!(first >= 3, "retried in the first minute: {first}\n{}", daemon.log());
    assert!(second * 2 <= first, "backs off: {first} then {second}\n{}", daemon.log());
    assert_eq!(node.lab.ipv4("multinic0"), vec!["198.51.100.4/24"], "the other interface stays configured");
    let about_b: Vec<String> =
        node.events().await.into_iter().filter_map(|e| e.note).filter(|n| n.contains(B)).collect();
    assert!(about_b.len() <= 2, "one Event per transition, not per attempt: {about_b:#?}");

    // Renames, down/up and rollbacks are the daemon's own doing: no netlink-triggered
    // pass ("bulk reconcile") came of them.
    let triggered =
        |log: &str| log.lines().filter(|l| l.contains("bulk reconcile requested") && l.contains("pass done")).count();
    assert_eq!(triggered(&daemon.log()), 0, "its own changes triggered passes:\n{}", daemon.log());

    // Its carrier comes back: tried at once, not at the end of its wait.
    node.lab.carrier("ens5", true);
    node.until("B configured once it has carrier", |cr| {
        cr.status.as_ref().is_some_and(|s| s.state == Some(NodeState::Configured))
    })
    .await;
    // The status is written before the pass logs "pass done": look for the line the
    // pass logged before it wrote the status.
    let configured_by_event = daemon
        .log()
        .lines()
        .any(|l| l.contains("bulk reconcile requested") && l.contains("configured interface=multinic1"));
    assert!(configured_by_event, "the carrier's return triggered a pass:\n{}", daemon.log());
    drop(daemon);
}

/// NetworkManager stops answering (SIGSTOP) during an edit: the status says the
/// backend is unavailable once the D-Bus call timed out, the watchdog is not fed
/// while a pass hangs, and after SIGCONT the edit is applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_network_manager_is_reported_and_survived() {
    let Some(node) = Node::new("nmstop", &[("ens4", A)]).await else { return };
    let daemon = node.daemon();
    let generation = node.create(&[nic(1, A, "198.51.100.4", "198.51.100.0/24", "")]).await.metadata.generation;
    node.until_configured(generation.unwrap()).await;

    node.lab.signal_nm("STOP");
    let stopped = std::time::Instant::now();
    node.set_interfaces(&[nic(1, A, "198.51.100.40", "198.51.100.0/24", "")]).await;
    let cr = until_status(&node, Duration::from_secs(45), "the backend reported unavailable", |s| {
        s.reason == Some(Reason::BackendUnavailable)
    })
    .await;
    let message = cr.status.unwrap().message.unwrap_or_default();
    assert!(message.contains("keep their last configuration"), "{message}");
    tokio::time::sleep(Duration::from_secs(60).saturating_sub(stopped.elapsed())).await;
    node.lab.signal_nm("CONT");
    let resumed = std::time::Instant::now();

    let pings: Vec<std::time::Instant> =
        daemon.watchdog_pings().into_iter().filter(|t| *t > stopped && *t < resumed).collect();
    let longest = pings.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(resumed - stopped);
    eprintln!("{} watchdog pings while NetworkManager was stopped; longest gap {longest:?}", pings.len());
    // WATCHDOG_USEC is 1 s: a healthy daemon pings every 0.5 s.
    assert!(longest >= Duration::from_secs(5), "the watchdog was fed while a pass hung: longest gap {longest:?}");

    let generation = node.api.get(&node.name).await.unwrap().metadata.generation.unwrap();
    until_status(&node, Duration::from_secs(360), "the edit applied after SIGCONT", |s| {
        s.state == Some(NodeState::Configured) && s.observed_generation == Some(generation)
    })
    .await;
    assert_eq!(node.lab.ipv4("multinic0"), vec!["198.51.100.40/24"]);
    eventually(Duration::from_secs(5), "the watchdog fed again", || async {
        daemon.watchdog_pings().into_iter().any(|t| t > resumed).then_some(())
    })
    .await;
    drop(daemon);
}

async fn until_status(
    node: &Node,
    timeout: Duration,
    what: &str,
    pred: impl Fn(&multinic_api::MultiNicNodeConfigStatus) -> bool,
) -> MultiNicNodeConfig {
    eventually(timeout, what, || async {
        let cr = node.api.get(&node.name).await.ok()?;
        cr.status.as_ref().is_some_and(&pred).then_some(cr)
    })
    .await
}

/// The network manager restarts, the system bus restarts (and the manager with
/// it): the daemon connects again and applies the next edit.
async fn restarts_are_survived(manager: Manager) {
    let test = format!("restart-{}", manager.backend());
    let Some(node) = Node::shaped(&test, manager, false, ApiPath::Loopback, &[("ens4", A)]).await else { return };
    let daemon = node.daemon();
    let generation = node.create(&[nic(1, A, "198.51.100.4", "198.51.100.0/24", "")]).await.metadata.generation;
    node.until_configured(generation.unwrap()).await;
    let restarts: [(&str, &dyn Fn()); 2] = match manager {
        Manager::Networkd => [("networkd", &|| node.lab.restart_networkd()), ("dbus", &|| node.lab.restart_dbus())],
        _ => [("NetworkManager", &|| node.lab.restart_nm()), ("dbus", &|| node.lab.restart_dbus())],
    };
    for (i, (what, restart)) in restarts.iter().enumerate() {
        restart();
        let address = format!("198.51.100.{}", 40 + i);
        node.set_interfaces(&[nic(1, A, &address, "198.51.100.0/24", "")]).await;
        let generation = node.api.get(&node.name).await.unwrap().metadata.generation.unwrap();
        until_status(&node, Duration::from_secs(90), &format!("the edit after restarting {what}"), |s| {
            s.state == Some(NodeState::Configured) && s.observed_generation == Some(generation)
        })
        .await;
        assert_eq!(node.lab.ipv4("multinic0"), vec![format!("{address}/24")], "after restarting {what}");
    }
    drop(daemon);
}

mod restarts {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn networkmanager() {
        restarts_are_survived(Manager::NetworkManager).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn networkd() {
        restarts_are_survived(Manager::Networkd).await;
    }
}

/// A node image boots before it joins: no kubeconfig yet. `multinicd run` stays up
/// (READY, a STATUS that says what it waits for), touches nothing, and starts once
/// the kubeconfig appears.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_waits_for_the_kubeconfig() {
    let Some(node) = Node::new("join", &[("ens4", A)]).await else { return };
    let kubeconfig = node.lab.dir().join("kubelet.conf");
    daemon_config(&node.lab, &node.name, &node.ns, &kubeconfig.display().to_string());
    let daemon = node.daemon();
    let status = daemon.wait_notification("STATUS=waiting for", WAIT).expect("says what it waits for");
    assert!(status.contains("kubelet.conf"), "{status}");
    assert!(daemon.notifications().iter().any(|n| n == "READY=1"), "READY while waiting: {:?}", daemon.notifications());
    let generation = node.create(&[nic(1, A, "198.51.100.4", "198.51.100.0/24", "")]).await.metadata.generation;
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(daemon.pid().is_some(), "still running after 30 s:\n{}", daemon.log());
    assert!(!daemon.log().contains("pass done"), "no pass without a kubeconfig");
    assert_eq!(node.lab.ipv4("ens4"), Vec::<String>::new(), "nothing touched");

    std::fs::copy(node.cluster.node_kubeconfig(&node.name), &kubeconfig).unwrap();
    node.until_configured(generation.unwrap()).await;
    assert_eq!(node.lab.ipv4("multinic0"), vec!["198.51.100.4/24"]);

    // While the service runs, a one-shot apply by hand would race its transactions.
    let file = node.lab.write("by-hand.yaml", &multinic_lab::spec(&[nic(1, A, "198.51.100.9", "198.51.100.0/24", "")]));
    let out = node.lab.multinicd(&["--config", &node.config, "apply", "--file", &file]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("another multinicd is changing this host"));
    assert_eq!(node.lab.ipv4("multinic0"), vec!["198.51.100.4/24"]);
    drop(daemon);
}

/// The kubelet rotates its client certificate: the file the kubeconfig names is
/// replaced by a new one for the same node, and the old one expires. The daemon
/// goes on without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_client_certificate_is_picked_up() {
    let Some(node) = Node::new("rotate", &[("ens4", A)]).await else { return };
    let pem = node.lab.dir().join("kubelet-client-current.pem");
    let lifetime = Duration::from_secs(40);
    node.cluster.node_pem(&node.name, lifetime, &pem);
    let issued = std::time::Instant::now();
    let kubeconfig = node.lab.write("kubelet.conf", &node.cluster.file_kubeconfig(&pem));
    daemon_config(&node.lab, &node.name, &node.ns, &kubeconfig);
    let daemon = node.daemon();
    let generation = node.create(&[nic(1, A, "198.51.100.4", "198.51.100.0/24", "")]).await.metadata.generation;
    node.until_configured(generation.unwrap()).await;
    let pid = daemon.pid();

    node.cluster.node_pem(&node.name, Duration::from_secs(3600), &pem);
    // The old certificate is refused once it expired.
    tokio::time::sleep((lifetime + Duration::from_secs(3)).saturating_sub(issued.elapsed())).await;
    node.set_interfaces(&[nic(1, A, "198.51.100.40", "198.51.100.0/24", "")]).await;
    let generation = node.api.get(&node.name).await.unwrap().metadata.generation.unwrap();
    node.until_configured(generation).await;
    assert_eq!(node.lab.ipv4("multinic0"), vec!["198.51.100.40/24"]);
    assert_eq!(daemon.pid(), pid, "not restarted");
    assert!(daemon.log().contains("reconnecting"), "{}", daemon.log());
    drop(daemon);
}

/// A config copied from another node: the credential's identity (SelfSubjectReview)
/// is not `system:node:<nodeName>`. The daemon refuses to start (exit 2, which the
/// unit does not restart), saying who it is and who it was told to be.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_with_another_nodes_identity_refuses_to_start() {
    let Some(node) = Node::new("copied", &[("ens4", A)]).await else { return };
    let other = node.cluster.node_kubeconfig("node-elsewhere");
    daemon_config(&node.lab, &node.name, &node.ns, &other.display().to_string());
    node.create(&[nic(1, A, "198.51.100.4", "198.51.100.0/24", "")]).await;
    let mut daemon = node.daemon();
    assert_eq!(daemon.wait_exit(WAIT), Some(2), "{}", daemon.log());
    let log = daemon.log();
    assert!(log.contains("system:node:node-elsewhere") && log.contains("system:node:node-copied"), "{log}");
    assert_eq!(node.lab.ipv4("ens4"), Vec::<String>::new(), "nothing touched");
    assert!(node.api.get(&node.name).await.unwrap().status.is_none(), "no status written");
}

/// The kernel drops netlink events when the daemon's socket buffer is full (a burst
/// of link changes; the buffer made tiny here): the daemon cannot know what it
/// missed, so it looks at every link again at once, instead of at the next resync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_netlink_events_start_a_full_pass() {
    let Some(node) = Node::new("overrun", &[("ens4", A)]).await else { return };
    let daemon = node.lab.spawn_multinicd_env(
        "multinicd-overrun",
        &["--config", &node.config, "run"],
        &[("MULTINIC_TEST_NETLINK_RCVBUF", "1")],
    );
    let generation = node.create(&[nic(1, A, "198.51.100.4", "198.51.100.0/24", "")]).await.metadata.generation;
    node.until_configured(generation.unwrap()).await;
    let bulk =
        |log: &str| log.lines().filter(|l| l.contains("bulk reconcile requested") && l.contains("pass done")).count();
    let before = bulk(&daemon.log());

    // Addresses on a link nobody watches: only the lost events can start a pass. The
    // daemon is stopped meanwhile, so that the burst surely overflows its socket's
    // buffer (a daemon that reads as fast as `ip` writes loses nothing).
    let batch: String =
        (0..600).map(|i| format!("address add 10.99.{}.{}/32 dev lo\n", i / 200, i % 200 + 1)).collect();
    let file = node.lab.write("burst.batch", &batch);
    daemon.pause();
    let burst = node.lab.run("ip", &["-batch", &file]);
    daemon.resume();
    assert!(burst.status.success());
    eventually(WAIT, "events lost, and a pass for it", || async {
        let log = daemon.log();
        (log.contains("netlink events were lost") && bulk(&log) > before).then_some(())
    })
    .await;
    assert_eq!(node.lab.ipv4("multinic0"), vec!["198.51.100.4/24"]);
    drop(daemon);
}
