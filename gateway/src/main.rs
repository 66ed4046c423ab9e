//! `parley` command line: `parley --config FILE`, `parley check-config FILE`,
//! `parley user add|remove|list`, `parley --version`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use parley_gateway::config::{Config, LogFormat};

/// mimalloc rather than glibc malloc: ~10 % less CPU per translated message,
/// the same RSS under load (bench/RESULTS.md, "The allocator", issue 24).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod user_command;

#[derive(Parser)]
#[command(name = "parley", version, about = "XMPP <-> SIP/SIMPLE gateway")]
struct Cli {
    /// Configuration file (TOML); `PARLEY_<SECTION>__<KEY>` variables override it.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Validate FILE, print the effective config (secrets masked), exit 0; or exit 2 naming the bad key.
    CheckConfig {
        /// Configuration file (TOML).
        file: PathBuf,
    },
    /// The registrar's users: in the users file or the store (`[registrar] users`).
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add USER (or replace its password): reads the password from the first
    /// line of stdin and stores only its MD5 and SHA-256 digest hashes.
    Add {
        /// The username (the user part of the phone's address-of-record).
        user: String,
        #[command(flatten)]
        at: UsersAt,
    },
    /// Remove USER; exit 1 if there was no such user.
    Remove {
        /// The username.
        user: String,
        #[command(flatten)]
        at: UsersAt,
    },
    /// Print `user realm`, one user a line (never a hash).
    List {
        #[command(flatten)]
        at: UsersAt,
    },
}

/// Where `parley user` works: `--file`, else `--config`'s `[registrar]`
/// (its users file, or its `[store]` with `users = "store"`).
#[derive(clap::Args)]
struct UsersAt {
    /// The users file; default: from --config.
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
    /// The digest realm; default: `registrar.realm` of --config, else its `sip.domain`.
    #[arg(long, value_name = "REALM")]
    realm: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::CheckConfig { file }) => match Config::load(&file) {
            Ok(config) => {
                print!("{}", config.to_masked_toml());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("parley: {}: {e}", file.display());
                ExitCode::from(2)
            }
        },
        Some(Command::User(command)) => user_command::run(cli.config.as_deref(), command),
        None => {
            let Some(file) = cli.config else {
                eprintln!("parley: --config FILE is required (see --help)");
                return ExitCode::from(2);
            };
            let config = match Config::load(&file) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("parley: {}: {e}", file.display());
                    return ExitCode::from(2);
                }
            };
            init_logging(&config);
            match serve(config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "parley failed");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn init_logging(config: &Config) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(config.log.level.as_str()));
    // Every store statement at debug drowns the gateway's own lines; ask for
    // them explicitly (`RUST_LOG=sqlx=debug`) when needed.
    let filter = if std::env::var("RUST_LOG").is_ok_and(|v| v.contains("sqlx")) {
        filter
    } else {
        filter.add_directive("sqlx=warn".parse().expect("static directive"))
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match config.log.format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn serve(config: Config) -> anyhow::Result<()> {
    huge_pages(config.runtime.transparent_huge_pages);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if config.runtime.worker_threads > 0 {
        builder.worker_threads(config.runtime.worker_threads);
    }
    let runtime = builder.enable_all().build()?;
    tracing::info!(
        workers = runtime.metrics().num_workers(),
        "async runtime started (runtime.worker_threads)"
    );
    let result = runtime.block_on(async {
        let shutdown = CancellationToken::new();
        let signals = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("signal received");
            signals.cancel();
        });
        // The gateway runs as a task on the workers, not on this thread:
        // what its tasks wake (the router's loop after a datagram, the
        // component writer after a stanza) then runs next on the same
        // worker, where waking this thread would cross threads every time.
        match tokio::spawn(parley_gateway::run(config, shutdown)).await {
            Ok(result) => result,
            Err(join) => std::panic::resume_unwind(join.into_panic()),
        }
    });
    // `run` has drained within `shutdown.grace_ms`; whatever is still running
    // (a blocking store call, a connection task) must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    Ok(result?)
}

/// `runtime.transparent_huge_pages`: off (the default) turns transparent
/// huge pages off for the whole process, for the memory it has and will
/// have. Completed transactions are freed in the order they came, the
/// allocator hands the freed pages back, and a page touched again is a
/// fresh one to clear: 4 KiB without huge pages, 2 MiB with. On a kernel
/// without the setting, Parley runs as it is and says so.
fn huge_pages(allowed: bool) {
    #[cfg(target_os = "linux")]
    if !allowed {
        match rustix::thread::disable_transparent_huge_pages(true) {
            Ok(()) => tracing::info!("transparent huge pages off (runtime.transparent_huge_pages)"),
            Err(error) => tracing::warn!(
                %error,
                "cannot turn transparent huge pages off (runtime.transparent_huge_pages)"
            ),
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = allowed;
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
