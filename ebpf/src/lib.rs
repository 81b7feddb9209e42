//! Stage zero of the pipeline: the XDP program that runs in the NIC driver, counts every
//! frame, drops blocklisted prefixes and redirects the rest to the AF_XDP socket of its RX
//! queue. The live capture issue adds the C source, its `build.rs` and the embedded object.
