// SPDX-License-Identifier: Apache-2.0
//! `kubectl multinic import --from-db URL`: move from the predecessor (v2), whose
//! NICs live in MariaDB table `multi_interface`, to MultiNicNodeConfig CRs.
//! Read the rows, map them per node (map.rs: every rule), compare with the cluster
//! (plan.rs), print the plan; `--apply` writes it, `-o yaml` prints CRs instead.

mod db;
mod map;
mod plan;

use futures::{FutureExt, StreamExt};

use k8s_openapi::api::core::v1::Node;
use kube::api::{ListParams, PostParams};
use kube::{Api, ResourceExt};
use multinic_api::MultiNicNodeConfig;

use crate::client::{Connection, Failure, explain, system_uuid};
use plan::{Action, Plan};

/// The flags of `import`.
#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// The v2 database, mysql://USER@HOST:PORT/DATABASE. The password comes from
    /// MULTINIC_DB_PASSWORD or a prompt, never from the URL.
    #[arg(long, value_name = "URL")]
    from_db: String,
    /// Write the planned changes (default: only print the plan).
    #[arg(long)]
    apply: bool,
    /// Print the CRs as YAML (for GitOps) instead of comparing with the cluster.
    #[arg(short, long, value_parser = ["yaml"], conflicts_with = "apply")]
    output: Option<String>,
    /// MTU of every imported interface (v2 had none; unset leaves each NIC's MTU as it is).
    #[arg(long, value_parser = clap::value_parser!(u32).range(68..=9000))]
    mtu: Option<u32>,
    /// Metric of the default route made from a row's gateway; keep it above the
    /// metric of the node's primary default route.
    #[arg(long, default_value_t = 10000, value_name = "METRIC")]
    gateway_metric: u32,
    /// Do not turn gateways into default routes.
    #[arg(long)]
    no_gateways: bool,
    /// Import only this node (repeatable).
    #[arg(long = "node", value_name = "NODE")]
    nodes: Vec<String>,
    /// Also import nodes that have no Node object in the cluster.
    #[arg(long)]
    no_node_check: bool,
}

/// Run the import; exit 0 when every row is in the cluster (or printed), 1 when
/// some were skipped or refused.
pub async fn run(conn: &Connection, args: ImportArgs) -> Result<u8, Failure> {
    let source = db::Source::parse(&args.from_db)?;
    let password = source.password()?;
    let rows = source.rows(password).await?;
    let options = map::Options { mtu: args.mtu, gateway_metric: (!args.no_gateways).then_some(args.gateway_metric) };
    let mut mapping = map::map(&rows, options);
    if !args.nodes.is_empty() {
        mapping.nodes.retain(|node, _| args.nodes.contains(node));
        mapping.orphans.clear();
        if let Some(missing) = args.nodes.iter().find(|n| !mapping.nodes.contains_key(*n)) {
            return Err(Failure::usage(format!("--node {missing}: the database has no rows for it")));
        }
    }
    eprintln!("read {} rows for {} nodes from {}", rows.len(), mapping.nodes.len(), source.shown);

    if args.output.is_some() {
        return Ok(print_yaml(mapping, &conn.namespace));
    }
    let client = conn.client().await?;
    let configs: Api<MultiNicNodeConfig> = Api::namespaced(client.clone(), &conn.namespace);
    let existing = configs.list(&ListParams::default()).await.map_err(|e| explain(e, "list MultiNicNodeConfigs"))?;
    let nodes = if args.no_node_check {
        None
    } else {
        let nodes: Api<Node> = Api::all(client);
        let list = nodes.list(&ListParams::default()).await.map_err(|e| explain(e, "list Nodes"))?;
        Some(list.items.into_iter().map(|n| (n.name_any(), system_uuid(n))).collect())
    };
    let cluster = plan::Cluster { configs: existing.items.into_iter().map(|c| (c.name_any(), c)).collect(), nodes };
    let mut plan = plan::plan(mapping, &cluster, args.mtu.is_some());
    if args.apply {
        write(&configs, &conn.namespace, &mut plan).await;
    }
    print!("{}", plan.render(args.apply));
    Ok(if plan.complete() { 0 } else { 1 })
}

/// Create or replace each planned CR, a few at a time; a refusal marks that node
/// failed and the others go on.
async fn write(api: &Api<MultiNicNodeConfig>, namespace: &str, plan: &mut Plan) {
    let params = PostParams { dry_run: false, field_manager: Some("kubectl-multinic".into()) };
    let writes = plan.nodes.iter().filter_map(|(node, action)| {
        let (api, params) = (api.clone(), params.clone());
        let write = match action {
            Action::Create(spec) => {
                let mut cr = MultiNicNodeConfig::new(node, spec.clone());
                cr.metadata.namespace = Some(namespace.to_string());
                async move { api.create(&params, &cr).await }.boxed()
            }
            // A replace carries the resourceVersion the plan was made against: an
            // edit in between is a conflict, reported, not overwritten.
            Action::Update { cr, .. } => {
                let cr = cr.clone();
                async move { api.replace(node, &params, &cr).await }.boxed()
            }
            _ => return None,
        };
        Some(async move {
            let failure = write.await.err().map(|e| explain(e, &format!("write MultiNicNodeConfig {node}")).message);
            (node.clone(), failure)
        })
    });
    let failures: Vec<(String, Option<String>)> = futures::stream::iter(writes).buffer_unordered(8).collect().await;
    for (node, failure) in failures {
        if let (Some(why), Some(action)) = (failure, plan.nodes.get_mut(&node)) {
            *action = Action::Failed(why);
        }
    }
}

/// `-o yaml`: the CRs that can be imported, as one multi-document stream on
/// stdout; what cannot, on stderr.
fn print_yaml(mapping: map::Mapping, namespace: &str) -> u8 {
    let mut complete = mapping.orphans.is_empty();
    for problem in &mapping.orphans {
        eprintln!("skipped: {problem}");
    }
    for (node, mapped) in mapping.nodes {
        match mapped {
            map::Mapped::Ready(spec) => {
                let mut cr = MultiNicNodeConfig::new(&node, spec);
                cr.metadata.namespace = Some(namespace.to_string());
                match serde_yaml::to_string(&cr) {
                    Ok(text) => print!("---\n{text}"),
                    Err(e) => {
                        eprintln!("skipped {node}: cannot render: {e}");
                        complete = false;
                    }
                }
            }
            map::Mapped::Skipped(problems) => {
                complete = false;
                for p in problems {
                    eprintln!("skipped {node}: {p}");
                }
            }
        }
    }
    if complete { 0 } else { 1 }
}
