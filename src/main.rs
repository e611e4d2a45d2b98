//! The `hibiki` command: `serve`, `migrate`, `config check`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hibiki::config::{Config, LogFormat};
use hibiki::telemetry::{init_logging, LogStyle};

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
        Command::Serve => run(cli.config, |config| async move {
            hibiki::server::serve(config).await
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
