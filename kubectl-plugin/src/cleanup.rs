// SPDX-License-Identifier: Apache-2.0
//! `cleanup`: delete a node's CR and wait until its daemon has removed the
//! configuration (the finalizer), or force it for a node that is gone.

use std::time::Duration;

use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use multinic_api::MultiNicNodeConfig;

use crate::client::{Connection, Failure, explain};

pub(crate) async fn cleanup(
    conn: &Connection,
    nodes: Vec<String>,
    timeout: u64,
    no_wait: bool,
    force: bool,
) -> Result<u8, Failure> {
    let client = conn.client().await?;
    let api: Api<MultiNicNodeConfig> = Api::namespaced(client, &conn.namespace);
    for node in &nodes {
        match api.delete(node, &DeleteParams::default()).await {
            Ok(_) => eprintln!("{node}: deleted; waiting for its daemon to remove the configuration"),
            Err(kube::Error::Api(s)) if s.code == 404 => {
                eprintln!("{node}: no MultiNicNodeConfig (already gone)");
                continue;
            }
            Err(e) => return Err(explain(e, &format!("delete MultiNicNodeConfig {node}"))),
        }
        if force {
            eprintln!("warning: {node}: removing the cleanup finalizer; nothing is cleaned on the host");
            let patch = serde_json::json!({ "metadata": { "finalizers": null } });
            match api.patch(node, &PatchParams::default(), &Patch::Merge(&patch)).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(explain(e, &format!("remove the finalizer of {node}"))),
            }
        }
    }
    if no_wait {
        return Ok(0);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    let mut pending: Vec<String> = nodes;
    while !pending.is_empty() {
        let mut still = Vec::new();
        for node in pending {
            match api.get_opt(&node).await.map_err(|e| explain(e, "read MultiNicNodeConfig"))? {
                None => eprintln!("{node}: cleaned up"),
                Some(_) => still.push(node),
            }
        }
        pending = still;
        if pending.is_empty() {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Failure {
                message: format!(
                    "timed out after {timeout}s waiting for {}: is multinicd running on those nodes? (journalctl -u multinicd; --force for a node that is gone)",
                    pending.join(", ")
                ),
                code: 1,
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(0)
}
