//! The tagged key hasher (BLAKE3: a cryptographic hash, several times faster than
//! SHA-256 on the inputs a hit hashes). Every ingredient goes in as (tag, value), both length-prefixed,
//! so that `-I -O2` and `-I-O2`, or an argument and a file's content, can never collide.
//! At debug level each ingredient is logged (values shortened), which answers the question
//! "why did this miss?" from the log alone. Which ingredients a key has is decided by the
//! pipeline and the compiler front ends; the list is documented in docs/how-it-works.md.

use std::fmt;

/// A 256-bit cache key or content digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(pub [u8; 32]);

impl Key {
    pub fn hex(&self) -> String {
        crate::util::hex(&self.0)
    }

    /// Parse 64 lower-case hex digits.
    pub fn from_hex(s: &str) -> Option<Key> {
        if s.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
            let hi = (chunk[0] as char).to_digit(16)?;
            let lo = (chunk[1] as char).to_digit(16)?;
            out[i] = (hi * 16 + lo) as u8;
        }
        Some(Key(out))
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

/// Digest of a byte string.
pub fn digest(data: &[u8]) -> Key {
    Key(*blake3::hash(data).as_bytes())
}

pub struct KeyHasher {
    h: blake3::Hasher,
    name: &'static str,
    log: bool,
}

impl KeyHasher {
    /// `name` says which key this is in the log ("result", "identity"...).
    pub fn new(name: &'static str) -> KeyHasher {
        KeyHasher {
            h: blake3::Hasher::new(),
            name,
            log: log::log_enabled!(log::Level::Debug),
        }
    }

    pub fn field(&mut self, tag: &str, value: &[u8]) {
        if self.log {
            let shown = String::from_utf8_lossy(&value[..value.len().min(120)]);
            log::debug!(
                "{} key: {tag} = {:?}{}",
                self.name,
                shown,
                if value.len() > 120 { "..." } else { "" }
            );
        }
        self.h.update(&(tag.len() as u64).to_le_bytes());
        self.h.update(tag.as_bytes());
        self.h.update(&(value.len() as u64).to_le_bytes());
        self.h.update(value);
    }

    pub fn str(&mut self, tag: &str, value: &str) {
        self.field(tag, value.as_bytes())
    }

    /// A large value (preprocessed text, file contents): logged by digest, not content.
    pub fn blob(&mut self, tag: &str, value: &[u8]) {
        let d = digest(value);
        if self.log {
            log::debug!(
                "{} key: {tag} = <{} bytes, blake3 {}>",
                self.name,
                value.len(),
                d.hex()
            );
        }
        self.h.update(&(tag.len() as u64).to_le_bytes());
        self.h.update(tag.as_bytes());
        self.h.update(&d.0);
    }

    pub fn finish(self) -> Key {
        Key(*self.h.finalize().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(fields: &[(&str, &str)]) -> Key {
        let mut h = KeyHasher::new("test");
        for (t, v) in fields {
            h.str(t, v);
        }
        h.finish()
    }

    #[test]
    fn fields_are_delimited() {
        assert_ne!(
            key(&[("arg", "-I"), ("arg", "-O2")]),
            key(&[("arg", "-I-O2")])
        );
        assert_ne!(key(&[("arg", "ab")]), key(&[("ar", "gab")]));
        assert_eq!(key(&[("arg", "x")]), key(&[("arg", "x")]));
    }

    #[test]
    fn hex_round_trip() {
        let k = digest(b"hello");
        assert_eq!(Key::from_hex(&k.hex()), Some(k));
        assert_eq!(Key::from_hex("zz"), None);
    }
}
