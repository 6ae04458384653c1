// SPDX-License-Identifier: Apache-2.0
//! The D-Bus error replies the backends act on, by name, instead of matching the
//! error text where the decision is made.

/// A D-Bus error reply multinic tells apart: the bus's own, and NetworkManager's
/// (`NMManagerError`, `NMSettingsError`, `NMDeviceError` in libnm's `nm-errors.h`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbusError {
    /// The object has no such method (an older manager: networkd before 246 has no
    /// `Link.Describe`; a profile deleted meanwhile answers this too).
    UnknownMethod,
    /// No object at that path (the profile is gone).
    UnknownObject,
    /// The bus refused the call for now (too many pending calls or connections).
    LimitsExceeded,
    /// Nobody owns the name (the manager stopped): a reconnect, not a retry.
    ServiceUnknown,
    /// NetworkManager does not know the device (yet: a link it has not seen since
    /// it was renamed or attached).
    NmUnknownDevice,
    /// NetworkManager does not know the profile.
    NmUnknownConnection,
    /// The profile cannot be activated on the device now (the device is not ready).
    NmConnectionNotAvailable,
    /// The profile or the device changed between read and write.
    NmVersionIdMismatch,
    /// NetworkManager refuses the profile as invalid.
    NmInvalidConnection,
    /// NetworkManager refuses the caller.
    NmPermissionDenied,
    /// Another error reply.
    Other,
}

impl DbusError {
    /// The reply `e` carries; `None` when `e` is not an error reply (a broken
    /// connection, a timeout on our side).
    pub fn of(e: &zbus::Error) -> Option<Self> {
        let zbus::Error::MethodError(name, _, _) = e else { return None };
        let name = name.as_str();
        let nm =
            |suffix: &str| name.strip_prefix("org.freedesktop.NetworkManager.").is_some_and(|n| n.ends_with(suffix));
        Some(match name {
            "org.freedesktop.DBus.Error.UnknownMethod" => DbusError::UnknownMethod,
            "org.freedesktop.DBus.Error.UnknownObject" => DbusError::UnknownObject,
            "org.freedesktop.DBus.Error.LimitsExceeded" => DbusError::LimitsExceeded,
            "org.freedesktop.DBus.Error.ServiceUnknown" | "org.freedesktop.DBus.Error.NameHasNoOwner" => {
                DbusError::ServiceUnknown
            }
            "org.freedesktop.NetworkManager.UnknownDevice" => DbusError::NmUnknownDevice,
            "org.freedesktop.NetworkManager.UnknownConnection" => DbusError::NmUnknownConnection,
            "org.freedesktop.NetworkManager.ConnectionNotAvailable" => DbusError::NmConnectionNotAvailable,
            _ if nm("VersionIdMismatch") => DbusError::NmVersionIdMismatch,
            _ if nm("InvalidConnection") || nm("IncompatibleConnection") => DbusError::NmInvalidConnection,
            _ if nm("PermissionDenied") => DbusError::NmPermissionDenied,
            _ => DbusError::Other,
        })
    }

    /// The object or method is not there: nothing to act on.
    pub fn is_absent(e: &zbus::Error) -> bool {
        matches!(Self::of(e), Some(DbusError::UnknownMethod | DbusError::UnknownObject))
    }

    /// Whether the same call may well succeed a moment later, in the same
    /// transaction: the manager catching up with a link that was just renamed or
    /// attached, a concurrent change, a busy bus. Everything else rolls back.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            DbusError::LimitsExceeded
                | DbusError::NmUnknownDevice
                | DbusError::NmConnectionNotAvailable
                | DbusError::NmVersionIdMismatch
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_told_apart_by_name() {
        let reply = |name: &'static str| {
            zbus::Error::MethodError(zbus::names::OwnedErrorName::try_from(name).unwrap(), None, fake_message())
        };
        assert_eq!(DbusError::of(&reply("org.freedesktop.DBus.Error.UnknownMethod")), Some(DbusError::UnknownMethod));
        assert!(DbusError::is_absent(&reply("org.freedesktop.DBus.Error.UnknownObject")));
        let other = reply("org.freedesktop.NetworkManager.Settings.Failed");
        assert_eq!(DbusError::of(&other), Some(DbusError::Other));
        assert!(!DbusError::is_absent(&other));
        assert_eq!(DbusError::of(&zbus::Error::InvalidReply), None);
    }

    #[test]
    fn networkmanager_replies_say_whether_to_try_again() {
        let of = |name: &'static str| {
            DbusError::of(&zbus::Error::MethodError(
                zbus::names::OwnedErrorName::try_from(name).unwrap(),
                None,
                fake_message(),
            ))
            .unwrap()
        };
        for transient in [
            "org.freedesktop.NetworkManager.UnknownDevice",
            "org.freedesktop.NetworkManager.ConnectionNotAvailable",
            "org.freedesktop.NetworkManager.Device.VersionIdMismatch",
            "org.freedesktop.NetworkManager.Settings.VersionIdMismatch",
            "org.freedesktop.DBus.Error.LimitsExceeded",
        ] {
            assert!(of(transient).is_transient(), "{transient}");
        }
        assert_eq!(of("org.freedesktop.NetworkManager.Settings.InvalidConnection"), DbusError::NmInvalidConnection);
        assert_eq!(of("org.freedesktop.NetworkManager.Device.IncompatibleConnection"), DbusError::NmInvalidConnection);
        assert_eq!(of("org.freedesktop.NetworkManager.PermissionDenied"), DbusError::NmPermissionDenied);
        assert_eq!(of("org.freedesktop.DBus.Error.ServiceUnknown"), DbusError::ServiceUnknown);
        for permanent in [
            "org.freedesktop.NetworkManager.Settings.InvalidConnection",
            "org.freedesktop.NetworkManager.PermissionDenied",
            "org.freedesktop.NetworkManager.UnknownConnection",
            "org.freedesktop.DBus.Error.ServiceUnknown",
            "org.freedesktop.DBus.Error.UnknownObject",
            "org.freedesktop.NetworkManager.Failed",
        ] {
            assert!(!of(permanent).is_transient(), "{permanent}");
        }
    }

    fn fake_message() -> zbus::message::Message {
        zbus::message::Message::method_call("/", "Ping").unwrap().build(&()).unwrap()
    }
}
