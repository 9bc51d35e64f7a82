//! The layer's bytes: compressed bytes counted under the decoder, the
//! decompressed tar stream hashed (the diff-id) and metered above it.

use std::cell::Cell;
use std::io::{self, BufReader, Read};
use std::rc::Rc;

use super::{Compression, Limits};
use crate::error::{Result, SetupError};
use crate::image::digest::{Digest, Hashing};

/// Large reads: the stream is copied in chunks this size, never per byte.
pub(super) const BUF: usize = 256 * 1024;
/// The ratio is checked only past this many uncompressed bytes: small
/// layers of zeros or sparse-ish files compress very well and are fine.
const RATIO_AFTER: u64 = 64 << 20;

/// What the readers below the tar parser tell the unpacker: how many
/// compressed bytes have passed, and whether the ratio limit tripped (the
/// tar crate turns our error into its own, so the cause is kept here).
#[derive(Debug, Default)]
pub(super) struct Meter {
    compressed: Cell<u64>,
    tripped: Cell<Option<(u64, u64)>>,
    max_ratio: u64,
}

impl Meter {
    /// An I/O error of the stream as a setup error naming the layer, or the
    /// ratio limit when that is what stopped it.
    pub(super) fn error(&self, what: &str, e: &io::Error) -> SetupError {
        if let Some((out, inn)) = self.tripped.get() {
            return SetupError::new(format!("unpack {what}")).detail(format!(
                "it decompresses to more than {} bytes per compressed byte \
                 ({out} bytes from {inn}): the limit max_ratio is {}",
                self.max_ratio, self.max_ratio
            ));
        }
        if e.raw_os_error().is_some() {
            return SetupError::io(format!("read {what}"), e);
        }
        SetupError::new(format!("read {what}")).detail(format!("it is not a valid layer: {e}"))
    }
}

struct Counting<'a> {
    inner: &'a mut dyn Read,
    meter: Rc<Meter>,
}

impl Read for Counting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.meter.compressed.set(self.meter.compressed.get() + n as u64);
        Ok(n)
    }
}

struct Metered<'a> {
    inner: Hashing<Box<dyn Read + 'a>>,
    meter: Rc<Meter>,
    compressed: bool,
}

impl Read for Metered<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let out = self.inner.count();
        let inn = self.meter.compressed.get().max(1);
        if self.compressed && out > RATIO_AFTER && out > inn.saturating_mul(self.meter.max_ratio) {
            self.meter.tripped.set(Some((out, inn)));
            return Err(io::Error::other("decompression ratio limit"));
        }
        Ok(n)
    }
}

/// The decompressed tar stream.
pub(super) struct Stream<'a> {
    top: BufReader<Metered<'a>>,
    meter: Rc<Meter>,
}

impl<'a> Stream<'a> {
    pub(super) fn open(src: &'a mut dyn Read, what: &str, limits: &Limits) -> Result<Stream<'a>> {
        let meter = Rc::new(Meter { max_ratio: limits.max_ratio, ..Meter::default() });
        let mut counting = Counting { inner: src, meter: meter.clone() };
        let mut head = [0u8; 6];
        let n =
            read_head(&mut counting, &mut head).map_err(|e| SetupError::io(format!("read {what}"), &e))?;
        if head.starts_with(b"BZh") {
            return Err(SetupError::new(format!("unpack {what}"))
                .detail("it is bzip2-compressed, which OCI layers never are (gzip, zstd, xz or none)"));
        }
        let compression = Compression::detect(&head[..n]);
        let raw = BufReader::with_capacity(BUF, io::Cursor::new(head).take(n as u64).chain(counting));
        let decoder = decoder(raw, compression).map_err(|e| SetupError::io(format!("read {what}"), &e))?;
        let metered = Metered {
            inner: Hashing::new(decoder, u64::MAX),
            meter: meter.clone(),
            compressed: compression != Compression::None,
        };
        Ok(Stream { top: BufReader::with_capacity(BUF, metered), meter })
    }

    pub(super) fn meter(&self) -> Rc<Meter> {
        self.meter.clone()
    }

    /// Read to the end (the padding after the tar's last entry, and
    /// anything after it, are part of the diff-id) and return the digest.
    pub(super) fn finish(mut self) -> io::Result<Digest> {
        io::copy(&mut self.top, &mut io::sink())?;
        let metered = self.top.into_inner();
        Ok(metered.inner.finish().0)
    }
}

impl Read for Stream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.top.read(buf)
    }
}

fn read_head(src: &mut impl Read, head: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < head.len() {
        match src.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn decoder<'a, R: io::BufRead + 'a>(raw: R, compression: Compression) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match compression {
        Compression::None => Box::new(raw),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(raw)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(raw)?),
        Compression::Xz => {
            // A memory limit: an xz header may ask for a dictionary of GiBs.
            let stream = liblzma::stream::Stream::new_stream_decoder(1 << 30, liblzma::stream::CONCATENATED)
                .map_err(io::Error::other)?;
            Box::new(liblzma::bufread::XzDecoder::new_stream(raw, stream))
        }
    })
}
