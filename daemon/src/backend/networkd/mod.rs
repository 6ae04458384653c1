// SPDX-License-Identifier: Apache-2.0
//! The systemd-networkd backend: multinic's drop-ins in `/etc/systemd/network`,
//! written atomically, then `Manager.Reload` over D-Bus, which reconfigures the links
//! whose `.network` changed (`ReconfigureLink` when nothing changed: a repair). A
//! transaction keeps the previous files and puts them back (and reloads) on failure,
//! since networkd has no checkpoints.
//!
//! The transactions of a wave run side by side, and networkd answers one call at a
//! time: each writes its files and then waits for a Reload that began after its
//! write ([`Reloads`]), so that ten interfaces cost one or two Reloads, not ten.
//! Each keeps its own files and rollback: a failing interface is undone alone.

pub mod conf;
pub mod files;
mod state;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use multinic_api::MacAddr;
use zbus::proxy;
use zbus::proxy::CacheProperties;

use self::state::SetupState;
use super::dbus_error::DbusError;
use super::{Backend, BackendError, Managed, Readiness};
use crate::observe::{Generated, Handle};
use crate::plan::vlan::OwnedVlan;
use crate::plan::{InterfacePlan, LinkRef, Owned};

/// Well-known bus name of systemd-networkd.
pub const NETWORKD_BUS_NAME: &str = "org.freedesktop.network1";

/// `org.freedesktop.network1.Manager` (see `org.freedesktop.network1(5)`).
#[proxy(
    interface = "org.freedesktop.network1.Manager",
    default_service = "org.freedesktop.network1",
    default_path = "/org/freedesktop/network1"
)]
pub trait NetworkdManager {
    /// Reload `.network`/`.netdev` files; links whose configuration changed are
    /// reconfigured.
    fn reload(&self) -> zbus::Result<()>;
    /// Reconfigure one link from its (reloaded) files.
    fn reconfigure_link(&self, ifindex: i32) -> zbus::Result<()>;
    /// A link's name and object path.
    fn get_link_by_index(&self, ifindex: i32) -> zbus::Result<(String, zbus::zvariant::OwnedObjectPath)>;
    /// Every link networkd knows: index, name, object path.
    fn list_links(&self) -> zbus::Result<Vec<(i32, String, zbus::zvariant::OwnedObjectPath)>>;
}

/// `org.freedesktop.network1.Link`.
#[proxy(interface = "org.freedesktop.network1.Link", default_service = "org.freedesktop.network1")]
pub trait NetworkdLink {
    /// `pending`, `configuring`, `configured`, `unmanaged`, `failed`, `linger`.
    #[zbus(property)]
    fn administrative_state(&self) -> zbus::Result<String>;
    /// The link as JSON (networkd 246 and later): among others `AdministrativeState`
    /// and `NetworkFile`, the `.network` networkd applies to it.
    fn describe(&self) -> zbus::Result<String>;
}

/// systemd's view of `systemd-networkd.service`.
#[proxy(
    interface = "org.freedesktop.systemd1.Unit",
    default_service = "org.freedesktop.systemd1",
    default_path = "/org/freedesktop/systemd1/unit/systemd_2dnetworkd_2eservice"
)]
pub trait NetworkdUnit {
    /// When the unit last became active, in µs since the epoch (0: never).
    #[zbus(property)]
    fn active_enter_timestamp(&self) -> zbus::Result<u64>;
}

/// systemd itself, for its version.
#[proxy(
    interface = "org.freedesktop.systemd1.Manager",
    default_service = "org.freedesktop.systemd1",
    default_path = "/org/freedesktop/systemd1"
)]
pub trait SystemdManager {
    /// systemd's version.
    #[zbus(property)]
    fn version(&self) -> zbus::Result<String>;
}

/// Where networkd keeps each link's state (`NETWORK_FILE=`…), by index.
const LINK_STATE_DIR: &str = "/run/systemd/netif/links";

/// A systemd-networkd reached over the system bus.
pub struct NetworkdBackend {
    conn: zbus::Connection,
    manager: NetworkdManagerProxy<'static>,
    dir: PathBuf,
    reloads: Reloads,
}

/// Reloads shared by concurrent transactions (group commit): a transaction counts
/// its write, then makes sure a Reload began after it. The first to get the turn
/// reloads for every write counted so far; those whose write that Reload covered
/// are done without a call of their own.
#[derive(Default)]
struct Reloads {
    turn: tokio::sync::Mutex<()>,
    written: AtomicU64,
    covered: AtomicU64,
}

/// One interface's transaction: the files as they were before (multinic's and
/// those of earlier releases), and the `.network` it writes.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    index: u32,
    iface: String,
    mac: MacAddr,
    network: PathBuf,
    before: Vec<(PathBuf, Option<Vec<u8>>)>,
    /// The link's MTU before multinic first configured it (recorded in the files).
    #[serde(default)]
    original_mtu: Option<u32>,
}

impl NetworkdBackend {
    /// Use a bus connection on which networkd was found.
    pub async fn on(conn: zbus::Connection) -> Result<Self, BackendError> {
        let manager = NetworkdManagerProxy::builder(&conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await
            .map_err(BackendError::Bus)?;
        Ok(NetworkdBackend { conn, manager, dir: PathBuf::from(files::DIR), reloads: Reloads::default() })
    }

    fn paths(&self, mac: MacAddr) -> (PathBuf, PathBuf) {
        let (network, link) = files::file_names(mac);
        (self.dir.join(network), self.dir.join(link))
    }

    /// Where a NIC's VLAN `id` has its files: (`.netdev`, `.network`).
    fn vlan_paths(&self, mac: MacAddr, id: u16) -> (PathBuf, PathBuf) {
        let (netdev, network) = files::vlan_file_names(mac, id);
        (self.dir.join(netdev), self.dir.join(network))
    }

    /// Where earlier releases put a MAC's files.
    fn legacy_paths(&self, mac: MacAddr) -> [PathBuf; 2] {
        let (network, link) = files::legacy_file_names(mac);
        [self.dir.join(network), self.dir.join(link)]
    }

    /// Refuse to make networkd reconfigure anything while it would delete state
    /// multinic did not create (see [`conf`]).
    async fn foreign_state_kept(&self, iface: &str, mac: MacAddr) -> Result<(), BackendError> {
        let refuse = |why| BackendError::NetworkdSettings { iface: iface.to_string(), mac, why };
        let settings = conf::read(Path::new("/"));
        if let Some(why) = settings.problem(None) {
            return Err(refuse(why));
        }
        // Unknown start: the settings in the files are all there is to go by.
        let Some(started) = self.started().await else { return Ok(()) };
        let verified = Path::new(conf::VERIFIED);
        if conf::verified(verified, &started) {
            return Ok(());
        }
        match settings.problem(Some(started.at)) {
            Some(why) => Err(refuse(why)),
            None => {
                if let Err(e) = conf::record_verified(verified, &started) {
                    tracing::debug!(error = %e, path = conf::VERIFIED, "cannot record networkd's verified start");
                }
                Ok(())
            }
        }
    }

    /// When systemd-networkd started: from systemd, else (no systemd: a container,
    /// the test lab) from its process. `None` when neither tells.
    async fn started(&self) -> Option<conf::Started> {
        if let Ok(unit) = NetworkdUnitProxy::builder(&self.conn).cache_properties(CacheProperties::No).build().await
            && let Ok(us) = unit.active_enter_timestamp().await
            && us > 0
        {
            return Some(conf::Started { at: UNIX_EPOCH + Duration::from_micros(us), id: format!("systemd:{us}") });
        }
        let bus = zbus::fdo::DBusProxy::new(&self.conn).await.ok()?;
        let name = zbus::names::BusName::try_from(NETWORKD_BUS_NAME).ok()?;
        let pid = bus.get_connection_unix_process_id(name).await.ok()?;
        process_start(pid)
    }

    /// multinic's own files, read back.
    #[allow(clippy::result_large_err)] // BackendError, as every backend call returns
    fn owned(&self) -> Result<(Vec<Owned>, Vec<OwnedVlan>), BackendError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
            Err(source) => {
                return Err(BackendError::Dir { path: self.dir.clone(), source });
            }
        };
        let texts: Vec<(std::path::PathBuf, String)> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                (name.starts_with(files::PREFIX) || name.starts_with(files::LEGACY_PREFIX))
                    && name.ends_with(".network")
            })
            .filter_map(|p| Some((p.clone(), std::fs::read_to_string(&p).ok()?)))
            .collect();
        let mut owned: Vec<Owned> = texts.iter().filter_map(|(p, text)| files::owned_from(text, p)).collect();
        let mut vlans: Vec<OwnedVlan> = texts.iter().filter_map(|(p, text)| files::owned_vlan_from(text, p)).collect();
        // A MAC with files under both prefixes (a change interrupted): the current wins.
        let legacy = |o: &Owned| match &o.handle {
            Handle::NetworkdFile(p) => p.to_string_lossy().contains(files::LEGACY_PREFIX),
            Handle::NmProfile(_) => false,
        };
        owned.sort_by_key(|o| (o.mac, legacy(o)));
        owned.dedup_by_key(|o| o.mac);
        owned.sort_by(|a, b| a.name.cmp(&b.name));
        vlans.sort_by(|a, b| a.name.cmp(&b.name));
        Ok((owned, vlans))
    }

    /// Links that only a catch-all `.network` configures (a distribution's DHCP on
    /// every `en*`): networkd's counterpart of NetworkManager's generated profiles,
    /// taken over when the spec names the NIC (multinic's file sorts first). The
    /// catch-all itself is never edited.
    async fn generated(&self) -> Result<Vec<Generated>, BackendError> {
        let links = self
            .manager
            .list_links()
            .await
            .map_err(|source| BackendError::Read { op: "listing networkd's links", source })?;
        let mut out = Vec::new();
        for (index, name, _) in links {
            let Some(file) = applied_network_file(index) else { continue };
            let base = Path::new(&file).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if base.starts_with(files::PREFIX) || base.starts_with(files::LEGACY_PREFIX) {
                continue;
            }
            let mac = std::fs::read_to_string(format!("/sys/class/net/{name}/address"))
                .ok()
                .and_then(|m| m.trim().parse::<MacAddr>().ok());
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            if let Some(mac) = mac
                && files::is_catch_all(&text, &name, mac)
            {
                out.push(Generated { iface: name, id: file.clone(), handle: Handle::NetworkdFile(file.into()) });
            }
        }
        Ok(out)
    }

    async fn link(&self, index: u32) -> zbus::Result<NetworkdLinkProxy<'static>> {
        let (_, path) = self.manager.get_link_by_index(i32::try_from(index).unwrap_or(i32::MAX)).await?;
        NetworkdLinkProxy::builder(&self.conn).path(path)?.cache_properties(CacheProperties::No).build().await
    }

    /// Wait up to `timeout` until networkd is done with link `index` (whatever the
    /// outcome).
    async fn settled(&self, index: u32, timeout: Duration) {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            let state = match self.link(index).await {
                Ok(link) => SetupState::parse(&link.administrative_state().await.unwrap_or_default()),
                Err(_) => return,
            };
            if state.is_settled() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn call<'a>(&self, op: &'static str, iface: &'a str, mac: MacAddr) -> impl Fn(zbus::Error) -> BackendError + 'a {
        move |source| BackendError::Call { op, iface: iface.to_string(), mac, source }
    }

    fn io<'a>(&self, op: &'static str, iface: &'a str, mac: MacAddr) -> impl Fn(std::io::Error) -> BackendError + 'a {
        move |source| BackendError::File { op, iface: iface.to_string(), mac, source }
    }

    /// Make networkd read the files written before this call: one Reload that began
    /// after the write, shared with the transactions running beside this one. It
    /// reconfigures the links whose `.network` changed.
    async fn reload(&self, iface: &str, mac: MacAddr) -> Result<(), BackendError> {
        let ticket = self.reloads.written.fetch_add(1, Ordering::SeqCst) + 1;
        let _turn = self.reloads.turn.lock().await;
        if self.reloads.covered.load(Ordering::SeqCst) >= ticket {
            return Ok(());
        }
        let upto = self.reloads.written.load(Ordering::SeqCst);
        self.manager.reload().await.map_err(self.call("Reload", iface, mac))?;
        self.reloads.covered.fetch_max(upto, Ordering::SeqCst);
        Ok(())
    }

    /// Apply unchanged files to the link again (a repair: Reload leaves the links
    /// whose files did not change alone).
    async fn reconfigure(&self, index: u32, iface: &str, mac: MacAddr) -> Result<(), BackendError> {
        let index = i32::try_from(index).unwrap_or(i32::MAX);
        self.manager.reconfigure_link(index).await.map_err(self.call("ReconfigureLink", iface, mac))
    }
}

/// How long a rollback waits for networkd to finish with the link.
const ROLLBACK_SETTLE: Duration = Duration::from_secs(3);

/// When process `pid` started: `/proc/PID/stat` field 22, clock ticks after boot
/// (USER_HZ is 100 on every Linux ABI), after the boot time that `/proc/uptime`
/// gives to the hundredth of a second (`btime` in `/proc/stat` is in whole
/// seconds, too coarse to tell a file written just before networkd started).
fn process_start(pid: u32) -> Option<conf::Started> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let ticks: u64 = stat.rsplit_once(')')?.1.split_whitespace().nth(19)?.parse().ok()?;
    let uptime: f64 = std::fs::read_to_string("/proc/uptime").ok()?.split_whitespace().next()?.parse().ok()?;
    let boot = SystemTime::now().checked_sub(Duration::from_secs_f64(uptime))?;
    Some(conf::Started { at: boot + Duration::from_millis(ticks * 10), id: format!("pid:{pid}:{ticks}") })
}

/// The `.network` networkd applies to link `index`, from its state file.
fn applied_network_file(index: i32) -> Option<String> {
    let state = std::fs::read_to_string(format!("{LINK_STATE_DIR}/{index}")).ok()?;
    state.lines().find_map(|l| l.strip_prefix("NETWORK_FILE=")).map(str::to_string).filter(|f| !f.is_empty())
}

/// Write a file atomically (temporary file in the same directory, then rename),
/// mode 0644: networkd never reads half a file.
pub(super) fn write_atomic(path: &Path, content: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o644).open(&tmp)?;
    f.write_all(content)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

pub(super) fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

impl Backend for NetworkdBackend {
    type Txn = Snapshot;

    fn name(&self) -> &'static str {
        "networkd"
    }

    async fn checkup(&self) -> super::Checkup {
        let version = async {
            let systemd =
                SystemdManagerProxy::builder(&self.conn).cache_properties(CacheProperties::No).build().await?;
            systemd.version().await
        };
        let started = self.started().await.map(|s| s.at);
        let settings = match conf::read(Path::new("/")).problem(started) {
            Some(why) => Err(why),
            None => Ok("ManageForeignRoutes=no and ManageForeignRoutingPolicyRules=no, in effect".into()),
        };
        super::Checkup { version: version.await.ok().map(|v| format!("systemd {v}")), settings }
    }

    async fn reconnect(&self) -> Result<Self, BackendError> {
        let conn = super::select::system_bus().await?;
        super::select::require(&conn, NETWORKD_BUS_NAME, "systemd-networkd").await?;
        Self::on(conn).await
    }

    async fn read(&self) -> Result<Managed, BackendError> {
        let (owned, vlans) = self.owned()?;
        Ok(Managed { owned, generated: self.generated().await?, vlans })
    }

    async fn begin(&self, link: &LinkRef, mac: MacAddr, _vlans: &[LinkRef]) -> Result<Snapshot, BackendError> {
        self.foreign_state_kept(&link.name, mac).await?;
        let (network, link_file) = self.paths(mac);
        let before = [network.clone(), link_file]
            .into_iter()
            .chain(self.legacy_paths(mac))
            .map(|p| (p.clone(), std::fs::read(&p).ok()))
            .collect::<Vec<_>>();
        // What multinic's `.network` recorded (one of an earlier release may have
        // none), else, configured for the first time now, the link's MTU now.
        let network_before =
            before.iter().find(|(p, text)| text.is_some() && p.extension().is_some_and(|x| x == "network"));
        let original_mtu = match network_before {
            Some((path, Some(text))) => {
                files::owned_from(&String::from_utf8_lossy(text), path).and_then(|o| o.original_mtu)
            }
            _ => std::fs::read_to_string(format!("/sys/class/net/{}/mtu", link.name))
                .ok()
                .and_then(|m| m.trim().parse().ok()),
        };
        Ok(Snapshot { index: link.index, iface: link.name.clone(), mac, network, before, original_mtu })
    }

    async fn release(&self, _txn: &Snapshot, _name: &str, _mac: MacAddr) -> Result<(), BackendError> {
        // networkd follows the link across the rename by itself.
        Ok(())
    }

    async fn retire(&self, _generated: &Generated, _mac: MacAddr) -> Result<(), BackendError> {
        Ok(())
    }

    async fn configure(
        &self,
        txn: &mut Snapshot,
        plan: &InterfacePlan,
        name: &str,
        original_name: Option<&str>,
    ) -> Result<(), BackendError> {
        // A file under multinic's name that multinic did not write is someone else's:
        // never overwrite it.
        for (path, old) in &txn.before {
            if let Some(content) = old
                && !content.starts_with(files::HEADER.as_bytes())
            {
                let e = std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    format!("{} exists and is not multinic's; move it away", path.display()),
                );
                return Err(self.io("write drop-in", name, plan.mac)(e));
            }
        }
        let meta = files::Meta { original_mtu: txn.original_mtu, ..files::Meta::of(plan, name, original_name) };
        let unrenderable = |e: files::RenderError| self.io("render drop-in", name, plan.mac)(std::io::Error::other(e));
        let applied: Vec<&crate::plan::vlan::VlanPlan> = plan.vlans.iter().filter(|v| v.step.applies()).collect();
        let network_text = files::network_unit(&plan.desired, plan.source)
            .with_vlans(applied.iter().filter_map(|v| v.name.as_deref()))
            .render(&meta)
            .map_err(unrenderable)?;
        let link_text =
            files::link_unit(plan.mac, name, !plan.desired.vlans.is_empty()).render(&meta).map_err(unrenderable)?;
        let (network, link) = self.paths(plan.mac);
        let mut writes = vec![(network, network_text, "write .network"), (link, link_text, "write .link")];
        for v in &applied {
            let vname = v.name.as_deref().unwrap_or_default();
            let vmeta = files::vlan_meta(plan.mac, vname, &v.desired, &v.config_hash);
            let (netdev, vnetwork) = self.vlan_paths(plan.mac, v.id);
            let netdev_text = files::vlan_netdev_unit(vname, &v.desired).render(&vmeta).map_err(unrenderable)?;
            let network_text =
                files::vlan_network_unit(vname, &v.desired, v.source).render(&vmeta).map_err(unrenderable)?;
            writes.push((netdev, netdev_text, "write VLAN .netdev"));
            writes.push((vnetwork, network_text, "write VLAN .network"));
        }
        let gone: Vec<PathBuf> = plan
            .vlan_removals
            .iter()
            .flat_map(|o| {
                let (netdev, network) = self.vlan_paths(o.parent, o.id);
                [netdev, network]
            })
            .collect();
        // The VLANs' files as they were, for the rollback; never someone else's.
        for path in writes.iter().map(|(p, _, _)| p).chain(&gone) {
            if txn.before.iter().any(|(p, _)| p == path) {
                continue;
            }
            let old = std::fs::read(path).ok();
            if old.as_ref().is_some_and(|c| !c.starts_with(files::HEADER.as_bytes())) {
                let e = std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    format!("{} exists and is not multinic's; move it away", path.display()),
                );
                return Err(self.io("write drop-in", name, plan.mac)(e));
            }
            txn.before.push((path.clone(), old));
        }
        // What begin read: every file there is multinic's (checked above).
        let before = |path: &Path| txn.before.iter().find(|(p, _)| p == path).and_then(|(_, old)| old.as_deref());
        let mut changed = false;
        for (path, text, op) in &writes {
            if before(path) != Some(text.as_bytes()) {
                write_atomic(path, text.as_bytes()).map_err(self.io(op, name, plan.mac))?;
                changed = true;
            }
        }
        for path in &gone {
            if before(path).is_some() {
                remove_if_present(path).map_err(self.io("delete VLAN drop-in", name, plan.mac))?;
                changed = true;
            }
        }
        for legacy in self.legacy_paths(plan.mac) {
            if before(&legacy).is_some() {
                remove_if_present(&legacy).map_err(self.io("remove the earlier release's file", name, plan.mac))?;
                changed = true;
            }
        }
        if changed {
            return self.reload(name, plan.mac).await;
        }
        // A repair: the NIC, and its VLANs, whose links networkd configures apart.
        self.reconfigure(txn.index, name, plan.mac).await?;
        for l in applied.iter().filter_map(|v| v.link.as_ref()) {
            self.reconfigure(l.index, &l.name, plan.mac).await?;
        }
        Ok(())
    }

    /// Configured, and with multinic's `.network`: a file that sorts first and
    /// matches the NIC would win, and networkd would apply that instead.
    async fn confirm(&self, txn: &Snapshot) -> Result<Readiness, BackendError> {
        let call = self.call("Link.Describe", &txn.iface, txn.mac);
        let link = self.link(txn.index).await.map_err(&call)?;
        let (state, file) = match link.describe().await {
            Ok(json) => {
                let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
                let text = |k: &str| v.get(k).and_then(|s| s.as_str()).map(str::to_string);
                (SetupState::parse(&text("AdministrativeState").unwrap_or_default()), text("NetworkFile"))
            }
            // networkd before 246 has no Describe: its state only.
            Err(e) if DbusError::of(&e) == Some(DbusError::UnknownMethod) => {
                let call = self.call("Link.AdministrativeState", &txn.iface, txn.mac);
                (SetupState::parse(&link.administrative_state().await.map_err(call)?), None)
            }
            Err(e) => return Err(call(e)),
        };
        match file.filter(|f| Path::new(f) != txn.network) {
            // Settled with another file: waiting will not change that.
            Some(file) if matches!(state, SetupState::Configured | SetupState::Failed) => {
                Err(BackendError::OtherFile {
                    iface: txn.iface.clone(),
                    mac: txn.mac,
                    file,
                    ours: txn.network.display().to_string(),
                })
            }
            Some(file) => {
                Ok(Readiness::Waiting(format!("networkd applies {file} to the link ({state}), not multinic's file")))
            }
            None if state == SetupState::Configured => Ok(Readiness::Configured),
            None => Ok(Readiness::Waiting(format!("networkd reports the link {state}, not configured"))),
        }
    }

    async fn commit(&self, _txn: Snapshot) -> Result<(), BackendError> {
        Ok(())
    }

    /// The files as they were: a file the transaction created is removed with them.
    async fn rollback(&self, txn: Snapshot) -> Result<(), BackendError> {
        let mut changed = false;
        for (path, old) in &txn.before {
            if std::fs::read(path).ok() == *old {
                continue;
            }
            changed = true;
            match old {
                Some(content) => write_atomic(path, content),
                None => remove_if_present(path),
            }
            .map_err(self.io("restore previous files", &txn.iface, txn.mac))?;
        }
        if !changed {
            return Ok(());
        }
        self.reload(&txn.iface, txn.mac).await?;
        // A reconfiguration that follows while networkd still configures the link
        // from this one can leave it "configuring" for good: let it settle first.
        self.settled(txn.index, ROLLBACK_SETTLE).await;
        Ok(())
    }

    /// Its files; its link stays (networkd never deletes a netdev): the
    /// transaction deletes it.
    async fn remove_vlan(&self, owned: &OwnedVlan) -> Result<(), BackendError> {
        let (netdev, network) = self.vlan_paths(owned.parent, owned.id);
        for path in [netdev, network] {
            remove_if_present(&path).map_err(self.io("delete VLAN drop-in", &owned.name, owned.parent))?;
        }
        self.reload(&owned.name, owned.parent).await
    }

    async fn remove(&self, owned: &Owned) -> Result<(), BackendError> {
        self.foreign_state_kept(&owned.name, owned.mac).await?;
        let (network, link) = self.paths(owned.mac);
        for path in [network, link].iter().chain(&self.legacy_paths(owned.mac)) {
            remove_if_present(path).map_err(self.io("delete drop-in", &owned.name, owned.mac))?;
        }
        self.reload(&owned.name, owned.mac).await
    }
}
