// SPDX-License-Identifier: Apache-2.0
//! Which network manager runs here: the one that owns its name on the system bus
//! (NetworkManager when both do, unless the config says otherwise), behind one type
//! so that the rest of the daemon does not know which.

use multinic_api::MacAddr;

use super::networkd::{NETWORKD_BUS_NAME, NetworkdBackend, Snapshot};
use super::networkmanager::dbus::NM_BUS_NAME;
use super::networkmanager::{Checkpoint, NetworkManagerBackend};
use super::{Backend, BackendError, Managed, Readiness};
use crate::config::BackendChoice;
use crate::observe::Generated;
use crate::plan::{InterfacePlan, LinkRef, Owned};

/// The backend in use.
pub enum AnyBackend {
    /// NetworkManager.
    NetworkManager(NetworkManagerBackend),
    /// systemd-networkd.
    Networkd(NetworkdBackend),
}

/// Its transaction.
#[derive(serde::Serialize, serde::Deserialize)]
pub enum AnyTxn {
    /// An NM checkpoint.
    NetworkManager(Checkpoint),
    /// networkd: the files before.
    Networkd(Snapshot),
}

/// How long any D-Bus call may take: a hung network manager must fail a pass, not
/// stall it (and with it the watchdog's pings) for ever.
pub const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// Connect to the system bus and pick the backend.
pub async fn select(choice: BackendChoice, rollback_timeout_secs: u32) -> Result<AnyBackend, BackendError> {
    let conn = zbus::connection::Builder::system()
        .map_err(BackendError::Bus)?
        .method_timeout(CALL_TIMEOUT)
        .build()
        .await
        .map_err(BackendError::Bus)?;
    let bus = zbus::fdo::DBusProxy::new(&conn).await.map_err(BackendError::Bus)?;
    let running = |name: &'static str| {
        let bus = bus.clone();
        async move {
            let name = zbus::names::BusName::try_from(name).expect("valid bus name");
            bus.name_has_owner(name).await.map_err(|e| BackendError::Bus(e.into()))
        }
    };
    let (nm, networkd) = (running(NM_BUS_NAME).await?, running(NETWORKD_BUS_NAME).await?);
    let pick_nm = match choice {
        BackendChoice::NetworkManager => true,
        BackendChoice::Networkd => false,
        BackendChoice::Auto => nm || !networkd,
    };
    match (pick_nm, nm, networkd) {
        (true, true, _) => {
            Ok(AnyBackend::NetworkManager(NetworkManagerBackend::on(conn, rollback_timeout_secs).await?))
        }
        (false, _, true) => Ok(AnyBackend::Networkd(NetworkdBackend::on(conn).await?)),
        (true, false, _) if choice == BackendChoice::NetworkManager => Err(BackendError::NotRunning {
            service: "NetworkManager (backend: networkmanager in the config)",
            bus_name: NM_BUS_NAME,
        }),
        (false, _, false) if choice == BackendChoice::Networkd => Err(BackendError::NotRunning {
            service: "systemd-networkd (backend: networkd in the config)",
            bus_name: NETWORKD_BUS_NAME,
        }),
        _ => Err(BackendError::NotRunning {
            service: "neither NetworkManager nor systemd-networkd",
            bus_name: "org.freedesktop.NetworkManager and org.freedesktop.network1",
        }),
    }
}

impl Backend for AnyBackend {
    type Txn = AnyTxn;

    fn name(&self) -> &'static str {
        match self {
            AnyBackend::NetworkManager(b) => b.name(),
            AnyBackend::Networkd(b) => b.name(),
        }
    }

    async fn read(&self) -> Result<Managed, BackendError> {
        match self {
            AnyBackend::NetworkManager(b) => b.read().await,
            AnyBackend::Networkd(b) => b.read().await,
        }
    }

    async fn begin(&self, link: &LinkRef, mac: MacAddr) -> Result<AnyTxn, BackendError> {
        match self {
            AnyBackend::NetworkManager(b) => b.begin(link, mac).await.map(AnyTxn::NetworkManager),
            AnyBackend::Networkd(b) => b.begin(link, mac).await.map(AnyTxn::Networkd),
        }
    }

    async fn release(&self, txn: &AnyTxn, name: &str, mac: MacAddr) -> Result<(), BackendError> {
        match (self, txn) {
            (AnyBackend::NetworkManager(b), AnyTxn::NetworkManager(t)) => b.release(t, name, mac).await,
            (AnyBackend::Networkd(b), AnyTxn::Networkd(t)) => b.release(t, name, mac).await,
            _ => unreachable!("a transaction belongs to the backend that began it"),
        }
    }

    async fn retire(&self, generated: &Generated, mac: MacAddr) -> Result<(), BackendError> {
        match self {
            AnyBackend::NetworkManager(b) => b.retire(generated, mac).await,
            AnyBackend::Networkd(b) => b.retire(generated, mac).await,
        }
    }

    async fn configure(
        &self,
        txn: &AnyTxn,
        plan: &InterfacePlan,
        original: Option<&str>,
    ) -> Result<Option<String>, BackendError> {
        match (self, txn) {
            (AnyBackend::NetworkManager(b), AnyTxn::NetworkManager(t)) => b.configure(t, plan, original).await,
            (AnyBackend::Networkd(b), AnyTxn::Networkd(t)) => b.configure(t, plan, original).await,
            _ => unreachable!("a transaction belongs to the backend that began it"),
        }
    }

    async fn confirm(&self, txn: &AnyTxn) -> Result<Readiness, BackendError> {
        match (self, txn) {
            (AnyBackend::NetworkManager(b), AnyTxn::NetworkManager(t)) => b.confirm(t).await,
            (AnyBackend::Networkd(b), AnyTxn::Networkd(t)) => b.confirm(t).await,
            _ => unreachable!("a transaction belongs to the backend that began it"),
        }
    }

    async fn commit(&self, txn: AnyTxn) -> Result<(), BackendError> {
        match (self, txn) {
            (AnyBackend::NetworkManager(b), AnyTxn::NetworkManager(t)) => b.commit(t).await,
            (AnyBackend::Networkd(b), AnyTxn::Networkd(t)) => b.commit(t).await,
            _ => unreachable!("a transaction belongs to the backend that began it"),
        }
    }

    async fn rollback(&self, txn: AnyTxn, created: Option<&str>) -> Result<(), BackendError> {
        match (self, txn) {
            (AnyBackend::NetworkManager(b), AnyTxn::NetworkManager(t)) => b.rollback(t, created).await,
            (AnyBackend::Networkd(b), AnyTxn::Networkd(t)) => b.rollback(t, created).await,
            _ => unreachable!("a transaction belongs to the backend that began it"),
        }
    }

    async fn remove(&self, owned: &Owned) -> Result<(), BackendError> {
        match self {
            AnyBackend::NetworkManager(b) => b.remove(owned).await,
            AnyBackend::Networkd(b) => b.remove(owned).await,
        }
    }
}
