// SPDX-License-Identifier: Apache-2.0
//! The transaction against a host in memory ([`crate::testing`]): what it calls, in
//! which order, and what the links and the manager hold afterwards; the crash
//! record and its recovery. The real managers are in tests/lab.

use std::time::Duration;

use ipnet::IpNet;
use multinic_api::{InterfaceState, MacAddr, Reason, ValidInterface};

use super::journal::{self, Journal, Lock};
use super::{Action, Backend, Outcome, Retry, Verify, apply_plan, remove_all};
use crate::observe::Kernel;
use crate::observe::reach::{ApiServer, Guard};
use crate::plan::tests::{host, mac, on, want};
use crate::plan::{self, Context, Plan, Policy};
use crate::testing::{FakeBackend, FakeKernel, Fault};

/// ens4 (index 3, MAC 01) and ens5 (index 4, MAC 02) beside the primary eth0.
fn node() -> (FakeKernel, FakeBackend) {
    let kernel = FakeKernel::of(on(&host()));
    let backend = FakeBackend::on(&kernel);
    (kernel, backend)
}

async fn plan_for(kernel: &FakeKernel, backend: &FakeBackend, desired: &[ValidInterface]) -> Plan {
    let host = kernel.host(None).await.unwrap();
    let managed = backend.read().await.unwrap();
    let keep: Vec<MacAddr> = Vec::new();
    plan::plan(
        desired,
        &host,
        Context { owned: &managed.owned, keep: &keep, holds: &[], policy: &Policy::default(), vlans: &managed.vlans },
    )
}

async fn apply(kernel: &FakeKernel, backend: &FakeBackend, desired: &[ValidInterface]) -> Vec<Outcome> {
    let plan = plan_for(kernel, backend, desired).await;
    apply_plan(backend, kernel, &plan, Verify { timeout: Duration::from_millis(300), guard: None }).await
}

fn two() -> Vec<ValidInterface> {
    let mut second = want(mac(2), "10.61.0.10/24");
    second.index = 1;
    vec![want(mac(1), "10.60.0.10/24"), second]
}

fn v4(link: &crate::observe::Link) -> Vec<String> {
    link.addresses.iter().filter(|a| matches!(a, IpNet::V4(_))).map(|a| a.to_string()).collect()
}

#[tokio::test]
async fn a_nic_is_renamed_configured_verified_and_committed() {
    let (kernel, backend) = node();
    let outcomes = apply(&kernel, &backend, &two()[..1]).await;
    assert_eq!(outcomes.len(), 1);
    assert_eq!((outcomes[0].state, &outcomes[0].reason), (InterfaceState::Configured, &Reason::Configured));
    assert!(matches!(outcomes[0].action, Some((Action::Created, _))));
    let ens4 = kernel.get(3);
    assert_eq!((ens4.name.as_str(), ens4.mtu, ens4.up), ("multinic0", 1450, true));
    assert_eq!(v4(&ens4), ["10.60.0.10/24"]);
    assert_eq!(backend.calls(), ["begin fa:16:3e:00:00:01", "configure fa:16:3e:00:00:01", "commit fa:16:3e:00:00:01"]);
    let owned = backend.owned();
    assert_eq!((owned.len(), owned[0].original_name.as_deref()), (1, Some("ens4")));
    assert!(journal::open_records().is_empty(), "the record of a committed transaction is removed");

    // Again: nothing to do, nothing called.
    let again = apply(&kernel, &backend, &two()[..1]).await;
    assert_eq!(again[0].state, InterfaceState::Configured);
    assert_eq!(again[0].action, None);
    assert_eq!(backend.calls().len(), 3);
}

#[tokio::test]
async fn a_change_that_never_shows_on_the_link_is_rolled_back_under_its_old_name() {
    let (kernel, backend) = node();
    backend.fail(mac(1), Fault::NoEffect);
    let outcomes = apply(&kernel, &backend, &two()[..1]).await;
    let o = &outcomes[0];
    assert_eq!((o.state, &o.reason), (InterfaceState::Failed, &Reason::RolledBack));
    assert!(matches!(o.action, Some((Action::RolledBack, _))));
    assert!(o.message.contains("did not reach the desired state"), "{}", o.message);
    assert_eq!(kernel.get(3).name, "ens4", "the kernel name is given back");
    assert!(v4(&kernel.get(3)).is_empty());
    assert!(backend.owned().is_empty(), "the profile the transaction created is gone with it");
    assert_eq!(backend.calls().last().map(String::as_str), Some("rollback fa:16:3e:00:00:01"));
    assert!(journal::open_records().is_empty());
}

#[tokio::test]
async fn one_refused_interface_leaves_the_other_configured() {
    let (kernel, backend) = node();
    backend.fail(mac(1), Fault::Refused);
    let outcomes = apply(&kernel, &backend, &two()).await;
    assert_eq!(outcomes[0].state, InterfaceState::Failed);
    assert!(outcomes[0].message.contains("InvalidConnection"), "{}", outcomes[0].message);
    assert_eq!(outcomes[1].state, InterfaceState::Configured);
    assert_eq!(kernel.get(3).name, "ens4");
    assert_eq!(kernel.get(4).name, "multinic1");
    assert_eq!(v4(&kernel.get(4)), ["10.61.0.10/24"]);
    // A permanent error is not tried again within the transaction.
    let configures = backend.calls().iter().filter(|c| *c == "configure fa:16:3e:00:00:01").count();
    assert_eq!(configures, 1);
}

#[tokio::test]
async fn a_transient_error_is_tried_again_inside_the_transaction() {
    let (kernel, backend) = node();
    backend.fail(mac(1), Fault::Transient(2));
    let outcomes = apply(&kernel, &backend, &two()[..1]).await;
    assert_eq!(outcomes[0].state, InterfaceState::Configured, "{}", outcomes[0].message);
    let calls = backend.calls();
    assert_eq!(calls.iter().filter(|c| c.starts_with("configure")).count(), 3);
    assert_eq!(calls.iter().filter(|c| c.starts_with("begin")).count(), 1, "one transaction");
    assert!(!calls.iter().any(|c| c.starts_with("rollback")));
    assert_eq!(backend.owned().len(), 1, "the retried step updates what the first attempt created");
}

#[tokio::test]
async fn a_transient_error_that_persists_rolls_back() {
    let (kernel, backend) = node();
    backend.fail(mac(1), Fault::Transient(10));
    let outcomes = apply(&kernel, &backend, &two()[..1]).await;
    assert_eq!(outcomes[0].state, InterfaceState::Failed);
    assert!(outcomes[0].message.contains("UnknownDevice"), "{}", outcomes[0].message);
    assert_eq!(backend.calls().iter().filter(|c| c.starts_with("configure")).count(), 4, "1 + 3 retries");
    assert_eq!(kernel.get(3).name, "ens4");
}

/// The API server is reached over the node's own network: a change that moves its
/// route is rolled back, and held until its spec changes.
#[tokio::test]
async fn a_change_that_takes_the_route_to_the_api_server_is_rolled_back_and_held() {
    let (kernel, backend) = node();
    backend.fail(mac(1), Fault::TakesApiRoute);
    let server = ApiServer::new("203.0.113.10:6443".parse().unwrap(), None);
    let guard = Guard::measure(&server, &kernel, Duration::from_millis(100)).await.unwrap();
    let plan = plan_for(&kernel, &backend, &two()[..1]).await;
    let verify = Verify { timeout: Duration::from_millis(300), guard: Some(&guard) };
    let outcomes = apply_plan(&backend, &kernel, &plan, verify).await;
    let o = &outcomes[0];
    assert_eq!((o.state, &o.reason, o.retry), (InterfaceState::Failed, &Reason::APIServerUnreachable, Retry::Held));
    assert!(o.message.contains("via 192.0.2.1 dev eth0"), "{}", o.message);
    assert_eq!(kernel.get(3).name, "ens4");
    assert!(backend.owned().is_empty());
    assert_eq!(kernel.route_to("203.0.113.10".parse().unwrap()).await.unwrap().oif, Some(2));
}

/// A configured NIC unplugged: `Detached`, its configuration kept (no removal
/// planned) and its name reserved for it.
#[tokio::test]
async fn a_detached_nic_is_reported_detached_and_keeps_name_and_configuration() {
    let (kernel, backend) = node();
    apply(&kernel, &backend, &two()[..1]).await;
    kernel.unplug(3);
    let plan = plan_for(&kernel, &backend, &two()[..1]).await;
    assert!(plan.removals.is_empty());
    assert_eq!(plan.interfaces[0].name.as_deref(), Some("multinic0"));
    let outcomes = apply(&kernel, &backend, &two()[..1]).await;
    assert_eq!((outcomes[0].state, &outcomes[0].reason), (InterfaceState::NotFound, &Reason::Detached));
    assert!(outcomes[0].message.contains("multinic0 and its configuration are kept"), "{}", outcomes[0].message);
    assert_eq!(backend.owned().len(), 1);

    // Never configured: just not found.
    let (kernel, backend) = node();
    kernel.unplug(3);
    let outcomes = apply(&kernel, &backend, &two()[..1]).await;
    assert_eq!((outcomes[0].state, &outcomes[0].reason), (InterfaceState::NotFound, &Reason::MacNotFound));
}

#[tokio::test]
async fn removal_gives_the_kernel_name_back() {
    let (kernel, backend) = node();
    apply(&kernel, &backend, &two()).await;
    assert_eq!(kernel.get(3).name, "multinic0");
    let plan = plan_for(&kernel, &backend, &two()[1..]).await;
    assert_eq!(plan.removals.len(), 1);
    let removed = remove_all(&backend, &kernel, &plan.removals).await;
    assert!(removed[0].is_ok());
    assert_eq!(kernel.get(3).name, "ens4");
    assert!(v4(&kernel.get(3)).is_empty());
    assert_eq!(kernel.get(3).mtu, 1500, "the MTU it had before multinic");
    assert_eq!(backend.owned().len(), 1);
    assert_eq!(kernel.get(4).name, "multinic1", "the other interface is not touched");
    assert_eq!(kernel.get(4).mtu, 1450);
}

/// A daemon killed between configure and commit left its record: the next start
/// rolls the manager's side back and gives the link its name back.
#[tokio::test]
async fn an_interrupted_transaction_is_rolled_back_at_start() {
    let (kernel, backend) = node();
    let plan = plan_for(&kernel, &backend, &two()[..1]).await;
    let ip = &plan.interfaces[0];
    let link = ip.link.clone().unwrap();
    let mut txn = backend.begin(&link, ip.mac, &[]).await.unwrap();
    let journal = Journal::open(backend.name(), ip.mac, "ens4", vec![], vec![ip.desired.address.into()], &txn).unwrap();
    kernel.rename(link.index, "multinic0", &[]).await.unwrap();
    backend.configure(&mut txn, ip, "multinic0", Some("ens4")).await.unwrap();
    journal.update(&txn).unwrap();
    drop(txn); // the process dies here
    assert_eq!(journal::open_records().len(), 1);

    let lock = Lock::try_acquire().unwrap().unwrap();
    journal::recover(&lock, &backend, &kernel).await;
    assert_eq!(kernel.get(3).name, "ens4");
    assert!(v4(&kernel.get(3)).is_empty(), "the address the transaction added is gone");
    assert!(backend.owned().is_empty());
    assert!(backend.calls().contains(&"rollback fa:16:3e:00:00:01".to_string()));
    assert!(journal::open_records().is_empty());
}

#[tokio::test]
async fn source_routing_is_verified_in_the_kernel_and_goes_with_the_interface() {
    let (kernel, backend) = node();
    let mut d = want(mac(1), "10.60.0.10/24");
    d.source_routing = true;
    d.gateway = Some("10.60.0.1".parse().unwrap());
    let outcomes = apply(&kernel, &backend, std::slice::from_ref(&d)).await;
    assert_eq!(outcomes[0].state, InterfaceState::Configured, "{}", outcomes[0].message);
    let seen = kernel.routing().await.unwrap().policy;
    let rule = crate::observe::Rule { priority: 32000, from: Some("10.60.0.10/32".parse().unwrap()), table: 100 };
    assert_eq!(seen.rules, [rule]);
    assert_eq!(seen.routes.len(), 2, "the subnet and the default via the gateway: {seen:?}");

    let plan = plan_for(&kernel, &backend, &[]).await;
    let removed = remove_all(&backend, &kernel, &plan.removals).await;
    assert!(removed.iter().all(Result::is_ok));
    assert!(kernel.routing().await.unwrap().policy.is_empty());
}

#[tokio::test]
async fn a_rule_that_never_appears_rolls_the_interface_back() {
    let (kernel, backend) = node();
    backend.fail(mac(1), Fault::NoRule);
    let mut d = want(mac(1), "10.60.0.10/24");
    d.source_routing = true;
    let o = &apply(&kernel, &backend, &[d]).await[0];
    assert_eq!((o.state, &o.reason), (InterfaceState::Failed, &Reason::RolledBack));
    assert!(o.message.contains("no rule \"from 10.60.0.10 lookup 100 priority 32000\""), "{}", o.message);
    assert_eq!(kernel.get(3).name, "ens4", "the kernel name is given back");
}

fn with_vlan(id: u16, address: &str) -> ValidInterface {
    let mut d = want(mac(1), "10.60.0.10/24");
    d.vlans = vec![multinic_api::ValidVlan {
        id,
        ip: multinic_api::ValidIp4 {
            address: address.parse().unwrap(),
            mtu: Some(1400),
            routes: vec![],
            dns: vec![],
            gateway: None,
        },
        source_routing: false,
    }];
    d
}

/// A VLAN is applied in its NIC's transaction and verified on its own link; taken
/// out of the spec, its configuration goes and its link with it (networkd keeps
/// it), in the NIC's next transaction; its NIC gone from the spec, it goes first.
#[tokio::test]
async fn a_vlan_is_configured_with_its_nic_and_removed_with_it() {
    let (kernel, backend) = node();
    let d = with_vlan(100, "10.100.0.5/24");
    let outcomes = apply(&kernel, &backend, std::slice::from_ref(&d)).await;
    assert_eq!(outcomes[0].state, InterfaceState::Configured, "{}", outcomes[0].message);
    let vlan = kernel.links_now().into_iter().find(|l| l.name == "multinic0.100").expect("the VLAN link");
    assert_eq!((vlan.kind.as_deref(), vlan.lower, vlan.mtu), (Some("vlan"), Some(3), 1400));
    assert_eq!(v4(&vlan), ["10.100.0.5/24"]);
    assert_eq!(backend.read().await.unwrap().vlans.len(), 1);
    // Again: nothing to do. The VLAN's address flushed: its NIC's transaction repairs it.
    assert!(plan_for(&kernel, &backend, std::slice::from_ref(&d)).await.is_noop());
    kernel.change(vlan.index, |l| l.addresses.clear());
    let plan = plan_for(&kernel, &backend, std::slice::from_ref(&d)).await;
    assert!(
        matches!(&plan.interfaces[0].step, plan::Step::Update { change: plan::Change::Drift(d), .. } if d[0].contains("multinic0.100 IPv4")),
        "{:?}",
        plan.interfaces[0].step
    );
    let outcomes = apply(&kernel, &backend, std::slice::from_ref(&d)).await;
    assert!(matches!(outcomes[0].action, Some((Action::DriftRepaired, _))));
    assert_eq!(v4(&kernel.get(vlan.index)), ["10.100.0.5/24"]);
    // Out of the spec: configuration and link gone, the NIC as it was.
    let plain = want(mac(1), "10.60.0.10/24");
    let outcomes = apply(&kernel, &backend, std::slice::from_ref(&plain)).await;
    assert_eq!(outcomes[0].state, InterfaceState::Configured, "{}", outcomes[0].message);
    assert!(!kernel.links_now().iter().any(|l| l.name == "multinic0.100"));
    assert!(backend.read().await.unwrap().vlans.is_empty());
    // Back, then its NIC out of the spec: the VLAN goes before the NIC.
    apply(&kernel, &backend, std::slice::from_ref(&d)).await;
    let plan = plan_for(&kernel, &backend, &[]).await;
    assert_eq!((plan.vlan_removals.len(), plan.removals.len()), (1, 1));
    let removed = super::remove_vlans(&backend, &kernel, &plan.vlan_removals).await;
    assert!(removed.iter().all(Result::is_ok));
    remove_all(&backend, &kernel, &plan.removals).await;
    assert!(!kernel.links_now().iter().any(|l| l.kind.as_deref() == Some("vlan")));
    let calls = backend.calls();
    let at = |c: &str| calls.iter().rposition(|x| x.starts_with(c)).unwrap();
    assert!(at("remove_vlan") < at("remove "), "{calls:?}");
}

/// A VLAN that never comes up rolls its NIC's change back with it, and the VLAN
/// link the change created goes too.
#[tokio::test]
async fn a_vlan_that_fails_verify_rolls_its_nic_back() {
    let (kernel, backend) = node();
    let mut d = with_vlan(100, "10.100.0.5/24");
    // The NIC's MTU is 1450 (node()): a VLAN cannot be larger; the fake sets it anyway, so break it otherwise.
    d.vlans[0].ip.mtu = Some(1400);
    let outcomes = apply(&kernel, &backend, std::slice::from_ref(&d)).await;
    assert_eq!(outcomes[0].state, InterfaceState::Configured);
    // Another address wanted; the manager takes the change but the link keeps the old one.
    let vlan = kernel.links_now().into_iter().find(|l| l.name == "multinic0.100").unwrap();
    let changed = with_vlan(100, "10.100.0.6/24");
    let plan = plan_for(&kernel, &backend, std::slice::from_ref(&changed)).await;
    backend.fail(mac(1), Fault::NoEffect);
    let outcomes =
        apply_plan(&backend, &kernel, &plan, Verify { timeout: Duration::from_millis(300), guard: None }).await;
    assert_eq!((outcomes[0].state, &outcomes[0].reason), (InterfaceState::Failed, &Reason::RolledBack));
    assert!(outcomes[0].message.contains("multinic0.100"), "{}", outcomes[0].message);
    let owned = backend.read().await.unwrap().vlans;
    assert_eq!(owned[0].addresses, ["10.100.0.5/24".parse().unwrap()], "the VLAN's configuration is back");
    assert_eq!(v4(&kernel.get(vlan.index)), ["10.100.0.5/24"]);
}

/// A VLAN with `sourceRouting` is verified on its table and rule too: a manager
/// that leaves the rule out rolls the change back, naming the rule.
#[tokio::test]
async fn a_vlans_rule_is_verified() {
    let (kernel, backend) = node();
    let mut d = with_vlan(100, "10.100.0.5/24");
    (d.vlans[0].ip.gateway, d.vlans[0].source_routing) = (Some("10.100.0.1".parse().unwrap()), true);
    let outcomes = apply(&kernel, &backend, std::slice::from_ref(&d)).await;
    assert_eq!(outcomes[0].state, InterfaceState::Configured, "{}", outcomes[0].message);
    let routing = kernel.routing().await.unwrap();
    assert!(routing.policy.rules.iter().any(|r| r.table == 10100 && r.priority == 32000), "{routing:?}");
    let (kernel, backend) = node();
    backend.fail(mac(1), Fault::NoRule);
    let outcomes = apply(&kernel, &backend, std::slice::from_ref(&d)).await;
    assert_eq!((outcomes[0].state, &outcomes[0].reason), (InterfaceState::Failed, &Reason::RolledBack));
    assert!(outcomes[0].message.contains("lookup 10100"), "{}", outcomes[0].message);
}
