// SPDX-License-Identifier: Apache-2.0
//! `multinicd apply --file` and `multinicd plan --file`.

use std::path::Path;

use multinic_api::{MultiNicNodeConfig, ValidSpec, validate};

use super::{Exit, Fatal, Format, connect, print_data, take_host};
use crate::backend::{Backend, with_backend};
use crate::config::Settings;
use crate::observe::netlink::Netlink;
use crate::pass::{self, Prepared};
use crate::plan::vlan::VlanStep;
use crate::plan::{self, Change, Plan, Step};
use crate::report;
use crate::source;

fn load(file: &Path) -> Result<(MultiNicNodeConfig, ValidSpec), Fatal> {
    let cr = source::read_file(file).map_err(Fatal::invalid)?;
    let valid = validate(&cr);
    if !valid.errors.is_empty() {
        let lines: Vec<String> = valid.errors.iter().map(|e| format!("{}: {e}", file.display())).collect();
        return Err(Fatal::invalid(format!(
            "{}\nnothing was changed; fix the fields above and run again",
            lines.join("\n")
        )));
    }
    Ok((cr, valid))
}

/// One pass from a file: validate, plan, apply, verify; print the status block.
pub async fn apply(settings: &Settings, file: &Path, format: Format) -> Result<Exit, Fatal> {
    let (cr, valid) = load(file)?;
    let (net, backend) = connect(settings).await?;
    with_backend!(backend, |b| apply_on(settings, &cr, &valid, &net, &b, format).await)
}

async fn apply_on<B: Backend>(
    settings: &Settings,
    cr: &MultiNicNodeConfig,
    valid: &ValidSpec,
    net: &Netlink,
    backend: &B,
    format: Format,
) -> Result<Exit, Fatal> {
    // Taken first, and what a killed run left open is rolled back.
    let _lock = take_host(net, backend).await?;
    let prepared = pass::prepare(settings, net, backend, valid, None, |_| Vec::new()).await?;
    if prepared.plan.is_noop() && prepared.gate.is_none() {
        tracing::info!(node = %valid.node_name, backend = backend.name(), "nothing to do: every interface is as desired");
    }
    report::log_blocked(&prepared.plan, None);
    let done = pass::run(settings, net, backend, cr, valid, &prepared, None, None).await;
    print_data(&serde_json::json!({ "status": done.status }), format);
    let healthy = done.status.health(cr.metadata.generation).is_healthy();
    Ok(if healthy && !done.removal_failed { Exit::Ok } else { Exit::Failed })
}

/// Dry run: what `apply` would do, per interface, and why. Touches nothing.
pub async fn plan(settings: &Settings, file: &Path, format: Format) -> Result<Exit, Fatal> {
    let (_, valid) = load(file)?;
    let (net, backend) = connect(settings).await?;
    let Prepared { gate, plan, .. } =
        with_backend!(backend, |b| pass::prepare(settings, &net, &b, &valid, None, |_| Vec::new()).await)?;
    if format == Format::Table {
        if let Some((reason, message)) = &gate {
            println!("{reason}: {message}");
        }
        print!("{}", plan_table(&plan));
    } else {
        print_data(&plan, format);
    }
    let blocked = plan.interfaces.iter().any(|i| matches!(i.step, Step::Blocked(_) | Step::NotFound));
    Ok(if gate.is_some() || blocked { Exit::Failed } else { Exit::Ok })
}

/// A NIC's VLANs, applied in its transaction: what each needs, and those that go.
fn vlan_rows(i: &plan::InterfacePlan) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = i
        .vlans
        .iter()
        .map(|v| {
            let (label, detail) = match &v.step {
                VlanStep::Nothing => ("nothing", "up to date".to_string()),
                VlanStep::Create => ("create", format!("VLAN {}; {}", v.id, v.desired.ip.address)),
                VlanStep::Update(Change::ConfigChanged) => {
                    ("update", format!("spec changed; {}", v.desired.ip.address))
                }
                VlanStep::Update(Change::Drift(d)) => ("repair", format!("drifted: {}", d.join("; "))),
                VlanStep::Waiting { parent } => ("waiting", format!("its NIC is {parent}")),
                VlanStep::NameTaken { name } => ("blocked", format!("{name} is another link; not configured")),
                VlanStep::Blocked(b) => ("blocked", b.to_string()),
            };
            let name = v.name.clone().unwrap_or_else(|| format!("-.{}", v.id));
            let link = v.link.as_ref().map(|l| l.name.clone()).unwrap_or_else(|| "-".into());
            vec![name, i.mac.to_string(), link, label.to_string(), detail]
        })
        .collect();
    for o in &i.vlan_removals {
        rows.push(vec![
            o.name.clone(),
            o.parent.to_string(),
            "-".into(),
            "remove".into(),
            "no longer in the spec".into(),
        ]);
    }
    rows
}

fn plan_table(plan: &Plan) -> String {
    let mut rows: Vec<Vec<String>> = plan
        .interfaces
        .iter()
        .flat_map(|i| {
            let d = &i.desired;
            let target = format!("{}{}", d.address, d.mtu.map(|m| format!(", mtu {m}")).unwrap_or_default());
            let detail = match &i.step {
                Step::Nothing => "up to date".to_string(),
                Step::Create { .. } => match i.rename_from() {
                    Some(from) => format!("rename {from} -> {}; {target}", i.name.as_deref().unwrap_or("?")),
                    None => target,
                },
                Step::Update { change: Change::ConfigChanged, .. } => format!("spec changed; {target}"),
                Step::Update { change: Change::Drift(diffs), .. } => format!("drifted: {}", diffs.join("; ")),
                Step::Blocked(b) => b.to_string(),
                Step::NotFound => "no link with this MAC on the host".to_string(),
                Step::Held(h) => format!("{}; held until its spec changes", h.message),
            };
            let nic = vec![
                i.name.clone().unwrap_or_else(|| "-".into()),
                i.mac.to_string(),
                i.link.as_ref().map(|l| l.name.clone()).unwrap_or_else(|| "-".into()),
                i.step.label().to_string(),
                detail,
            ];
            std::iter::once(nic).chain(vlan_rows(i))
        })
        .collect();
    for o in &plan.vlan_removals {
        let detail = "its NIC is no longer in the spec; removed before it".to_string();
        rows.push(vec![o.name.clone(), o.parent.to_string(), "-".into(), "remove".into(), detail]);
    }
    for r in &plan.removals {
        let detail = match &r.restore_name {
            Some(n) => format!("no longer in the spec; restore name {n}"),
            None => "no longer in the spec".into(),
        };
        rows.push(vec![
            r.owned.name.clone(),
            r.owned.mac.to_string(),
            r.link.as_ref().map(|l| l.name.clone()).unwrap_or_else(|| "-".into()),
            "remove".into(),
            detail,
        ]);
    }
    report::table(&["INTERFACE", "MAC", "LINK", "ACTION", "DETAIL"], &rows)
}
