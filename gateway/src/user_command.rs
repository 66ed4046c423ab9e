//! `parley user add|remove|list` (issue 22 item 4): the registrar's users in
//! the users file or in the store, as `[registrar] users` says. The password
//! is read from stdin and only its digest hashes are kept; nothing prints a
//! password or a hash.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use parley_gateway::config::{Config, UsersSource};
use parley_gateway::store::{Admin, SipUser};
use parley_gateway::users_file::{self, UsersFile};
use parley_sip::auth::server::UserHashes;

use super::{UserCommand, UsersAt};

/// Where the users are.
enum Place {
    File(PathBuf),
    Store(Box<parley_gateway::store::Settings>),
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::File(path) => write!(f, "{}", path.display()),
            Place::Store(settings) if settings.url.is_embedded() => {
                write!(f, "the store in {}", settings.path.display())
            }
            // The URL's password is masked by its Display.
            Place::Store(settings) => write!(f, "the store at {}", settings.url),
        }
    }
}

/// Runs one `parley user` command.
pub(crate) fn run(config: Option<&Path>, command: UserCommand) -> ExitCode {
    let (user, at) = match &command {
        UserCommand::Add { user, at } | UserCommand::Remove { user, at } => (Some(user), at),
        UserCommand::List { at } => (None, at),
    };
    if let Some(user) = user
        && (user.is_empty() || user.contains(':') || user.chars().any(char::is_control))
    {
        eprintln!("parley: the username must be non-empty, without ':' or control characters");
        return ExitCode::from(2);
    }
    let (place, realm) = match locate(config, at) {
        Ok(found) => found,
        Err(message) => {
            eprintln!("parley: {message}");
            return ExitCode::from(2);
        }
    };
    let realm_needed = !matches!(command, UserCommand::List { .. });
    let realm = match (realm, realm_needed) {
        (Some(r), _) => r,
        (None, false) => String::new(),
        (None, true) => {
            eprintln!("parley: no --realm and no config to take it from");
            return ExitCode::from(2);
        }
    };
    match command {
        UserCommand::Add { user, .. } => add(&place, &user, &realm),
        UserCommand::Remove { user, .. } => remove(&place, &user, &realm),
        UserCommand::List { .. } => list(&place),
    }
}

/// The place and realm from the flags or the config.
fn locate(config: Option<&Path>, at: &UsersAt) -> Result<(Place, Option<String>), String> {
    let loaded = match config {
        // The users file may not exist yet: read the keys without
        // validating `[registrar]` as a whole.
        Some(path) => {
            Some(Config::load_unvalidated(path).map_err(|e| format!("{}: {e}", path.display()))?)
        }
        None => None,
    };
    let registrar = loaded.as_ref().and_then(|c| c.registrar.as_ref());
    let realm = at.realm.clone().or_else(|| {
        loaded.as_ref().map(|c| {
            registrar
                .map_or(c.sip.domain.as_str(), |r| r.realm_or(&c.sip.domain))
                .to_owned()
        })
    });
    if let Some(file) = &at.file {
        return Ok((Place::File(file.clone()), realm));
    }
    let Some(config) = &loaded else {
        return Err("parley user needs --file, or --config FILE with [registrar]".into());
    };
    let Some(registrar) = registrar else {
        return Err("no --file and no [registrar] in the config".into());
    };
    let place = match (registrar.users, &registrar.users_file) {
        (UsersSource::Store, _) => Place::Store(Box::new(config.store.settings())),
        (UsersSource::File, Some(file)) => Place::File(file.clone()),
        (UsersSource::File, None) => {
            return Err("no --file and no registrar.users_file in the config".into());
        }
    };
    Ok((place, realm))
}

fn read_password(user: &str, realm: &str) -> Result<String, String> {
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprint!("Password for {user} in {realm}: ");
    }
    let mut password = String::new();
    std::io::stdin()
        .read_line(&mut password)
        .map_err(|e| format!("reading the password: {e}"))?;
    let password = password.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        return Err("empty password".into());
    }
    Ok(password)
}

/// Runs `f` on the store of `settings`, on a runtime of its own.
fn with_store<T>(
    settings: &parley_gateway::store::Settings,
    f: impl AsyncFnOnce(&Admin) -> Result<T, parley_gateway::store::StoreError>,
) -> Result<T, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start: {e}"))?;
    runtime.block_on(async {
        let admin = Admin::open(settings)
            .await
            .map_err(|e| format!("{e}: {}", cause(&e)))?;
        let result = f(&admin).await.map_err(|e| format!("{e}: {}", cause(&e)));
        admin.close().await;
        result
    })
}

fn cause(e: &dyn std::error::Error) -> String {
    e.source().map(ToString::to_string).unwrap_or_default()
}

fn add(place: &Place, user: &str, realm: &str) -> ExitCode {
    let password = match read_password(user, realm) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("parley: {e}");
            return ExitCode::from(2);
        }
    };
    let written = match place {
        Place::File(file) => {
            users_file::add_user(file, user, realm, &password).map_err(|e| e.to_string())
        }
        Place::Store(settings) => {
            if realm.is_empty() || realm.contains(':') || realm.chars().any(char::is_control) {
                Err("the realm must be non-empty, without ':' or control characters".to_owned())
            } else {
                let row = SipUser {
                    username: user.to_owned(),
                    realm: realm.to_owned(),
                    hashes: UserHashes::from_password(user, realm, &password),
                };
                with_store(settings, async |admin| admin.put_user(&row).await)
            }
        }
    };
    match written {
        Ok(()) => {
            eprintln!("parley: {user} in realm {realm} written to {place}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("parley: {e}");
            ExitCode::from(2)
        }
    }
}

fn remove(place: &Place, user: &str, realm: &str) -> ExitCode {
    let removed = match place {
        Place::File(file) => users_file::remove_user(file, user, realm).map_err(|e| e.to_string()),
        Place::Store(settings) => {
            with_store(settings, async |admin| admin.remove_user(user, realm).await)
        }
    };
    match removed {
        Ok(true) => {
            eprintln!("parley: {user} in realm {realm} removed from {place}");
            ExitCode::SUCCESS
        }
        Ok(false) => {
            eprintln!("parley: no {user} in realm {realm} in {place}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("parley: {e}");
            ExitCode::from(2)
        }
    }
}

fn list(place: &Place) -> ExitCode {
    let names = match place {
        Place::File(file) => UsersFile::load(file)
            .map(|u| u.names())
            .map_err(|e| e.to_string()),
        Place::Store(settings) => with_store(settings, async |admin| {
            Ok(admin
                .users()
                .await?
                .into_iter()
                .map(|u| (u.username, u.realm))
                .collect::<Vec<_>>())
        }),
    };
    match names {
        Ok(names) => {
            for (user, realm) in names {
                println!("{user} {realm}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("parley: {e}");
            ExitCode::from(2)
        }
    }
}
