//! Commands from the collector to its sensors over the authenticated links. The bus is
//! made before the collector starts so that others (the router's block outputs) can hold
//! it from the start; it shares the collector's counters to know which sensors are
//! connected, so a block is never believed sent when no link would carry it.

use super::stats::Stats;
use crate::wire::{Block, Command};
use std::sync::Arc;
use tokio::sync::broadcast;

/// Commands queued per link before a slow link skips some (it logs that it lagged).
const PER_LINK: usize = 64;

/// The sender side: cheap to clone, usable from any thread (never blocks).
#[derive(Clone)]
pub struct CommandBus {
    pub(crate) tx: broadcast::Sender<(Option<String>, Command)>,
    pub(crate) stats: Arc<Stats>,
}

impl Default for CommandBus {
    fn default() -> Self {
        CommandBus::new()
    }
}

impl CommandBus {
    /// A bus with fresh collector counters (the collector started with it uses them).
    pub fn new() -> CommandBus {
        CommandBus {
            tx: broadcast::channel(PER_LINK).0,
            stats: Arc::new(Stats::default()),
        }
    }

    /// The sensors with an open link: `sensor` only, or all when `None`; sorted.
    pub fn connected(&self, sensor: Option<&str>) -> Vec<String> {
        let m = self.stats.sensors.lock().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<String> = m
            .iter()
            .filter(|(name, s)| s.connections > 0 && sensor.is_none_or(|want| want == *name))
            .map(|(name, _)| name.clone())
            .collect();
        v.sort();
        v
    }

    /// Hands a block to the link of `sensor` (or of every connected sensor); returns the
    /// sensors it went to, or why it went nowhere.
    pub fn block(&self, sensor: Option<&str>, b: Block) -> Result<Vec<String>, String> {
        let connected = self.connected(sensor);
        if connected.is_empty() {
            return Err(match sensor {
                Some(s) => format!("sensor {s} is not connected"),
                None => "no sensor is connected".into(),
            });
        }
        self.tx
            .send((sensor.map(str::to_string), Command::Block(b)))
            .map_err(|_| "no link is listening".to_string())?;
        Ok(connected)
    }
}
