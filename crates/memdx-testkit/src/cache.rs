//! A content-addressed cache of what the test binaries would otherwise
//! compute again and again: corpus programs compiled by gcc, g++ or rustc,
//! and the output of a reference tool (Valgrind) run on the same program
//! with the same arguments.
//!
//! An entry's key is the hash (XXH3-128) of everything the result depends
//! on: the tool's version, its arguments, the bytes of every input file
//! (the program Valgrind runs, a compiler's source and headers) and the
//! environment variables the caller names. Entries live under the cargo
//! target directory (`target/memdx-test-cache/`), so a fresh clone starts
//! empty and every reference result was produced by the real tool on this
//! machine (`.ci/run` also empties it before the tests, for a CI machine
//! that keeps its `target/`). `MEMDX_TEST_CACHE=off` turns the cache off.
//!
//! Test binaries run their tests in threads (and a developer may run two
//! binaries at once): an entry is written to a temporary file and renamed
//! into place, so readers see a whole entry or none. Every entry ends with
//! the hash of its contents; one that does not verify (a torn or damaged
//! file) is never used: the result is computed again and replaces it.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use twox_hash::XxHash3_128;

use crate::Deadline;

/// The environment variable that turns the cache off (`off` or `0`) or
/// moves it (a directory).
pub const CACHE_ENV: &str = "MEMDX_TEST_CACHE";

/// Bumped when the layout of an entry changes.
const FORMAT: &[u8] = b"memdx-test-cache 1\n";

/// The cache's directory, `None` when it is off.
pub fn cache_dir() -> Option<PathBuf> {
    match std::env::var_os(CACHE_ENV) {
        Some(v) if v == "off" || v == "0" => None,
        Some(v) if !v.is_empty() => Some(PathBuf::from(v)),
        // target/<profile>/deps/<test binary>: the cargo target directory
        // is three levels up.
        _ => {
            let exe = std::env::current_exe().ok()?;
            let target = exe.parent()?.parent()?.parent()?;
            Some(target.join("memdx-test-cache"))
        }
    }
}

/// What an entry is named by: a hash of everything added to it, each part
/// length-prefixed so that ("ab", "c") and ("a", "bc") differ.
pub struct Key {
    hasher: XxHash3_128,
}

impl Key {
    /// A key for results of kind `kind` (e.g. "valgrind", "cc").
    pub fn new(kind: &str) -> Key {
        let mut key = Key {
            hasher: XxHash3_128::new(),
        };
        key.bytes(FORMAT).str(kind);
        key
    }

    /// Adds bytes.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Key {
        self.hasher.write(&(b.len() as u64).to_le_bytes());
        self.hasher.write(b);
        self
    }

    /// Adds a string.
    pub fn str(&mut self, s: &str) -> &mut Key {
        self.bytes(s.as_bytes())
    }

    /// Adds an OS string (an argument, a path).
    pub fn os(&mut self, s: &OsStr) -> &mut Key {
        self.bytes(s.as_bytes())
    }

    /// Adds the contents of a file (not its name).
    pub fn file(&mut self, path: &Path) -> std::io::Result<&mut Key> {
        let bytes = std::fs::read(path)?;
        Ok(self.bytes(&bytes))
    }

    /// Adds an environment variable's value (or that it is unset).
    pub fn env(&mut self, name: &str) -> &mut Key {
        self.str(name);
        match std::env::var_os(name) {
            Some(v) => self.str("=").os(&v),
            None => self.str("unset"),
        }
    }

    fn hex(&self) -> String {
        format!("{:032x}", self.hasher.finish_128())
    }
}

/// An entry: named byte strings.
type Fields = Vec<(String, Vec<u8>)>;

fn encode(fields: &Fields) -> Vec<u8> {
    let mut out = FORMAT.to_vec();
    for (name, value) in fields {
        for part in [name.as_bytes(), value.as_slice()] {
            out.extend_from_slice(&(part.len() as u64).to_le_bytes());
            out.extend_from_slice(part);
        }
    }
    let sum = XxHash3_128::oneshot(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

/// The fields of a whole, undamaged entry; `None` for anything else.
fn decode(bytes: &[u8]) -> Option<Fields> {
    let body_len = bytes.len().checked_sub(16)?;
    let (body, sum) = bytes.split_at(body_len);
    if XxHash3_128::oneshot(body).to_le_bytes() != sum {
        return None;
    }
    let mut rest = body.strip_prefix(FORMAT)?;
    let mut fields = Vec::new();
    while !rest.is_empty() {
        let name = String::from_utf8(take_part(&mut rest)?).ok()?;
        let value = take_part(&mut rest)?;
        fields.push((name, value));
    }
    Some(fields)
}

/// The next length-prefixed part of `rest`, which moves past it.
fn take_part(rest: &mut &[u8]) -> Option<Vec<u8>> {
    let (len, tail) = rest.split_at_checked(8)?;
    let len = usize::try_from(u64::from_le_bytes(len.try_into().ok()?)).ok()?;
    let (part, tail) = tail.split_at_checked(len)?;
    *rest = tail;
    Some(part.to_vec())
}

fn field<'a>(fields: &'a Fields, name: &str) -> Option<&'a [u8]> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_slice())
}

static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` through a temporary file in the same directory
/// and a rename: another reader sees the old file, or none, or all of it.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().unwrap_or(OsStr::new("entry"));
    let mut tmp_name = OsString::from(".tmp-");
    tmp_name.push(name);
    tmp_name.push(format!(
        "-{}-{}",
        std::process::id(),
        TMP_SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = dir.join(tmp_name);
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_data()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

fn entry_path(dir: &Path, key: &Key) -> PathBuf {
    let hex = key.hex();
    dir.join(&hex[..2]).join(&hex[2..])
}

fn load(key: &Key) -> Option<Fields> {
    let path = entry_path(&cache_dir()?, key);
    decode(&std::fs::read(path).ok()?)
}

fn store(key: &Key, fields: &Fields) {
    if let Some(dir) = cache_dir() {
        // A cache that cannot be written only costs time.
        let _ = write_atomically(&entry_path(&dir, key), &encode(fields));
    }
}

/// The first line of `PROGRAM --version` (`-vV` for rustc), run once per
/// test process: part of the key of everything that program produces.
pub fn tool_version(program: &OsStr) -> String {
    static SEEN: Mutex<Vec<(OsString, String)>> = Mutex::new(Vec::new());
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, v)) = seen.iter().find(|(p, _)| p == program) {
        return v.clone();
    }
    let flag = if Path::new(program)
        .file_name()
        .is_some_and(|n| n.as_bytes().starts_with(b"rustc"))
    {
        "-vV"
    } else {
        "--version"
    };
    let version = Command::new(program)
        .arg(flag)
        .try_output_within(crate::DEADLINE)
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_else(|e| format!("cannot run: {e}"));
    seen.push((program.to_owned(), version.clone()));
    version
}

fn output_fields(out: &Output) -> Fields {
    vec![
        (
            "status".into(),
            out.status.into_raw().to_le_bytes().to_vec(),
        ),
        ("stdout".into(), out.stdout.clone()),
        ("stderr".into(), out.stderr.clone()),
    ]
}

fn output_of(fields: &Fields) -> Option<Output> {
    let status = i32::from_le_bytes(field(fields, "status")?.try_into().ok()?);
    Some(Output {
        status: ExitStatus::from_raw(status),
        stdout: field(fields, "stdout")?.to_vec(),
        stderr: field(fields, "stderr")?.to_vec(),
    })
}

/// How [`compile`] is to build one program.
pub struct Compile<'a> {
    /// The compiler (`gcc`, `g++`, `rustc`...).
    pub compiler: &'a OsStr,
    /// Its arguments, the output file's name among them.
    pub args: &'a [OsString],
    /// The file it writes (`-o`'s argument).
    pub output: &'a Path,
    /// Every file the result depends on: the source and the headers it
    /// may include.
    pub inputs: &'a [PathBuf],
}

/// Runs the compiler as `spec` says, or, when the same compiler version
/// built the same inputs with the same arguments before, copies that
/// result to `spec.output` (through a temporary file and a rename: a test
/// may be running the old one). The output's name is not part of the key:
/// it is replaced by a placeholder in the arguments. Only a successful
/// build is kept. Returns the compiler's output (the one it printed when
/// it built the entry).
///
/// # Panics
///
/// When the compiler cannot be started or runs past `limit`.
pub fn compile(spec: &Compile<'_>, limit: Duration) -> Output {
    let mut key = Key::new("compile");
    key.os(spec.compiler).str(&tool_version(spec.compiler));
    for a in spec.args {
        if Path::new(a) == spec.output {
            key.str("<output>");
        } else {
            key.os(a);
        }
    }
    let mut readable = true;
    for input in spec.inputs {
        if key.file(input).is_err() {
            readable = false;
        }
    }
    let cached = cache_dir().is_some() && readable;
    if cached {
        if let Some(fields) = load(&key) {
            if let (Some(out), Some(bin)) = (output_of(&fields), field(&fields, "output")) {
                if place_executable(spec.output, bin).is_ok() {
                    return out;
                }
            }
        }
    }
    let out = Command::new(spec.compiler)
        .args(spec.args)
        .output_within(limit);
    if cached && out.status.success() {
        if let Ok(bin) = std::fs::read(spec.output) {
            let mut fields = output_fields(&out);
            fields.push(("output".into(), bin));
            store(&key, &fields);
        }
    }
    out
}

/// Puts a cached program at `path`, written by a `cp` process rather than
/// by this one: tests run programs from several threads, and a child forked
/// by one of them between its fork and its exec holds every descriptor this
/// process has open, so a program this process had just written could fail
/// to start with ETXTBSY ("Text file busy"; seen with the parallel corpus
/// loops). The bytes go first to a staging file that nothing runs.
fn place_executable(path: &Path, bin: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or(OsStr::new("program"));
    let seq = TMP_SEQ.fetch_add(1, Ordering::Relaxed);
    let unique = |what: &str| {
        let mut n = OsString::from(format!(".{what}-"));
        n.push(name);
        n.push(format!("-{}-{seq}", std::process::id()));
        dir.join(n)
    };
    let staging = unique("stage");
    let copy = unique("exec");
    write_atomically(&staging, bin)?;
    let copied = Command::new("cp")
        .arg(&staging)
        .arg(&copy)
        .try_output_within(Duration::from_secs(120))
        .and_then(|out| {
            if out.status.success() {
                Ok(())
            } else {
                Err(std::io::Error::other(format!(
                    "cp exited with {}",
                    out.status
                )))
            }
        });
    let _ = std::fs::remove_file(&staging);
    let placed = copied
        .and_then(|()| set_executable(&copy))
        .and_then(|()| std::fs::rename(&copy, path));
    if placed.is_err() {
        let _ = std::fs::remove_file(&copy);
    }
    placed
}

fn set_executable(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
}

/// How [`run_tool`] is to run a reference tool on a program.
pub struct ToolRun<'a> {
    /// The tool (`valgrind`).
    pub program: &'a OsStr,
    /// Its arguments, the program it runs and that program's arguments
    /// among them (paths are part of the key: the tool prints them).
    pub args: &'a [OsString],
    /// Files the result depends on besides the arguments: the program the
    /// tool runs, its shared libraries, suppression files.
    pub inputs: &'a [PathBuf],
    /// Environment variables the result depends on.
    pub env: &'a [&'a str],
    /// Files the tool writes (`--xml-file`, `--log-file`): kept with the
    /// entry and written back on a hit. A missing one is remembered as
    /// missing.
    pub writes: &'a [PathBuf],
}

/// Runs a deterministic reference tool (Valgrind on a corpus program) as
/// `run` says, or gives back what the same run printed and wrote before:
/// same tool version, same arguments (the paths included), same bytes of
/// every input, same environment variables named. Only for runs whose
/// output the test does not expect to vary, or whose per-run values (pids,
/// addresses, times) the test reads from the output it gets: a hit gives
/// the same values as the run that made the entry.
///
/// # Panics
///
/// When the tool cannot be started or runs past `limit`.
pub fn run_tool(run: &ToolRun<'_>, limit: Duration) -> Output {
    let key = tool_key(run);
    if let Some(key) = &key {
        if let Some(out) = load(key).and_then(|fields| restore(run, &fields)) {
            return out;
        }
    }
    for w in run.writes {
        let _ = std::fs::remove_file(w);
    }
    let out = Command::new(run.program)
        .args(run.args)
        .output_within(limit);
    if let Some(key) = key {
        let mut fields = output_fields(&out);
        for (i, w) in run.writes.iter().enumerate() {
            if let Ok(bytes) = std::fs::read(w) {
                fields.push((format!("file{i}"), bytes));
            }
        }
        store(&key, &fields);
    }
    out
}

fn tool_key(run: &ToolRun<'_>) -> Option<Key> {
    cache_dir()?;
    let mut key = Key::new("tool");
    key.os(run.program).str(&tool_version(run.program));
    for a in run.args {
        key.os(a);
    }
    for input in run.inputs {
        key.os(input.as_os_str()).file(input).ok()?;
    }
    for name in run.env {
        key.env(name);
    }
    for w in run.writes {
        key.os(w.as_os_str());
    }
    Some(key)
}

fn restore(run: &ToolRun<'_>, fields: &Fields) -> Option<Output> {
    let out = output_of(fields)?;
    for (i, w) in run.writes.iter().enumerate() {
        match field(fields, &format!("file{i}")) {
            Some(bytes) => write_atomically(w, bytes).ok()?,
            None => {
                let _ = std::fs::remove_file(w);
            }
        }
    }
    Some(out)
}

/// Every C or C++ file directly in `dir` (`.h`, `.hpp`, `.c`, `.cpp`,
/// `.inc`): what a program of that directory, or one built with `-I dir`,
/// may include (corpus programs include `common.h`, and some include
/// another program's `.c`). System headers are not hashed: they are the
/// compiler's and the C library's, which a test run does not change.
pub fn sources_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.extension().is_some_and(|e| {
                    ["h", "hpp", "c", "cpp", "cc", "inc", "rs"]
                        .iter()
                        .any(|x| e == *x)
                })
        })
        .collect();
    v.sort();
    v
}

/// Turns `OsString`s of `&str`s.
pub fn os_args<I, S>(args: I) -> Vec<OsString>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    args.into_iter().map(|a| a.as_ref().to_owned()).collect()
}

/// An `OsString` of raw bytes (for tests of this module).
#[cfg(test)]
fn os(b: &[u8]) -> OsString {
    use std::os::unix::ffi::OsStringExt;
    OsString::from_vec(b.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_reads_back_and_a_damaged_one_never_does() {
        let fields: Fields = vec![
            ("status".into(), 0i32.to_le_bytes().to_vec()),
            ("stdout".into(), b"hello\n".to_vec()),
            ("file0".into(), vec![0, 1, 2, 255]),
        ];
        let bytes = encode(&fields);
        assert_eq!(decode(&bytes), Some(fields));
        // Every truncation (a torn write) and every flipped byte is refused.
        for n in 0..bytes.len() {
            assert_eq!(decode(&bytes[..n]), None, "truncated to {n}");
            let mut bad = bytes.clone();
            bad[n] ^= 0x40;
            assert_eq!(decode(&bad), None, "byte {n} flipped");
        }
    }

    #[test]
    fn keys_separate_their_parts() {
        let a = Key::new("t").str("ab").str("c").hex();
        let b = Key::new("t").str("a").str("bc").hex();
        assert_ne!(a, b);
        assert_eq!(a, Key::new("t").str("ab").str("c").hex());
        assert_ne!(
            Key::new("t").os(&os(b"x")).hex(),
            Key::new("u").os(&os(b"x")).hex()
        );
    }
}
