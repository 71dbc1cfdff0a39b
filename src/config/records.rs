//! A zone file's records, packed: the data of a large zone held between reading it and
//! compiling the zone, in a few flat vectors instead of allocations per record.
//!
//! A zone file holds simple record sets only (no routing policy, no health check, one TTL per
//! set), so a set is an owner, a type, a TTL and its values. Owner names and RDATA sit one
//! after another in one byte vector; each set and each value is a small fixed-size entry. A
//! record costs its bytes plus about 16 here, where a record set of its own
//! ([`super::RrsetConfig`]) costs about 400 in several allocations; that difference is most
//! of what a reload of a large zone needs beside the old and the new zone data.

use std::path::{Path, PathBuf};

use hashbrown::HashTable;

/// The simple record sets one zone's file defines, in the order each was first seen.
#[derive(Debug, Clone, Default)]
pub struct FileRecords {
    /// Owner names (wire form, lowercase) and RDATA (wire form, names uncompressed).
    bytes: Vec<u8>,
    /// One entry per record set.
    sets: Vec<SetEntry>,
    /// Every value, set by set: set `i`'s values are `values[sets[i].values]`.
    values: Vec<Value>,
    /// The files read (the zone file, then what it includes), for messages.
    files: Vec<PathBuf>,
}

/// One record set: where its owner and values are, its type and TTL.
#[derive(Debug, Clone, Copy)]
struct SetEntry {
    /// Where the owner's wire form starts in `bytes`.
    owner: u32,
    /// The owner's length (a name is at most 255 bytes).
    owner_len: u8,
    /// Record type.
    rtype: u16,
    /// The set's TTL: the smallest of its records' (RFC 2181 section 5.2).
    ttl: u32,
    /// Its values: a range of `values` once built; while building, the number of values.
    first: u32,
    /// How many values.
    count: u32,
    /// Where its first record is: a file of `files`, and a line.
    file: u16,
    line: u32,
}

/// One value's RDATA in `bytes` (RDATA is at most 65,535 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Value {
    start: u32,
    len: u16,
}

/// One record set of a [`FileRecords`].
#[derive(Clone, Copy)]
pub struct FileSet<'a> {
    records: &'a FileRecords,
    set: SetEntry,
}

impl FileRecords {
    /// Number of record sets.
    pub fn len(&self) -> usize {
        self.sets.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    /// Number of records (values) over all sets.
    pub fn record_count(&self) -> usize {
        self.values.len()
    }

    /// The record set at `index` (in first-seen order).
    pub fn get(&self, index: usize) -> FileSet<'_> {
        FileSet { records: self, set: self.sets[index] }
    }

    /// Every record set, in first-seen order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = FileSet<'_>> + '_ {
        self.sets.iter().map(|&set| FileSet { records: self, set })
    }

    /// Bytes of owner names and RDATA held, to size what is built from them.
    pub fn data_bytes(&self) -> usize {
        self.bytes.len()
    }

    fn slice(&self, start: u32, len: usize) -> &[u8] {
        &self.bytes[start as usize..start as usize + len]
    }
}

impl<'a> FileSet<'a> {
    /// The owner name in wire form, lowercase.
    pub fn owner(&self) -> &'a [u8] {
        self.records.slice(self.set.owner, self.set.owner_len as usize)
    }

    /// The record type.
    pub fn rtype(&self) -> u16 {
        self.set.rtype
    }

    /// The set's TTL.
    pub fn ttl(&self) -> u32 {
        self.set.ttl
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.set.count as usize
    }

    /// Whether the set has no values (never true of a built set).
    pub fn is_empty(&self) -> bool {
        self.set.count == 0
    }

    /// Where its first record is: the file and the 1-based line.
    pub fn defined_at(&self) -> (&'a Path, u32) {
        let file = self.records.files.get(self.set.file as usize).map_or(Path::new(""), PathBuf::as_path);
        (file, self.set.line)
    }

    /// Each value's RDATA, in the order read.
    pub fn values(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + 'a {
        let records = self.records;
        let range = self.set.first as usize..(self.set.first + self.set.count) as usize;
        records.values[range].iter().map(move |v| records.slice(v.start, v.len as usize))
    }
}

/// Why a record could not be added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Full {
    /// The zone's data passed 4 GiB, past what offsets of 32 bits address.
    TooLarge,
}

/// Collects a zone file's records into a [`FileRecords`]: a value repeated in its set is kept
/// once, and the sets' values are grouped once everything is read.
#[derive(Default)]
pub struct FileRecordsBuilder {
    records: FileRecords,
    /// Each value with its set, in the order read.
    read: Vec<(u32, Value)>,
    /// Positions in `read`, hashed by set and RDATA, to find a repeated value in one probe.
    seen: HashTable<u32>,
}

impl FileRecordsBuilder {
    /// Room for about `records` more records.
    pub fn reserve(&mut self, records: usize) {
        self.records.sets.reserve(records);
        self.read.reserve(records);
        let (read, bytes) = (&self.read, &self.records.bytes);
        self.seen.reserve(records, |&i| value_hash(read[i as usize], bytes));
    }

    /// The set at `index` so far: its owner, type and TTL (its values are grouped only by
    /// [`FileRecordsBuilder::finish`]).
    pub fn owner_and_type(&self, index: u32) -> (&[u8], u16) {
        let set = &self.records.sets[index as usize];
        (self.records.slice(set.owner, set.owner_len as usize), set.rtype)
    }

    /// A file about to be read: the records added after this, until the next, are in it
    /// (as [`Self::add_set`]'s `file` says, counting from 0).
    pub fn add_file(&mut self, path: PathBuf) {
        self.records.files.push(path);
    }

    /// Adds a new, empty record set, first seen at `line` of file `file`; returns its index.
    pub fn add_set(&mut self, owner: &[u8], rtype: u16, ttl: u32, (file, line): (u16, u32)) -> Result<u32, Full> {
        let owner_at = self.push_bytes(owner)?;
        let index = u32::try_from(self.records.sets.len()).map_err(|_| Full::TooLarge)?;
        let owner_len = u8::try_from(owner.len()).map_err(|_| Full::TooLarge)?;
        let set = SetEntry { owner: owner_at, owner_len, rtype, ttl, first: 0, count: 0, file, line };
        self.records.sets.push(set);
        Ok(index)
    }

    /// Adds a value to set `set` (lowering the set's TTL to `ttl` if smaller); a value the
    /// set already holds is not added again. Returns whether it was new.
    pub fn add_value(&mut self, set: u32, ttl: u32, rdata: &[u8]) -> Result<bool, Full> {
        let entry = &mut self.records.sets[set as usize];
        entry.ttl = entry.ttl.min(ttl);
        let len = u16::try_from(rdata.len()).map_err(|_| Full::TooLarge)?;
        let (read, bytes) = (&self.read, &self.records.bytes);
        let hash = hash_of(set, rdata);
        let same = |&i: &u32| {
            let (s, v) = read[i as usize];
            s == set && &bytes[v.start as usize..v.start as usize + v.len as usize] == rdata
        };
        if self.seen.find(hash, same).is_some() {
            return Ok(false);
        }
        let start = self.push_bytes(rdata)?;
        let at = u32::try_from(self.read.len()).map_err(|_| Full::TooLarge)?;
        self.read.push((set, Value { start, len }));
        self.records.sets[set as usize].count += 1;
        let (read, bytes) = (&self.read, &self.records.bytes);
        self.seen.insert_unique(hash, at, |&i| value_hash(read[i as usize], bytes));
        Ok(true)
    }

    fn push_bytes(&mut self, data: &[u8]) -> Result<u32, Full> {
        let at = u32::try_from(self.records.bytes.len()).map_err(|_| Full::TooLarge)?;
        if self.records.bytes.len() + data.len() > u32::MAX as usize {
            return Err(Full::TooLarge);
        }
        self.records.bytes.extend_from_slice(data);
        Ok(at)
    }

    /// Groups each set's values together (a counting sort, keeping the order read) and hands
    /// out the records.
    pub fn finish(self) -> FileRecords {
        let FileRecordsBuilder { mut records, read, seen } = self;
        drop(seen);
        let mut next = 0u32;
        for set in &mut records.sets {
            set.first = next;
            next += set.count;
        }
        let mut values = vec![Value { start: 0, len: 0 }; read.len()];
        let mut fill: Vec<u32> = records.sets.iter().map(|s| s.first).collect();
        for (set, value) in read {
            let slot = &mut fill[set as usize];
            values[*slot as usize] = value;
            *slot += 1;
        }
        records.values = values;
        records.sets.shrink_to_fit();
        records.bytes.shrink_to_fit();
        records
    }
}

fn hash_of(set: u32, rdata: &[u8]) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one((set, rdata))
}

fn value_hash((set, value): (u32, Value), bytes: &[u8]) -> u64 {
    hash_of(set, &bytes[value.start as usize..value.start as usize + value.len as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_grouped_by_set_in_the_order_read_and_kept_once() {
        let mut b = FileRecordsBuilder::default();
        b.add_file(PathBuf::from("z"));
        let www = b.add_set(b"\x03www\x00", 1, 300, (0, 4)).unwrap();
        assert_eq!(b.add_value(www, 300, &[192, 0, 2, 1]), Ok(true));
        let mail = b.add_set(b"\x04mail\x00", 1, 60, (0, 5)).unwrap();
        assert_eq!(b.add_value(mail, 60, &[192, 0, 2, 9]), Ok(true));
        assert_eq!(b.add_value(www, 120, &[192, 0, 2, 2]), Ok(true));
        // The same value again: kept once, but its TTL still counts.
        assert_eq!(b.add_value(www, 30, &[192, 0, 2, 1]), Ok(false));
        // The same RDATA in another set is another value.
        assert_eq!(b.add_value(mail, 60, &[192, 0, 2, 1]), Ok(true));
        assert_eq!(b.owner_and_type(mail), (&b"\x04mail\x00"[..], 1));
        let records = b.finish();
        assert_eq!(records.len(), 2);
        assert_eq!(records.record_count(), 4);
        type Set = (Vec<u8>, u16, u32, Vec<Vec<u8>>);
        let sets: Vec<Set> = records
            .iter()
            .map(|s| (s.owner().to_vec(), s.rtype(), s.ttl(), s.values().map(<[u8]>::to_vec).collect()))
            .collect();
        assert_eq!(
            sets,
            vec![
                (b"\x03www\x00".to_vec(), 1, 30, vec![vec![192, 0, 2, 1], vec![192, 0, 2, 2]]),
                (b"\x04mail\x00".to_vec(), 1, 60, vec![vec![192, 0, 2, 9], vec![192, 0, 2, 1]]),
            ]
        );
        assert_eq!(records.get(1).len(), 2);
        assert_eq!(records.get(1).defined_at(), (Path::new("z"), 5));
    }

    #[test]
    fn an_empty_builder_gives_no_sets() {
        let records = FileRecordsBuilder::default().finish();
        assert!(records.is_empty());
        assert_eq!(records.iter().count(), 0);
    }
}
