//! The `hibiki` command: `serve`, `migrate`, `config check`, `user
//! add|passwd|list` (API users, in the database the server uses), and
//! `ivr validate|schema` (IVR flow files).

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use hibiki::auth::{self, Hasher, NewAccount, Role};
use hibiki::config::{Config, LogFormat};
use hibiki::server::ServeOptions;
use hibiki::telemetry::{init_logging, LogStyle};

mod cli_ivr;

#[derive(Parser)]
#[command(
    name = "hibiki",
    version,
    about = "Contact-center engine: SIP, IVR, ACD, recording"
)]
struct Cli {
    /// The configuration file. Without one, the embedded default runs
    /// (SQLite under ./data, SIP on 127.0.0.1:5060, HTTP on 127.0.0.1:8080).
    #[arg(long, short, global = true, env = "HIBIKI_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// IVR flow files.
    Ivr {
        #[command(subcommand)]
        command: IvrCommand,
    },
    /// API users (in the database of the config, migrated first).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user. Without --password-stdin a random password is
    /// generated and printed once.
    Add {
        /// Lower-case letters, digits and . _ - @.
        username: String,
        /// agent, supervisor, manager or admin.
        #[arg(long)]
        role: Role,
        /// Shown in the UI (default: the username).
        #[arg(long)]
        display_name: Option<String>,
        /// Read the password from standard input (one trailing newline
        /// is dropped) instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a user's password and log them out everywhere. Without
    /// --password-stdin a random password is generated and printed once.
    Passwd {
        username: String,
        /// Read the password from standard input (one trailing newline
        /// is dropped) instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List the users.
    List,
}

#[derive(Subcommand)]
enum IvrCommand {
    /// Check flow files: prints `OK <file>` or every error with its line;
    /// exits non-zero when any file has an error.
    Validate {
        /// The files (default: every flow of the config's `ivr.flows_dir`,
        /// with its `media.prompts_dir`).
        files: Vec<PathBuf>,
        /// The prompt folder (default: `prompts/` next to each flow file).
        #[arg(long)]
        prompts_dir: Option<PathBuf>,
    },
    /// Print the JSON Schema of flow files.
    Schema,
    /// Run a flow without a phone: prints what the caller would hear and
    /// the path the call would take. Exits non-zero when the flow fails.
    Simulate {
        /// A flow name (in --flows-dir) or a flow file.
        flow: String,
        /// The caller's number.
        #[arg(long)]
        from: String,
        /// The dialled number.
        #[arg(long, default_value = "100")]
        to: String,
        /// Keys, one group each time the flow listens: `1,2`, `1234#,1`;
        /// `_` lets that wait time out.
        #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
        digits: Vec<String>,
        /// When the call starts (RFC 3339, seconds optional:
        /// 2026-11-23T09:00+09:00); default now.
        #[arg(long)]
        at: Option<String>,
        /// A scripted outcome for a step: STEP=not_found|error|timeout|failed|answered|JSON.
        /// Lookups without one are asked of the real database / HTTP service.
        #[arg(long = "result", value_name = "STEP=OUTCOME")]
        results: Vec<String>,
        /// The flows folder (default: the config's, else ivr-flows).
        #[arg(long)]
        flows_dir: Option<PathBuf>,
        /// The prompt folder (default: `prompts/` in the flows folder).
        #[arg(long)]
        prompts_dir: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Check a configuration file (and HIBIKI_* overrides) without starting.
    Check {
        /// The file to check (defaults to --config).
        file: Option<PathBuf>,
        /// Print the effective configuration, secrets masked.
        #[arg(long)]
        print: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Config {
            command: ConfigCommand::Check { file, print },
        } => {
            let path = file.or(cli.config);
            match Config::load(path.as_deref()) {
                Ok(config) => {
                    if print {
                        print!("{}", config.effective_toml());
                    }
                    let name = path
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| "the embedded default".into());
                    println!("{name}: OK");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Ivr { command } => ivr_command(command, cli.config),
        Command::Serve => {
            // No config file: the embedded default, which brings demo users.
            let options = ServeOptions {
                demo_users: cli.config.is_none(),
            };
            run(cli.config, move |config| async move {
                hibiki::server::serve(config, options).await
            })
        }
        Command::User { command } => run(cli.config, |config| async move {
            let store = hibiki::server::open_store(&config).await?;
            let result = user_command(&store, command).await;
            store.close().await;
            result
        }),
        Command::Migrate => run(cli.config, |config| async move {
            hibiki::server::open_store(&config).await?;
            println!(
                "migrations applied to {}",
                hibiki::server::redact_url(&config.database_url())
            );
            Ok(())
        }),
    }
}

/// `hibiki ivr validate|schema|simulate`.
fn ivr_command(command: IvrCommand, config: Option<PathBuf>) -> ExitCode {
    match command {
        IvrCommand::Simulate {
            flow,
            from,
            to,
            digits,
            at,
            results,
            flows_dir,
            prompts_dir,
            json,
        } => {
            let request = cli_ivr::SimulateRequest {
                flow,
                from,
                to,
                digits,
                at,
                results,
                flows_dir,
                prompts_dir,
                json,
            };
            match cli_ivr::simulate(request, config) {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
        IvrCommand::Schema => {
            print!("{}", hibiki::ivr::json_schema());
            ExitCode::SUCCESS
        }
        IvrCommand::Validate { files, prompts_dir } => {
            let (files, prompts_dir) = if files.is_empty() {
                // The server's flows: the config's folder and prompts.
                let config = match Config::load(config.as_deref()) {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::FAILURE;
                    }
                };
                let dir = config.ivr.flows_dir.clone();
                match hibiki::ivr::load::flow_files(&dir) {
                    Ok(files) if !files.is_empty() => {
                        (files, prompts_dir.or(Some(config.media.prompts_dir)))
                    }
                    Ok(_) => {
                        eprintln!("error: no flow files in {}", dir.display());
                        return ExitCode::FAILURE;
                    }
                    Err(e) => {
                        eprintln!("error: cannot list {}: {e}", dir.display());
                        return ExitCode::FAILURE;
                    }
                }
            } else {
                (files, prompts_dir)
            };
            let mut ok = true;
            for (path, result) in hibiki::ivr::load_files(&files, prompts_dir.as_deref()) {
                match result {
                    Ok(_) => println!("OK {}", path.display()),
                    Err(errors) => {
                        ok = false;
                        for error in errors {
                            eprintln!("error: {error}");
                        }
                    }
                }
            }
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Loads the config, sets up logging and a runtime, and runs `f`.
fn run<F, Fut>(path: Option<PathBuf>, f: F) -> ExitCode
where
    F: FnOnce(Config) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let config = match Config::load(path.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let style = match config.log.format {
        LogFormat::Json => LogStyle::Json,
        LogFormat::Human => LogStyle::Human,
    };
    init_logging(style, &config.log.level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(f(config));
    // Everything that matters was flushed by `f`; don't wait on stragglers.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one `hibiki user` command against an open, migrated store.
async fn user_command(store: &hibiki::store::Store, command: UserCommand) -> anyhow::Result<()> {
    let hasher = Hasher::new(1);
    match command {
        UserCommand::Add {
            username,
            role,
            display_name,
            password_stdin,
        } => {
            let (password, generated) = new_password(password_stdin)?;
            let account = NewAccount {
                username,
                display_name,
                role,
                password: password.clone(),
            };
            let user = auth::create_account(store, &hasher, account).await?;
            println!("created user {} ({})", user.username, user.role);
            if generated {
                print_generated(&password);
            }
        }
        UserCommand::Passwd {
            username,
            password_stdin,
        } => {
            let (password, generated) = new_password(password_stdin)?;
            auth::change_password(store, &hasher, &username, password.clone()).await?;
            println!("password of {username} changed; their tokens are revoked");
            if generated {
                print_generated(&password);
            }
        }
        UserCommand::List => {
            let users = store.users().await?;
            println!(
                "{:<24} {:<11} {:<9} {:<25} DISPLAY NAME",
                "USERNAME", "ROLE", "STATUS", "CREATED"
            );
            for u in users {
                println!(
                    "{:<24} {:<11} {:<9} {:<25} {}",
                    u.username,
                    u.role.as_str(),
                    if u.disabled { "disabled" } else { "active" },
                    hibiki::api::rfc3339_ms(u.created_at_ms),
                    u.display_name
                );
            }
        }
    }
    Ok(())
}

/// The password to set: read from stdin, or generated. `true` when
/// generated (it must be shown).
fn new_password(from_stdin: bool) -> anyhow::Result<(String, bool)> {
    if !from_stdin {
        return Ok((auth::password::generate_password(), true));
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("reading the password from standard input")?;
    let password = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text)
        .to_owned();
    Ok((password, false))
}

fn print_generated(password: &str) {
    println!("password: {password}");
    println!("(generated; shown only now)");
}
