//! NetworkManager's D-Bus API, the parts multinic uses: typed proxies and NM's own
//! constant names (see `man 5 nm-settings-dbus` and the D-Bus API reference,
//! <https://networkmanager.dev/docs/api/latest/spec.html>).

use std::collections::HashMap;

use zbus::proxy;
use zbus::zvariant::{ObjectPath, OwnedObjectPath, OwnedValue, Value};

/// Settings as NM takes them: `a{sa{sv}}`.
pub type Settings<'a> = HashMap<&'a str, HashMap<&'a str, Value<'a>>>;
/// Settings as NM returns them.
pub type OwnedSettings = HashMap<String, HashMap<String, OwnedValue>>;

/// Well-known bus name of NetworkManager.
pub const NM_BUS_NAME: &str = "org.freedesktop.NetworkManager";

/// `NMCheckpointCreateFlags`: none.
pub const NM_CHECKPOINT_CREATE_FLAG_NONE: u32 = 0;
/// `NMSettingsAddConnection2Flags`: persist the profile to disk.
pub const NM_SETTINGS_ADD_CONNECTION2_FLAG_TO_DISK: u32 = 0x1;
/// `NMSettingsAddConnection2Flags`: do not autoconnect until activated by hand,
/// so that NM does not race our own `ActivateConnection`.
pub const NM_SETTINGS_ADD_CONNECTION2_FLAG_BLOCK_AUTOCONNECT: u32 = 0x20;
/// `NMSettingsUpdate2Flags`: persist to disk.
pub const NM_SETTINGS_UPDATE2_FLAG_TO_DISK: u32 = 0x1;
/// `NMSettingsUpdate2Flags`: block autoconnect until activated by hand.
pub const NM_SETTINGS_UPDATE2_FLAG_BLOCK_AUTOCONNECT: u32 = 0x20;
/// `NMDeviceState`: activated.
pub const NM_DEVICE_STATE_ACTIVATED: u32 = 100;
/// `NMActiveConnectionState`: activated.
pub const NM_ACTIVE_CONNECTION_STATE_ACTIVATED: u32 = 2;

/// `org.freedesktop.NetworkManager`.
#[proxy(
    interface = "org.freedesktop.NetworkManager",
    default_service = "org.freedesktop.NetworkManager",
    default_path = "/org/freedesktop/NetworkManager"
)]
pub trait NetworkManager {
    /// Device object of a kernel interface name.
    fn get_device_by_ip_iface(&self, iface: &str) -> zbus::Result<OwnedObjectPath>;
    /// Activate a profile on a device.
    fn activate_connection(
        &self,
        connection: &ObjectPath<'_>,
        device: &ObjectPath<'_>,
        specific_object: &ObjectPath<'_>,
    ) -> zbus::Result<OwnedObjectPath>;
    /// Deactivate an active connection.
    fn deactivate_connection(&self, active_connection: &ObjectPath<'_>) -> zbus::Result<()>;
    /// Snapshot the given devices; NM rolls back by itself after `rollback_timeout` s.
    fn checkpoint_create(
        &self,
        devices: &[&ObjectPath<'_>],
        rollback_timeout: u32,
        flags: u32,
    ) -> zbus::Result<OwnedObjectPath>;
    /// Keep the changes made since the checkpoint.
    fn checkpoint_destroy(&self, checkpoint: &ObjectPath<'_>) -> zbus::Result<()>;
    /// Restore the checkpoint; per device path, 0 on success.
    fn checkpoint_rollback(&self, checkpoint: &ObjectPath<'_>) -> zbus::Result<HashMap<String, u32>>;
    /// Active connections.
    #[zbus(property)]
    fn active_connections(&self) -> zbus::Result<Vec<OwnedObjectPath>>;
    /// Daemon version.
    #[zbus(property)]
    fn version(&self) -> zbus::Result<String>;
}

/// `org.freedesktop.NetworkManager.Settings`.
#[proxy(
    interface = "org.freedesktop.NetworkManager.Settings",
    default_service = "org.freedesktop.NetworkManager",
    default_path = "/org/freedesktop/NetworkManager/Settings"
)]
pub trait NmSettings {
    /// All profiles.
    fn list_connections(&self) -> zbus::Result<Vec<OwnedObjectPath>>;
    /// Add a profile.
    fn add_connection2(
        &self,
        settings: Settings<'_>,
        flags: u32,
        args: HashMap<&str, Value<'_>>,
    ) -> zbus::Result<(OwnedObjectPath, HashMap<String, OwnedValue>)>;
}

/// `org.freedesktop.NetworkManager.Settings.Connection`.
#[proxy(
    interface = "org.freedesktop.NetworkManager.Settings.Connection",
    default_service = "org.freedesktop.NetworkManager"
)]
pub trait NmConnection {
    /// The profile's settings (without secrets).
    fn get_settings(&self) -> zbus::Result<OwnedSettings>;
    /// Replace the profile's settings.
    fn update2(
        &self,
        settings: Settings<'_>,
        flags: u32,
        args: HashMap<&str, Value<'_>>,
    ) -> zbus::Result<HashMap<String, OwnedValue>>;
    /// Delete the profile (deactivating it).
    fn delete(&self) -> zbus::Result<()>;
}

/// `org.freedesktop.NetworkManager.Connection.Active`.
#[proxy(
    interface = "org.freedesktop.NetworkManager.Connection.Active",
    default_service = "org.freedesktop.NetworkManager"
)]
pub trait NmActiveConnection {
    /// The profile it was activated from.
    #[zbus(property)]
    fn connection(&self) -> zbus::Result<OwnedObjectPath>;
    /// `NMActiveConnectionState`.
    #[zbus(property)]
    fn state(&self) -> zbus::Result<u32>;
}

/// `org.freedesktop.NetworkManager.Device`.
#[proxy(interface = "org.freedesktop.NetworkManager.Device", default_service = "org.freedesktop.NetworkManager")]
pub trait NmDevice {
    /// The active connection on the device, `/` when none.
    #[zbus(property)]
    fn active_connection(&self) -> zbus::Result<OwnedObjectPath>;
    /// `NMDeviceState`.
    #[zbus(property)]
    fn state(&self) -> zbus::Result<u32>;
}
