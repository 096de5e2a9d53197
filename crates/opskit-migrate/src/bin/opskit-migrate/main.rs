//! `opskit-migrate`: lint migrations, apply them (what a migration job runs, all of
//! them or, with `expand`, those before the first contract one), report a database's
//! schema status, and record an operator's repair.
//!
//! ```text
//! opskit-migrate lint DIR [--dialect postgres|sqlite] [--format human|json]
//! opskit-migrate status --migrations DIR [--database-url URL] [--config FILE] [--format human|json]
//! opskit-migrate apply --migrations DIR [--database-url URL] [--config FILE] [--table-lock-timeout 2s] [--table-lock-tries 10] [--lock-timeout 60s] [--lock-lease 30s] [--format human|json]
//! opskit-migrate expand --migrations DIR [--database-url URL] [--config FILE] [--table-lock-timeout 2s] [--table-lock-tries 10] [--lock-timeout 60s] [--lock-lease 30s] [--format human|json]
//! opskit-migrate repair --migrations DIR --version N --as applied|not-applied [--database-url URL] [--config FILE] [--format human|json]
//! ```
//!
//! The database commands read `DATABASE_URL` when `--database-url` is not given; the
//! URL's password appears nowhere in the output. They read `sqlx.toml` as sqlx-cli
//! does (`--config FILE`, else `sqlx.toml` in the current directory if there is
//! one): its `[migrate]` `table-name` and `create-schemas` say where the
//! migrations are recorded, `migrations-dir` where they are when `--migrations` is
//! not given (`migrations` when the file does not say), `ignored-chars` what their
//! checksums leave out (see `sqlx_toml`). A file that cannot be read or parsed, or
//! a key sqlx does not know, is exit 78, naming the file.
//!
//! `status` never writes. `apply` applies pending migrations under the lock, as
//! the guard's `apply` policy does; `expand` applies those before the first
//! contract migration, as the `expand` policy does (the job before a rolling
//! deploy; `apply` runs the rest after it).
//! `repair` is for a migration that failed outside a transaction: after checking
//! which of its statements took effect and finishing or undoing them by hand, say
//! which (`--as applied` or `--as not-applied`); there is no default.
//!
//! `apply` and `expand` run each migration's tries with a short lock timeout
//! (`--table-lock-timeout`, default 2 s; a file's `-- opskit: lock_timeout=10s`
//! wins) and roll back and retry when it runs out, at most `--table-lock-tries`
//! times (default 10), logging who held the table (`schema.lock_wait`): a table
//! held by a long transaction never stalls the service's queries for longer than
//! one timeout at a time (see the crate's `lock_wait` docs). On PostgreSQL the
//! migration lock is a lease that holds through a transaction pooler: a replica
//! waits for it at most `--lock-timeout` (default 60 s), and a holder that died
//! keeps it at most `--lock-lease` (default 30 s; see the crate's pooler notes).
//!
//! Exit codes ([`opskit_migrate::exit`]): 78 `sqlx.toml` cannot be read or is
//! malformed, its table name cannot be used, or the migrations were recorded under
//! another table name than the one given; 0 fine; 1 `lint` found a contract migration
//! whose header does not acknowledge it, or a statement that cannot be applied as
//! written; 64 usage error (or a repair that does not apply); 65 the schema is
//! incompatible with these migrations (or a migration failed, changed or cannot be
//! applied, or the directory is not one set of migrations: two files with one
//! version, a `.sql` name that is not `VERSION_DESCRIPTION.sql`; every command
//! refuses those alike); 69 the database is unreachable or the migration lock was held too long;
//! 75 try again later: for `status`, migrations are pending; for `apply` and
//! `expand`, a table stayed locked by another session through every try (that
//! migration rolled back, nothing of it applied: the job can be run again later).

#![allow(clippy::print_stdout)]

use std::process::ExitCode;

use opskit_migrate::exit;
use opskit_migrate::lint::{Dialect, Severity};
use opskit_migrate::lock_wait;
use opskit_migrate::{Compat, Guard, GuardError, Policy, Repair, State, classify};
use opskit_secret::{ConnectionString, ExposeSecret};

mod sqlx_toml;

const USAGE: &str = "usage:
  opskit-migrate lint DIR [--dialect postgres|sqlite] [--format human|json]
  opskit-migrate status --migrations DIR [--database-url URL] [--config FILE] [--format human|json]
  opskit-migrate apply --migrations DIR [--database-url URL] [--config FILE] [--table-lock-timeout 2s] [--table-lock-tries 10] [--lock-timeout 60s] [--lock-lease 30s] [--format human|json]
  opskit-migrate expand --migrations DIR [--database-url URL] [--config FILE] [--table-lock-timeout 2s] [--table-lock-tries 10] [--lock-timeout 60s] [--lock-lease 30s] [--format human|json]
    (applies up to the first contract migration: before a rolling deploy; `apply` the rest after it)
  opskit-migrate repair --migrations DIR --version N --as applied|not-applied [--database-url URL] [--config FILE] [--format human|json]
(the database commands read DATABASE_URL when --database-url is not given, and sqlx.toml
  as sqlx-cli does: --config FILE, else ./sqlx.toml if present; [migrate] table-name,
  create-schemas, migrations-dir (with sqlx.toml, the default for --migrations,
  itself `migrations` by default), ignored-chars)
exit codes: 0 fine; 1 lint findings; 64 usage; 65 incompatible schema or failed migration;
  69 database unreachable or migration lock held too long; 75 try again later (status:
  migrations pending; apply/expand: a table stayed locked through every try, nothing applied);
  78 sqlx.toml unreadable or malformed, or migrations recorded under another table name";

/// An [`opskit_migrate::exit`] code as the process's exit status.
fn exit(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

#[derive(Debug, Default)]
struct Args {
    command: String,
    dir: Option<String>,
    migrations: Option<String>,
    database_url: Option<String>,
    dialect: Option<String>,
    version: Option<String>,
    repair_as: Option<String>,
    table_lock_timeout: Option<String>,
    table_lock_tries: Option<String>,
    lock_timeout: Option<String>,
    lock_lease: Option<String>,
    config: Option<String>,
    json: bool,
}

fn parse(mut raw: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = Args {
        command: raw.next().ok_or("no command")?,
        ..Args::default()
    };
    while let Some(arg) = raw.next() {
        let mut value = |name: &str| raw.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--dialect" => args.dialect = Some(value("--dialect")?),
            "--migrations" => args.migrations = Some(value("--migrations")?),
            "--database-url" => args.database_url = Some(value("--database-url")?),
            "--version" => args.version = Some(value("--version")?),
            "--as" => args.repair_as = Some(value("--as")?),
            "--table-lock-timeout" => {
                args.table_lock_timeout = Some(value("--table-lock-timeout")?);
            }
            "--table-lock-tries" => args.table_lock_tries = Some(value("--table-lock-tries")?),
            "--lock-timeout" => args.lock_timeout = Some(value("--lock-timeout")?),
            "--lock-lease" => args.lock_lease = Some(value("--lock-lease")?),
            "--config" => args.config = Some(value("--config")?),
            "--format" => match value("--format")?.as_str() {
                "json" => args.json = true,
                "human" => args.json = false,
                other => return Err(format!("unknown format {other:?}; use human or json")),
            },
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            positional if args.dir.is_none() => args.dir = Some(positional.to_owned()),
            extra => return Err(format!("unexpected argument {extra:?}")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(err) => {
            eprintln!("{err}\n{USAGE}");
            return exit(exit::USAGE);
        }
    };
    match args.command.as_str() {
        "lint" => lint(&args),
        "status" | "apply" | "expand" | "repair" => database(&args),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("unknown command {other:?}\n{USAGE}");
            exit(exit::USAGE)
        }
    }
}

fn lint(args: &Args) -> ExitCode {
    let Some(dir) = &args.dir else {
        eprintln!("lint needs a directory\n{USAGE}");
        return exit(exit::USAGE);
    };
    let dialect = match args.dialect.as_deref() {
        None | Some("postgres" | "postgresql") => Dialect::Postgres,
        Some("sqlite") => Dialect::Sqlite,
        Some(other) => {
            eprintln!("unknown dialect {other:?}; use postgres or sqlite");
            return exit(exit::USAGE);
        }
    };
    // The same set of files `apply` and `status` take, with the same refusals.
    let files = match opskit_migrate::source::migration_files(std::path::Path::new(dir)) {
        Ok(files) => files,
        Err(err) => {
            eprintln!("{err}");
            return exit(match err {
                GuardError::Source { .. } => exit::USAGE,
                other => other.exit_code(),
            });
        }
    };
    let mut unacknowledged = 0;
    let mut errors = 0;
    let mut report = Vec::new();
    for file in &files {
        let sql = match std::fs::read_to_string(file) {
            Ok(sql) => sql,
            Err(err) => {
                eprintln!("cannot read {}: {err}", file.display());
                return exit(exit::USAGE);
            }
        };
        let c = classify(&sql, dialect);
        let acknowledged = c.by == opskit_migrate::ClassifiedBy::Header;
        if c.compat == Compat::Contract && !acknowledged {
            unacknowledged += 1;
        }
        errors += c.lint.errors().count();
        if args.json {
            report.push(serde_json::json!({
                "file": file.display().to_string(),
                "compat": c.compat,
                "classified_by": c.by,
                "reason": c.reason,
                "findings": c.lint.findings,
            }));
        } else {
            print_classified(file, &c, acknowledged);
        }
    }
    if args.json {
        println!("{}", serde_json::Value::Array(report));
    } else {
        if unacknowledged > 0 {
            println!(
                "{unacknowledged} contract migration(s) without `-- opskit: contract` in the header: older binaries break on them"
            );
        }
        if errors > 0 {
            println!(
                "{errors} statement(s) that cannot be applied as written: the guard refuses those migrations"
            );
        }
    }
    if unacknowledged > 0 || errors > 0 {
        exit(exit::FINDINGS)
    } else {
        ExitCode::SUCCESS
    }
}

/// `lint`'s human output for one file: its verdict, then each finding and its fix.
fn print_classified(
    file: &std::path::Path,
    c: &opskit_migrate::Classification,
    acknowledged: bool,
) {
    let by = if acknowledged { "header" } else { "linter" };
    println!("{}: {} (by {by})", file.display(), c.compat.as_str());
    for f in &c.lint.findings {
        let kind = match f.rule.severity {
            Severity::Contract => "contract",
            Severity::LockRisk => "lock risk",
            Severity::Unknown => "unknown",
            Severity::Error => "error: the guard refuses to apply it",
        };
        println!(
            "  line {}: {} {} [{kind}] {}\n    fix: {}",
            f.line, f.rule.id, f.rule.name, f.message, f.rule.fix
        );
    }
}

/// The guard with the table-lock settings of `args`, or what is wrong with them.
fn table_lock(args: &Args) -> Result<impl FnOnce(Guard) -> Guard, String> {
    let timeout = match args.table_lock_timeout.as_deref() {
        Some(text) => Some(
            lock_wait::parse_duration(text)
                .map_err(|err| format!("--table-lock-timeout: {err}"))?,
        ),
        None => None,
    };
    let tries = match args.table_lock_tries.as_deref() {
        Some(text) => Some(text.parse::<u32>().ok().filter(|n| *n >= 1).ok_or(format!(
            "--table-lock-tries {text:?}: give a whole number of tries, 1 or more"
        ))?),
        None => None,
    };
    let lock_timeout = duration_flag("--lock-timeout", args.lock_timeout.as_deref())?;
    let lease = duration_flag("--lock-lease", args.lock_lease.as_deref())?;
    Ok(move |guard: Guard| {
        let guard = match lock_timeout {
            Some(timeout) => guard.lock_timeout(timeout),
            None => guard,
        };
        let guard = match lease {
            Some(lease) => guard.lock_lease(lease),
            None => guard,
        };
        let guard = match timeout {
            Some(timeout) => guard.table_lock_timeout(timeout),
            None => guard,
        };
        match tries {
            Some(tries) => guard.table_lock_tries(tries),
            None => guard,
        }
    })
}

/// A duration flag's value, or what is wrong with it.
fn duration_flag(name: &str, text: Option<&str>) -> Result<Option<std::time::Duration>, String> {
    text.map(|text| lock_wait::parse_duration(text).map_err(|err| format!("{name}: {err}")))
        .transpose()
}

/// What a database command does.
enum Action {
    Status,
    Apply,
    Expand,
    Repair(i64, Repair),
}

/// The action of `args`, or what is wrong with them.
fn action(args: &Args) -> Result<Action, String> {
    match args.command.as_str() {
        "status" => Ok(Action::Status),
        "apply" => Ok(Action::Apply),
        "expand" => Ok(Action::Expand),
        _ => {
            let version = args
                .version
                .as_deref()
                .ok_or("repair needs --version N: the migration that failed")?;
            let version = version
                .parse()
                .map_err(|_| format!("--version {version:?} is not a migration version"))?;
            let repair = match args.repair_as.as_deref() {
                Some("applied") => Repair::Applied,
                Some("not-applied") => Repair::NotApplied,
                Some(other) => {
                    return Err(format!("--as {other:?}: use applied or not-applied"));
                }
                None => {
                    return Err("repair needs --as applied (you finished the migration by hand) or --as not-applied (you undid it); it never guesses".into());
                }
            };
            Ok(Action::Repair(version, repair))
        }
    }
}

fn database(args: &Args) -> ExitCode {
    let command = args.command.as_str();
    let action = match action(args) {
        Ok(action) => action,
        Err(err) => {
            eprintln!("{err}\n{USAGE}");
            return exit(exit::USAGE);
        }
    };
    let config = match sqlx_toml::SqlxToml::load(args.config.as_deref()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("{err}");
            return exit(exit::CONFIG);
        }
    };
    let Some(dir) = args
        .migrations
        .as_deref()
        .or(args.dir.as_deref())
        .or(config.migrations_dir())
    else {
        eprintln!(
            "{command} needs --migrations DIR (or a sqlx.toml: then [migrate] migrations-dir, or migrations)\n{USAGE}"
        );
        return exit(exit::USAGE);
    };
    if let Some(path) = &config.path {
        eprintln!(
            "read {}: migrations in {dir}, recorded in {}",
            path.display(),
            config.table_name()
        );
    }
    let Some(raw_url) = args
        .database_url
        .clone()
        .or_else(|| std::env::var("DATABASE_URL").ok())
    else {
        eprintln!("{command} needs --database-url URL or DATABASE_URL\n{USAGE}");
        return exit(exit::USAGE);
    };
    let url = match ConnectionString::parse(&raw_url) {
        Ok(url) => url,
        Err(err) => {
            eprintln!("the database URL is invalid: {err}");
            return exit(exit::USAGE);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("cannot start the async runtime: {err}");
            return exit(exit::SOFTWARE);
        }
    };
    let guard_with = match table_lock(args) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("{err}\n{USAGE}");
            return exit(exit::USAGE);
        }
    };
    let result = runtime.block_on(async {
        let guard = guard_with(config.guard(std::path::Path::new(dir)).await?);
        let url = url.expose_secret();
        match action {
            Action::Status => guard.run(url, Policy::Verify).await,
            Action::Apply => guard.run(url, Policy::Apply).await,
            Action::Expand => guard.run(url, Policy::Expand).await,
            Action::Repair(version, repair) => guard.repair_at(url, version, repair).await,
        }
    });
    report(result, args, &url)
}

/// Prints the outcome of a database command and returns its exit code.
fn report(
    result: Result<opskit_migrate::SchemaStatus, GuardError>,
    args: &Args,
    url: &ConnectionString,
) -> ExitCode {
    let command = args.command.as_str();
    // The status quotes errors the database recorded; scrub them of the password.
    let scrub = |text: String| url.scrub(&text);
    match result {
        Ok(status) => {
            if args.json {
                println!("{}", json_status(&status, url));
            } else {
                println!("{}: {}", url, scrub(status.to_string()));
            }
            if status.state == State::Pending && command == "status" {
                exit(exit::TEMP_FAILURE)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(err) => {
            if let (true, Some(status)) = (args.json, err.status()) {
                println!("{}", json_status(status, url));
            }
            let message = scrub(err.to_string());
            if matches!(
                err,
                GuardError::Unreachable {
                    database: Some(_),
                    ..
                }
            ) {
                eprintln!("{message}");
            } else {
                eprintln!("{url}: {message}");
            }
            exit(match err {
                GuardError::Source { .. } => exit::USAGE,
                other => other.exit_code(),
            })
        }
    }
}

fn json_status(status: &opskit_migrate::SchemaStatus, url: &ConnectionString) -> String {
    let mut value = serde_json::to_value(status).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.insert("compatible".into(), status.is_compatible().into());
        object.insert("message".into(), status.to_string().into());
        object.insert("database".into(), url.to_string().into());
    }
    scrub_strings(&mut value, url);
    value.to_string()
}

/// Scrubs the password from every string in `value`, leaving numbers and the
/// document's shape alone (scrubbing the serialized text could break the JSON).
fn scrub_strings(value: &mut serde_json::Value, url: &ConnectionString) {
    match value {
        serde_json::Value::String(text) => *text = url.scrub(text),
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| scrub_strings(v, url)),
        serde_json::Value::Object(fields) => {
            fields.values_mut().for_each(|v| scrub_strings(v, url))
        }
        _ => {}
    }
}
