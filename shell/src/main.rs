//! `shell`: parse the command line, hand it to [`shell::run`].

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = shell::Cli::parse();
    // A multi-thread runtime: diesel's migration harness and argon2 use the blocking pool.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(shell::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
