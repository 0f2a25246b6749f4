//! `vmstat -m`: slab caches sorted by name as procps prints them.

use memdx_proc::SlabInfo;
use serde::Serialize;

/// One `-m` row (procps keeps these as C `unsigned int`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct SlabRow {
    /// Cache name.
    pub name: String,
    /// "Num": objects in use.
    pub active_objects: u32,
    /// "Total": objects allocated.
    pub objects: u32,
    /// "Size": bytes per object.
    pub object_size: u32,
    /// "Pages": procps' column of that name shows objects per slab.
    pub objects_per_slab: u32,
}

/// The caches sorted by name. procps sorts with `strcoll`; in the C and
/// C.UTF-8 locales that is byte order, which is what we use.
pub fn rows(info: &SlabInfo) -> Vec<SlabRow> {
    let mut rows: Vec<SlabRow> = info
        .caches
        .iter()
        .map(|c| SlabRow {
            name: c.name.clone(),
            active_objects: c.active_objs as u32,
            objects: c.num_objs as u32,
            object_size: c.obj_size as u32,
            objects_per_slab: c.objs_per_slab as u32,
        })
        .collect();
    rows.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_by_name_in_byte_order() {
        let info = SlabInfo::parse(
            "slabinfo - version: 2.1\nkmalloc-8 5 6 8 512 1 : tunables 0 0 0 : slabdata 1 1 0\nUNIX 1 2 3 4 1 : tunables 0 0 0 : slabdata 1 1 0\n",
        )
        .unwrap();
        let r = rows(&info);
        assert_eq!(r[0].name, "UNIX");
        assert_eq!((r[1].active_objects, r[1].objects_per_slab), (5, 512));
    }
}
