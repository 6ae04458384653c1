// SPDX-License-Identifier: Apache-2.0
//! What an import would do per node, against what the cluster holds. Pure: the
//! cluster's CRs and Nodes come in as maps; rendering is tested on exact text.

use std::collections::BTreeMap;

use multinic_api::{InterfaceSpec, MultiNicNodeConfig, MultiNicNodeConfigSpec, validate};

use super::map::{Mapped, Mapping, Problem};
use multinic_api::table::{self, Layout};

/// One node's planned action.
#[derive(Debug, Clone)]
pub enum Action {
    /// No CR yet: create this one.
    Create(MultiNicNodeConfigSpec),
    /// The CR differs: `cr` is the CR as read (its resourceVersion guards the write)
    /// with the new spec; `changes` say what differs, per MAC, for people.
    Update { cr: Box<MultiNicNodeConfig>, changes: Vec<String> },
    /// The CR already says what the database says.
    Unchanged,
    /// Not imported, and why.
    Skipped(Vec<String>),
    /// `--apply` tried and the API server refused.
    Failed(String),
}

/// Per node, by name, plus the rows that belong to no node.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub nodes: BTreeMap<String, Action>,
    pub orphans: Vec<Problem>,
}

/// What the cluster holds: CRs by name, and for each Node its system UUID (`None`
/// when node checks are off: every node is taken to exist, without a UUID).
pub struct Cluster {
    pub configs: BTreeMap<String, MultiNicNodeConfig>,
    pub nodes: Option<BTreeMap<String, Option<String>>>,
}

/// Compare. An existing CR keeps what v2 never stored: its instanceId, and per MAC
/// an explicit name, a port id and (unless `--mtu` was given) the MTU.
pub fn plan(mapping: Mapping, cluster: &Cluster, mtu_given: bool) -> Plan {
    let mut nodes = BTreeMap::new();
    for (node, mapped) in mapping.nodes {
        let action = match mapped {
            Mapped::Skipped(problems) => Action::Skipped(problems.iter().map(ToString::to_string).collect()),
            Mapped::Ready(mut spec) => match (cluster.configs.get(&node), &cluster.nodes) {
                (None, Some(known)) if !known.contains_key(&node) => Action::Skipped(vec![format!(
                    "no Node {node} in the cluster (kubectl get nodes); import it anyway with --no-node-check"
                )]),
                (None, known) => {
                    spec.instance_id = known.as_ref().and_then(|k| k.get(&node).cloned().flatten());
                    Action::Create(spec)
                }
                (Some(existing), _) => {
                    carry_over(&mut spec, &existing.spec, mtu_given);
                    if spec == existing.spec {
                        Action::Unchanged
                    } else {
                        let mut cr = existing.clone();
                        let changes = changes(&cr.spec.interfaces, &spec.interfaces);
                        cr.spec = spec;
                        // What was carried over is checked too, with the rows' rules.
                        let errors = validate(&cr).errors;
                        if errors.is_empty() {
                            Action::Update { cr: Box::new(cr), changes }
                        } else {
                            Action::Skipped(errors.iter().map(|e| format!("with the existing CR: {e}")).collect())
                        }
                    }
                }
            },
        };
        nodes.insert(node, action);
    }
    Plan { nodes, orphans: mapping.orphans }
}

fn carry_over(spec: &mut MultiNicNodeConfigSpec, existing: &MultiNicNodeConfigSpec, mtu_given: bool) {
    spec.instance_id = existing.instance_id.clone();
    for iface in &mut spec.interfaces {
        if let Some(old) = existing.interfaces.iter().find(|o| o.mac_address.eq_ignore_ascii_case(&iface.mac_address)) {
            iface.name = old.name.clone();
            iface.port_id = old.port_id.clone();
            if !mtu_given {
                iface.mtu = old.mtu;
            }
        }
    }
}

/// `+ mac` added, `- mac` removed, `~ mac (fields)` changed, `order` when only the
/// order differs (it decides names for new NICs).
fn changes<'a>(old: &'a [InterfaceSpec], new: &'a [InterfaceSpec]) -> Vec<String> {
    let find =
        |list: &[InterfaceSpec], mac: &str| list.iter().find(|i| i.mac_address.eq_ignore_ascii_case(mac)).cloned();
    let mut out = Vec::new();
    for n in new {
        match find(old, &n.mac_address) {
            None => out.push(format!("+ {}", n.mac_address)),
            Some(o) => {
                let mut fields = Vec::new();
                for (name, differs) in [
                    ("macAddress", o.mac_address != n.mac_address),
                    ("id", o.id != n.id),
                    ("address", o.address != n.address),
                    ("cidr", o.cidr != n.cidr),
                    ("mtu", o.mtu != n.mtu),
                    ("routes", o.routes != n.routes),
                    ("dns", o.dns != n.dns),
                ] {
                    if differs {
                        fields.push(name);
                    }
                }
                if !fields.is_empty() {
                    out.push(format!("~ {} ({})", n.mac_address, fields.join(", ")));
                }
            }
        }
    }
    for o in old {
        if find(new, &o.mac_address).is_none() {
            out.push(format!("- {} (not in the database)", o.mac_address));
        }
    }
    if out.is_empty() && old != new {
        out.push("order of interfaces".into());
    }
    out
}

impl Plan {
    /// The plan as a table, one line per node (skipped nodes: one line per reason),
    /// and a summary line.
    pub fn render(&self, applied: bool) -> String {
        let mut rows: Vec<Vec<String>> = Vec::new();
        for (node, action) in &self.nodes {
            let (word, nics, details) = match action {
                Action::Create(spec) => ("create", spec.interfaces.len().to_string(), vec![]),
                Action::Update { cr, changes } => {
                    ("update", cr.spec.interfaces.len().to_string(), vec![changes.join(", ")])
                }
                Action::Unchanged => ("unchanged", "-".into(), vec![]),
                Action::Skipped(reasons) => ("skipped", "-".into(), reasons.clone()),
                Action::Failed(reason) => ("failed", "-".into(), vec![reason.clone()]),
            };
            let word = if applied { past(word) } else { word };
            push(&mut rows, node, word, &nics, &details);
        }
        if !self.orphans.is_empty() {
            let reasons: Vec<String> = self.orphans.iter().map(ToString::to_string).collect();
            push(&mut rows, "(no node)", "skipped", "-", &reasons);
        }
        let layout = Layout::plain("", 2);
        let table = table::render(&["NODE", "ACTION", "NICS", "DETAIL"], &rows, &layout);
        // A row without detail ends in its padding: trimmed, as kubectl's tables are.
        let mut out: String = table.lines().map(|l| format!("{}\n", l.trim_end())).collect();
        out.push_str(&self.summary(applied));
        out.push('\n');
        out
    }

    fn summary(&self, applied: bool) -> String {
        let count = |f: fn(&Action) -> bool| self.nodes.values().filter(|a| f(a)).count();
        let create = count(|a| matches!(a, Action::Create(_)));
        let update = count(|a| matches!(a, Action::Update { .. }));
        let unchanged = count(|a| matches!(a, Action::Unchanged));
        let skipped = count(|a| matches!(a, Action::Skipped(_)));
        let failed = count(|a| matches!(a, Action::Failed(_)));
        let failed = if failed > 0 { format!(", {failed} failed") } else { String::new() };
        let orphans = if self.orphans.is_empty() {
            String::new()
        } else {
            format!(", {} row(s) without a node", self.orphans.len())
        };
        if applied {
            format!("{create} created, {update} updated, {unchanged} unchanged, {skipped} skipped{orphans}{failed}.")
        } else {
            let next = if create + update > 0 { " Run again with --apply to write." } else { "" };
            format!(
                "Plan: {create} to create, {update} to update, {unchanged} unchanged, {skipped} skipped{orphans}.{next}"
            )
        }
    }

    /// True when every row was imported or already was.
    pub fn complete(&self) -> bool {
        self.orphans.is_empty() && !self.nodes.values().any(|a| matches!(a, Action::Skipped(_) | Action::Failed(_)))
    }
}

fn past(word: &str) -> &str {
    match word {
        "create" => "created",
        "update" => "updated",
        other => other,
    }
}

fn push(rows: &mut Vec<Vec<String>>, node: &str, action: &str, nics: &str, details: &[String]) {
    let mut details = details.iter();
    rows.push(vec![node.into(), action.into(), nics.into(), details.next().cloned().unwrap_or_default()]);
    for more in details {
        rows.push(vec![String::new(), String::new(), String::new(), more.clone()]);
    }
}

#[cfg(test)]
mod tests;
