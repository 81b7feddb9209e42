//! Loading tidewatch's XDP program (the `ebpf` crate's object) with aya, attaching it in
//! driver mode (generic SKB mode as the fallback), registering AF_XDP sockets per queue,
//! reading its per-queue counters and editing its blocklist. Dropping [`XdpProgram`]
//! detaches it, so a crashed or stopped sensor leaves the interface as it found it.

mod prefix;

pub use prefix::{Prefix, PrefixError};

use aya::maps::lpm_trie::{Key, LpmTrie};
use aya::maps::{MapData, PerCpuArray, XskMap};
use aya::programs::{Xdp, XdpMode};
use aya::Ebpf;
use std::os::fd::AsRawFd;

/// Why the XDP stage could not be set up or changed; each says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum XdpError {
    #[error("interface `{0}` does not exist (see `ip link`)")]
    NoInterface(String),
    #[error(
        "not permitted to {what}: run as root (or with CAP_BPF, CAP_NET_ADMIN and CAP_NET_RAW)"
    )]
    NotPermitted { what: String },
    #[error("interface `{iface}` does not take an XDP program (driver mode: {driver}; generic mode: {skb})")]
    Unsupported {
        iface: String,
        driver: String,
        skb: String,
    },
    #[error("{asked} queue(s) asked for but `{iface}` has {has} RX queue(s): use --queues {has} or fewer (or --workers for dispatch mode)")]
    TooManyQueues { iface: String, asked: u32, has: u32 },
    #[error("loading the XDP program: {0}")]
    Load(String),
    #[error("XDP map `{map}`: {why}")]
    Map { map: &'static str, why: String },
    #[error("blocklist: {0}")]
    Blocklist(String),
}

/// How the program was attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachMode {
    /// In the driver (native XDP): before any socket buffer is allocated.
    Driver,
    /// Generic XDP, after the kernel built a socket buffer: works everywhere, slower.
    Skb,
}

impl std::fmt::Display for AttachMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AttachMode::Driver => "driver",
            AttachMode::Skb => "skb (generic)",
        })
    }
}

/// Which attach modes to try.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ModeChoice {
    /// Driver mode, falling back to SKB mode (reported).
    #[default]
    Auto,
    Driver,
    Skb,
}

/// Counters of one RX queue, summed over CPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueCounters {
    pub seen: u64,
    pub redirected: u64,
    pub passed: u64,
    pub blocked: u64,
    pub errors: u64,
}

impl QueueCounters {
    pub fn merge(&mut self, o: &QueueCounters) {
        self.seen += o.seen;
        self.redirected += o.redirected;
        self.passed += o.passed;
        self.blocked += o.blocked;
        self.errors += o.errors;
    }
}

/// True when an error chain bottoms out in EPERM/EACCES.
fn permission_denied(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::PermissionDenied
                || matches!(io.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES))
            {
                return true;
            }
        }
        cur = err.source();
    }
    false
}

/// Full error chain as one line, for messages.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(err) = cur {
        s.push_str(": ");
        s.push_str(&err.to_string());
        cur = err.source();
    }
    s
}

/// The interface's index, or [`XdpError::NoInterface`].
pub fn if_index(iface: &str) -> Result<u32, XdpError> {
    let c = std::ffi::CString::new(iface).map_err(|_| XdpError::NoInterface(iface.into()))?;
    // SAFETY: `c` is a valid NUL-terminated string.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        Err(XdpError::NoInterface(iface.into()))
    } else {
        Ok(idx)
    }
}

/// RX queues the interface has (from sysfs; 1 when sysfs does not say).
pub fn rx_queue_count(iface: &str) -> Result<u32, XdpError> {
    if_index(iface)?;
    let dir = format!("/sys/class/net/{iface}/queues");
    let n = match std::fs::read_dir(&dir) {
        Ok(d) => d
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
            .count() as u32,
        Err(_) => 0,
    };
    Ok(n.max(1))
}

/// The loaded and attached program with its maps.
pub struct XdpProgram {
    ebpf: Ebpf,
    link: Option<aya::programs::xdp::XdpLinkId>,
    iface: String,
    mode: AttachMode,
    xsks: XskMap<MapData>,
    counters: PerCpuArray<MapData, u64>,
    block_v4: LpmTrie<MapData, [u8; 4], u8>,
    block_v6: LpmTrie<MapData, [u8; 16], u8>,
}

fn take_map(ebpf: &mut Ebpf, map: &'static str) -> Result<aya::maps::Map, XdpError> {
    ebpf.take_map(map).ok_or(XdpError::Map {
        map,
        why: "missing from the object".into(),
    })
}

fn map_err(map: &'static str) -> impl Fn(aya::maps::MapError) -> XdpError {
    move |e| XdpError::Map {
        map,
        why: chain(&e),
    }
}

impl XdpProgram {
    /// Loads the program and attaches it to `iface` for `queues` RX queues (checked
    /// against what the interface has).
    pub fn attach(iface: &str, queues: u32, choice: ModeChoice) -> Result<XdpProgram, XdpError> {
        let has = rx_queue_count(iface)?;
        if queues > has || queues > ebpf::MAX_QUEUES {
            return Err(XdpError::TooManyQueues {
                iface: iface.into(),
                asked: queues,
                has: has.min(ebpf::MAX_QUEUES),
            });
        }
        let mut bpf = Ebpf::load(ebpf::object()).map_err(|e| {
            if permission_denied(&e) {
                XdpError::NotPermitted {
                    what: "load an eBPF program".into(),
                }
            } else {
                XdpError::Load(chain(&e))
            }
        })?;
        let prog: &mut Xdp = bpf
            .program_mut(ebpf::PROGRAM)
            .ok_or_else(|| XdpError::Load(format!("no program `{}`", ebpf::PROGRAM)))?
            .try_into()
            .map_err(|e: aya::programs::ProgramError| XdpError::Load(chain(&e)))?;
        prog.load().map_err(|e| {
            if permission_denied(&e) {
                XdpError::NotPermitted {
                    what: "load an XDP program".into(),
                }
            } else {
                XdpError::Load(chain(&e))
            }
        })?;
        let tries: &[(XdpMode, AttachMode)] = match choice {
            ModeChoice::Auto => &[
                (XdpMode::Driver, AttachMode::Driver),
                (XdpMode::Skb, AttachMode::Skb),
            ],
            ModeChoice::Driver => &[(XdpMode::Driver, AttachMode::Driver)],
            ModeChoice::Skb => &[(XdpMode::Skb, AttachMode::Skb)],
        };
        let mut failures = Vec::new();
        let mut attached = None;
        for &(m, mode) in tries {
            match prog.attach(iface, m) {
                Ok(link) => {
                    attached = Some((link, mode));
                    break;
                }
                Err(e) => {
                    if permission_denied(&e) {
                        return Err(XdpError::NotPermitted {
                            what: format!("attach XDP to `{iface}`"),
                        });
                    }
                    tracing::debug!(iface, mode = %mode, error = %chain(&e), "XDP attach failed");
                    failures.push((mode, chain(&e)));
                }
            }
        }
        let Some((link, mode)) = attached else {
            let why = |want| {
                failures
                    .iter()
                    .find(|(m, _)| *m == want)
                    .map(|(_, e)| e.clone())
                    .unwrap_or_else(|| "not tried".into())
            };
            return Err(XdpError::Unsupported {
                iface: iface.into(),
                driver: why(AttachMode::Driver),
                skb: why(AttachMode::Skb),
            });
        };
        if mode == AttachMode::Skb && choice == ModeChoice::Auto {
            tracing::warn!(
                iface,
                "XDP attached in generic (SKB) mode: the driver has no native XDP; capture works but costs more per frame"
            );
        }
        let xsks = XskMap::try_from(take_map(&mut bpf, ebpf::MAP_XSKS)?)
            .map_err(map_err(ebpf::MAP_XSKS))?;
        let counters = PerCpuArray::try_from(take_map(&mut bpf, ebpf::MAP_COUNTERS)?)
            .map_err(map_err(ebpf::MAP_COUNTERS))?;
        let block_v4 = LpmTrie::try_from(take_map(&mut bpf, ebpf::MAP_BLOCK_V4)?)
            .map_err(map_err(ebpf::MAP_BLOCK_V4))?;
        let block_v6 = LpmTrie::try_from(take_map(&mut bpf, ebpf::MAP_BLOCK_V6)?)
            .map_err(map_err(ebpf::MAP_BLOCK_V6))?;
        Ok(XdpProgram {
            ebpf: bpf,
            link: Some(link),
            iface: iface.into(),
            mode,
            xsks,
            counters,
            block_v4,
            block_v6,
        })
    }

    pub fn mode(&self) -> AttachMode {
        self.mode
    }

    pub fn iface(&self) -> &str {
        &self.iface
    }

    /// Sends the frames of RX queue `queue` to the AF_XDP socket `fd`.
    pub fn register_socket(&mut self, queue: u32, fd: &impl AsRawFd) -> Result<(), XdpError> {
        self.xsks
            .set(queue, fd.as_raw_fd(), 0)
            .map_err(map_err(ebpf::MAP_XSKS))
    }

    /// Stops redirecting `queue` (its frames go to the kernel stack again).
    pub fn unregister_socket(&mut self, queue: u32) -> Result<(), XdpError> {
        self.xsks.unset(queue).map_err(map_err(ebpf::MAP_XSKS))
    }

    /// Counters of queues `0..queues`, each summed over CPUs.
    pub fn counters(&self, queues: u32) -> Result<Vec<QueueCounters>, XdpError> {
        let mut out = Vec::with_capacity(queues as usize);
        for q in 0..queues.min(ebpf::MAX_QUEUES) {
            let mut c = [0u64; ebpf::N_COUNTERS as usize];
            for (i, slot) in c.iter_mut().enumerate() {
                let idx = q * ebpf::N_COUNTERS + i as u32;
                let per_cpu = self
                    .counters
                    .get(&idx, 0)
                    .map_err(map_err(ebpf::MAP_COUNTERS))?;
                *slot = per_cpu.iter().sum();
            }
            out.push(QueueCounters {
                seen: c[ebpf::C_SEEN as usize],
                redirected: c[ebpf::C_REDIRECTED as usize],
                passed: c[ebpf::C_PASSED as usize],
                blocked: c[ebpf::C_BLOCKED as usize],
                errors: c[ebpf::C_ERRORS as usize],
            });
        }
        Ok(out)
    }

    /// Counters per queue and per CPU (`[queue][cpu]`): which CPUs XDP ran on shows
    /// how RSS (or, on veth, the senders) spread the load.
    pub fn counters_per_cpu(&self, queues: u32) -> Result<Vec<Vec<QueueCounters>>, XdpError> {
        let mut out = Vec::with_capacity(queues as usize);
        for q in 0..queues.min(ebpf::MAX_QUEUES) {
            let mut per_cpu: Vec<QueueCounters> = Vec::new();
            for i in 0..ebpf::N_COUNTERS {
                let idx = q * ebpf::N_COUNTERS + i;
                let values = self
                    .counters
                    .get(&idx, 0)
                    .map_err(map_err(ebpf::MAP_COUNTERS))?;
                if per_cpu.len() < values.len() {
                    per_cpu.resize(values.len(), QueueCounters::default());
                }
                for (cpu, v) in values.iter().enumerate() {
                    let c = &mut per_cpu[cpu];
                    match i {
                        ebpf::C_SEEN => c.seen = *v,
                        ebpf::C_REDIRECTED => c.redirected = *v,
                        ebpf::C_PASSED => c.passed = *v,
                        ebpf::C_BLOCKED => c.blocked = *v,
                        ebpf::C_ERRORS => c.errors = *v,
                        _ => {}
                    }
                }
            }
            out.push(per_cpu);
        }
        Ok(out)
    }

    /// Drops, at XDP, every frame from or to `p`.
    pub fn block(&mut self, p: &Prefix) -> Result<(), XdpError> {
        let res = match p.addr {
            std::net::IpAddr::V4(a) => {
                self.block_v4
                    .insert(&Key::new(p.len as u32, a.octets()), 1, 0)
            }
            std::net::IpAddr::V6(a) => {
                self.block_v6
                    .insert(&Key::new(p.len as u32, a.octets()), 1, 0)
            }
        };
        res.map_err(|e| XdpError::Blocklist(format!("adding {p}: {}", chain(&e))))
    }

    /// Removes `p` from the blocklist; false when it was not there.
    pub fn unblock(&mut self, p: &Prefix) -> Result<bool, XdpError> {
        let res = match p.addr {
            std::net::IpAddr::V4(a) => self.block_v4.remove(&Key::new(p.len as u32, a.octets())),
            std::net::IpAddr::V6(a) => self.block_v6.remove(&Key::new(p.len as u32, a.octets())),
        };
        match res {
            Ok(()) => Ok(true),
            Err(aya::maps::MapError::KeyNotFound) => Ok(false),
            Err(aya::maps::MapError::SyscallError(ref se))
                if se.io_error.raw_os_error() == Some(libc::ENOENT) =>
            {
                Ok(false)
            }
            Err(e) => Err(XdpError::Blocklist(format!("removing {p}: {}", chain(&e)))),
        }
    }

    /// Detaches the program now (also done on drop).
    pub fn detach(&mut self) -> Result<(), XdpError> {
        if let Some(link) = self.link.take() {
            let prog: &mut Xdp = self
                .ebpf
                .program_mut(ebpf::PROGRAM)
                .ok_or_else(|| XdpError::Load("program vanished".into()))?
                .try_into()
                .map_err(|e: aya::programs::ProgramError| XdpError::Load(chain(&e)))?;
            prog.detach(link)
                .map_err(|e| XdpError::Load(format!("detaching: {}", chain(&e))))?;
        }
        Ok(())
    }
}

impl Drop for XdpProgram {
    fn drop(&mut self) {
        if let Err(e) = self.detach() {
            tracing::warn!(iface = %self.iface, error = %e, "detaching the XDP program");
        }
    }
}
