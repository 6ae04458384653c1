// SPDX-License-Identifier: Apache-2.0
//! One reconcile pass, shared by `apply --file` and `run`: [`prepare`] (observe →
//! plan), then [`run`] (removals, the interface transactions, the host looked at
//! again, the status block). Each interface travels as one [`Record`]: its plan
//! (desired spec, link, what multinic owns, step and target name) and its outcome
//! (state, reason, what was done, when to retry); status, Events and the retry
//! state are derived from the records. Validation has happened before; interfaces
//! with errors are reported as failed and the others go ahead.

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use multinic_api::status::{FoldInput, InterfaceResult, InterfaceState, fold};
use multinic_api::{MacAddr, MultiNicNodeConfig, MultiNicNodeConfigStatus, Reason, ValidSpec, spec_hash};

use crate::backend::{
    Backend, BackendError, Outcome, Retry, Verify, apply_plan, before_applying, remove_all, remove_vlans,
};
use crate::config::Settings;
use crate::observe::reach::{ApiServer, Guard};
use crate::observe::{Host, Kernel};
use crate::plan::vlan::OwnedVlan;
use crate::plan::{self, Hold, HoldKind, InterfacePlan, Owned, Plan, Removal};
use crate::report;
use crate::retry::Backoff;
use crate::source;

/// One interface through a pass: what the planner made of it and how it ended.
#[derive(Clone, Debug)]
pub struct Record {
    /// The desired spec, the link found, what multinic owns for it, the step and
    /// the name it gets.
    pub plan: InterfacePlan,
    /// How it ended (or stands, before the pass applies anything).
    pub outcome: Outcome,
}

/// The plan's interfaces with their outcomes (one each, in order).
fn records(plan: &Plan, outcomes: Vec<Outcome>) -> Vec<Record> {
    plan.interfaces.iter().cloned().zip(outcomes).map(|(plan, outcome)| Record { plan, outcome }).collect()
}

/// The records before anything is applied: settled interfaces as they are, planned
/// repairs `Drifted`, the rest `Pending`.
pub fn planned(plan: &Plan) -> Vec<Record> {
    records(plan, before_applying(plan))
}

/// What the host looks like and what would be done.
pub struct Prepared {
    /// The plan.
    pub plan: Plan,
    /// What multinic owned before the pass.
    pub owned: Vec<Owned>,
    /// The VLANs multinic owned before the pass.
    pub vlans: Vec<OwnedVlan>,
    /// The instance-id gate's refusal: `(reason, message)`.
    pub gate: Option<(Reason, String)>,
    /// What the host looked like.
    pub host: Host,
}

/// Everything the classification needs: netlink's view, the path to the API
/// server (when there is one), the manager's generated configurations; and what
/// multinic owns.
pub async fn observe<B: Backend, K: Kernel>(
    net: &K,
    backend: &B,
    api: Option<IpAddr>,
) -> Result<Observed, BackendError> {
    let (mut host, managed) =
        tokio::try_join!(async { net.host(api).await.map_err(BackendError::from) }, backend.read())?;
    host.generated = managed.generated;
    Ok(Observed { host, owned: managed.owned, vlans: managed.vlans })
}

/// The host and what multinic owns on it.
pub struct Observed {
    /// The host.
    pub host: Host,
    /// multinic's NIC configurations.
    pub owned: Vec<Owned>,
    /// multinic's VLAN configurations.
    pub vlans: Vec<OwnedVlan>,
}

/// Observe and plan; reads only. `api` is the API server's address, when the spec
/// comes from one; `holds` are the configurations not to apply now, given the host.
pub async fn prepare<B: Backend, K: Kernel>(
    settings: &Settings,
    net: &K,
    backend: &B,
    valid: &ValidSpec,
    api: Option<IpAddr>,
    holds: impl FnOnce(&Host) -> Vec<Hold>,
) -> Result<Prepared, BackendError> {
    let gate = source::check_instance_id(valid.instance_id.as_deref(), &settings.system_uuid_path).err();
    let Observed { host, owned, vlans } = observe(net, backend, api).await?;
    let keep = valid.keep(owned.iter().map(|o| o.mac));
    let holds = holds(&host);
    let plan = plan::plan(
        &valid.interfaces,
        &host,
        plan::Context { owned: &owned, keep: &keep, holds: &holds, policy: &settings.policy, vlans: &vlans },
    );
    Ok(Prepared { plan, owned, vlans, gate, host })
}

/// Longest wait for the API server's TLS handshake after a change.
const API_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// What a pass did.
pub struct Done {
    /// One record per planned interface.
    pub records: Vec<Record>,
    /// A removal failed (logged).
    pub removal_failed: bool,
    /// The host as the pass left it (as it found it, when it cannot be read again).
    pub host: Host,
    /// What multinic owns now.
    pub owned: Vec<Owned>,
    /// The VLANs multinic owns now.
    pub vlans: Vec<OwnedVlan>,
    /// The status block.
    pub status: MultiNicNodeConfigStatus,
    /// The reasons of the failed attempts put on a backoff.
    pub retries: Vec<Reason>,
}

/// Apply a prepared plan and report on it: removals and transactions, the retry
/// state of the interfaces that failed (with `backoff`), the host looked at again,
/// the status block. `cr` carries the status the new one is compared with; with
/// `api`, every change must leave the API server reached as before.
#[allow(clippy::too_many_arguments)] // one pass's inputs, passed once by each command
pub async fn run<B: Backend, K: Kernel>(
    settings: &Settings,
    net: &K,
    backend: &B,
    cr: &MultiNicNodeConfig,
    valid: &ValidSpec,
    prepared: &Prepared,
    api: Option<&ApiServer>,
    backoff: Option<&Mutex<Backoff>>,
) -> Done {
    let executed = execute(settings, net, backend, prepared, valid, api).await;
    let mut records = records(&prepared.plan, executed.outcomes);
    // Carrier and link as they were before the attempt: the attempt's own rename
    // back flaps the link, and a carrier seen coming back would end the wait.
    let retries = backoff.map_or_else(Vec::new, |b| {
        b.lock().expect("not poisoned").record(&mut records, &prepared.host, Instant::now())
    });
    let (host, owned, vlans) = match observe(net, backend, api.map(|a| a.addr.ip())).await {
        Ok(seen) => (seen.host, seen.owned, seen.vlans),
        Err(e) => {
            tracing::warn!(error = %e, "cannot look at the host again after the pass; reporting what it was before");
            (prepared.host.clone(), prepared.owned.clone(), prepared.vlans.clone())
        }
    };
    let discovered = report::discovered(&host, &prepared.plan, &owned, &settings.policy);
    let status = status(cr, valid, prepared, &records, backend.name(), discovered);
    Done { records, removal_failed: executed.removal_failed, host, owned, vlans, status, retries }
}

struct Executed {
    /// One outcome per planned interface (all pending when nothing was applied).
    outcomes: Vec<Outcome>,
    removal_failed: bool,
}

/// Apply a prepared plan, unless the gate refused or the spec as a whole is invalid.
async fn execute<B: Backend, K: Kernel>(
    settings: &Settings,
    net: &K,
    backend: &B,
    prepared: &Prepared,
    valid: &ValidSpec,
    api: Option<&ApiServer>,
) -> Executed {
    let nothing = |removal_failed| Executed {
        outcomes: prepared.plan.interfaces.iter().map(|_| Outcome::pending()).collect(),
        removal_failed,
    };
    if let Some((reason, message)) = &prepared.gate {
        tracing::error!(node = %valid.node_name, reason = %reason, "{message}");
        return nothing(false);
    }
    if valid.spec_errors().next().is_some() {
        return nothing(false);
    }
    // Logged one by one as they end. A NIC's VLANs go before it.
    let vlans_failed = remove_vlans(backend, net, &prepared.plan.vlan_removals).await.iter().any(Result::is_err);
    let removal_failed =
        remove_all(backend, net, &prepared.plan.removals).await.iter().any(Result::is_err) || vlans_failed;
    // Verify gets half of the time NM waits before it rolls a checkpoint back by
    // itself; the API server's handshake a quarter, at most a few seconds.
    let verify_timeout = settings.rollback_timeout / 2;
    let guard = match api {
        Some(server) if prepared.plan.guarded && !prepared.plan.waves().is_empty() => {
            let timeout = (settings.rollback_timeout / 4).min(API_HANDSHAKE_TIMEOUT);
            match Guard::measure(server, net, timeout).await {
                Ok(g) => Some(g),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the route to the API server; applying nothing this pass");
                    return nothing(removal_failed);
                }
            }
        }
        _ => None,
    };
    let outcomes =
        apply_plan(backend, net, &prepared.plan, Verify { timeout: verify_timeout, guard: guard.as_ref() }).await;
    Executed { outcomes, removal_failed }
}

/// What [`cleanup`] did: each configuration multinic owned, and the error that
/// kept it, if any.
pub struct Cleaned {
    /// The removals, in order, with their errors.
    pub removals: Vec<(Removal, Option<BackendError>)>,
    /// The VLANs removed before them, with their errors.
    pub vlans: Vec<(OwnedVlan, Option<BackendError>)>,
}

impl Cleaned {
    /// `name (mac): error` of each removal that failed.
    pub fn failures(&self) -> Vec<String> {
        let vlans = self.vlans.iter().map(|(v, e)| (v.name.as_str(), v.parent, e));
        let nics = self.removals.iter().map(|(r, e)| (r.owned.name.as_str(), r.owned.mac, e));
        let failed = vlans.chain(nics).filter_map(|(name, mac, e)| e.as_ref().map(|e| (name, mac, e)));
        failed.map(|(name, mac, e)| format!("{name} ({mac}): {e}")).collect()
    }

    /// `removed multinic0.100, multinic0, multinic1`, or `nothing to remove`.
    pub fn note(&self) -> String {
        let vlans = self.vlans.iter().map(|(v, _)| v.name.as_str());
        let names: Vec<&str> = vlans.chain(self.removals.iter().map(|(r, _)| r.owned.name.as_str())).collect();
        if names.is_empty() { "nothing to remove".to_string() } else { format!("removed {}", names.join(", ")) }
    }
}

/// Remove every configuration multinic owns on this host and give the links their
/// kernel names back, and nothing else: `multinicd cleanup`, and the service when
/// its CR is deleted. A removal that fails leaves the others going.
pub async fn cleanup<B: Backend, K: Kernel>(
    settings: &Settings,
    net: &K,
    backend: &B,
    api: Option<IpAddr>,
) -> Result<Cleaned, BackendError> {
    let Observed { host, owned, vlans } = observe(net, backend, api).await?;
    let plan = plan::cleanup(&host, &owned, &vlans, &settings.policy);
    let vlan_errors = remove_vlans(backend, net, &plan.vlan_removals).await.into_iter().map(Result::err);
    let vlans = plan.vlan_removals.iter().cloned().zip(vlan_errors).collect();
    let errors = remove_all(backend, net, &plan.removals).await.into_iter().map(Result::err);
    Ok(Cleaned { removals: plan.removals.into_iter().zip(errors).collect(), vlans })
}

/// Whether the host, as the pass left it, needs a change that nothing holds back,
/// or no longer is what the pass reports: it changed while the pass ran (a drift,
/// a NIC that appeared or was detached, a carrier back), and the events of that
/// were taken for the pass's own. Interfaces waiting for an operator's step on the
/// host have their own recheck.
pub fn unsettled(settings: &Settings, prepared: &Prepared, valid: &ValidSpec, done: &Done, holds: &[Hold]) -> bool {
    let Done { records, host, owned, vlans, .. } = done;
    if prepared.gate.is_some() || valid.spec_errors().next().is_some() {
        return false;
    }
    let waiting: Vec<MacAddr> = records.iter().filter(|r| r.outcome.retry == Retry::Soon).map(|r| r.plan.mac).collect();
    let keep = valid.keep(owned.iter().map(|o| o.mac));
    let cx = plan::Context { owned, keep: &keep, holds, policy: &settings.policy, vlans };
    let planned = |mac: MacAddr| records.iter().find(|r| r.plan.mac == mac).map(|r| &r.plan.step);
    plan::plan(&valid.interfaces, host, cx).interfaces.iter().any(|ip| {
        !waiting.contains(&ip.mac)
            && match &ip.step {
                plan::Step::Create { .. } | plan::Step::Update { .. } => true,
                // Gone or refused since the pass looked: its status says otherwise.
                plan::Step::NotFound => !matches!(planned(ip.mac), Some(plan::Step::NotFound)),
                plan::Step::Blocked(_) => !matches!(planned(ip.mac), Some(plan::Step::Blocked(_))),
                plan::Step::Nothing | plan::Step::Held(_) => false,
            }
    })
}

/// The configurations not to apply again after this pass: those still held, and
/// those rolled back now because they moved the route to the API server.
pub fn holds(records: &[Record]) -> Vec<Hold> {
    records
        .iter()
        .filter_map(|r| match &r.plan.step {
            plan::Step::Held(h) if h.kind == HoldKind::UntilSpecChanges => Some(h.clone()),
            _ if r.outcome.retry == Retry::Held => Some(Hold {
                mac: r.plan.mac,
                config_hash: r.plan.config_hash.clone(),
                reason: Reason::APIServerUnreachable,
                message: r.outcome.message.clone(),
                kind: HoldKind::UntilSpecChanges,
            }),
            _ => None,
        })
        .collect()
}

/// The status block of a pass, from its records (also [`planned`] ones: the drift
/// reported before it is repaired).
pub fn status(
    cr: &MultiNicNodeConfig,
    valid: &ValidSpec,
    prepared: &Prepared,
    records: &[Record],
    backend: &str,
    discovered: Vec<multinic_api::DiscoveredNic>,
) -> MultiNicNodeConfigStatus {
    let mut results = report::results(records);
    results.extend(invalid_results(cr, valid, &prepared.owned));
    let spec_failure = prepared.gate.clone().or_else(|| {
        let errors: Vec<String> = valid.spec_errors().map(|e| e.to_string()).collect();
        (!errors.is_empty()).then(|| (Reason::InvalidSpec, errors.join("; ")))
    });
    fold(
        &results,
        FoldInput {
            generation: cr.metadata.generation,
            spec_hash: spec_hash(&cr.spec),
            backend: Some(backend.to_string()),
            spec_failure,
            discovered,
            previous: cr.status.as_ref(),
        },
        multinic_api::now(),
    )
}

/// The status block of a pass that could not read the host or the network manager:
/// the interfaces as the previous status had them (they keep their configuration),
/// the node failed with the backend's reason.
pub fn unavailable_status(cr: &MultiNicNodeConfig, error: &BackendError, backend: &str) -> MultiNicNodeConfigStatus {
    let previous = cr.status.as_ref();
    let results: Vec<InterfaceResult> = previous
        .map(|p| {
            p.interface_statuses
                .iter()
                .map(|(key, s)| InterfaceResult {
                    key: key.clone(),
                    id: s.id,
                    mac_address: s.mac_address.clone(),
                    address: s.address.clone(),
                    mtu: s.mtu,
                    state: s.state,
                    reason: s.reason.clone().unwrap_or(Reason::Pending),
                    message: s.message.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    let message = format!("{error}; the interfaces keep their last configuration; retrying");
    fold(
        &results,
        FoldInput {
            generation: previous.and_then(|p| p.observed_generation),
            spec_hash: previous.and_then(|p| p.spec_hash.clone()).unwrap_or_else(|| spec_hash(&cr.spec)),
            backend: Some(backend.to_string()),
            spec_failure: Some((error.reason(), message)),
            discovered: previous.map(|p| p.discovered.clone()).unwrap_or_default(),
            previous,
        },
        multinic_api::now(),
    )
}

/// Interfaces left out by validation, reported as failed with their errors.
fn invalid_results(cr: &MultiNicNodeConfig, valid: &ValidSpec, owned: &[Owned]) -> Vec<InterfaceResult> {
    let mut bad: Vec<usize> = valid.errors.iter().filter_map(|e| e.interface).collect();
    bad.sort_unstable();
    bad.dedup();
    bad.into_iter()
        .filter_map(|i| cr.spec.interfaces.get(i).map(|spec| (i, spec)))
        .map(|(i, spec)| {
            let mut messages: Vec<String> =
                valid.errors.iter().filter(|e| e.interface == Some(i)).map(|e| e.to_string()).collect();
            let mac = spec.mac_address.parse::<multinic_api::MacAddr>().ok();
            messages.push(match owned.iter().find(|o| Some(o.mac) == mac) {
                Some(o) => format!("nothing changed: the last applied configuration of {} is kept", o.name),
                None => "nothing applied".into(),
            });
            InterfaceResult {
                key: spec.name.clone().unwrap_or_else(|| format!("interfaces[{i}]")),
                id: spec.id,
                mac_address: spec.mac_address.to_ascii_lowercase(),
                address: Some(format!("{}/{}", spec.address, spec.cidr.rsplit('/').next().unwrap_or("?"))),
                mtu: spec.mtu,
                state: InterfaceState::Failed,
                reason: Reason::InvalidSpec,
                message: messages.join("; "),
            }
        })
        .collect()
}
