//! Cache files: one value serialized under a key, written atomically, with an integrity
//! trailer. Shared by the cached catalog reading of a kept desired database
//! (`shadow::reading`) and the cached parse of schema files (`source::cache`).
//!
//! Format: the caller's magic line (naming what the file holds and the format's version), then
//! [postcard](https://docs.rs/postcard) of the key (a string) and of the value, then the
//! SHA-256 of everything after the magic line. postcard is compact and fast, and handles maps
//! keyed by tuples and ids, which JSON cannot.
//!
//! A file is used only when it is complete and unchanged (its last 32 bytes are the SHA-256 of
//! what comes before them: a truncated or damaged file fails this before anything is
//! decoded; the file is hashed in one pass and decoded in a second, never held in memory
//! whole), its key is the one asked for (compared before the value is decoded) and it
//! decodes. Anything else reads as "no file": a cache is never a source of errors, only of
//! speed.
//!
//! Writing goes to a temporary file in the same folder, renamed over the final name when
//! complete: a reader sees the old file or the new one, never a part. Two runs writing the
//! same file at once each rename a complete file; the last one stays.

use std::io::{BufWriter, Read, Write};
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Which build of schemaplan this is (`build.rs`: a digest of its whole source and of
/// `Cargo.lock`, so also of the crates' versions): part of every cache key.
pub const SOURCE_DIGEST: &str = env!("SCHEMAPLAN_SOURCE_DIGEST");

/// The key and value of the file at `path` whatever its key, when it starts with `magic`, is
/// complete and decodes.
pub fn read_any<T: DeserializeOwned>(path: &Path, magic: &[u8]) -> Option<(String, T)> {
    read_if(path, magic, |_| true).map(|(k, v, _)| (k, v))
}

/// The value of the file at `path` when its key is `key` (see [`read_any`]); a file of another
/// key is not decoded past the key.
pub fn read<T: DeserializeOwned>(path: &Path, magic: &[u8], key: &str) -> Option<T> {
    read_if(path, magic, |k| k == key).map(|(_, v, _)| v)
}

/// [`read`], with the file's integrity digest (its last 32 bytes, what [`write`] returned):
/// another file can be keyed by it to belong to exactly this one.
pub fn read_digested<T: DeserializeOwned>(
    path: &Path,
    magic: &[u8],
    key: &str,
) -> Option<(T, [u8; 32])> {
    read_if(path, magic, |k| k == key).map(|(_, v, d)| (v, d))
}

/// The integrity digest the file at `path` ends with (what [`read_digested`] gives once it
/// checked it), read without the rest: to find a file keyed by this one before this one is
/// decoded. Only what the file says: whoever uses the file itself checks it.
pub fn stated_digest(path: &Path, magic: &[u8]) -> Option<[u8; 32]> {
    use std::io::{Seek, SeekFrom};
    let mut file = std::fs::File::open(path).ok()?;
    let mut head = vec![0u8; magic.len()];
    file.read_exact(&mut head).ok()?;
    if head != magic {
        return None;
    }
    file.seek(SeekFrom::End(-32)).ok()?;
    let mut digest = [0u8; 32];
    file.read_exact(&mut digest).ok()?;
    Some(digest)
}

/// The file is read twice through one handle (the same file, even if a writer renames another
/// over its name meanwhile), never held whole: once to check its digest, then decoded as it
/// is read. At 5,000 tables a catalog reading is tens of MiB, which held beside the schema
/// decoded from it (and the live schema `drift` and `plan` hold then) would raise their peak
/// memory.
fn read_if<T: DeserializeOwned>(
    path: &Path,
    magic: &[u8],
    wanted: impl FnOnce(&str) -> bool,
) -> Option<(String, T, [u8; 32])> {
    use std::io::{BufReader, Seek};
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let payload = len.checked_sub((magic.len() + 32) as u64)?;
    // First pass: the magic, then the digest of everything before the last 32 bytes.
    let mut reader = BufReader::new(&mut file);
    let mut head = vec![0u8; magic.len()];
    reader.read_exact(&mut head).ok()?;
    if head != magic {
        return None;
    }
    let mut hashing = HashingReader {
        inner: (&mut reader).take(payload),
        hash: Sha256::new(),
    };
    if std::io::copy(&mut hashing, &mut std::io::sink()).ok()? != payload {
        return None;
    }
    let computed = hashing.hash.finalize();
    let mut digest = [0u8; 32];
    reader.read_exact(&mut digest).ok()?;
    if computed.as_slice() != digest {
        return None;
    }
    drop(reader);
    // Second pass: decode from after the magic, the key first (a file of another key is not
    // decoded further). Owned texts and bytes are read through a buffer that grows to the
    // longest of them ([`Stream`]); a text lent for the decoding (`deserialize_str`, which
    // no type here asks for: `model::Name` does not) takes its own part of a scratch that
    // must hold them all: 64 KiB, or the whole payload on a second try.
    let mut wanted = Some(wanted);
    for room in [64 << 10, payload as usize] {
        file.seek(std::io::SeekFrom::Start(magic.len() as u64))
            .ok()?;
        let body = BufReader::new(&mut file).take(payload);
        let mut scratch = vec![0u8; room.min(payload as usize)];
        let mut de = postcard::Deserializer::from_flavor(Stream {
            reader: body,
            lent: &mut scratch[..],
            owned: Vec::new(),
            payload: payload as usize,
        });
        let key = String::deserialize(&mut de).ok()?;
        if let Some(w) = wanted.take() {
            if !w(&key) {
                return None;
            }
        }
        // Names decoded inside an interning scope share their text, as in the schema that
        // was written (`model::name`).
        match crate::model::interning(|| T::deserialize(&mut de)) {
            Ok(value) => return Some((key, value, digest)),
            // The scratch ran out (the file is complete: its digest matched) and a bigger one
            // is left to try; any other error would only repeat.
            Err(postcard::Error::DeserializeUnexpectedEnd) if room < payload as usize => {
                crate::timings::note(&format!(
                    "{} lends texts over {} KiB: decoded again with a scratch of {} KiB",
                    path.display(),
                    room >> 10,
                    payload >> 10
                ));
            }
            Err(_) => return None,
        }
    }
    None
}

/// postcard's reader of a stream (as `postcard::from_io`'s), but for owned texts and bytes
/// (`String`s, `model::Name`s, byte strings: what the values here are made of), read into a
/// buffer of their own that grows to the longest one and is reused. `from_io` reads them
/// through its fixed scratch, which must hold the longest: the cached parse of schema files
/// holds a file's statements as one byte string (hundreds of KiB for a big file), so its
/// decoding ran out of 64 KiB at the first big file and started again with a scratch of the
/// whole payload (~20 MiB at 5,000 tables: the decoding done twice, issue 9). Texts lent
/// for the decoding take their own part of `lent`, as with `from_io`.
struct Stream<'de, R: Read> {
    reader: R,
    lent: &'de mut [u8],
    owned: Vec<u8>,
    /// The payload's length: no text is longer (a length past it is an error, not room).
    payload: usize,
}

impl<'de, R: Read + 'de> postcard::de_flavors::Flavor<'de> for Stream<'de, R> {
    type Remainder = ();
    type Source = ();

    fn pop(&mut self) -> postcard::Result<u8> {
        let mut byte = [0u8; 1];
        self.reader
            .read_exact(&mut byte)
            .map_err(|_| postcard::Error::DeserializeUnexpectedEnd)?;
        Ok(byte[0])
    }

    fn try_take_n(&mut self, ct: usize) -> postcard::Result<&'de [u8]> {
        if ct > self.lent.len() {
            return Err(postcard::Error::DeserializeUnexpectedEnd);
        }
        let (taken, rest) = std::mem::take(&mut self.lent).split_at_mut(ct);
        self.lent = rest;
        self.reader
            .read_exact(taken)
            .map_err(|_| postcard::Error::DeserializeUnexpectedEnd)?;
        Ok(taken)
    }

    fn try_take_n_temp<'a>(&'a mut self, ct: usize) -> postcard::Result<&'a [u8]>
    where
        'de: 'a,
    {
        if ct > self.payload {
            return Err(postcard::Error::DeserializeUnexpectedEnd);
        }
        if self.owned.len() < ct {
            self.owned.resize(ct, 0);
        }
        let buf = &mut self.owned[..ct];
        self.reader
            .read_exact(buf)
            .map_err(|_| postcard::Error::DeserializeUnexpectedEnd)?;
        Ok(buf)
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Reads through `inner` and hashes what it read.
struct HashingReader<R: Read> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// Writes `value` under `key` to `path` (in `folder`, made if missing) atomically: a
/// temporary file named `{temp_prefix}...` in the same folder, renamed over `path` once
/// complete. Gives the file's integrity digest (see [`read_digested`]).
pub fn write<T: Serialize + ?Sized>(
    folder: &Path,
    path: &Path,
    magic: &[u8],
    temp_prefix: &str,
    key: &str,
    value: &T,
) -> std::io::Result<[u8; 32]> {
    std::fs::create_dir_all(folder)?;
    let tmp = tempfile::Builder::new()
        .prefix(temp_prefix)
        .tempfile_in(folder)?;
    let mut out = HashingWriter {
        inner: BufWriter::new(tmp),
        hash: Sha256::new(),
    };
    out.inner.write_all(magic)?;
    postcard::to_io(key, &mut out).map_err(std::io::Error::other)?;
    postcard::to_io(value, &mut out).map_err(std::io::Error::other)?;
    let digest = out.hash.finalize();
    let mut inner = out.inner;
    inner.write_all(&digest)?;
    let tmp = inner.into_inner().map_err(|e| e.into_error())?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(digest.into())
}

/// Whether `entry` is a temporary file (named `{temp_prefix}...`) a killed run left behind:
/// older than an hour (a younger one may be a write in progress).
pub fn stale_temporary(entry: &std::fs::DirEntry, temp_prefix: &str) -> bool {
    entry.file_name().to_string_lossy().starts_with(temp_prefix)
        && entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age.as_secs() > 3600)
}

/// Writes through to `inner` and hashes what it wrote.
struct HashingWriter<W: Write> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    /// Owned texts longer than the 64 KiB scratch (a long view or function body, a big
    /// file's statements in the source cache) and more of them than it holds decode in one
    /// pass: postcard's own stream reader, with that scratch, runs out (and the file was
    /// decoded again with a scratch of its whole payload).
    #[test]
    fn owned_texts_longer_than_the_scratch_decode_in_one_pass() {
        use serde::Deserialize;
        let value = (
            vec![
                "x".repeat(100 << 10),
                "y".repeat(200 << 10),
                "z".repeat(50 << 10),
            ],
            7u32,
        );
        let bytes = postcard::to_stdvec(&value).unwrap();
        let mut lent = vec![0u8; 64 << 10];
        let mut de = postcard::Deserializer::from_flavor(super::Stream {
            reader: &bytes[..],
            lent: &mut lent[..],
            owned: Vec::new(),
            payload: bytes.len(),
        });
        let back = <(Vec<String>, u32)>::deserialize(&mut de).unwrap();
        assert_eq!(back, value);
        let mut scratch = vec![0u8; 64 << 10];
        let io = postcard::from_io::<(Vec<String>, u32), _>((&bytes[..], &mut scratch[..]));
        assert!(
            io.is_err(),
            "postcard's reader now takes long texts: Stream may go"
        );
    }

    /// A text longer than the first pass's 64 KiB scratch (a long view or function body)
    /// decodes; a file holding another type reads as no file.
    #[test]
    fn a_text_over_the_first_scratch_decodes_and_another_type_reads_as_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("value");
        let long = "x".repeat(100 << 10);
        let value = (vec!["short".to_string(), long.clone()], 7u32);
        super::write(dir.path(), &path, b"test 1\n", "tmp", "key", &value).unwrap();
        let back: Option<(Vec<String>, u32)> = super::read(&path, b"test 1\n", "key");
        assert_eq!(back, Some(value));
        let other: Option<(bool, bool)> = super::read(&path, b"test 1\n", "key");
        assert_eq!(other, None);
        let wrong_key: Option<(Vec<String>, u32)> = super::read(&path, b"test 1\n", "other");
        assert_eq!(wrong_key, None);
    }
}
