//! The sandbox's network beyond loopback (`network.mode = "nat"`): its own
//! network namespace connected to the host's network by a user-mode stack
//! (pasta), published ports, and an egress allowlist enforced by nftables
//! inside that namespace.
//!
//! `rule` is pure and shared by both halves: the profile validates with it,
//! the extension carries its types, the runtime turns them into pasta's
//! options and an nftables ruleset.

pub mod plan;
pub mod resolve;
pub mod rule;
pub mod stack;
