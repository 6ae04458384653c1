// SPDX-License-Identifier: Apache-2.0
//! The reading commands: status (once or --watch), describe, and the dynamic
//! completion of node names.

use clap::CommandFactory;
use k8s_openapi::api::core::v1::Node;
use kube::api::ListParams;
use kube::{Api, ResourceExt};
use multinic_api::MultiNicNodeConfig;

use crate::client::{Connection, Failure, explain};
use crate::{Cli, Output, color, describe, print, status};

pub(crate) async fn status(
    conn: &Connection,
    nodes: &[String],
    all: bool,
    output: Option<Output>,
    no_headers: bool,
) -> Result<u8, Failure> {
    let client = conn.client().await?;
    crate::client::warn_if_crd_outdated(&client).await;
    let api: Api<MultiNicNodeConfig> = if all { Api::all(client) } else { Api::namespaced(client, &conn.namespace) };
    let mut items = api.list(&ListParams::default()).await.map_err(|e| explain(e, "list MultiNicNodeConfigs"))?.items;
    if !nodes.is_empty() {
        let missing: Vec<&String> = nodes.iter().filter(|n| !items.iter().any(|cr| &cr.name_any() == *n)).collect();
        if !missing.is_empty() {
            let names: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
            return Err(Failure {
                message: format!(
                    "no MultiNicNodeConfig for node(s) {} in namespace {}; create one with `kubectl multinic create NODE`",
                    names.join(", "),
                    conn.namespace
                ),
                code: 1,
            });
        }
        items.retain(|cr| nodes.contains(&cr.name_any()));
    }
    let rows = status::rows(&items, k8s_openapi::jiff::Timestamp::now());
    match output {
        Some(Output::Json) | Some(Output::Yaml) => {
            let list = serde_json::json!({ "apiVersion": "v1", "kind": "List", "items": items });
            print(&list, output.unwrap_or(Output::Yaml));
        }
        Some(Output::Name) => rows.iter().for_each(|r| println!("multinicnodeconfig.multinic.io/{}", r.node)),
        _ => {
            if rows.is_empty() {
                eprintln!(
                    "No MultiNicNodeConfigs found in {}.",
                    if all { "any namespace".to_string() } else { format!("namespace {}", conn.namespace) }
                );
            } else {
                let style =
                    status::Style { wide: output == Some(Output::Wide), no_headers, color: color(), namespaces: all };
                print!("{}", status::render(&rows, style));
            }
        }
    }
    Ok(if rows.iter().all(|r| r.healthy) { 0 } else { 1 })
}

/// `status --watch`: a row each time a node's status changes.
pub(crate) async fn watch_status(
    conn: &Connection,
    nodes: Vec<String>,
    all: bool,
    output: Option<Output>,
) -> Result<u8, Failure> {
    use futures::StreamExt;
    use kube::runtime::{WatchStreamExt, watcher};
    let client = conn.client().await?;
    let api: Api<MultiNicNodeConfig> = if all { Api::all(client) } else { Api::namespaced(client, &conn.namespace) };
    let mut stream = std::pin::pin!(watcher(api, watcher::Config::default()).applied_objects());
    while let Some(next) = stream.next().await {
        let cr = next.map_err(|e| Failure { message: format!("watch failed: {e}"), code: 1 })?;
        if !nodes.is_empty() && !nodes.contains(&cr.name_any()) {
            continue;
        }
        let rows = status::rows(std::slice::from_ref(&cr), k8s_openapi::jiff::Timestamp::now());
        let style =
            status::Style { wide: output == Some(Output::Wide), no_headers: true, color: color(), namespaces: all };
        print!("{}", status::render(&rows, style));
    }
    Ok(0)
}

pub(crate) async fn describe_node(conn: &Connection, node: &str) -> Result<u8, Failure> {
    use k8s_openapi::api::events::v1::Event;
    let client = conn.client().await?;
    let api: Api<MultiNicNodeConfig> = Api::namespaced(client.clone(), &conn.namespace);
    let cr = api.get_opt(node).await.map_err(|e| explain(e, "read the MultiNicNodeConfig"))?.ok_or_else(|| Failure {
        message: format!("no MultiNicNodeConfig for node {node} in namespace {}; create one with `kubectl multinic create {node} --nic …`", conn.namespace),
        code: 1,
    })?;
    let events: Api<Event> = Api::namespaced(client, &conn.namespace);
    let selector = format!("regarding.name={node},regarding.kind=MultiNicNodeConfig");
    // Events are a help, not a must: a user may lack the right to list them.
    let events = events.list(&ListParams::default().fields(&selector)).await.map(|l| l.items).unwrap_or_default();
    print!("{}", describe::render(&cr, &events, k8s_openapi::jiff::Timestamp::now()));
    Ok(0)
}

/// Candidates for the word being completed, one per line, then cobra's directive
/// line (`:4`, no file completion), as kubectl's plugin completion expects.
pub(crate) async fn complete(conn: &Connection, words: Vec<String>) -> Result<u8, Failure> {
    let partial = words.last().cloned().unwrap_or_default();
    let positional: Vec<&String> = words.iter().filter(|w| !w.starts_with('-')).collect();
    let mut candidates: Vec<String> = Vec::new();
    if positional.len() <= 1 && !partial.starts_with('-') {
        candidates =
            Cli::command().get_subcommands().filter(|c| !c.is_hide_set()).map(|c| c.get_name().to_string()).collect();
    } else if !partial.starts_with('-') {
        // Names are a help: without a cluster there are simply none.
        if let Ok(client) = conn.client().await {
            candidates = match positional[0].as_str() {
                "create" => Api::<Node>::all(client)
                    .list(&ListParams::default())
                    .await
                    .map(|l| l.items.iter().map(|n| n.name_any()).collect()),
                "status" | "describe" | "doctor" | "cleanup" | "add-nic" | "remove-nic" => {
                    Api::<MultiNicNodeConfig>::namespaced(client, &conn.namespace)
                        .list(&ListParams::default())
                        .await
                        .map(|l| l.items.iter().map(|n| n.name_any()).collect())
                }
                _ => Ok(Vec::new()),
            }
            .unwrap_or_default();
        }
    }
    candidates.sort();
    for c in candidates.iter().filter(|c| c.starts_with(&partial)) {
        println!("{c}");
    }
    println!(":4");
    Ok(0)
}
