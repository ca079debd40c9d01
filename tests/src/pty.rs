//! A "scanner" on a pseudo-terminal: what tests and benchmarks write scans into,
//! behind a path the gateway opens as its serial port.

use std::os::fd::OwnedFd;
use std::path::Path;

/// Plugs a new scanner: a pty whose slave the symlink `link` points at, as udev's
/// /dev/serial/by-id links do. Returns the master end (the scanner); dropping it is
/// an unplug.
pub fn plug_scanner(link: &Path) -> anyhow::Result<std::fs::File> {
    let pty = nix::pty::openpty(None, None)?;
    // Not inherited by a gateway we spawn: then closing the master is an unplug.
    for fd in [&pty.master, &pty.slave] {
        nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC))?;
    }
    let slave_path = std::fs::read_link(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&pty.slave)))?;
    // The gateway opens the slave itself; keeping ours open would hide the unplug.
    drop::<OwnedFd>(pty.slave);
    std::fs::remove_file(link).ok();
    std::os::unix::fs::symlink(slave_path, link)?;
    Ok(std::fs::File::from(pty.master))
}
