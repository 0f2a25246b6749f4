//! `vmstat -m`.

use std::io::{self, Write};

use memdx_model::vmstat::slab::SlabRow;

/// Writes the header line.
pub fn write_slab_header(out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "{:<24} {:>6} {:>6} {:>6} {:>6}",
        "Cache", "Num", "Total", "Size", "Pages"
    )
}

/// Writes one cache (name cut to 24 characters as procps' `%-24.24s`).
pub fn write_slab_row(out: &mut impl Write, r: &SlabRow) -> io::Result<()> {
    let name: String = r.name.chars().take(24).collect();
    writeln!(
        out,
        "{:<24} {:>6} {:>6} {:>6} {:>6}",
        name, r.active_objects, r.objects, r.object_size, r.objects_per_slab
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_cut_to_24() {
        let mut out = Vec::new();
        write_slab_header(&mut out).unwrap();
        write_slab_row(
            &mut out,
            &SlabRow {
                name: "a_very_long_slab_cache_name_indeed".into(),
                active_objects: 1,
                objects: 2,
                object_size: 3,
                objects_per_slab: 4,
            },
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Cache                       Num  Total   Size  Pages\na_very_long_slab_cache_n      1      2      3      4\n"
        );
    }
}
