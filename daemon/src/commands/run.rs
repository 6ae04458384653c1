//! `multinicd run`: the service. Watches only this node's `MultiNicNodeConfig`
//! (field selector on its name), reconciles it on spec changes, on netlink events
//! that concern its NICs (drift, hot-plug) and every `resyncInterval`, writes the
//! status (only when it changed) and Events (on transitions), and cleans up behind
//! the `multinic.io/cleanup` finalizer when the CR is deleted. Speaks the systemd
//! notify protocol: READY after the first pass, STATUS, WATCHDOG, STOPPING.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kube::api::{ApiResource, DynamicObject};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::Recorder;
use kube::runtime::finalizer::{Event as Finalized, finalizer};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use multinic_api::{FINALIZER, MacAddr, MultiNicNodeConfig, MultiNicNodeConfigStatus, ValidSpec, decode};
use tracing::{info, warn};

use super::{Exit, Fatal, connect};
use crate::backend::{AnyBackend, Backend, BackendError, Retry, before_applying, remove_all};
use crate::config::Settings;
use crate::notify::{notify, watchdog_interval};
use crate::observe::netlink::{self, Event, Netlink};
use crate::observe::reach::ApiServer;
use crate::pass;
use crate::plan::{self, Change, Hold, Step};
use crate::report;
use crate::source::cluster;

/// A failed reconcile (retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The network side.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The API server.
    #[error("API server: {0}")]
    Kube(#[from] kube::Error),
    /// Cleanup left something behind.
    #[error("cleanup incomplete: {0}")]
    Cleanup(String),
}

/// How soon a pass refused for the host's settings looks again.
const HOST_RECHECK: Duration = Duration::from_secs(10);

struct Ctx {
    settings: Settings,
    net: Netlink,
    backend: AnyBackend,
    api: Api<DynamicObject>,
    recorder: Recorder,
    /// The API server: its path is part of the primary network, and every change
    /// must leave it reachable.
    api_server: Option<ApiServer>,
    /// Configurations rolled back because they cut the API server off: not
    /// applied again until their spec changes.
    holds: Mutex<Vec<Hold>>,
    /// MACs and link indices whose netlink events may need a pass.
    watched: Mutex<Watched>,
    ready: AtomicBool,
    /// The status last written, by CR uid: the watch may hand us the object before
    /// our own write shows in it, and the daemon is the only writer of status.
    written: Mutex<Option<(String, MultiNicNodeConfigStatus)>>,
}

impl Ctx {
    fn api_ip(&self) -> Option<std::net::IpAddr> {
        self.api_server.as_ref().map(|a| a.addr.ip())
    }
}

#[derive(Default)]
struct Watched {
    macs: HashSet<MacAddr>,
    indices: HashSet<u32>,
}

/// Run the service until SIGTERM or SIGINT.
pub async fn run(settings: &Settings) -> Result<Exit, Fatal> {
    let node = settings.node_name.clone();
    if node.is_empty() {
        return Err(Fatal::invalid("nodeName is empty and the hostname is unknown; set nodeName in the config"));
    }
    notify(&["STATUS=connecting to the network backend and the API server"]);
    let (client, api_server) =
        cluster::client(&settings.kubeconfig).await.map_err(|message| Fatal { exit: Exit::Unreachable, message })?;
    let (net, backend) = connect(settings).await?;
    let api = cluster::raw_api(client.clone(), &settings.namespace);
    let ctx = Arc::new(Ctx {
        settings: settings.clone(),
        net,
        backend,
        api: api.clone(),
        api_server,
        holds: Mutex::new(Vec::new()),
        recorder: cluster::recorder(client, &node),
        watched: Mutex::new(Watched::default()),
        ready: AtomicBool::new(false),
        written: Mutex::new(None),
    });
    info!(node = %node, namespace = %settings.namespace, backend = ctx.backend.name(), "multinicd starting");

    // Without a CR there is no first pass: be READY once we know that, or once we
    // know the API server cannot be reached (we keep retrying).
    match api.get_opt(&node).await {
        Ok(Some(_)) => notify(&["STATUS=reconciling"]),
        Ok(None) => mark_ready(&ctx, &format!("waiting: no MultiNicNodeConfig {}/{node} yet", settings.namespace)),
        Err(e) => {
            warn!(error = %e, "cannot reach the API server; retrying with backoff");
            mark_ready(&ctx, &format!("cannot reach the API server ({e}); retrying"));
        }
    }
    spawn_watchdog();

    let events = netlink::subscribe()?;
    let relevant = {
        let ctx = ctx.clone();
        tokio_stream(events).filter_map(move |e| {
            let hit = concerns(&ctx, &e);
            async move { hit.then_some(()) }
        })
    };
    let watch = watcher::Config::default().fields(&format!("metadata.name={node}"));
    Controller::new_with(api, watch, ApiResource::erase::<MultiNicNodeConfig>(&()))
        .reconcile_all_on(relevant)
        .graceful_shutdown_on(shutdown_signal())
        .run(reconcile, error_policy, ctx.clone())
        .for_each(|result| {
            if let Err(e) = result {
                warn!(error = %e, "controller");
            }
            futures::future::ready(())
        })
        .await;
    notify(&["STOPPING=1", "STATUS=stopped"]);
    info!(node = %node, "multinicd stopped");
    Ok(Exit::Ok)
}

fn concerns(ctx: &Ctx, e: &Event) -> bool {
    let w = ctx.watched.lock().expect("not poisoned");
    match e {
        Event::Link { index, mac, .. } => w.indices.contains(index) || mac.is_some_and(|m| w.macs.contains(&m)),
        Event::Address { index } => w.indices.contains(index),
    }
}

fn tokio_stream(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Event>,
) -> impl futures::Stream<Item = Event> + Send + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    info!("shutting down: finishing the running pass, then stopping");
    notify(&["STOPPING=1", "STATUS=stopping"]);
}

fn error_policy(cr: Arc<DynamicObject>, e: &kube::runtime::finalizer::Error<ReconcileError>, ctx: Arc<Ctx>) -> Action {
    warn!(node = %cr.name_any(), error = %e, "pass failed; retrying in 5s");
    mark_ready(&ctx, &format!("last pass failed: {e}; retrying"));
    Action::requeue(Duration::from_secs(5))
}

async fn reconcile(
    obj: Arc<DynamicObject>,
    ctx: Arc<Ctx>,
) -> Result<Action, kube::runtime::finalizer::Error<ReconcileError>> {
    let api = ctx.api.clone();
    finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            Finalized::Apply(obj) => {
                use tracing::Instrument;
                let (cr, valid) = decode(serde_json::to_value(&*obj).unwrap_or_default());
                let generation = cr.metadata.generation.unwrap_or_default();
                let span = tracing::info_span!("pass", generation, backend = ctx.backend.name());
                apply(&cr, valid, &ctx).instrument(span).await
            }
            Finalized::Cleanup(obj) => {
                let (cr, _) = decode(serde_json::to_value(&*obj).unwrap_or_default());
                cleanup(&cr, &ctx).await
            }
        }
    })
    .await
}

async fn apply(cr: &MultiNicNodeConfig, mut valid: ValidSpec, ctx: &Ctx) -> Result<Action, ReconcileError> {
    let s = &ctx.settings;
    let generation = cr.metadata.generation.unwrap_or_default();
    if valid.node_name != s.node_name {
        // The watch is by name; a spec for another node is an operator's mistake,
        // and applying it here would configure the wrong machine.
        valid.errors.push(multinic_api::FieldError {
            path: "spec.nodeName".into(),
            message: format!("{:?} is not this node ({:?}); nothing applied", valid.node_name, s.node_name),
            interface: None,
        });
    }
    let holds = ctx.holds.lock().expect("not poisoned").clone();
    let prepared = pass::prepare(s, &ctx.net, &ctx.backend, &valid, ctx.api_ip(), &holds).await?;
    remember(ctx, &valid, &prepared);

    let drifting = prepared.plan.interfaces.iter().any(|i| matches!(i.step, Step::Update(Change::Drift(_))));
    let mut current = cr.clone();
    if let Some((uid, status)) = ctx.written.lock().expect("not poisoned").clone()
        && cr.uid() == Some(uid)
    {
        current.status = Some(status);
    }
    if drifting && prepared.gate.is_none() {
        notify(&["STATUS=repairing drift"]);
        let discovered = report::discovered(&prepared.host, &prepared.plan, &prepared.owned, &s.policy);
        let status =
            pass::status(&current, &valid, &prepared, &before_applying(&prepared.plan), &ctx.backend, discovered);
        // Showing the drift is worth a write, but the repair must not wait for the
        // API server: the NICs matter more than the report.
        match cluster::write_status(&ctx.api, &current, &status).await {
            Ok(true) => {
                remember_written(ctx, cr, &status);
                current.status = Some(status);
            }
            Ok(false) => {}
            Err(e) => warn!(error = %e, "cannot report the drift; repairing anyway"),
        }
    }
    let executed = pass::execute(s, &ctx.net, &ctx.backend, &prepared, &valid, ctx.api_server.as_ref()).await;
    *ctx.holds.lock().expect("not poisoned") = pass::holds(&prepared.plan, &executed.outcomes);
    let (host, owned) = pass::observe(&ctx.net, &ctx.backend, ctx.api_ip()).await?;
    let discovered = report::discovered(&host, &prepared.plan, &owned, &s.policy);
    let status = pass::status(&current, &valid, &prepared, &executed.outcomes, &ctx.backend, discovered);
    let wrote = cluster::write_status(&ctx.api, &current, &status).await?;
    if wrote {
        remember_written(ctx, cr, &status);
    }
    let notices = report::events::transitions(current.status.as_ref(), &status, &prepared.plan, &executed.outcomes);
    cluster::publish(&ctx.recorder, cr, &notices).await;
    let state = status.state.map(|st| format!("{st:?}")).unwrap_or_default();
    info!(node = %cr.name_any(), generation, backend = ctx.backend.name(), state = %state, wrote_status = wrote, "pass done");
    mark_ready(ctx, &format!("{state}: {}", status.message.clone().unwrap_or_default()));
    // An operator's step on the host (restarting systemd-networkd) makes no event
    // this daemon sees: look again soon rather than at the next resync.
    let waiting_on_host = executed.outcomes.iter().any(|o| o.retry == Retry::Soon);
    Ok(Action::requeue(if waiting_on_host { s.resync_interval.min(HOST_RECHECK) } else { s.resync_interval }))
}

fn remember_written(ctx: &Ctx, cr: &MultiNicNodeConfig, status: &MultiNicNodeConfigStatus) {
    if let Some(uid) = cr.uid() {
        *ctx.written.lock().expect("not poisoned") = Some((uid, status.clone()));
    }
}

fn remember(ctx: &Ctx, valid: &multinic_api::ValidSpec, prepared: &pass::Prepared) {
    let mut w = ctx.watched.lock().expect("not poisoned");
    w.macs = valid.interfaces.iter().map(|i| i.mac).chain(prepared.owned.iter().map(|o| o.mac)).collect();
    w.indices = prepared.plan.interfaces.iter().filter_map(|i| i.link.as_ref().map(|l| l.index)).collect();
    w.indices.extend(prepared.plan.removals.iter().filter_map(|r| r.link.as_ref().map(|l| l.index)));
}

async fn cleanup(cr: &MultiNicNodeConfig, ctx: &Ctx) -> Result<Action, ReconcileError> {
    notify(&["STATUS=cleaning up: the MultiNicNodeConfig was deleted"]);
    let (host, owned) = pass::observe(&ctx.net, &ctx.backend, ctx.api_ip()).await?;
    let plan = plan::cleanup(&host, &owned, &ctx.settings.policy);
    let failed: Vec<String> = remove_all(&ctx.backend, &ctx.net, &plan.removals)
        .await
        .into_iter()
        .filter_map(|r| r.error.map(|e| format!("{} ({}): {e}", r.name, r.mac)))
        .collect();
    if !failed.is_empty() {
        return Err(ReconcileError::Cleanup(failed.join("; ")));
    }
    let names: Vec<&str> = plan.removals.iter().map(|r| r.owned.name.as_str()).collect();
    let note = if names.is_empty() { "nothing to remove".to_string() } else { format!("removed {}", names.join(", ")) };
    info!(node = %cr.name_any(), "cleaned up: {note}");
    cluster::publish(&ctx.recorder, cr, &[report::events::Notice { normal: true, reason: "CleanedUp", note }]).await;
    *ctx.watched.lock().expect("not poisoned") = Watched::default();
    mark_ready(ctx, "cleaned up; waiting for a MultiNicNodeConfig");
    Ok(Action::await_change())
}

fn mark_ready(ctx: &Ctx, status: &str) {
    let status = format!("STATUS={status}");
    if !ctx.ready.swap(true, Ordering::SeqCst) {
        notify(&["READY=1", &status]);
    } else {
        notify(&[&status]);
    }
}

/// Ping the watchdog at half its interval when systemd asks for one.
fn spawn_watchdog() {
    let Some(interval) = watchdog_interval() else { return };
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval / 2);
        loop {
            tick.tick().await;
            notify(&["WATCHDOG=1"]);
        }
    });
}
