// SPDX-License-Identifier: Apache-2.0
//! Open transactions on disk, so that a daemon killed in the middle of one (SIGKILL,
//! OOM, power cut of the process) can undo it when it starts again: the link's name
//! before the rename, the manager's undo data (NM's checkpoint and the `.link` it
//! had; networkd's previous files) and what the transaction created. A record is
//! written before the first change and removed once the transaction is committed or
//! rolled back; one left behind is rolled back before anything else is done.

use std::path::{Path, PathBuf};

use ipnet::IpNet;
use multinic_api::MacAddr;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::{info, warn};

use super::networkd::write_atomic;
use super::transaction::settle;
use super::{Backend, BackendError};
use crate::observe::Kernel;

/// Where the records live (`RuntimeDirectory=multinic`: kept across restarts of
/// the daemon, gone with a reboot, which also ends every transaction).
pub const DIR: &str = "/run/multinic/transactions";

/// Where the records are written: [`DIR`]; in the unit tests a directory of the
/// test's own thread, so that tests never see each other's (or the host's) records.
fn dir() -> PathBuf {
    #[cfg(test)]
    {
        thread_local!(static DIR: tempfile::TempDir = tempfile::tempdir().expect("a temporary directory"));
        DIR.with(|d| d.path().to_path_buf())
    }
    #[cfg(not(test))]
    PathBuf::from(DIR)
}

/// The right to run transactions on this host: `multinicd run` holds it for its
/// lifetime, `apply` and `cleanup` while they run. Only its holder rolls back the
/// records left behind: a record is also there while its transaction runs.
pub struct Lock {
    _file: std::fs::File,
}

impl Lock {
    /// Take it; `None` while another process holds it.
    pub fn try_acquire() -> std::io::Result<Option<Lock>> {
        std::fs::create_dir_all(dir())?;
        let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(lock_path())?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Lock { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

fn lock_path() -> PathBuf {
    dir().join("lock")
}

/// One open transaction.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Open<T> {
    /// Which backend it belongs to.
    backend: String,
    mac: MacAddr,
    /// The link's name when the transaction began.
    name: String,
    /// Addresses that may be on the link when it is renamed back.
    addresses: Vec<IpNet>,
    /// Addresses the transaction adds: taken off when it is undone.
    adds: Vec<IpNet>,
    /// Verified, being committed.
    #[serde(default)]
    committing: bool,
    txn: T,
}

/// The record of one interface's transaction.
pub struct Journal {
    path: PathBuf,
}

impl Journal {
    /// Record a transaction that begins on the link now called `name`.
    pub fn open<T: Serialize>(
        backend: &str,
        mac: MacAddr,
        name: &str,
        addresses: Vec<IpNet>,
        adds: Vec<IpNet>,
        txn: &T,
    ) -> std::io::Result<Journal> {
        let journal = Journal { path: dir().join(format!("{}.json", mac.to_string().replace(':', ""))) };
        let record = Open { backend: backend.into(), mac, name: name.into(), addresses, adds, committing: false, txn };
        journal.write(&record)?;
        Ok(journal)
    }

    /// The transaction as it is now (with what it created).
    pub fn update<T: Serialize + DeserializeOwned>(&self, txn: &T) -> std::io::Result<()> {
        let record: Open<serde_json::Value> = read(&self.path)?;
        let txn = serde_json::to_value(txn).map_err(std::io::Error::other)?;
        self.write(&Open { txn, ..record })
    }

    /// The transaction verified and is being committed: not to be undone.
    pub fn committing(&self) -> std::io::Result<()> {
        let mut record: Open<serde_json::Value> = read(&self.path)?;
        record.committing = true;
        self.write(&record)
    }

    fn write<T: Serialize>(&self, record: &Open<T>) -> std::io::Result<()> {
        std::fs::create_dir_all(dir())?;
        write_atomic(&self.path, &serde_json::to_vec(record).map_err(std::io::Error::other)?)
    }

    /// The transaction ended (committed or rolled back).
    pub fn close(self) {
        if let Err(e) = std::fs::remove_file(&self.path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            warn!(path = %self.path.display(), error = %e, "cannot remove the record of a finished transaction");
        }
    }
}

/// A removal under way: once the owned configuration is deleted, the kernel name
/// it recorded lives only here until the link has it back.
#[derive(serde::Serialize, serde::Deserialize)]
struct Removing {
    mac: MacAddr,
    /// multinic's name of the link.
    name: String,
    restore: String,
    addresses: Vec<IpNet>,
}

/// The record of one removal that gives a link its kernel name back.
pub struct RemovalRecord {
    path: PathBuf,
}

impl RemovalRecord {
    /// Record that the link called `name` gets `restore` back.
    pub fn open(mac: MacAddr, name: &str, restore: &str, addresses: &[IpNet]) -> std::io::Result<RemovalRecord> {
        std::fs::create_dir_all(dir())?;
        let path = dir().join(format!("remove-{}.json", mac.to_string().replace(':', "")));
        let record = Removing { mac, name: name.into(), restore: restore.into(), addresses: addresses.to_vec() };
        write_atomic(&path, &serde_json::to_vec(&record).map_err(std::io::Error::other)?)?;
        Ok(RemovalRecord { path })
    }

    /// The link has its name back (or the removal failed before deleting anything).
    pub fn close(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The records left on disk: transactions still open, and removals (`remove-<mac>.json`).
pub fn open_records() -> Vec<PathBuf> {
    std::fs::read_dir(dir())
        .map(|e| {
            e.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "json")).collect()
        })
        .unwrap_or_default()
}

fn read<T: DeserializeOwned>(path: &Path) -> std::io::Result<T> {
    serde_json::from_slice(&std::fs::read(path)?).map_err(std::io::Error::other)
}

/// A transaction record, also as releases before this one wrote it: the
/// transaction inside the backend's name (`{"NetworkManager": …}`), and what it
/// created beside it (`created`), now part of the transaction.
fn read_open<T: DeserializeOwned>(path: &Path) -> std::io::Result<Open<T>> {
    let mut record: serde_json::Value = read(path)?;
    upgrade(&mut record);
    serde_json::from_value(record).map_err(std::io::Error::other)
}

fn upgrade(record: &mut serde_json::Value) {
    let Some(fields) = record.as_object_mut() else { return };
    let created = fields.remove("created").filter(|c| !c.is_null());
    let Some(txn) = fields.get_mut("txn") else { return };
    if let Some(inner) = txn
        .as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.get("NetworkManager").or_else(|| o.get("Networkd")).cloned())
    {
        *txn = inner;
    }
    if let (Some(created), Some(t)) = (created, txn.as_object_mut()) {
        t.entry("created").or_insert(created);
    }
}

/// Roll back every transaction a previous run left open: the manager's side first,
/// then the link gets its name back. Errors are logged; a record that cannot be
/// rolled back stays for the next try.
pub async fn recover<B: Backend, K: Kernel>(_lock: &Lock, backend: &B, net: &K) {
    let records = open_records();
    let (removals, transactions): (Vec<PathBuf>, Vec<PathBuf>) =
        records.into_iter().partition(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("remove-")));
    for path in removals {
        finish_removal(&path, net).await;
    }
    for path in transactions {
        let record: Open<B::Txn> = match read_open(&path) {
            Ok(r) => r,
            Err(e) => {
                warn!(path = %path.display(), error = %e, "unreadable record of an interrupted transaction; removing it");
                let _ = std::fs::remove_file(&path);
                continue;
            }
        };
        if record.backend != backend.name() {
            // Left for that backend: the manager that made it may be back later.
            warn!(path = %path.display(), backend = %record.backend, "an interrupted transaction of the other backend; leaving it");
            continue;
        }
        if record.committing {
            // It had verified: what it wrote is what the spec wants; the next pass
            // checks it like any other configuration.
            info!(mac = %record.mac, "a transaction was interrupted while committing: keeping its changes");
            let _ = std::fs::remove_file(&path);
            continue;
        }
        let Open { mac, name, addresses, adds, txn, .. } = record;
        warn!(mac = %mac, interface = %name, "a transaction was interrupted (the daemon stopped in it): rolling it back");
        if let Err(e) = backend.rollback(txn).await {
            // NM rolls an expired checkpoint back by itself; what is left is the name.
            warn!(mac = %mac, error = %e, "rolling back the interrupted transaction");
        }
        if let Err(e) = undo_link(net, mac, &name, &addresses, &adds).await {
            warn!(mac = %mac, interface = %name, error = %e, "cannot give the link its name back; trying again next time");
            continue;
        }
        let _ = std::fs::remove_file(&path);
        info!(mac = %mac, interface = %name, "interrupted transaction rolled back");
    }
}

/// Give the link of an interrupted removal its kernel name back, if it still has
/// multinic's name.
async fn finish_removal<K: Kernel>(path: &Path, net: &K) {
    let Ok(r) = read::<Removing>(path) else {
        let _ = std::fs::remove_file(path);
        return;
    };
    warn!(mac = %r.mac, interface = %r.name, "a removal was interrupted: giving the link its name {} back", r.restore);
    let result = async {
        let links = net.links().await?;
        let Some(link) = crate::plan::find_link(r.mac, &links).link() else { return Ok(()) };
        if link.name != r.name || links.iter().any(|l| l.index != link.index && l.is_called(&r.restore)) {
            return Ok(());
        }
        settle(net, link.index, &r.addresses, false).await?;
        Ok::<_, BackendError>(net.rename(link.index, &r.restore, &r.addresses).await?)
    }
    .await;
    match result {
        Ok(()) => {
            let _ = std::fs::remove_file(path);
        }
        Err(e) => warn!(mac = %r.mac, error = %e, "cannot finish the interrupted removal; trying again next time"),
    }
}

/// The link as it was: without the addresses the transaction added (the manager
/// takes them off asynchronously, if at all), under its name.
async fn undo_link<K: Kernel>(
    net: &K,
    mac: MacAddr,
    name: &str,
    addresses: &[IpNet],
    adds: &[IpNet],
) -> Result<(), BackendError> {
    let links = net.links().await?;
    let Some(link) = crate::plan::find_link(mac, &links).link() else {
        // The NIC is gone, or its MAC is ambiguous: nothing to undo on a guess.
        return Ok(());
    };
    settle(net, link.index, adds, false).await?;
    if link.name == name {
        return Ok(());
    }
    Ok(net.rename(link.index, name, addresses).await?)
}

/// Pause here when `MULTINIC_TEST_PAUSE_AT` names this step, for the tests that
/// kill the daemon in the middle of a transaction. Says so on stderr.
pub async fn test_pause(step: &str) {
    tracing::debug!(step, "transaction step");
    static AT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    if AT.get_or_init(|| std::env::var("MULTINIC_TEST_PAUSE_AT").ok()).as_deref() == Some(step) {
        warn!(step, "paused at transaction step (MULTINIC_TEST_PAUSE_AT)");
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::networkmanager::Checkpoint;

    /// A record an earlier release left behind (the transaction under the
    /// backend's name, what it created beside it) still rolls back what it created.
    #[test]
    fn records_of_earlier_releases_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fa163e000001.json");
        let old = serde_json::json!({
            "backend": "networkmanager", "mac": "fa:16:3e:00:00:01", "name": "ens4",
            "addresses": [], "adds": ["10.60.0.10/24"], "created": "/org/freedesktop/NetworkManager/Settings/9",
            "committing": false,
            "txn": {"NetworkManager": {"owner": ":1.5", "path": "/org/freedesktop/NetworkManager/Checkpoint/1",
                    "device": "/org/freedesktop/NetworkManager/Devices/3", "iface": "ens4",
                    "mac": "fa:16:3e:00:00:01", "link_before": null}}
        });
        std::fs::write(&path, old.to_string()).unwrap();
        let record: Open<Checkpoint> = read_open(&path).unwrap();
        let txn = serde_json::to_value(&record.txn).unwrap();
        assert_eq!(txn["created"], "/org/freedesktop/NetworkManager/Settings/9");
        assert_eq!(txn["iface"], "ens4");
        assert_eq!(record.adds, vec!["10.60.0.10/24".parse::<IpNet>().unwrap()]);

        // As written now: read back unchanged.
        std::fs::write(&path, serde_json::to_vec(&record).unwrap()).unwrap();
        let again: Open<Checkpoint> = read_open(&path).unwrap();
        assert_eq!(serde_json::to_value(&again.txn).unwrap(), txn);
    }
}
