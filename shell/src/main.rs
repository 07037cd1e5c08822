//! `shell`: parse the command line, hand it to [`shell::run`].

use clap::Parser;

/// Blocks of at least this size are mapped for themselves and unmapped when freed.
const LARGE_BLOCK: i32 = 1 << 20;

/// Fixes glibc's mmap threshold at [`LARGE_BLOCK`]. By default glibc raises the threshold to
/// the size of the largest mapped block freed so far (up to 32 MiB): after the first argon2 hash
/// (7 MiB; 19 MiB with argon2's defaults) is freed, every later one comes from a thread arena and
/// stays resident when freed.
/// With 19 MiB blocks two logins kept 38 MB of an idle process's 60 MB. A fixed threshold
/// returns them at once.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn return_large_blocks_to_the_system() {
    // SAFETY: mallopt only changes an allocator parameter, and runs here before any other thread
    // exists. It answers 0 when it refuses the value, which leaves glibc's default in place.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, LARGE_BLOCK);
    }
}

fn main() -> std::process::ExitCode {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    return_large_blocks_to_the_system();
    let cli = shell::Cli::parse();
    // A multi-thread runtime: diesel's migration harness runs on the blocking pool.
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
