// SPDX-License-Identifier: Apache-2.0
//! The commands that change a MultiNicNodeConfig: create, add-nic/remove-nic
//! (read-modify-write, retried on conflict), and waiting for the daemon's answer.

use std::io::IsTerminal;
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use kube::api::PostParams;
use kube::{Api, ResourceExt};
use multinic_api::{MultiNicNodeConfig, MultiNicNodeConfigSpec, validate};

use crate::client::{Connection, Failure, explain, system_uuid};
use crate::{DryRun, Output, nic, print};

/// `kubectl multinic create`'s flags.
#[derive(clap::Args)]
pub(crate) struct CreateArgs {
    /// The node (the CR is named after it).
    pub node: Option<String>,
    /// One interface: mac=…,address=…,cidr=…[,mtu=…][,name=multinicN][,id=…]; repeatable.
    #[arg(long = "nic", value_name = "SPEC")]
    pub nics: Vec<String>,
    /// A MultiNicNodeConfig YAML file instead of flags.
    #[arg(short, long, conflicts_with_all = ["nics", "empty", "from_discovered"])]
    pub file: Option<std::path::PathBuf>,
    /// No interfaces yet: the node's daemon then reports the NICs it finds in
    /// status.discovered (see describe, and --from-discovered).
    #[arg(long, conflicts_with_all = ["nics", "from_discovered"], requires = "node")]
    pub empty: bool,
    /// Add to the node's existing MultiNicNodeConfig every discovered NIC whose OpenStack
    /// port gives its fixed IPv4 address; shows the result unless --apply.
    #[arg(long, conflicts_with_all = ["nics", "dry_run", "no_node_check"], requires = "node")]
    pub from_discovered: bool,
    /// With --from-discovered: write it.
    #[arg(long, requires = "from_discovered")]
    pub apply: bool,
    /// Validate only: on the client, or by the API server without storing.
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "client", require_equals = true)]
    pub dry_run: Option<DryRun>,
    /// Do not require the Node to exist (and leave instanceId unset).
    #[arg(long)]
    pub no_node_check: bool,
    /// Output format of the created object.
    #[arg(short, long, value_enum)]
    pub output: Option<Output>,
    /// Wait until the node's daemon has applied it; exit 0 only when Configured.
    #[arg(long)]
    pub wait: bool,
    /// Seconds to wait with --wait.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
}

pub(crate) async fn create(conn: &Connection, args: &CreateArgs) -> Result<Option<String>, Failure> {
    let CreateArgs { node, nics, file, empty, dry_run, no_node_check, output, .. } = args;
    let (dry_run, no_node_check, output) = (*dry_run, *no_node_check, *output);
    let mut cr: MultiNicNodeConfig = match (file, node) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
            serde_yaml::from_str(&text).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?
        }
        (None, Some(node)) => {
            if nics.is_empty() && !empty {
                return Err(Failure::usage(
                    "give at least one --nic mac=…,address=…,cidr=… (or -f FILE, --empty, --from-discovered)",
                ));
            }
            let interfaces =
                nics.iter().map(|n| nic::parse(n)).collect::<Result<Vec<_>, _>>().map_err(Failure::usage)?;
            MultiNicNodeConfig::new(
                node,
                MultiNicNodeConfigSpec { node_name: node.clone(), instance_id: None, interfaces },
            )
        }
        (None, None) => {
            return Err(Failure::usage("name the node (kubectl multinic create NODE --nic …) or give -f FILE"));
        }
    };
    if cr.metadata.namespace.is_none() {
        cr.metadata.namespace = Some(conn.namespace.clone());
    }
    let name = cr.name_any();
    if !no_node_check && dry_run != Some(DryRun::Client) {
        let client = conn.client().await?;
        let nodes: Api<Node> = Api::all(client);
        match nodes.get_opt(&name).await.map_err(|e| explain(e, "read the Node"))? {
            None => {
                return Err(Failure {
                    message: format!(
                        "node {name} not found; check the name (kubectl get nodes) or pass --no-node-check"
                    ),
                    code: 1,
                });
            }
            Some(n) => {
                if cr.spec.instance_id.is_none() {
                    cr.spec.instance_id = system_uuid(n);
                }
            }
        }
    }
    refuse_invalid(&cr, "the MultiNicNodeConfig is not valid")?;
    if dry_run == Some(DryRun::Client) {
        print(&cr, output.unwrap_or(Output::Yaml));
        return Ok(None);
    }
    let client = conn.client().await?;
    crate::client::warn_if_crd_outdated(&client).await;
    let api: Api<MultiNicNodeConfig> =
        Api::namespaced(client, cr.metadata.namespace.as_deref().unwrap_or(&conn.namespace));
    let params =
        PostParams { dry_run: dry_run == Some(DryRun::Server), field_manager: Some("kubectl-multinic".into()) };
    let created =
        api.create(&params, &cr).await.map_err(|e| explain(e, &format!("create MultiNicNodeConfig {name}")))?;
    match output {
        Some(Output::Json) | Some(Output::Yaml) => print(&created, output.unwrap_or(Output::Yaml)),
        Some(Output::Name) => println!("multinicnodeconfig.multinic.io/{name}"),
        _ => println!(
            "multinicnodeconfig.multinic.io/{name} created{}",
            if params.dry_run { " (server dry run)" } else { "" }
        ),
    }
    Ok((!params.dry_run).then_some(name))
}

/// Refuse, before anything is sent, what the daemon's own rules refuse: `what`,
/// then every error with its path.
pub(crate) fn refuse_invalid(cr: &MultiNicNodeConfig, what: &str) -> Result<(), Failure> {
    let errors = validate(cr).errors;
    if errors.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
    Err(Failure::usage(format!("{what}:\n{}", lines.join("\n"))))
}

/// Read-modify-write of one CR's spec, validated before it is sent; retried on a
/// conflict with a concurrent writer.
pub(crate) async fn edit(
    conn: &Connection,
    node: &str,
    change: impl Fn(&mut MultiNicNodeConfig) -> Result<(), Failure>,
) -> Result<u8, Failure> {
    let client = conn.client().await?;
    crate::client::warn_if_crd_outdated(&client).await;
    let api: Api<MultiNicNodeConfig> = Api::namespaced(client, &conn.namespace);
    for _ in 0..5 {
        let mut cr = api.get(node).await.map_err(|e| explain(e, &format!("read the MultiNicNodeConfig of {node}")))?;
        change(&mut cr)?;
        refuse_invalid(&cr, &format!("the change would make {node}'s MultiNicNodeConfig invalid"))?;
        cr.status = None;
        match api
            .replace(node, &PostParams { dry_run: false, field_manager: Some("kubectl-multinic".into()) }, &cr)
            .await
        {
            Ok(_) => {
                println!("multinicnodeconfig.multinic.io/{node} edited");
                return Ok(0);
            }
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(e) => return Err(explain(e, &format!("update the MultiNicNodeConfig of {node}"))),
        }
    }
    Err(Failure { message: format!("{node} kept changing under us; try again"), code: 1 })
}

/// Wait until the daemon reports on the current generation; 0 when Configured.
pub(crate) async fn wait_applied(conn: &Connection, node: &str, timeout: u64) -> Result<u8, Failure> {
    use multinic_api::Health;
    let api: Api<MultiNicNodeConfig> = Api::namespaced(conn.client().await?, &conn.namespace);
    let spin = std::io::stderr().is_terminal();
    let frames = ['|', '/', '-', '\\'];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    let mut tick = 0usize;
    loop {
        let cr = api.get(node).await.map_err(|e| explain(e, &format!("read the MultiNicNodeConfig of {node}")))?;
        let health = cr.health();
        if let Health::Current(state) = health
            && health.is_settled()
        {
            if spin {
                eprint!("\r\x1b[K");
            }
            let message = cr.status.as_ref().and_then(|s| s.message.clone()).unwrap_or_default();
            eprintln!("{node}: {state}: {message}");
            return Ok(if health.is_healthy() { 0 } else { 1 });
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Failure {
                message: format!(
                    "{node}: no result from its daemon within {timeout}s; is multinicd running there? (journalctl -u multinicd)"
                ),
                code: 1,
            });
        }
        if spin {
            eprint!("\r{} waiting for {node}'s daemon", frames[tick % frames.len()]);
            tick += 1;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
