//! Root filesystems from images and archives: a layer source in a profile
//! (`oci:`, `oci-archive:`, `docker-archive:`, `docker://`, `tar:`) becomes
//! unpacked, verified layer directories in the [`store`], plus the image's
//! config (the process's defaults). All of it is I/O, finished before
//! `compile` (which only sees directories); `runtime/` never sees an image.
//!
//! ```text
//! reference  text → Source                       (pure; the profile validates with it)
//! sources    Source → manifest, config, layer blobs (OCI layout, archives, registry)
//! unpack     untrusted layer tar → overlay-ready directory, its diff-id
//! store      blobs and layers by digest; refs; locks; atomic writes
//! resolve    Source → Resolved { layer dirs, config }   (the one entry point)
//! config     image config → the profile's defaults, as one more source
//! ```

pub mod config;
pub mod digest;
pub mod lock;
pub mod manifest;
pub mod prune;
pub mod reference;
pub mod registry;
pub mod resolve;
pub mod sources;
pub mod store;
pub mod tree;
pub mod unpack;
