//! One sensor connection: handshake, Hello, then batches in and acks out. Anything wrong
//! closes this connection only, with the reason logged and counted.

use super::stats::Reject;
use super::writer::{AckState, Job};
use super::Shared;
use crate::link::{peer_is_sensor, FrameReader, Stream};
use crate::wire::{Message, WireError, PROTOCOL};
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;

const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

fn reason_of(e: &WireError) -> Reject {
    match e {
        WireError::TooLarge { .. } => Reject::TooLarge,
        _ => Reject::Malformed,
    }
}

pub(crate) async fn serve(shared: Arc<Shared>, tcp: TcpStream, peer: SocketAddr) {
    let _ = tcp.set_nodelay(true);
    let stats = &shared.stats;
    let (stream, certs): (
        Box<dyn Stream>,
        Option<Vec<rustls::pki_types::CertificateDer<'static>>>,
    ) = match &shared.tls {
        None => (Box::new(tcp), None),
        Some(acceptor) => match tokio::time::timeout(HELLO_TIMEOUT, acceptor.accept(tcp)).await {
            Ok(Ok(s)) => {
                let certs = s.get_ref().1.peer_certificates().map(|c| c.to_vec());
                (Box::new(s), certs)
            }
            Ok(Err(e)) => {
                stats.reject(Reject::Handshake);
                tracing::warn!(%peer, error = %e, "TLS handshake refused");
                return;
            }
            Err(_) => {
                stats.reject(Reject::Timeout);
                tracing::warn!(%peer, "TLS handshake timed out");
                return;
            }
        },
    };
    let (r, mut w) = tokio::io::split(stream);
    let mut reader = FrameReader::new(r, shared.limits);
    let sensor: Arc<str> = match tokio::time::timeout(HELLO_TIMEOUT, reader.next()).await {
        Ok(Ok(Some(Message::Hello {
            sensor, version, ..
        }))) => {
            if version != PROTOCOL {
                stats.reject(Reject::Protocol);
                tracing::warn!(%peer, sensor, version, "refused: protocol version");
                return;
            }
            if shared.tls.is_some() && !peer_is_sensor(certs.as_deref(), sensor) {
                stats.reject(Reject::Identity);
                tracing::warn!(%peer, sensor, "refused: the client certificate does not name this sensor");
                return;
            }
            sensor.into()
        }
        Ok(Ok(Some(_))) => {
            stats.reject(Reject::Protocol);
            tracing::warn!(%peer, "refused: first frame is not a hello");
            return;
        }
        Ok(Ok(None)) => return,
        Ok(Err(e)) => {
            stats.reject(reason_of(&e));
            tracing::warn!(%peer, error = %e, "refused");
            return;
        }
        Err(_) => {
            stats.reject(Reject::Timeout);
            tracing::warn!(%peer, "refused: no hello in time");
            return;
        }
    };
    let store = shared.store.clone();
    let name = sensor.to_string();
    let stored_through = match tokio::task::spawn_blocking(move || store.max_seq(&name)).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            tracing::error!(%peer, error = %e, "store unreadable; closing");
            return;
        }
        Err(_) => return,
    };
    let mut out = Vec::new();
    Message::Welcome { stored_through }.encode(&mut out);
    if w.write_all(&out).await.is_err() || w.flush().await.is_err() {
        return;
    }
    tracing::info!(%peer, sensor = %sensor, ?stored_through, "sensor connected");
    stats.seen(&sensor, 0, 1);

    let (ack_tx, mut ack_rx) = watch::channel(AckState::default());
    let ack_tx = Arc::new(ack_tx);
    let (pong_tx, mut pong_rx) = tokio::sync::mpsc::channel::<u64>(4);
    let mut commands = shared.commands.tx.subscribe();
    // The writing half: acks as the writer commits, pongs, and commands.
    let writer_sensor = sensor.clone();
    let out_task = tokio::spawn(async move {
        let mut buf = Vec::new();
        loop {
            buf.clear();
            tokio::select! {
                changed = ack_rx.changed() => {
                    if changed.is_err() { break; }
                    let a = *ack_rx.borrow_and_update();
                    if a.failed { break; }
                    Message::Ack { through: a.through }.encode(&mut buf);
                }
                Some(n) = pong_rx.recv() => Message::Pong(n).encode(&mut buf),
                c = commands.recv() => match c {
                    Ok((target, cmd)) if target.as_deref().is_none_or(|t| t == &*writer_sensor) => {
                        Message::Command(cmd).encode(&mut buf)
                    }
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => break,
                },
            }
            if w.write_all(&buf).await.is_err() || w.flush().await.is_err() {
                break;
            }
        }
        let _ = w.shutdown().await;
    });

    let mut last_seq: Option<u64> = None;
    let mut stop = shared.stop.subscribe();
    let why = loop {
        let msg = tokio::select! {
            m = reader.next() => m,
            _ = stop.wait_for(|s| *s) => break None,
        };
        match msg {
            Ok(None) => break None,
            Ok(Some(Message::Ping(n))) => {
                stats.seen(&sensor, 0, 0);
                let _ = pong_tx.try_send(n);
            }
            Ok(Some(Message::Batch(b))) => {
                let bad = b
                    .entries()
                    .flatten()
                    .find(|e| e.record.sensor.as_str() != &*sensor);
                if let Some(e) = bad {
                    break Some((
                        Reject::Identity,
                        format!(
                            "record seq {} names sensor {:?}",
                            e.seq,
                            e.record.sensor.as_str()
                        ),
                    ));
                }
                if last_seq.is_some_and(|l| b.first_seq() <= l) {
                    break Some((
                        Reject::Protocol,
                        format!(
                            "batch starts at seq {} after {}",
                            b.first_seq(),
                            last_seq.unwrap_or(0)
                        ),
                    ));
                }
                let (count, first, last) = (b.count(), b.first_seq(), b.last_seq());
                last_seq = Some(last);
                stats.received.fetch_add(count as u64, Relaxed);
                stats.seen(&sensor, count as u64, 0);
                let buf = reader.take_buffer();
                // Backpressure: wait for room in the bounded buffer before reading on; the
                // socket is not read meanwhile, so TCP flow control holds the sensor.
                let want = (buf.len() as u64).clamp(1, shared.capacity) as u32;
                let Ok(permit) = shared.buffer.clone().acquire_many_owned(want).await else {
                    break None;
                };
                stats.buffer_add(want as u64);
                let job = Job {
                    sensor: sensor.clone(),
                    buf,
                    first_seq: first,
                    last_seq: last,
                    count,
                    ack: ack_tx.clone(),
                    permit,
                };
                if shared.jobs.send(job).is_err() {
                    break None;
                }
            }
            Ok(Some(_)) => {
                break Some((
                    Reject::Protocol,
                    "unexpected frame kind from a sensor".into(),
                ))
            }
            Err(e) => break Some((reason_of(&e), e.to_string())),
        }
    };
    if let Some((reason, what)) = why {
        stats.reject(reason);
        tracing::warn!(%peer, sensor = %sensor, at = reader.stream_offset(), reason = reason.as_str(), "closing link: {what}");
    }
    // Let the acks of what is already queued go out before closing (bounded wait).
    drop(pong_tx);
    drop(ack_tx);
    let _ = tokio::time::timeout(Duration::from_secs(5), out_task).await;
    stats.seen(&sensor, 0, -1);
    tracing::info!(%peer, sensor = %sensor, "sensor disconnected");
}
