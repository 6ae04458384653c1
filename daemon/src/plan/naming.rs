// SPDX-License-Identifier: Apache-2.0
//! Names: stable, never shuffled. An explicit `name` wins; a NIC that carries a
//! `multinicN` name keeps it (even against an explicit name elsewhere, which is then
//! blocked); a NIC multinic named before gets that name again;
//! anything else gets the lowest free index. Removing one interface from the spec
//! therefore never renames another.

use std::collections::BTreeSet;

use multinic_api::{ValidInterface, is_multinic_name};

use super::{Found, Owned};
use crate::observe::Link;

/// The name each desired interface gets, `None` when all ten are taken.
pub(crate) fn assign(
    desired: &[ValidInterface],
    found: &[Found<'_>],
    links: &[Link],
    owned: &[Owned],
) -> Vec<Option<String>> {
    let mut names: Vec<Option<String>> = desired.iter().map(|d| d.name.clone()).collect();
    let mut claimed: BTreeSet<String> = names.iter().flatten().cloned().collect();

    // A link that carries a `multinicN` name keeps it even when another interface
    // names it explicitly: that one is then blocked (name taken by another MAC)
    // instead of this one being renamed away blindly.
    for i in 0..desired.len() {
        if names[i].is_none()
            && let Some(link) = found[i].link()
            && is_multinic_name(&link.name)
        {
            claimed.insert(link.name.clone());
            names[i] = Some(link.name.clone());
        }
    }
    for i in 0..desired.len() {
        if names[i].is_none()
            && let Some(o) = owned.iter().find(|o| o.mac == desired[i].mac)
            && !claimed.contains(&o.name)
        {
            claimed.insert(o.name.clone());
            names[i] = Some(o.name.clone());
        }
    }

    for i in 0..desired.len() {
        if names[i].is_some() {
            continue;
        }
        let own_index = found[i].link().map(|l| l.index);
        let free = (0..10).map(|n| format!("multinic{n}")).find(|candidate| {
            !names.iter().flatten().any(|n| n == candidate)
                && !links.iter().any(|l| l.is_called(candidate) && Some(l.index) != own_index)
        });
        names[i] = free;
    }
    names
}
