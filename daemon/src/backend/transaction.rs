// SPDX-License-Identifier: Apache-2.0
//! Applying a plan: removals first (they free names), then interfaces wave by wave
//! (see `Plan::waves`), each wave concurrently, each interface its own transaction:
//! begin → (take the NIC over from the manager's generated configuration) → rename
//! → configure → verify (the link, the manager, the API server's path) → commit, or
//! rename back and roll back on any failure. One interface failing never stops the
//! others.

use std::time::{Duration, Instant};

use futures::future::join_all;
use multinic_api::{InterfaceState, Reason};
use tokio::sync::broadcast;
use tracing::{error, info, warn};

use super::journal::{self, Journal, RemovalRecord};
use super::{Backend, BackendError, Readiness};
use crate::journal::ids;
use crate::observe::Kernel;
use crate::observe::netlink;
use crate::observe::reach::{Guard, Unreachable};
use crate::plan::{self, HoldKind, InterfacePlan, Plan, Removal, Step, Target};

/// How one interface ended.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Resulting state.
    pub state: InterfaceState,
    /// Why.
    pub reason: Reason,
    /// Detail.
    pub message: String,
    /// What was done to get there, and its detail, for logs and Events; the status
    /// shows only the resulting state, so that a later pass that finds nothing to
    /// do reports the very same status.
    pub action: Option<(Action, String)>,
    /// When an interface that did not end configured is tried again.
    pub retry: Retry,
}

/// What a transaction did to an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Configured a NIC multinic did not configure before.
    Created,
    /// Applied a changed spec.
    Updated,
    /// Put back what had drifted.
    DriftRepaired,
    /// Undid a change that failed.
    RolledBack,
}

impl Action {
    /// The name, as logged.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Created => "Created",
            Action::Updated => "Updated",
            Action::DriftRepaired => "DriftRepaired",
            Action::RolledBack => "RolledBack",
        }
    }
}

impl Outcome {
    /// Failed before anything was changed: nothing to roll back.
    fn not_begun(e: &BackendError) -> Self {
        Outcome {
            state: InterfaceState::Failed,
            reason: e.reason(),
            message: e.to_string(),
            action: None,
            retry: e.retry(),
        }
    }

    /// Not applied (yet): the pass stopped before it, or it waits for the others.
    pub fn pending() -> Self {
        Outcome {
            state: InterfaceState::Pending,
            reason: Reason::Pending,
            message: String::new(),
            action: None,
            retry: Retry::Normal,
        }
    }
}

/// When an interface that did not end configured is tried again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Retry {
    /// On the next pass (an event, the resync).
    #[default]
    Normal,
    /// Not before its spec changes: the same configuration would do the same again
    /// (it moved the route to the API server).
    Held,
    /// Soon: it waits for an operator's step on the host that makes no event here
    /// (restarting systemd-networkd).
    Soon,
}

impl BackendError {
    /// When an interface that failed with this error is tried again.
    pub fn retry(&self) -> Retry {
        match self {
            BackendError::ApiServer { source: Unreachable::PathChanged { .. }, .. } => Retry::Held,
            BackendError::NetworkdSettings { .. } => Retry::Soon,
            _ => Retry::Normal,
        }
    }
}

/// The status message of a configured interface: the same whether this pass
/// configured it or found it so.
fn configured_message(ip: &InterfacePlan) -> String {
    let mtu = ip.desired.mtu.map(|m| format!(", MTU {m}")).unwrap_or_default();
    let source = ip.source.map(|sr| format!(", source routing table {}", sr.table)).unwrap_or_default();
    let v6: String = ip.desired.ipv6_addresses().map(|a| format!(", {a}")).collect();
    format!("up with {}{v6}{mtu}{source}", ip.desired.address)
}

/// The VLAN links on the NIC with `mac` that are called `names` and are VLANs of
/// that NIC (they carry its MAC), and nothing else.
async fn find_vlan_links<'a, K: Kernel>(
    net: &K,
    mac: multinic_api::MacAddr,
    names: impl Iterator<Item = &'a str>,
) -> Result<Vec<crate::observe::Link>, netlink::NetlinkError> {
    let names: Vec<&str> = names.collect();
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let links = net.links().await?;
    Ok(links
        .into_iter()
        .filter(|l| l.kind.as_deref() == Some("vlan") && l.mac == Some(mac) && names.iter().any(|n| l.is_called(n)))
        .collect())
}

/// Delete the VLAN links `names` of the NIC with `mac` that are still there: a
/// network manager that deletes the configuration of a VLAN may keep its link
/// (systemd-networkd never deletes a netdev).
async fn delete_vlan_links<'a, K: Kernel>(
    net: &K,
    mac: multinic_api::MacAddr,
    names: impl Iterator<Item = &'a str>,
) -> Result<(), BackendError> {
    for l in find_vlan_links(net, mac, names).await? {
        net.delete_link(l.index, &l.name).await?;
    }
    Ok(())
}

/// The VLAN links a transaction covers: those it configures and those it removes.
async fn vlan_links<K: Kernel>(net: &K, ip: &InterfacePlan) -> Result<Vec<plan::LinkRef>, netlink::NetlinkError> {
    let mut out: Vec<plan::LinkRef> =
        ip.vlans.iter().filter(|v| v.step.applies()).filter_map(|v| v.link.clone()).collect();
    for l in find_vlan_links(net, ip.mac, ip.vlan_removals.iter().map(|v| v.name.as_str())).await? {
        out.push(plan::LinkRef { index: l.index, name: l.name });
    }
    Ok(out)
}

/// Remove the VLANs whose NIC left the spec, side by side, before the NICs'
/// removals: each one's result, in order (errors are logged, not fatal).
pub async fn remove_vlans<B: Backend, K: Kernel>(
    backend: &B,
    net: &K,
    vlans: &[plan::vlan::OwnedVlan],
) -> Vec<Result<(), BackendError>> {
    join_all(vlans.iter().map(|v| async move {
        let result = async {
            backend.remove_vlan(v).await?;
            delete_vlan_links(net, v.parent, std::iter::once(v.name.as_str())).await
        }
        .await;
        match &result {
            Ok(()) => info!(interface = %v.name, mac = %v.parent, backend = backend.name(), "removed owned VLAN configuration"),
            Err(e) => warn!(interface = %v.name, mac = %v.parent, backend = backend.name(), error = %e, "VLAN removal failed"),
        }
        result
    }))
    .await
}

/// Remove the plan's removals side by side; each one's result, in order (errors
/// are logged, not fatal).
pub async fn remove_all<B: Backend, K: Kernel>(
    backend: &B,
    net: &K,
    removals: &[Removal],
) -> Vec<Result<(), BackendError>> {
    join_all(removals.iter().map(|r| async move {
        let result = remove_one(backend, net, r).await;
        match &result {
            Ok(()) => info!(interface = %r.owned.name, mac = %r.owned.mac, backend = backend.name(), restored = ?r.restore_name, "removed owned configuration"),
            Err(e) => warn!(interface = %r.owned.name, mac = %r.owned.mac, backend = backend.name(), error = %e, "removal failed"),
        }
        result
    }))
    .await
}

async fn remove_one<B: Backend, K: Kernel>(backend: &B, net: &K, r: &Removal) -> Result<(), BackendError> {
    // Deleting the configuration deletes the kernel name it recorded: keep that on
    // disk until the link has it back.
    let record = match (&r.link, &r.restore_name) {
        (Some(_), Some(name)) => match RemovalRecord::open(r.owned.mac, &r.owned.name, name, &r.owned.given()) {
            Ok(record) => Some(record),
            Err(e) => {
                warn!(interface = %r.owned.name, mac = %r.owned.mac, error = %e, "cannot record the removal: a crash in it would lose the kernel name");
                None
            }
        },
        _ => None,
    };
    if let Err(e) = backend.remove(&r.owned).await {
        // Nothing deleted: the configuration still records the name.
        if let Some(record) = record {
            record.close();
        }
        return Err(e);
    }
    journal::test_pause("removed").await;
    let result = restore_link(net, r).await;
    // Kept when the name could not be given back: the next start tries again.
    if let (Ok(()), Some(record)) = (&result, record) {
        record.close();
    }
    result
}

async fn restore_link<K: Kernel>(net: &K, r: &Removal) -> Result<(), BackendError> {
    let Some(link) = &r.link else { return Ok(()) };
    // The manager takes its addresses off asynchronously (NM after Delete returns);
    // wait for that, and take off what is still ours after a while, so that the NIC
    // is left clean and a later apply does not see "foreign" addresses.
    if !settle(net, link.index, &r.owned.given(), r.owned.accept_ra).await? {
        warn!(interface = %r.owned.name, mac = %r.owned.mac, "addresses still present after removal; deleted them");
    }
    if let Some(name) = &r.restore_name {
        net.rename(link.index, name, &r.owned.given()).await?;
    }
    // The MTU it had before, where the manager does not put it back itself.
    if let Some(mtu) = r.owned.original_mtu
        && let Some(now) = net.link(link.index).await?
        && now.mtu != mtu
    {
        net.set_mtu(link.index, &now.name, mtu).await?;
    }
    Ok(())
}

/// Wait up to [`REMOVAL_SETTLE`] for the manager to take `addresses` off the link
/// (with `slaac`, every IPv6 address it took from router advertisements too), then
/// delete those still there. `false` when some had to be deleted.
pub(super) async fn settle<K: Kernel>(
    net: &K,
    index: u32,
    addresses: &[ipnet::IpNet],
    slaac: bool,
) -> Result<bool, BackendError> {
    let deadline = Instant::now() + REMOVAL_SETTLE;
    loop {
        let left: Vec<ipnet::IpNet> = match net.link(index).await? {
            Some(l) => l
                .given_addresses()
                .filter(|a| addresses.contains(a) || (slaac && matches!(a, ipnet::IpNet::V6(_))))
                .copied()
                .collect(),
            None => return Ok(true),
        };
        if left.is_empty() {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            net.delete_addresses(index, &left).await?;
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// How long a removal waits for the manager to take its addresses off.
const REMOVAL_SETTLE: Duration = Duration::from_secs(2);

/// How an interface's change is verified: within `timeout`, and, with `guard`, the
/// API server still reached as before.
#[derive(Clone, Copy)]
pub struct Verify<'a> {
    /// How long the link may take to reach the desired state.
    pub timeout: Duration,
    /// The API server's path and handshake, as they were before.
    pub guard: Option<&'a Guard<'a>>,
}

/// Netlink events about links while a plan is applied, so that verify looks at a
/// link when it changed rather than in a loop. `None` in the channel: events were
/// lost, anything may have changed.
struct Changes {
    tx: broadcast::Sender<Option<u32>>,
    task: tokio::task::JoinHandle<()>,
}

impl Changes {
    /// `None` when netlink events cannot be had: verify then looks every
    /// [`VERIFY_FALLBACK`].
    fn start<K: Kernel>(net: &K) -> Option<Changes> {
        let mut events = match net.subscribe() {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, "cannot subscribe to netlink events; verify polls instead");
                return None;
            }
        };
        let (tx, _) = broadcast::channel(1024);
        let send = tx.clone();
        let task = tokio::spawn(async move {
            while let Some(e) = events.recv().await {
                let index = match e {
                    netlink::Event::Link { index, .. } | netlink::Event::Address { index } => Some(index),
                    netlink::Event::Overrun => None,
                };
                // No receiver now: no verify waits.
                let _ = send.send(index);
            }
        });
        Some(Changes { tx, task })
    }
}

impl Drop for Changes {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One transaction's view of [`Changes`]: taken before the transaction begins, so
/// that nothing its own steps cause is missed.
struct Watcher(Option<broadcast::Receiver<Option<u32>>>);

impl Watcher {
    fn of(changes: Option<&Changes>) -> Self {
        Watcher(changes.map(|c| c.tx.subscribe()))
    }

    /// Until link `index` changed (or events were lost), at most `wait`.
    async fn changed(&mut self, index: u32, wait: Duration) {
        let Some(rx) = &mut self.0 else {
            tokio::time::sleep(wait).await;
            return;
        };
        let _ = tokio::time::timeout(wait, async {
            loop {
                match rx.recv().await {
                    Ok(Some(i)) if i != index => continue,
                    Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
                    _ => return,
                }
            }
        })
        .await;
    }
}

/// Apply the interfaces of `plan` (not its removals; see [`remove_all`]): one
/// outcome per interface, in the plan's order.
pub async fn apply_plan<B: Backend, K: Kernel>(backend: &B, net: &K, plan: &Plan, verify: Verify<'_>) -> Vec<Outcome> {
    let mut outcomes: Vec<Option<Outcome>> = plan.interfaces.iter().map(settled).collect();
    let waves = plan.waves();
    let changes = if waves.is_empty() { None } else { Changes::start(net) };
    for wave in waves {
        // A wave holds only steps that apply, each with its target.
        let steps: Vec<(usize, &InterfacePlan, &Target)> = wave
            .into_iter()
            .filter_map(|i| plan.interfaces.get(i).and_then(|ip| ip.step.target().map(|t| (i, ip, t))))
            .collect();
        let done = join_all(steps.iter().map(|&(_, ip, target)| {
            let watcher = Watcher::of(changes.as_ref());
            apply_one(backend, net, ip, target, verify, watcher)
        }))
        .await;
        for ((i, _, _), outcome) in steps.into_iter().zip(done) {
            outcomes[i] = Some(outcome);
        }
    }
    outcomes.into_iter().map(|o| o.unwrap_or_else(Outcome::pending)).collect()
}

/// The outcomes to report before applying: settled interfaces as they are, planned
/// repairs as `Drifted`, everything else `Pending`.
pub fn before_applying(plan: &Plan) -> Vec<Outcome> {
    plan.interfaces
        .iter()
        .map(|ip| match &ip.step {
            Step::Update { change: plan::Change::Drift(d), .. } => Outcome {
                state: InterfaceState::Drifted,
                reason: Reason::Drifted,
                message: d.join("; "),
                ..Outcome::pending()
            },
            _ => settled(ip).unwrap_or_else(Outcome::pending),
        })
        .collect()
}

/// Interfaces whose outcome is known without touching anything.
fn settled(ip: &InterfacePlan) -> Option<Outcome> {
    let (state, reason, message) = match &ip.step {
        Step::Nothing => (InterfaceState::Configured, Reason::Configured, configured_message(ip)),
        // Configured before: the NIC was detached (hot-unplugged, or its port
        // detached in the cloud). Its name stays reserved (naming) and its
        // configuration is kept, so that it comes back as it was.
        Step::NotFound => match (&ip.owned, &ip.name) {
            (Some(_), Some(name)) => (
                InterfaceState::NotFound,
                Reason::Detached,
                format!(
                    "detached: no link with MAC {} on this host; {name} and its configuration are kept for it and \
                     applied when it is attached again",
                    ip.mac
                ),
            ),
            _ => (InterfaceState::NotFound, Reason::MacNotFound, format!("no link with MAC {} on this host", ip.mac)),
        },
        Step::Blocked(b) => (InterfaceState::Blocked, b.reason(), b.to_string()),
        Step::Held(h) => (
            InterfaceState::Failed,
            h.reason.clone(),
            match h.kind {
                HoldKind::UntilSpecChanges => format!("{}; not applied again until its spec changes", h.message),
                HoldKind::Backoff => h.message.clone(),
            },
        ),
        Step::Create { .. } | Step::Update { .. } => return None,
    };
    Some(Outcome { state, reason, message, action: None, retry: Retry::Normal })
}

async fn apply_one<B: Backend, K: Kernel>(
    backend: &B,
    net: &K,
    ip: &InterfacePlan,
    target: &Target,
    verify: Verify<'_>,
    mut watcher: Watcher,
) -> Outcome {
    let Target { link, name } = target;
    let started = Instant::now();
    let mut patience = Patience::default();
    let vlan_links = match vlan_links(net, ip).await {
        Ok(l) => l,
        Err(e) => return Outcome::not_begun(&BackendError::from(e)),
    };
    let begun = loop {
        match backend.begin(link, ip.mac, &vlan_links).await {
            Err(e) if patience.again(&e, "begin").await => continue,
            r => break r,
        }
    };
    let mut txn = match begun {
        Ok(t) => t,
        Err(e) => {
            warn!(interface = %name, mac = %ip.mac, backend = backend.name(), error = %e, message_id = ids::FAILED, "cannot start transaction");
            return Outcome::not_begun(&e);
        }
    };
    // Addresses the link may carry before the change: what multinic gave it
    // earlier, or the taken-over configuration; and while it is renamed back, also
    // what this change gave it.
    let mut given = ip.owned.as_ref().map(plan::Owned::given).unwrap_or_default();
    given.extend(ip.takeover.iter().flat_map(|t| t.addresses.iter().copied()));
    let mut ours = given.clone();
    ours.push(ipnet::IpNet::V4(ip.desired.address));
    ours.extend(ip.desired.ipv6_addresses().map(ipnet::IpNet::V6));
    // What this change adds, which nothing gives back when it is undone.
    let adds: Vec<ipnet::IpNet> = std::iter::once(ipnet::IpNet::V4(ip.desired.address))
        .chain(ip.desired.ipv6_addresses().map(ipnet::IpNet::V6))
        .filter(|a| !given.contains(a))
        .collect();
    let journal = match Journal::open(backend.name(), ip.mac, &link.name, ours.clone(), adds, &txn) {
        Ok(j) => Some(j),
        Err(e) => {
            warn!(interface = %name, mac = %ip.mac, error = %e, "cannot record the transaction in {}: a crash in it would not be undone", journal::DIR);
            None
        }
    };
    journal::test_pause("begun").await;
    let mut renamed_from: Option<String> = None;
    let result: Result<(), BackendError> = async {
        if let Some(from) = target.rename_from() {
            if ip.owned.as_ref().is_some_and(|o| o.active) || ip.takeover.is_some() {
                backend.release(&txn, name, ip.mac).await?;
            }
            let mut given = given.clone();
            if ip.owned.as_ref().is_some_and(|o| o.accept_ra)
                && let Some(now) = net.link(link.index).await?
            {
                // The SLAAC addresses its configuration took are its own too.
                given.extend(now.ipv6().into_iter().map(ipnet::IpNet::V6));
            }
            net.rename(link.index, name, &given).await?;
            renamed_from = Some(from.to_string());
            journal::test_pause("renamed").await;
        }
        let original = ip.owned.as_ref().and_then(|o| o.original_name.clone()).or_else(|| renamed_from.clone());
        let configured = loop {
            match backend.configure(&mut txn, ip, name, original.as_deref()).await {
                Err(e) if patience.again(&e, "configure").await => continue,
                r => break r,
            }
        };
        // Also after a failure: what it created before failing is undone with it.
        if let Some(j) = &journal
            && let Err(e) = j.update(&txn)
        {
            warn!(interface = %name, mac = %ip.mac, error = %e, "cannot record what the transaction created");
        }
        configured?;
        delete_vlan_links(net, ip.mac, ip.vlan_removals.iter().map(|v| v.name.as_str())).await?;
        journal::test_pause("configured").await;
        wait_verified(backend, &txn, net, ip, name, link.index, verify.timeout, &mut watcher).await?;
        match verify.guard {
            Some(guard) => guard.check(net).await.map_err(|source| BackendError::ApiServer {
                iface: name.clone(),
                mac: ip.mac,
                source,
            }),
            None => Ok(()),
        }?;
        journal::test_pause("verified").await;
        Ok(())
    }
    .await;
    let rename_back = |mut message: String| async move {
        if let Some(from) = &renamed_from
            && let Err(rn) = net.rename(link.index, from, &ours).await
        {
            message.push_str(&format!(" (renaming back to {from}: {rn})"));
        }
        message
    };
    if result.is_ok()
        && let Some(j) = &journal
        && let Err(e) = j.committing()
    {
        warn!(interface = %name, mac = %ip.mac, error = %e, "cannot record that the transaction commits");
    }
    let result = match result {
        // A checkpoint that expired before the commit was rolled back by NM itself.
        Ok(()) => backend.commit(txn).await.map_err(|e| (e, None)),
        Err(e) => Err((e, Some(txn))),
    };
    if result.is_ok() {
        journal::test_pause("committed").await;
    }
    // The record goes once the transaction ended: committed, or rolled back below.
    let close = move || {
        if let Some(j) = journal {
            j.close();
        }
    };
    match result {
        Ok(()) => {
            close();
            // Only now, committed: NM's checkpoint rollback would bring a deleted
            // generated profile back as a plain one, without NM_GENERATED.
            if let Some(t) = &ip.takeover {
                match backend.retire(&t.profile, ip.mac).await {
                    Ok(()) => {
                        info!(interface = %name, mac = %ip.mac, profile = %t.profile.id, "took the NIC over from {}", t.profile)
                    }
                    Err(e) => {
                        warn!(interface = %name, mac = %ip.mac, profile = %t.profile.id, error = %e, "cannot retire {}", t.profile)
                    }
                }
            }
            let (action, detail) = match &ip.step {
                Step::Update { change: plan::Change::Drift(d), .. } => {
                    (Action::DriftRepaired, format!("repaired: {}", d.join("; ")))
                }
                Step::Update { .. } => (Action::Updated, "configuration updated".to_string()),
                _ => (Action::Created, "configured".to_string()),
            };
            let message_id = if action == Action::DriftRepaired { ids::DRIFT_REPAIRED } else { ids::CONFIGURED };
            info!(interface = %name, mac = %ip.mac, backend = backend.name(), address = %ip.desired.address, mtu = ip.desired.mtu, elapsed_ms = started.elapsed().as_millis() as u64, action = action.as_str(), message_id, "{detail}");
            let message = configured_message(ip);
            Outcome {
                state: InterfaceState::Configured,
                reason: Reason::Configured,
                message,
                action: Some((action, detail)),
                retry: Retry::Normal,
            }
        }
        Err((e, open)) => {
            // Back under its kernel name first: the configuration that comes back
            // with the rollback may give it addresses again.
            let mut message = rename_back(format!("{e}; rolled back")).await;
            if let Some(txn) = open
                && let Err(rb) = backend.rollback(txn).await
            {
                message.push_str(&format!(" (rollback: {rb})"));
            }
            // The VLAN links this change created, which systemd-networkd keeps.
            let created = ip.vlans.iter().filter(|v| v.owned.is_none() && v.step.applies());
            if let Err(e) = delete_vlan_links(net, ip.mac, created.filter_map(|v| v.name.as_deref())).await {
                message.push_str(&format!(" (deleting its VLAN links: {e})"));
            }
            close();
            error!(interface = %name, mac = %ip.mac, backend = backend.name(), error = %e, message_id = ids::ROLLED_BACK, "apply failed, rolled back");
            let reason = match &e {
                BackendError::ApiServer { .. } => e.reason(),
                _ => Reason::RolledBack,
            };
            Outcome {
                state: InterfaceState::Failed,
                reason,
                message,
                action: Some((Action::RolledBack, e.to_string())),
                retry: e.retry(),
            }
        }
    }
}

/// Transient errors are tried again inside the transaction, a few times with a
/// short, doubling wait, instead of rolling the interface back for a pass.
#[derive(Default)]
struct Patience {
    tries: u32,
}

/// How often a transaction tries a step again after transient errors, and the
/// first wait (then doubled): 100 + 200 + 400 ms.
const TRANSIENT_RETRIES: u32 = 3;
const TRANSIENT_WAIT: Duration = Duration::from_millis(100);

impl Patience {
    /// After the wait, whether to try `step` again after `e`.
    async fn again(&mut self, e: &BackendError, step: &'static str) -> bool {
        if !e.is_transient() || self.tries >= TRANSIENT_RETRIES {
            return false;
        }
        let wait = TRANSIENT_WAIT * 2u32.pow(self.tries);
        self.tries += 1;
        info!(step, error = %e, attempt = self.tries, "transient error: trying again in {} ms", wait.as_millis());
        tokio::time::sleep(wait).await;
        true
    }
}

/// Verified = the kernel shows the desired state (netlink) and the manager itself
/// calls the link configured. The link is looked at when it changed; while the
/// kernel shows it but the manager does not call it configured yet, the manager is
/// asked every [`MANAGER_POLL`]; while the kernel does not show it yet, the manager
/// is asked now and then too: it may know that waiting will not help.
#[allow(clippy::too_many_arguments)] // one transaction's context, used once
async fn wait_verified<B: Backend, K: Kernel>(
    backend: &B,
    txn: &B::Txn,
    net: &K,
    ip: &InterfacePlan,
    name: &str,
    index: u32,
    timeout: Duration,
    watcher: &mut Watcher,
) -> Result<(), BackendError> {
    let start = Instant::now();
    let mut asked = Instant::now();
    loop {
        let mut wait = VERIFY_FALLBACK;
        let diffs = match net.link(index).await? {
            Some(link) => match looks_configured(net, ip, name, &link).await? {
                Ok(()) => match backend.confirm(txn).await {
                    Ok(Readiness::Configured) => return Ok(()),
                    Ok(Readiness::Waiting(why)) => {
                        wait = MANAGER_POLL;
                        vec![why]
                    }
                    // Asked again at the next look, until the timeout.
                    Err(e) if e.is_transient() => vec![e.to_string()],
                    Err(e) => return Err(e),
                },
                Err(mut d) => {
                    if asked.elapsed() >= ASK_MANAGER_AFTER {
                        asked = Instant::now();
                        match backend.confirm(txn).await {
                            Ok(Readiness::Waiting(why)) => d.push(why),
                            Ok(Readiness::Configured) => {}
                            Err(e @ BackendError::OtherFile { .. }) => return Err(e),
                            // A passing D-Bus hiccup: the kernel's view decides.
                            Err(_) => {}
                        }
                    }
                    d
                }
            },
            None => vec!["link vanished".into()],
        };
        if start.elapsed() >= timeout {
            // The manager's last word says why, when it knows (another file wins).
            let mut diffs = diffs;
            match backend.confirm(txn).await {
                Ok(Readiness::Waiting(why)) if !diffs.contains(&why) => diffs.push(why),
                Err(e @ BackendError::OtherFile { .. }) => return Err(e),
                _ => {}
            }
            return Err(BackendError::Verify {
                iface: name.into(),
                mac: ip.mac,
                millis: timeout.as_millis(),
                diffs: diffs.join("; "),
            });
        }
        watcher.changed(index, wait).await;
    }
}

/// The kernel's side of verify: the link as [`plan::verify`] wants it, then its
/// routes: the source-routing table and rule, and no default route the spec does
/// not ask for (router advertisements). Routes make no link event; they are looked
/// at once the link is right.
async fn looks_configured<K: Kernel>(
    net: &K,
    ip: &InterfacePlan,
    name: &str,
    link: &crate::observe::Link,
) -> Result<Result<(), Vec<String>>, BackendError> {
    if let Err(diffs) = plan::verify(&ip.desired, name, link) {
        return Ok(Err(diffs));
    }
    if let Err(diffs) = verify_vlans(net, ip, link.index).await? {
        return Ok(Err(diffs));
    }
    if ip.source.is_none() && !ip.desired.accepts_ra() {
        return Ok(Ok(()));
    }
    let seen = net.routing().await?;
    Ok(plan::verify_routes(&ip.desired, ip.source, link, &seen.defaults, &seen.policy))
}

/// The VLANs of the change as desired on the NIC with index `parent`, and those it
/// removes gone.
async fn verify_vlans<K: Kernel>(
    net: &K,
    ip: &InterfacePlan,
    parent: u32,
) -> Result<Result<(), Vec<String>>, BackendError> {
    let applied: Vec<&plan::vlan::VlanPlan> = ip.vlans.iter().filter(|v| v.step.applies()).collect();
    if applied.is_empty() && ip.vlan_removals.is_empty() {
        return Ok(Ok(()));
    }
    let links = net.links().await?;
    // Routes make no link event: read once the links are right.
    let routed = applied.iter().any(|v| v.source.is_some());
    let mut diffs = Vec::new();
    let mut found = Vec::new();
    for v in &applied {
        let name = v.name.as_deref().unwrap_or_default();
        match links.iter().find(|l| l.is_called(name) && l.kind.as_deref() == Some("vlan") && l.lower == Some(parent)) {
            Some(l) => match plan::vlan::verify(&v.desired, name, l) {
                Ok(()) => found.push((v, l.index)),
                Err(d) => diffs.extend(d),
            },
            None => diffs.push(format!("{name} does not exist")),
        }
    }
    if routed && diffs.is_empty() {
        let seen = net.routing().await?.policy;
        for (v, index) in found {
            if let Some(sr) = v.source {
                diffs.extend(plan::source::verify(&v.desired.ip, sr, index, &seen).err().unwrap_or_default());
            }
        }
    }
    for o in &ip.vlan_removals {
        if links.iter().any(|l| l.is_called(&o.name) && l.kind.as_deref() == Some("vlan") && l.mac == Some(ip.mac)) {
            diffs.push(format!("{} still exists", o.name));
        }
    }
    Ok(if diffs.is_empty() { Ok(()) } else { Err(diffs) })
}

/// Longest verify waits for an event of the link before it looks anyway.
const VERIFY_FALLBACK: Duration = Duration::from_millis(50);
/// How often the manager is asked once the kernel shows the desired state: the
/// manager's own state makes no netlink event.
const MANAGER_POLL: Duration = Duration::from_millis(10);
/// How often the manager is asked while the kernel is not there yet.
const ASK_MANAGER_AFTER: Duration = Duration::from_millis(200);

#[cfg(test)]
mod tests {
    use super::*;

    /// Only a change that moved the route to the API server is held until its spec
    /// changes: a handshake that fails over the same route may be the API server's
    /// own trouble, and the next pass tries again.
    #[test]
    fn only_a_moved_route_holds_a_configuration() {
        let mac: multinic_api::MacAddr = "fa:16:3e:00:00:01".parse().unwrap();
        let api = |source| BackendError::ApiServer { iface: "multinic0".into(), mac, source };
        let moved = api(Unreachable::PathChanged {
            server: "203.0.113.10".parse().unwrap(),
            before: "via 192.0.2.1 dev eth0".into(),
            after: "via 10.60.0.1 dev multinic0".into(),
        });
        assert_eq!(moved.retry(), Retry::Held);
        assert_eq!(moved.reason(), Reason::APIServerUnreachable);
        let server = "203.0.113.10:6443".parse().unwrap();
        let timeout = api(Unreachable::Timeout { server, millis: 3000 });
        assert_eq!(timeout.retry(), Retry::Normal);
        assert_eq!(timeout.reason(), Reason::APIServerUnreachable);
        let settings = BackendError::NetworkdSettings { iface: "ens4".into(), mac, why: "restart it".into() };
        assert_eq!(settings.retry(), Retry::Soon);
    }
}
