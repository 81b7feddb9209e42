//! Throwaway network namespaces joined to the host by a veth pair, for integration tests
//! and the load test: the sensor captures on the host end, traffic is sent from the
//! namespace end. Removed on drop (also when a test panics).

use std::io;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// A namespace with one end of a veth pair in it and the other end on the host.
pub struct VethLab {
    pub ns: String,
    /// The host end: where the XDP program and the sensor go.
    pub host_if: String,
    /// The end inside `ns`: where traffic is sent from.
    pub peer_if: String,
}

fn run(args: &[&str]) -> io::Result<()> {
    let out = Command::new(args[0]).args(&args[1..]).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "`{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

impl VethLab {
    /// Creates `tw<tag><pid><n>` names (unique per process and call), a veth pair with
    /// `queues` RX and TX queues on each end, IPv6 off on both ends (no neighbour
    /// discovery in the counts), both ends up.
    pub fn new(tag: &str, queues: u32) -> io::Result<VethLab> {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let tag: String = tag
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(4)
            .collect();
        let base = format!("tw{tag}{:x}{n}", std::process::id() & 0xfffff);
        let lab = VethLab {
            ns: format!("{base}ns"),
            host_if: format!("{base}h"),
            peer_if: format!("{base}p"),
        };
        let q = queues.max(1).to_string();
        run(&["ip", "netns", "add", &lab.ns])?;
        // From here on, drop cleans up whatever was made.
        run(&[
            "ip",
            "link",
            "add",
            &lab.host_if,
            "numrxqueues",
            &q,
            "numtxqueues",
            &q,
            "type",
            "veth",
            "peer",
            "name",
            &lab.peer_if,
            "numrxqueues",
            &q,
            "numtxqueues",
            &q,
            "netns",
            &lab.ns,
        ])?;
        std::fs::write(
            format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", lab.host_if),
            "1",
        )?;
        run(&[
            "ip",
            "netns",
            "exec",
            &lab.ns,
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{}.disable_ipv6=1", lab.peer_if),
        ])?;
        run(&["ip", "link", "set", &lab.host_if, "up"])?;
        run(&["ip", "-n", &lab.ns, "link", "set", &lab.peer_if, "up"])?;
        run(&["ip", "-n", &lab.ns, "link", "set", "lo", "up"])?;
        Ok(lab)
    }

    /// Moves the calling thread into the namespace (for a sender thread).
    pub fn enter(&self) -> io::Result<()> {
        let f = std::fs::File::open(format!("/run/netns/{}", self.ns))?;
        use std::os::fd::AsRawFd;
        // SAFETY: a valid namespace fd; affects only this thread.
        if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Sends `frames` out of the namespace end with an AF_PACKET socket, in order, from a
    /// thread inside the namespace. Returns how many the kernel accepted.
    pub fn send(&self, frames: &[Vec<u8>]) -> io::Result<usize> {
        std::thread::scope(|s| {
            s.spawn(|| {
                self.enter()?;
                let sock = PacketSocket::open(&self.peer_if)?;
                let mut sent = 0;
                for f in frames {
                    sock.send(f)?;
                    sent += 1;
                }
                Ok(sent)
            })
            .join()
            .map_err(|_| io::Error::other("sender thread panicked"))?
        })
    }
}

impl Drop for VethLab {
    fn drop(&mut self) {
        // Deleting the namespace deletes its veth end, and with it the host end.
        let _ = run(&["ip", "link", "del", &self.host_if]);
        let _ = run(&["ip", "netns", "del", &self.ns]);
    }
}

/// A raw AF_PACKET socket bound to one interface (in the calling thread's namespace).
pub struct PacketSocket {
    fd: std::os::fd::OwnedFd,
}

impl PacketSocket {
    pub fn open(iface: &str) -> io::Result<PacketSocket> {
        use std::os::fd::FromRawFd;
        let idx = crate::xdp::if_index(iface).map_err(io::Error::other)?;
        let proto = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: plain socket call.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, proto as i32) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh socket we own.
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
        // SAFETY: zeroed sockaddr_ll is valid; we fill the fields bind needs.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto;
        sll.sll_ifindex = idx as i32;
        use std::os::fd::AsRawFd;
        // SAFETY: sll is a valid sockaddr_ll of the size given.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(PacketSocket { fd })
    }

    /// Sends one frame, retrying briefly (bounded) while the device queue is full.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        for _ in 0..10_000 {
            // SAFETY: frame is a valid buffer of its length.
            let r = unsafe {
                libc::send(
                    self.fd.as_raw_fd(),
                    frame.as_ptr() as *const libc::c_void,
                    frame.len(),
                    0,
                )
            };
            if r >= 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::ENOBUFS) && e.raw_os_error() != Some(libc::EAGAIN) {
                return Err(e);
            }
            std::thread::sleep(std::time::Duration::from_micros(50));
        }
        Err(io::Error::other("device queue stayed full"))
    }
}
