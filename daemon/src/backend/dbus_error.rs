// SPDX-License-Identifier: Apache-2.0
//! The D-Bus error replies the backends act on, by name, instead of matching the
//! error text where the decision is made.

/// A D-Bus error reply multinic tells apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbusError {
    /// The object has no such method (an older manager: networkd before 246 has no
    /// `Link.Describe`; a profile deleted meanwhile answers this too).
    UnknownMethod,
    /// No object at that path (the profile is gone).
    UnknownObject,
    /// Another error reply.
    Other,
}

impl DbusError {
    /// The reply `e` carries; `None` when `e` is not an error reply (a broken
    /// connection, a timeout on our side).
    pub fn of(e: &zbus::Error) -> Option<Self> {
        let zbus::Error::MethodError(name, _, _) = e else { return None };
        Some(match name.as_str() {
            "org.freedesktop.DBus.Error.UnknownMethod" => DbusError::UnknownMethod,
            "org.freedesktop.DBus.Error.UnknownObject" => DbusError::UnknownObject,
            _ => DbusError::Other,
        })
    }

    /// The object or method is not there: nothing to act on.
    pub fn is_absent(e: &zbus::Error) -> bool {
        matches!(Self::of(e), Some(DbusError::UnknownMethod | DbusError::UnknownObject))
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
        let other = reply("org.freedesktop.NetworkManager.Settings.Connection.PermissionDenied");
        assert_eq!(DbusError::of(&other), Some(DbusError::Other));
        assert!(!DbusError::is_absent(&other));
        assert_eq!(DbusError::of(&zbus::Error::InvalidReply), None);
    }

    fn fake_message() -> zbus::message::Message {
        zbus::message::Message::method_call("/", "Ping").unwrap().build(&()).unwrap()
    }
}
