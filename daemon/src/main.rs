// SPDX-License-Identifier: Apache-2.0
//! The `multinicd` command line: parses it, loads the config, starts logging and
//! the runtime, and hands over to [`multinicd::commands`].

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use multinicd::commands::{self, Exit, Format};
use multinicd::{config, journal};

const EXAMPLES: &str = "\
Examples:
  multinicd plan --file node.yaml          # what would change, touches nothing
  multinicd apply --file node.yaml -o json # configure the NICs, print the status
  multinicd inventory                      # NICs on this host and their roles
  multinicd cleanup                        # remove everything multinic configured

Exit codes: 0 all interfaces configured, 1 some failed/blocked/not found,
2 invalid input or usage, 3 backend (D-Bus, NetworkManager) unreachable.";

#[derive(Parser)]
#[command(name = "multinicd", version, about, after_help = EXAMPLES)]
struct Cli {
    /// Config file; its drop-ins are read from PATH.d/*.yaml.
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// More log output (-v debug, -vv trace); MULTINIC_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The service: watch this node's MultiNicNodeConfig and keep the NICs as it says.
    Run,
    /// Apply a MultiNicNodeConfig from a file once, then print the resulting status.
    Apply {
        /// The resource YAML.
        #[arg(short, long)]
        file: PathBuf,
        /// Output format of the status.
        #[arg(short, long, default_value = "yaml", value_parser = ["yaml", "json"])]
        output: String,
    },
    /// Show what apply would change, per interface, and why; touches nothing.
    Plan {
        /// The resource YAML.
        #[arg(short, long)]
        file: PathBuf,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Format::Table)]
        output: Format,
    },
    /// Remove everything multinic configured on this host, and nothing else.
    Cleanup,
    /// Check the configuration (file and drop-ins) and print the effective settings.
    Config {
        /// Print only this key's value (e.g. kubeconfig).
        #[arg(long, value_name = "KEY")]
        get: Option<String>,
    },
    /// List the host's NICs: which are protected and why, which are multinic's.
    Inventory {
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Format::Table)]
        output: Format,
        /// After the list, print a line for each link or address change (hot-plug,
        /// rename, address added or removed) until interrupted.
        #[arg(short, long)]
        watch: bool,
    },
    /// Check this node end to end (network manager, kubeconfig, identity, RBAC, CRD,
    /// admission policy, clock, the last pass) and say what to fix; exit 0 only when
    /// nothing failed.
    Doctor,
    /// Write the manual pages into DIR (for the packages).
    #[command(hide = true)]
    Man {
        /// Where to write them.
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Man { dir } = &cli.command {
        return match commands::man::write(Cli::command(), dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("multinicd: man: {}: {e}", dir.display());
                ExitCode::FAILURE
            }
        };
    }
    let settings = match config::Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("multinicd: config: {e}");
            return Exit::Invalid.into();
        }
    };
    init_logging(cli.verbose, &settings.node_name);
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("multinicd: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Apply { file, output } => {
                let format = if output == "json" { Format::Json } else { Format::Yaml };
                commands::apply(&settings, &file, format).await
            }
            Command::Plan { file, output } => commands::plan(&settings, &file, output).await,
            Command::Cleanup => commands::cleanup(&settings).await,
            Command::Run => commands::run(&settings).await,
            Command::Inventory { output, watch } => commands::inventory(&settings, output, watch).await,
            Command::Config { get } => Ok(commands::show_config(&settings, get.as_deref())),
            Command::Doctor => commands::doctor(&settings).await,
            Command::Man { .. } => Ok(Exit::Ok),
        }
    });
    match result {
        Ok(exit) => exit.into(),
        Err(fatal) => {
            eprintln!("multinicd: {}", fatal.message);
            fatal.exit.into()
        }
    }
}

/// Logs go to the journal, with structured fields, when stderr is the journal (a
/// systemd service); to stderr, readable, otherwise.
fn init_logging(verbose: u8, node: &str) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("MULTINIC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    if journal::stderr_is_journal()
        && let Ok(layer) = journal::JournalLayer::new(std::path::Path::new(journal::SOCKET), node)
    {
        tracing_subscriber::registry().with(filter).with(layer).init();
        return;
    }
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_ansi(ansi)
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
