//! `parley` command line: `parley --config FILE`, `parley check-config FILE`,
//! `parley user add USER`, `parley --version`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use parley_gateway::config::{Config, LogFormat};

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
    /// The registrar's users (`[registrar] users_file`).
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
        /// The users file; default: `registrar.users_file` of --config.
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        /// The digest realm; default: `registrar.realm` of --config, else its `sip.domain`.
        #[arg(long, value_name = "REALM")]
        realm: Option<String>,
    },
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
        Some(Command::User(UserCommand::Add { user, file, realm })) => {
            user_add(cli.config.as_deref(), &user, file, realm)
        }
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

/// `parley user add`: the file and realm from the flags or the config, the
/// password from stdin.
fn user_add(
    config: Option<&std::path::Path>,
    user: &str,
    file: Option<PathBuf>,
    realm: Option<String>,
) -> ExitCode {
    let loaded = match (config, &file, &realm) {
        (_, Some(_), Some(_)) => None,
        (Some(path), _, _) => {
            // The users file may not exist yet: read the keys without
            // validating `[registrar]` as a whole.
            match Config::load_unvalidated(path) {
                Ok(c) => Some(c),
                Err(e) => {
                    eprintln!("parley: {}: {e}", path.display());
                    return ExitCode::from(2);
                }
            }
        }
        (None, _, _) => {
            eprintln!(
                "parley: user add needs --file and --realm, or --config FILE with [registrar]"
            );
            return ExitCode::from(2);
        }
    };
    let registrar = loaded.as_ref().and_then(|c| c.registrar.as_ref());
    let Some(file) = file.or_else(|| registrar.map(|r| r.users_file.clone())) else {
        eprintln!("parley: no --file and no registrar.users_file in the config");
        return ExitCode::from(2);
    };
    let Some(realm) = realm.or_else(|| {
        loaded.as_ref().map(|c| {
            c.registrar
                .as_ref()
                .map_or(c.sip.domain.as_str(), |r| r.realm_or(&c.sip.domain))
                .to_owned()
        })
    }) else {
        eprintln!("parley: no --realm and no config to take it from");
        return ExitCode::from(2);
    };
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprint!("Password for {user} in {realm}: ");
    }
    let mut password = String::new();
    if let Err(e) = std::io::stdin().read_line(&mut password) {
        eprintln!("parley: reading the password: {e}");
        return ExitCode::from(2);
    }
    let password = password.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        eprintln!("parley: empty password");
        return ExitCode::from(2);
    }
    match parley_gateway::users_file::add_user(&file, user, &realm, password) {
        Ok(()) => {
            eprintln!(
                "parley: {user} in realm {realm} written to {}",
                file.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("parley: {e}");
            ExitCode::from(2)
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
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
