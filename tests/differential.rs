//! Differential testing of `cachepot <gcc|clang>` (issue 6, item 1): a small but realistic
//! C project goes through a seeded sequence of random edits, and in every state each
//! source is compiled twice with the very same command line in the same working
//! directory: once by the bare compiler and once through cachepot. The object must be
//! byte-identical, the dep file must hold the same make rules, stdout and stderr must be
//! the same. Any difference is a wrong result, almost always a wrong hit.
//!
//! The project (generated here from templates, so that every macro value is part of the
//! model): six sources in `src/`, headers in three include dirs (`-Iinclude -Ilib
//! -isystem sys`) plus `src/` (quoted includes beside the sources), `extra/` (reached only
//! through `CPATH`) and the working directory (where `-include force.h` looks first, and
//! which `-I.` and `CPATH=:extra` search). Quoted and angle includes, nested includes, a
//! header in a subdirectory (`<detail/impl.h>`), include guards, macros used in code, a
//! header present in two include dirs (`shadow.h`), a `#if defined(FEATURE_X)` switch,
//! `__has_include` checks (one called directly, one through a macro defined as the operator,
//! as xxhash.h does), a `-include` forced header, a header that is a symlink
//! (`include/arch.h` → one of `variants/arch-{1,2,3}.h`, written together like a checkout
//! writes them: same size, same mtime, usually the same ctime tick) and a `-Wall` warning
//! under FEATURE_X (so replayed stderr is compared too). Every source also embeds a
//! `DIFF <stem> ...` string listing the macro values it saw, which failure messages
//! print from both objects.
//!
//! Edits (one to three per state, chosen by a xorshift PRNG): a header macro's value
//! (sometimes the same size with the old mtime put back: the racy case, caught only by
//! ctime), a source's own value, a new copy of a header searched before the one found now
//! (shadowing) or anywhere, removing the found copy (unshadowing) or any copy, moving a
//! copy between directories (new subdirectories included; directory mtimes are left as
//! the kernel set them, set from the fake clock, or put back to their old value),
//! swapping two include lines, re-pointing or rewriting the symlinked header,
//! `-DFEATURE_X`, `-DTUNE=`, `-O` level, `-g`, the dep flags (none, `-MD`, `-MMD`,
//! `-MD -MF deps/x.d -MP`), the output dir, the spelling of the include dirs (`inc`,
//! `./inc`, `inc/`, absolute), `-I.`, `touch`,
//! `CPATH`, the forced include. Edited files get mtimes from a fake clock that starts
//! 10 000 s in the past and moves 1 s per write, so both of cachepot's validation paths
//! run: trusted stat (ctime older than 2 s before the recording) and re-digest (recent
//! ctime). Now and then (and after the last state) a second cachepot pass over the
//! unchanged state must hit and must give the same bytes again.
//!
//! Knobs: `CACHEPOT_DIFF_STATES` (default 25, the CI run; `500` is the long mode),
//! `CACHEPOT_DIFF_SEED` (decimal or 0x-hex, default fixed), `CACHEPOT_DIFF_SKIP`
//! (comma-separated edit kinds, e.g. `shadow,cpath`, or header paths that no edit may
//! create, e.g. `force.h` for the working directory's: to look past a known bug). A failure
//! prints the seed, the state, the whole edit history and the differences, and saves the
//! project and both outputs under `target/tmp/differential/`. The edit sequence is a pure
//! function of the seed; only the wall-clock timing (which files are "racy") varies.

#[macro_use]
mod common;

use common::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

const DEFAULT_STATES: usize = 25;
/// The CI seed. 12345 was the first default; as the generator grew (symlinked header,
/// subdirectory, include-dir spelling, `-I.`) it stopped reaching a wrong hit within 25
/// states. Then the first of the seeds 1-8 that did was taken: 2 (4 of the 8 did).
const DEFAULT_SEED: u64 = 2;

#[test]
fn gcc() {
    require!("gcc");
    run_differential("gcc");
}

#[test]
fn clang() {
    require!("clang");
    run_differential("clang");
}

// ---------------------------------------------------------------------------------------
// Knobs
// ---------------------------------------------------------------------------------------

fn states() -> usize {
    common::rng::env_count("CACHEPOT_DIFF_STATES", DEFAULT_STATES)
}

fn seed() -> u64 {
    common::rng::env_seed("CACHEPOT_DIFF_SEED", DEFAULT_SEED)
}

fn skipped() -> Vec<String> {
    std::env::var("CACHEPOT_DIFF_SKIP")
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

// ---------------------------------------------------------------------------------------
// PRNG: xorshift64 (tests/common/rng.rs), with this test's value helper
// ---------------------------------------------------------------------------------------

use common::rng::Rng;

trait Values {
    fn value(&mut self) -> u32;
}

impl Values for Rng {
    /// A macro value: always three digits, so that changing it keeps the file's size.
    fn value(&mut self) -> u32 {
        100 + self.below(900) as u32
    }
}

// ---------------------------------------------------------------------------------------
// The project model
// ---------------------------------------------------------------------------------------

/// Every header name, with the number of macro values its template takes.
const HEADERS: &[(&str, usize)] = &[
    ("proj.h", 1),
    ("version.h", 2),
    ("common.h", 2),
    ("shadow.h", 1),
    ("mathdefs.h", 1),
    ("platform.h", 1),
    ("sysdefs.h", 1),
    ("force.h", 1),
    ("local.h", 1),
    ("detail/impl.h", 1),
    ("optional.h", 1),
];

/// Where each header starts (shadow.h twice: `include/` shadows `lib/`).
const INITIAL_COPIES: &[(&str, &str)] = &[
    ("proj.h", "include"),
    ("version.h", "include"),
    ("common.h", "include"),
    ("shadow.h", "include"),
    ("shadow.h", "lib"),
    ("mathdefs.h", "lib"),
    ("platform.h", "lib"),
    ("sysdefs.h", "sys"),
    ("force.h", "lib"),
    ("local.h", "src"),
    ("detail/impl.h", "lib"),
    ("optional.h", "extra"),
];

/// How many files `include/arch.h` may point to.
const ARCH_VARIANTS: usize = 3;

/// Directories a header copy may live in (`.` is the working directory).
const DIRS: &[&str] = &[".", "src", "include", "lib", "sys", "extra"];

/// Directories every compile searches for both quoted and angle includes: every header
/// except `optional.h` (probed with `__has_include`) keeps a copy in one of them, so every
/// state compiles.
const SEARCHED: &[&str] = &["include", "lib", "sys"];

/// Every macro the headers, the sources and the command line may define; each source
/// reports the values it saw in its `DIFF` string.
const REPORTED: &[&str] = &[
    "PROJ_SCALE",
    "VERSION_MAJOR",
    "VERSION_MINOR",
    "COMMON_BIAS",
    "FEATURE_GAIN",
    "SHADOW_VAL",
    "MATH_K",
    "PLATFORM_ID",
    "PLATFORM_OPT",
    "SYS_WORD",
    "FORCED_VAL",
    "LOCAL_VAL",
    "OPTIONAL_VAL",
    "ARCH_VAL",
    "IMPL_VAL",
    "FEAT",
    "TUNE",
    "SRC_VALUE",
];

fn header_text(name: &str, v: &[u32]) -> String {
    let body = match name {
        "proj.h" => format!(
            "#include \"version.h\"\n#include <platform.h>\n#include \"common.h\"\n\
             #define PROJ_SCALE {}\n#define PROJ_STR_(x) #x\n#define PROJ_STR(x) PROJ_STR_(x)\n\
             #define PROJ_NAME \"proj-\" PROJ_STR(VERSION_MAJOR)\n",
            v[0]
        ),
        "version.h" => format!(
            "#define VERSION_MAJOR {}\n#define VERSION_MINOR {}\n\
             #define VERSION_CODE (VERSION_MAJOR * 1000 + VERSION_MINOR)\n",
            v[0], v[1]
        ),
        "common.h" => format!(
            "#include <mathdefs.h>\n#define COMMON_BIAS {}\n\
             #define MIX(a, b) ((a) * COMMON_BIAS + math_scale(b))\n\
             #if defined(FEATURE_X)\n#define FEATURE_GAIN {}\n#else\n#define FEATURE_GAIN 1\n#endif\n",
            v[0], v[1]
        ),
        "shadow.h" => format!("#define SHADOW_VAL {}\n", v[0]),
        "mathdefs.h" => format!(
            "#define MATH_K {}\nstatic inline int math_scale(int x) {{ return x * MATH_K + MATH_K / 3; }}\n",
            v[0]
        ),
        "platform.h" => format!(
            "#include <sysdefs.h>\n#define PLATFORM_ID {}\n\
             #if PLATFORM_HAS_INCLUDE(<optional.h>)\n#include <optional.h>\n#define PLATFORM_OPT OPTIONAL_VAL\n\
             #else\n#define PLATFORM_OPT 0\n#endif\n",
            v[0]
        ),
        // `__has_include` under another name, as xxhash.h defines it; platform.h calls it.
        "sysdefs.h" => format!(
            "#define SYS_WORD {}\ntypedef unsigned long sys_word_t;\n\
             #ifdef __has_include\n#  define PLATFORM_HAS_INCLUDE __has_include\n\
             #else\n#  define PLATFORM_HAS_INCLUDE(x) 0\n#endif\n",
            v[0]
        ),
        "force.h" => format!("#define FORCED_VAL {}\n", v[0]),
        "detail/impl.h" => format!(
            "#include <shadow.h>\n#define IMPL_VAL {}\n#define IMPL_MIX(x) ((x) + IMPL_VAL)\n",
            v[0]
        ),
        "local.h" => format!("#define LOCAL_VAL {}\n#define LOCAL_TAG \"local\"\n", v[0]),
        "optional.h" => format!("#define OPTIONAL_VAL {}\n", v[0]),
        // The variants behind the `include/arch.h` symlink.
        "arch.h" => format!("#define ARCH_VAL {}\n", v[0]),
        other => panic!("no template for header {other}"),
    };
    let guard = name.to_uppercase().replace(['.', '/'], "_");
    format!("/* {name} */\n#ifndef {guard}\n#define {guard}\n{body}#endif /* {guard} */\n")
}

struct Source {
    stem: &'static str,
    /// The `#include` lines at the top, in order (swapped by edits).
    includes: Vec<&'static str>,
    /// The source's own `SRC_VALUE`.
    value: u32,
}

fn initial_sources(rng: &mut Rng) -> Vec<Source> {
    let list: [(&str, &[&str]); 6] = [
        ("main", &["<stdio.h>", "\"proj.h\"", "\"local.h\""]),
        ("util", &["<shadow.h>", "\"common.h\"", "<detail/impl.h>"]),
        (
            "config",
            &["\"version.h\"", "\"shadow.h\"", "<platform.h>", "<arch.h>"],
        ),
        (
            "mathx",
            &["<mathdefs.h>", "\"local.h\"", "<sysdefs.h>", "\"arch.h\""],
        ),
        ("io", &["<stdio.h>", "<string.h>", "\"proj.h\""]),
        (
            "feature",
            &["\"common.h\"", "<shadow.h>", "\"detail/impl.h\""],
        ),
    ];
    list.iter()
        .map(|(stem, inc)| Source {
            stem,
            includes: inc.to_vec(),
            value: rng.value(),
        })
        .collect()
}

fn source_body(stem: &str) -> &'static str {
    match stem {
        "main" => {
            r#"int main(void)
{
    printf("%s %d %s\n", PROJ_NAME,
           PROJ_SCALE + LOCAL_VAL + FORCED_SEEN + SRC_VALUE + PLATFORM_OPT, LOCAL_TAG);
    return 0;
}
"#
        }
        "util" => {
            r#"int util_mix(int a)
{
    return IMPL_MIX(MIX(a, SHADOW_VAL)) * FEATURE_GAIN + SRC_VALUE + FORCED_SEEN;
}
"#
        }
        "config" => {
            r#"int config_code(void)
{
    sys_word_t w = SYS_WORD;
    return VERSION_CODE + SHADOW_VAL + PLATFORM_ID + (int)w + PLATFORM_OPT + ARCH_VAL
           + SRC_VALUE;
}
"#
        }
        "mathx" => {
            r#"int mathx(int x)
{
#ifdef TUNE
    x *= TUNE;
#endif
    return math_scale(x) * ARCH_VAL + LOCAL_VAL - SYS_WORD + SRC_VALUE;
}
"#
        }
        "io" => {
            // An unused variable under FEATURE_X: a -Wall warning cachepot must replay.
            r#"void io_print(const char *s)
{
#if defined(FEATURE_X)
    int unused_in_io = 1;
#endif
    printf("%s %zu %d %d\n", s, strlen(s), PROJ_SCALE, SRC_VALUE);
}
"#
        }
        "feature" => {
            r#"#if defined(FEATURE_X)
#include "version.h"
#define FEAT (VERSION_MINOR + FEATURE_GAIN)
#else
#define FEAT 7
#endif
#if __has_include("local.h")
#include "local.h"
#define FEAT_LOCAL LOCAL_VAL
#else
#define FEAT_LOCAL 0
#endif
int feature_value(void)
{
    return FEAT * 3 + FEAT_LOCAL + MIX(SHADOW_VAL, SRC_VALUE) + IMPL_MIX(FORCED_SEEN);
}
"#
        }
        other => panic!("no body for source {other}"),
    }
}

fn source_text(src: &Source) -> String {
    let mut t = format!("/* {}.c */\n", src.stem);
    for inc in &src.includes {
        let _ = writeln!(t, "#include {inc}");
    }
    let _ = write!(
        t,
        "#define SRC_VALUE {}\n#define XSTR(x) STR(x)\n#define STR(x) #x\n\
         #ifdef FORCED_VAL\n#define FORCED_SEEN FORCED_VAL\n#else\n#define FORCED_SEEN 0\n#endif\n",
        src.value
    );
    // The body first (feature.c defines FEAT and may include more there), then the
    // report of every macro value this translation unit saw.
    t.push_str(source_body(src.stem));
    for m in REPORTED {
        let _ = write!(
            t,
            "#ifdef {m}\n#define R_{m} \" {m}=\" XSTR({m})\n#else\n#define R_{m} \"\"\n#endif\n"
        );
    }
    let _ = write!(t, "const char diff_{}[] = \"DIFF {}\"", src.stem, src.stem);
    for m in REPORTED {
        let _ = write!(t, " R_{m}");
    }
    t.push_str(";\n");
    t
}

/// The command-line and environment part of a state.
#[derive(Clone, Debug)]
struct Flags {
    opt: usize,
    g: bool,
    /// 0: no dep flag, 1: -MD, 2: -MMD, 3: -MD -MF deps/<stem>.d -MP.
    dep: usize,
    feature_x: bool,
    tune: Option<u32>,
    forced: bool,
    /// Index into CPATHS.
    cpath: usize,
    /// Index into OUTDIRS.
    outdir: usize,
    /// How the include dirs are spelled: index into SPELLINGS.
    spelling: usize,
    /// The working directory, for the absolute spelling.
    root: PathBuf,
    /// `-I.` after `-Ilib` (the working directory as an include dir).
    dot: bool,
}

/// `-Iinclude`, `-I./include`, `-Iinclude/`, `-I/abs/work/include`: gcc writes
/// `include/x.h` in dep files for the first two, but lists `./include` in its search list.
const SPELLINGS: &[&str] = &["relative", "./relative", "relative/", "absolute"];

const OPTS: &[&str] = &["-O0", "-O1", "-O2", "-Os"];
const DEP_MODES: &[&str] = &["no dep flag", "-MD", "-MMD", "-MD -MF deps/<stem>.d -MP"];
/// `:extra` starts with an empty element: the working directory.
const CPATHS: &[Option<&str>] = &[None, Some("extra"), Some("extra:include"), Some(":extra")];
const OUTDIRS: &[&str] = &["obj", "build/o"];

impl Flags {
    fn args(&self, stem: &str) -> Vec<String> {
        let mut a = vec![OPTS[self.opt].to_string()];
        if self.g {
            a.push("-g".into());
        }
        a.push("-Wall".into());
        if self.feature_x {
            a.push("-DFEATURE_X".into());
        }
        if let Some(t) = self.tune {
            a.push(format!("-DTUNE={t}"));
        }
        let dir = |d: &str| match self.spelling {
            0 => d.to_string(),
            1 => format!("./{d}"),
            2 => format!("{d}/"),
            _ => self.root.join(d).to_string_lossy().into_owned(),
        };
        a.extend([format!("-I{}", dir("include")), format!("-I{}", dir("lib"))]);
        if self.dot {
            a.push("-I.".into());
        }
        a.extend(["-isystem".into(), dir("sys")]);
        if self.forced {
            a.extend(["-include", "force.h"].map(String::from));
        }
        match self.dep {
            0 => {}
            1 => a.push("-MD".into()),
            2 => a.push("-MMD".into()),
            _ => a.extend([
                "-MD".into(),
                "-MF".into(),
                format!("deps/{stem}.d"),
                "-MP".into(),
            ]),
        }
        a.extend([
            "-c".into(),
            format!("src/{stem}.c"),
            "-o".into(),
            self.object(stem),
        ]);
        a
    }

    fn object(&self, stem: &str) -> String {
        format!("{}/{stem}.o", OUTDIRS[self.outdir])
    }

    fn dep_file(&self, stem: &str) -> Option<String> {
        match self.dep {
            0 => None,
            1 | 2 => Some(format!("{}/{stem}.d", OUTDIRS[self.outdir])),
            _ => Some(format!("deps/{stem}.d")),
        }
    }

    fn describe(&self) -> String {
        format!(
            "{}{} dep={} FEATURE_X={} TUNE={:?} forced={} CPATH={:?} out={} include dirs {}{}",
            OPTS[self.opt],
            if self.g { " -g" } else { "" },
            DEP_MODES[self.dep],
            self.feature_x,
            self.tune,
            self.forced,
            CPATHS[self.cpath],
            OUTDIRS[self.outdir],
            SPELLINGS[self.spelling],
            if self.dot { " -I." } else { "" }
        )
    }
}

/// How a directory's mtime is left after a file was added to or removed from it.
#[derive(Clone, Copy, Debug)]
enum DirTime {
    /// As the kernel set it (now).
    Now,
    /// The next value of the fake clock (like `tar x`).
    Fake,
    /// Put back to what it was before the change (ctime still moves).
    Restored,
}

struct Project {
    work: PathBuf,
    /// header name → directory → macro values of that copy.
    copies: BTreeMap<&'static str, BTreeMap<&'static str, Vec<u32>>>,
    sources: Vec<Source>,
    flags: Flags,
    /// The fake clock, in seconds since the epoch: strictly increasing, in the past.
    clock: u64,
    /// `include/arch.h` is a symlink to `variants/arch-<arch + 1>.h`.
    arch: usize,
    /// The value in each variant; the variants are written together (same size, same
    /// mtime, and usually the same ctime tick), like a checkout writes them.
    arch_vals: Vec<u32>,
}

fn rel_path(dir: &str, name: &str) -> String {
    if dir == "." {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// The directories the compiler looks into for `name`, in order (a superset: `src/` is
/// searched only for quoted includes of the sources, `extra/` only with CPATH).
/// `-include force.h` looks in the working directory first, then the quoted-include chain;
/// `-I.` (when on) comes after `-Ilib`.
fn lookup_order(name: &str) -> &'static [&'static str] {
    if name == "force.h" {
        &[".", "include", "lib", "sys", "extra"]
    } else {
        &["src", "include", "lib", ".", "sys", "extra"]
    }
}

fn header_arity(name: &str) -> usize {
    HEADERS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, k)| *k)
        .expect("known header")
}

fn set_mtime(path: &Path, t: SystemTime) {
    let f = fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    f.set_modified(t)
        .unwrap_or_else(|e| panic!("set mtime of {}: {e}", path.display()));
}

fn mtime(path: &Path) -> SystemTime {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| panic!("mtime of {}: {e}", path.display()))
}

impl Project {
    fn new(work: &Path, rng: &mut Rng) -> Project {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs();
        let mut copies: BTreeMap<&'static str, BTreeMap<&'static str, Vec<u32>>> = BTreeMap::new();
        for (name, dir) in INITIAL_COPIES {
            let vals = (0..header_arity(name)).map(|_| rng.value()).collect();
            copies.entry(name).or_default().insert(dir, vals);
        }
        let mut p = Project {
            work: work.to_path_buf(),
            copies,
            sources: initial_sources(rng),
            flags: Flags {
                opt: 0,
                g: false,
                dep: 1,
                feature_x: false,
                tune: None,
                forced: true,
                cpath: 0,
                outdir: 0,
                spelling: 0,
                root: work.to_path_buf(),
                dot: false,
            },
            clock: now - 10_000,
            arch: 0,
            arch_vals: Vec::new(),
        };
        for d in DIRS
            .iter()
            .chain(["deps", "obj", "build/o", "variants"].iter())
        {
            fs::create_dir_all(work.join(d)).expect("create project dir");
        }
        for (name, dirs) in p.copies.clone() {
            for (dir, vals) in dirs {
                let t = p.tick();
                p.write(&rel_path(dir, name), &header_text(name, &vals), Some(t));
            }
        }
        for i in 0..p.sources.len() {
            let t = p.tick();
            let text = source_text(&p.sources[i]);
            p.write(&format!("src/{}.c", p.sources[i].stem), &text, Some(t));
        }
        p.write_variants(rng);
        p.point_arch(0);
        // The directories too, so that the first states may trust them.
        for d in DIRS {
            let t = p.tick();
            set_mtime(&work.join(d), t);
        }
        p
    }

    /// Rewrites every `arch.h` variant with new values and one shared mtime.
    fn write_variants(&mut self, rng: &mut Rng) {
        self.arch_vals = (0..ARCH_VARIANTS).map(|_| rng.value()).collect();
        let t = self.tick();
        let texts: Vec<String> = self
            .arch_vals
            .iter()
            .map(|v| header_text("arch.h", &[*v]))
            .collect();
        for (i, text) in texts.iter().enumerate() {
            self.write(&format!("variants/arch-{}.h", i + 1), text, None);
        }
        for i in 0..ARCH_VARIANTS {
            set_mtime(&self.work.join(format!("variants/arch-{}.h", i + 1)), t);
        }
    }

    /// Points `include/arch.h` at variant `i` (a new symlink renamed over the old one,
    /// as `ln -sfn` or a checkout would leave it).
    fn point_arch(&mut self, i: usize) {
        self.arch = i;
        let tmp = self.work.join("include/.arch.h.tmp");
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(format!("../variants/arch-{}.h", i + 1), &tmp)
            .expect("create arch.h symlink");
        fs::rename(&tmp, self.work.join("include/arch.h")).expect("rename arch.h symlink");
    }

    /// After `rel` went away: removes its directory when that is a now empty
    /// subdirectory of a project dir (half of the time), and says so.
    fn prune(&self, rel: &str, rng: &mut Rng) -> String {
        let Some(parent) = Path::new(rel).parent() else {
            return String::new();
        };
        let top = parent.to_string_lossy();
        if top.is_empty() || DIRS.contains(&top.as_ref()) {
            return String::new();
        }
        let empty = fs::read_dir(self.work.join(parent)).is_ok_and(|mut d| d.next().is_none());
        if empty && rng.chance(1, 2) {
            fs::remove_dir(self.work.join(parent)).expect("remove empty dir");
            format!(", then rmdir {top}")
        } else {
            String::new()
        }
    }

    fn tick(&mut self) -> SystemTime {
        self.clock += 1;
        SystemTime::UNIX_EPOCH + Duration::from_secs(self.clock)
    }

    fn write(&self, rel: &str, text: &str, t: Option<SystemTime>) {
        let p = self.work.join(rel);
        fs::create_dir_all(p.parent().expect("has parent")).expect("create parent dir");
        fs::write(&p, text).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        if let Some(t) = t {
            set_mtime(&p, t);
        }
    }

    /// The directories a change to the files `rels` touches (each one's parent and its
    /// project dir), with their mtimes before the change (None: not there yet).
    fn dirs_before(&self, rels: &[&str]) -> Vec<(PathBuf, Option<SystemTime>)> {
        let mut out: Vec<(PathBuf, Option<SystemTime>)> = Vec::new();
        for rel in rels {
            let parent = Path::new(rel).parent().unwrap_or(Path::new(""));
            let top = parent
                .components()
                .next()
                .map_or(PathBuf::from("."), |c| PathBuf::from(c.as_os_str()));
            for d in [parent.to_path_buf(), top] {
                let p = self.work.join(&d);
                if out.iter().all(|(q, _)| *q != p) {
                    let before = fs::metadata(&p).and_then(|m| m.modified()).ok();
                    out.push((p, before));
                }
            }
        }
        out
    }

    /// Leaves the directories of `dirs_before` with mtimes as `how` says.
    fn dir_time(&mut self, dirs: Vec<(PathBuf, Option<SystemTime>)>, how: DirTime) {
        for (p, before) in dirs {
            if !p.is_dir() {
                continue;
            }
            match (how, before) {
                (DirTime::Now, _) => {}
                (DirTime::Fake, _) => {
                    let t = self.tick();
                    set_mtime(&p, t);
                }
                (DirTime::Restored, Some(t)) => set_mtime(&p, t),
                (DirTime::Restored, None) => {}
            }
        }
    }

    /// Copies of always-needed headers left in a searched directory if `dir`'s copy of
    /// `name` went away.
    fn still_reachable_without(&self, name: &str, dir: &str) -> bool {
        name == "optional.h"
            || self.copies[name]
                .keys()
                .any(|d| *d != dir && SEARCHED.contains(d))
    }

    /// Applies one random edit; returns its description, or None when the chosen kind
    /// does not apply to this state (the caller draws again).
    fn edit(&mut self, rng: &mut Rng, skip: &[String]) -> Option<String> {
        const KINDS: &[(&str, usize)] = &[
            ("header-value", 6),
            ("source-value", 1),
            ("shadow", 5),
            ("unshadow", 2),
            ("add-copy", 2),
            ("remove-copy", 2),
            ("move-header", 2),
            ("swap-includes", 1),
            ("toggle-feature", 1),
            ("tune", 1),
            ("opt", 1),
            ("debug", 1),
            ("include-spelling", 1),
            ("dot-include", 1),
            ("dep-flags", 1),
            ("touch", 2),
            ("cpath", 1),
            ("forced-include", 1),
            ("outdir", 1),
            ("flip-arch", 2),
            ("arch-variants", 1),
        ];
        let total: usize = KINDS.iter().map(|(_, w)| w).sum();
        let mut r = rng.below(total);
        let kind = KINDS
            .iter()
            .find(|(_, w)| {
                if r < *w {
                    true
                } else {
                    r -= w;
                    false
                }
            })
            .map(|(k, _)| *k)
            .expect("weights cover the range");
        if skip.iter().any(|s| s == kind) {
            return None;
        }
        let dir_time = |rng: &mut Rng| match rng.below(3) {
            0 => DirTime::Now,
            1 => DirTime::Fake,
            _ => DirTime::Restored,
        };
        match kind {
            "header-value" => {
                let all: Vec<(&'static str, &'static str)> = self
                    .copies
                    .iter()
                    .flat_map(|(n, ds)| ds.keys().map(move |d| (*n, *d)))
                    .collect();
                let (name, dir) = *rng.pick(&all);
                let vals = self.copies.get_mut(name).unwrap().get_mut(dir).unwrap();
                let i = rng.below(vals.len());
                let old = vals[i];
                let mut new = rng.value();
                while new == old {
                    new = rng.value();
                }
                vals[i] = new;
                let text = header_text(name, vals);
                let rel = rel_path(dir, name);
                let racy = rng.chance(1, 3);
                let t = if racy {
                    mtime(&self.work.join(&rel))
                } else {
                    self.tick()
                };
                self.write(&rel, &text, Some(t));
                Some(format!(
                    "{rel}: value #{i} {old} -> {new}{}",
                    if racy {
                        " (same size, old mtime put back)"
                    } else {
                        ""
                    }
                ))
            }
            "source-value" => {
                let i = rng.below(self.sources.len());
                let old = self.sources[i].value;
                let mut new = rng.value();
                while new == old {
                    new = rng.value();
                }
                self.sources[i].value = new;
                let rel = format!("src/{}.c", self.sources[i].stem);
                let racy = rng.chance(1, 3);
                let t = if racy {
                    mtime(&self.work.join(&rel))
                } else {
                    self.tick()
                };
                self.write(&rel, &source_text(&self.sources[i]), Some(t));
                Some(format!(
                    "{rel}: SRC_VALUE {old} -> {new}{}",
                    if racy {
                        " (same size, old mtime put back)"
                    } else {
                        ""
                    }
                ))
            }
            "shadow" | "add-copy" => {
                let (name, _) = *rng.pick(HEADERS);
                let free: Vec<&'static str> = if kind == "shadow" {
                    // A new copy searched before the one the compiler finds now.
                    let order = lookup_order(name);
                    let first = order
                        .iter()
                        .position(|d| self.copies[name].contains_key(d))
                        .unwrap_or(order.len());
                    order[..first].to_vec()
                } else {
                    DIRS.iter()
                        .copied()
                        .filter(|d| !self.copies[name].contains_key(d))
                        .collect()
                };
                if free.is_empty() {
                    return None;
                }
                let dir = *rng.pick(&free);
                if skip.iter().any(|s| *s == rel_path(dir, name)) {
                    return None;
                }
                let vals: Vec<u32> = (0..header_arity(name)).map(|_| rng.value()).collect();
                let how = dir_time(rng);
                let rel = rel_path(dir, name);
                let before = self.dirs_before(&[&rel]);
                let t = self.tick();
                self.write(&rel, &header_text(name, &vals), Some(t));
                self.dir_time(before, how);
                self.copies.get_mut(name).unwrap().insert(dir, vals.clone());
                let what = if kind == "shadow" {
                    "shadow: add"
                } else {
                    "add"
                };
                Some(format!(
                    "{what} {rel} with values {vals:?} (dir mtime {how:?})"
                ))
            }
            "remove-copy" | "unshadow" => {
                let removable: Vec<(&'static str, &'static str)> = if kind == "unshadow" {
                    // The copy the compiler finds now, when another one would take over.
                    self.copies
                        .iter()
                        .filter(|(_, ds)| ds.len() > 1)
                        .filter_map(|(n, ds)| {
                            lookup_order(n)
                                .iter()
                                .find(|d| ds.contains_key(*d))
                                .map(|d| (*n, *d))
                        })
                        .filter(|(n, d)| self.still_reachable_without(n, d))
                        .collect()
                } else {
                    self.copies
                        .iter()
                        .flat_map(|(n, ds)| ds.keys().map(move |d| (*n, *d)))
                        .filter(|(n, d)| self.still_reachable_without(n, d))
                        .collect()
                };
                if removable.is_empty() {
                    return None;
                }
                let (name, dir) = *rng.pick(&removable);
                let how = dir_time(rng);
                let rel = rel_path(dir, name);
                let before = self.dirs_before(&[&rel]);
                fs::remove_file(self.work.join(&rel))
                    .unwrap_or_else(|e| panic!("remove {rel}: {e}"));
                let pruned = self.prune(&rel, rng);
                self.dir_time(before, how);
                self.copies.get_mut(name).unwrap().remove(dir);
                let what = if kind == "unshadow" {
                    "unshadow: remove"
                } else {
                    "remove"
                };
                Some(format!("{what} {rel}{pruned} (dir mtime {how:?})"))
            }
            "move-header" => {
                let movable: Vec<(&'static str, &'static str)> = self
                    .copies
                    .iter()
                    .flat_map(|(n, ds)| ds.keys().map(move |d| (*n, *d)))
                    .collect();
                let (name, from) = *rng.pick(&movable);
                let to = *rng.pick(DIRS);
                if to == from || skip.iter().any(|s| *s == rel_path(to, name)) {
                    return None;
                }
                let stays_reachable = name == "optional.h"
                    || SEARCHED.contains(&to)
                    || self.still_reachable_without(name, from);
                if !stays_reachable {
                    return None;
                }
                let how = dir_time(rng);
                let (a, b) = (rel_path(from, name), rel_path(to, name));
                let before = self.dirs_before(&[&a, &b]);
                // rename keeps the file's mtime (and inode); a copy at the destination
                // is replaced.
                let parent = self.work.join(&b);
                fs::create_dir_all(parent.parent().unwrap()).expect("create parent dir");
                fs::rename(self.work.join(&a), self.work.join(&b))
                    .unwrap_or_else(|e| panic!("rename {a} {b}: {e}"));
                let pruned = self.prune(&a, rng);
                self.dir_time(before, how);
                let vals = self.copies.get_mut(name).unwrap().remove(from).unwrap();
                let replaced = self.copies.get_mut(name).unwrap().insert(to, vals);
                Some(format!(
                    "move {a} -> {b}{}{pruned} (dir mtimes {how:?})",
                    if replaced.is_some() {
                        " (replacing a copy)"
                    } else {
                        ""
                    }
                ))
            }
            "swap-includes" => {
                let i = rng.below(self.sources.len());
                let n = self.sources[i].includes.len();
                let (a, b) = (rng.below(n), rng.below(n));
                if a == b {
                    return None;
                }
                self.sources[i].includes.swap(a, b);
                let rel = format!("src/{}.c", self.sources[i].stem);
                let t = self.tick();
                self.write(&rel, &source_text(&self.sources[i]), Some(t));
                Some(format!(
                    "{rel}: include order now {}",
                    self.sources[i].includes.join(" ")
                ))
            }
            "toggle-feature" => {
                self.flags.feature_x = !self.flags.feature_x;
                Some(format!(
                    "FEATURE_X {}",
                    if self.flags.feature_x { "on" } else { "off" }
                ))
            }
            "tune" => {
                let old = self.flags.tune;
                self.flags.tune = if rng.chance(1, 3) {
                    None
                } else {
                    Some(rng.value())
                };
                if self.flags.tune == old {
                    return None;
                }
                Some(format!("-DTUNE {old:?} -> {:?}", self.flags.tune))
            }
            "opt" => {
                let new = rng.below(OPTS.len());
                if new == self.flags.opt {
                    return None;
                }
                self.flags.opt = new;
                Some(format!("optimisation {}", OPTS[new]))
            }
            "include-spelling" => {
                let new = rng.below(SPELLINGS.len());
                if new == self.flags.spelling {
                    return None;
                }
                self.flags.spelling = new;
                Some(format!("include dirs spelled {}", SPELLINGS[new]))
            }
            "dot-include" => {
                self.flags.dot = !self.flags.dot;
                Some(format!("-I. {}", if self.flags.dot { "on" } else { "off" }))
            }
            "debug" => {
                self.flags.g = !self.flags.g;
                Some(format!("-g {}", if self.flags.g { "on" } else { "off" }))
            }
            "dep-flags" => {
                let new = rng.below(DEP_MODES.len());
                if new == self.flags.dep {
                    return None;
                }
                self.flags.dep = new;
                Some(format!("dep flags: {}", DEP_MODES[new]))
            }
            "touch" => {
                let mut all: Vec<String> = self
                    .copies
                    .iter()
                    .flat_map(|(n, ds)| ds.keys().map(move |d| rel_path(d, n)))
                    .collect();
                all.extend(self.sources.iter().map(|s| format!("src/{}.c", s.stem)));
                let rel = rng.pick(&all).clone();
                let t = self.tick();
                set_mtime(&self.work.join(&rel), t);
                Some(format!("touch {rel}"))
            }
            "cpath" => {
                let new = rng.below(CPATHS.len());
                if new == self.flags.cpath {
                    return None;
                }
                self.flags.cpath = new;
                Some(format!("CPATH {:?}", CPATHS[new]))
            }
            "forced-include" => {
                self.flags.forced = !self.flags.forced;
                Some(format!(
                    "-include force.h {}",
                    if self.flags.forced { "on" } else { "off" }
                ))
            }
            "flip-arch" => {
                let new = rng.below(ARCH_VARIANTS);
                if new == self.arch {
                    return None;
                }
                let (old, old_val) = (self.arch, self.arch_vals[self.arch]);
                self.point_arch(new);
                Some(format!(
                    "symlink include/arch.h: arch-{}.h (ARCH_VAL {old_val}) -> arch-{}.h (ARCH_VAL {})",
                    old + 1,
                    new + 1,
                    self.arch_vals[new]
                ))
            }
            "arch-variants" => {
                self.write_variants(rng);
                Some(format!(
                    "rewrite variants/arch-*.h together with ARCH_VAL {:?} (one shared mtime)",
                    self.arch_vals
                ))
            }
            "outdir" => {
                self.flags.outdir = 1 - self.flags.outdir;
                Some(format!("output dir {}", OUTDIRS[self.flags.outdir]))
            }
            other => panic!("unknown edit kind {other}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Compiling and comparing
// ---------------------------------------------------------------------------------------

/// What one compile left behind.
struct Outputs {
    obj: Option<Vec<u8>>,
    dep: Option<Vec<u8>>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    status: Option<i32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Direct,
    Preprocessed,
    Miss,
    Other,
}

#[derive(Default)]
struct Totals {
    bare: u64,
    compiles: u64,
    direct: u64,
    preprocessed: u64,
    misses: u64,
    other: u64,
    second_passes: u64,
}

struct Counters {
    hits: u64,
    misses: u64,
    direct: u64,
    preprocessed: u64,
    errors: u64,
}

fn counters(s: &Sandbox) -> Counters {
    let v = s.stats();
    Counters {
        hits: stat_of(&v, "cache_hits"),
        misses: stat_of(&v, "cache_misses"),
        direct: stat_of(&v, "direct_hits"),
        preprocessed: stat_of(&v, "preprocessed_hits"),
        errors: stat_of(&v, "cache_errors"),
    }
}

/// Reads and removes the outputs the command named, so that nothing stale is compared.
fn take_outputs(s: &Sandbox, flags: &Flags, stem: &str, out: &std::process::Output) -> Outputs {
    let take = |rel: &str| {
        let p = s.path(rel);
        let data = fs::read(&p).ok();
        let _ = fs::remove_file(&p);
        data
    };
    Outputs {
        obj: take(&flags.object(stem)),
        dep: flags.dep_file(stem).and_then(|d| take(&d)),
        stdout: out.stdout.clone(),
        stderr: out.stderr.clone(),
        status: out.status.code(),
    }
}

/// The `DIFF <stem> ...` string compiled into an object (the macro values it saw).
fn diff_string(obj: &[u8]) -> String {
    match obj.windows(5).position(|w| w == b"DIFF ") {
        Some(i) => {
            let end = obj[i..]
                .iter()
                .position(|&b| b == 0)
                .map_or(obj.len(), |n| i + n);
            lossy(&obj[i..end])
        }
        None => "(no DIFF string found)".to_string(),
    }
}

/// A description of how two outputs differ, or None when they agree.
fn compare(bare: &Outputs, cached: &Outputs) -> Option<String> {
    let mut why = String::new();
    if bare.status != cached.status {
        let _ = writeln!(
            why,
            "exit status: bare {:?}, cachepot {:?}",
            bare.status, cached.status
        );
    }
    match (&bare.obj, &cached.obj) {
        (Some(b), Some(c)) if b != c => {
            let first = b.iter().zip(c.iter()).position(|(x, y)| x != y);
            let differing = b.iter().zip(c.iter()).filter(|(x, y)| x != y).count();
            let _ = writeln!(
                why,
                "object differs: bare {} bytes, cachepot {} bytes, first difference at offset {:?}, {} differing bytes in the common length\n  bare:     {}\n  cachepot: {}",
                b.len(),
                c.len(),
                first,
                differing,
                diff_string(b),
                diff_string(c)
            );
        }
        (Some(_), None) => {
            let _ = writeln!(why, "cachepot wrote no object");
        }
        (None, _) => {
            let _ = writeln!(why, "the bare compiler wrote no object (generator bug?)");
        }
        _ => {}
    }
    match (&bare.dep, &cached.dep) {
        (Some(b), Some(c)) => {
            let (b, c) = (lossy(b), lossy(c));
            if make_rules(&b) != make_rules(&c) {
                let _ = writeln!(
                    why,
                    "dep file rules differ\n--- bare ---\n{b}--- cachepot ---\n{c}"
                );
            }
        }
        (Some(_), None) => {
            let _ = writeln!(why, "cachepot wrote no dep file");
        }
        (None, Some(_)) => {
            let _ = writeln!(why, "cachepot wrote a dep file the compiler did not");
        }
        (None, None) => {}
    }
    if bare.stdout != cached.stdout {
        let _ = writeln!(
            why,
            "stdout differs\n--- bare ---\n{}--- cachepot ---\n{}",
            lossy(&bare.stdout),
            lossy(&cached.stdout)
        );
    }
    if bare.stderr != cached.stderr {
        let _ = writeln!(
            why,
            "stderr differs\n--- bare ---\n{}--- cachepot ---\n{}",
            lossy(&bare.stderr),
            lossy(&cached.stderr)
        );
    }
    (!why.is_empty()).then_some(why)
}

struct Run {
    cc: &'static str,
    seed: u64,
    states: usize,
    s: Sandbox,
    project: Project,
    history: Vec<(usize, String)>,
    totals: Totals,
    before: Counters,
    /// The state being checked.
    state: usize,
}

impl Run {
    fn bare(&mut self, stem: &str) -> Outputs {
        self.totals.bare += 1;
        let args = self.project.flags.args(stem);
        let out = self.s.bare(self.cc, &args);
        let o = take_outputs(&self.s, &self.project.flags, stem, &out);
        if !out.status.success() {
            self.fail(
                0,
                stem,
                "the bare compiler failed: the generator made a broken state",
                None,
                None,
                &format!("{}\n{}", lossy(&out.stdout), lossy(&out.stderr)),
            );
        }
        o
    }

    fn cached(&mut self, stem: &str) -> (Outputs, Kind) {
        let args = self.project.flags.args(stem);
        let mut all = vec![self.cc.to_string()];
        all.extend(args);
        // One compile's log at a time (thousands of debug logs would be large), for the
        // failure message.
        let _ = fs::remove_file(&self.s.log);
        let out = self.s.cachepot(&all);
        let o = take_outputs(&self.s, &self.project.flags, stem, &out);
        let after = counters(&self.s);
        let b = &self.before;
        let kind = if after.hits == b.hits + 1 && after.direct == b.direct + 1 {
            Kind::Direct
        } else if after.hits == b.hits + 1 && after.preprocessed == b.preprocessed + 1 {
            Kind::Preprocessed
        } else if after.misses == b.misses + 1 && after.hits == b.hits {
            Kind::Miss
        } else {
            Kind::Other
        };
        let errors = after.errors - b.errors;
        self.before = after;
        self.totals.compiles += 1;
        match kind {
            Kind::Direct => self.totals.direct += 1,
            Kind::Preprocessed => self.totals.preprocessed += 1,
            Kind::Miss => self.totals.misses += 1,
            Kind::Other => self.totals.other += 1,
        }
        if errors != 0 {
            let stats = self.s.stats();
            self.fail(
                0,
                stem,
                &format!("cachepot counted {errors} cache error(s) ({kind:?})"),
                None,
                None,
                &format!("{}", stats["stats"]["cache_errors_by_kind"]),
            );
        }
        (o, kind)
    }

    /// Panics with everything needed to reproduce, after saving the evidence.
    fn fail(
        &self,
        state: usize,
        stem: &str,
        what: &str,
        bare: Option<&Outputs>,
        cached: Option<&Outputs>,
        detail: &str,
    ) -> ! {
        let state = if state == 0 { self.state } else { state };
        let mut msg = format!(
            "DIFFERENTIAL FAILURE ({}): {what}\n  seed {} (CACHEPOT_DIFF_SEED={}), state {state} of {}\n  source src/{stem}.c\n  command: {} {}\n  flags: {}\n\n{detail}\n",
            self.cc,
            self.seed,
            self.seed,
            self.states,
            self.cc,
            self.project.flags.args(stem).join(" "),
            self.project.flags.describe()
        );
        msg.push_str("\nedit history (state: edit):\n");
        for (n, e) in &self.history {
            let _ = writeln!(msg, "  {n:4}: {e}");
        }
        let _ = writeln!(
            msg,
            "\nreproduce: CACHEPOT_DIFF_SEED={} CACHEPOT_DIFF_STATES={state} cargo test --test differential -- --exact {}",
            self.seed, self.cc
        );
        let saved = self.save(state, stem, bare, cached, &msg);
        let _ = writeln!(msg, "evidence saved in {}", saved.display());
        let _ = writeln!(
            msg,
            "\n--- cachepot log of the failing compile (tail) ---\n{}",
            tail(&self.s.log_text(), 40)
        );
        panic!("{msg}");
    }

    fn save(
        &self,
        state: usize,
        stem: &str,
        bare: Option<&Outputs>,
        cached: Option<&Outputs>,
        msg: &str,
    ) -> PathBuf {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("differential")
            .join(format!("{}-seed{}-state{state}", self.cc, self.seed));
        let _ = fs::remove_dir_all(&dir);
        copy_tree(&self.s.work, &dir.join("project"));
        let put = |name: &str, data: &Option<Vec<u8>>| {
            if let Some(d) = data {
                let _ = fs::write(dir.join(name), d);
            }
        };
        if let Some(b) = bare {
            put(&format!("bare-{stem}.o"), &b.obj);
            put(&format!("bare-{stem}.d"), &b.dep);
        }
        if let Some(c) = cached {
            put(&format!("cachepot-{stem}.o"), &c.obj);
            put(&format!("cachepot-{stem}.d"), &c.dep);
        }
        let _ = fs::write(dir.join("failure.txt"), msg);
        let _ = fs::write(dir.join("cachepot.log"), self.s.log_text());
        dir
    }

    /// Compiles every source bare and through cachepot and compares; returns the bare
    /// outputs for a later second pass.
    fn check_state(&mut self, state: usize) -> Vec<(&'static str, Outputs)> {
        let stems: Vec<&'static str> = self.project.sources.iter().map(|s| s.stem).collect();
        let mut bares = Vec::new();
        for stem in stems {
            let bare = self.bare(stem);
            let (cached, kind) = self.cached(stem);
            if let Some(why) = compare(&bare, &cached) {
                self.fail(
                    state,
                    stem,
                    &format!("cachepot's result differs from the bare compiler's ({kind:?})"),
                    Some(&bare),
                    Some(&cached),
                    &why,
                );
            }
            bares.push((stem, bare));
        }
        bares
    }

    /// Compiles everything through cachepot again with nothing changed: each must hit and
    /// give the bare compiler's outputs again.
    fn second_pass(&mut self, state: usize, bares: &[(&'static str, Outputs)]) {
        self.totals.second_passes += 1;
        for (stem, bare) in bares {
            let (cached, kind) = self.cached(stem);
            if let Some(why) = compare(bare, &cached) {
                self.fail(
                    state,
                    stem,
                    &format!("second pass: cachepot's result differs from the bare compiler's ({kind:?})"),
                    Some(bare),
                    Some(&cached),
                    &why,
                );
            }
            if !matches!(kind, Kind::Direct | Kind::Preprocessed) {
                self.fail(
                    state,
                    stem,
                    &format!("second pass over an unchanged state was not a hit ({kind:?}); not a wrong result, a lost hit"),
                    Some(bare),
                    Some(&cached),
                    "",
                );
            }
        }
    }
}

/// Copies a directory tree, keeping symlinks as symlinks and mtimes as they were.
fn copy_tree(from: &Path, to: &Path) {
    let _ = fs::create_dir_all(to);
    let Ok(entries) = fs::read_dir(from) else {
        return;
    };
    for e in entries.flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let Ok(meta) = fs::symlink_metadata(&src) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            if let Ok(target) = fs::read_link(&src) {
                let _ = std::os::unix::fs::symlink(target, &dst);
            }
        } else if meta.is_dir() {
            copy_tree(&src, &dst);
        } else if fs::copy(&src, &dst).is_ok() {
            if let Ok(t) = meta.modified() {
                let _ = fs::File::options()
                    .write(true)
                    .open(&dst)
                    .and_then(|f| f.set_modified(t));
            }
        }
    }
}

fn run_differential(cc: &'static str) {
    let (seed, states, skip) = (seed(), states(), skipped());
    let started = Instant::now();
    let mut s = Sandbox::new();
    let tmp = s.root().join("tmp");
    fs::create_dir_all(&tmp).expect("create sandbox TMPDIR");
    s.set_env("TMPDIR", &tmp);
    // The same seed gives gcc and clang the same edit history.
    let mut rng = Rng::new(seed);
    let project = Project::new(&s.work, &mut rng);
    let before = counters(&s);
    let mut run = Run {
        cc,
        seed,
        states,
        s,
        project,
        history: Vec::new(),
        totals: Totals::default(),
        before,
        state: 0,
    };
    for state in 1..=states {
        run.state = state;
        // State 1 is the initial project; later states apply one to three edits.
        if state == 1 {
            run.history.push((
                1,
                format!("initial project, {}", run.project.flags.describe()),
            ));
        } else {
            let n = 1 + rng.below(3);
            let mut done = 0;
            let mut tries = 0;
            while done < n && tries < 100 {
                tries += 1;
                if let Some(e) = run.project.edit(&mut rng, &skip) {
                    run.history.push((state, e));
                    done += 1;
                }
            }
        }
        match CPATHS[run.project.flags.cpath] {
            Some(p) => run.s.set_env("CPATH", p),
            None => run.s.remove_env("CPATH"),
        };
        let bares = run.check_state(state);
        if state == states || rng.chance(1, 4) {
            run.second_pass(state, &bares);
        }
    }
    let t = &run.totals;
    let elapsed = started.elapsed();
    let _ = writeln!(
        std::io::stderr(),
        "differential {cc}: seed {seed}, {states} states, {} bare and {} cachepot compiles ({} second passes): {} direct hits, {} preprocessed hits, {} misses, {} other; {:.1} s",
        t.bare,
        t.compiles,
        t.second_passes,
        t.direct,
        t.preprocessed,
        t.misses,
        t.other,
        elapsed.as_secs_f64()
    );
    assert_eq!(t.other, 0, "some compiles were neither hits nor misses");
}
