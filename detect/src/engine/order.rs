//! Suricata's rule order: action (pass, drop, reject, alert), then flowbits (setters
//! before readers), then priority, then sid.
//! Rules are numbered by this order ("rank") at build time, so verifying candidates in
//! rank order yields matches already sorted and stops at the first matching `pass`.

use crate::rules::{Action, Rule};

/// Position of an action in Suricata's default `action-order`.
pub(crate) fn action_order(a: Action) -> u8 {
    match a {
        Action::Pass => 0,
        Action::Drop => 1,
        Action::Reject | Action::RejectSrc | Action::RejectDst | Action::RejectBoth => 2,
        Action::Alert => 3,
    }
}

/// Rule indexes sorted into rank order (ties keep load order).
pub(crate) fn ranking(rules: &[Rule]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..rules.len() as u32).collect();
    order.sort_by_key(|&i| {
        let r = &rules[i as usize];
        (
            action_order(r.action),
            super::flowbits::order_class(r),
            r.priority,
            r.sid,
            i,
        )
    });
    order
}
