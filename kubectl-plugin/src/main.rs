//! `kubectl multinic`: the operator's view of multinic — create a node's
//! MultiNicNodeConfig, see every node's status, clean a node up.

mod client;
mod describe;
mod import;
mod nic;
mod status;
mod table;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use k8s_openapi::api::core::v1::Node;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use multinic_api::{MultiNicNodeConfig, MultiNicNodeConfigSpec, validate};

use client::{Connection, Failure, explain, system_uuid};

const EXAMPLES: &str = "\
Examples:
  kubectl multinic create worker-1 --nic mac=fa:16:3e:1c:1a:6e,address=11.11.11.37,cidr=11.11.11.0/24,mtu=1450
  kubectl multinic create -f worker-1.yaml --dry-run=server
  kubectl multinic status                      # every node, exit 0 only when all are Configured
  kubectl multinic status worker-1 -o wide
  kubectl multinic cleanup worker-1            # delete, wait until the node has removed its NICs' config
  kubectl multinic import --from-db mysql://multinic@10.0.0.5:3306/multinic   # from v2's MariaDB: plan, then --apply
  source <(kubectl multinic completion bash)";

#[derive(Parser)]
#[command(name = "kubectl multinic", bin_name = "kubectl multinic", version, about, after_help = EXAMPLES)]
struct Cli {
    #[command(flatten)]
    conn: Connection,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Output {
    Wide,
    Json,
    Yaml,
    Name,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum DryRun {
    Client,
    Server,
}

#[derive(Subcommand)]
enum Command {
    /// Create the MultiNicNodeConfig of a node, from --nic flags or a file.
    #[command(
        after_help = "Examples:\n  kubectl multinic create worker-1 --nic mac=fa:16:3e:1c:1a:6e,address=11.11.11.37,cidr=11.11.11.0/24\n  kubectl multinic create -f worker-1.yaml"
    )]
    Create {
        /// The node (the CR is named after it).
        node: Option<String>,
        /// One interface: mac=…,address=…,cidr=…[,mtu=…][,name=multinicN][,id=…]; repeatable.
        #[arg(long = "nic", value_name = "SPEC")]
        nics: Vec<String>,
        /// A MultiNicNodeConfig YAML file instead of flags.
        #[arg(short, long, conflicts_with = "nics")]
        file: Option<std::path::PathBuf>,
        /// Validate only: on the client, or by the API server without storing.
        #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "client", require_equals = true)]
        dry_run: Option<DryRun>,
        /// Do not require the Node to exist (and leave instanceId unset).
        #[arg(long)]
        no_node_check: bool,
        /// Output format of the created object.
        #[arg(short, long, value_enum)]
        output: Option<Output>,
        /// Wait until the node's daemon has applied it; exit 0 only when Configured.
        #[arg(long)]
        wait: bool,
        /// Seconds to wait with --wait.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
    },
    /// Add one interface to a node's MultiNicNodeConfig.
    #[command(
        after_help = "Examples:\n  kubectl multinic add-nic worker-1 --nic mac=fa:16:3e:9d:de:e0,address=11.11.11.38,cidr=11.11.11.0/24"
    )]
    AddNic {
        /// The node.
        node: String,
        /// The interface: mac=…,address=…,cidr=…[,mtu=…][,name=multinicN][,id=…].
        #[arg(long = "nic", value_name = "SPEC")]
        nic: String,
    },
    /// Remove one interface (by MAC) from a node's MultiNicNodeConfig.
    #[command(after_help = "Examples:\n  kubectl multinic remove-nic worker-1 --mac fa:16:3e:9d:de:e0")]
    RemoveNic {
        /// The node.
        node: String,
        /// MAC of the interface to remove.
        #[arg(long)]
        mac: String,
    },
    /// Spec against status per interface, conditions, NICs that could be added, Events.
    #[command(after_help = "Examples:\n  kubectl multinic describe worker-1")]
    Describe {
        /// The node.
        node: String,
    },
    /// Status of every node's MultiNicNodeConfig; exit 0 only when all listed are Configured.
    #[command(
        after_help = "Examples:\n  kubectl multinic status\n  kubectl multinic status worker-1 worker-2 -o wide\n  kubectl multinic status -A -o json"
    )]
    Status {
        /// Only these nodes.
        nodes: Vec<String>,
        /// Across all namespaces.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
        /// Output format.
        #[arg(short, long, value_enum)]
        output: Option<Output>,
        /// No header line.
        #[arg(long)]
        no_headers: bool,
        /// After the table, print a row whenever a node's status changes.
        #[arg(short, long)]
        watch: bool,
    },
    /// Delete nodes' MultiNicNodeConfigs and wait until their daemons removed the configuration.
    #[command(
        after_help = "Examples:\n  kubectl multinic cleanup worker-1\n  kubectl multinic cleanup gone-node --force"
    )]
    Cleanup {
        /// The nodes.
        #[arg(required = true)]
        nodes: Vec<String>,
        /// Seconds to wait for the daemon's cleanup.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
        /// Do not wait.
        #[arg(long)]
        no_wait: bool,
        /// Also remove the cleanup finalizer: for a node that no longer exists. Nothing
        /// is cleaned on the host.
        #[arg(long)]
        force: bool,
    },
    /// Import the predecessor's (v2) MariaDB rows as MultiNicNodeConfigs: plan, --apply, or -o yaml.
    #[command(after_help = "The password is read from MULTINIC_DB_PASSWORD, else asked on the terminal.\n\n\
Examples:\n  kubectl multinic import --from-db mysql://multinic@10.0.0.5:3306/multinic --mtu 1450\n  \
kubectl multinic import --from-db mysql://multinic@10.0.0.5:3306/multinic --mtu 1450 --apply\n  \
kubectl multinic import --from-db mysql://multinic@10.0.0.5:3306/multinic -o yaml > nodes.yaml")]
    Import(import::ImportArgs),
    /// Dynamic completion for kubectl's plugin completion (`kubectl_complete-multinic`).
    #[command(name = "__complete", hide = true)]
    Complete {
        /// The words after `kubectl multinic`, the last one being completed.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        words: Vec<String>,
    },
    /// Shell completion script.
    #[command(
        after_help = "Examples:\n  source <(kubectl multinic completion bash)\n  kubectl multinic completion zsh > \"${fpath[1]}/_kubectl-multinic\""
    )]
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

async fn run(cli: Cli) -> Result<u8, Failure> {
    match cli.command {
        Command::Completion { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "kubectl-multinic", &mut std::io::stdout());
            Ok(0)
        }
        Command::Status { nodes, all_namespaces, output, no_headers, watch } => {
            let code = status(&cli.conn, &nodes, all_namespaces, output, no_headers).await?;
            if watch { watch_status(&cli.conn, nodes, all_namespaces, output).await } else { Ok(code) }
        }
        Command::Create { node, nics, file, dry_run, no_node_check, output, wait, timeout } => {
            let name = create(&cli.conn, node, nics, file, dry_run, no_node_check, output).await?;
            match (wait, name) {
                (true, Some(name)) => wait_applied(&cli.conn, &name, timeout).await,
                _ => Ok(0),
            }
        }
        Command::AddNic { node, nic } => {
            let spec = nic::parse(&nic).map_err(Failure::usage)?;
            edit(&cli.conn, &node, |cr| {
                cr.spec.interfaces.push(spec.clone());
                Ok(())
            })
            .await
        }
        Command::RemoveNic { node, mac } => {
            edit(&cli.conn, &node, |cr| {
                let before = cr.spec.interfaces.len();
                cr.spec.interfaces.retain(|i| !i.mac_address.eq_ignore_ascii_case(&mac));
                if cr.spec.interfaces.len() == before {
                    return Err(Failure::usage(format!(
                        "{node} has no interface with MAC {mac}; see kubectl multinic describe {node}"
                    )));
                }
                Ok(())
            })
            .await
        }
        Command::Describe { node } => describe_node(&cli.conn, &node).await,
        Command::Complete { words } => complete(&cli.conn, words).await,
        Command::Cleanup { nodes, timeout, no_wait, force } => cleanup(&cli.conn, nodes, timeout, no_wait, force).await,
        Command::Import(args) => import::run(&cli.conn, args).await,
    }
}

fn color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

fn print<T: serde::Serialize>(value: &T, output: Output) {
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(value).unwrap_or_default()),
        _ => print!("{}", serde_yaml::to_string(value).unwrap_or_default()),
    }
}

async fn status(
    conn: &Connection,
    nodes: &[String],
    all: bool,
    output: Option<Output>,
    no_headers: bool,
) -> Result<u8, Failure> {
    let client = conn.client().await?;
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

async fn create(
    conn: &Connection,
    node: Option<String>,
    nics: Vec<String>,
    file: Option<std::path::PathBuf>,
    dry_run: Option<DryRun>,
    no_node_check: bool,
    output: Option<Output>,
) -> Result<Option<String>, Failure> {
    let mut cr: MultiNicNodeConfig = match (&file, &node) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
            serde_yaml::from_str(&text).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?
        }
        (None, Some(node)) => {
            if nics.is_empty() {
                return Err(Failure::usage("give at least one --nic mac=…,address=…,cidr=… (or -f FILE)"));
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
    let valid = validate(&cr);
    if !valid.errors.is_empty() {
        let lines: Vec<String> = valid.errors.iter().map(|e| format!("  {e}")).collect();
        return Err(Failure::usage(format!("the MultiNicNodeConfig is not valid:\n{}", lines.join("\n"))));
    }
    if dry_run == Some(DryRun::Client) {
        print(&cr, output.unwrap_or(Output::Yaml));
        return Ok(None);
    }
    let client = conn.client().await?;
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

async fn cleanup(
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

/// Read-modify-write of one CR's spec, validated before it is sent; retried on a
/// conflict with a concurrent writer.
async fn edit(
    conn: &Connection,
    node: &str,
    change: impl Fn(&mut MultiNicNodeConfig) -> Result<(), Failure>,
) -> Result<u8, Failure> {
    let api: Api<MultiNicNodeConfig> = Api::namespaced(conn.client().await?, &conn.namespace);
    for _ in 0..5 {
        let mut cr = api.get(node).await.map_err(|e| explain(e, &format!("read the MultiNicNodeConfig of {node}")))?;
        change(&mut cr)?;
        let valid = validate(&cr);
        if !valid.errors.is_empty() {
            let lines: Vec<String> = valid.errors.iter().map(|e| format!("  {e}")).collect();
            return Err(Failure::usage(format!(
                "the change would make {node}'s MultiNicNodeConfig invalid:\n{}",
                lines.join("\n")
            )));
        }
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
async fn wait_applied(conn: &Connection, node: &str, timeout: u64) -> Result<u8, Failure> {
    use multinic_api::NodeState;
    let api: Api<MultiNicNodeConfig> = Api::namespaced(conn.client().await?, &conn.namespace);
    let spin = std::io::stderr().is_terminal();
    let frames = ['|', '/', '-', '\\'];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    let mut tick = 0usize;
    loop {
        let cr = api.get(node).await.map_err(|e| explain(e, &format!("read the MultiNicNodeConfig of {node}")))?;
        let s = cr.status.as_ref();
        let current = s.and_then(|s| s.observed_generation) == cr.metadata.generation;
        let state = s.and_then(|s| s.state);
        if current && matches!(state, Some(NodeState::Configured) | Some(NodeState::Failed)) {
            if spin {
                eprint!("\r\x1b[K");
            }
            let message = s.and_then(|s| s.message.clone()).unwrap_or_default();
            eprintln!("{node}: {:?}: {message}", state.unwrap_or_default());
            return Ok(if state == Some(NodeState::Configured) { 0 } else { 1 });
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

async fn describe_node(conn: &Connection, node: &str) -> Result<u8, Failure> {
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

/// `status --watch`: a row each time a node's status changes.
async fn watch_status(conn: &Connection, nodes: Vec<String>, all: bool, output: Option<Output>) -> Result<u8, Failure> {
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

/// Candidates for the word being completed, one per line, then cobra's directive
/// line (`:4`, no file completion), as kubectl's plugin completion expects.
async fn complete(conn: &Connection, words: Vec<String>) -> Result<u8, Failure> {
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
                "status" | "describe" | "cleanup" | "add-nic" | "remove-nic" => {
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
