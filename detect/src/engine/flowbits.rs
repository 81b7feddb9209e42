//! `flowbits` compiled to bit ids: names are numbered once when the engine is built, so a
//! flow's bits are a small fixed bitset (one `u64` per 64 names) that the worker keeps
//! beside each flow entry and the matcher reads and writes without hashing or allocating.

use crate::rules::{FlowbitCmd, Rule};
use std::collections::HashMap;

/// Flowbit names of a rule set, numbered in order of first use.
#[derive(Debug, Default)]
pub(crate) struct Names {
    ids: HashMap<String, u32>,
}

impl Names {
    fn id(&mut self, name: &str) -> u32 {
        let next = self.ids.len() as u32;
        *self.ids.entry(name.to_owned()).or_insert(next)
    }

    /// `u64` words a flow needs for every bit.
    pub(crate) fn words(&self) -> usize {
        self.ids.len().div_ceil(64)
    }

    pub(crate) fn get(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }
}

/// A rule's flowbit conditions (all must hold) and actions (run in order once it matched).
#[derive(Debug, Default)]
pub(crate) struct RuleBits {
    /// (`isset`, group): true when some bit of the group is set (`isset`) or some bit
    /// of it is clear (`isnotset`), as Suricata evaluates `a|b`.
    checks: Box<[(bool, Box<[u32]>)]>,
    actions: Box<[(FlowbitCmd, u32)]>,
}

impl RuleBits {
    pub(crate) fn compile(rule: &Rule, names: &mut Names) -> RuleBits {
        let mut checks = Vec::new();
        let mut actions = Vec::new();
        for fb in &rule.flowbits {
            let ids: Box<[u32]> = fb.names.iter().map(|n| names.id(n)).collect();
            match fb.cmd {
                FlowbitCmd::IsSet => checks.push((true, ids)),
                FlowbitCmd::IsNotSet => checks.push((false, ids)),
                cmd => actions.extend(ids.iter().map(|&i| (cmd, i))),
            }
        }
        RuleBits {
            checks: checks.into_boxed_slice(),
            actions: actions.into_boxed_slice(),
        }
    }

    #[inline]
    pub(crate) fn has_checks(&self) -> bool {
        !self.checks.is_empty()
    }

    /// Whether every condition holds on `bits`.
    #[inline]
    pub(crate) fn check(&self, bits: &[u64]) -> bool {
        self.checks
            .iter()
            .all(|(isset, group)| group.iter().any(|&id| get(bits, id) == *isset))
    }

    /// Runs the actions of a rule that matched.
    #[inline]
    pub(crate) fn apply(&self, bits: &mut [u64]) {
        for &(cmd, id) in self.actions.iter() {
            let (w, b) = (id as usize / 64, 1u64 << (id % 64));
            if let Some(word) = bits.get_mut(w) {
                match cmd {
                    FlowbitCmd::Set => *word |= b,
                    FlowbitCmd::Unset => *word &= !b,
                    FlowbitCmd::Toggle => *word ^= b,
                    FlowbitCmd::IsSet | FlowbitCmd::IsNotSet => {}
                }
            }
        }
    }
}

#[inline]
fn get(bits: &[u64], id: u32) -> bool {
    bits.get(id as usize / 64)
        .is_some_and(|w| w & (1u64 << (id % 64)) != 0)
}

/// Suricata's flowbits ordering class (`SCSigOrderByFlowbits`): rules that set (or
/// unset, toggle) bits run before rules that both set and read, which run before rules
/// that only read, so a bit set by one rule is seen by another on the same packet.
pub(crate) fn order_class(rule: &Rule) -> u8 {
    let reads = rule.flowbits.iter().any(|f| f.cmd.is_condition());
    let writes = rule.flowbits.iter().any(|f| !f.cmd.is_condition());
    match (writes, reads) {
        (true, false) => 0,
        (true, true) => 1,
        (false, true) => 2,
        (false, false) => 3,
    }
}
