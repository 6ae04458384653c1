// SPDX-License-Identifier: Apache-2.0
//! `multinicd cleanup`: remove everything multinic owns on this host, and nothing else.

use super::{Exit, Fatal, connect, take_host};
use crate::backend::{Backend, remove_all, with_backend};
use crate::config::Settings;
use crate::observe::netlink::Netlink;
use crate::{pass, plan};

/// Remove every owned configuration and restore the kernel names multinic gave.
pub async fn cleanup(settings: &Settings) -> Result<Exit, Fatal> {
    let (net, backend) = connect(settings).await?;
    with_backend!(backend, |b| cleanup_on(settings, &net, &b).await)
}

async fn cleanup_on<B: Backend>(settings: &Settings, net: &Netlink, backend: &B) -> Result<Exit, Fatal> {
    let _lock = take_host(net, backend).await?;
    let (host, owned) = pass::observe(net, backend, None).await?;
    let plan = plan::cleanup(&host, &owned, &settings.policy);
    if plan.removals.is_empty() {
        println!("nothing to clean up: no {} configuration owned by multinic", backend.name());
        return Ok(Exit::Ok);
    }
    let mut failed = false;
    for (r, outcome) in plan.removals.iter().zip(remove_all(backend, net, &plan.removals).await) {
        match outcome.error {
            None => match &r.restore_name {
                Some(n) => println!("removed {} ({}), name restored to {n}", r.owned.name, r.owned.mac),
                None => println!("removed {} ({})", r.owned.name, r.owned.mac),
            },
            Some(e) => {
                failed = true;
                eprintln!("failed to remove {} ({}): {e}", r.owned.name, r.owned.mac);
            }
        }
    }
    Ok(if failed { Exit::Failed } else { Exit::Ok })
}
