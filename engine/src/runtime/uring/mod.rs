//! io_uring setup: probing what the kernel offers and building each worker's ring with its
//! provided-buffer ring. When anything is refused the runtime falls back to epoll.
//!
//! Rings are built on the thread that starts the runtime, so a refusal is known before any
//! worker exists. Where the kernel allows it they are built disabled with `SINGLE_ISSUER` and
//! `DEFER_TASKRUN` (completion work runs only when the worker waits, never interrupting it), and
//! each worker enables its ring from its own thread, which makes that thread the only issuer.

pub(crate) mod bufring;
pub(crate) mod op;

use std::io;

use io_uring::{opcode, IoUring, Probe};

use bufring::BufRing;

/// Receive buffers per worker.
pub(crate) const BUF_COUNT: u16 = 256;
/// Size of one receive buffer: a multishot receive fills at most this much per completion.
pub(crate) const BUF_SIZE: u32 = 16 * 1024;
/// Submission queue entries per ring.
const SQ_ENTRIES: u32 = 1024;
/// Completion queue entries per ring: each connection may have a receive and a send
/// completing, plus accepts, in one turn.
const CQ_ENTRIES: u32 = 8192;
/// Buffer group of the receive buffers.
const BGID: u16 = 0;
/// Multishot receive and the buffer-ring fixes it relies on arrived in Linux 6.0.
const MIN_KERNEL: (u32, u32) = (6, 0);
/// Most slots a registered file table may have (the kernel's `IORING_MAX_FIXED_FILES`).
const MAX_FIXED_FILES: u64 = 1 << 20;

/// One worker's ring and receive buffers.
pub(crate) struct Parts {
    /// Declared before `bufs`: dropped first, so the kernel lets go of the buffers before
    /// they are freed.
    pub ring: IoUring,
    pub bufs: BufRing,
    /// Slots of the ring's registered file table when connections are accepted as direct
    /// descriptors into it (see [`enable_direct`]); `None` for plain descriptors.
    pub direct: Option<u32>,
    /// Built disabled: the worker must call [`Parts::enable`] from its own thread.
    disabled: bool,
}

impl Parts {
    /// Enables a ring built disabled; the calling thread becomes its only submitter.
    pub fn enable(&self) -> io::Result<()> {
        if self.disabled {
            self.ring.submitter().register_enable_rings()?;
        }
        Ok(())
    }
}

/// Sizes of a ring and its buffers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sizes {
    pub sq: u32,
    pub cq: u32,
    pub buffers: u16,
}

/// The sizes every worker gets.
const SIZES: Sizes = Sizes {
    sq: SQ_ENTRIES,
    cq: CQ_ENTRIES,
    buffers: BUF_COUNT,
};

#[cfg(test)]
thread_local! {
    /// An errno that `setup` fails with on this thread, to exercise the fallback.
    static INJECTED: std::cell::Cell<Option<i32>> = const { std::cell::Cell::new(None) };
    /// Sizes `setup` uses on this thread instead of [`SIZES`], to exercise full queues.
    static TIGHT: std::cell::Cell<Option<Sizes>> = const { std::cell::Cell::new(None) };
}

/// Makes `setup` on the calling thread fail with `errno` (or succeed normally with `None`).
#[cfg(test)]
pub(crate) fn inject_setup_error(errno: Option<i32>) {
    INJECTED.with(|c| c.set(errno));
}

/// Makes `setup` on the calling thread build rings of `sizes` (the defaults with `None`).
#[cfg(test)]
pub(crate) fn inject_sizes(sizes: Option<Sizes>) {
    TIGHT.with(|c| c.set(sizes));
}

/// Builds the rings of `workers` workers, or says why io_uring cannot serve.
pub(crate) fn setup(workers: usize) -> io::Result<Vec<Parts>> {
    #[cfg(test)]
    if let Some(errno) = INJECTED.with(|c| c.get()) {
        return Err(io::Error::from_raw_os_error(errno));
    }
    #[cfg(test)]
    let sizes = TIGHT.with(|c| c.get()).unwrap_or(SIZES);
    #[cfg(not(test))]
    let sizes = SIZES;
    check_kernel()?;
    (0..workers).map(|_| build(sizes)).collect()
}

fn unsupported(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, what.to_string())
}

fn check_kernel() -> io::Result<()> {
    // SAFETY: utsname is plain data; uname fills the struct we pass.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `uts` is a live, writable utsname.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let release: String = uts
        .release
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8 as char)
        .collect();
    match parse_release(&release) {
        Some(v) if v >= MIN_KERNEL => Ok(()),
        _ => Err(unsupported(&format!(
            "kernel {release} is older than {}.{}",
            MIN_KERNEL.0, MIN_KERNEL.1
        ))),
    }
}

/// `(major, minor)` of a kernel release such as `6.8.0-45-generic`.
fn parse_release(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

fn build(sizes: Sizes) -> io::Result<Parts> {
    let preferred = IoUring::builder()
        .setup_cqsize(sizes.cq)
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_r_disabled()
        .build(sizes.sq);
    let (ring, disabled) = match preferred {
        Ok(ring) => (ring, true),
        // Kernels before 6.1 refuse these flags; a plain ring works the same, a little slower.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => (
            IoUring::builder().setup_cqsize(sizes.cq).build(sizes.sq)?,
            false,
        ),
        Err(e) => return Err(e),
    };
    let params = ring.params();
    if !params.is_feature_ext_arg() || !params.is_feature_nodrop() || !params.is_feature_fast_poll()
    {
        return Err(unsupported("io_uring lacks EXT_ARG, NODROP or FAST_POLL"));
    }
    let mut probe = Probe::new();
    ring.submitter().register_probe(&mut probe)?;
    let needed = [
        (opcode::AcceptMulti::CODE, "accept"),
        (opcode::RecvMulti::CODE, "recv"),
        (opcode::Send::CODE, "send"),
        (opcode::SendMsg::CODE, "sendmsg"),
        (opcode::AsyncCancel::CODE, "async_cancel"),
        (opcode::Read::CODE, "read"),
    ];
    if let Some((_, name)) = needed.iter().find(|(code, _)| !probe.is_supported(*code)) {
        return Err(unsupported(&format!("io_uring lacks the {name} opcode")));
    }
    let bufs = BufRing::new(sizes.buffers, BUF_SIZE, BGID)?;
    bufs.register(&ring)?;
    Ok(Parts {
        ring,
        bufs,
        direct: None,
        disabled,
    })
}

/// Gives every ring a sparse registered file table for direct descriptors, as large as the
/// open-file limit (the kernel refuses a larger table), and returns its size. On an error no
/// ring uses direct descriptors.
pub(crate) fn enable_direct(rings: &mut [Parts]) -> io::Result<u32> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a live, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let slots = limit.rlim_cur.min(MAX_FIXED_FILES) as u32;
    let needed = [
        (opcode::Accept::CODE, "accept"),
        (opcode::Send::CODE, "send"),
        (opcode::Close::CODE, "close"),
        (opcode::Shutdown::CODE, "shutdown"),
        (opcode::FixedFdInstall::CODE, "fixed_fd_install"),
    ];
    for parts in rings.iter() {
        let mut probe = Probe::new();
        parts.ring.submitter().register_probe(&mut probe)?;
        if let Some((_, name)) = needed.iter().find(|(code, _)| !probe.is_supported(*code)) {
            return Err(unsupported(&format!("io_uring lacks the {name} opcode")));
        }
        parts.ring.submitter().register_files_sparse(slots)?;
    }
    for parts in rings.iter_mut() {
        parts.direct = Some(slots);
    }
    Ok(slots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_releases_parse() {
        assert_eq!(parse_release("6.8.0-45-generic"), Some((6, 8)));
        assert_eq!(
            parse_release("5.15.167.4-microsoft-standard-WSL2"),
            Some((5, 15))
        );
        assert_eq!(parse_release("6.18"), Some((6, 18)));
        assert_eq!(parse_release("6"), None);
        assert_eq!(parse_release("garbage"), None);
        assert!(parse_release("5.19.0").unwrap() < MIN_KERNEL);
    }

    #[test]
    fn injected_errors_fail_setup() {
        inject_setup_error(Some(libc::ENOSYS));
        let err = setup(1).err().map(|e| e.raw_os_error());
        inject_setup_error(None);
        assert_eq!(err, Some(Some(libc::ENOSYS)));
    }
}
