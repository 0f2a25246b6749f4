//! Resolved frames kept between runs, per object.
//!
//! Most programs leave still-reachable blocks whose stacks run through the
//! C library; naming them loads its separate debug file, which costs tens
//! of milliseconds of every run for the same few addresses. Each object's
//! frames are kept in a file of their own under
//! `$XDG_CACHE_HOME/memdx/frames/` (else `~/.cache/memdx/frames/`), named
//! by a hash of the object's identity, which the file also holds in full:
//! the object's path, size, modification time, inode and build-id, the
//! same of the debug file its frames were read from (so installing a debug
//! package, or `MEMDX_DEBUG_DIRS`, gives new frames) and of the memdx
//! executable (a rebuilt memdx may name frames differently). A file that does not
//! read, or whose identity differs, is ignored and replaced. Files are
//! written whole to a temporary name and renamed, at most
//! [`MAX_FRAMES_PER_OBJECT`] frames each and [`MAX_FILES`] files (the least
//! recently written go first). `MEMDX_SYMBOL_CACHE=off` turns it off.

use super::FrameText;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// The most frames kept for one object.
pub(super) const MAX_FRAMES_PER_OBJECT: usize = 20_000;
/// The most object files kept.
pub(super) const MAX_FILES: usize = 256;

/// Frames by (address less load bias, exact).
type Frames = HashMap<(u64, bool), Arc<Vec<FrameText>>>;

/// One object's kept frames.
struct ObjectFrames {
    /// Where they are kept, and the identity the file must hold.
    file: PathBuf,
    identity: String,
    frames: Frames,
    /// Whether frames were added since the file was read.
    grown: bool,
}

/// The cache directory, or `None` when the cache is off.
fn directory() -> Option<PathBuf> {
    if std::env::var_os("MEMDX_SYMBOL_CACHE").is_some_and(|v| v == "off") {
        return None;
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .map(|h| h.join(".cache"))
        })?;
    Some(base.join("memdx").join("frames"))
}

/// One file's identity: path, size, modification time and inode.
fn file_identity(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some(format!(
        "{} {} {}.{} {}",
        path.display(),
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ino()
    ))
}

/// What an object's frames depend on: the object's identity and
/// build-id, and its separate debug file's identity (or that it has none).
fn identity(path: &Path) -> Option<String> {
    use object::Object;
    let object_id = file_identity(path)?;
    let file = std::fs::File::open(path).ok()?;
    let cache = object::ReadCache::new(file);
    let obj = object::File::parse(&cache).ok()?;
    let build_id: String = match obj.build_id() {
        Ok(Some(id)) => id.iter().map(|b| format!("{b:02x}")).collect(),
        _ => String::new(),
    };
    let debug = match super::separate_debug_file(path, &obj) {
        Some(p) => file_identity(&p)?,
        None => "none".to_string(),
    };
    // And memdx itself: a rebuilt memdx may name frames differently.
    let memdx = std::env::current_exe()
        .ok()
        .and_then(|p| file_identity(&p))?;
    Some(format!(
        "memdx-frames 1\nmemdx {memdx}\nobject {object_id}\nbuild-id {build_id}\ndebug {debug}"
    ))
}

/// FNV-1a, 64 bits: the file name of an identity (the file holds the
/// identity itself, so a collision only costs a miss).
fn name_of(identity: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in identity.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn opt_str(v: &serde_json::Value) -> Option<Option<String>> {
    match v {
        serde_json::Value::Null => Some(None),
        serde_json::Value::String(s) => Some(Some(s.clone())),
        _ => None,
    }
}

/// One frame as kept: `[function, mangled, dir, file, line]` (the object
/// and the address are the lookup's).
fn frame_to_json(f: &FrameText) -> serde_json::Value {
    let (file, line) = match &f.file_line {
        Some((file, line)) => (Some(file.as_str()), Some(*line)),
        None => (None, None),
    };
    serde_json::json!([f.function, f.mangled, f.dir, file, line])
}

fn frame_from_json(v: &serde_json::Value, object: &Option<String>) -> Option<FrameText> {
    let [function, mangled, dir, file, line] = v.as_array()?.as_slice() else {
        return None;
    };
    let file_line = match (opt_str(file)?, line) {
        (Some(file), serde_json::Value::Number(n)) => {
            Some((file, u32::try_from(n.as_u64()?).ok()?))
        }
        (None, serde_json::Value::Null) => None,
        _ => return None,
    };
    Some(FrameText {
        addr: 0,
        function: opt_str(function)?,
        mangled: opt_str(mangled)?,
        dir: opt_str(dir)?,
        file_line,
        object: object.clone(),
    })
}

/// The frames of file `text` if it holds `identity`'s (entries that do not
/// read are left out).
fn parse(text: &str, identity: &str, object: &Option<String>) -> Frames {
    let mut frames = Frames::new();
    let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
        return frames;
    };
    if v.get("identity").and_then(|i| i.as_str()) != Some(identity) {
        return frames;
    }
    let Some(entries) = v.get("frames").and_then(|f| f.as_array()) else {
        return frames;
    };
    for e in entries {
        let Some([probe, exact, list]) = e.as_array().map(Vec::as_slice) else {
            continue;
        };
        let (Some(probe), Some(exact), Some(list)) =
            (probe.as_u64(), exact.as_bool(), list.as_array())
        else {
            continue;
        };
        let parsed: Option<Vec<FrameText>> =
            list.iter().map(|f| frame_from_json(f, object)).collect();
        if let Some(parsed) = parsed.filter(|p| !p.is_empty()) {
            frames.insert((probe, exact), Arc::new(parsed));
        }
    }
    frames
}

fn render(identity: &str, frames: &Frames) -> String {
    let mut keys: Vec<&(u64, bool)> = frames.keys().collect();
    keys.sort();
    let entries: Vec<serde_json::Value> = keys
        .into_iter()
        .filter_map(|k| {
            let list: Vec<serde_json::Value> = frames.get(k)?.iter().map(frame_to_json).collect();
            Some(serde_json::json!([k.0, k.1, list]))
        })
        .collect();
    serde_json::json!({ "identity": identity, "frames": entries }).to_string()
}

/// Every object's kept frames, read once per run (`None`: not cached).
type Objects = Mutex<HashMap<PathBuf, Option<ObjectFrames>>>;

fn objects() -> &'static Objects {
    static OBJECTS: OnceLock<Objects> = OnceLock::new();
    OBJECTS.get_or_init(Objects::default)
}

/// Runs `f` on `path`'s kept frames, reading them the first time.
fn with_object<T>(path: &Path, f: impl FnOnce(&mut ObjectFrames) -> T) -> Option<T> {
    let mut all = objects().lock().ok()?;
    let entry = all.entry(path.to_path_buf()).or_insert_with(|| {
        let dir = directory()?;
        let identity = identity(path)?;
        let file = dir.join(name_of(&identity));
        let object = Some(path.display().to_string());
        let frames = std::fs::read_to_string(&file)
            .map(|t| parse(&t, &identity, &object))
            .unwrap_or_default();
        Some(ObjectFrames {
            file,
            identity,
            frames,
            grown: false,
        })
    });
    entry.as_mut().map(f)
}

/// The kept frames of `probe` (an address of object `path`, less its load
/// bias).
pub(super) fn lookup(path: &Path, probe: u64, exact: bool) -> Option<Arc<Vec<FrameText>>> {
    with_object(path, |o| o.frames.get(&(probe, exact)).cloned()).flatten()
}

/// Keeps `frames` as `probe`'s, written by [`save`].
pub(super) fn record(path: &Path, probe: u64, exact: bool, frames: &Arc<Vec<FrameText>>) {
    with_object(path, |o| {
        if o.frames.len() < MAX_FRAMES_PER_OBJECT {
            o.frames.insert((probe, exact), frames.clone());
            o.grown = true;
        }
    });
}

/// Writes the objects whose frames grew this run (errors are ignored: the
/// cache only saves time).
pub fn save() {
    let Ok(mut all) = objects().lock() else {
        return;
    };
    let mut wrote = false;
    for o in all.values_mut().flatten().filter(|o| o.grown) {
        o.grown = false;
        wrote |= write_atomically(&o.file, &render(&o.identity, &o.frames)).is_ok();
    }
    if wrote {
        if let Some(dir) = directory() {
            prune(&dir, MAX_FILES);
        }
    }
}

fn write_atomically(file: &Path, text: &str) -> std::io::Result<()> {
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        file.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, file).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Removes the least recently written files of `dir` beyond `keep`.
fn prune(dir: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            Some((m.modified().ok()?, e.path())).filter(|_| m.is_file())
        })
        .collect();
    if files.len() <= keep {
        return;
    }
    files.sort();
    for (_, path) in &files[..files.len() - keep] {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(function: &str, file_line: Option<(&str, u32)>) -> FrameText {
        FrameText {
            addr: 0,
            function: Some(function.to_string()),
            mangled: Some(format!("_Z{function}")),
            dir: file_line.map(|_| "./csu".to_string()),
            file_line: file_line.map(|(f, l)| (f.to_string(), l)),
            object: Some("/lib/libc.so.6".to_string()),
        }
    }

    #[test]
    fn kept_frames_read_back_as_they_were_written() {
        let mut frames = Frames::new();
        frames.insert(
            (0x2a1c9, false),
            Arc::new(vec![
                frame("inner", Some(("libc-start.h", 58))),
                frame("(below main)", None),
            ]),
        );
        frames.insert((0x10, true), Arc::new(vec![frame("f", None)]));
        let text = render("id", &frames);
        let object = Some("/lib/libc.so.6".to_string());
        assert_eq!(parse(&text, "id", &object), frames);
        assert!(parse(&text, "other id", &object).is_empty());
    }

    #[test]
    fn corrupt_files_and_entries_are_ignored() {
        let object = Some("/o".to_string());
        assert!(parse("", "id", &object).is_empty());
        assert!(parse("{\"identity\":\"id\",\"frames\":[[1,", "id", &object).is_empty());
        // One good entry among bad ones.
        let text = r#"{"identity":"id","frames":[
            [1,true,[["f","f",null,null,null]]],
            [2,true,[["f","f",null,"x.c",null]]],
            [3,"yes",[]],
            [4,false,[]],
            [5,false,[["g",null,null,null,null,"extra"]]]]}"#;
        let got = parse(text, "id", &object);
        assert_eq!(got.len(), 1);
        assert!(got.contains_key(&(1, true)));
    }

    #[test]
    fn pruning_keeps_the_most_recently_written_files() {
        let dir = std::env::temp_dir().join(format!("memdx-prune-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (i, name) in ["a", "b", "c"].iter().enumerate() {
            let p = dir.join(name);
            std::fs::write(&p, "x").unwrap();
            let t = std::time::SystemTime::UNIX_EPOCH
                + std::time::Duration::from_secs(1_000_000 + i as u64);
            std::fs::File::options()
                .write(true)
                .open(&p)
                .unwrap()
                .set_modified(t)
                .unwrap();
        }
        prune(&dir, 2);
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(left, ["b", "c"]);
    }
}
