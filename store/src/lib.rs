//! Stage three of the pipeline: getting alerts from a sensor to the central store without
//! losing one silently. It will hold the rkyv alert record, the memory-mapped spool with its
//! high/low watermarks, the acknowledged sensor-collector protocol and the redb store; the
//! alert delivery issue fills it.
