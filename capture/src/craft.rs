//! Building well-formed frames (Ethernet, VLAN, IPv4/IPv6, TCP/UDP/ICMP with correct
//! checksums) for generated traffic: golden pcaps, benchmarks and the load generator.
