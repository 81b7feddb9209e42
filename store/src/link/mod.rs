//! The sensor-collector link over TCP, with TLS 1.3 and mutual certificate authentication
//! unless plain TCP is asked for explicitly. Both ends read frames with [`FrameReader`],
//! which holds each payload 16-aligned so batches validate in place.

mod certs;
mod client;
mod frames;
pub(crate) mod tls;

pub use certs::{generate as generate_certs, CertFiles};
pub use client::{
    connect, connect_with_backoff, Backoff, Inbound, LinkConfig, LinkError, LinkRx, LinkTx, Welcome,
};
pub use frames::FrameReader;
pub use tls::{client_config, peer_is_sensor, server_config, TlsError};

/// A byte stream a link runs over: plain TCP or TLS.
pub trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static> Stream for T {}
