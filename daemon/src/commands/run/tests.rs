// SPDX-License-Identifier: Apache-2.0
//! The service's reconcile against a mocked API server (tower-test, as kube-rs's
//! controller-rs) and a host in memory: what it writes to the status, which Events
//! it publishes, when it comes back, and what it leaves on the host. The real API
//! server and the real managers are in tests/tests (e2e, faults, integration).

use std::sync::{Arc, Mutex};

use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use multinic_api::{InterfaceState, MultiNicNodeConfigStatus, NodeState, Reason};

use super::*;
use crate::plan::tests::{host, mac, on};
use crate::testing::{FakeBackend, FakeKernel, Fault};

/// What the mocked API server was asked: method, path, body.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(Method, String, serde_json::Value)>>>);

impl Seen {
    fn all(&self) -> Vec<(Method, String, serde_json::Value)> {
        self.0.lock().unwrap().clone()
    }

    /// The status blocks written, in order.
    fn statuses(&self) -> Vec<MultiNicNodeConfigStatus> {
        self.all()
            .into_iter()
            .filter(|(m, p, _)| *m == Method::PATCH && p.ends_with("/status"))
            .map(|(_, _, body)| serde_json::from_value(body["status"].clone()).unwrap())
            .collect()
    }

    /// The Events published: (type, reason, note).
    fn events(&self) -> Vec<(String, Reason, String)> {
        self.all()
            .into_iter()
            .filter(|(m, p, _)| *m == Method::POST && p.contains("/events"))
            .map(|(_, _, e)| {
                let text = |k: &str| e[k].as_str().unwrap_or_default().to_string();
                (text("type"), serde_json::from_value(e["reason"].clone()).unwrap(), text("note"))
            })
            .collect()
    }
}

/// An API server that stores nothing: it answers what the daemon sends with the CR
/// (status patches, the finalizer), creates Events, and has no CRD to show.
fn api_server(cr: serde_json::Value) -> (kube::Client, Seen) {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let seen = Seen::default();
    let log = seen.clone();
    tokio::spawn(async move {
        while let Some((request, reply)) = handle.next_request().await {
            let (parts, body) = request.into_parts();
            let bytes = body.collect_bytes().await.unwrap_or_default();
            let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            let path = parts.uri.path().to_string();
            log.0.lock().unwrap().push((parts.method.clone(), path.clone(), body.clone()));
            let (status, answer) = match parts.method {
                Method::POST => (StatusCode::CREATED, body),
                Method::PATCH if path.contains("/multinicnodeconfigs/") => (StatusCode::OK, cr.clone()),
                _ => (
                    StatusCode::NOT_FOUND,
                    serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                       "reason": "NotFound", "code": 404, "message": "not found"}),
                ),
            };
            let response = Response::builder().status(status).body(Body::from(answer.to_string().into_bytes()));
            reply.send_response(response.unwrap());
        }
    });
    (kube::Client::new(service, "multinic-system"), seen)
}

fn cr(node: &str, interfaces: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "multinic.io/v1alpha1", "kind": "MultiNicNodeConfig",
        "metadata": {"name": "worker-1", "namespace": "multinic-system", "uid": "u-1", "generation": 1,
                     "finalizers": [FINALIZER]},
        "spec": {"nodeName": node, "interfaces": interfaces}
    })
}

fn nics() -> serde_json::Value {
    serde_json::json!([
        {"id": 1, "macAddress": "fa:16:3e:00:00:01", "address": "10.60.0.10", "cidr": "10.60.0.0/24", "mtu": 1450},
        {"id": 2, "macAddress": "fa:16:3e:00:00:02", "address": "10.61.0.10", "cidr": "10.61.0.0/24"}
    ])
}

struct Node {
    ctx: Arc<Ctx<FakeBackend, FakeKernel>>,
    kernel: FakeKernel,
    backend: FakeBackend,
    api: Seen,
    _dir: tempfile::TempDir,
}

/// A node with ens4 and ens5 beside its primary, the daemon's context on it.
fn node(cr: &serde_json::Value) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("multinicd.yaml");
    let text = "nodeName: worker-1\nnamespace: multinic-system\nrollbackTimeout: 2s\nopenstackMetadata: off\n";
    std::fs::write(&config, text).unwrap();
    let settings = Settings::load(Some(&config)).unwrap();
    let kernel = FakeKernel::of(on(&host()));
    let backend = FakeBackend::on(&kernel);
    let (client, api) = api_server(cr.clone());
    let ctx = Arc::new(Ctx {
        backend: Arc::new(Reconnecting::new(backend.clone())),
        net: kernel.clone(),
        api: cluster::raw_api(client.clone(), &settings.namespace),
        recorder: cluster::recorder(client.clone(), &settings.node_name),
        client,
        api_server: None,
        mem: Arc::new(Memory::default()),
        reconnect: Arc::new(tokio::sync::Notify::new()),
        settings,
    });
    Node { ctx, kernel, backend, api, _dir: dir }
}

/// When the action brings the pass back (kube keeps the field private; its Debug
/// shows it).
fn requeue_after(action: &Action) -> std::time::Duration {
    let debug = format!("{action:?}");
    let value = debug.split("Some(").nth(1).and_then(|v| v.split(')').next()).expect("a requeue");
    match value.strip_suffix("ms") {
        Some(ms) => std::time::Duration::from_secs_f64(ms.parse::<f64>().unwrap() / 1000.0),
        None => std::time::Duration::from_secs_f64(value.trim_end_matches('s').parse().unwrap()),
    }
}

async fn pass(n: &Node, cr: &serde_json::Value) -> Action {
    let obj: DynamicObject = serde_json::from_value(cr.clone()).unwrap();
    reconcile(Arc::new(obj), n.ctx.clone()).await.unwrap()
}

#[tokio::test]
async fn a_pass_configures_the_nics_reports_them_and_says_so_once() {
    let cr = cr("worker-1", nics());
    let n = node(&cr);
    let action = pass(&n, &cr).await;
    assert_eq!(action, Action::requeue(n.ctx.settings.resync_interval));
    assert_eq!((n.kernel.get(3).name.as_str(), n.kernel.get(4).name.as_str()), ("multinic0", "multinic1"));

    let statuses = n.api.statuses();
    assert_eq!(statuses.len(), 1);
    let s = &statuses[0];
    assert_eq!((s.state, s.observed_generation), (Some(NodeState::Configured), Some(1)));
    assert_eq!(s.backend.as_deref(), Some("fake"));
    let m0 = &s.interface_statuses["multinic0"];
    assert_eq!(
        (m0.state, &m0.reason, m0.mac_address.as_str()),
        (InterfaceState::Configured, &Some(Reason::Configured), "fa:16:3e:00:00:01")
    );
    assert_eq!(n.api.events().into_iter().map(|e| e.1).collect::<Vec<_>>(), [Reason::Configured]);

    // The next pass finds everything as it should be: no write, no Event, no call.
    let calls = n.backend.calls().len();
    pass(&n, &cr).await;
    assert_eq!(n.api.statuses().len(), 1);
    assert_eq!(n.api.events().len(), 1);
    assert_eq!(n.backend.calls().len(), calls);
}

#[tokio::test]
async fn a_rolled_back_nic_is_reported_retried_later_and_warned_about_once() {
    let cr = cr("worker-1", nics());
    let n = node(&cr);
    n.backend.fail(mac(1), Fault::NoEffect);
    let action = pass(&n, &cr).await;
    // Backoff: back in about 2 s (±20 %), long before the resync.
    let again = requeue_after(&action);
    assert!(again <= std::time::Duration::from_millis(2400), "{again:?}");

    let s = n.api.statuses().pop().unwrap();
    let m0 = &s.interface_statuses["multinic0"];
    assert_eq!((m0.state, &m0.reason), (InterfaceState::Failed, &Some(Reason::RolledBack)));
    assert!(m0.message.contains("retrying in"), "{}", m0.message);
    assert_eq!(s.interface_statuses["multinic1"].state, InterfaceState::Configured);
    assert_eq!(n.kernel.get(3).name, "ens4");
    let warnings: Vec<_> = n.api.events().into_iter().filter(|e| e.0 == "Warning").collect();
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].1, Reason::RolledBack);
    assert!(warnings[0].2.starts_with("multinic0 (fa:16:3e:00:00:01)"), "{}", warnings[0].2);

    // Before its backoff is due the NIC is left alone, and nothing new is said.
    let configures = || n.backend.calls().iter().filter(|c| *c == "configure fa:16:3e:00:00:01").count();
    let before = configures();
    pass(&n, &cr).await;
    assert_eq!(configures(), before);
    assert_eq!(n.api.events().iter().filter(|e| e.0 == "Warning").count(), 1);
}

/// A NIC detached while the pass runs, after its transaction: the status says
/// what the pass saw (Configured), the netlink trigger took the detach for the
/// pass's own doing, and so the pass itself asks to look again soon; the next pass
/// reports the NIC NotFound, not the resync minutes later.
#[tokio::test]
async fn a_nic_detached_during_the_pass_is_looked_at_again_soon() {
    let cr = cr("worker-1", nics());
    let n = node(&cr);
    n.backend.fail(mac(1), Fault::UnpluggedAfterCommit);
    let action = pass(&n, &cr).await;
    let again = requeue_after(&action);
    assert!(again <= std::time::Duration::from_millis(2400), "{again:?}");
    let s = n.api.statuses().pop().unwrap();
    assert_eq!(s.interface_statuses["multinic0"].state, InterfaceState::Configured);

    pass(&n, &cr).await;
    let s = n.api.statuses().pop().unwrap();
    assert_eq!(s.interface_statuses["multinic0"].state, InterfaceState::NotFound);
    assert_eq!(s.interface_statuses["multinic1"].state, InterfaceState::Configured);
}

#[tokio::test]
async fn a_spec_for_another_node_is_refused_and_nothing_is_touched() {
    let cr = cr("worker-2", nics());
    let n = node(&cr);
    pass(&n, &cr).await;
    let s = n.api.statuses().pop().unwrap();
    assert_eq!((s.state, &s.reason), (Some(NodeState::Failed), &Some(Reason::InvalidSpec)));
    assert!(s.message.as_deref().unwrap_or_default().contains("spec.nodeName"), "{:?}", s.message);
    assert!(n.backend.calls().is_empty());
    assert_eq!(n.kernel.get(3).name, "ens4");
}

#[tokio::test]
async fn a_deleted_cr_is_cleaned_up_before_its_finalizer_goes() {
    let live = cr("worker-1", nics());
    let n = node(&live);
    pass(&n, &live).await;
    assert_eq!(n.backend.owned().len(), 2);

    let mut deleted = live.clone();
    deleted["metadata"]["deletionTimestamp"] = "2026-12-06T00:00:00Z".into();
    let action = pass(&n, &deleted).await;
    assert_eq!(action, Action::await_change());
    assert!(n.backend.owned().is_empty());
    assert_eq!((n.kernel.get(3).name.as_str(), n.kernel.get(4).name.as_str()), ("ens4", "ens5"));
    let events = n.api.events();
    let cleaned = events.iter().find(|e| e.1 == Reason::CleanedUp).expect("a CleanedUp Event");
    assert_eq!(cleaned.2, "removed multinic0, multinic1");
    // Only then is the finalizer taken off (a JSON patch of the object itself).
    let last = n.api.all().pop().unwrap();
    assert_eq!((last.0, last.1.ends_with("/multinicnodeconfigs/worker-1")), (Method::PATCH, true));
    assert!(last.2.to_string().contains("/metadata/finalizers"), "{}", last.2);
}

/// Someone takes the address off a configured NIC: the next pass puts it back and
/// says so in a DriftRepaired Event; the status reads as before.
#[tokio::test]
async fn drift_is_repaired_and_said_once() {
    let cr = cr("worker-1", nics());
    let n = node(&cr);
    pass(&n, &cr).await;
    n.kernel.change(3, |l| l.addresses.clear());
    pass(&n, &cr).await;
    assert_eq!(n.kernel.get(3).addresses, vec!["10.60.0.10/24".parse::<ipnet::IpNet>().unwrap()]);
    let repaired: Vec<_> = n.api.events().into_iter().filter(|e| e.1 == Reason::DriftRepaired).collect();
    assert_eq!(repaired.len(), 1, "{repaired:?}");
    assert!(
        repaired[0].2.starts_with("multinic0 (fa:16:3e:00:00:01): repaired: IPv4 addresses are []"),
        "{}",
        repaired[0].2
    );
    // The drift was shown while it was repaired, then the status is Configured again.
    let statuses = n.api.statuses();
    let drifted = &statuses[statuses.len() - 2].interface_statuses["multinic0"];
    assert_eq!(drifted.state, InterfaceState::Drifted);
    assert_eq!(statuses.last().unwrap().state, Some(NodeState::Configured));
}

/// The primary NIC's MAC in the spec: blocked, the primary untouched, one Warning
/// for the transition into Blocked and none on the passes after it.
#[tokio::test]
async fn a_protected_nic_is_blocked_and_warned_about_once() {
    let cr = cr(
        "worker-1",
        serde_json::json!([{"id": 1, "macAddress": "fa:16:3e:00:00:ee", "address": "10.60.0.10", "cidr": "10.60.0.0/24"}]),
    );
    let n = node(&cr);
    pass(&n, &cr).await;
    pass(&n, &cr).await;
    let s = n.api.statuses().pop().unwrap();
    let entry = s.interface_statuses.values().find(|e| e.mac_address == "fa:16:3e:00:00:ee").unwrap();
    assert_eq!((entry.state, &entry.reason), (InterfaceState::Blocked, &Some(Reason::DefaultRouteInterface)));
    let blocked: Vec<_> = n.api.events().into_iter().filter(|e| e.1 == Reason::Blocked).collect();
    assert_eq!(blocked.len(), 1, "{blocked:?}");
    assert_eq!(blocked[0].0, "Warning");
    assert!(n.backend.calls().is_empty());
    assert_eq!(n.kernel.get(2).name, "eth0");
}
