// SPDX-License-Identifier: Apache-2.0
//! Which network manager runs here: the one that owns its name on the system bus
//! (NetworkManager when both do, unless the config says otherwise), behind one type
//! so that the rest of the daemon does not know which.

use super::BackendError;
use super::networkd::{NETWORKD_BUS_NAME, NetworkdBackend};
use super::networkmanager::NetworkManagerBackend;
use super::networkmanager::dbus::NM_BUS_NAME;
use crate::config::BackendChoice;

/// The backend in use. The daemon runs generic over [`super::Backend`]; this enum
/// is only what [`select`] found, opened once by [`with_backend!`].
pub enum AnyBackend {
    /// NetworkManager.
    NetworkManager(NetworkManagerBackend),
    /// systemd-networkd.
    Networkd(NetworkdBackend),
}

/// Run `$body` with `$b` bound to the selected backend as its own type: the one
/// place where the two backends are told apart.
macro_rules! with_backend {
    ($any:expr, |$b:ident| $body:expr) => {
        match $any {
            $crate::backend::AnyBackend::NetworkManager($b) => $body,
            $crate::backend::AnyBackend::Networkd($b) => $body,
        }
    };
}
pub(crate) use with_backend;

/// How long any D-Bus call may take: a hung network manager must fail a pass, not
/// stall it (and with it the watchdog's pings) for ever.
pub const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// A new connection to the system bus, its calls bounded by [`CALL_TIMEOUT`].
pub async fn system_bus() -> Result<zbus::Connection, BackendError> {
    zbus::connection::Builder::system()
        .map_err(BackendError::Bus)?
        .method_timeout(CALL_TIMEOUT)
        .build()
        .await
        .map_err(BackendError::Bus)
}

/// Whether `bus_name` has an owner on the bus.
async fn running(conn: &zbus::Connection, bus_name: &'static str) -> Result<bool, BackendError> {
    let bus = zbus::fdo::DBusProxy::new(conn).await.map_err(BackendError::Bus)?;
    let name = zbus::names::BusName::try_from(bus_name).map_err(|e| BackendError::Bus(e.into()))?;
    bus.name_has_owner(name).await.map_err(|e| BackendError::Bus(e.into()))
}

/// An error unless `service` owns `bus_name` on the bus.
pub async fn require(
    conn: &zbus::Connection,
    bus_name: &'static str,
    service: &'static str,
) -> Result<(), BackendError> {
    if running(conn, bus_name).await? { Ok(()) } else { Err(BackendError::NotRunning { service, bus_name }) }
}

/// Connect to the system bus and pick the backend.
pub async fn select(choice: BackendChoice, rollback_timeout_secs: u32) -> Result<AnyBackend, BackendError> {
    let conn = system_bus().await?;
    let (nm, networkd) = (running(&conn, NM_BUS_NAME).await?, running(&conn, NETWORKD_BUS_NAME).await?);
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
