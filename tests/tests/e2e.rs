// SPDX-License-Identifier: Apache-2.0
//! multinicd run against a real kube-apiserver (`MULTINIC_E2E_KUBECONFIG`, started
//! from ../shared/testenv by tests/run.sh) and a real NetworkManager lab, as the node
//! identity `system:node:NODE`, with the chart applied. Each test has its own
//! namespace, node name and lab.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use kube::api::{ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use multinic_api::{FINALIZER, InterfaceState, MultiNicNodeConfig, NodeState, Reason};
use multinic_lab::cluster::{Cluster, OwnKit, client, eventually};
use multinic_lab::node::{ApiPath, Node, WAIT, daemon_config};
use multinic_lab::{API_BEHIND_GATEWAY, Lab, Manager, nic};
use multinicd::source::cluster::FIELD_MANAGER;
use serde_json::json;

#[path = "e2e/doctor.rs"]
mod doctor;
#[path = "e2e/metadata.rs"]
mod metadata;
#[path = "e2e/metrics.rs"]
mod metrics;
#[path = "e2e/readiness.rs"]
mod readiness;

const A: &str = "02:00:00:00:01:04";
const B: &str = "02:00:00:00:01:05";

fn one(mac: &str, address: &str, extra: &str) -> String {
    nic(1, mac, address, "198.51.100.0/24", extra)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_edit_drift_delete_against_the_api_server() {
    let Some(node) = Node::new("life", &[("ens4", A), ("ens5", B)]).await else { return };
    let daemon = node.daemon();
    assert!(daemon.wait_notification("READY=1", WAIT).is_some(), "READY=1 without a CR: {}", daemon.log());
    assert!(daemon.notifications().iter().any(|n| n.starts_with("STATUS=waiting: no MultiNicNodeConfig")));
    assert!(
        daemon.wait_notification("WATCHDOG=1", Duration::from_secs(5)).is_some(),
        "watchdog pinged at half of WATCHDOG_USEC"
    );

    // Create: configured, with per-interface status, the generation, and the finalizer.
    let created =
        node.create(&[one(A, "198.51.100.4", ", mtu: 9000"), nic(2, B, "198.51.100.5", "198.51.100.0/24", "")]).await;
    let gen1 = created.metadata.generation.unwrap();
    let cr = node.until_configured(gen1).await;
    let s = cr.status.as_ref().unwrap();
    assert_eq!(s.interface_statuses["multinic0"].mac_address, A);
    assert_eq!(s.interface_statuses["multinic1"].address.as_deref(), Some("198.51.100.5/24"));
    assert_eq!(s.backend.as_deref(), Some("networkmanager"));
    assert!(cr.finalizers().contains(&FINALIZER.to_string()));
    assert_eq!(node.lab.ipv4("multinic0"), vec!["198.51.100.4/24"]);
    let ready = s.conditions.iter().find(|c| c.type_ == multinic_api::status::READY).unwrap();
    assert_eq!(ready.status, "True");
    node.until_event(Reason::Configured).await;

    // Edit MTU and address: applied, and the status follows the new generation.
    node.set_interfaces(&[one(A, "198.51.100.40", ", mtu: 1400"), nic(2, B, "198.51.100.5", "198.51.100.0/24", "")])
        .await;
    let gen2 = node.api.get(&node.name).await.unwrap().metadata.generation.unwrap();
    assert!(gen2 > gen1);
    node.until_configured(gen2).await;
    assert_eq!(node.lab.ipv4("multinic0"), vec!["198.51.100.40/24"]);
    assert_eq!(node.lab.link("multinic0").unwrap()["mtu"], 1400);

    // Drift: an address flushed behind multinic's back is repaired on the netlink event.
    assert!(node.lab.run("ip", &["addr", "flush", "dev", "multinic1"]).status.success());
    node.until_event(Reason::DriftRepaired).await;
    eventually(WAIT, "address back", || async { (node.lab.ipv4("multinic1") == ["198.51.100.5/24"]).then_some(()) })
        .await;

    // Delete: owned configuration removed, names restored, finalizer released, CR gone.
    node.api.delete(&node.name, &Default::default()).await.unwrap();
    eventually(WAIT, "CR gone", || async { node.api.get_opt(&node.name).await.unwrap().is_none().then_some(()) }).await;
    assert!(node.lab.owned_profiles().is_empty());
    assert!(node.lab.link("ens4").is_some() && node.lab.link("ens5").is_some());
    assert!(node.lab.ipv4("ens4").is_empty());
    node.until_event(Reason::CleanedUp).await;
    assert!(daemon.log().contains("pass done"));
    let notes = daemon.notifications();
    assert!(notes.iter().any(|n| n.starts_with("STATUS=Configured")), "{notes:?}");
    assert_eq!(daemon.stop(), Some(0), "clean exit on SIGTERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_plugged_nic_is_configured_without_restart() {
    let Some(node) = Node::new("hotplug", &[]).await else { return };
    let _daemon = node.daemon();
    let generation = node.create(&[one(A, "198.51.100.4", "")]).await.metadata.generation.unwrap();
    node.until("NotFound", |cr| {
        cr.status.as_ref().is_some_and(|s| {
            s.interface_statuses.get("multinic0").is_some_and(|i| i.reason == Some(Reason::MacNotFound))
        })
    })
    .await;
    node.lab.add_nic("ens4", A, 1500);
    node.until_configured(generation).await;
    assert_eq!(node.lab.ipv4("multinic0"), vec!["198.51.100.4/24"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_instance_id_applies_nothing() {
    let Some(node) = Node::new("instance", &[("ens4", A)]).await else { return };
    let _daemon = node.daemon();
    let cr = node.cr(&[one(A, "198.51.100.4", "")], Some("00000000-0000-0000-0000-000000000001"));
    node.api.create(&PostParams::default(), &cr).await.unwrap();
    let cr = node
        .until("InstanceIdMismatch", |cr| {
            cr.status.as_ref().and_then(|s| s.reason.clone()) == Some(Reason::InstanceIdMismatch)
        })
        .await;
    let s = cr.status.unwrap();
    assert_eq!(s.state, Some(NodeState::Failed));
    assert!(s.message.unwrap().contains("4C4C4544-0042-3510-8052-B4C04F384E32"));
    assert!(node.lab.owned_profiles().is_empty());
    assert!(node.lab.link("ens4").is_some() && node.lab.ipv4("ens4").is_empty());
    // The right UUID, in another case, is accepted.
    let patch = json!({ "spec": { "instanceId": "4c4c4544-0042-3510-8052-b4c04f384e32" } });
    node.api.patch(&node.name, &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    let generation = node.api.get(&node.name).await.unwrap().metadata.generation.unwrap();
    node.until_configured(generation).await;
}

/// Admission refuses what the daemon would refuse where CEL can tell (a route to a
/// /33, a /1 route, a DNS server that is no IPv4 address, a metric beyond u32, a
/// gateway outside the subnet), so
/// a bad edit never reaches the node; the interface stays as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_refuses_what_the_daemon_would() {
    let Some(node) = Node::new("admission", &[("ens4", A)]).await else { return };
    let _daemon = node.daemon();
    let created = node.create(&[one(A, "198.51.100.4", "")]).await;
    node.until_configured(created.metadata.generation.unwrap()).await;
    for (bad, field) in [
        (json!([{ "to": "10.50.0.0/33" }]), "routes[].to must be an IPv4 prefix"),
        (json!([{ "to": "0.0.0.0/1", "via": "198.51.100.1" }]), "covers half the address space"),
        (json!([{ "to": "10.50.0.0/16", "via": "198.51.100.300" }]), "routes[].via must be an IPv4 address"),
        (json!([{ "to": "10.50.0.0/16", "metric": 5_000_000_000u64 }]), "metric"),
    ] {
        let mut iface = json!({ "id": 1, "macAddress": A, "address": "198.51.100.44", "cidr": "198.51.100.0/24" });
        iface["routes"] = bad;
        let patch = json!({ "spec": { "interfaces": [iface] } });
        let refused = node.api.patch(&node.name, &PatchParams::default(), &Patch::Merge(&patch)).await;
        match refused {
            Err(kube::Error::Api(e)) => {
                assert_eq!(e.code, 422, "{e:?}");
                assert!(e.message.contains(field), "{field}: {}", e.message);
            }
            other => panic!("admission let {patch} through: {other:?}"),
        }
    }
    let patch = json!({ "spec": { "interfaces": [{ "id": 1, "macAddress": A, "address": "198.51.100.4",
        "cidr": "198.51.100.0/24", "dns": ["198.51.100.300"] }] } });
    // The dotted-quad pattern lets 198.51.100.300 through; the CEL rule does not.
    let refused = node.api.patch(&node.name, &PatchParams::default(), &Patch::Merge(&patch)).await;
    assert!(
        matches!(&refused, Err(kube::Error::Api(e)) if e.code == 422 && e.message.contains("dns entries must be IPv4")),
        "{refused:?}"
    );
    let patch = json!({ "spec": { "interfaces": [{ "id": 1, "macAddress": A, "address": "198.51.100.4",
        "cidr": "198.51.100.0/24", "gateway": "198.51.101.1", "sourceRouting": true }] } });
    let refused = node.api.patch(&node.name, &PatchParams::default(), &Patch::Merge(&patch)).await;
    assert!(
        matches!(&refused, Err(kube::Error::Api(e)) if e.code == 422 && e.message.contains("gateway must be an IPv4 address inside cidr")),
        "{refused:?}"
    );
    for (ipv6, field) in [
        (json!({ "addresses": ["198.51.100.7/24"] }), "ipv6.addresses must be global IPv6 addresses"),
        (json!({ "addresses": ["fe80::7/64"] }), "ipv6.addresses must be global IPv6 addresses"),
        (json!({ "routes": [{ "to": "::/1" }], "acceptRA": true }), "covers half the address space"),
        (
            json!({ "routes": [{ "to": "2001:db8:2::/48", "via": "198.51.100.1" }], "acceptRA": true }),
            "via must be an IPv6 address",
        ),
        (json!({}), "ipv6 needs addresses or acceptRA"),
    ] {
        let patch = json!({ "spec": { "interfaces": [{ "id": 1, "macAddress": A, "address": "198.51.100.4",
            "cidr": "198.51.100.0/24", "ipv6": ipv6 }] } });
        let refused = node.api.patch(&node.name, &PatchParams::default(), &Patch::Merge(&patch)).await;
        assert!(
            matches!(&refused, Err(kube::Error::Api(e)) if e.code == 422 && e.message.contains(field)),
            "{field}: {refused:?}"
        );
    }
    let vlan = |id: u32, address: &str| json!({ "id": id, "address": address, "cidr": "10.100.0.0/24" });
    for (vlans, field) in [
        (json!([vlan(4095, "10.100.0.5")]), "should be less than or equal to 4094"),
        (json!([vlan(0, "10.100.0.5")]), "should be greater than or equal to 1"),
        (json!([vlan(100, "10.100.0.5"), vlan(100, "10.100.0.6")]), "vlans[].id values must be unique on one NIC"),
        (json!([vlan(100, "10.101.0.5")]), "vlans[].address must lie inside vlans[].cidr"),
        (
            json!([{ "id": 100, "address": "10.100.0.5", "cidr": "10.100.0.0/24", "gateway": "10.101.0.1" }]),
            "vlans[].gateway must be an IPv4 address inside vlans[].cidr",
        ),
        (
            json!([{ "id": 100, "address": "10.100.0.5", "cidr": "10.100.0.0/24", "routes": [{ "to": "0.0.0.0/0", "via": "10.100.0.1" }] }]),
            "vlans[].routes must hold no default route",
        ),
    ] {
        let patch = json!({ "spec": { "interfaces": [{ "id": 1, "macAddress": A, "address": "198.51.100.4",
            "cidr": "198.51.100.0/24", "vlans": vlans }] } });
        let refused = node.api.patch(&node.name, &PatchParams::default(), &Patch::Merge(&patch)).await;
        assert!(
            matches!(&refused, Err(kube::Error::Api(e)) if e.code == 422 && e.message.contains(field)),
            "{field}: {refused:?}"
        );
    }
    let patch = json!({ "spec": { "interfaces": [{ "id": 1, "macAddress": A, "address": "198.51.100.4",
        "cidr": "198.51.100.0/24", "mtu": 1400, "vlans": [vlan(100, "10.100.0.5")] }] } });
    let mut patch = patch;
    patch["spec"]["interfaces"][0]["vlans"][0]["mtu"] = json!(1500);
    let refused = node.api.patch(&node.name, &PatchParams::default(), &Patch::Merge(&patch)).await;
    assert!(
        matches!(&refused, Err(kube::Error::Api(e)) if e.code == 422 && e.message.contains("vlans[].mtu must be at most the interface's mtu")),
        "{refused:?}"
    );
    // Host bits in an IPv6 address's prefix are what an address is: accepted.
    let good = json!({ "spec": { "interfaces": [{ "id": 1, "macAddress": A, "address": "198.51.100.4",
        "cidr": "198.51.100.0/24", "ipv6": { "addresses": ["2001:db8:1::10/64"] } }] } });
    let accepted = node.api.patch(&node.name, &PatchParams::default(), &Patch::Merge(&good)).await;
    assert!(accepted.is_ok(), "{accepted:?}");
    assert_eq!(node.lab.ipv4("multinic0"), vec!["198.51.100.4/24"]);
}

/// With a CRD that lacks the rules (an older chart), a CR can carry what the daemon
/// refuses (a route to a /33) and even what it cannot decode (a metric beyond u32).
/// Either way the daemon keeps following its CR: it reports the field, keeps the
/// interface's address, profile and name, and applies the next good edit. Uses an
/// API server of its own, since it changes the CRD.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_values_past_a_ruleless_crd_keep_the_working_configuration() {
    if Cluster::from_env().await.is_none() {
        return;
    }
    let (_kit, kubeconfig) = OwnKit::start("ruleless");
    let cluster = Cluster::at(&kubeconfig).await;
    let ns = "e2e-ruleless";
    cluster.install_chart(ns).await;
    strip_crd_rules(&cluster).await;
    let Some(mut lab) = Lab::start() else { return };
    lab.add_nic("ens4", A, 1500);
    lab.forward_tcp(cluster.port());
    let name = "node-ruleless";
    let config = daemon_config(&lab, name, ns, &cluster.node_kubeconfig(name).display().to_string());
    let raw = Api::<DynamicObject>::namespaced_with(
        cluster.admin.clone(),
        ns,
        &ApiResource::erase::<MultiNicNodeConfig>(&()),
    );
    let daemon = lab.spawn_multinicd("multinicd", &["--config", &config, "run"]);
    let iface = |routes: serde_json::Value| json!({ "id": 1, "macAddress": A, "address": "198.51.100.4", "cidr": "198.51.100.0/24", "routes": routes });
    let cr: MultiNicNodeConfig = serde_json::from_value(json!({
        "apiVersion": "multinic.io/v1alpha1", "kind": "MultiNicNodeConfig",
        "metadata": { "name": name, "namespace": ns },
        "spec": { "nodeName": name, "interfaces": [iface(json!([{ "to": "10.50.0.0/16" }]))] },
    }))
    .unwrap();
    Api::<MultiNicNodeConfig>::namespaced(cluster.admin.clone(), ns).create(&PostParams::default(), &cr).await.unwrap();
    let status_of = |obj: &DynamicObject| -> Option<multinic_api::MultiNicNodeConfigStatus> {
        serde_json::from_value(obj.data.get("status")?.clone()).ok()
    };
    let until = |generation: i64, what: &'static str, pred: fn(&multinic_api::MultiNicNodeConfigStatus) -> bool| {
        let raw = raw.clone();
        async move {
            eventually(WAIT, what, || async {
                let obj = raw.get(name).await.ok()?;
                let s = status_of(&obj)?;
                (s.observed_generation == Some(generation) && pred(&s)).then_some(s)
            })
            .await
        }
    };
    until(1, "configured", |s| s.state == Some(NodeState::Configured)).await;
    let profiles = lab.owned_profiles();

    for (routes, path) in [
        (json!([{ "to": "10.50.0.0/33" }]), "spec.interfaces[0].routes[0].to"),
        (json!([{ "to": "10.50.0.0/16", "metric": 5_000_000_000u64 }]), "spec.interfaces[0].routes[0].metric"),
    ] {
        let patch = json!({ "spec": { "interfaces": [iface(routes)] } });
        let obj = raw.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.expect("no rules: admitted");
        let generation = obj.metadata.generation.unwrap();
        let s = until(generation, "InvalidSpec", |s| {
            s.interface_statuses.values().any(|i| i.reason == Some(Reason::InvalidSpec))
        })
        .await;
        let i = s.interface_statuses.values().find(|i| i.reason == Some(Reason::InvalidSpec)).unwrap();
        assert!(i.message.contains(path), "{path}: {}", i.message);
        assert!(i.message.contains("the last applied configuration of multinic0 is kept"), "{}", i.message);
        assert_eq!(lab.ipv4("multinic0"), vec!["198.51.100.4/24"]);
        assert_eq!(lab.owned_profiles(), profiles, "profile unchanged");
    }
    let patch = json!({ "spec": { "interfaces": [iface(json!([{ "to": "10.60.0.0/16" }]))] } });
    let generation = raw.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap().metadata.generation;
    until(generation.unwrap(), "the good edit applied", |s| s.state == Some(NodeState::Configured)).await;
    assert_eq!(lab.ip(&["route", "show", "10.60.0.0/16"])[0]["dev"], "multinic0");
    drop(daemon);
}

/// Replace the CRD's schema with one without CEL rules and maximums, as an older
/// chart would have it.
async fn strip_crd_rules(cluster: &Cluster) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    fn strip(v: &mut serde_json::Value) {
        if let Some(o) = v.as_object_mut() {
            o.remove("x-kubernetes-validations");
            o.remove("maximum");
            o.values_mut().for_each(strip);
        } else if let Some(a) = v.as_array_mut() {
            a.iter_mut().for_each(strip);
        }
    }
    let crds: Api<CustomResourceDefinition> = Api::all(cluster.admin.clone());
    let crd = crds.get("multinicnodeconfigs.multinic.io").await.unwrap();
    let mut value = serde_json::to_value(&crd).unwrap();
    strip(&mut value["spec"]);
    let crd: CustomResourceDefinition = serde_json::from_value(value).unwrap();
    crds.replace("multinicnodeconfigs.multinic.io", &Default::default(), &crd).await.unwrap();
    // The API server takes the new schema a moment later: until a dry run admits a /33.
    let probe: MultiNicNodeConfig = serde_json::from_value(json!({
        "apiVersion": "multinic.io/v1alpha1", "kind": "MultiNicNodeConfig",
        "metadata": { "name": "probe", "namespace": "default" },
        "spec": { "nodeName": "probe", "interfaces": [{ "macAddress": A, "address": "10.0.0.1", "cidr": "10.0.0.0/24",
            "routes": [{ "to": "10.50.0.0/33" }] }] },
    }))
    .unwrap();
    let api: Api<MultiNicNodeConfig> = Api::namespaced(cluster.admin.clone(), "default");
    let dry = PostParams { dry_run: true, ..Default::default() };
    eventually(WAIT, "the CRD without rules in effect", || async { api.create(&dry, &probe).await.ok() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_daemon_changes_nothing_and_writes_no_status() {
    let Some(node) = Node::new("restart", &[("ens4", A)]).await else { return };
    let daemon = node.daemon();
    let generation = node.create(&[one(A, "198.51.100.4", "")]).await.metadata.generation.unwrap();
    let before = node.until_configured(generation).await;
    assert_eq!(daemon.stop(), Some(0));
    let profiles = node.lab.owned_profiles();
    let active = node.lab.active_connections();
    let monitor = node.lab.monitor_nm_calls();
    let daemon = node.daemon();
    eventually(WAIT, "a pass after restart", || async { daemon.log().contains("pass done").then_some(()) }).await;
    let calls = monitor.stop();
    let writes: Vec<&String> = calls.iter().filter(|m| multinic_lab::NM_WRITE_METHODS.contains(&m.as_str())).collect();
    assert!(writes.is_empty(), "restart made NM writes: {writes:?}");
    assert_eq!(node.lab.owned_profiles(), profiles);
    assert_eq!(node.lab.active_connections(), active);
    let after = node.api.get(&node.name).await.unwrap();
    assert_eq!(after.resource_version(), before.resource_version(), "no API write after restart");
    assert!(daemon.log().contains("wrote_status=false"));

    // Deleted while the daemon is down: the finalizer holds the CR until it is back
    // and has cleaned up.
    assert_eq!(daemon.stop(), Some(0));
    node.api.delete(&node.name, &Default::default()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(node.api.get_opt(&node.name).await.unwrap().is_some(), "the finalizer holds the CR");
    assert_eq!(node.lab.owned_profiles().len(), 1, "nothing cleaned while the daemon is down");
    let _daemon = node.daemon();
    eventually(WAIT, "CR gone after restart", || async {
        node.api.get_opt(&node.name).await.unwrap().is_none().then_some(())
    })
    .await;
    assert!(node.lab.owned_profiles().is_empty());
    assert!(node.lab.link("ens4").is_some(), "kernel name restored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_identities_are_confined_to_their_own_cr() {
    let Some(node) = Node::new("identity", &[("ens4", A)]).await else { return };
    let other = format!("{}-b", node.name);
    // Node B's CR, written by an admin.
    let mut b = node.cr(&[one(B, "198.51.100.5", "")], None);
    b.metadata.name = Some(other.clone());
    b.spec.node_name = other.clone();
    node.api.create(&PostParams::default(), &b).await.unwrap();
    let own = node.create(&[one(A, "198.51.100.4", "")]).await;
    let as_node: Api<MultiNicNodeConfig> =
        Api::namespaced(client(&node.cluster.node_kubeconfig(&node.name)).await, &node.ns);

    let status = json!({ "apiVersion": "multinic.io/v1alpha1", "kind": "MultiNicNodeConfig", "status": { "state": "Configured" } });
    let denied = |r: Result<MultiNicNodeConfig, kube::Error>| match r {
        Err(kube::Error::Api(e)) => e.code == 403 || e.code == 422,
        _ => false,
    };
    // The policy and RBAC take a moment to be enforced; the denial must come.
    eventually(WAIT, "patch of B's status denied", || async {
        denied(as_node.patch_status(&other, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&status)).await)
            .then_some(())
    })
    .await;
    let spec = json!({ "spec": { "interfaces": [] } });
    assert!(
        denied(as_node.patch(&node.name, &PatchParams::default(), &Patch::Merge(&spec)).await),
        "node changed its own spec"
    );
    let mut c = node.cr(&[], None);
    c.metadata.name = Some(format!("{}-c", node.name));
    c.spec.node_name = format!("{}-c", node.name);
    assert!(denied(as_node.create(&PostParams::default(), &c).await), "node created a CR");
    let del = as_node.delete(&node.name, &Default::default()).await;
    assert!(
        matches!(del, Err(kube::Error::Api(ref e)) if e.code == 403 || e.code == 422),
        "node deleted its CR: {del:?}"
    );
    // Its own status it may write.
    as_node
        .patch_status(&node.name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&status))
        .await
        .expect("own status");

    // A member of system:nodes whose name is not a node identity: RBAC lets the
    // group update CRs and their status, the policy denies every such write;
    // create and delete RBAC refuses already.
    let impostor = node.cluster.user_kubeconfig(&format!("impostor-{}", node.ns), &["system:nodes"]);
    let as_impostor: Api<MultiNicNodeConfig> = Api::namespaced(client(&impostor).await, &node.ns);
    let by_policy = |r: &Result<MultiNicNodeConfig, kube::Error>| matches!(r, Err(kube::Error::Api(e)) if e.message.contains("ValidatingAdmissionPolicy 'multinic-node-scope'"));
    for target in [&node.name, &other] {
        let r =
            as_impostor.patch_status(target, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&status)).await;
        assert!(by_policy(&r), "impostor wrote the status of {target}: {r:?}");
        let r = as_impostor.patch(target, &PatchParams::default(), &Patch::Merge(&spec)).await;
        assert!(by_policy(&r), "impostor changed the spec of {target}: {r:?}");
    }
    let mut e = node.cr(&[], None);
    e.metadata.name = Some(format!("{}-e", node.name));
    e.spec.node_name = format!("{}-e", node.name);
    assert!(denied(as_impostor.create(&PostParams::default(), &e).await), "impostor created a CR");

    // A multinic-edit user can create CRs.
    let edit = node.cluster.user_kubeconfig(&format!("editor-{}", node.ns), &[]);
    node.cluster.bind_role(&node.ns, &format!("editor-{}", node.ns), "multinic-edit").await;
    let as_editor: Api<MultiNicNodeConfig> = Api::namespaced(client(&edit).await, &node.ns);
    let mut d = node.cr(&[], None);
    d.metadata.name = Some(format!("{}-d", node.name));
    d.spec.node_name = format!("{}-d", node.name);
    eventually(WAIT, "editor may create", || async { as_editor.create(&PostParams::default(), &d).await.ok() }).await;

    // The daemon's watch sees only its own CR even among 200 others.
    for i in 0..200 {
        let mut x = node.cr(&[], None);
        x.metadata.name = Some(format!("other-{i}"));
        x.spec.node_name = format!("other-{i}");
        node.api.create(&PostParams::default(), &x).await.unwrap();
    }
    let daemon = node.daemon();
    // The status written by hand above has no observedGeneration: only the daemon's
    // own pass satisfies this, so its watch has run by the time `touched` is read.
    node.until_configured(own.metadata.generation.unwrap()).await;
    let all = node.api.list(&ListParams::default()).await.unwrap();
    let touched: Vec<String> = all
        .items
        .iter()
        .filter(|cr| cr.name_any() != node.name && (!cr.finalizers().is_empty() || cr.status.is_some()))
        .map(|cr| cr.name_any())
        .collect();
    assert!(touched.is_empty(), "the daemon touched other CRs: {touched:?}");
    let listed = as_node.list(&ListParams::default().fields(&format!("metadata.name={}", node.name))).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    drop(daemon);
}

/// The API server goes away for a while: the daemon keeps running, keeps the last
/// configuration (drift is still repaired), and catches up once it is back. Uses a
/// kit of its own, since it stops the API server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_server_outage_is_survived() {
    if Cluster::from_env().await.is_none() {
        return;
    }
    let (kit, kubeconfig) = OwnKit::start("outage");
    let kubeconfig = kubeconfig.display().to_string();
    let cluster = Cluster::at(Path::new(&kubeconfig)).await;
    let Some(mut lab) = Lab::start() else { return };
    let ns = "e2e-outage";
    // A cluster without the chart: kubectl multinic says how to install it.
    let plugin = multinic_lab::multinicd_bin().with_file_name("kubectl-multinic");
    let out = std::process::Command::new(&plugin).args(["--kubeconfig", &kubeconfig, "status"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("CRD is not installed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    cluster.install_chart(ns).await;
    lab.add_nic("ens4", A, 1500);
    lab.forward_tcp(cluster.port());
    let name = "node-outage";
    let config = daemon_config(&lab, name, ns, &cluster.node_kubeconfig(name).display().to_string());
    let api: Api<MultiNicNodeConfig> = Api::namespaced(cluster.admin.clone(), ns);
    let daemon = lab.spawn_multinicd("multinicd", &["--config", &config, "run"]);
    let cr: MultiNicNodeConfig = serde_json::from_value(json!({
        "apiVersion": "multinic.io/v1alpha1", "kind": "MultiNicNodeConfig",
        "metadata": { "name": name, "namespace": ns },
        "spec": { "nodeName": name, "interfaces": [ { "id": 1, "macAddress": A, "address": "198.51.100.4", "cidr": "198.51.100.0/24" } ] },
    }))
    .unwrap();
    api.create(&PostParams::default(), &cr).await.unwrap();
    eventually(WAIT, "configured", || async {
        let cr = api.get(name).await.ok()?;
        (cr.status?.state == Some(NodeState::Configured)).then_some(())
    })
    .await;

    kit.stop();
    let down = std::time::Instant::now();
    // While the API server is down (60 s: longer than the client's read timeout and
    // several failed passes): still running, and drift is still repaired, early and
    // late in the outage.
    for when in [Duration::ZERO, Duration::from_secs(50)] {
        tokio::time::sleep(when.saturating_sub(down.elapsed())).await;
        assert!(lab.run("ip", &["addr", "flush", "dev", "multinic0"]).status.success());
        eventually(WAIT, "repair without the API server", || async {
            (lab.ipv4("multinic0") == ["198.51.100.4/24"]).then_some(())
        })
        .await;
    }
    tokio::time::sleep(Duration::from_secs(60).saturating_sub(down.elapsed())).await;
    assert!(daemon.pid().is_some(), "daemon died without the API server:\n{}", daemon.log());

    // The kit keeps its port when it is still free; if not, the "network" (the
    // relay into the lab) follows the API server to its new port.
    let back = Cluster::at(&kit.restart()).await;
    if back.port() != cluster.port() {
        lab.retarget_tcp(cluster.port(), back.port());
    }
    let api: Api<MultiNicNodeConfig> = Api::namespaced(back.admin, ns);
    let patch = json!({ "spec": { "interfaces": [ { "id": 1, "macAddress": A, "address": "198.51.100.44", "cidr": "198.51.100.0/24" } ] } });
    eventually(WAIT, "API server back", || async {
        api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.ok()
    })
    .await;
    // The restarted API server first refuses the watch (403 until its RBAC is
    // loaded), then expires its resource version: each failure adds up to 30 s of
    // the watch's backoff before the relist that brings the edit.
    eventually(Duration::from_secs(180), "caught up after the outage", || async {
        (lab.ipv4("multinic0") == ["198.51.100.44/24"]).then_some(())
    })
    .await;
    drop(daemon);
}

/// The node reaches its API server over its own primary network (a relay behind the
/// lab's gateway), and its manager is set up as distributions ship it: the NIC the
/// spec names got the manager's own DHCP configuration (NM's generated profile, a
/// networkd catch-all) with a second default route. A route into the API server's
/// address is refused before anything is written. A default route that would take
/// its path passes the planner (it is asked for explicitly), is applied as a
/// takeover, fails the check that the API server is still reached the same way, is
/// rolled back — the NIC back under its kernel name with its DHCP configuration —
/// reported, and not tried again for the same spec; the fixed spec is applied. The
/// primary's routes, rules and the path to the API server are the same at every step.
async fn api_server_path_is_never_cut(manager: Manager) {
    let test = format!("apipath-{}", manager.backend());
    let nics = [("ens4", A), ("ens5", B)];
    let Some(node) = Node::shaped(&test, manager, true, ApiPath::BehindGateway, &nics).await else {
        return;
    };
    node.lab.dhcp("ens4", "10.60.0");
    assert_eq!(node.lab.wait_default_route("ens4")["gateway"], "10.60.0.1");
    let dhcp_address = || {
        let v4 = node.lab.ipv4("ens4");
        (v4.len() == 1 && v4[0].starts_with("10.60.0.1") && v4[0].ends_with("/24")).then_some(())
    };
    assert!(dhcp_address().is_some(), "ens4 has its DHCP address: {:?}", node.lab.ipv4("ens4"));
    let routing =
        || node.lab.routing_state(&[API_BEHIND_GATEWAY, "192.0.2.1"], &["ens4", "ens5", "multinic0", "multinic1"]);
    let before = routing();
    assert!(before["gets"][0][0]["dev"] == "eth0", "the API server is reached over eth0: {before:#}");
    let daemon = node.daemon();
    let second = nic(2, B, "10.61.0.10", "10.61.0.0/24", "");
    let capture = format!(", routes: [{{to: {API_BEHIND_GATEWAY}/32, via: 10.60.0.1}}]");
    let created = node.create(&[nic(1, A, "10.60.0.10", "10.60.0.0/24", &capture), second.clone()]).await;
    let gen1 = created.metadata.generation.unwrap();
    let state_of = |cr: &MultiNicNodeConfig, mac: &str| {
        cr.status.as_ref().and_then(|s| s.interface_statuses.values().find(|i| i.mac_address == mac).cloned())
    };
    let cr = node
        .until("the route into the API server refused", |cr| {
            cr.status.as_ref().is_some_and(|s| s.observed_generation == Some(gen1))
                && state_of(cr, A).is_some_and(|i| i.reason == Some(Reason::RoutingConflict))
                && state_of(cr, B).is_some_and(|i| i.state == InterfaceState::Configured)
        })
        .await;
    let refused = state_of(&cr, A).unwrap();
    assert!(refused.message.contains("contains the API server's address 203.0.113.10"), "{}", refused.message);
    assert!(dhcp_address().is_some(), "nothing written for the refused interface");
    assert_eq!(routing(), before);

    // A default route better than the primary's: the API server's path would move.
    let takeover = ", routes: [{to: 0.0.0.0/0, via: 10.60.0.1, metric: 10}]";
    node.set_interfaces(&[nic(1, A, "10.60.0.10", "10.60.0.0/24", takeover), second.clone()]).await;
    let gen2 = node.api.get(&node.name).await.unwrap().metadata.generation.unwrap();
    let cr = node
        .until("the default route rolled back", |cr| {
            cr.status.as_ref().is_some_and(|s| s.observed_generation == Some(gen2))
                && state_of(cr, A).is_some_and(|i| i.reason == Some(Reason::APIServerUnreachable))
        })
        .await;
    let rolled = state_of(&cr, A).unwrap();
    assert_eq!(rolled.state, InterfaceState::Failed);
    assert!(rolled.message.contains("the route to the API server 203.0.113.10 changed"), "{}", rolled.message);
    assert!(rolled.message.contains("rolled back"), "{}", rolled.message);
    assert_eq!(routing(), before, "rolled back: the primary and the API server's path are as before");
    assert!(node.lab.link("ens4").is_some(), "renamed back");
    eventually(WAIT, "the DHCP configuration back on ens4", || async { dhcp_address() }).await;
    let event = node.until_event(Reason::RolledBack).await;
    assert!(event.note.unwrap_or_default().contains("APIServerUnreachable"));

    // Nothing new in the spec: another pass leaves it alone.
    let rollbacks = || daemon.log().matches("apply failed, rolled back").count();
    assert_eq!(rollbacks(), 1, "{}", daemon.log());
    let passes = daemon.log().matches("pass done").count();
    let poke = json!({ "metadata": { "annotations": { "e2e/poke": "1" } } });
    node.api.patch(&node.name, &PatchParams::default(), &Patch::Merge(&poke)).await.unwrap();
    eventually(WAIT, "another pass", || async { (daemon.log().matches("pass done").count() > passes).then_some(()) })
        .await;
    assert_eq!(rollbacks(), 1, "held: not applied again for the same spec\n{}", daemon.log());
    let held = state_of(&node.api.get(&node.name).await.unwrap(), A).unwrap();
    assert!(held.message.contains("not applied again until its spec changes"), "{}", held.message);

    // The fix: a route that leaves the API server's path alone.
    let fixed = ", routes: [{to: 10.70.0.0/16, via: 10.60.0.1}]";
    node.set_interfaces(&[nic(1, A, "10.60.0.10", "10.60.0.0/24", fixed), second]).await;
    let gen3 = node.api.get(&node.name).await.unwrap().metadata.generation.unwrap();
    node.until_configured(gen3).await;
    let status = node.api.get(&node.name).await.unwrap().status.unwrap();
    let name = status.interface_statuses.iter().find(|(_, i)| i.mac_address == A).map(|(n, _)| n.clone()).unwrap();
    assert_eq!(node.lab.ipv4(&name), vec!["10.60.0.10/24"], "taken over: the DHCP address is gone");
    assert!(node.lab.ip(&["route", "show", "default", "dev", &name]).as_array().unwrap().is_empty());
    let route = node.lab.ip(&["route", "show", "10.70.0.0/16"]);
    assert_eq!(route[0]["gateway"], "10.60.0.1", "{route:#}");
    assert_eq!(routing(), before);
    drop(daemon);
}

mod api_path {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn networkmanager() {
        api_server_path_is_never_cut(Manager::NetworkManager).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn networkd() {
        api_server_path_is_never_cut(Manager::Networkd).await
    }
}
