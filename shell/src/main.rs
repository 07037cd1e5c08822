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

/// The scheduler slice every thread of the process asks for: 0.1 ms, the kernel's shortest.
const SHORT_SLICE_NS: u64 = 100_000;

/// Asks Linux's EEVDF scheduler (6.12 and later) for a [`SHORT_SLICE_NS`] slice for this thread,
/// which every thread the process starts inherits. The process's threads mostly wait on sockets
/// and run in bursts far shorter than the default slice (1.4 ms on two cores); the one long burst is a
/// password hash (15 ms), and with the default slice it kept a core from a request that woke
/// meanwhile until the slice ran out. With the short one, the p99 of `GET /tasks` while 16
/// clients log in fell from 8.8 to 7.8 ms (median of 18 rounds each, side by side) at the same
/// logins per second; ARCHITECTURE.md, "Performance". A shorter slice changes when a thread runs, not how
/// much: its share of the CPU stays its nice value's. Older kernels ignore the slice of a
/// normal thread; a refusal (a seccomp profile, say) leaves the default, and a thread an operator
/// put under another policy (`chrt`) keeps it.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn ask_for_short_slices() {
    /// `struct sched_attr` as far as `SCHED_ATTR_SIZE_VER0`, the fields `sched_setattr(2)` reads
    /// for a normal thread.
    #[repr(C)]
    #[derive(Default)]
    struct SchedAttr {
        size: u32,
        policy: u32,
        flags: u64,
        nice: i32,
        priority: u32,
        runtime: u64,
        deadline: u64,
        period: u64,
    }
    /// `SCHED_FLAG_RESET_ON_FORK`, the one flag kept as it was.
    const RESET_ON_FORK: u64 = 0x01;
    let size = std::mem::size_of::<SchedAttr>() as u32;
    let mut attr = SchedAttr::default();
    // SAFETY: both calls read or write the one `SchedAttr` above, `size` bytes that outlive them,
    // for the calling thread (pid 0), before any other thread exists.
    unsafe {
        if libc::syscall(
            libc::SYS_sched_getattr,
            0,
            &mut attr as *mut SchedAttr,
            size,
            0,
        ) != 0
            || attr.policy != libc::SCHED_OTHER as u32
        {
            return;
        }
        // The nice value read above goes back unchanged.
        attr.size = size;
        attr.flags &= RESET_ON_FORK;
        attr.runtime = SHORT_SLICE_NS;
        libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0);
    }
}

fn main() -> std::process::ExitCode {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    return_large_blocks_to_the_system();
    #[cfg(target_os = "linux")]
    ask_for_short_slices();
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
