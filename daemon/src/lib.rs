// SPDX-License-Identifier: Apache-2.0
//! multinicd: turns the raw secondary NICs of a Kubernetes node into configured
//! interfaces (found by MAC, named `multinic0`…`multinic9`, MTU and static address
//! set, up) through NetworkManager or systemd-networkd over D-Bus, without touching
//! the primary network.
//!
//! A pass reads top to bottom: [`source`] (the spec) → [`observe`] (the host, what
//! the manager holds) → [`plan`] (pure: one record per interface, the safety rules)
//! → [`backend`] (one transaction per interface: begin, rename, configure, verify,
//! commit or roll back) → [`report`] (status, Events, journal). [`pass`] strings
//! them together for `apply --file` and the service ([`commands`]).

pub mod backend;
pub mod commands;
pub mod config;
pub mod journal;
pub mod metrics;
pub mod notify;
pub mod observe;
pub mod pass;
pub mod plan;
pub mod report;
pub mod retry;
pub mod source;
pub mod watch;

#[cfg(test)]
pub(crate) mod testing;
