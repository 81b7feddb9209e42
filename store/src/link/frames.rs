//! Reading frames off a stream with the limits applied before any payload is buffered.

use crate::wire::{Header, Limits, Message, WireError, HEADER_LEN};
use rkyv::util::AlignedVec;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Reads and validates one frame at a time into a reused 16-aligned buffer.
pub struct FrameReader<R> {
    inner: R,
    limits: Limits,
    buf: AlignedVec<16>,
    /// Bytes consumed before the current frame, so errors can say where in the stream.
    pos: u64,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(inner: R, limits: Limits) -> Self {
        FrameReader {
            inner,
            limits,
            buf: AlignedVec::new(),
            pos: 0,
        }
    }

    /// Stream offset of the frame last read (for log lines).
    pub fn stream_offset(&self) -> u64 {
        self.pos
    }

    /// The next message, or `None` on a clean end of stream between frames.
    pub async fn next(&mut self) -> Result<Option<Message<'_>>, WireError> {
        let mut head = [0u8; HEADER_LEN];
        let mut got = 0;
        while got < HEADER_LEN {
            let n = self.inner.read(&mut head[got..]).await?;
            if n == 0 {
                if got == 0 {
                    return Ok(None);
                }
                return Err(WireError::Malformed {
                    offset: got,
                    what: "connection closed inside a frame header".into(),
                });
            }
            got += n;
        }
        let h = Header::parse(&head, &self.limits)?;
        self.buf.clear();
        self.buf.resize(h.len as usize, 0);
        self.inner
            .read_exact(&mut self.buf)
            .await
            .map_err(|e| WireError::Malformed {
                offset: HEADER_LEN,
                what: format!("payload of {} bytes cut short: {e}", h.len),
            })?;
        self.pos += (HEADER_LEN + h.len as usize) as u64;
        Message::parse(h.kind, &self.buf, &self.limits).map(Some)
    }

    /// Takes the current frame's buffer (after a batch was parsed from it) so it can travel
    /// to the writer without a copy; the reader starts a fresh one.
    pub fn take_buffer(&mut self) -> AlignedVec<16> {
        std::mem::take(&mut self.buf)
    }
}
