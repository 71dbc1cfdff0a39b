//! Compressed names inside RDATA (RFC 1035 section 4.1.4): the writer's side. Which names may be
//! compressed, and against what, is worked out when a zone is built (`crate::zone`); here a
//! record is written with the cuts it is given ([`Writer::push_names`]), or a block of records
//! prepared whole is copied and its pointers filled in ([`Writer::push_block`]).

use super::{copy_small, Full, Owner, Section, Writer, CLASS_IN, HEADER_LEN};

/// Highest message offset a compression pointer can reach (a pointer has 14 bits).
pub const MAX_POINTER: usize = 0x3FFF;

/// A name inside RDATA as [`Writer::push_names`] writes it: its first `keep` bytes (whole
/// labels), then, unless it keeps them all, a compression pointer to `pointer`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NameCut {
    /// Offset of the name in the RDATA.
    pub at: usize,
    /// Its length written in full.
    pub len: usize,
    /// How many of its bytes are written before the pointer (`len`: all, and no pointer).
    pub keep: usize,
    /// Where the pointer points: an earlier name, or suffix of one, in the message.
    pub pointer: u16,
}

/// A compression pointer that a [`Block`] has filled in when it is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Patch {
    /// Where the pointer goes in the block.
    at: u16,
    /// With [`Patch::INSIDE`], the block offset it points to; without, the length of the
    /// suffix of the question name it points to.
    target: u16,
}

impl Patch {
    /// The flag of a pointer into the block itself.
    const INSIDE: u16 = 0x8000;

    /// At offset `at` of a block, a pointer to the suffix of `len` bytes of the question's
    /// name (a suffix of every name the block's zone answers for, such as its origin).
    pub fn question(at: usize, len: usize) -> Option<Patch> {
        Some(Patch { at: u16::try_from(at).ok()?, target: u16::try_from(len).ok().filter(|&l| l < Patch::INSIDE)? })
    }

    /// At offset `at` of a block, a pointer to offset `offset` of the same block.
    pub fn inside(at: usize, offset: usize) -> Option<Patch> {
        let offset = u16::try_from(offset).ok().filter(|&o| o as usize <= MAX_POINTER)?;
        Some(Patch { at: u16::try_from(at).ok()?, target: offset | Patch::INSIDE })
    }
}

/// Records prepared whole (owner pointer slot, TYPE through RDATA, each), copied into a
/// response with [`Writer::push_block`], which fills in their compression pointers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Block {
    /// The records; then where the pointers to the question name's suffix of `common` bytes
    /// go (2 bytes each, native order), the most usual pointer (every owner's is one); then
    /// the other patches, [`PATCH_BYTES`] each. One allocation: a zone keeps two blocks, and
    /// a server may serve many thousands of zones.
    data: Box<[u8]>,
    /// Bytes of records at the start of `data`.
    len: u16,
    /// The suffix length of the common pointers, and how many there are.
    common: u16,
    commons: u16,
    count: u16,
    /// The farthest offset inside the block a pointer points to (0: none does).
    reach: u16,
}

/// Bytes a [`Patch`] takes in a [`Block`]: where, then the target, native order.
const PATCH_BYTES: usize = 4;

impl Block {
    /// A block of `count` records, `bytes`, whose pointers `patches` fill in; `None` when a
    /// patch lies outside the bytes, or the bytes do not fit a message.
    pub fn new(bytes: Vec<u8>, patches: Vec<Patch>, count: u16) -> Option<Block> {
        let len = u16::try_from(bytes.len()).ok()?;
        if patches.iter().any(|p| p.at as usize + 2 > bytes.len()) {
            return None;
        }
        // The pointers into the question to the suffix most of them point at are filled in
        // with one value.
        let question = patches.iter().filter(|p| p.target & Patch::INSIDE == 0);
        let common = question
            .clone()
            .max_by_key(|p| (patches.iter().filter(|q| q.target == p.target).count(), p.target))
            .map_or(0, |p| p.target);
        let (commons, others): (Vec<Patch>, Vec<Patch>) =
            patches.into_iter().partition(|p| p.target == common && p.target & Patch::INSIDE == 0);
        let reach = others.iter().filter(|p| p.target & Patch::INSIDE != 0).map(|p| p.target & !Patch::INSIDE);
        let reach = reach.max().unwrap_or(0);
        let mut data = bytes;
        data.reserve_exact(commons.len() * 2 + others.len() * PATCH_BYTES);
        for patch in &commons {
            data.extend_from_slice(&patch.at.to_ne_bytes());
        }
        for patch in &others {
            data.extend_from_slice(&patch.at.to_ne_bytes());
            data.extend_from_slice(&patch.target.to_ne_bytes());
        }
        Some(Block { data: data.into_boxed_slice(), len, common, commons: commons.len() as u16, count, reach })
    }

    /// Records in the block.
    pub fn count(&self) -> u16 {
        self.count
    }

    /// Whether the block holds no record.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The farthest offset inside the block one of its pointers points to (0: none does).
    #[inline]
    pub fn reach(&self) -> usize {
        self.reach as usize
    }

    /// The block's records, with their pointers not filled in.
    pub fn bytes(&self) -> &[u8] {
        &self.data[..self.len as usize]
    }
}

impl Writer<'_> {
    /// Appends a stored record (TYPE, CLASS, TTL, RDLENGTH, RDATA with its names in full)
    /// under `owner`, with the names `names` lists (in RDATA order) cut as they say and the
    /// RDLENGTH to match, and its TTL replaced with `ttl` when given. Returns the offset of the
    /// RDATA in the message.
    #[inline]
    pub fn push_names(
        &mut self,
        section: Section,
        owner: Owner<'_>,
        record: &[u8],
        ttl: Option<u32>,
        names: &[NameCut],
    ) -> Result<usize, Full> {
        let (head, rdata) = record.split_at(10);
        let saved: usize = names.iter().filter(|n| n.keep < n.len).map(|n| n.len - n.keep - 2).sum();
        let rdlen = rdata.len() - saved;
        let owner_len = owner.wire_len();
        let start = self.pos;
        let rdata_at = start + owner_len + 10;
        let end = rdata_at + rdlen;
        if end > self.limit {
            return Err(Full);
        }
        let dst = &mut self.buf[start..end];
        match owner {
            Owner::Pointer(offset) => dst[..2].copy_from_slice(&(0xC000 | offset).to_be_bytes()),
            Owner::Wire(wire) => dst[..owner_len].copy_from_slice(wire),
        }
        let dst = &mut dst[owner_len..];
        dst[..8].copy_from_slice(&head[..8]);
        if let Some(ttl) = ttl {
            dst[4..8].copy_from_slice(&ttl.to_be_bytes());
        }
        dst[8..10].copy_from_slice(&(rdlen as u16).to_be_bytes());
        let dst = &mut dst[10..];
        let (mut from, mut to) = (0, 0);
        for name in names {
            let kept = name.at + name.keep;
            copy_small(&mut dst[to..to + kept - from], &rdata[from..kept]);
            to += kept - from;
            if name.keep < name.len {
                dst[to..to + 2].copy_from_slice(&(0xC000 | name.pointer).to_be_bytes());
                to += 2;
            }
            from = name.at + name.len;
        }
        if from < rdata.len() {
            copy_small(&mut dst[to..], &rdata[from..]);
        }
        self.pos = end;
        self.counts[section as usize] += 1;
        Ok(rdata_at)
    }

    /// Appends the first `keep` bytes of a stored record (TYPE, CLASS, TTL, RDLENGTH, RDATA
    /// whose last item is a name) under `owner`, then, when given, a compression pointer to
    /// `pointer` in place of the rest of the name, with the RDLENGTH to match and the TTL
    /// replaced with `ttl` when given. Returns the offset of the RDATA in the message.
    #[inline(always)]
    pub fn push_cut(
        &mut self,
        section: Section,
        owner: Owner<'_>,
        record: &[u8],
        keep: usize,
        pointer: Option<u16>,
        ttl: Option<u32>,
    ) -> Result<usize, Full> {
        let owner_len = owner.wire_len();
        let tail = if pointer.is_some() { 2 } else { 0 };
        let start = self.pos;
        let end = start + owner_len + keep + tail;
        if end > self.limit || !(10..=record.len()).contains(&keep) {
            return Err(Full);
        }
        let dst = &mut self.buf[start..end];
        let (head, rest) = dst.split_at_mut(owner_len);
        match owner {
            Owner::Pointer(offset) => head.copy_from_slice(&(0xC000 | offset).to_be_bytes()),
            Owner::Wire(wire) => head.copy_from_slice(wire),
        }
        // TYPE through the labels kept in one move, then the fields that change.
        let (kept, end_pointer) = rest.split_at_mut(keep);
        copy_small(kept, &record[..keep]);
        if let Some(ttl) = ttl {
            kept[4..8].copy_from_slice(&ttl.to_be_bytes());
        }
        kept[8..10].copy_from_slice(&((keep - 10 + tail) as u16).to_be_bytes());
        if let Some(pointer) = pointer {
            end_pointer.copy_from_slice(&(0xC000 | pointer).to_be_bytes());
        }
        self.pos = end;
        self.counts[section as usize] += 1;
        Ok(start + owner_len + 10)
    }

    /// Appends a record owned by `owner` (uncompressed wire form, lowercase), its longest
    /// suffix that ends the question's name (in any letter case) replaced by a pointer to it:
    /// for names the question does not name but shares a suffix with, such as NSEC owners.
    /// `rdata` holds RDLENGTH and RDATA. Returns where the owner and the RDATA start.
    #[cold]
    pub fn push_near_question(
        &mut self,
        section: Section,
        owner: &[u8],
        rtype: u16,
        ttl: u32,
        rdata: &[u8],
    ) -> Result<(usize, usize), Full> {
        let question = self.buf.get(HEADER_LEN..self.name_end()).unwrap_or(&[]);
        // The first label boundary of `owner` whose suffix (the root alone aside) the question
        // ends with, at a label boundary of its own.
        let mut split = (owner.len(), None);
        let mut at = 0;
        while at < owner.len() && owner[at] != 0 {
            let suffix = &owner[at..];
            if let Some(start) = question.len().checked_sub(suffix.len()) {
                if is_label_start(question, start) && question[start..].eq_ignore_ascii_case(suffix) {
                    split = (at, Some(HEADER_LEN + start));
                    break;
                }
            }
            at += 1 + owner[at] as usize;
        }
        let (prefix, pointer) = split;
        let owner_len = prefix + if pointer.is_some() { 2 } else { owner.len() - prefix };
        let start = self.pos;
        let end = start + owner_len + 8 + rdata.len();
        if end > self.limit || end > self.buf.len() {
            return Err(Full);
        }
        self.buf[start..start + prefix].copy_from_slice(&owner[..prefix]);
        let mut pos = start + prefix;
        match pointer {
            Some(pointer) => {
                self.buf[pos..pos + 2].copy_from_slice(&(0xC000 | pointer as u16).to_be_bytes());
                pos += 2;
            }
            None => {
                self.buf[pos..pos + owner.len() - prefix].copy_from_slice(&owner[prefix..]);
                pos += owner.len() - prefix;
            }
        }
        self.buf[pos..pos + 2].copy_from_slice(&rtype.to_be_bytes());
        self.buf[pos + 2..pos + 4].copy_from_slice(&CLASS_IN.to_be_bytes());
        self.buf[pos + 4..pos + 8].copy_from_slice(&ttl.to_be_bytes());
        pos += 8;
        self.buf[pos..pos + rdata.len()].copy_from_slice(rdata);
        self.pos = pos + rdata.len();
        self.counts[section as usize] += 1;
        Ok((start, pos + 2))
    }

    /// Where the question's name ends: the suffixes of every name a response answers for
    /// lie just before.
    #[inline(always)]
    pub fn name_end(&self) -> usize {
        self.question_end.saturating_sub(4)
    }

    /// Appends `block`'s records and fills in its compression pointers: into the question's
    /// name and into the block itself. Either the whole block fits, with every pointer it
    /// has within reach (see [`Block::reach`]), or nothing is written.
    #[inline(always)]
    pub fn push_block(&mut self, section: Section, block: &Block) -> Result<(), Full> {
        let n = block.len as usize;
        if !(33..=64).contains(&n) {
            return self.push_any_block(section, block);
        }
        // The common size of an SOA record and of a few NS records: two fixed moves, and no
        // call to save registers for.
        let start = self.pos;
        let end = start + n;
        if end > self.limit || start + block.reach as usize > MAX_POINTER || block.data.len() < n {
            return Err(Full);
        }
        let dst = &mut self.buf[start..end];
        dst[..32].copy_from_slice(&block.data[..32]);
        dst[n - 32..].copy_from_slice(&block.data[n - 32..n]);
        self.patch_block(section, block, start, end);
        Ok(())
    }

    /// [`Writer::push_block`] for a block of any size.
    #[inline(never)]
    fn push_any_block(&mut self, section: Section, block: &Block) -> Result<(), Full> {
        let start = self.pos;
        let end = start + block.len as usize;
        if end > self.limit || start + block.reach as usize > MAX_POINTER {
            return Err(Full);
        }
        copy_small(&mut self.buf[start..end], block.bytes());
        self.patch_block(section, block, start, end);
        Ok(())
    }

    /// Fills in the pointers of `block`, just copied to `start..end`, and counts its records.
    #[inline(always)]
    fn patch_block(&mut self, section: Section, block: &Block, start: usize, end: usize) {
        let word = (0xC000 | self.name_end().wrapping_sub(block.common as usize) as u16).to_be_bytes();
        let name_end = self.name_end();
        let dst = &mut self.buf[start..end];
        let patches = block.data.get(block.len as usize..).unwrap_or(&[]);
        let (commons, others) = patches.split_at((block.commons as usize * 2).min(patches.len()));
        for at in commons.chunks_exact(2) {
            let at = u16::from_ne_bytes([at[0], at[1]]) as usize;
            dst[at..at + 2].copy_from_slice(&word);
        }
        for patch in others.chunks_exact(PATCH_BYTES) {
            let at = u16::from_ne_bytes([patch[0], patch[1]]) as usize;
            let target = u16::from_ne_bytes([patch[2], patch[3]]);
            let target = if target & Patch::INSIDE != 0 {
                start as u16 + (target & !Patch::INSIDE)
            } else {
                name_end.wrapping_sub(target as usize) as u16
            };
            dst[at..at + 2].copy_from_slice(&(0xC000 | target).to_be_bytes());
        }
        self.pos = end;
        self.counts[section as usize] += block.count;
    }
}

/// Whether a label starts at `at` in the uncompressed name `name`.
fn is_label_start(name: &[u8], at: usize) -> bool {
    let mut i = 0;
    while i < at {
        match name.get(i) {
            Some(&0) | None => return false,
            Some(&len) => i += 1 + len as usize,
        }
    }
    i == at
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{parse_query, LowerName, HEADER_LEN};

    /// A query for `a.example.` (the name ends at offset 23), type MX.
    fn query() -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        q.extend_from_slice(b"\x01a\x07example\x00\x00\x0f\x00\x01");
        q
    }

    #[test]
    fn names_are_cut_where_told_and_the_rdlength_follows() {
        let q = query();
        let parsed = parse_query(&q, &mut LowerName::new()).unwrap();
        // An SOA record: mname ns.example., rname h.example., then 20 bytes.
        let mut record = vec![0, 6, 0, 1, 0, 0, 0, 60, 0, 0];
        let rdata = [&b"\x02ns\x07example\x00"[..], b"\x01h\x07example\x00", &[7; 20]].concat();
        record[8..10].copy_from_slice(&(rdata.len() as u16).to_be_bytes());
        record.extend_from_slice(&rdata);
        let mut buf = [0u8; 512];
        let mut w = Writer::new(&mut buf, &parsed, 512, 0).unwrap();
        let names =
            [NameCut { at: 0, len: 12, keep: 3, pointer: 14 }, NameCut { at: 12, len: 11, keep: 2, pointer: 14 }];
        let at = w.push_names(Section::Answer, Owner::Pointer(14), &record, Some(5), &names).unwrap();
        let len = w.finish(0, true, false, None);
        let start = HEADER_LEN + 15;
        assert_eq!(at, start + 12);
        assert_eq!(&buf[start..at], &[0xC0, 14, 0, 6, 0, 1, 0, 0, 0, 5, 0, 29]);
        assert_eq!(&buf[at..at + 9], b"\x02ns\xC0\x0e\x01h\xC0\x0e");
        assert_eq!(&buf[at + 9..len], &[7; 20]);
        // Every name kept whole: the record as stored.
        let mut w = Writer::new(&mut buf, &parsed, 512, 0).unwrap();
        let whole = names.map(|n| NameCut { keep: n.len, ..n });
        let at = w.push_names(Section::Answer, Owner::Wire(b"\x01a\x07example\x00"), &record, None, &whole).unwrap();
        let len = w.finish(0, true, false, None);
        assert_eq!(&buf[at - 10..len], &record[..]);
        // One byte short of the room: nothing written.
        let mut w = Writer::new(&mut buf, &parsed, start + 12 + 29 - 1, 0).unwrap();
        assert_eq!(w.push_names(Section::Answer, Owner::Pointer(14), &record, None, &names), Err(Full));
        assert_eq!(w.position(), start);
    }

    #[test]
    fn blocks_get_their_pointers_filled_in() {
        let q = query();
        let parsed = parse_query(&q, &mut LowerName::new()).unwrap();
        // Two NS records owned by the question's `example.`: ns.x.net., then ns2 + a pointer
        // to the first's `x.net.`.
        let mut bytes = vec![0, 0, 0, 2, 0, 1, 0, 0, 0, 60, 0, 10];
        bytes.extend_from_slice(b"\x02ns\x01x\x03net\x00");
        let second = bytes.len();
        bytes.extend_from_slice(&[0, 0, 0, 2, 0, 1, 0, 0, 0, 60, 0, 6]);
        bytes.extend_from_slice(b"\x03ns2\0\0");
        let patches = vec![
            Patch::question(0, 9).unwrap(),
            Patch::question(second, 9).unwrap(),
            Patch::inside(bytes.len() - 2, 15).unwrap(),
        ];
        let block = Block::new(bytes.clone(), patches, 2).unwrap();
        let mut buf = [0u8; 512];
        let start = HEADER_LEN + 15;
        let mut w = Writer::new(&mut buf, &parsed, start + bytes.len() - 1, 0).unwrap();
        assert_eq!(w.push_block(Section::Authority, &block), Err(Full));
        let mut w = Writer::new(&mut buf, &parsed, 512, 0).unwrap();
        w.push_block(Section::Authority, &block).unwrap();
        let len = w.finish(0, true, false, None);
        assert_eq!(len, start + bytes.len());
        assert_eq!(buf[9], 2, "NSCOUNT");
        assert_eq!(&buf[start..start + 2], &[0xC0, 14], "the owner: `example.` in the question");
        assert_eq!(&buf[start + second..start + second + 2], &[0xC0, 14]);
        assert_eq!(&buf[len - 2..len], &(0xC000 | (start + 15) as u16).to_be_bytes());
        // Pointers to two suffixes of the question: the usual one and another.
        let two = Block::new(vec![0; 4], vec![Patch::question(0, 9).unwrap(), Patch::question(2, 5).unwrap()], 0);
        let mut w = Writer::new(&mut buf, &parsed, 512, 0).unwrap();
        w.push_block(Section::Authority, &two.unwrap()).unwrap();
        assert_eq!(&buf[start..start + 4], &[0xC0, 14, 0xC0, 18]);
        // A patch outside the bytes is refused; a pointer inside past the 14 bits is not made.
        assert!(Block::new(vec![0; 3], vec![Patch::question(2, 1).unwrap()], 1).is_none());
        assert!(Patch::inside(0, MAX_POINTER + 1).is_none());
    }
}
