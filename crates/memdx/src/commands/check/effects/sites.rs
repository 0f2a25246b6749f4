//! The allocation sites a run's processes list in their sites files (a
//! memdx-events stream written by the runtime's `effects.rs` at exit).

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use crate::commands::check::symbolize::Module;

/// An allocation site as a run's sites file names it.
#[derive(Debug, Clone)]
pub(super) struct Site {
    /// Its stack id in the process that listed it.
    pub(super) id: u32,
    pub(super) frames: Vec<u64>,
    pub(super) modules: Vec<Module>,
    /// Blocks and bytes filled in that process's run.
    pub(super) blocks: u64,
    pub(super) bytes: u64,
}

/// The sites in one sites file (a memdx-events stream: header, modules,
/// then a `Stack` and a fill-site record per site), by key. A damaged
/// file yields what came before the damage.
pub(super) fn sites_of(bytes: &[u8]) -> Vec<(u64, Site)> {
    let mut out: Vec<(u64, Site)> = Vec::new();
    let Some(header) = bytes.get(..memdx_events::HEADER_LEN) else {
        return out;
    };
    let mut h = [0u8; memdx_events::HEADER_LEN];
    h.copy_from_slice(header);
    if memdx_events::Header::decode(&h).is_err() {
        return out;
    }
    let mut rest = &bytes[memdx_events::HEADER_LEN..];
    let mut modules = Vec::new();
    while rest.len() >= memdx_events::RECORD_PREFIX {
        let tag = rest[0];
        let len = u32::from_le_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        let Some(payload) =
            rest.get(memdx_events::RECORD_PREFIX..memdx_events::RECORD_PREFIX + len)
        else {
            break;
        };
        rest = &rest[memdx_events::RECORD_PREFIX + len..];
        if tag == memdx_events::tag::FILL_SITE {
            if let (Some(id), Some(blocks), Some(filled)) =
                (payload.get(0..4), payload.get(4..12), payload.get(12..20))
            {
                let id = u32::from_le_bytes(id.try_into().unwrap_or_default());
                let blocks = u64::from_le_bytes(blocks.try_into().unwrap_or_default());
                let filled = u64::from_le_bytes(filled.try_into().unwrap_or_default());
                if let Some((_, site)) = out.iter_mut().rev().find(|(_, s)| s.id == id) {
                    site.blocks = blocks;
                    site.bytes = filled;
                }
            }
            continue;
        }
        match memdx_events::decode_payload(tag, payload) {
            Ok(Some(memdx_events::Event::Module {
                bias,
                start,
                end,
                path,
            })) => {
                let path: PathBuf = OsString::from_vec(path).into();
                let path = std::fs::canonicalize(&path).unwrap_or(path);
                modules.push(Module {
                    bias,
                    start,
                    end,
                    path,
                });
            }
            Ok(Some(memdx_events::Event::Stack { id, frames })) => {
                let key = memdx_events::site_key(&frames);
                out.push((
                    key,
                    Site {
                        id,
                        frames,
                        modules: modules.clone(),
                        blocks: 0,
                        bytes: 0,
                    },
                ));
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sites_file_gives_each_site_its_stack_modules_and_counts() {
        let h = memdx_events::Header {
            version: memdx_events::VERSION,
            pointer_size: 8,
            pid: 7,
            ppid: 1,
            flags: 0,
        };
        let mut file = h.encode().to_vec();
        let mut buf = [0u8; 4096];
        let mut e = memdx_events::Encoder::new(&mut buf);
        e.module(0x1000, 0x1000, 0x9000, b"/nonexistent/prog");
        e.stack(3, &[0x10, 0x1234]);
        e.fill_site(3, 2, 48);
        e.stack(4, &[0x10, 0x5678]);
        file.extend(e.finish().unwrap());
        let sites = sites_of(&file);
        assert_eq!(sites.len(), 2);
        assert_eq!(sites[0].0, memdx_events::site_key(&[0x10, 0x1234]));
        assert_eq!((sites[0].1.blocks, sites[0].1.bytes), (2, 48));
        assert_eq!((sites[1].1.blocks, sites[1].1.bytes), (0, 0));
        assert_eq!(sites[1].1.modules.len(), 1);
        // Cut anywhere: what came before, no panic.
        for cut in 0..file.len() {
            assert!(sites_of(&file[..cut]).len() <= 2);
        }
        assert!(sites_of(b"not a sites file at all").is_empty());
    }
}
