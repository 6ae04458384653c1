// SPDX-License-Identifier: Apache-2.0
//! Network backends: one interface for NetworkManager and systemd-networkd, so that
//! the planner, the transaction and the status code do not know which one runs.

pub mod dbus_error;
pub mod journal;
pub mod networkd;
pub mod networkmanager;
pub mod select;
#[cfg(test)]
mod tests;
mod transaction;

use multinic_api::{MacAddr, Reason};

pub(crate) use select::with_backend;
pub use select::{AnyBackend, select};
pub use transaction::{Action, Outcome, Retry, Verify, apply_plan, before_applying, remove_all, remove_vlans};

use crate::observe::Generated;
use crate::observe::netlink::NetlinkError;
use crate::plan::vlan::OwnedVlan;
use crate::plan::{InterfacePlan, LinkRef, Owned};

/// A failed backend operation, with the interface it concerned.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// No system bus.
    #[error("cannot connect to the system D-Bus: {0}")]
    Bus(#[source] zbus::Error),
    /// The network manager does not own its name on the bus.
    #[error("{service} is not running on the system bus (looked for {bus_name})")]
    NotRunning {
        /// human name
        service: &'static str,
        /// bus name looked for
        bus_name: &'static str,
    },
    /// Reading the backend's state failed.
    #[error("{op}: {source}")]
    Read {
        /// what was read
        op: &'static str,
        /// the error
        #[source]
        source: zbus::Error,
    },
    /// A call about one interface failed.
    #[error("{op} for {iface} ({mac}): {source}")]
    Call {
        /// the D-Bus method
        op: &'static str,
        /// interface name
        iface: String,
        /// its MAC
        mac: MacAddr,
        /// the error
        #[source]
        source: zbus::Error,
    },
    /// A drop-in file could not be written, read or removed.
    #[error("{op} for {iface} ({mac}): {source}")]
    File {
        /// what was done
        op: &'static str,
        /// interface name
        iface: String,
        /// its MAC
        mac: MacAddr,
        /// the error
        #[source]
        source: std::io::Error,
    },
    /// The drop-in directory cannot be read.
    #[error("reading {path}: {source}")]
    Dir {
        /// the directory
        path: std::path::PathBuf,
        /// the error
        #[source]
        source: std::io::Error,
    },
    /// A netlink step (rename, observe) failed.
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    /// After the change, the API server is no longer reached as before.
    #[error("{iface} ({mac}) cuts the node off from its API server: {source}")]
    ApiServer {
        /// interface name
        iface: String,
        /// its MAC
        mac: MacAddr,
        /// what the check found
        #[source]
        source: crate::observe::reach::Unreachable,
    },
    /// networkd applies another `.network` to the link than multinic's: a file that
    /// sorts first and matches the NIC wins. Waiting does not help.
    #[error(
        "networkd applies {file} to {iface} ({mac}) instead of multinic's {ours}: that file sorts first and \
         matches this NIC; narrow its [Match] or rename it to sort after multinic's"
    )]
    OtherFile {
        /// interface name
        iface: String,
        /// its MAC
        mac: MacAddr,
        /// the file networkd applies
        file: String,
        /// multinic's file
        ours: String,
    },
    /// systemd-networkd would delete routes and rules multinic did not create.
    #[error("not configuring {iface} ({mac}): {why}")]
    NetworkdSettings {
        /// interface name
        iface: String,
        /// its MAC
        mac: MacAddr,
        /// what is wrong and what to do
        why: String,
    },
    /// The link did not reach the desired state in time.
    #[error("{iface} ({mac}) did not reach the desired state within {millis} ms: {diffs}")]
    Verify {
        /// interface name
        iface: String,
        /// its MAC
        mac: MacAddr,
        /// how long we waited
        millis: u128,
        /// what still differs
        diffs: String,
    },
}

impl BackendError {
    /// True when the backend itself cannot be reached (exit code 3).
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            BackendError::Bus(_)
                | BackendError::NotRunning { .. }
                | BackendError::Read { .. }
                | BackendError::Dir { .. }
        )
    }

    /// Whether the failed call may succeed when made again in a moment, inside the
    /// same transaction ([`dbus_error::DbusError::is_transient`]).
    pub fn is_transient(&self) -> bool {
        match self {
            BackendError::Call { source, .. } => {
                dbus_error::DbusError::of(source).is_some_and(dbus_error::DbusError::is_transient)
            }
            _ => false,
        }
    }

    /// The reason status gives.
    pub fn reason(&self) -> Reason {
        match self {
            BackendError::Bus(_) | BackendError::NotRunning { .. } | BackendError::Read { .. } => {
                Reason::BackendUnavailable
            }
            BackendError::Call { .. } => Reason::BackendCallFailed,
            BackendError::File { .. } | BackendError::Dir { .. } => Reason::DropInFailed,
            BackendError::Netlink(_) => Reason::NetlinkFailed,
            BackendError::Verify { .. } | BackendError::OtherFile { .. } => Reason::VerifyFailed,
            BackendError::NetworkdSettings { .. } => Reason::NetworkdSettings,
            BackendError::ApiServer { .. } => Reason::APIServerUnreachable,
        }
    }
}

/// What the manager says of a link in a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// It calls the link configured.
    Configured,
    /// Not yet; what it reports instead.
    Waiting(String),
}

/// What the backend holds, as [`Backend::read`] finds it.
#[derive(Clone, Debug, Default)]
pub struct Managed {
    /// multinic's own configurations.
    pub owned: Vec<Owned>,
    /// The manager's own catch-all configurations on NICs.
    pub generated: Vec<Generated>,
    /// multinic's VLAN configurations.
    pub vlans: Vec<OwnedVlan>,
}

/// What `multinicd doctor` learns of the network manager.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkup {
    /// Its version, when it says.
    pub version: Option<String>,
    /// Whether its settings let multinic work: a note, or what to fix.
    pub settings: Result<String, String>,
}

/// What a network manager must offer multinic. Each interface is applied as a
/// transaction: [`Backend::begin`] → (rename) → [`Backend::configure`] → verify →
/// [`Backend::commit`] or [`Backend::rollback`]. The transaction value owns what the
/// change made (NM: the profile it created), so that undoing it needs nothing else.
/// The futures are `Send`: the service runs passes on a multi-threaded controller.
pub trait Backend: Send + Sync + Sized + 'static {
    /// A started transaction (NM: a checkpoint), recorded on disk while it is open
    /// ([`journal`]).
    type Txn: serde::Serialize + serde::de::DeserializeOwned + Send + Sync;

    /// `networkmanager` or `networkd`.
    fn name(&self) -> &'static str;

    /// The manager's version and what its settings mean for multinic. Reads only.
    fn checkup(&self) -> impl Future<Output = Checkup> + Send;

    /// Connect again on a new bus connection (after the manager or the bus
    /// restarted); an error when the manager does not own its name on the bus.
    fn reconnect(&self) -> impl Future<Output = Result<Self, BackendError>> + Send;

    /// Everything multinic configured earlier, and what the manager put on NICs by
    /// itself (NM's auto-default DHCP profiles, networkd's catch-all files), with the
    /// devices it is on. Reads only.
    fn read(&self) -> impl Future<Output = Result<Managed, BackendError>> + Send;

    /// Start a transaction covering one link and the VLAN links on it (`vlans`, those
    /// that exist).
    fn begin(
        &self,
        link: &LinkRef,
        mac: MacAddr,
        vlans: &[LinkRef],
    ) -> impl Future<Output = Result<Self::Txn, BackendError>> + Send;

    /// Take whatever configuration is active on the link off it (before a rename).
    fn release(
        &self,
        txn: &Self::Txn,
        name: &str,
        mac: MacAddr,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Take the generated configuration off a NIC multinic takes over, so that it
    /// does not come back (NM: delete the profile; networkd: nothing, multinic's
    /// file sorts first and the catch-all is not multinic's to edit).
    fn retire(&self, generated: &Generated, mac: MacAddr) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Write and activate the configuration of the link now called `name`, and of
    /// its VLANs that [apply](crate::plan::vlan::VlanStep::applies); delete those of
    /// its `vlan_removals`. What it creates is kept in `txn`, also when it fails
    /// half-way, for [`Backend::rollback`].
    fn configure(
        &self,
        txn: &mut Self::Txn,
        plan: &InterfacePlan,
        name: &str,
        original_name: Option<&str>,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Whether the manager itself calls the link configured (NM: the device state;
    /// networkd: the link's setup state). An error when it never will (networkd
    /// applies another file).
    fn confirm(&self, txn: &Self::Txn) -> impl Future<Output = Result<Readiness, BackendError>> + Send;

    /// Keep the changes.
    fn commit(&self, txn: Self::Txn) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Undo the changes, including what [`Backend::configure`] created.
    fn rollback(&self, txn: Self::Txn) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Delete an owned configuration.
    fn remove(&self, owned: &Owned) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Delete an owned VLAN configuration (its link may stay: the transaction
    /// deletes what the manager leaves).
    fn remove_vlan(&self, owned: &OwnedVlan) -> impl Future<Output = Result<(), BackendError>> + Send;
}
