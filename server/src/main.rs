//! The `clawsocket` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use clawsocket_server::settings::{self, Environment, Overrides};
use clawsocket_server::{chat, store};

/// clawsocket: connect applications to AI agents over WebSocket.
///
/// With no command it serves (like `clawsocket serve`) on 127.0.0.1:18800, path /ws, with the
/// built-in offline agent, and prints how to connect.
#[derive(Debug, Parser)]
#[command(name = "clawsocket", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Chat with a server from the terminal.
    Chat(ChatArgs),
    /// List or approve pairing requests (dmPolicy: pairing).
    Pairing(PairingArgs),
}

#[derive(Debug, Args, Default)]
struct ServeArgs {
    /// Config file, JSON or YAML: an OpenClaw-style file with channels.websocket, or just that block.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Address to bind (overrides the file).
    #[arg(long)]
    host: Option<String>,
    /// Port to bind; 0 picks a free one (overrides the file).
    #[arg(long)]
    port: Option<u16>,
    /// WebSocket path (overrides the file).
    #[arg(long)]
    path: Option<String>,
    /// Directory of the SQLite store (overrides store.dataDir).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ChatArgs {
    /// Server URL, e.g. ws://127.0.0.1:18800/ws?senderId=me&token=...
    url: String,
    /// Sender id (overrides senderId in the URL).
    #[arg(long)]
    sender_id: Option<String>,
    /// Display name (overrides senderName in the URL).
    #[arg(long)]
    sender_name: Option<String>,
    /// Token (overrides token in the URL).
    #[arg(long)]
    token: Option<String>,
    /// Protocol version: 2 resumes after reconnects, 1 is the seed protocol.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=2))]
    protocol: u8,
}

#[derive(Debug, Args)]
struct PairingArgs {
    #[command(subcommand)]
    action: PairingAction,
}

#[derive(Debug, Subcommand)]
enum PairingAction {
    /// List pairing requests and their status.
    List(StoreArgs),
    /// Approve a pairing code; the running server admits the sender within a second.
    Approve {
        /// The code the server logged and showed to the user.
        code: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Args)]
struct StoreArgs {
    /// The server's config file (to find its data directory).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// The server's data directory.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => serve(cli.serve),
        Some(Command::Serve(args)) => serve(args),
        Some(Command::Chat(args)) => runtime().and_then(|rt| {
            rt.block_on(chat::run(chat::ChatOptions {
                url: args.url,
                sender_id: args.sender_id,
                sender_name: args.sender_name,
                token: args.token,
                protocol: args.protocol,
            }))
        }),
        Some(Command::Pairing(args)) => pairing(args.action),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("clawsocket: {message}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

fn load(config: Option<&PathBuf>, overrides: &Overrides) -> Result<settings::Settings, String> {
    let file = config.map(|p| settings::read_file(p)).transpose()?;
    settings::build(file.as_ref(), overrides, &Environment::from_process())
}

fn serve(args: ServeArgs) -> Result<(), String> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let overrides = Overrides {
        host: args.host,
        port: args.port,
        path: args.path,
        data_dir: args.data_dir,
    };
    let settings = load(args.config.as_ref(), &overrides)?;
    if !settings.core.enabled {
        return Err("the websocket channel is disabled (enabled: false) in the config".into());
    }
    runtime()?.block_on(clawsocket_server::run(settings, shutdown_signal()))
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn pairing(action: PairingAction) -> Result<(), String> {
    let store_args = match &action {
        PairingAction::List(s) => s,
        PairingAction::Approve { store, .. } => store,
    };
    let data_dir = match &store_args.data_dir {
        Some(d) => d.clone(),
        None => load(store_args.config.as_ref(), &Overrides::default())?.data_dir,
    };
    let db = store::open_database(&data_dir)?;
    match action {
        PairingAction::List(_) => {
            let rows = store::list_pairing(&db, None).map_err(|e| e.to_string())?;
            if rows.is_empty() {
                println!("no pairing requests");
            }
            for row in rows {
                println!(
                    "{}\t{}\t{}\t{}",
                    row.code,
                    row.status,
                    row.sender_id,
                    row.sender_name.unwrap_or_default()
                );
            }
        }
        PairingAction::Approve { code, .. } => {
            let row = store::approve_pairing(&db, &code)?;
            println!(
                "approved {} for sender {} ({})",
                row.code, row.sender_id, row.status
            );
        }
    }
    Ok(())
}
