// SPDX-License-Identifier: Apache-2.0
//! This node's Node object, as far as the daemon touches it: the `MultiNicReady`
//! condition in its status, and removing the configured startup taint. Nothing else
//! on any Node.
//!
//! Level-triggered, beside the reconcile passes and never inside one: a watch on
//! this one Node and the readiness the passes last said are compared whenever either
//! changes. So a Node registered after the daemon started, registered again, or
//! whose condition someone else changed is put right, and a slow API server delays
//! the Node, never the NICs.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Taint};
use kube::api::{Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use serde_json::json;
use tokio::sync::watch;

use super::cluster::{WATCH_TIMEOUT, bounded};
use crate::metrics::Metrics;
use crate::report::node::{CONDITION, Readiness, Status};

/// What the Node needs, given what it carries and what the passes said.
#[derive(Debug, PartialEq, Eq)]
pub enum Change {
    /// Its condition says something else.
    Condition,
    /// The node is configured and still carries the startup taint.
    Taint,
}

/// The next change Node `node` needs: its condition first, then (once `True`)
/// removing `taint`. Pure.
pub fn needed(node: &Node, readiness: &Readiness, taint: Option<&str>) -> Option<Change> {
    let on_node = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == CONDITION));
    let says = |c: &k8s_openapi::api::core::v1::NodeCondition| {
        c.status == readiness.status.as_str()
            && c.reason.as_deref() == Some(readiness.reason.as_str())
            && c.message.as_deref() == Some(readiness.message_on_node().as_str())
    };
    if !on_node.is_some_and(says) {
        return Some(Change::Condition);
    }
    let taints = node.spec.as_ref().and_then(|s| s.taints.as_ref());
    let tainted = taint.is_some_and(|key| taints.is_some_and(|ts| ts.iter().any(|t| t.key == key)));
    (readiness.status == Status::True && tainted).then_some(Change::Taint)
}

/// Keep Node `name` saying what `readiness` says and, with `taint`, remove that taint
/// once it says `True`, until dropped. Failures are logged when they change and
/// tried again with a growing delay, never fatal.
pub async fn keep(
    client: Client,
    name: String,
    taint: Option<String>,
    mut readiness: watch::Receiver<Readiness>,
    metrics: Arc<Metrics>,
) {
    let nodes: Api<Node> = Api::all(client);
    let config = watcher::Config::default().fields(&format!("metadata.name={name}")).timeout(WATCH_TIMEOUT);
    let mut events = watcher(nodes.clone(), config).default_backoff().boxed();
    let (mut node, mut listing): (Option<Node>, Option<Node>) = (None, None);
    let mut said = Said::default();
    let mut taint_refused = false;
    let mut retry: Option<Duration> = None;
    // Writes that left the Node still needing one: a guard against writing in a loop
    // should the API server not keep what it is sent.
    let mut in_a_row = 0u32;
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(watcher::Event::Apply(n))) => node = Some(n),
                Some(Ok(watcher::Event::Delete(_))) => node = None,
                Some(Ok(watcher::Event::Init)) => listing = None,
                Some(Ok(watcher::Event::InitApply(n))) => listing = Some(n),
                Some(Ok(watcher::Event::InitDone)) => node = listing.take(),
                Some(Err(e)) => {
                    metrics.api_error();
                    said.warn(format!("cannot watch Node {name}: {e}; trying again"));
                    continue;
                }
                None => return,
            },
            changed = readiness.changed() => {
                if changed.is_err() {
                    return;
                }
                in_a_row = 0;
            }
            _ = tokio::time::sleep(retry.unwrap_or_default()), if retry.is_some() => {}
        }
        let Some(current) = &node else {
            said.info(format!("there is no Node {name} (yet): its {CONDITION} condition waits for it"));
            continue;
        };
        let want = readiness.borrow().clone();
        let key = taint.as_deref().filter(|_| !taint_refused);
        let Some(change) = needed(current, &want, key) else {
            (retry, in_a_row) = (None, 0);
            continue;
        };
        let result = match change {
            Change::Condition => set_condition(&nodes, current, &want).await,
            Change::Taint => remove_taint(&nodes, current, key.unwrap_or_default()).await,
        };
        match result {
            Ok(updated) => {
                if change == Change::Taint {
                    let key = key.unwrap_or_default();
                    tracing::info!(node = %name, taint = key, "the node is configured: its taint {key} is removed");
                }
                // The watch brings it too; taking it now saves waiting for it. What
                // is left (the taint after the condition) comes next.
                node = Some(updated);
                in_a_row += 1;
                if in_a_row <= 2 {
                    said = Said::default();
                    retry = Some(Duration::ZERO);
                } else {
                    said.warn(format!("Node {name} does not keep the {change:?} change written to it; trying again"));
                    retry = Some(later(retry));
                }
            }
            Err(e) => {
                metrics.api_error();
                let (message, for_good) = explain(&e, &name, key.unwrap_or_default());
                said.warn(message);
                taint_refused |= for_good;
                retry = Some(later(retry));
            }
        }
    }
}

/// The next delay after `retry`: from 1 s, doubling, at most a minute.
fn later(retry: Option<Duration>) -> Duration {
    retry.map_or(Duration::from_secs(1), |d| d * 2).clamp(Duration::from_secs(1), Duration::from_secs(60))
}

/// Log a message once, until another one replaces it.
#[derive(Default)]
struct Said(Option<String>);

impl Said {
    fn warn(&mut self, message: String) {
        if self.0.as_ref() != Some(&message) {
            tracing::warn!("{message}");
            self.0 = Some(message);
        }
    }

    fn info(&mut self, message: String) {
        if self.0.as_ref() != Some(&message) {
            tracing::info!("{message}");
            self.0 = Some(message);
        }
    }
}

/// Write the condition, keeping its transition time while its status stays. A
/// strategic merge patch: the Node's other conditions are the kubelet's.
async fn set_condition(nodes: &Api<Node>, node: &Node, readiness: &Readiness) -> Result<Node, kube::Error> {
    let name = node.metadata.name.clone().unwrap_or_default();
    let conditions = node.status.as_ref().and_then(|s| s.conditions.as_ref());
    let on_node = conditions.and_then(|cs| cs.iter().find(|c| c.type_ == CONDITION));
    let condition = readiness.condition(&multinic_api::now(), on_node);
    let patch = json!({ "status": { "conditions": [condition] } });
    bounded(nodes.patch_status(&name, &PatchParams::default(), &Patch::Strategic(&patch))).await
}

/// Remove the taints with `key`. The patch carries the resourceVersion the Node was
/// read at, so that it never drops a taint someone added meanwhile: it fails with a
/// conflict, and the watch brings the newer Node to try again with.
async fn remove_taint(nodes: &Api<Node>, node: &Node, key: &str) -> Result<Node, kube::Error> {
    let name = node.metadata.name.clone().unwrap_or_default();
    let taints: &[Taint] = node.spec.as_ref().and_then(|s| s.taints.as_deref()).unwrap_or_default();
    let kept: Vec<&Taint> = taints.iter().filter(|t| t.key != key).collect();
    let patch = json!({
        "metadata": { "resourceVersion": node.metadata.resource_version },
        "spec": { "taints": kept },
    });
    bounded(nodes.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))).await
}

/// What to tell the operator, and whether removing the taint is pointless for good
/// (this identity may never change taints).
fn explain(e: &kube::Error, name: &str, key: &str) -> (String, bool) {
    match e {
        kube::Error::Api(s) if s.code == 403 && s.message.contains("not allowed to modify taints") => (
            format!(
                "cannot remove the taint {key} from Node {name}: NodeRestriction lets no node identity change taints; \
                 give multinicd an identity of its own (README, \"Readiness gating\") or remove the taint by hand"
            ),
            true,
        ),
        kube::Error::Api(s) if s.code == 409 => (format!("Node {name} changed meanwhile; trying again"), false),
        _ => (format!("cannot update Node {name}: {e}; trying again"), false),
    }
}

#[cfg(test)]
mod tests {
    use multinic_api::{MultiNicNodeConfigStatus, NodeState};

    use super::*;

    fn node(condition: Option<(&str, &str, &str)>, taints: &[&str]) -> Node {
        let conditions: Vec<_> = condition
            .map(|(status, reason, message)| json!({ "type": CONDITION, "status": status, "reason": reason, "message": message }))
            .into_iter()
            .chain([json!({ "type": "Ready", "status": "True", "reason": "KubeletReady" })])
            .collect();
        let taints: Vec<_> = taints.iter().map(|k| json!({ "key": k, "effect": "NoSchedule" })).collect();
        serde_json::from_value(json!({
            "metadata": { "name": "worker-1" },
            "spec": { "taints": taints },
            "status": { "conditions": conditions },
        }))
        .unwrap()
    }

    fn configured() -> Readiness {
        let mut status = MultiNicNodeConfigStatus {
            state: Some(NodeState::Configured),
            message: Some("1/1 interfaces configured".into()),
            ..Default::default()
        };
        status.interface_statuses.insert(
            "multinic0".into(),
            serde_json::from_value(json!({
                "macAddress": "fa:16:3e:00:00:01", "state": "Configured"
            }))
            .unwrap(),
        );
        Readiness::of(&status)
    }

    const TAINT: Option<&str> = Some("multinic.io/not-ready");

    #[test]
    fn the_condition_comes_first_then_the_taint() {
        let ready = configured();
        assert_eq!(ready.status, Status::True);
        assert_eq!(needed(&node(None, &["multinic.io/not-ready"]), &ready, TAINT), Some(Change::Condition));
        let said = Some(("True", "Configured", "1/1 interfaces configured"));
        assert_eq!(needed(&node(said, &["multinic.io/not-ready", "other"]), &ready, TAINT), Some(Change::Taint));
        assert_eq!(needed(&node(said, &["other"]), &ready, TAINT), None);
        assert_eq!(needed(&node(said, &["multinic.io/not-ready"]), &ready, None), None, "no taint configured");
    }

    #[test]
    fn a_condition_someone_else_changed_is_put_back() {
        let ready = configured();
        let forged = Some(("False", "Forged", "1/1 interfaces configured"));
        assert_eq!(needed(&node(forged, &[]), &ready, TAINT), Some(Change::Condition));
        let other_message = Some(("True", "Configured", "something else"));
        assert_eq!(needed(&node(other_message, &[]), &ready, TAINT), Some(Change::Condition));
    }

    #[test]
    fn the_taint_stays_while_the_node_is_not_configured() {
        let none = Readiness::no_config("multinic-system", "worker-1");
        let message = none.message.clone();
        let said = Some(("False", "NoConfig", message.as_str()));
        assert_eq!(needed(&node(said, &["multinic.io/not-ready"]), &none, TAINT), None);
        let starting = Readiness::starting();
        assert_eq!(needed(&node(said, &["multinic.io/not-ready"]), &starting, TAINT), Some(Change::Condition));
    }
}
