//! Test fixtures shared by the restore stages' unit tests: the smallest
//! complete plain dump, and zstd compression as Nightjar writes it.

use std::io::Write as _;

/// A complete plain-format dump of a database holding nothing.
pub(crate) const PLAIN: &str = "--\n-- PostgreSQL database dump\n--\n\n-- Dumped from database version 15.20\n-- Dumped by pg_dump version 15.20\n\nSELECT 1;\n\n--\n-- PostgreSQL database dump complete\n--\n\n";

/// `data` compressed with zstd level 3 and a content checksum.
pub(crate) fn zst(data: &[u8]) -> Vec<u8> {
    let mut e = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    e.include_checksum(true).unwrap();
    e.write_all(data).unwrap();
    e.finish().unwrap()
}
