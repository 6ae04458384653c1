// SPDX-License-Identifier: Apache-2.0
//! This node's Node object, as far as the daemon touches it: the `MultiNicReady`
//! condition in its status, and removing the configured startup taint. Nothing else
//! on any Node.

use k8s_openapi::api::core::v1::{Node, Taint};
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use serde_json::json;

use super::cluster::bounded;
use crate::report::node::{CONDITION, Readiness};

/// What became of a write to the Node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeWrite {
    /// Written (or there was nothing to change).
    Done,
    /// There is no Node of that name (a host outside the cluster's Nodes).
    NoNode,
}

/// Set the condition on Node `name`, keeping its transition time while its status
/// stays. A strategic merge patch: the Node's other conditions are the kubelet's.
pub async fn set_readiness(client: &Client, name: &str, readiness: &Readiness) -> Result<NodeWrite, kube::Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    let Some(node) = bounded(nodes.get_opt(name)).await? else { return Ok(NodeWrite::NoNode) };
    let conditions = node.status.and_then(|s| s.conditions).unwrap_or_default();
    let on_node = conditions.iter().find(|c| c.type_ == CONDITION);
    let condition = readiness.condition(&multinic_api::now(), on_node);
    let patch = json!({ "status": { "conditions": [condition] } });
    bounded(nodes.patch_status(name, &PatchParams::default(), &Patch::Strategic(&patch))).await?;
    Ok(NodeWrite::Done)
}

/// Remove the taints with `key` from Node `name`. The patch carries the
/// resourceVersion it read, so that it never drops a taint someone added meanwhile
/// (it fails with a conflict, and the next pass tries again).
pub async fn remove_taint(client: &Client, name: &str, key: &str) -> Result<NodeWrite, kube::Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    let Some(node) = bounded(nodes.get_opt(name)).await? else { return Ok(NodeWrite::NoNode) };
    let taints: Vec<Taint> = node.spec.and_then(|s| s.taints).unwrap_or_default();
    if !taints.iter().any(|t| t.key == key) {
        return Ok(NodeWrite::Done);
    }
    let kept: Vec<&Taint> = taints.iter().filter(|t| t.key != key).collect();
    let patch = json!({
        "metadata": { "resourceVersion": node.metadata.resource_version },
        "spec": { "taints": kept },
    });
    bounded(nodes.patch(name, &PatchParams::default(), &Patch::Merge(&patch))).await?;
    Ok(NodeWrite::Done)
}

/// The Node's side of the report, across connections: the condition is written
/// when it changes, the taint removed once, the first time the node is configured.
#[derive(Default)]
pub struct NodeReport {
    /// The condition as last written (or found to have no Node to go on).
    written: std::sync::Mutex<Option<Readiness>>,
    taint: std::sync::Mutex<TaintRemoval>,
    /// That there is no Node was said.
    no_node_said: std::sync::atomic::AtomicBool,
}

/// Where removing the taint stands.
#[derive(Default, PartialEq, Eq)]
enum TaintRemoval {
    /// Not tried yet.
    #[default]
    Pending,
    /// Tried and failed: the failure, as logged.
    Failing(String),
    /// Removed, or nothing to remove it from (no Node), or never removable by this
    /// identity (NodeRestriction): not tried again.
    Settled,
}

impl NodeReport {
    /// Say `readiness` on Node `name`, and once it is `True` remove `taint`.
    /// Failures are logged and tried again at the next report, never fatal.
    pub async fn report(&self, client: &Client, name: &str, readiness: Readiness, taint: Option<&str>) {
        use std::sync::atomic::Ordering;
        let ready = readiness.status == crate::report::node::Status::True;
        if self.written.lock().expect("not poisoned").as_ref() != Some(&readiness) {
            match set_readiness(client, name, &readiness).await {
                Ok(write) => {
                    if write == NodeWrite::NoNode && !self.no_node_said.swap(true, Ordering::SeqCst) {
                        tracing::info!(node = name, "there is no Node {name}: its {CONDITION} condition is not kept");
                    }
                    *self.written.lock().expect("not poisoned") = Some(readiness);
                }
                Err(e) => {
                    tracing::warn!(node = name, error = %e, "cannot set the {CONDITION} condition on Node {name}")
                }
            }
        }
        let settled = *self.taint.lock().expect("not poisoned") == TaintRemoval::Settled;
        let Some(key) = taint.filter(|_| ready && !settled) else { return };
        let next = match remove_taint(client, name, key).await {
            Ok(write) => {
                if write == NodeWrite::Done {
                    tracing::info!(node = name, taint = key, "the node is configured: its taint {key} is removed");
                }
                TaintRemoval::Settled
            }
            Err(e) => {
                let (message, for_good) = taint_error(&e, name, key);
                let last = self.taint.lock().expect("not poisoned");
                if *last != TaintRemoval::Failing(message.clone()) {
                    tracing::warn!(node = name, taint = key, "{message}");
                }
                if for_good { TaintRemoval::Settled } else { TaintRemoval::Failing(message) }
            }
        };
        *self.taint.lock().expect("not poisoned") = next;
    }
}

/// What to tell the operator when the taint stays, and whether trying again is
/// pointless (this identity may never change taints).
fn taint_error(e: &kube::Error, name: &str, key: &str) -> (String, bool) {
    match e {
        kube::Error::Api(s) if s.code == 403 && s.message.contains("not allowed to modify taints") => (
            format!(
                "cannot remove the taint {key} from Node {name}: NodeRestriction lets no node identity change taints; \
                 give multinicd an identity of its own (README, \"Readiness gating\") or remove the taint by hand"
            ),
            true,
        ),
        _ => (format!("cannot remove the taint {key} from Node {name}: {e}; trying again at the next pass"), false),
    }
}
