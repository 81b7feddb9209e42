//! Active response at the sensor: for each alert routed here, the sensor that raised it
//! (or every connected sensor) is told over its authenticated link to drop the alert's
//! source (or destination) at XDP for a configured time; the sensor lifts the block
//! itself when the time is up. A block still in force is not sent again: a small table of
//! what was sent, with expiry, suppresses repeats (an attack raises many alerts). Sending
//! never waits (a broadcast to the links' tasks).

use super::config::{parse_cidr, BlockConfig};
use super::router::{Delivery, Output, OutputStats};
use crate::collector::CommandBus;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often expired entries leave the suppression table.
const PRUNE_EVERY: Duration = Duration::from_secs(1);

/// Counters of the block outputs (in [`OutputStats::response`]).
#[derive(Debug, Default)]
pub struct BlockStats {
    /// Block commands handed to sensor links (their alerts count as `sent`).
    pub sent: AtomicU64,
    /// Alerts whose address was already blocked and unexpired: nothing sent.
    pub suppressed: AtomicU64,
    /// Alerts whose address is in `never`: nothing sent.
    pub exempt: AtomicU64,
    /// Blocks this output believes in force now (the suppression table's size).
    pub active: AtomicU64,
}

/// `(sensor, or None for all; masked network; prefix length)`.
type Key = (Option<Arc<str>>, IpAddr, u8);

pub(crate) struct BlockOutput {
    name: String,
    cfg: BlockConfig,
    never: Vec<(IpAddr, u8)>,
    bus: CommandBus,
    in_force: HashMap<Key, Instant>,
    last_prune: Instant,
    stats: Arc<OutputStats>,
}

/// `ip` with the bits past `len` cleared.
fn mask(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let m = u32::MAX.checked_shl(32 - len as u32).unwrap_or(0);
            IpAddr::from((u32::from(a) & m).to_be_bytes())
        }
        IpAddr::V6(a) => {
            let m = u128::MAX.checked_shl(128 - len as u32).unwrap_or(0);
            IpAddr::from((u128::from(a) & m).to_be_bytes())
        }
    }
}

fn within(ip: IpAddr, (net, len): (IpAddr, u8)) -> bool {
    ip.is_ipv4() == net.is_ipv4() && mask(ip, len) == mask(net, len)
}

impl BlockOutput {
    pub fn new(name: &str, cfg: &BlockConfig, bus: CommandBus, stats: Arc<OutputStats>) -> Self {
        BlockOutput {
            name: name.into(),
            never: cfg.never.iter().filter_map(|n| parse_cidr(n)).collect(),
            cfg: cfg.clone(),
            bus,
            in_force: HashMap::new(),
            last_prune: Instant::now(),
            stats,
        }
    }

    fn act(&mut self, id: u64, r: &crate::ArchivedAlertRecord, now: Instant) {
        let bs = &self.stats.response.block;
        let addr = if self.cfg.target == "dst" {
            &r.dst
        } else {
            &r.src
        };
        let Some(ip) = addr.to_ip() else {
            self.stats.failed.fetch_add(1, Relaxed);
            tracing::warn!(output = %self.name, id, "block output: the alert has no {} address", self.cfg.target);
            return;
        };
        if self.never.iter().any(|&n| within(ip, n)) {
            bs.exempt.fetch_add(1, Relaxed);
            tracing::info!(output = %self.name, id, %ip, "block output: address is in `never`; not blocked");
            return;
        }
        let len = if ip.is_ipv4() {
            self.cfg.prefix_v4
        } else {
            self.cfg.prefix_v6
        };
        let net = mask(ip, len);
        let sensor: Option<Arc<str>> =
            (self.cfg.sensors == "origin").then(|| Arc::from(r.sensor.as_str()));
        let key = (sensor, net, len);
        if self.in_force.get(&key).is_some_and(|&until| until > now) {
            bs.suppressed.fetch_add(1, Relaxed);
            return;
        }
        let b = crate::wire::Block {
            net,
            prefix: len,
            secs: self.cfg.duration_secs,
        };
        match self.bus.block(key.0.as_deref(), b) {
            Ok(to) => {
                bs.sent.fetch_add(1, Relaxed);
                self.stats.sent.fetch_add(1, Relaxed);
                tracing::info!(output = %self.name, id, sid = r.sid.to_native(), block = %format!("{net}/{len}"),
                    secs = self.cfg.duration_secs, sensors = ?to, "block sent");
                self.in_force.insert(
                    key,
                    now + Duration::from_secs(self.cfg.duration_secs as u64),
                );
                bs.active.store(self.in_force.len() as u64, Relaxed);
            }
            Err(e) => {
                // Not remembered: the next alert from this address tries again.
                self.stats.failed.fetch_add(1, Relaxed);
                tracing::warn!(output = %self.name, id, block = %format!("{net}/{len}"), error = %e,
                    "block output: not sent (the alert is in the store)");
            }
        }
    }
}

impl Output for BlockOutput {
    fn deliver(&mut self, d: &Delivery, stats: &OutputStats) {
        let (recs, bad) = d.records();
        stats.failed.fetch_add(bad, Relaxed);
        let now = Instant::now();
        for (id, r) in recs {
            self.act(id, r, now);
        }
    }

    fn tick(&mut self, _stats: &OutputStats, _last: bool) {
        let now = Instant::now();
        if now.duration_since(self.last_prune) >= PRUNE_EVERY {
            self.last_prune = now;
            self.in_force.retain(|_, until| *until > now);
            self.stats
                .response
                .block
                .active
                .store(self.in_force.len() as u64, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_matches_networks() {
        let ip: IpAddr = "10.1.2.3".parse().unwrap();
        assert_eq!(mask(ip, 24), "10.1.2.0".parse::<IpAddr>().unwrap());
        assert_eq!(mask(ip, 32), ip);
        assert_eq!(mask(ip, 0), "0.0.0.0".parse::<IpAddr>().unwrap());
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(mask(v6, 32), "2001:db8::".parse::<IpAddr>().unwrap());
        assert!(within(ip, parse_cidr("10.0.0.0/8").unwrap()));
        assert!(!within(ip, parse_cidr("10.1.3.0/24").unwrap()));
        assert!(!within(v6, parse_cidr("10.0.0.0/8").unwrap()));
    }
}

#[cfg(test)]
mod bus_tests {
    use super::*;
    use crate::wire::Command;

    fn cfg(target: &str, prefix_v4: u8) -> BlockConfig {
        BlockConfig {
            target: target.into(),
            duration_secs: 60,
            sensors: "origin".into(),
            prefix_v4,
            prefix_v6: 128,
            never: vec!["10.9.0.0/16".into()],
        }
    }

    #[test]
    fn respond_block_suppresses_repeats_until_expiry_and_retries_what_was_not_sent() {
        let bus = CommandBus::new();
        let mut rx = bus.tx.subscribe();
        let stats = Arc::new(OutputStats::default());
        let mut out = BlockOutput::new("b", &cfg("src", 32), bus.clone(), stats.clone());
        // testkit alerts come from sensor-test, source 10.0.0.SEQ.
        let one = Delivery::sample([(1, crate::testkit::alert(5, 10))]);
        let (recs, _) = one.records();
        let r = recs[0].1;
        let t0 = Instant::now();
        // Not connected: counted failed, nothing remembered.
        out.act(1, r, t0);
        assert_eq!(stats.failed.load(Relaxed), 1);
        assert!(rx.try_recv().is_err());
        bus.stats.seen("sensor-test", 0, 1);
        for i in 0..3 {
            out.act(2 + i, r, t0);
        }
        let (to, cmd) = rx.try_recv().unwrap();
        assert_eq!(to.as_deref(), Some("sensor-test"));
        assert_eq!(
            cmd,
            Command::Block(crate::wire::Block {
                net: "10.0.0.5".parse().unwrap(),
                prefix: 32,
                secs: 60
            })
        );
        assert!(rx.try_recv().is_err(), "repeats were sent");
        let bs = &stats.response.block;
        assert_eq!((bs.sent.load(Relaxed), bs.suppressed.load(Relaxed)), (1, 2));
        // After the block's time, the next alert sends it again.
        out.act(9, r, t0 + Duration::from_secs(61));
        assert!(rx.try_recv().is_ok());
        assert_eq!(bs.sent.load(Relaxed), 2);
        assert_eq!(stats.sent.load(Relaxed), 2);

        // dst with a /24; an exempt source.
        let mut dst = BlockOutput::new("d", &cfg("dst", 24), bus.clone(), stats.clone());
        dst.act(10, r, t0);
        let (_, Command::Block(b)) = rx.try_recv().unwrap();
        assert_eq!((b.net.to_string(), b.prefix), ("192.168.1.0".into(), 24));
        let mut exempt = cfg("src", 32);
        exempt.never = vec!["10.0.0.0/24".into()];
        let mut ex = BlockOutput::new("e", &exempt, bus, stats.clone());
        ex.act(11, r, t0);
        assert!(rx.try_recv().is_err());
        assert_eq!(bs.exempt.load(Relaxed), 1);
    }
}
