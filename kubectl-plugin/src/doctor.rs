// SPDX-License-Identifier: Apache-2.0
//! `kubectl multinic doctor NODE`: the node as the cluster sees it — its Node, its
//! MultiNicNodeConfig named after it and meant for this VM, a status that is current
//! and Configured, the MultiNicReady condition, recent Warning Events — one line per
//! check, saying what to fix. Exit 0 only when none failed.

use std::time::SystemTime;

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::ListParams;
use multinic_api::MultiNicNodeConfig;
use multinic_api::doctor::{self, Check, Verdict};

use crate::client::{Connection, Failure, explain, system_uuid};

/// How far back Warning Events count.
const RECENT_SECS: i64 = 3600;

pub(crate) async fn doctor(conn: &Connection, name: &str) -> Result<u8, Failure> {
    let client = conn.client().await?;
    let node = Api::<Node>::all(client.clone()).get_opt(name).await.map_err(|e| explain(e, "read the Node"))?;
    let api: Api<MultiNicNodeConfig> = Api::namespaced(client.clone(), &conn.namespace);
    let cr = api.get_opt(name).await.map_err(|e| explain(e, "read the MultiNicNodeConfig"))?;
    let mut checks = vec![match &node {
        Some(_) => Check::new("Node", Verdict::Ok, format!("{name} is registered")),
        None => {
            Check::new("Node", Verdict::Fail, format!("no Node {name}: is its kubelet registered? kubectl get nodes"))
        }
    }];
    let Some(cr) = cr else {
        checks.push(Check::new(
            "MultiNicNodeConfig",
            Verdict::Fail,
            format!("none for {name} in {}: kubectl multinic create {name} --nic …", conn.namespace),
        ));
        print!("{}", doctor::render(&checks));
        return Ok(1);
    };
    checks.push(if cr.spec.node_name == name {
        Check::new("MultiNicNodeConfig", Verdict::Ok, format!("{}/{name}, spec.nodeName {name}", conn.namespace))
    } else {
        Check::new(
            "MultiNicNodeConfig",
            Verdict::Fail,
            format!(
                "spec.nodeName is {:?}, not {name}: the daemon of {name} applies nothing; fix spec.nodeName",
                cr.spec.node_name
            ),
        )
    });
    checks.push(instance_id(&cr, node.clone()));
    checks.push(doctor::last_pass(&cr, SystemTime::now()));
    checks.push(condition(node.as_ref()));
    let events: Api<Event> = Api::namespaced(client, &conn.namespace);
    let selector = format!("regarding.name={name},regarding.kind=MultiNicNodeConfig,type=Warning");
    checks.push(match events.list(&ListParams::default().fields(&selector)).await {
        Ok(list) => warnings(&list.items, k8s_openapi::jiff::Timestamp::now()),
        Err(e) => Check::new("events", Verdict::Warn, format!("cannot list Events: {e}")),
    });
    print!("{}", doctor::render(&checks));
    Ok(if doctor::passed(&checks) { 0 } else { 1 })
}

/// `spec.instanceId` names this Node's VM.
fn instance_id(cr: &MultiNicNodeConfig, node: Option<Node>) -> Check {
    let what = "instanceId";
    let uuid = node.and_then(system_uuid);
    match (cr.spec.instance_id.as_deref(), uuid) {
        (None, _) => Check::new(
            what,
            Verdict::Warn,
            "unset: the daemon applies the spec without checking the VM's UUID (kubectl multinic create fills it)",
        ),
        (Some(_), None) => Check::new(what, Verdict::Warn, "the Node reports no system UUID to compare with"),
        (Some(want), Some(have)) if want.eq_ignore_ascii_case(&have) => {
            Check::new(what, Verdict::Ok, format!("{want}, the Node's system UUID"))
        }
        (Some(want), Some(have)) => Check::new(
            what,
            Verdict::Fail,
            format!(
                "{want} is not the Node's system UUID {have}: the spec was written for another VM and is not applied; \
                 fix spec.instanceId"
            ),
        ),
    }
}

/// The MultiNicReady condition the daemon keeps on its Node.
fn condition(node: Option<&Node>) -> Check {
    let what = "Node condition";
    let found =
        node.and_then(|n| n.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "MultiNicReady").cloned());
    match found {
        None => Check::new(
            what,
            Verdict::Warn,
            "no MultiNicReady condition on the Node: the daemon is older, or cannot write its Node's status \
             (journalctl -u multinicd on the node)",
        ),
        Some(c) if c.status == "True" => Check::new(what, Verdict::Ok, "MultiNicReady True"),
        Some(c) => Check::new(
            what,
            Verdict::Fail,
            format!("MultiNicReady {} ({}): {}", c.status, c.reason.unwrap_or_default(), c.message.unwrap_or_default()),
        ),
    }
}

/// Warning Events of the last hour: the newest says what happened.
fn warnings(events: &[Event], now: k8s_openapi::jiff::Timestamp) -> Check {
    let when = |e: &Event| {
        e.series
            .as_ref()
            .map(|s| s.last_observed_time.0)
            .or(e.event_time.as_ref().map(|t| t.0))
            .or(e.deprecated_last_timestamp.as_ref().map(|t| t.0))
    };
    let mut recent: Vec<&Event> =
        events.iter().filter(|e| when(e).is_some_and(|t| now.as_second() - t.as_second() <= RECENT_SECS)).collect();
    recent.sort_by_key(|e| when(e));
    match recent.last() {
        None => Check::new("events", Verdict::Ok, "no Warning Events in the last hour"),
        Some(newest) => Check::new(
            "events",
            Verdict::Warn,
            format!(
                "{} Warning Event(s) in the last hour, the newest {}: {}",
                recent.len(),
                newest.reason.clone().unwrap_or_default(),
                newest.note.clone().unwrap_or_default()
            ),
        ),
    }
}
