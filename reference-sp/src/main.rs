//! `reference-sp`: serve the reference SP.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use reference_sp::cli::{ServeArgs, serve};

/// A real SAML 2.0 SP on samael and SQLite, hardened, with deliberate weakenings.
#[derive(Debug, Parser)]
#[command(name = "reference-sp", version)]
struct Cli {
    /// More logs (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the SP until interrupted.
    Serve(ServeArgs),
}

fn main() -> ExitCode {
    // `generate-docs DIR` (hidden, for packagers): man pages and completions of this CLI.
    let cli = match cli_docs::parse::<Cli>() {
        cli_docs::Parsed::Cli(cli) => cli,
        cli_docs::Parsed::Done(code) => return code,
    };
    let filter = match cli.verbose {
        0 => "warn,reference_sp=info",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter)),
        )
        .with_writer(std::io::stderr)
        // Colour only on a terminal, and never under NO_COLOR (no-color.org).
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        )
        .init();
    // xmlsec's errors go to the debug log, libxml2's nowhere (-vv: libxml2's to stderr).
    if cli.verbose < 2 {
        hardening::xml_io::quiet_xml_libraries();
    } else {
        hardening::xml_io::xmlsec_errors_to_tracing();
    }
    let Ok(runtime) = tokio::runtime::Runtime::new() else {
        return ExitCode::from(3);
    };
    match cli.command {
        Command::Serve(args) => match runtime.block_on(serve(args)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!("{e:#}");
                ExitCode::from(2)
            }
        },
    }
}
