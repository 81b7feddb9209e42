//! The XDP program and AF_XDP sockets on a real veth pair in a throwaway namespace:
//! exact counts of frames seen, redirected and received per queue, and the blocklist.
//! Needs root (as the README's test command runs).

use capture::afxdp::{FrameDesc, RxConfig, RxSocket};
use capture::craft::{FrameSpec, L4Spec};
use capture::netns::VethLab;
use capture::xdp::{AttachMode, ModeChoice, XdpProgram};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

fn udp_frames(n: usize, src_base: Ipv4Addr, flows: u16) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let mut v = Vec::new();
            FrameSpec::ipv4(
                src_base,
                Ipv4Addr::new(10, 9, 0, 1),
                L4Spec::Udp {
                    src_port: 10_000 + (i as u16 % flows),
                    dst_port: 53,
                },
            )
            .payload(b"hello tidewatch")
            .write(&mut v);
            v
        })
        .collect()
}

/// Reads every socket until `want` frames arrived in total or 5 s passed; returns the
/// count per socket and checks each frame is one we sent.
fn drain(socks: &mut [RxSocket], want: usize) -> Vec<usize> {
    let mut got = vec![0; socks.len()];
    let mut batch = vec![FrameDesc::default(); 64];
    let end = Instant::now() + Duration::from_secs(5);
    while got.iter().sum::<usize>() < want && Instant::now() < end {
        for (i, s) in socks.iter_mut().enumerate() {
            let n = s.rings.recv(&mut batch);
            for d in &batch[..n] {
                // SAFETY: received and not yet released.
                let f = unsafe { RxSocket::frame(&s.umem, d) };
                assert!(f.ends_with(b"hello tidewatch"), "unexpected frame {f:02x?}");
            }
            s.rings.release(&batch[..n]);
            got[i] += n;
            if n == 0 {
                s.rings.wait(1);
            }
        }
    }
    // Anything late would make the counts inexact: give it a moment to show up.
    std::thread::sleep(Duration::from_millis(50));
    for (i, s) in socks.iter_mut().enumerate() {
        got[i] += s.rings.recv(&mut batch);
    }
    got
}

#[test]
fn every_frame_is_seen_redirected_and_received_on_two_queues() {
    let lab = VethLab::new("xq", 2).expect("veth lab (root needed)");
    let mut prog = XdpProgram::attach(&lab.host_if, 2, ModeChoice::Auto).unwrap();
    assert_eq!(prog.mode(), AttachMode::Driver, "veth supports native XDP");
    let mut socks: Vec<RxSocket> = (0..2)
        .map(|q| RxSocket::open(&lab.host_if, q, &RxConfig::default()).unwrap())
        .collect();
    for s in &socks {
        assert!(!s.zero_copy, "veth has copy mode only");
        prog.register_socket(s.queue, &s.fd()).unwrap();
    }
    let frames = udp_frames(3000, Ipv4Addr::new(10, 8, 0, 1), 64);
    assert_eq!(lab.send(&frames).unwrap(), 3000);
    let got = drain(&mut socks, 3000);
    let counters = prog.counters(2).unwrap();
    assert_eq!(
        got.iter().sum::<usize>(),
        3000,
        "received per queue {got:?}"
    );
    for (q, c) in counters.iter().enumerate() {
        assert_eq!(c.seen, got[q] as u64, "queue {q}: {c:?}");
        assert_eq!(c.redirected, got[q] as u64, "queue {q}: {c:?}");
        assert_eq!(
            (c.passed, c.blocked, c.errors),
            (0, 0, 0),
            "queue {q}: {c:?}"
        );
        assert!(got[q] > 0, "64 flows should use both queues: {got:?}");
    }
    for s in &socks {
        assert_eq!(s.rings.stats().total(), 0, "{:?}", s.rings.stats());
    }
}

#[test]
fn blocklisted_prefix_is_dropped_and_counted_and_no_socket_means_pass() {
    let lab = VethLab::new("xb", 1).expect("veth lab (root needed)");
    let mut prog = XdpProgram::attach(&lab.host_if, 1, ModeChoice::Auto).unwrap();
    let mut socks = vec![RxSocket::open(&lab.host_if, 0, &RxConfig::default()).unwrap()];

    // No socket registered yet: frames go to the kernel stack.
    lab.send(&udp_frames(10, Ipv4Addr::new(10, 8, 0, 1), 4))
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let c = prog.counters(1).unwrap()[0];
    assert_eq!((c.seen, c.passed, c.redirected), (10, 10, 0), "{c:?}");

    prog.register_socket(0, &socks[0].fd()).unwrap();
    prog.block(&"192.0.2.0/24".parse().unwrap()).unwrap();
    prog.block(&"2001:db8::/32".parse().unwrap()).unwrap();
    let mut frames = udp_frames(200, Ipv4Addr::new(192, 0, 2, 77), 8);
    frames.extend(udp_frames(300, Ipv4Addr::new(10, 8, 0, 2), 8));
    lab.send(&frames).unwrap();
    let got = drain(&mut socks, 300);
    assert_eq!(got, vec![300]);
    let c = prog.counters(1).unwrap()[0];
    assert_eq!(
        (c.seen, c.blocked, c.redirected, c.passed),
        (510, 200, 300, 10),
        "{c:?}"
    );

    assert!(prog.unblock(&"192.0.2.0/24".parse().unwrap()).unwrap());
    assert!(!prog.unblock(&"192.0.2.0/24".parse().unwrap()).unwrap());
    lab.send(&udp_frames(20, Ipv4Addr::new(192, 0, 2, 77), 8))
        .unwrap();
    assert_eq!(drain(&mut socks, 20), vec![20]);
}

#[test]
fn errors_name_the_problem() {
    let e = XdpProgram::attach("tw-no-such-if", 1, ModeChoice::Auto)
        .err()
        .unwrap();
    assert!(e.to_string().contains("does not exist"), "{e}");
    let lab = VethLab::new("xe", 1).expect("veth lab (root needed)");
    let e = XdpProgram::attach(&lab.host_if, 4, ModeChoice::Auto)
        .err()
        .unwrap();
    assert!(e.to_string().contains("has 1 RX queue"), "{e}");
    let e = RxSocket::open("tw-no-such-if", 0, &RxConfig::default())
        .err()
        .unwrap();
    assert!(e.to_string().contains("does not exist"), "{e}");
}
