//! Peer benchmarks live in benches/peers.rs.
