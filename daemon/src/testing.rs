// SPDX-License-Identifier: Apache-2.0
//! A host in memory for the unit tests of the transaction, the pass and the
//! reconcile: a kernel whose links the transaction renames, and a network manager
//! that configures them as a real one would (address, MTU, up), records every call
//! and can be told to fail. The real daemons are tested in tests/lab; this is for
//! the logic around them, without root.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use ipnet::IpNet;
use multinic_api::MacAddr;
use tokio::sync::mpsc;

use crate::backend::{Backend, BackendError, Managed, Readiness};
use crate::observe::netlink::{Event, NetlinkError, Subscription};
use crate::observe::{Generated, Handle, Host, Kernel, Link, PathTo, PolicyRouting, Routing};
use crate::plan::vlan::OwnedVlan;
use crate::plan::{InterfacePlan, LinkRef, Owned};

/// Links in memory. Clones share them.
#[derive(Clone, Default)]
pub struct FakeKernel {
    state: Arc<Mutex<KernelState>>,
}

#[derive(Default)]
struct KernelState {
    links: Vec<Link>,
    defaults: Vec<crate::observe::DefaultRoute>,
    /// Where the API server's route leaves: the default route's link, unless a
    /// configuration took it.
    api_path: Option<(u32, Option<IpAddr>)>,
    policy: PolicyRouting,
    subscribers: Vec<mpsc::UnboundedSender<Event>>,
}

impl FakeKernel {
    /// A kernel with the links and default routes of `host`.
    pub fn of(host: Host) -> Self {
        let k = FakeKernel::default();
        {
            let mut s = k.lock();
            s.links = host.links;
            s.defaults = host.defaults;
            s.policy = host.policy;
        }
        k
    }

    fn lock(&self) -> MutexGuard<'_, KernelState> {
        self.state.lock().expect("not poisoned")
    }

    /// A copy of link `index`.
    pub fn get(&self, index: u32) -> Link {
        self.lock().links.iter().find(|l| l.index == index).cloned().expect("a link of the test")
    }

    /// Change link `index` as the network manager or an operator would, with its event.
    pub fn change(&self, index: u32, f: impl FnOnce(&mut Link)) {
        let mut s = self.lock();
        if let Some(l) = s.links.iter_mut().find(|l| l.index == index) {
            f(l);
        }
        s.subscribers.retain(|tx| tx.send(Event::Link { index, name: None, mac: None, removed: false }).is_ok());
    }

    /// A new link (a VLAN the manager creates), with its event; its index.
    pub fn add(&self, mut link: Link) -> u32 {
        let mut s = self.lock();
        link.index = s.links.iter().map(|l| l.index).max().unwrap_or(0) + 1;
        let index = link.index;
        s.links.push(link);
        s.subscribers.retain(|tx| tx.send(Event::Link { index, name: None, mac: None, removed: false }).is_ok());
        index
    }

    /// The links, as they are now.
    pub fn links_now(&self) -> Vec<Link> {
        self.lock().links.clone()
    }

    /// The link is gone (hot-unplugged), with its event.
    pub fn unplug(&self, index: u32) {
        let mut s = self.lock();
        s.links.retain(|l| l.index != index);
        s.subscribers.retain(|tx| tx.send(Event::Link { index, name: None, mac: None, removed: true }).is_ok());
    }

    /// Change the routing policy, as a network manager or a CNI would.
    pub fn policy(&self, f: impl FnOnce(&mut PolicyRouting)) {
        f(&mut self.lock().policy);
    }

    /// The API server is reached through link `oif`, via `gateway`.
    pub fn route_api(&self, oif: u32, gateway: Option<IpAddr>) {
        self.lock().api_path = Some((oif, gateway));
    }

    /// The API server is reached by the default route again.
    pub fn restore_api_route(&self) {
        self.lock().api_path = None;
    }
}

impl Kernel for FakeKernel {
    async fn links(&self) -> Result<Vec<Link>, NetlinkError> {
        Ok(self.lock().links.clone())
    }

    async fn host(&self, api: Option<IpAddr>) -> Result<Host, NetlinkError> {
        let mut host = {
            let s = self.lock();
            Host { links: s.links.clone(), defaults: s.defaults.clone(), policy: s.policy.clone(), ..Host::default() }
        };
        if let Some(to) = api {
            host.api = Some(self.route_to(to).await?);
        }
        Ok(host)
    }

    async fn link(&self, index: u32) -> Result<Option<Link>, NetlinkError> {
        Ok(self.lock().links.iter().find(|l| l.index == index).cloned())
    }

    async fn routing(&self) -> Result<Routing, NetlinkError> {
        let s = self.lock();
        Ok(Routing { defaults: s.defaults.clone(), policy: s.policy.clone() })
    }

    async fn route_to(&self, to: IpAddr) -> Result<PathTo, NetlinkError> {
        let s = self.lock();
        let path = s.api_path.or_else(|| s.defaults.first().map(|d| (d.oif, d.gateway)));
        Ok(PathTo { to, oif: path.map(|p| p.0), gateway: path.and_then(|p| p.1) })
    }

    async fn delete_addresses(&self, index: u32, nets: &[IpNet]) -> Result<(), NetlinkError> {
        self.change(index, |l| l.addresses.retain(|a| !nets.contains(a)));
        Ok(())
    }

    async fn rename(&self, index: u32, to: &str, _ours: &[IpNet]) -> Result<(), NetlinkError> {
        self.change(index, |l| l.name = to.to_string());
        Ok(())
    }

    async fn set_mtu(&self, index: u32, _name: &str, mtu: u32) -> Result<(), NetlinkError> {
        self.change(index, |l| l.mtu = mtu);
        Ok(())
    }

    async fn delete_link(&self, index: u32, _name: &str) -> Result<(), NetlinkError> {
        self.unplug(index);
        Ok(())
    }

    fn subscribe(&self) -> Result<Subscription, NetlinkError> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.lock().subscribers.push(tx);
        Ok(Subscription::of(rx))
    }
}

/// What the fake manager is to do wrong for a MAC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// `configure` fails with NetworkManager's "unknown device" this many times.
    Transient(u32),
    /// `configure` fails with an invalid-profile reply, every time.
    Refused,
    /// `configure` succeeds but nothing reaches the link (verify times out).
    NoEffect,
    /// `configure` works, and the route to the API server now leaves through the link.
    TakesApiRoute,
    /// `configure` configures the link but puts no source-routing rule in place.
    NoRule,
    /// The NIC is detached right after its transaction is committed, while the
    /// pass still runs.
    UnpluggedAfterCommit,
}

/// A network manager in memory, configuring the links of a [`FakeKernel`].
#[derive(Clone)]
pub struct FakeBackend {
    kernel: FakeKernel,
    state: Arc<Mutex<BackendState>>,
}

#[derive(Default)]
struct BackendState {
    owned: Vec<Owned>,
    vlans: Vec<OwnedVlan>,
    faults: HashMap<MacAddr, Fault>,
    calls: Vec<String>,
    next_profile: u32,
}

/// The fake's transaction: what was owned before, what it created.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct FakeTxn {
    mac: MacAddr,
    index: u32,
    before: Option<Owned>,
    addresses_before: Vec<IpNet>,
    created: Option<String>,
    /// As networkd's files record it: the link's MTU before multinic.
    original_mtu: Option<u32>,
    /// The NIC's VLAN configurations before.
    vlans_before: Vec<OwnedVlan>,
}

impl FakeBackend {
    /// A manager of the kernel's links, owning nothing yet.
    pub fn on(kernel: &FakeKernel) -> Self {
        FakeBackend { kernel: kernel.clone(), state: Arc::default() }
    }

    fn lock(&self) -> MutexGuard<'_, BackendState> {
        self.state.lock().expect("not poisoned")
    }

    /// Make it fail for this MAC.
    pub fn fail(&self, mac: MacAddr, fault: Fault) {
        self.lock().faults.insert(mac, fault);
    }

    /// The calls so far, as `method mac`.
    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    /// What it holds as multinic's.
    pub fn owned(&self) -> Vec<Owned> {
        self.lock().owned.clone()
    }

    fn record(&self, call: &str, mac: MacAddr) {
        self.lock().calls.push(format!("{call} {mac}"));
    }
}

/// An error reply as NetworkManager sends it.
pub fn nm_reply(name: &'static str, op: &'static str, iface: &str, mac: MacAddr) -> BackendError {
    let msg = zbus::message::Message::method_call("/", "Fake").and_then(|b| b.build(&())).expect("a message");
    let name = zbus::names::OwnedErrorName::try_from(name).expect("an error name");
    BackendError::Call { op, iface: iface.into(), mac, source: zbus::Error::MethodError(name, None, msg) }
}

impl FakeBackend {
    /// As networkd does: each VLAN's configuration written and its link created or
    /// set; a removed VLAN's configuration deleted, its link left.
    fn configure_vlans(&self, txn: &FakeTxn, plan: &InterfacePlan, fault: Option<Fault>) {
        for v in plan.vlans.iter().filter(|v| v.step.applies()) {
            let name = v.name.clone().unwrap_or_default();
            {
                let mut s = self.lock();
                s.vlans.retain(|o| !(o.parent == plan.mac && o.id == v.id));
                s.vlans.push(OwnedVlan {
                    parent: plan.mac,
                    id: v.id,
                    name: name.clone(),
                    config_hash: v.config_hash.clone(),
                    addresses: vec![v.desired.ip.address],
                    handle: Handle::NmProfile(format!("/fake/vlan/{}/{}", plan.mac, v.id)),
                });
            }
            if fault == Some(Fault::NoEffect) {
                continue;
            }
            let (address, mtu) = (IpNet::V4(v.desired.ip.address), v.desired.ip.mtu);
            let set = |l: &mut Link| {
                (l.up, l.oper_state) = (true, "up".into());
                l.addresses = vec![address];
                l.mtu = mtu.unwrap_or(l.mtu);
            };
            let existing = self.kernel.links_now().into_iter().find(|l| l.is_called(&name)).map(|l| l.index);
            let index = match existing {
                Some(index) => {
                    self.kernel.change(index, set);
                    index
                }
                None => {
                    let mut l = self.kernel.get(txn.index);
                    (l.name, l.kind, l.lower, l.perm_mac) = (name, Some("vlan".into()), Some(txn.index), None);
                    set(&mut l);
                    self.kernel.add(l)
                }
            };
            // As NetworkManager does: the profile's rule and table routes, only.
            let held = v.source.map(|sr| crate::plan::source::expected(&v.desired.ip, sr, index));
            self.kernel.policy(|p| {
                p.routes.retain(|r| r.oif != Some(index));
                if let Some(sr) = v.source {
                    p.rules.retain(|r| r.table != sr.table);
                }
                if let Some(held) = held {
                    if fault != Some(Fault::NoRule) {
                        p.rules.extend(held.rules);
                    }
                    p.routes.extend(held.routes);
                }
            });
        }
        let gone: Vec<u16> = plan.vlan_removals.iter().map(|o| o.id).collect();
        self.lock().vlans.retain(|o| !(o.parent == plan.mac && gone.contains(&o.id)));
    }
}

impl Backend for FakeBackend {
    type Txn = FakeTxn;

    fn name(&self) -> &'static str {
        "fake"
    }

    async fn checkup(&self) -> crate::backend::Checkup {
        crate::backend::Checkup { version: Some("1".into()), settings: Ok("fake".into()) }
    }

    async fn reconnect(&self) -> Result<Self, BackendError> {
        Ok(self.clone())
    }

    async fn read(&self) -> Result<Managed, BackendError> {
        Ok(Managed { owned: self.owned(), generated: Vec::new(), vlans: self.lock().vlans.clone() })
    }

    async fn begin(&self, link: &LinkRef, mac: MacAddr, _vlans: &[LinkRef]) -> Result<FakeTxn, BackendError> {
        self.record("begin", mac);
        let before = self.lock().owned.iter().find(|o| o.mac == mac).cloned();
        let vlans_before = self.lock().vlans.iter().filter(|v| v.parent == mac).cloned().collect();
        let now = self.kernel.get(link.index);
        let original_mtu = match &before {
            Some(o) => o.original_mtu,
            None => Some(now.mtu),
        };
        Ok(FakeTxn {
            mac,
            index: link.index,
            before,
            addresses_before: now.addresses,
            created: None,
            original_mtu,
            vlans_before,
        })
    }

    async fn release(&self, _txn: &FakeTxn, _name: &str, mac: MacAddr) -> Result<(), BackendError> {
        self.record("release", mac);
        Ok(())
    }

    async fn retire(&self, _generated: &Generated, mac: MacAddr) -> Result<(), BackendError> {
        self.record("retire", mac);
        Ok(())
    }

    async fn configure(
        &self,
        txn: &mut FakeTxn,
        plan: &InterfacePlan,
        name: &str,
        original_name: Option<&str>,
    ) -> Result<(), BackendError> {
        self.record("configure", plan.mac);
        let name = name.to_string();
        let fault = self.lock().faults.get(&plan.mac).copied();
        match fault {
            Some(Fault::Transient(n)) if n > 0 => {
                self.lock().faults.insert(plan.mac, Fault::Transient(n - 1));
                return Err(nm_reply(
                    "org.freedesktop.NetworkManager.UnknownDevice",
                    "ActivateConnection",
                    &name,
                    plan.mac,
                ));
            }
            Some(Fault::Refused) => {
                return Err(nm_reply(
                    "org.freedesktop.NetworkManager.Settings.InvalidConnection",
                    "AddConnection2",
                    &name,
                    plan.mac,
                ));
            }
            _ => {}
        }
        {
            let mut s = self.lock();
            let handle = match (&txn.before, &txn.created) {
                (Some(o), _) => o.handle.clone(),
                (None, Some(created)) => Handle::NmProfile(created.clone()),
                (None, None) => {
                    s.next_profile += 1;
                    let path = format!("/fake/Settings/{}", s.next_profile);
                    txn.created = Some(path.clone());
                    Handle::NmProfile(path)
                }
            };
            s.owned.retain(|o| o.mac != plan.mac);
            s.owned.push(Owned {
                mac: plan.mac,
                name: name.clone(),
                original_name: original_name.map(str::to_string),
                original_mtu: txn.original_mtu,
                config_hash: plan.config_hash.clone(),
                addresses: vec![plan.desired.address],
                addresses6: plan.desired.ipv6_addresses().collect(),
                accept_ra: plan.desired.accepts_ra(),
                active: true,
                handle,
            });
        }
        if fault == Some(Fault::TakesApiRoute) {
            self.kernel.route_api(txn.index, None);
        }
        if fault != Some(Fault::NoEffect) {
            let (d, index) = (&plan.desired, txn.index);
            self.kernel.policy(|p| {
                // As NetworkManager does: the profile's rules and table routes, only.
                p.rules.retain(|r| plan.source.is_none_or(|sr| sr.table != r.table));
                p.routes.retain(|r| r.oif != Some(index));
                if let Some(sr) = plan.source {
                    let held = crate::plan::source::expected(d, sr, index);
                    if fault != Some(Fault::NoRule) {
                        p.rules.extend(held.rules);
                    }
                    p.routes.extend(held.routes);
                }
            });
            let (address, mtu) = (plan.desired.address, plan.desired.mtu);
            let v6: Vec<IpNet> = plan.desired.ipv6_addresses().map(IpNet::V6).collect();
            self.kernel.change(txn.index, |l| {
                l.up = true;
                l.oper_state = "up".into();
                l.addresses.clear();
                l.addresses.push(IpNet::V4(address));
                l.addresses.extend(v6);
                l.mtu = mtu.unwrap_or(l.mtu);
            });
        }
        self.configure_vlans(txn, plan, fault);
        Ok(())
    }

    async fn confirm(&self, _txn: &FakeTxn) -> Result<Readiness, BackendError> {
        Ok(Readiness::Configured)
    }

    async fn commit(&self, txn: FakeTxn) -> Result<(), BackendError> {
        self.record("commit", txn.mac);
        if self.lock().faults.get(&txn.mac) == Some(&Fault::UnpluggedAfterCommit) {
            self.kernel.unplug(txn.index);
        }
        Ok(())
    }

    async fn rollback(&self, txn: FakeTxn) -> Result<(), BackendError> {
        self.record("rollback", txn.mac);
        {
            let mut s = self.lock();
            s.owned.retain(|o| o.mac != txn.mac);
            s.owned.extend(txn.before);
            s.vlans.retain(|o| o.parent != txn.mac);
            s.vlans.extend(txn.vlans_before);
        }
        let addresses = txn.addresses_before;
        self.kernel.change(txn.index, |l| l.addresses = addresses);
        self.kernel.restore_api_route();
        Ok(())
    }

    async fn remove(&self, owned: &Owned) -> Result<(), BackendError> {
        self.record("remove", owned.mac);
        self.lock().owned.retain(|o| o.mac != owned.mac);
        let link = self.kernel.lock().links.iter().find(|l| l.hw_mac() == Some(owned.mac)).map(|l| l.index);
        if let Some(index) = link {
            let ours: Vec<u32> =
                self.kernel.lock().policy.routes.iter().filter(|r| r.oif == Some(index)).map(|r| r.table).collect();
            self.kernel.policy(|p| {
                p.routes.retain(|r| r.oif != Some(index));
                p.rules.retain(|r| !ours.contains(&r.table));
            });
            self.kernel.change(index, |l| l.addresses.retain(|a| !matches!(a, IpNet::V4(_))));
        }
        Ok(())
    }

    async fn remove_vlan(&self, owned: &OwnedVlan) -> Result<(), BackendError> {
        self.record("remove_vlan", owned.parent);
        self.lock().vlans.retain(|o| !(o.parent == owned.parent && o.id == owned.id));
        Ok(())
    }
}
