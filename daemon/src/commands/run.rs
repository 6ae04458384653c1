// SPDX-License-Identifier: Apache-2.0
//! `multinicd run`: the service. Watches only this node's `MultiNicNodeConfig`
//! (field selector on its name), reconciles it on spec changes, on netlink events
//! that concern its NICs (drift, hot-plug) and every `resyncInterval`, writes the
//! status (only when it changed) and Events (on transitions), and cleans up behind
//! the `multinic.io/cleanup` finalizer when the CR is deleted. Speaks the systemd
//! notify protocol: READY after the first pass, STATUS, WATCHDOG, STOPPING.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::{ApiResource, DynamicObject};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::Recorder;
use kube::runtime::finalizer::{Event as Finalized, finalizer};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, ResourceExt};
use multinic_api::{FINALIZER, MultiNicNodeConfig, MultiNicNodeConfigStatus, Reason, ValidSpec, decode};
use tracing::{info, warn};

use super::{Exit, Fatal};
use crate::backend::journal::{self, Lock};
use crate::backend::{AnyBackend, Backend, BackendError, Retry, with_backend};
use crate::config::Settings;
use crate::metrics::Metrics;
use crate::notify::{notify, watchdog_interval};
use crate::observe::netlink::Netlink;
use crate::observe::reach::ApiServer;
use crate::observe::{Host, Kernel};
use crate::pass;
use crate::plan::{Change, Hold, Step};
use crate::report;
use crate::report::node::Readiness;
use crate::source::cluster;
use crate::watch::{self, Watch};

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

/// One connection to the API server: rebuilt when the kubeconfig or a credential
/// file it names changes, or when the API server answers 401.
struct Ctx<B, K> {
    settings: Settings,
    /// The network manager's side.
    backend: Arc<Reconnecting<B>>,
    net: K,
    api: Api<DynamicObject>,
    recorder: Recorder,
    client: kube::Client,
    /// The API server: its path is part of the primary network, and every change
    /// must leave it reachable.
    api_server: Option<ApiServer>,
    mem: Arc<Memory>,
    /// Asks for a new connection (new credentials, or a 401).
    reconnect: Arc<tokio::sync::Notify>,
}

/// The backend, connected again after a pass found it failing (a restarted bus
/// or network manager, a call that timed out): to the same manager as before, also
/// with `backend: auto` while NetworkManager restarts.
struct Reconnecting<B> {
    current: tokio::sync::Mutex<Arc<B>>,
    stale: AtomicBool,
}

impl<B: Backend> Reconnecting<B> {
    fn new(backend: B) -> Self {
        Reconnecting { current: tokio::sync::Mutex::new(Arc::new(backend)), stale: AtomicBool::new(false) }
    }

    async fn get(&self) -> Result<Arc<B>, BackendError> {
        let mut current = self.current.lock().await;
        if self.stale.load(Ordering::SeqCst) {
            *current = Arc::new(current.reconnect().await?);
            self.stale.store(false, Ordering::SeqCst);
            info!(backend = current.name(), "connected to the network backend again");
        }
        Ok(current.clone())
    }

    fn mark_stale(&self) {
        self.stale.store(true, Ordering::SeqCst);
    }
}

/// What outlives a connection to the API server.
#[derive(Default)]
struct Memory {
    /// Configurations rolled back because they cut the API server off: not
    /// applied again until their spec changes.
    holds: Mutex<Vec<Hold>>,
    /// The links whose changes may need a pass, as the last pass left them.
    watch: Arc<Watch>,
    ready: AtomicBool,
    /// The status last written, by CR uid: the watch may hand us the object before
    /// our own write shows in it, and the daemon is the only writer of status.
    written: Mutex<Option<(String, MultiNicNodeConfigStatus)>>,
    /// When the served CRD's schema revision was last compared, and what was said.
    crd: Mutex<CrdCheck>,
    /// Passes that failed in a row (the API server, the network manager).
    failed_passes: std::sync::atomic::AtomicU32,
    /// Passes in a row after which the host needed another.
    unsettled_passes: std::sync::atomic::AtomicU32,
    /// Interfaces waiting for their next attempt.
    backoff: Mutex<crate::retry::Backoff>,
    /// When the running pass started, and the time its transactions may take on
    /// top of the watchdog's half interval: the watchdog is fed only while passes end.
    pass_started: Mutex<Option<(Instant, Duration)>>,
    /// The readiness the passes last said, for the Node's condition and taint.
    readiness: tokio::sync::watch::Sender<Readiness>,
    /// The instance's OpenStack ports, for `status.discovered`.
    ports: crate::observe::openstack::Cache,
    metrics: Arc<Metrics>,
}

#[derive(Default)]
struct CrdCheck {
    at: Option<Instant>,
    outdated: Option<String>,
}

impl<B, K> Ctx<B, K> {
    fn api_ip(&self) -> Option<std::net::IpAddr> {
        self.api_server.as_ref().map(|a| a.addr.ip())
    }
}

/// How often the kubeconfig and its credential files are looked at.
const CREDENTIALS_POLL: Duration = Duration::from_secs(5);

/// Run the service until SIGTERM or SIGINT.
pub async fn run(settings: &Settings) -> Result<Exit, Fatal> {
    let node = settings.node_name.clone();
    if node.is_empty() {
        return Err(Fatal::invalid("nodeName is empty and the hostname is unknown; set nodeName in the config"));
    }
    notify(&["STATUS=connecting to the network backend"]);
    let net = Netlink::connect()?;
    let mem = Arc::new(Memory::default());
    spawn_watchdog(mem.clone());
    let stop = stop_on_signal();
    let Some(backend) = wait_for_backend(settings, &mem, stop.clone()).await else { return Ok(stopped(&node)) };
    with_backend!(backend, |b| run_on(settings, net, mem, b, stop).await)
}

/// The service, on the backend found.
async fn run_on<B: Backend>(
    settings: &Settings,
    net: Netlink,
    mem: Arc<Memory>,
    backend: B,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<Exit, Fatal> {
    let node = settings.node_name.clone();
    let Some(lock) = wait_for_lock(&mem, stop.clone()).await else { return Ok(stopped(&node)) };
    if let Some(lock) = &lock {
        journal::recover(lock, &backend, &net).await;
    }
    info!(node = %node, namespace = %settings.namespace, backend = backend.name(), "multinicd starting");
    if let Some(addr) = settings.metrics {
        // The NICs matter more than the metrics: a taken port is said, not fatal.
        match crate::metrics::serve(addr, mem.metrics.clone()).await {
            Ok(()) => info!("serving metrics at http://{addr}/metrics"),
            Err(e) => tracing::error!(error = %e, "metrics: cannot listen on {addr}; running without metrics"),
        }
    }
    let backend = Arc::new(Reconnecting::new(backend));
    loop {
        let Some(fingerprint) = wait_for_kubeconfig(settings, &mem, stop.clone()).await else { break };
        let Some((client, api_server)) = connect_cluster(settings, &mem, stop.clone()).await? else { break };
        let ctx = Arc::new(Ctx {
            settings: settings.clone(),
            backend: backend.clone(),
            net: net.clone(),
            api: cluster::raw_api(client.clone(), &settings.namespace),
            recorder: cluster::recorder(client.clone(), &node),
            client,
            api_server,
            mem: mem.clone(),
            reconnect: Arc::new(tokio::sync::Notify::new()),
        });
        watch_credentials(settings.kubeconfig.clone(), fingerprint, ctx.reconnect.clone());
        serve(ctx, stop.clone()).await?;
        if *stop.borrow() {
            break;
        }
        info!("the kubeconfig or its credentials changed (or the API server refused them): reconnecting");
    }
    drop(lock);
    Ok(stopped(&node))
}

fn stopped(node: &str) -> Exit {
    notify(&["STOPPING=1", "STATUS=stopped"]);
    info!(node = %node, "multinicd stopped");
    Exit::Ok
}

/// The network manager, once one answers on the bus: at boot it may come up after
/// us, and exiting would run into systemd's start limit. `None` when asked to stop.
async fn wait_for_backend(
    settings: &Settings,
    mem: &Memory,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Option<AnyBackend> {
    let mut delay = Duration::from_secs(1);
    loop {
        match super::connect_backend(settings).await {
            Ok(b) => return Some(b),
            Err(e) => {
                warn!(error = %e, "no network backend yet; retrying in {}s", delay.as_secs());
                mark_ready(mem, &format!("waiting for the network backend: {e}"));
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.wait_for(|s| *s) => return None,
        }
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

/// The transaction lock, held for the daemon's life (an `apply` or `cleanup` by
/// hand may hold it for a moment). `Some(None)` when it cannot be made at all
/// (warned), `None` when asked to stop.
async fn wait_for_lock(mem: &Memory, mut stop: tokio::sync::watch::Receiver<bool>) -> Option<Option<Lock>> {
    loop {
        match Lock::try_acquire() {
            Ok(Some(lock)) => return Some(Some(lock)),
            Ok(None) => mark_ready(mem, "waiting for another multinicd (an apply or cleanup by hand) to finish"),
            Err(e) => {
                warn!(dir = journal::DIR, error = %e, "cannot take the transaction lock: transactions are not recorded safely");
                return Some(None);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.wait_for(|s| *s) => return None,
        }
    }
}

/// Wait until the kubeconfig exists and can be read; a node image may boot long
/// before `kubeadm join` writes it. `None` when asked to stop meanwhile.
async fn wait_for_kubeconfig(
    settings: &Settings,
    mem: &Memory,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Option<cluster::Fingerprint> {
    let mut said = None;
    loop {
        match cluster::fingerprint(&settings.kubeconfig) {
            Ok(f) => return Some(f),
            Err(why) => {
                if said.as_ref() != Some(&why) {
                    info!(kubeconfig = %settings.kubeconfig.display(), "waiting for the kubeconfig: {why}");
                    mark_ready(mem, &format!("waiting for {} ({why})", settings.kubeconfig.display()));
                    said = Some(why);
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = stop.wait_for(|s| *s) => return None,
        }
    }
}

/// A client for the kubeconfig, once the API server confirms that its credential
/// is this node's identity. Retries while the API server cannot be reached or the
/// kubeconfig is not usable yet; an identity that is not ours is fatal.
async fn connect_cluster(
    settings: &Settings,
    mem: &Memory,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<Option<(kube::Client, Option<ApiServer>)>, Fatal> {
    let mut delay = Duration::from_secs(1);
    loop {
        let attempt = async {
            let (client, server) = cluster::client(&settings.kubeconfig).await?;
            let who =
                cluster::identity(&client).await.map_err(|e| format!("cannot ask the API server who we are: {e}"))?;
            Ok::<_, String>((client, server, who))
        };
        match attempt.await {
            Ok((client, server, who)) if who == settings.identity => return Ok(Some((client, server))),
            Ok((_, _, who)) => {
                return Err(Fatal::invalid(format!(
                    "the API server knows the credential of {} as {who:?}, not as {:?} (nodeName {}): refusing to act \
                     for another node; use this node's kubeconfig, or set identity: {who} in the config if that \
                     user is meant to act for this node",
                    settings.kubeconfig.display(),
                    settings.identity,
                    settings.node_name
                )));
            }
            Err(e) => {
                warn!(error = %e, "cannot connect to the API server; retrying in {}s", delay.as_secs());
                mark_ready(mem, &format!("cannot connect to the API server ({e}); retrying"));
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.wait_for(|s| *s) => return Ok(None),
        }
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

/// Ask for a new connection when the kubeconfig or a file it names changes.
fn watch_credentials(path: std::path::PathBuf, mut known: cluster::Fingerprint, reconnect: Arc<tokio::sync::Notify>) {
    let weak = Arc::downgrade(&reconnect);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(CREDENTIALS_POLL).await;
            let Some(reconnect) = weak.upgrade() else { return };
            // A kubeconfig being rewritten may be unreadable for a moment: keep the
            // client until a complete one is there.
            if let Ok(now) = cluster::fingerprint(&path)
                && now != known
            {
                known = now;
                reconnect.notify_one();
            }
        }
    });
}

/// The controller over this connection, until a stop or a reconnect.
async fn serve<B: Backend, K: Kernel>(
    ctx: Arc<Ctx<B, K>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(), Fatal> {
    let node = ctx.settings.node_name.clone();
    // Without a CR there is no first pass: be READY once we know that, or once we
    // know the API server cannot be reached (we keep retrying).
    match cluster::bounded(ctx.api.get_opt(&node)).await {
        Ok(Some(_)) => notify(&["STATUS=reconciling"]),
        Ok(None) => {
            mark_ready(&ctx.mem, &format!("waiting: no MultiNicNodeConfig {}/{node} yet", ctx.settings.namespace));
            report_node(&ctx, Readiness::no_config(&ctx.settings.namespace, &node));
        }
        Err(e) => {
            warn!(error = %e, "cannot reach the API server; retrying with backoff");
            mark_ready(&ctx.mem, &format!("cannot reach the API server ({e}); retrying"));
        }
    }
    // The Node's keeper ends with this connection.
    let _node = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(crate::source::node::keep(
        ctx.client.clone(),
        node.clone(),
        ctx.settings.remove_taint.clone(),
        ctx.mem.readiness.subscribe(),
        ctx.mem.metrics.clone(),
    )));
    let busy = {
        let mem = ctx.mem.clone();
        move || mem.pass_started.lock().expect("not poisoned").is_some()
    };
    let relevant = watch::triggers(ctx.mem.watch.clone(), ctx.net.clone(), watch::Udev::system(), busy)?;
    let until = {
        let reconnect = ctx.reconnect.clone();
        async move {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => {}
                _ = reconnect.notified() => {}
            }
        }
    };
    // The watch backs off by itself and its errors stay out of the controller's
    // triggers: the controller would otherwise pause every trigger, netlink's too,
    // while the API server is away, and drift would wait for it.
    let watch = watcher::Config::default().fields(&format!("metadata.name={node}")).timeout(cluster::WATCH_TIMEOUT);
    let resource = ApiResource::erase::<MultiNicNodeConfig>(&());
    let writer = reflector::store::Writer::new(resource.clone());
    let reader = writer.as_reader();
    let objects = {
        let reconnect = ctx.reconnect.clone();
        let metrics = ctx.mem.metrics.clone();
        watcher(ctx.api.clone(), watch).default_backoff().reflect(writer).applied_objects().filter_map(move |r| {
            let reconnect = reconnect.clone();
            let metrics = metrics.clone();
            async move {
                match r {
                    Ok(obj) => Some(Ok(obj)),
                    Err(e) => {
                        if is_unauthorized(&e) {
                            reconnect.notify_one();
                        }
                        metrics.api_error();
                        warn!(error = %e, "watching the MultiNicNodeConfig failed; retrying with backoff");
                        None
                    }
                }
            }
        })
    };
    Controller::for_stream_with(objects, reader, resource)
        .reconcile_all_on(relevant)
        .graceful_shutdown_on(until)
        .run(reconcile, error_policy, ctx.clone())
        .for_each(|result| {
            if let Err(e) = result {
                if is_unauthorized(&e) {
                    ctx.reconnect.notify_one();
                }
                warn!(error = %e, "controller");
            }
            futures::future::ready(())
        })
        .await;
    Ok(())
}

/// The API server refused the credential (401): it may have been rotated.
fn is_unauthorized<E: std::error::Error + 'static>(e: &E) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(kube::Error::Api(status)) = err.downcast_ref::<kube::Error>()
            && status.code == 401
        {
            return true;
        }
        source = err.source();
    }
    false
}

/// A flag that turns true on SIGTERM or SIGINT.
fn stop_on_signal() -> tokio::sync::watch::Receiver<bool> {
    use tokio::signal::unix::{SignalKind, signal};
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        info!("shutting down: finishing the running pass, then stopping");
        notify(&["STOPPING=1", "STATUS=stopping"]);
        let _ = tx.send(true);
        // Keep the sender: receivers would otherwise see a closed channel.
        std::future::pending::<()>().await;
    });
    rx
}

fn error_policy<B: Backend, K: Kernel>(
    cr: Arc<DynamicObject>,
    e: &kube::runtime::finalizer::Error<ReconcileError>,
    ctx: Arc<Ctx<B, K>>,
) -> Action {
    let failures = ctx.mem.failed_passes.fetch_add(1, Ordering::SeqCst) + 1;
    let delay = crate::retry::delay(failures);
    use kube::runtime::finalizer::Error as E;
    match e {
        E::ApplyFailed(ReconcileError::Kube(_))
        | E::CleanupFailed(ReconcileError::Kube(_))
        | E::AddFinalizer(_)
        | E::RemoveFinalizer(_) => ctx.mem.metrics.api_error(),
        E::ApplyFailed(ReconcileError::Backend(_)) | E::CleanupFailed(ReconcileError::Backend(_)) => {
            ctx.mem.metrics.dbus_error()
        }
        _ => {}
    }
    warn!(node = %cr.name_any(), error = %e, failures, "pass failed; retrying in {}s", delay.as_secs());
    if is_unauthorized(e) {
        ctx.reconnect.notify_one();
    }
    if let kube::runtime::finalizer::Error::ApplyFailed(ReconcileError::Backend(_))
    | kube::runtime::finalizer::Error::CleanupFailed(ReconcileError::Backend(_)) = e
    {
        ctx.backend.mark_stale();
    }
    mark_ready(&ctx.mem, &format!("last pass failed: {e}; retrying in {}s", delay.as_secs()));
    Action::requeue(delay)
}

async fn reconcile<B: Backend, K: Kernel>(
    obj: Arc<DynamicObject>,
    ctx: Arc<Ctx<B, K>>,
) -> Result<Action, kube::runtime::finalizer::Error<ReconcileError>> {
    let _pass = PassClock::start(&ctx.mem);
    let api = ctx.api.clone();
    finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            Finalized::Apply(obj) => {
                use tracing::Instrument;
                let (cr, valid) = decode(serde_json::to_value(&*obj).unwrap_or_default());
                let generation = cr.metadata.generation.unwrap_or_default();
                let backend = ctx.backend.get().await?;
                let span = tracing::info_span!("pass", generation, backend = backend.name());
                apply(&cr, valid, &ctx, &backend).instrument(span).await
            }
            Finalized::Cleanup(obj) => {
                let (cr, _) = decode(serde_json::to_value(&*obj).unwrap_or_default());
                let backend = ctx.backend.get().await?;
                cleanup(&cr, &ctx, &backend).await
            }
        }
    })
    .await
}

async fn apply<B: Backend, K: Kernel>(
    cr: &MultiNicNodeConfig,
    mut valid: ValidSpec,
    ctx: &Ctx<B, K>,
    backend: &B,
) -> Result<Action, ReconcileError> {
    let s = &ctx.settings;
    let started = Instant::now();
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
    check_crd(cr, ctx).await;
    let holds = |host: &Host| {
        let mut holds = ctx.mem.holds.lock().expect("not poisoned").clone();
        holds.extend(ctx.mem.backoff.lock().expect("not poisoned").holds(host, Instant::now()));
        holds
    };
    let prepared = match pass::prepare(s, &ctx.net, backend, &valid, ctx.api_ip(), holds).await {
        Ok(p) => p,
        Err(e) => {
            report_unavailable(cr, ctx, backend, &e).await;
            return Err(e.into());
        }
    };
    remember(ctx, &valid, &prepared);
    let waves = u32::try_from(prepared.plan.waves().len()).unwrap_or(u32::MAX);
    PassClock::allow(&ctx.mem, s.rollback_timeout.saturating_mul(waves));

    report::log_blocked(&prepared.plan, current_status(ctx, cr).as_ref());
    let drifting =
        prepared.plan.interfaces.iter().any(|i| matches!(i.step, Step::Update { change: Change::Drift(_), .. }));
    let mut current = cr.clone();
    current.status = current_status(ctx, cr);
    if drifting && prepared.gate.is_none() {
        notify(&["STATUS=repairing drift"]);
        let mut discovered = report::discovered(&prepared.host, &prepared.plan, &prepared.owned, &s.policy);
        ctx.mem.ports.known(&mut discovered).await;
        let status =
            pass::status(&current, &valid, &prepared, &pass::planned(&prepared.plan), backend.name(), discovered);
        // Showing the drift is worth a write, but the repair must not wait for the
        // API server: the NICs matter more than the report.
        match cluster::write_status(&ctx.api, &current, &status).await {
            Ok(true) => {
                remember_written(ctx, cr, &status);
                current.status = Some(status);
            }
            Ok(false) => {}
            Err(e) => {
                ctx.mem.metrics.api_error();
                warn!(error = %e, "cannot report the drift; repairing anyway");
            }
        }
    }
    let api = ctx.api_server.as_ref();
    let done = pass::run(s, &ctx.net, backend, &current, &valid, &prepared, api, Some(&ctx.mem.backoff)).await;
    *ctx.mem.holds.lock().expect("not poisoned") = pass::holds(&done.records);
    // After these the next pass connects to the backend again.
    let reasons = done.records.iter().map(|r| &r.outcome.reason);
    if reasons.into_iter().any(|r| matches!(r, Reason::BackendUnavailable | Reason::BackendCallFailed)) {
        ctx.backend.mark_stale();
        ctx.mem.metrics.dbus_error();
    }
    ctx.mem.metrics.pass(started.elapsed(), &done.status, &done.records, &done.retries);
    let retry_in = ctx.mem.backoff.lock().expect("not poisoned").next_due(Instant::now());
    ctx.mem.watch.left(&done.host);
    // What changed while the pass ran was taken for the pass's own doing: a drift,
    // a NIC that appeared, a carrier back. Look again, backing off when it keeps
    // happening (another agent reverting the configuration).
    let unsettled = {
        let mut holds = ctx.mem.holds.lock().expect("not poisoned").clone();
        holds.extend(ctx.mem.backoff.lock().expect("not poisoned").holds(&done.host, Instant::now()));
        pass::unsettled(s, &prepared, &valid, &done, &holds)
    };
    let mut status = done.status;
    ctx.mem.ports.annotate(&s.openstack_metadata, &mut status.discovered).await;
    let wrote = cluster::write_status(&ctx.api, &current, &status).await?;
    ctx.mem.metrics.passed();
    if wrote {
        remember_written(ctx, cr, &status);
    }
    let notices = report::events::transitions(current.status.as_ref(), &status, &done.records);
    cluster::publish(&ctx.recorder, cr, &notices).await;
    report_node(ctx, Readiness::of(&status));
    let state = status.state.unwrap_or_default();
    info!(node = %cr.name_any(), generation, backend = backend.name(), state = %state, wrote_status = wrote, "pass done");
    let crd = ctx.mem.crd.lock().expect("not poisoned").outdated.clone().map(|m| format!(" ({m})")).unwrap_or_default();
    mark_ready(&ctx.mem, &format!("{state}: {}{crd}", status.message.clone().unwrap_or_default()));
    // An operator's step on the host (restarting systemd-networkd) makes no event
    // this daemon sees: look again soon rather than at the next resync.
    let waiting_on_host = done.records.iter().any(|r| r.outcome.retry == Retry::Soon);
    let mut next = if waiting_on_host { s.resync_interval.min(HOST_RECHECK) } else { s.resync_interval };
    if let Some(due) = retry_in {
        next = next.min(due.max(Duration::from_millis(100)));
    }
    if unsettled {
        let again = ctx.mem.unsettled_passes.fetch_add(1, Ordering::SeqCst) + 1;
        let delay = crate::retry::delay(again);
        info!("the host changed while the pass ran: another pass in {}s", delay.as_secs());
        next = next.min(delay);
    } else {
        ctx.mem.unsettled_passes.store(0, Ordering::SeqCst);
    }
    ctx.mem.failed_passes.store(0, Ordering::SeqCst);
    Ok(Action::requeue(next))
}

/// Compare the served CRD's schema revision with ours once per resync interval;
/// say so (journal and a Warning Event) when that changes.
async fn check_crd<B, K>(cr: &MultiNicNodeConfig, ctx: &Ctx<B, K>) {
    let due =
        ctx.mem.crd.lock().expect("not poisoned").at.is_none_or(|at| at.elapsed() >= ctx.settings.resync_interval);
    if !due {
        return;
    }
    let outdated = cluster::crd_outdated(&ctx.client).await;
    let changed = {
        let mut check = ctx.mem.crd.lock().expect("not poisoned");
        check.at = Some(Instant::now());
        std::mem::replace(&mut check.outdated, outdated.clone()) != outdated
    };
    if let (true, Some(message)) = (changed, outdated) {
        warn!("{message}");
        let notice = report::events::Notice { normal: false, reason: Reason::CRDOutdated, note: message };
        cluster::publish(&ctx.recorder, cr, &[notice]).await;
    }
}

/// Say in the status (and once in an Event) that the network side cannot be read;
/// the observed generation stays that of the last pass that applied.
async fn report_unavailable<B: Backend, K: Kernel>(
    cr: &MultiNicNodeConfig,
    ctx: &Ctx<B, K>,
    backend: &B,
    e: &BackendError,
) {
    let mut current = cr.clone();
    current.status = current_status(ctx, cr);
    let status = pass::unavailable_status(&current, e, backend.name());
    let was = current.status.as_ref().and_then(|s| s.reason.clone());
    match cluster::write_status(&ctx.api, &current, &status).await {
        Ok(true) => remember_written(ctx, cr, &status),
        Ok(false) => {}
        Err(err) => {
            ctx.mem.metrics.api_error();
            warn!(error = %err, "cannot report that the backend is unavailable");
        }
    }
    report_node(ctx, Readiness::of(&status));
    if was != Some(e.reason()) {
        let notice = report::events::Notice { normal: false, reason: e.reason(), note: e.to_string() };
        cluster::publish(&ctx.recorder, cr, &[notice]).await;
    }
}

/// Tell the Node's keeper (its condition, and its taint once configured).
fn report_node<B, K>(ctx: &Ctx<B, K>, readiness: Readiness) {
    ctx.mem.readiness.send_if_modified(|said| {
        let changed = *said != readiness;
        *said = readiness;
        changed
    });
}

/// The status as last written: the watch may not show our own write yet.
fn current_status<B, K>(ctx: &Ctx<B, K>, cr: &MultiNicNodeConfig) -> Option<MultiNicNodeConfigStatus> {
    match ctx.mem.written.lock().expect("not poisoned").clone() {
        Some((uid, status)) if cr.uid().as_deref() == Some(uid.as_str()) => Some(status),
        _ => cr.status.clone(),
    }
}

fn remember_written<B, K>(ctx: &Ctx<B, K>, cr: &MultiNicNodeConfig, status: &MultiNicNodeConfigStatus) {
    if let Some(uid) = cr.uid() {
        *ctx.mem.written.lock().expect("not poisoned") = Some((uid, status.clone()));
    }
}

fn remember<B, K>(ctx: &Ctx<B, K>, valid: &multinic_api::ValidSpec, prepared: &pass::Prepared) {
    let plan = &prepared.plan;
    let macs = valid.interfaces.iter().map(|i| i.mac).chain(prepared.owned.iter().map(|o| o.mac));
    let vlans = plan.interfaces.iter().flat_map(|i| &i.vlans).filter_map(|v| v.link.as_ref().map(|l| l.index));
    let indices = plan.interfaces.iter().filter_map(|i| i.link.as_ref().map(|l| l.index)).chain(vlans);
    let removed = plan.removals.iter().filter_map(|r| r.link.as_ref().map(|l| l.index));
    ctx.mem.watch.set(macs, indices.chain(removed));
}

async fn cleanup<B: Backend, K: Kernel>(
    cr: &MultiNicNodeConfig,
    ctx: &Ctx<B, K>,
    backend: &B,
) -> Result<Action, ReconcileError> {
    notify(&["STATUS=cleaning up: the MultiNicNodeConfig was deleted"]);
    let cleaned = pass::cleanup(&ctx.settings, &ctx.net, backend, ctx.api_ip()).await?;
    let failed = cleaned.failures();
    if !failed.is_empty() {
        return Err(ReconcileError::Cleanup(failed.join("; ")));
    }
    let note = cleaned.note();
    info!(node = %cr.name_any(), "cleaned up: {note}");
    cluster::publish(&ctx.recorder, cr, &[report::events::Notice { normal: true, reason: Reason::CleanedUp, note }])
        .await;
    ctx.mem.watch.clear();
    ctx.mem.metrics.cleaned();
    report_node(ctx, Readiness::no_config(&ctx.settings.namespace, &ctx.settings.node_name));
    mark_ready(&ctx.mem, "cleaned up; waiting for a MultiNicNodeConfig");
    Ok(Action::await_change())
}

/// Marks a pass as running while it lives.
struct PassClock<'a>(&'a Memory);

impl<'a> PassClock<'a> {
    fn start(mem: &'a Memory) -> Self {
        *mem.pass_started.lock().expect("not poisoned") = Some((Instant::now(), Duration::ZERO));
        PassClock(mem)
    }

    /// The pass may wait this long for its transactions (verify, roll back).
    fn allow(mem: &Memory, extra: Duration) {
        if let Some((_, allowed)) = mem.pass_started.lock().expect("not poisoned").as_mut() {
            *allowed = extra;
        }
    }
}

impl Drop for PassClock<'_> {
    fn drop(&mut self) {
        *self.0.pass_started.lock().expect("not poisoned") = None;
    }
}

fn mark_ready(mem: &Memory, status: &str) {
    let status = format!("STATUS={status}");
    if !mem.ready.swap(true, Ordering::SeqCst) {
        notify(&["READY=1", &status]);
    } else {
        notify(&[&status]);
    }
}

/// Ping the watchdog at half its interval when systemd asks for one, but only
/// while no pass has been running for longer than that: a pass stuck on a hung
/// network manager or API server stops the pings, and systemd restarts us.
fn spawn_watchdog(mem: Arc<Memory>) {
    let Some(interval) = watchdog_interval() else { return };
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval / 2);
        let mut starved = false;
        loop {
            tick.tick().await;
            let running = *mem.pass_started.lock().expect("not poisoned");
            match running.map(|(t, allowed)| (t.elapsed(), allowed)) {
                Some((for_, allowed)) if for_ >= interval / 2 + allowed => {
                    if !starved {
                        warn!(running_s = for_.as_secs(), "a pass is taking too long: not feeding the watchdog");
                        starved = true;
                    }
                }
                _ => {
                    starved = false;
                    notify(&["WATCHDOG=1"]);
                }
            }
        }
    });
}

#[cfg(test)]
mod tests;
