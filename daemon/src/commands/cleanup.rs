// SPDX-License-Identifier: Apache-2.0
//! `multinicd cleanup`: remove everything multinic owns on this host, and nothing else.

use super::{Exit, Fatal, connect, take_host};
use crate::backend::{Backend, with_backend};
use crate::config::Settings;
use crate::observe::netlink::Netlink;
use crate::pass;

/// Remove every owned configuration and restore the kernel names multinic gave.
pub async fn cleanup(settings: &Settings) -> Result<Exit, Fatal> {
    let (net, backend) = connect(settings).await?;
    with_backend!(backend, |b| cleanup_on(settings, &net, &b).await)
}

async fn cleanup_on<B: Backend>(settings: &Settings, net: &Netlink, backend: &B) -> Result<Exit, Fatal> {
    let _lock = take_host(net, backend).await?;
    let cleaned = pass::cleanup(settings, net, backend, None).await?;
    if cleaned.removals.is_empty() && cleaned.vlans.is_empty() {
        println!("nothing to clean up: no {} configuration owned by multinic", backend.name());
        return Ok(Exit::Ok);
    }
    for (v, error) in &cleaned.vlans {
        match error {
            None => println!("removed VLAN {} ({})", v.name, v.parent),
            Some(e) => eprintln!("failed to remove VLAN {} ({}): {e}", v.name, v.parent),
        }
    }
    for (r, error) in &cleaned.removals {
        match (error, &r.restore_name) {
            (None, Some(n)) => println!("removed {} ({}), name restored to {n}", r.owned.name, r.owned.mac),
            (None, None) => println!("removed {} ({})", r.owned.name, r.owned.mac),
            (Some(e), _) => eprintln!("failed to remove {} ({}): {e}", r.owned.name, r.owned.mac),
        }
    }
    Ok(if cleaned.failures().is_empty() { Exit::Ok } else { Exit::Failed })
}
