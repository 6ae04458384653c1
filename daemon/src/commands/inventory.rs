// SPDX-License-Identifier: Apache-2.0
//! `multinicd inventory`: the host's NICs, which are protected and why, which are
//! multinic's.

use serde::Serialize;

use super::{Exit, Fatal, Format, connect, print_data};
use crate::backend::with_backend;
use crate::config::Settings;
use crate::observe::Link;
use crate::observe::netlink::{self, Event};
use crate::pass;
use crate::plan::{Owned, Role, classify};
use crate::report;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Entry<'a> {
    #[serde(flatten)]
    link: &'a Link,
    role: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    owned_by_multinic: Option<&'a Owned>,
}

/// List the NICs and their roles.
pub async fn inventory(settings: &Settings, format: Format, watch: bool) -> Result<Exit, Fatal> {
    let (net, backend) = connect(settings).await?;
    // Subscribe before the dump so that no change between the two is missed.
    let events = if watch { Some(netlink::subscribe()?) } else { None };
    let pass::Observed { host, owned, vlans } = with_backend!(&backend, |b| pass::observe(&net, b, None).await)?;
    let vlans: Vec<String> = vlans.into_iter().map(|v| v.name).collect();
    let roles = classify(&host, &owned, &vlans, &[], &settings.policy);
    let entries: Vec<Entry<'_>> = host
        .links
        .iter()
        .map(|l| {
            let mine = l.hw_mac().and_then(|m| owned.iter().find(|o| o.mac == m));
            let role = roles.get(&l.index).cloned().unwrap_or(Role::Free);
            Entry { link: l, role: role.to_string(), owned_by_multinic: mine }
        })
        .collect();
    match format {
        Format::Table => {
            let rows: Vec<Vec<String>> = entries
                .iter()
                .map(|e| {
                    let l = e.link;
                    let addrs: Vec<String> = l.addresses.iter().map(|a| a.to_string()).collect();
                    vec![
                        l.name.clone(),
                        l.hw_mac().map(|m| m.to_string()).unwrap_or_else(|| "-".into()),
                        l.oper_state.clone(),
                        l.mtu.to_string(),
                        if addrs.is_empty() { "-".into() } else { addrs.join(",") },
                        l.driver.clone().unwrap_or_else(|| "-".into()),
                        e.role.clone(),
                    ]
                })
                .collect();
            print!("{}", report::table(&["NAME", "MAC", "STATE", "MTU", "ADDRESSES", "DRIVER", "ROLE"], &rows));
        }
        _ => print_data(&entries, format),
    }
    if let Some(mut events) = events {
        use std::io::Write;
        while let Some(event) = events.recv().await {
            let line = match (&event, format) {
                (_, Format::Json | Format::Yaml) => serde_json::to_string(&event).unwrap_or_default(),
                (Event::Link { index, name, removed, .. }, Format::Table) => {
                    let what = if *removed { "removed" } else { "new or changed" };
                    format!("link {} (index {index}) {what}", name.as_deref().unwrap_or("?"))
                }
                (Event::Address { index }, Format::Table) => {
                    format!("addresses of index {index} changed")
                }
                (Event::Overrun, Format::Table) => "events lost (netlink socket buffer full)".to_string(),
            };
            println!("{line}");
            let _ = std::io::stdout().flush();
        }
    }
    Ok(Exit::Ok)
}
