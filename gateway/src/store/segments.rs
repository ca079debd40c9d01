//! Segment files: where the event chunks' bytes live. sled keeps only where each
//! chunk is ([`ChunkRef`], under the chunk's index key), the id and priority
//! indexes, the journal and the counters.
//!
//! Why not in sled: sled 0.34 keeps what it reads in memory well past its cache
//! size. Scanning 200 MB of chunks stored in sled raised a process's RSS by
//! 200 MB with an 8 MB cache, and the gateway grew to 160 MiB replicating a 1M
//! event backlog. Read with `pread` from here, the bytes stay in the OS page
//! cache, which the kernel can reclaim.
//!
//! Files are append-only, named by a counter, rotated at [`SEGMENT_BYTES`]. A
//! commit appends, fdatasyncs, and only then writes the index entries into sled,
//! so an index entry never points at bytes a power cut could take. Bytes after
//! a crash that no entry points to are dead weight until the segment is deleted.
//! A segment is deleted once compaction has removed every chunk in it and the
//! removal is durable.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// A segment is closed once it passes this size.
pub const SEGMENT_BYTES: u64 = 16 << 20;
const SUFFIX: &str = ".seg";

#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    #[error("event segment {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("event segment {segment} at {offset}: {detail}")]
    Corrupt { segment: u64, offset: u64, detail: String },
}

/// Where a chunk's bytes are, with their checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRef {
    pub segment: u64,
    pub offset: u64,
    pub len: u32,
    pub crc: u32,
}

impl ChunkRef {
    pub const ENCODED_LEN: usize = 24;

    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(Self::ENCODED_LEN);
        b.extend_from_slice(&self.segment.to_be_bytes());
        b.extend_from_slice(&self.offset.to_be_bytes());
        b.extend_from_slice(&self.len.to_be_bytes());
        b.extend_from_slice(&self.crc.to_be_bytes());
        b
    }

    pub fn decode(b: &[u8]) -> Option<Self> {
        Some(Self {
            segment: u64::from_be_bytes(b.get(..8)?.try_into().ok()?),
            offset: u64::from_be_bytes(b.get(8..16)?.try_into().ok()?),
            len: u32::from_be_bytes(b.get(16..20)?.try_into().ok()?),
            crc: u32::from_be_bytes(b.get(20..24)?.try_into().ok()?),
        })
    }
}

pub struct Segments {
    dir: PathBuf,
    inner: Mutex<Inner>,
}

struct Inner {
    active: Active,
    /// A segment is closed once it passes this size.
    segment_bytes: u64,
    /// Read handles, opened on first use; a deleted segment's is dropped.
    readers: HashMap<u64, Arc<File>>,
    /// Chunks the index points at, per segment.
    live: BTreeMap<u64, u64>,
}

struct Active {
    id: u64,
    file: File,
    len: u64,
}

impl Segments {
    /// Opens the directory, creating it and a first segment if needed. Appends
    /// continue in the newest segment.
    pub fn open(dir: &Path) -> Result<Self, SegmentError> {
        let io = |source| SegmentError::Io {
            path: dir.display().to_string(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut newest = None;
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let name = entry.map_err(io)?.file_name();
            if let Some(id) = name
                .to_str()
                .and_then(|n| n.strip_suffix(SUFFIX))
                .and_then(|n| n.parse::<u64>().ok())
            {
                newest = newest.max(Some(id));
            }
        }
        let active = open_active(dir, newest.unwrap_or(1))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            inner: Mutex::new(Inner {
                active,
                segment_bytes: SEGMENT_BYTES,
                readers: HashMap::new(),
                live: BTreeMap::new(),
            }),
        })
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends the chunks back to back (not synced: see [`Segments::sync`]). A
    /// full segment is synced and closed first, so that `sync` only ever has the
    /// active one left to do.
    pub fn append(&self, chunks: &[&[u8]]) -> Result<Vec<ChunkRef>, SegmentError> {
        let total: u64 = chunks.iter().map(|c| c.len() as u64).sum();
        let mut inner = self.inner();
        if inner.active.len > 0 && inner.active.len + total > inner.segment_bytes {
            let next = inner.active.id + 1;
            sync_file(&self.dir, &inner.active)?;
            inner.active = open_active(&self.dir, next)?;
        }
        let Active { id, file, len } = &mut inner.active;
        let mut buf = Vec::with_capacity(total as usize);
        let mut refs = Vec::with_capacity(chunks.len());
        for c in chunks {
            refs.push(ChunkRef {
                segment: *id,
                offset: *len + buf.len() as u64,
                len: c.len() as u32,
                crc: crc32fast::hash(c),
            });
            buf.extend_from_slice(c);
        }
        if let Err(source) = file.write_all_at(&buf, *len) {
            // Whatever part was written is unreferenced; continue after it.
            *len = file.metadata().map_or(*len + total, |m| m.len());
            return Err(SegmentError::Io {
                path: segment_path(&self.dir, *id).display().to_string(),
                source,
            });
        }
        *len += total;
        Ok(refs)
    }

    #[cfg(test)]
    pub fn set_segment_bytes(&self, n: u64) {
        self.inner().segment_bytes = n;
    }

    /// fdatasync of the active segment: everything appended so far is durable.
    pub fn sync(&self) -> Result<(), SegmentError> {
        let inner = self.inner();
        sync_file(&self.dir, &inner.active)
    }

    /// The chunk's bytes, checked against its checksum.
    pub fn read(&self, r: &ChunkRef) -> Result<Vec<u8>, SegmentError> {
        let file = {
            let mut inner = self.inner();
            match inner.readers.get(&r.segment) {
                Some(f) => f.clone(),
                None => {
                    let path = segment_path(&self.dir, r.segment);
                    let f = Arc::new(File::open(&path).map_err(|source| SegmentError::Io {
                        path: path.display().to_string(),
                        source,
                    })?);
                    inner.readers.insert(r.segment, f.clone());
                    f
                }
            }
        };
        let mut buf = vec![0; r.len as usize];
        file.read_exact_at(&mut buf, r.offset)
            .map_err(|e| SegmentError::Corrupt {
                segment: r.segment,
                offset: r.offset,
                detail: format!("reading {} bytes: {e}", r.len),
            })?;
        if crc32fast::hash(&buf) != r.crc {
            return Err(SegmentError::Corrupt {
                segment: r.segment,
                offset: r.offset,
                detail: "checksum mismatch".into(),
            });
        }
        Ok(buf)
    }

    /// The index now points at `r` (a new chunk, or one found at open).
    pub fn hold(&self, r: &ChunkRef) {
        *self.inner().live.entry(r.segment).or_default() += 1;
    }

    /// The index no longer points at `r`.
    pub fn release(&self, r: &ChunkRef) {
        let mut inner = self.inner();
        if let Some(n) = inner.live.get_mut(&r.segment) {
            *n = n.saturating_sub(1);
        }
    }

    /// Closed segments no chunk is held in. The caller makes the index removals
    /// durable before [`Segments::delete`]s them.
    pub fn unused(&self) -> Vec<u64> {
        let inner = self.inner();
        let active = inner.active.id;
        self.ids()
            .into_iter()
            .filter(|id| *id != active && inner.live.get(id).is_none_or(|n| *n == 0))
            .collect()
    }

    pub fn delete(&self, ids: &[u64]) -> Result<(), SegmentError> {
        let mut inner = self.inner();
        for id in ids {
            inner.readers.remove(id);
            inner.live.remove(id);
            let path = segment_path(&self.dir, *id);
            std::fs::remove_file(&path).map_err(|source| SegmentError::Io {
                path: path.display().to_string(),
                source,
            })?;
        }
        Ok(())
    }

    /// Bytes in all segment files.
    pub fn size_on_disk(&self) -> u64 {
        self.ids()
            .iter()
            .filter_map(|id| std::fs::metadata(segment_path(&self.dir, *id)).ok())
            .map(|m| m.len())
            .sum()
    }

    fn ids(&self) -> Vec<u64> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut ids: Vec<u64> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(SUFFIX)?.parse().ok())
            .collect();
        ids.sort_unstable();
        ids
    }
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}{SUFFIX}"))
}

fn open_active(dir: &Path, id: u64) -> Result<Active, SegmentError> {
    let path = segment_path(dir, id);
    let io = |source| SegmentError::Io {
        path: path.display().to_string(),
        source,
    };
    let existed = path.exists();
    let file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if !existed {
        // The new name must survive a power cut with the bytes written into it.
        File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    }
    Ok(Active { id, file, len })
}

fn sync_file(dir: &Path, active: &Active) -> Result<(), SegmentError> {
    active.file.sync_data().map_err(|source| SegmentError::Io {
        path: segment_path(dir, active.id).display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_read_back_after_reopen_and_a_flipped_byte_is_caught() {
        let dir = tempfile::tempdir().expect("tempdir");
        let refs = {
            let s = Segments::open(dir.path()).expect("open");
            let refs = s.append(&[b"first", b"second chunk"]).expect("append");
            s.sync().expect("sync");
            refs
        };
        let s = Segments::open(dir.path()).expect("reopen");
        assert_eq!(s.read(&refs[1]).expect("read"), b"second chunk");
        let more = s.append(&[b"third"]).expect("append");
        assert_eq!(more[0].offset, 17, "appends continue after what is there");
        assert_eq!(ChunkRef::decode(&refs[0].encode()), Some(refs[0]));

        let path = segment_path(dir.path(), refs[0].segment);
        let mut bytes = std::fs::read(&path).expect("read file");
        bytes[2] ^= 0xff;
        std::fs::write(&path, bytes).expect("write file");
        let s = Segments::open(dir.path()).expect("reopen");
        assert!(matches!(s.read(&refs[0]), Err(SegmentError::Corrupt { .. })));
    }

    #[test]
    fn a_full_segment_rotates_and_an_unused_one_can_be_deleted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Segments::open(dir.path()).expect("open");
        let big = vec![7u8; (SEGMENT_BYTES / 2 + 1) as usize];
        let a = s.append(&[&big]).expect("append")[0];
        let b = s.append(&[&big]).expect("append")[0];
        assert_eq!((a.segment, b.segment), (1, 2));
        s.hold(&a);
        s.hold(&b);
        assert!(s.unused().is_empty());
        s.release(&a);
        assert_eq!(s.unused(), vec![1]);
        s.delete(&[1]).expect("delete");
        assert_eq!(s.ids(), vec![2]);
        assert_eq!(s.read(&b).expect("read").len(), big.len());
    }
}
