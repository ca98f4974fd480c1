//! Fingerprints of live schemas kept between runs (issue 9). A plan fingerprints the live
//! schema it starts from (its `from`, with the object digests): ~0.5 s of client CPU at 5,000
//! tables on every plan, while the live database has mostly not changed since the last one.
//!
//! A fingerprint is kept under the digest of the catalog rows its schema was built from
//! ([`super::read_digested`]) and the build of schemaplan (`cachefile::SOURCE_DIGEST`): equal
//! rows build equal schemas, so a kept fingerprint is exactly the one computing it would give.
//! One file per live database, named by a digest of its URL without the password
//! (`db::redact`: the file name holds nothing a reader of the cache folder could test a
//! password against); it holds the last fingerprint made there. Anything but an exact match
//! (other rows, another build, a damaged file: `cachefile`) is computed afresh and kept.

use std::path::{Path, PathBuf};

use super::Digests;
use crate::model::Schema;

/// The first line of a kept fingerprint's file (what it is, and the format's version).
const MAGIC: &[u8] = b"schemaplan live fingerprint v1\n";

/// Temporary files of a write in progress (`cachefile::write`).
const TEMP_PREFIX: &str = ".fingerprint-";

/// Where the fingerprints of one live database are kept.
#[derive(Clone)]
pub struct Place {
    folder: PathBuf,
    file: PathBuf,
}

impl Place {
    /// The file of the live database at `url` in `folder`.
    pub fn new(folder: &Path, url: &str) -> Place {
        use sha2::{Digest, Sha256};
        let name: String = Sha256::digest(crate::db::redact(url).as_bytes())
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect();
        Place {
            folder: folder.to_path_buf(),
            file: folder.join(format!("{name}.fingerprint")),
        }
    }
}

/// The key of the fingerprint of a schema built from rows of digest `rows`.
fn key(rows: &str) -> String {
    format!("{} {rows}", crate::cachefile::SOURCE_DIGEST)
}

/// The fingerprint and object digests kept at `place` for a schema built from rows of digest
/// `rows`; `None` when there are none for exactly these rows.
pub fn kept(place: &Place, rows: &str) -> Option<(String, Digests)> {
    crate::timings::stage("kept fingerprint", || {
        crate::cachefile::read(&place.file, MAGIC, &key(rows))
    })
}

/// Keeps `value`, the fingerprint and object digests of a schema built from rows of digest
/// `rows`, at `place`. Best effort: a cache that cannot be written is only slower.
fn keep(place: &Place, rows: &str, value: &(String, Digests)) {
    let _ = crate::cachefile::write(
        &place.folder,
        &place.file,
        MAGIC,
        TEMP_PREFIX,
        &key(rows),
        value,
    );
}

/// [`super::fingerprint_and_digests`] of `schema`, a live schema built from rows of digest
/// `rows` (`None`: not known, computed): the kept ones at `place` when there are, else
/// computed and kept there.
pub fn of_live(schema: &Schema, rows: Option<&str>, place: Option<&Place>) -> (String, Digests) {
    let (Some(rows), Some(place)) = (rows, place) else {
        return super::fingerprint_and_digests(schema);
    };
    kept(place, rows).unwrap_or_else(|| computed(schema, rows, Some(place)))
}

/// [`super::fingerprint_and_digests`] of `schema`, built from rows of digest `rows`, kept at
/// `place` for the next run.
pub fn computed(schema: &Schema, rows: &str, place: Option<&Place>) -> (String, Digests) {
    let value = super::fingerprint_and_digests(schema);
    if let Some(place) = place {
        keep(place, rows, &value);
    }
    value
}

#[cfg(test)]
mod tests {
    use super::Place;
    use std::path::Path;

    #[test]
    fn a_place_is_named_by_the_url_without_its_password() {
        let folder = Path::new("/cache/fingerprints");
        let name = |url: &str| Place::new(folder, url).file;
        let a = name("postgres://app:s3cret@db.example/orders");
        assert_eq!(a, name("postgres://app:other@db.example/orders"));
        assert_ne!(a, name("postgres://app:s3cret@db.example/billing"));
        assert!(a.starts_with(folder));
        for url in [
            "postgres://app:s3cret@db.example/orders",
            "host=db.example dbname=orders password=s3cret",
        ] {
            let file = name(url).to_string_lossy().to_string();
            assert!(
                !file.contains("s3cret") && !file.contains("example"),
                "{file}"
            );
        }
        assert_eq!(
            name("host=db.example dbname=orders password=s3cret"),
            name("host=db.example dbname=orders password=other")
        );
    }
}
