//! `-d`, `-p` and `-m`: one table per sample, absolute counters.

use std::io::Write;

use memdx_model::vmstat::disk::{entries, DiskTracker, PartitionRow};
use memdx_model::vmstat::slab;
use memdx_proc::SlabInfo;
use memdx_views::vmstat::disk::{
    write_disk_header, write_disk_row, write_partition_header, write_partition_row,
};
use memdx_views::vmstat::json::{write_json_line, DisksJson, PartitionJson, SlabsJson};
use memdx_views::vmstat::slab::{write_slab_header, write_slab_row};

use super::source::Source;
use super::{clock, fail, read_disks, VmstatRun};

/// Whether sample `i` (0-based) is followed by another one.
fn more_after(run: &VmstatRun, i: u64) -> bool {
    run.infinite || i.wrapping_add(1) < run.count
}

/// `-d`: every sample prints all whole disks; the header repeats when a
/// disk's index among *all* devices is a multiple of `height` (procps
/// counts partitions too).
pub fn disks(
    run: &VmstatRun,
    src: &mut Source,
    height: u64,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let zone = |src: &Source| {
        if run.timestamp {
            clock::format_local(src.now(), "%Z")
        } else {
            String::new()
        }
    };
    // The first sample is read before anything is printed (no half output
    // on a broken file).
    let mut first = Some(read_disks(src)?);
    if height == 0 && !run.json {
        write_disk_header(out, run.wide, run.timestamp, &zone(src))?;
    }
    let mut devices = DiskTracker::new();
    let mut i: u64 = 0;
    while run.infinite || i < run.count {
        let (stats, whole) = match first.take() {
            Some(sample) => sample,
            None => read_disks(src)?,
        };
        if run.json {
            // JSON shows this sample's devices, not procps' remembered list.
            let current = entries(&stats, whole.as_deref());
            let disks = current
                .iter()
                .filter(|e| e.is_disk)
                .map(|e| &e.row)
                .collect();
            write_json_line(
                out,
                &DisksJson {
                    time: src.now(),
                    disks,
                },
            )?;
        } else {
            devices.update(&stats, whole.as_deref(), src.now());
            let all: Vec<_> = devices.entries().collect();
            let stamp = run
                .timestamp
                .then(|| clock::format_local(src.now(), "%Y-%m-%d %H:%M:%S"));
            for (j, e) in all.iter().enumerate() {
                if !e.is_disk {
                    continue;
                }
                if height > 0 && (j as u64) % height == 0 {
                    write_disk_header(out, run.wide, run.timestamp, &zone(src))?;
                }
                write_disk_row(out, &e.row, run.wide, stamp.as_deref())?;
            }
        }
        out.flush()?;
        if more_after(run, i) {
            src.sleep(run.delay);
        }
        i += 1;
    }
    Ok(())
}

/// `-p DEV`: the header once, then the device's counters per sample.
pub fn partition(
    run: &VmstatRun,
    name: &str,
    src: &mut Source,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let not_found = || fail(format!("Disk/Partition {name} not found"));
    // procps looks the device up in its persistent list: one that vanishes
    // shows its previous counters once, then is "not found".
    let mut devices = DiskTracker::new();
    let (stats, whole) = read_disks(src)?;
    devices.update(&stats, whole.as_deref(), src.now());
    if devices.get(name).is_none() {
        return Err(not_found().into());
    }
    if !run.json {
        write_partition_header(out, name)?;
    }
    let mut i: u64 = 0;
    while run.infinite || i < run.count {
        let (stats, whole) = read_disks(src)?;
        devices.update(&stats, whole.as_deref(), src.now());
        let row = devices
            .get(name)
            .map(PartitionRow::from_row)
            .ok_or_else(not_found)?;
        if run.json {
            write_json_line(
                out,
                &PartitionJson {
                    time: src.now(),
                    device: name,
                    row: &row,
                },
            )?;
        } else {
            write_partition_row(out, &row)?;
        }
        out.flush()?;
        if more_after(run, i) {
            src.sleep(run.delay);
        }
        i += 1;
    }
    Ok(())
}

/// `-m`: the caches sorted by name per sample, the header every `height`
/// caches (once before everything with `-n`).
pub fn slabs(
    run: &VmstatRun,
    src: &mut Source,
    height: u64,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let read =
        |src: &Source| SlabInfo::read(&src.root_for(memdx_proc::slabinfo::REL_PATH)).map_err(fail);
    let mut first = Some(read(src)?);
    if height == 0 && !run.json {
        write_slab_header(out)?;
    }
    let mut i: u64 = 0;
    while run.infinite || i < run.count {
        let info = match first.take() {
            Some(info) => info,
            None => read(src)?,
        };
        let rows = slab::rows(&info);
        if run.json {
            write_json_line(
                out,
                &SlabsJson {
                    time: src.now(),
                    caches: &rows,
                },
            )?;
        } else {
            for (j, r) in rows.iter().enumerate() {
                if height > 0 && (j as u64) % height == 0 {
                    write_slab_header(out)?;
                }
                write_slab_row(out, r)?;
            }
        }
        out.flush()?;
        if more_after(run, i) {
            src.sleep(run.delay);
        }
        i += 1;
    }
    Ok(())
}
