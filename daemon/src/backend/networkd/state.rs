// SPDX-License-Identifier: Apache-2.0
//! A link's setup state as networkd reports it (`AdministrativeState`, see
//! `networkctl(1)`), read once into a type.

use std::fmt;

/// Where networkd is with a link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetupState {
    /// Waiting for udev, or just matched: not started.
    Pending,
    /// Being configured.
    Configuring,
    /// Done, as its `.network` says.
    Configured,
    /// Not networkd's (no matching `.network`).
    Unmanaged,
    /// networkd gave up on it.
    Failed,
    /// Any other state (`linger`, or one a later networkd adds), as networkd wrote it.
    Other(String),
}

impl SetupState {
    /// Read networkd's word.
    pub fn parse(state: &str) -> Self {
        match state {
            "pending" | "initialized" => SetupState::Pending,
            "configuring" => SetupState::Configuring,
            "configured" => SetupState::Configured,
            "unmanaged" => SetupState::Unmanaged,
            "failed" => SetupState::Failed,
            other => SetupState::Other(other.to_string()),
        }
    }

    /// networkd is done with the link, whatever the outcome.
    pub fn is_settled(&self) -> bool {
        !matches!(self, SetupState::Pending | SetupState::Configuring)
    }
}

impl fmt::Display for SetupState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SetupState::Pending => "pending",
            SetupState::Configuring => "configuring",
            SetupState::Configured => "configured",
            SetupState::Unmanaged => "unmanaged",
            SetupState::Failed => "failed",
            SetupState::Other(s) => s,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_and_settle() {
        assert_eq!(SetupState::parse("configured"), SetupState::Configured);
        assert!(!SetupState::parse("initialized").is_settled());
        assert!(!SetupState::parse("configuring").is_settled());
        assert!(SetupState::parse("failed").is_settled());
        assert_eq!(SetupState::parse("linger"), SetupState::Other("linger".into()));
        assert_eq!(SetupState::parse("linger").to_string(), "linger");
    }
}
