// SPDX-License-Identifier: Apache-2.0
//! `kubectl multinic`: the operator's view of multinic — create a node's
//! MultiNicNodeConfig, see every node's status, clean a node up.

mod change;
mod cleanup;
mod client;
mod describe;
mod discovered;
mod doctor;
mod import;
mod nic;
mod show;
mod status;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

use client::{Connection, Failure};

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
    /// Create the MultiNicNodeConfig of a node: from --nic flags, a file, or the NICs its
    /// daemon discovered and OpenStack describes (--from-discovered).
    #[command(after_help = "Examples:\n  \
kubectl multinic create worker-1 --nic mac=fa:16:3e:1c:1a:6e,address=11.11.11.37,cidr=11.11.11.0/24\n  \
kubectl multinic create -f worker-1.yaml\n  \
kubectl multinic create worker-1 --empty               # no NICs yet: its daemon reports what it discovers\n  \
kubectl multinic create worker-1 --from-discovered     # show the spec OpenStack's ports describe\n  \
kubectl multinic create worker-1 --from-discovered --apply --wait")]
    Create(change::CreateArgs),
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
    /// Check a node as the cluster sees it and say what to fix: its Node, its
    /// MultiNicNodeConfig and instanceId, a current Configured status, the MultiNicReady
    /// condition, recent Warning Events. Exit 0 only when nothing failed.
    #[command(
        after_help = "Examples:\n  kubectl multinic doctor worker-1\n  (on the node itself: sudo multinicd doctor)"
    )]
    Doctor {
        /// The node.
        node: String,
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
    /// Write the manual pages into DIR (for the packages).
    #[command(hide = true)]
    Man {
        /// Where to write them.
        dir: std::path::PathBuf,
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
            let code = show::status(&cli.conn, &nodes, all_namespaces, output, no_headers).await?;
            if watch { show::watch_status(&cli.conn, nodes, all_namespaces, output).await } else { Ok(code) }
        }
        Command::Create(args) => {
            let name = match &args.node {
                Some(node) if args.from_discovered => {
                    discovered::create(&cli.conn, node, args.apply, args.output).await?;
                    args.apply.then(|| node.clone())
                }
                _ => change::create(&cli.conn, &args).await?,
            };
            match (args.wait, name) {
                (true, Some(name)) => change::wait_applied(&cli.conn, &name, args.timeout).await,
                _ => Ok(0),
            }
        }
        Command::AddNic { node, nic } => {
            let spec = nic::parse(&nic).map_err(Failure::usage)?;
            change::edit(&cli.conn, &node, |cr| {
                cr.spec.interfaces.push(spec.clone());
                Ok(())
            })
            .await
        }
        Command::RemoveNic { node, mac } => {
            change::edit(&cli.conn, &node, |cr| {
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
        Command::Describe { node } => show::describe_node(&cli.conn, &node).await,
        Command::Doctor { node } => doctor::doctor(&cli.conn, &node).await,
        Command::Complete { words } => show::complete(&cli.conn, words).await,
        Command::Cleanup { nodes, timeout, no_wait, force } => {
            cleanup::cleanup(&cli.conn, nodes, timeout, no_wait, force).await
        }
        Command::Import(args) => import::run(&cli.conn, args).await,
        Command::Man { dir } => man(&dir),
    }
}

/// kubectl-multinic(1), one page per command, and kubectl_complete-multinic(1)
/// pointing at the first.
fn man(dir: &std::path::Path) -> Result<u8, Failure> {
    use multinic_api::man::roff::{Roff, bold, roman};
    let mut see_also = Roff::new();
    see_also.control("SH", ["SEE ALSO"]);
    see_also.text([
        bold("kubectl"),
        roman("(1), "),
        bold("multinicd"),
        roman("(8), "),
        bold("multinicd.yaml"),
        roman("(5)"),
    ]);
    let written = multinic_api::man::write(Cli::command(), "kubectl-multinic", "1", &see_also.to_roff(), dir)
        .and_then(|()| std::fs::write(dir.join("kubectl_complete-multinic.1"), ".so man1/kubectl-multinic.1\n"));
    written.map(|()| 0).map_err(|e| Failure::usage(format!("man: {}: {e}", dir.display())))
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
