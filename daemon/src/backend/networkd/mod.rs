//! The systemd-networkd backend: multinic's drop-ins in `/etc/systemd/network`,
//! written atomically, then `Manager.Reload` and `ReconfigureLink` over D-Bus. A
//! transaction keeps the previous files and puts them back (and reloads) on failure,
//! since networkd has no checkpoints.

pub mod files;

use std::path::{Path, PathBuf};

use multinic_api::MacAddr;
use zbus::proxy;
use zbus::proxy::CacheProperties;

use super::{Backend, BackendError};
use crate::observe::Generated;
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
}

/// `org.freedesktop.network1.Link`.
#[proxy(interface = "org.freedesktop.network1.Link", default_service = "org.freedesktop.network1")]
pub trait NetworkdLink {
    /// `pending`, `configuring`, `configured`, `unmanaged`, `failed`, `linger`.
    #[zbus(property)]
    fn administrative_state(&self) -> zbus::Result<String>;
}

/// A systemd-networkd reached over the system bus.
pub struct NetworkdBackend {
    conn: zbus::Connection,
    manager: NetworkdManagerProxy<'static>,
    dir: PathBuf,
}

/// One interface's transaction: the files as they were before.
pub struct Snapshot {
    index: u32,
    iface: String,
    mac: MacAddr,
    before: Vec<(PathBuf, Option<Vec<u8>>)>,
}

impl NetworkdBackend {
    /// Use a bus connection on which networkd was found.
    pub async fn on(conn: zbus::Connection) -> Result<Self, BackendError> {
        let manager = NetworkdManagerProxy::builder(&conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await
            .map_err(BackendError::Bus)?;
        Ok(NetworkdBackend { conn, manager, dir: PathBuf::from(files::DIR) })
    }

    fn paths(&self, mac: MacAddr) -> (PathBuf, PathBuf) {
        let (network, link) = files::file_names(mac);
        (self.dir.join(network), self.dir.join(link))
    }

    fn call<'a>(&self, op: &'static str, iface: &'a str, mac: MacAddr) -> impl Fn(zbus::Error) -> BackendError + 'a {
        move |source| BackendError::Call { op, iface: iface.to_string(), mac, source }
    }

    fn io<'a>(&self, op: &'static str, iface: &'a str, mac: MacAddr) -> impl Fn(std::io::Error) -> BackendError + 'a {
        move |source| BackendError::File { op, iface: iface.to_string(), mac, source }
    }

    async fn reload(&self, index: Option<u32>, iface: &str, mac: MacAddr) -> Result<(), BackendError> {
        self.manager.reload().await.map_err(self.call("Reload", iface, mac))?;
        if let Some(index) = index {
            let index = i32::try_from(index).unwrap_or(i32::MAX);
            self.manager.reconfigure_link(index).await.map_err(self.call("ReconfigureLink", iface, mac))?;
        }
        Ok(())
    }
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

    async fn owned(&self) -> Result<Vec<Owned>, BackendError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(BackendError::Dir { path: self.dir.clone(), source });
            }
        };
        let mut owned: Vec<Owned> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                name.starts_with(files::PREFIX) && name.ends_with(".network")
            })
            .filter_map(|p| {
                let text = std::fs::read_to_string(&p).ok()?;
                files::owned_from(&text, &p.to_string_lossy())
            })
            .collect();
        owned.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(owned)
    }

    async fn begin(&self, link: &LinkRef, mac: MacAddr) -> Result<Snapshot, BackendError> {
        let (network, link_file) = self.paths(mac);
        let before = [network, link_file].into_iter().map(|p| (p.clone(), std::fs::read(&p).ok())).collect();
        Ok(Snapshot { index: link.index, iface: link.name.clone(), mac, before })
    }

    async fn generated(&self) -> Result<Vec<Generated>, BackendError> {
        // networkd makes no configuration of its own.
        Ok(Vec::new())
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
        txn: &Snapshot,
        plan: &InterfacePlan,
        original_name: Option<&str>,
    ) -> Result<Option<String>, BackendError> {
        let name = plan.name.as_deref().unwrap_or_default();
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
        let meta = files::Meta::of(plan, name, original_name);
        let unrenderable = |e: files::RenderError| self.io("render drop-in", name, plan.mac)(std::io::Error::other(e));
        let network_text = files::network_unit(&plan.desired).render(&meta).map_err(unrenderable)?;
        let link_text = files::link_unit(plan.mac, name).render(&meta).map_err(unrenderable)?;
        let (network, link) = self.paths(plan.mac);
        write_atomic(&network, network_text.as_bytes()).map_err(self.io("write .network", name, plan.mac))?;
        write_atomic(&link, link_text.as_bytes()).map_err(self.io("write .link", name, plan.mac))?;
        self.reload(Some(txn.index), name, plan.mac).await?;
        let created = txn.before.first().is_some_and(|(_, old)| old.is_none());
        Ok(created.then(|| network.to_string_lossy().into_owned()))
    }

    async fn confirm(&self, txn: &Snapshot) -> Result<Option<String>, BackendError> {
        let call = self.call("Link.AdministrativeState", &txn.iface, txn.mac);
        let index = i32::try_from(txn.index).unwrap_or(i32::MAX);
        let (_, path) = self.manager.get_link_by_index(index).await.map_err(&call)?;
        let link = NetworkdLinkProxy::builder(&self.conn)
            .path(path)
            .map_err(&call)?
            .cache_properties(CacheProperties::No)
            .build()
            .await
            .map_err(&call)?;
        let state = link.administrative_state().await.map_err(&call)?;
        Ok((state != "configured").then(|| format!("networkd reports the link {state}, not configured")))
    }

    async fn commit(&self, _txn: Snapshot) -> Result<(), BackendError> {
        Ok(())
    }

    async fn rollback(&self, txn: Snapshot, _created: Option<&str>) -> Result<(), BackendError> {
        for (path, old) in &txn.before {
            match old {
                Some(content) => write_atomic(path, content),
                None => remove_if_present(path),
            }
            .map_err(self.io("restore previous files", &txn.iface, txn.mac))?;
        }
        self.reload(Some(txn.index), &txn.iface, txn.mac).await
    }

    async fn remove(&self, owned: &Owned) -> Result<(), BackendError> {
        let (network, link) = self.paths(owned.mac);
        for path in [&network, &link] {
            remove_if_present(path).map_err(self.io("delete drop-in", &owned.name, owned.mac))?;
        }
        self.reload(None, &owned.name, owned.mac).await
    }
}
