//! The sensor's single entry for a new alert: the spool if it takes it, else the drop
//! channel. Putting both behind one call is what makes "every refused alert is handed on"
//! hold by construction rather than by each caller remembering.

use crate::drop_channel::{Delivered, DropChannel, DropLost};
use crate::spool::{Admit, SpoolError, SpoolWriter};

/// Where one submitted alert ended up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Spooled { seq: u64 },
    Dropped { seq: u64, to: Delivered },
}

/// A batch's seqs (consecutive: every alert takes one) and how they split.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub first_seq: u64,
    pub count: u64,
    pub spooled: u64,
    pub dropped_to_socket: u64,
    pub dropped_to_file: u64,
}

/// Why an alert could not be placed anywhere.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error(transparent)]
    Lost(#[from] DropLost),
}

/// The spool's writer and its drop channel, owned together by the output thread.
pub struct Outbox {
    pub writer: SpoolWriter,
    pub drops: DropChannel,
}

impl Outbox {
    pub fn new(writer: SpoolWriter, drops: DropChannel) -> Outbox {
        Outbox { writer, drops }
    }

    /// Spools `record` (archived `AlertRecord` bytes, 16-byte aligned; its `seq` is
    /// stamped here) or hands it to the drop channel.
    pub fn submit(&mut self, record: &mut [u8]) -> Result<Outcome, OutboxError> {
        match self.writer.append(record)? {
            Admit::Spooled { seq } => Ok(Outcome::Spooled { seq }),
            Admit::Refused { seq, reason } => {
                let to = self.drops.deliver(record, seq, reason)?;
                Ok(Outcome::Dropped { seq, to })
            }
        }
    }

    /// Submits records in order; stops at the first error (the records before it are
    /// placed and counted in the stats).
    pub fn submit_batch<R: AsMut<[u8]>>(
        &mut self,
        records: &mut [R],
    ) -> Result<BatchOutcome, OutboxError> {
        let mut out = BatchOutcome {
            first_seq: self.writer.next_seq(),
            ..BatchOutcome::default()
        };
        for r in records.iter_mut() {
            match self.submit(r.as_mut())? {
                Outcome::Spooled { .. } => out.spooled += 1,
                Outcome::Dropped {
                    to: Delivered::Socket,
                    ..
                } => out.dropped_to_socket += 1,
                Outcome::Dropped {
                    to: Delivered::File,
                    ..
                } => out.dropped_to_file += 1,
            }
            out.count += 1;
        }
        Ok(out)
    }
}
