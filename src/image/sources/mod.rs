//! Where an image's bytes come from: an OCI layout (a directory, or a tar
//! of one), a `docker save` archive, or a registry. Each gives a [`Plan`]:
//! the verified manifest and config, and how to open each layer's blob.

pub mod docker;
pub mod files;
pub mod oci;

use super::digest::Digest;

/// An image ready to import: everything but the layers is read and verified.
pub struct Plan {
    /// What pins it: the manifest's digest (a `docker save` archive has no
    /// manifest blob: its config's digest, docker's image id).
    pub digest: Digest,
    pub config: Digest,
    pub config_bytes: Vec<u8>,
    pub layers: Vec<PlannedLayer>,
}

pub struct PlannedLayer {
    /// What the config says the uncompressed layer hashes to.
    pub diff_id: Digest,
    /// The (compressed) blob's digest and size, when the source names one.
    pub blob: Option<(Digest, u64)>,
    /// Where it is in the source's files (an archive's `…/layer.tar`).
    pub name: String,
}
