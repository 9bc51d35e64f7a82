//! Content digests (`sha256:HEX`) and a reader that computes one while the
//! bytes stream through it, so a blob is verified as it is written and
//! never read twice.

use std::fmt;
use std::io::{self, Read};

use sha2::{Digest as _, Sha256};

use crate::error::{Result, SetupError};

/// A `sha256:` digest: the only algorithm OCI images use in practice, and
/// the only one we accept (a `sha512:` ref is refused by name, not guessed).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest {
    hex: String,
}

impl Digest {
    /// `sha256:` and 64 lowercase hex digits; anything else is an error
    /// naming `what` (it also becomes a file name in the store, so no `/`,
    /// no `..`, nothing but hex can pass).
    pub fn parse(text: &str, what: &str) -> Result<Digest> {
        let bad = || {
            SetupError::new(format!("read the digest of {what}"))
                .detail(format!("`{}` is not sha256:<64 lowercase hex digits>", shorten(text)))
        };
        let hex = text.strip_prefix("sha256:").ok_or_else(bad)?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(bad());
        }
        Ok(Digest { hex: hex.to_owned() })
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest::from_hasher(Sha256::new_with_prefix(bytes))
    }

    fn from_hasher(hasher: Sha256) -> Digest {
        let sum = hasher.finalize();
        let mut hex = String::with_capacity(64);
        for byte in sum {
            hex.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
            hex.push(char::from(b"0123456789abcdef"[usize::from(byte & 15)]));
        }
        Digest { hex }
    }

    /// The 64 hex digits, without `sha256:`: the name of its file in the store.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The first 12 hex digits, as `docker images` shows them.
    pub fn short(&self) -> &str {
        &self.hex[..12]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Digest, D::Error> {
        let text = String::deserialize(d)?;
        Digest::parse(&text, "a record").map_err(serde::de::Error::custom)
    }
}

/// At most 80 characters of hostile text in a message.
fn shorten(text: &str) -> String {
    let mut out: String = text.chars().take(80).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out.escape_debug().to_string()
}

/// A reader that hashes and counts what passes through it, and refuses to
/// pass more than `limit` bytes (a blob larger than its descriptor says is
/// hostile: it must not fill the disk before the digest check fails).
pub struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    read: u64,
    limit: u64,
}

impl<R: Read> Hashing<R> {
    pub fn new(inner: R, limit: u64) -> Hashing<R> {
        Hashing { inner, hasher: Sha256::new(), read: 0, limit }
    }

    /// How many bytes have passed so far.
    pub fn count(&self) -> u64 {
        self.read
    }

    /// The digest and size of everything read; call at the end of the
    /// stream (read to EOF first: [`Hashing::drain`]).
    pub fn finish(self) -> (Digest, u64) {
        (Digest::from_hasher(self.hasher), self.read)
    }

    /// Read what is left (a tar stream ends before its padding, a
    /// compressed stream may carry trailing bytes: both are part of the blob).
    pub fn drain(&mut self) -> io::Result<u64> {
        io::copy(self, &mut io::sink())
    }

    /// Finish and compare with `expected`: the error names `what`, both
    /// digests, and that nothing of it was kept.
    pub fn verify(self, expected: &Digest, what: &str) -> Result<u64> {
        let (got, size) = self.finish();
        if got == *expected {
            Ok(size)
        } else {
            Err(SetupError::new(format!("verify {what}")).detail(format!(
                "its content is {got}, not {expected}: it was altered or damaged; nothing of it was kept"
            )))
        }
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("more than the {} bytes it was said to have", self.limit),
            ));
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_only_lowercase_sha256() {
        assert_eq!(Digest::parse(EMPTY, "x").unwrap().to_string(), EMPTY);
        for bad in ["sha512:abc", "sha256:../../etc", &EMPTY.to_uppercase(), &EMPTY[..70], "e3b0"] {
            assert!(Digest::parse(bad, "x").is_err(), "{bad}");
        }
    }

    #[test]
    fn hashing_verifies_and_limits() {
        let mut r = Hashing::new(&b""[..], 0);
        r.drain().unwrap();
        assert_eq!(r.verify(&Digest::parse(EMPTY, "x").unwrap(), "blob").unwrap(), 0);
        let mut r = Hashing::new(&b"abc"[..], 10);
        r.drain().unwrap();
        let err = r.verify(&Digest::parse(EMPTY, "x").unwrap(), "layer 1").unwrap_err();
        assert!(err.to_string().contains("altered"), "{err}");
        let mut r = Hashing::new(&b"abcd"[..], 3);
        assert!(r.drain().is_err());
    }
}
