// SPDX-License-Identifier: Apache-2.0
//! The one-shot subcommands: `apply`, `plan`, `cleanup`, `inventory`.
//! Exit codes (DESIGN.md): 0 all configured, 1 some interface failed/blocked/not
//! found, 2 invalid input or usage, 3 backend or cluster unreachable.

mod apply;
mod cleanup;
mod config;
mod doctor;
mod inventory;
pub mod man;
mod run;

pub use apply::{apply, plan};
pub use cleanup::cleanup;
pub use config::show_config;
pub use doctor::doctor;
pub use inventory::inventory;
pub use run::run;

use std::process::ExitCode;

use crate::backend::journal::{self, Lock};
use crate::backend::{AnyBackend, Backend, BackendError, select, with_backend};
use crate::config::Settings;
use crate::observe::netlink::Netlink;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every interface configured (or nothing to do).
    Ok = 0,
    /// Some interface failed, was blocked or not found.
    Failed = 1,
    /// Invalid input or usage.
    Invalid = 2,
    /// The backend or the cluster could not be reached.
    Unreachable = 3,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// A command that could not run; the message is printed once, on stderr.
#[derive(Debug)]
pub struct Fatal {
    /// Exit code.
    pub exit: Exit,
    /// What happened and what to do.
    pub message: String,
}

impl Fatal {
    /// Bad input (exit 2).
    pub fn invalid(message: impl Into<String>) -> Self {
        Fatal { exit: Exit::Invalid, message: message.into() }
    }
}

impl From<BackendError> for Fatal {
    fn from(e: BackendError) -> Self {
        let exit = if e.is_unreachable() { Exit::Unreachable } else { Exit::Failed };
        Fatal { exit, message: e.to_string() }
    }
}

impl From<crate::observe::netlink::NetlinkError> for Fatal {
    fn from(e: crate::observe::netlink::NetlinkError) -> Self {
        Fatal { exit: Exit::Unreachable, message: e.to_string() }
    }
}

/// Output format of machine-readable commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// YAML.
    Yaml,
    /// JSON.
    Json,
}

/// Print `value` as YAML or JSON.
pub fn print_data<T: serde::Serialize>(value: &T, format: Format) {
    let text = match format {
        Format::Json => serde_json::to_string_pretty(value).map(|s| s + "\n").unwrap_or_default(),
        _ => serde_yaml::to_string(value).unwrap_or_default(),
    };
    print!("{text}");
}

/// Netlink and the backend that runs here (or the configured one).
pub async fn connect(settings: &Settings) -> Result<(Netlink, AnyBackend), Fatal> {
    let net = Netlink::connect()?;
    let backend = connect_backend(settings).await?;
    tracing::debug!(backend = with_backend!(&backend, |b| b.name()), "backend selected");
    Ok((net, backend))
}

/// The backend that runs here (or the configured one), on a new bus connection.
pub async fn connect_backend(settings: &Settings) -> Result<AnyBackend, BackendError> {
    let timeout = u32::try_from(settings.rollback_timeout.as_secs()).unwrap_or(u32::MAX);
    select(settings.backend, timeout).await
}

/// The transaction lock for a command that changes the host, after rolling back
/// what a killed `multinicd` left open. Refused while another holds it (a running
/// `multinicd run`); `None`, with a warning, when the lock cannot be made at all.
pub async fn take_host<B: Backend>(net: &Netlink, backend: &B) -> Result<Option<Lock>, Fatal> {
    match Lock::try_acquire() {
        Ok(Some(lock)) => {
            journal::recover(&lock, backend, net).await;
            Ok(Some(lock))
        }
        Ok(None) => Err(Fatal {
            exit: Exit::Unreachable,
            message: "another multinicd is changing this host's NICs (the service, or an apply or cleanup): \
                      stop it first (systemctl stop multinicd) or wait for it"
                .into(),
        }),
        Err(e) => {
            tracing::warn!(dir = journal::DIR, error = %e, "cannot take the transaction lock: transactions are not recorded safely");
            Ok(None)
        }
    }
}
