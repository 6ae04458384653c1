// SPDX-License-Identifier: Apache-2.0
//! One reconcile pass, shared by `apply --file` and `run`: observe → plan →
//! (removals, then the interface transactions) → the status block.
//! Validation has happened before; interfaces with errors are reported as failed
//! and the others go ahead.

use multinic_api::status::{FoldInput, InterfaceResult, InterfaceState, fold};
use multinic_api::{MacAddr, MultiNicNodeConfig, MultiNicNodeConfigStatus, Reason, ValidSpec, spec_hash};

use crate::backend::{Backend, BackendError, Outcome, Retry, Verify, apply_plan, remove_all};
use crate::config::Settings;
use std::net::IpAddr;

use crate::observe::Host;
use crate::observe::Kernel;
use crate::observe::reach::{ApiServer, Guard};
use crate::plan::{self, Hold, HoldKind, Owned, Plan};
use crate::report;
use crate::source;

/// What the host looks like and what would be done.
pub struct Prepared {
    /// The plan.
    pub plan: Plan,
    /// What multinic owned before the pass.
    pub owned: Vec<Owned>,
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
) -> Result<(Host, Vec<Owned>), BackendError> {
    let (mut host, managed) =
        tokio::try_join!(async { net.host(api).await.map_err(BackendError::from) }, backend.read())?;
    host.generated = managed.generated;
    Ok((host, managed.owned))
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
    let (host, owned) = observe(net, backend, api).await?;
    let keep = valid.keep(owned.iter().map(|o| o.mac));
    let holds = holds(&host);
    let plan = plan::plan(
        &valid.interfaces,
        &host,
        plan::Context { owned: &owned, keep: &keep, holds: &holds, policy: &settings.policy },
    );
    Ok(Prepared { plan, owned, gate, host })
}

/// Longest wait for the API server's TLS handshake after a change.
const API_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// What a pass did.
pub struct Executed {
    /// One outcome per interface that was settled or applied.
    pub outcomes: Vec<Outcome>,
    /// A removal failed (logged).
    pub removal_failed: bool,
}

/// Apply a prepared plan, unless the gate refused or the spec as a whole is invalid.
/// With `api`, every change must leave the API server reached as before.
pub async fn execute<B: Backend, K: Kernel>(
    settings: &Settings,
    net: &K,
    backend: &B,
    prepared: &Prepared,
    valid: &ValidSpec,
    api: Option<&ApiServer>,
) -> Executed {
    if let Some((reason, message)) = &prepared.gate {
        tracing::error!(node = %valid.node_name, reason = %reason, "{message}");
        return Executed { outcomes: Vec::new(), removal_failed: false };
    }
    if valid.spec_errors().next().is_some() {
        return Executed { outcomes: Vec::new(), removal_failed: false };
    }
    let mut removal_failed = false;
    for r in remove_all(backend, net, &prepared.plan.removals).await {
        if let Some(e) = r.error {
            removal_failed = true;
            tracing::warn!(interface = %r.name, mac = %r.mac, error = %e, "removal failed");
        }
    }
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
                    return Executed { outcomes: Vec::new(), removal_failed };
                }
            }
        }
        _ => None,
    };
    let outcomes =
        apply_plan(backend, net, &prepared.plan, Verify { timeout: verify_timeout, guard: guard.as_ref() }).await;
    Executed { outcomes, removal_failed }
}

/// Whether the host, as the pass left it, needs a change that nothing holds back:
/// it changed while the pass ran (a drift, a NIC that appeared, a carrier back),
/// and the events of that were taken for the pass's own. Interfaces waiting for an
/// operator's step on the host have their own recheck.
pub fn unsettled(
    settings: &Settings,
    prepared: &Prepared,
    outcomes: &[Outcome],
    valid: &ValidSpec,
    host: &Host,
    owned: &[Owned],
    holds: &[Hold],
) -> bool {
    if prepared.gate.is_some() || valid.spec_errors().next().is_some() {
        return false;
    }
    let waiting: Vec<MacAddr> = outcomes
        .iter()
        .filter(|o| o.retry == Retry::Soon)
        .filter_map(|o| prepared.plan.interfaces.get(o.index).map(|ip| ip.mac))
        .collect();
    let keep = valid.keep(owned.iter().map(|o| o.mac));
    let cx = plan::Context { owned, keep: &keep, holds, policy: &settings.policy };
    plan::plan(&valid.interfaces, host, cx)
        .interfaces
        .iter()
        .any(|ip| !waiting.contains(&ip.mac) && matches!(ip.step, plan::Step::Create | plan::Step::Update(_)))
}

/// The configurations not to apply again after this pass: those still held, and
/// those rolled back now because they moved the route to the API server.
pub fn holds(plan: &Plan, outcomes: &[Outcome]) -> Vec<Hold> {
    let still = plan.interfaces.iter().filter_map(|ip| match &ip.step {
        plan::Step::Held(h) if h.kind == HoldKind::UntilSpecChanges => Some(h.clone()),
        _ => None,
    });
    let new = outcomes.iter().filter(|o| o.retry == Retry::Held).filter_map(|o| {
        let ip = plan.interfaces.get(o.index)?;
        Some(Hold {
            mac: ip.mac,
            config_hash: ip.config_hash.clone(),
            reason: Reason::APIServerUnreachable,
            message: o.message.clone(),
            kind: HoldKind::UntilSpecChanges,
        })
    });
    still.chain(new).collect()
}

/// The status block of a pass. `outcomes` may be empty (gate refused, or only
/// reporting drift before a repair); `drifted` marks planned repairs as `Drifted`.
pub fn status(
    cr: &MultiNicNodeConfig,
    valid: &ValidSpec,
    prepared: &Prepared,
    outcomes: &[Outcome],
    backend: &str,
    discovered: Vec<multinic_api::DiscoveredNic>,
) -> MultiNicNodeConfigStatus {
    let mut results = report::results(&prepared.plan, outcomes);
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
