//! Differential testing of cachepot as cargo's `RUSTC_WRAPPER` (issue 6, item 1, Rust): a
//! generated cargo workspace goes through a seeded sequence of random edits, and in every
//! state it is built twice with the very same settings: once by bare cargo, once with
//! `RUSTC_WRAPPER=cachepot` (one cache for the whole run, so hits happen). Every `.rlib`,
//! `.rmeta` and dep-info `.d` of a library in `target/debug/deps` must be byte-identical,
//! cargo must report the same library artifacts and show the same warnings, and the
//! program must print the same. Any difference is a wrong result, almost always a wrong
//! hit.
//!
//! The workspace (rendered from a model, so every value is known), seven path crates:
//! - `base`: module files `consts.rs`, `shapes.rs` or `shapes/mod.rs` with a submodule
//!   `shapes/inner.rs`, an optional `extra.rs`, feature `fast`, `#[cfg(rdiff_x)]`,
//!   `cfg!(debug_assertions)`;
//! - `gen`: a `build.rs` that writes `OUT_DIR/gen.rs` (from its own text and `RDIFF_GEN`),
//!   `include!`d by the library, and passes a `rustc-env` and a `rustc-cfg` on;
//! - `data`: `include_str!` and `include_bytes!` of files in `data/`, a dead-code warning;
//! - `envy`: `env!("RDIFF_NAME")`, `option_env!("RDIFF_OPT")`;
//! - `pick`: a leaf (so its recorded stats stay valid for long) including a symlink to
//!   one of three variants written together (same size, one mtime);
//! - `mid`: over `gen`, `data` and `base` (the diamond), feature `loud` with an
//!   unused-variable warning, `walk/mod.rs` + `walk/step.rs`, a `#[path]` module that
//!   points at `paths/a.rs` or `paths/b.rs`;
//! - `app`: the binary, printing a summary of every crate.
//!
//! No registry dependency: cargo runs offline.
//!
//! Edits (one to three per state, chosen by a xorshift PRNG): a constant in a module file,
//! a function body, adding or removing a module file, renaming `shapes.rs` <->
//! `shapes/mod.rs`, re-pointing the `#[path]` module, creating the other spelling of a
//! module file next to it (`x/mod.rs` for `x.rs`, often in a directory that does not
//! exist yet, or the reverse; rustc fails with E0761, so both builds must fail; sometimes
//! with the directory's mtime put back), the included text (also same size with the old
//! mtime put back: the racy case) and bytes, re-pointing the symlink or rewriting its
//! variants, the build script's output (its text, or `RDIFF_GEN`),
//! `RDIFF_NAME`, `RDIFF_OPT` (set/unset/changed), features `base/fast` and `mid/loud`,
//! RUSTFLAGS (`-C opt-level`, `--cfg rdiff_x`, `-C debug-assertions`, `-C debuginfo`,
//! `--remap-path-prefix`), dependency edges `envy -> base` and `data -> gen`, `touch`,
//! the target dir's path (`<root>/target` or `<root>/alt/target`, for both builds: entries
//! recorded under the other path must give this path's bytes) and `cargo check` instead
//! of `cargo build`. Values come from a small set, so earlier states come back and
//! manifests collect several include sets. One state in eight writes its files with
//! mtimes from a fake clock long in the past (like an archive that keeps times), so
//! cachepot may trust the stat of files it recorded (their ctime still moves). Edits that
//! need a run of states to line up (a stat recorded and trusted, then a same-size,
//! same-time change: `racy`, `symlink`) are drawn more often.
//!
//! Determinism: rustc's outputs embed the paths of the sources and of `OUT_DIR` (the
//! `include!`d file's path is compiled in, `OUT_DIR` is in the `.d`), so the two builds
//! must see the same target dir path (measured: with another one, `gen`'s rlib and rmeta,
//! `mid`'s through `gen`'s hash, and every `.d` differ). Both use the state's
//! `CARGO_TARGET_DIR` in turn: the bare build always starts from an empty one (the
//! reference does not depend on cargo's freshness check), then it is moved to
//! `target-bare`; cachepot's target dir lives at `target-cp` between states and is moved
//! back for its build, kept
//! (cargo rebuilds only what changed, as in real use) or emptied first (every library
//! goes through cachepot). It is always emptied when cargo's mtime check cannot see an
//! edit (past mtimes, the racy edit, the E0761 file), as cargo would not call rustc at
//! all. `CARGO_INCREMENTAL=0` in both; cargo's dev profile otherwise (debug info on). With
//! that, two bare builds give the same bytes (`bare_builds_are_deterministic` checks it).
//!
//! Now and then (and after the last state) cachepot builds the unchanged state once more
//! from an empty target dir: every library must be a direct hit (stats deltas), with the
//! same bytes again.
//!
//! Knobs: `CACHEPOT_RDIFF_STATES` (default 20, the CI run; `500` is the long mode),
//! `CACHEPOT_RDIFF_SEED` (decimal or 0x-hex), `CACHEPOT_RDIFF_SKIP` (comma-separated edit
//! kinds no state may use, to look past a known bug). A failure prints the seed, the
//! state, the whole edit history and the differences, and saves the workspace, both
//! builds' library files, cargo's stderr and the cachepot log under
//! `target/tmp/differential_rust/`. The edit sequence is a pure function of the seed;
//! only wall-clock timing (which files cachepot trusts by stat) varies.

#[macro_use]
mod common;

use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Instant, SystemTime};

const DEFAULT_STATES: usize = 20;
const DEFAULT_SEED: u64 = 1;

/// The library crates, in dependency order (all of them cacheable).
const LIBS: &[&str] = &["base", "gen", "data", "envy", "pick", "mid"];

/// Every value an edit may pick: three digits (so that a changed file keeps its size) from
/// a small set (so that earlier contents come back and hit).
const VALUES: &[u32] = &[101, 202, 303, 404];

/// Every edit kind with its weight: the cases that need a run of states to line up (a
/// recorded stat trusted, then a same-size same-time change) are drawn more often.
const EDIT_KINDS: &[(&str, usize)] = &[
    ("const", 2),
    ("body", 1),
    ("module", 1),
    ("rename", 1),
    ("conflict", 1),
    ("data", 1),
    ("racy", 2),
    ("blob", 1),
    ("buildrs", 1),
    ("pathattr", 1),
    ("symlink", 3),
    ("targetdir", 1),
    ("genenv", 1),
    ("env", 1),
    ("optenv", 1),
    ("feature", 1),
    ("rustflags", 1),
    ("edge", 1),
    ("touch", 1),
];

#[test]
fn cargo_workspace() {
    require!("cargo", "rustc");
    run_differential();
}

/// The premise of the comparison: two bare builds of the same state from an empty target
/// dir at the same path give the same bytes (were rustc not deterministic here, every
/// difference found would be noise).
#[test]
fn bare_builds_are_deterministic() {
    require!("cargo", "rustc");
    let mut rng = Rng::new(7);
    let s = rust_sandbox();
    let model = Model::new(&mut rng);
    let mut w = Written::default();
    model.sync(&s.work, &mut w);
    let env = model.env(&s.work);
    let first = build(&s, &env, Mode::Build, false);
    let first_deps = first.deps.clone();
    assert!(
        first.ok(),
        "bare build failed:\n{}",
        lossy(&first.out.stderr)
    );
    fs::remove_dir_all(target(&s)).expect("remove target");
    let second = build(&s, &env, Mode::Build, false);
    assert!(
        second.ok(),
        "bare build failed:\n{}",
        lossy(&second.out.stderr)
    );
    assert_eq!(
        first.libs.len(),
        LIBS.len(),
        "cargo reported {:?}",
        first.libs
    );
    let why = compare_builds(&first, &second);
    assert!(
        why.is_none(),
        "two bare builds differ:\n{}",
        why.unwrap_or_default()
    );
    assert!(
        first_deps
            .keys()
            .any(|k| k.starts_with("deps/") && k.ends_with(".rlib")),
        "no rlib read from target/debug/deps"
    );
}

// ---------------------------------------------------------------------------------------
// Knobs
// ---------------------------------------------------------------------------------------

fn states() -> usize {
    common::rng::env_count("CACHEPOT_RDIFF_STATES", DEFAULT_STATES)
}

fn seed() -> u64 {
    common::rng::env_seed("CACHEPOT_RDIFF_SEED", DEFAULT_SEED)
}

fn skipped() -> Vec<String> {
    let list: Vec<String> = std::env::var("CACHEPOT_RDIFF_SKIP")
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    for k in &list {
        assert!(
            EDIT_KINDS.iter().any(|(n, _)| n == k),
            "CACHEPOT_RDIFF_SKIP: unknown edit kind {k:?} (known: {EDIT_KINDS:?})"
        );
    }
    list
}

// ---------------------------------------------------------------------------------------
// PRNG: xorshift64 (tests/common/rng.rs), with this test's value helpers
// ---------------------------------------------------------------------------------------

use common::rng::Rng;

trait Values {
    fn value(&mut self) -> u32;
    fn other(&mut self, old: u32) -> u32;
    fn maybe_other(&mut self, old: Option<u32>) -> Option<u32>;
}

impl Values for Rng {
    fn value(&mut self) -> u32 {
        VALUES[self.below(VALUES.len())]
    }
    /// A value other than `old`: an edit always changes something.
    fn other(&mut self, old: u32) -> u32 {
        loop {
            let v = self.value();
            if v != old {
                return v;
            }
        }
    }
    /// None, or a value other than the current one.
    fn maybe_other(&mut self, old: Option<u32>) -> Option<u32> {
        match old {
            Some(_) if self.chance(1, 3) => None,
            Some(v) => Some(self.other(v)),
            None => Some(self.value()),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The workspace model
// ---------------------------------------------------------------------------------------

/// Everything a state is made of; `files()` renders it.
#[derive(Clone, Debug)]
struct Model {
    /// `base/src/consts.rs`: `K`.
    base_k: u32,
    /// `base/src/shapes{.rs,/mod.rs}`: the factor in `area`'s body.
    base_mul: u32,
    /// `shapes/mod.rs` instead of `shapes.rs`.
    shapes_nested: bool,
    /// `base/src/shapes/inner.rs`: `value()`'s result.
    inner_v: u32,
    /// `base/src/extra.rs` (and `pub mod extra;`), with its constant.
    extra: Option<u32>,
    /// A module file whose other spelling exists too (this path): rustc fails with E0761.
    conflict: Option<&'static str>,
    /// `mid` enables `base/fast`.
    base_fast: bool,
    /// The constant `gen/build.rs` writes into `OUT_DIR/gen.rs`.
    gen_value: u32,
    /// `RDIFF_GEN`, read by the build script (`rerun-if-env-changed`).
    gen_env: Option<u32>,
    /// `data/data/words.txt`: one `wordN=VVV` line per value.
    words: Vec<u32>,
    /// `data/data/blob.bin`.
    blob: Vec<u8>,
    /// `pick/data/pick.txt` is a symlink to `../variants/pick-<pick + 1>.txt`.
    pick: usize,
    /// The value in each variant; they are written together, with one shared mtime.
    pick_vals: [u32; 3],
    /// `data` depends on `gen`.
    data_uses_gen: bool,
    /// `RDIFF_NAME`, read by `env!`.
    env_name: u32,
    /// `RDIFF_OPT`, read by `option_env!`.
    env_opt: Option<u32>,
    /// `envy` depends on `base`.
    envy_uses_base: bool,
    /// `app` enables `mid/loud`.
    mid_loud: bool,
    /// `mid/src/walk/step.rs`: `STEP`.
    step_v: u32,
    /// `mid/src/walk/mod.rs` points its `#[path]` module at `paths/b.rs`, not `paths/a.rs`.
    path_b: bool,
    /// Both builds use `<root>/alt/target` instead of `<root>/target`.
    alt_target: bool,
    flags: Flags,
}

/// RUSTFLAGS.
#[derive(Clone, Debug, Default)]
struct Flags {
    opt_level: Option<u8>,
    cfg_x: bool,
    debug_assertions: Option<bool>,
    debuginfo: Option<u8>,
    remap: bool,
}

impl Flags {
    fn rustflags(&self, work: &Path) -> String {
        let mut f: Vec<String> = Vec::new();
        if let Some(o) = self.opt_level {
            f.push(format!("-C opt-level={o}"));
        }
        if self.cfg_x {
            f.push("--cfg rdiff_x".into());
        }
        if let Some(d) = self.debug_assertions {
            f.push(format!(
                "-Cdebug-assertions={}",
                if d { "on" } else { "off" }
            ));
        }
        if let Some(d) = self.debuginfo {
            f.push(format!("-Cdebuginfo={d}"));
        }
        if self.remap {
            f.push(format!("--remap-path-prefix={}=/rdiff", work.display()));
        }
        f.join(" ")
    }
}

/// A workspace being rendered: relative path → content.
#[derive(Default)]
struct Files(BTreeMap<String, Vec<u8>>);

impl Files {
    fn put(&mut self, rel: &str, content: impl Into<Vec<u8>>) {
        self.0.insert(rel.to_string(), content.into());
    }
}

/// What the last sync wrote: relative path → content.
#[derive(Default)]
struct Written(BTreeMap<String, Vec<u8>>);

/// gen's build script (`{GEN}` is the model's value): writes `OUT_DIR/gen.rs`, and from
/// `RDIFF_GEN` sets an environment variable (`rustc-env`) and a cfg (`rustc-cfg`) for the
/// library's compile.
const BUILD_RS: &str = r#"use std::{env, fs, path::Path};

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=RDIFF_GEN");
    println!("cargo::rustc-check-cfg=cfg(gen_big)");
    let extra: u32 = env::var("RDIFF_GEN").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    if extra >= 300 {
        println!("cargo::rustc-cfg=gen_big");
    }
    println!("cargo::rustc-env=GEN_TAG=tag-{extra}");
    let out = env::var("OUT_DIR").expect("OUT_DIR");
    let text = format!("pub const GEN: u32 = {GEN};\npub const GEN_EXTRA: u32 = {extra};\n");
    fs::write(Path::new(&out).join("gen.rs"), text).expect("write gen.rs");
}
"#;

fn shapes_file(nested: bool) -> &'static str {
    if nested {
        "base/src/shapes/mod.rs"
    } else {
        "base/src/shapes.rs"
    }
}

fn manifest(name: &str, deps: &[String], extra: &str) -> String {
    let mut t = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n{extra}"
    );
    if !deps.is_empty() {
        t.push_str("\n[dependencies]\n");
        for d in deps {
            let _ = writeln!(t, "{d}");
        }
    }
    t
}

fn path_dep(name: &str, features: &[&str]) -> String {
    if features.is_empty() {
        format!("{name} = {{ path = \"../{name}\" }}")
    } else {
        let f: Vec<String> = features.iter().map(|f| format!("\"{f}\"")).collect();
        format!(
            "{name} = {{ path = \"../{name}\", features = [{}] }}",
            f.join(", ")
        )
    }
}

impl Model {
    fn new(rng: &mut Rng) -> Model {
        Model {
            base_k: rng.value(),
            base_mul: rng.value(),
            shapes_nested: false,
            inner_v: rng.value(),
            extra: None,
            conflict: None,
            base_fast: false,
            gen_value: rng.value(),
            gen_env: None,
            words: (0..3).map(|_| rng.value()).collect(),
            blob: vec![1, 2, 3, 4, 5, 6, 7, 8],
            pick: 0,
            pick_vals: [rng.value(), rng.value(), rng.value()],
            data_uses_gen: false,
            env_name: rng.value(),
            env_opt: None,
            envy_uses_base: true,
            mid_loud: false,
            step_v: rng.value(),
            path_b: false,
            alt_target: false,
            flags: Flags::default(),
        }
    }

    /// `CARGO_TARGET_DIR`, relative to the sandbox root.
    fn target_rel(&self) -> &'static str {
        if self.alt_target {
            "alt/target"
        } else {
            "target"
        }
    }

    /// The environment of both builds (RDIFF_* and RUSTFLAGS; None: unset).
    fn env(&self, work: &Path) -> Vec<(&'static str, Option<String>)> {
        let rf = self.flags.rustflags(work);
        vec![
            ("RDIFF_NAME", Some(format!("name-{}", self.env_name))),
            ("RDIFF_OPT", self.env_opt.map(|v| format!("opt-{v}"))),
            ("RDIFF_GEN", self.gen_env.map(|v| v.to_string())),
            ("RUSTFLAGS", (!rf.is_empty()).then_some(rf)),
        ]
    }

    /// Every file of the workspace.
    fn files(&self) -> BTreeMap<String, Vec<u8>> {
        let mut f = Files::default();
        f.put(
            "Cargo.toml",
            "[workspace]\nmembers = [\"base\", \"gen\", \"data\", \"envy\", \"pick\", \"mid\", \"app\"]\nresolver = \"2\"\n",
        );

        // base
        f.put(
            "base/Cargo.toml",
            manifest(
                "base",
                &[],
                "\n[features]\nfast = []\n\n[lints.rust]\nunexpected_cfgs = { level = \"warn\", check-cfg = ['cfg(rdiff_x)'] }\n",
            ),
        );
        let mut lib = String::from(
            "//! base: module files, a feature, cfgs.\npub mod consts;\npub mod shapes;\n",
        );
        if self.extra.is_some() {
            lib.push_str("pub mod extra;\n");
        }
        lib.push_str(
            "\n#[cfg(feature = \"fast\")]\npub fn speed() -> &'static str {\n    \"fast\"\n}\n\
             #[cfg(not(feature = \"fast\"))]\npub fn speed() -> &'static str {\n    \"slow\"\n}\n\n\
             #[cfg(rdiff_x)]\npub const X: u32 = 1;\n#[cfg(not(rdiff_x))]\npub const X: u32 = 0;\n\n\
             pub fn summary() -> String {\n    #[allow(unused_mut)]\n    let mut s = format!(\n        \"k={} area={} inner={} speed={} x={} da={}\",\n        consts::K,\n        shapes::area(3),\n        shapes::inner::value(),\n        speed(),\n        X,\n        cfg!(debug_assertions)\n    );\n",
        );
        if self.extra.is_some() {
            lib.push_str("    s.push_str(&format!(\" extra={}\", extra::EXTRA));\n");
        }
        lib.push_str("    s\n}\n");
        f.put("base/src/lib.rs", lib);
        f.put(
            "base/src/consts.rs",
            format!("pub const K: u32 = {};\n", self.base_k),
        );
        let shapes = format!(
            "pub mod inner;\n\npub fn area(x: u32) -> u32 {{\n    x * x * {} + crate::consts::K\n}}\n",
            self.base_mul
        );
        f.put(shapes_file(self.shapes_nested), shapes);
        if let Some(c) = self.conflict {
            f.put(c, "pub const CONFLICT: u32 = 0;\n");
        }
        f.put(
            "base/src/shapes/inner.rs",
            format!("pub fn value() -> u32 {{\n    {}\n}}\n", self.inner_v),
        );
        if let Some(v) = self.extra {
            f.put(
                "base/src/extra.rs",
                format!("pub const EXTRA: u32 = {v};\n"),
            );
        }

        // gen: a build script writing into OUT_DIR
        f.put(
            "gen/Cargo.toml",
            manifest("gen", &[path_dep("base", &[])], "build = \"build.rs\"\n"),
        );
        f.put(
            "gen/build.rs",
            BUILD_RS.replace("{GEN}", &self.gen_value.to_string()),
        );
        f.put(
            "gen/src/lib.rs",
            r#"//! gen: includes what its build script wrote, reads the env and cfg it set.
include!(concat!(env!("OUT_DIR"), "/gen.rs"));

pub const TAG: &str = env!("GEN_TAG");
#[cfg(gen_big)]
pub const BIG: bool = true;
#[cfg(not(gen_big))]
pub const BIG: bool = false;

pub fn summary() -> String {
    format!("gen={} extra={} tag={} big={} k={}", GEN, GEN_EXTRA, TAG, BIG, base::consts::K)
}
"#,
        );

        // data: include_str!/include_bytes!
        let mut deps = vec![path_dep("base", &[])];
        if self.data_uses_gen {
            deps.push(path_dep("gen", &[]));
        }
        f.put("data/Cargo.toml", manifest("data", &deps, ""));
        let mut words = String::new();
        for (i, v) in self.words.iter().enumerate() {
            let _ = writeln!(words, "word{i}={v}");
        }
        f.put("data/data/words.txt", words);
        f.put("data/data/blob.bin", self.blob.clone());
        let via_gen = if self.data_uses_gen { "gen::GEN" } else { "0" };
        f.put(
            "data/src/lib.rs",
            format!(
                "//! data: included files.\npub static WORDS: &str = include_str!(\"../data/words.txt\");\n\
                 pub static BLOB: &[u8] = include_bytes!(\"../data/blob.bin\");\n\
\n\
                 fn never_used_data() -> u32 {{\n    7\n}}\n\n\
                 pub fn summary() -> String {{\n    let sum: u32 = BLOB.iter().map(|&b| b as u32).sum();\n    \
                 format!(\"words={{}} blob={{}}/{{}} gen={{}} k={{}}\", WORDS.trim().replace('\\n', \",\"), BLOB.len(), sum, {via_gen}, base::consts::K)\n}}\n"
            ),
        );

        // pick: a leaf crate (its key changes only with RUSTFLAGS and the target dir, so
        // its recorded stats live long) including a symlinked file
        f.put("pick/Cargo.toml", manifest("pick", &[], ""));
        for (i, v) in self.pick_vals.iter().enumerate() {
            f.put(
                &format!("pick/variants/pick-{}.txt", i + 1),
                format!("pick={v}\n"),
            );
        }
        f.put(
            "pick/src/lib.rs",
            "//! pick: a symlinked include.\npub static PICK: &str = include_str!(\"../data/pick.txt\");\n\n\
             pub fn summary() -> String {\n    PICK.trim().to_string()\n}\n",
        );

        // envy: env!/option_env!
        let deps = if self.envy_uses_base {
            vec![path_dep("base", &[])]
        } else {
            vec![]
        };
        f.put("envy/Cargo.toml", manifest("envy", &deps, ""));
        let via_base = if self.envy_uses_base {
            "base::shapes::area(2)"
        } else {
            "0"
        };
        f.put(
            "envy/src/lib.rs",
            format!(
                "//! envy: compile-time environment.\npub const NAME: &str = env!(\"RDIFF_NAME\");\n\
                 pub const OPT: Option<&str> = option_env!(\"RDIFF_OPT\");\n\n\
                 pub fn summary() -> String {{\n    format!(\"name={{}} opt={{:?}} area={{}}\", NAME, OPT, {via_base})\n}}\n"
            ),
        );

        // mid: the diamond's tip, a feature with a warning, nested module files
        let base_features: &[&str] = if self.base_fast { &["fast"] } else { &[] };
        f.put(
            "mid/Cargo.toml",
            manifest(
                "mid",
                &[
                    path_dep("base", base_features),
                    path_dep("gen", &[]),
                    path_dep("data", &[]),
                ],
                "\n[features]\nloud = []\n",
            ),
        );
        f.put(
            "mid/src/lib.rs",
            "//! mid: gen and data over base.\nmod walk;\n\n\
             #[cfg(feature = \"loud\")]\npub fn loudness() -> u32 {\n    let unused_loud = 1;\n    2\n}\n\
             #[cfg(not(feature = \"loud\"))]\npub fn loudness() -> u32 {\n    1\n}\n\n\
             pub fn summary() -> String {\n    format!(\n        \"step={} chosen={} loud={} speed={} | {} | {}\",\n        walk::step::STEP,\n        walk::chosen::CHOSEN,\n        loudness(),\n        base::speed(),\n        gen::summary(),\n        data::summary()\n    )\n}\n",
        );
        f.put(
            "mid/src/walk/mod.rs",
            format!(
                "pub mod step;\n#[path = \"../paths/{}.rs\"]\npub mod chosen;\n",
                if self.path_b { "b" } else { "a" }
            ),
        );
        f.put("mid/src/paths/a.rs", "pub const CHOSEN: &str = \"a\";\n");
        f.put("mid/src/paths/b.rs", "pub const CHOSEN: &str = \"b\";\n");
        f.put(
            "mid/src/walk/step.rs",
            format!("pub const STEP: u32 = {};\n", self.step_v),
        );

        // app: the binary
        let mid_features: &[&str] = if self.mid_loud { &["loud"] } else { &[] };
        f.put(
            "app/Cargo.toml",
            manifest(
                "app",
                &[
                    path_dep("mid", mid_features),
                    path_dep("envy", &[]),
                    path_dep("pick", &[]),
                    path_dep("base", &[]),
                ],
                "",
            ),
        );
        f.put(
            "app/src/main.rs",
            "fn main() {\n    println!(\"base {}\", base::summary());\n    println!(\"mid {}\", mid::summary());\n    println!(\"envy {}\", envy::summary());\n    println!(\"pick {}\", pick::summary());\n}\n",
        );
        f.0
    }

    /// Makes the work dir hold exactly `files()`: writes what changed (only that, so
    /// that unchanged files keep their mtimes) and removes what is gone.
    fn sync(&self, work: &Path, written: &mut Written) -> Vec<String> {
        let now = self.files();
        let mut changed = Vec::new();
        for (rel, data) in &now {
            if written.0.get(rel) != Some(data) {
                let p = work.join(rel);
                fs::create_dir_all(p.parent().expect("has parent")).expect("create parent");
                fs::write(&p, data).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
                changed.push(rel.clone());
            }
        }
        for rel in written.0.keys() {
            if !now.contains_key(rel) {
                let p = work.join(rel);
                fs::remove_file(&p).unwrap_or_else(|e| panic!("remove {}: {e}", p.display()));
                changed.push(format!("-{rel}"));
            }
        }
        written.0 = now;
        // The symlink, re-pointed the way `ln -sfn` or a checkout leaves it: a new link
        // renamed over the old one.
        let link = work.join("pick/data/pick.txt");
        let want = PathBuf::from(format!("../variants/pick-{}.txt", self.pick + 1));
        if fs::read_link(&link).ok().as_ref() != Some(&want) {
            let tmp = work.join("pick/data/.pick.txt.tmp");
            fs::create_dir_all(work.join("pick/data")).expect("create pick/data");
            let _ = fs::remove_file(&tmp);
            std::os::unix::fs::symlink(&want, &tmp).expect("create pick.txt symlink");
            fs::rename(&tmp, &link).expect("rename pick.txt symlink");
        }
        changed
    }

    /// Applies one random edit of a kind not in `skip`; returns its description, or None
    /// when the kind drawn cannot apply now. `pending` collects what must happen after the
    /// files are written (mtime games) and whether cargo could not see the edit.
    fn edit(&mut self, rng: &mut Rng, skip: &[String], pending: &mut Pending) -> Option<String> {
        let total: usize = EDIT_KINDS.iter().map(|(_, w)| w).sum();
        let mut draw = rng.below(total);
        let mut kind = EDIT_KINDS[0].0;
        for (k, w) in EDIT_KINDS {
            if draw < *w {
                kind = k;
                break;
            }
            draw -= w;
        }
        if skip.iter().any(|s| s == kind) {
            return None;
        }
        let e = match kind {
            "const" => match rng.below(4) {
                0 => {
                    self.base_k = rng.other(self.base_k);
                    format!("base/src/consts.rs: K = {}", self.base_k)
                }
                1 => {
                    self.inner_v = rng.other(self.inner_v);
                    format!("base/src/shapes/inner.rs: value() = {}", self.inner_v)
                }
                2 => {
                    self.step_v = rng.other(self.step_v);
                    format!("mid/src/walk/step.rs: STEP = {}", self.step_v)
                }
                _ => {
                    let v = rng.other(self.extra?);
                    self.extra = Some(v);
                    format!("base/src/extra.rs: EXTRA = {v}")
                }
            },
            "body" => {
                self.base_mul = rng.other(self.base_mul);
                format!(
                    "{}: area() body uses factor {}",
                    shapes_file(self.shapes_nested),
                    self.base_mul
                )
            }
            "module" => {
                if self.conflict.is_some() {
                    return None;
                }
                if self.extra.take().is_some() {
                    "remove base/src/extra.rs and its `pub mod extra;`".to_string()
                } else {
                    let v = rng.value();
                    self.extra = Some(v);
                    format!("add base/src/extra.rs (EXTRA = {v}) and `pub mod extra;`")
                }
            }
            "rename" => {
                if self.conflict.is_some() {
                    return None;
                }
                let from = shapes_file(self.shapes_nested);
                self.shapes_nested = !self.shapes_nested;
                format!("rename {from} -> {}", shapes_file(self.shapes_nested))
            }
            "conflict" => {
                if self.conflict.is_some() {
                    return None;
                }
                // The other spelling of a module file; some in directories that do not
                // exist yet.
                let mut candidates: Vec<(&'static str, &'static str)> = vec![
                    (
                        shapes_file(!self.shapes_nested),
                        shapes_file(self.shapes_nested),
                    ),
                    ("base/src/shapes/inner/mod.rs", "base/src/shapes/inner.rs"),
                    ("mid/src/walk/step/mod.rs", "mid/src/walk/step.rs"),
                    ("mid/src/walk.rs", "mid/src/walk/mod.rs"),
                ];
                if self.extra.is_some() {
                    candidates.push(("base/src/extra/mod.rs", "base/src/extra.rs"));
                }
                let (new, old) = candidates[rng.below(candidates.len())];
                self.conflict = Some(new);
                pending.invisible = true;
                let restored = rng.chance(1, 2);
                if restored {
                    // The directory's mtime put back (the nearest one that exists now):
                    // only its ctime says it changed.
                    let dir = Path::new(new).parent().expect("has parent");
                    pending.keep_mtime.push(dir.to_string_lossy().into_owned());
                }
                format!(
                    "create {new} next to {old} (E0761: the build must fail){}",
                    if restored {
                        ", directory mtime put back"
                    } else {
                        ""
                    }
                )
            }
            "symlink" => {
                pending.invisible = true;
                if rng.chance(1, 4) {
                    for v in self.pick_vals.iter_mut() {
                        *v = rng.other(*v);
                    }
                    format!(
                        "pick/variants/pick-{{1,2,3}}.txt rewritten: {:?} (one shared mtime)",
                        self.pick_vals
                    )
                } else {
                    self.pick = (self.pick + 1 + rng.below(2)) % 3;
                    format!(
                        "pick/data/pick.txt -> ../variants/pick-{}.txt ({})",
                        self.pick + 1,
                        self.pick_vals[self.pick]
                    )
                }
            }
            "data" | "racy" => {
                let i = rng.below(self.words.len());
                self.words[i] = rng.other(self.words[i]);
                if kind == "racy" {
                    pending.keep_mtime.push("data/data/words.txt".into());
                    pending.invisible = true;
                    format!(
                        "data/data/words.txt: word{i}={} (same size, old mtime put back: racy)",
                        self.words[i]
                    )
                } else {
                    format!("data/data/words.txt: word{i}={}", self.words[i])
                }
            }
            "blob" => {
                if rng.chance(1, 3) && self.blob.len() < 16 {
                    self.blob.push(rng.below(256) as u8);
                    format!(
                        "data/data/blob.bin: appended a byte ({} bytes)",
                        self.blob.len()
                    )
                } else {
                    let i = rng.below(self.blob.len());
                    self.blob[i] = self.blob[i].wrapping_add(1 + rng.below(3) as u8);
                    format!("data/data/blob.bin: byte {i} = {}", self.blob[i])
                }
            }
            "buildrs" => {
                self.gen_value = rng.other(self.gen_value);
                format!("gen/build.rs writes GEN = {}", self.gen_value)
            }
            "pathattr" => {
                self.path_b = !self.path_b;
                format!(
                    "mid/src/walk/mod.rs: #[path] module is paths/{}.rs",
                    if self.path_b { "b" } else { "a" }
                )
            }
            "targetdir" => {
                // cargo keeps build-script paths (OUT_DIR) in its target dir, so a moved
                // one is emptied; cachepot's entries from the other path must then serve
                // this path's bytes (or miss, where OUT_DIR is compiled in).
                self.alt_target = !self.alt_target;
                pending.invisible = true;
                format!("CARGO_TARGET_DIR=<root>/{}", self.target_rel())
            }
            "genenv" => {
                self.gen_env = rng.maybe_other(self.gen_env);
                format!("RDIFF_GEN={:?} (read by gen/build.rs)", self.gen_env)
            }
            "env" => {
                self.env_name = rng.other(self.env_name);
                format!("RDIFF_NAME=name-{} (env!)", self.env_name)
            }
            "optenv" => {
                self.env_opt = rng.maybe_other(self.env_opt);
                format!("RDIFF_OPT={:?} (option_env!)", self.env_opt)
            }
            "feature" => {
                if rng.chance(1, 2) {
                    self.base_fast = !self.base_fast;
                    format!("mid enables base/fast: {}", self.base_fast)
                } else {
                    self.mid_loud = !self.mid_loud;
                    format!("app enables mid/loud: {}", self.mid_loud)
                }
            }
            "rustflags" => {
                let f = &mut self.flags;
                match rng.below(5) {
                    0 => {
                        f.opt_level = match f.opt_level {
                            Some(_) if rng.chance(1, 3) => None,
                            _ => Some(rng.below(4) as u8),
                        }
                    }
                    1 => f.cfg_x = !f.cfg_x,
                    2 => {
                        f.debug_assertions = match f.debug_assertions {
                            None => Some(rng.chance(1, 2)),
                            Some(d) if rng.chance(1, 2) => Some(!d),
                            Some(_) => None,
                        }
                    }
                    3 => {
                        f.debuginfo = match f.debuginfo {
                            None => Some(rng.below(2) as u8),
                            Some(_) if rng.chance(1, 2) => None,
                            Some(d) => Some(1 - d),
                        }
                    }
                    _ => f.remap = !f.remap,
                }
                format!("RUSTFLAGS: {:?}", self.flags)
            }
            "edge" => {
                if rng.chance(1, 2) {
                    self.envy_uses_base = !self.envy_uses_base;
                    format!("dependency envy -> base: {}", self.envy_uses_base)
                } else {
                    self.data_uses_gen = !self.data_uses_gen;
                    format!("dependency data -> gen: {}", self.data_uses_gen)
                }
            }
            "touch" => {
                let files = self.files();
                let rs: Vec<&String> = files
                    .keys()
                    .filter(|k| k.ends_with(".rs") || k.starts_with("data/data/"))
                    .collect();
                let f = rs[rng.below(rs.len())].clone();
                pending.touch.push(f.clone());
                format!("touch {f}")
            }
            other => panic!("unknown edit kind {other}"),
        };
        Some(e)
    }
}

/// What an edit leaves to do after the files are written.
#[derive(Default)]
struct Pending {
    /// Files (or directories) whose mtime is put back to its value before the write.
    keep_mtime: Vec<String>,
    /// Files whose mtime is set to now.
    touch: Vec<String>,
    /// cargo's mtime check cannot see the edit: cachepot's target dir must start empty.
    invisible: bool,
}

/// Sets the mtime of a file or directory (read-only open: it works for both, as owner).
fn set_mtime(path: &Path, t: SystemTime) {
    let f = fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    f.set_modified(t)
        .unwrap_or_else(|e| panic!("set mtime of {}: {e}", path.display()));
}

fn mtime(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

// ---------------------------------------------------------------------------------------
// Building and comparing
// ---------------------------------------------------------------------------------------

/// `Sandbox::for_cargo`, offline. RUSTC_WRAPPER is set per build.
fn rust_sandbox() -> Sandbox {
    let mut sb = Sandbox::for_cargo();
    sb.set_env("CARGO_NET_OFFLINE", "true");
    sb
}

/// The sandbox's `CARGO_TARGET_DIR`.
fn target(s: &Sandbox) -> PathBuf {
    PathBuf::from(
        s.env_value("CARGO_TARGET_DIR")
            .expect("CARGO_TARGET_DIR is set"),
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Build,
    Check,
}

/// What one cargo run left behind.
struct Built {
    out: Output,
    /// Library artifacts cargo reported: (crate name, file names), sorted.
    libs: BTreeSet<(String, Vec<String>)>,
    /// Files of a library under target/debug (relative paths): what cargo reported, and
    /// in `deps/` its rlib, rmeta and dep-info.
    deps: BTreeMap<String, Vec<u8>>,
    /// The program's stdout (build mode, successful builds).
    program: Option<String>,
    /// Diagnostics cargo showed, one block per warning or error, sorted.
    diagnostics: Vec<String>,
}

impl Built {
    fn ok(&self) -> bool {
        self.out.status.success()
    }
}

/// `cargo build` (or `check`) of the workspace into `<root>/target`, through cachepot when
/// `wrapped`; reads everything to compare before the caller moves the target dir away.
fn build(s: &Sandbox, env: &[(&str, Option<String>)], mode: Mode, wrapped: bool) -> Built {
    let mut cmd = s.command("cargo");
    cmd.current_dir(&s.work).args([
        match mode {
            Mode::Build => "build",
            Mode::Check => "check",
        },
        "--workspace",
        "--message-format=json-render-diagnostics",
    ]);
    for (k, v) in env {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    if wrapped {
        cmd.env("RUSTC_WRAPPER", CACHEPOT);
    } else {
        cmd.env_remove("RUSTC_WRAPPER");
    }
    let out = run(&mut cmd);
    let profile = target(s).join("debug");
    let mut libs = BTreeSet::new();
    let mut deps = BTreeMap::new();
    for line in lossy(&out.stdout).lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v["reason"] != "compiler-artifact" {
            continue;
        }
        let kinds: Vec<&str> = v["target"]["kind"]
            .as_array()
            .map(|a| a.iter().filter_map(|k| k.as_str()).collect())
            .unwrap_or_default();
        if !kinds.contains(&"lib") {
            continue;
        }
        let name = v["target"]["name"].as_str().unwrap_or("?").to_string();
        let mut files = Vec::new();
        for f in v["filenames"].as_array().into_iter().flatten() {
            let p = PathBuf::from(f.as_str().unwrap_or(""));
            let rel = p
                .strip_prefix(&profile)
                .unwrap_or_else(|_| panic!("artifact outside target/debug: {line}"))
                .to_string_lossy()
                .into_owned();
            let data = fs::read(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
            deps.insert(rel.clone(), data);
            // An rlib is also uplifted to target/debug/lib<name>.rlib; the files in deps
            // carry the hash: lib<stem>.rlib, lib<stem>.rmeta and the dep-info <stem>.d.
            if let Some(stem) = rel
                .strip_prefix("deps/lib")
                .and_then(|f| f.rsplit_once('.'))
                .map(|(s, _)| s)
            {
                for sibling in [
                    format!("deps/lib{stem}.rlib"),
                    format!("deps/lib{stem}.rmeta"),
                    format!("deps/{stem}.d"),
                ] {
                    if let Ok(data) = fs::read(profile.join(&sibling)) {
                        deps.insert(sibling, data);
                    }
                }
            }
            files.push(rel);
        }
        files.sort();
        libs.insert((name, files));
    }
    let program = (mode == Mode::Build && out.status.success()).then(|| {
        let exe = target(s).join("debug").join("app");
        let o = run(&mut s.command(&exe));
        assert!(
            o.status.success(),
            "{} failed: {}",
            exe.display(),
            lossy(&o.stderr)
        );
        lossy(&o.stdout)
    });
    let diagnostics = diagnostics(&lossy(&out.stderr));
    Built {
        out,
        libs,
        deps,
        program,
        diagnostics,
    }
}

/// The warning and error blocks of cargo's stderr (a block runs from a line starting with
/// `warning` or `error` to the next blank line or cargo status line), sorted: cargo runs crates in parallel, so
/// their order varies.
fn diagnostics(stderr: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut cur: Option<String> = None;
    for line in stderr.lines() {
        if line.starts_with("warning") || line.starts_with("error") {
            if let Some(b) = cur.take() {
                blocks.push(b);
            }
            cur = Some(format!("{line}\n"));
        } else if line.trim().is_empty() || is_status(line) {
            if let Some(b) = cur.take() {
                blocks.push(b);
            }
        } else if let Some(b) = cur.as_mut() {
            b.push_str(line);
            b.push('\n');
        }
    }
    blocks.extend(cur);
    blocks.sort();
    blocks
}

/// A cargo status line (`   Compiling x`, `    Finished ...`): right-aligned word.
fn is_status(line: &str) -> bool {
    let t = line.trim_start();
    line.len() > t.len()
        && t.split(' ').next().is_some_and(|w| {
            w.len() > 1
                && w.starts_with(|c: char| c.is_ascii_uppercase())
                && w[1..].chars().all(|c| c.is_ascii_lowercase())
        })
}

/// A description of how the cachepot build differs from the bare one, or None.
fn compare_builds(bare: &Built, cp: &Built) -> Option<String> {
    let mut why = String::new();
    if bare.ok() != cp.ok() {
        let _ = writeln!(
            why,
            "cargo's status: bare {}, cachepot {}",
            bare.out.status, cp.out.status
        );
    }
    if bare.ok() && cp.ok() {
        if bare.libs != cp.libs {
            let _ = writeln!(
                why,
                "cargo reported other library artifacts\n  bare:     {:?}\n  cachepot: {:?}",
                bare.libs, cp.libs
            );
        }
        for (name, b) in &bare.deps {
            match cp.deps.get(name) {
                None => {
                    let _ = writeln!(why, "{name}: missing from cachepot's target/debug/deps");
                }
                Some(c) if c != b => {
                    let first = b.iter().zip(c.iter()).position(|(x, y)| x != y);
                    let _ = writeln!(
                        why,
                        "{name} differs: bare {} bytes, cachepot {} bytes, first difference at offset {first:?}",
                        b.len(),
                        c.len()
                    );
                    if name.ends_with(".d") {
                        let _ = writeln!(
                            why,
                            "--- bare ---\n{}--- cachepot ---\n{}",
                            lossy(b),
                            lossy(c)
                        );
                    }
                }
                Some(_) => {}
            }
        }
        if bare.program != cp.program {
            let _ = writeln!(
                why,
                "the program prints something else\n--- bare ---\n{}--- cachepot ---\n{}",
                bare.program.as_deref().unwrap_or("(not run)\n"),
                cp.program.as_deref().unwrap_or("(not run)\n")
            );
        }
    }
    if bare.diagnostics != cp.diagnostics {
        let _ = writeln!(
            why,
            "cargo showed other diagnostics\n--- bare ---\n{:#?}\n--- cachepot ---\n{:#?}",
            bare.diagnostics, cp.diagnostics
        );
    }
    (!why.is_empty()).then_some(why)
}

/// Stats counters around one cachepot build.
#[derive(Clone, Copy, Debug, Default)]
struct Counters {
    hits: u64,
    misses: u64,
    direct: u64,
    non_cacheable: u64,
    compile_errors: u64,
    cache_errors: u64,
}

impl Counters {
    fn read(s: &Sandbox) -> Counters {
        let v = s.stats();
        assert_stats_consistent(&v);
        Counters {
            hits: stat_of(&v, "cache_hits"),
            misses: stat_of(&v, "cache_misses"),
            direct: stat_of(&v, "direct_hits"),
            non_cacheable: stat_of(&v, "non_cacheable"),
            compile_errors: stat_of(&v, "compile_errors"),
            cache_errors: stat_of(&v, "cache_errors"),
        }
    }

    fn minus(&self, b: &Counters) -> Counters {
        Counters {
            hits: self.hits - b.hits,
            misses: self.misses - b.misses,
            direct: self.direct - b.direct,
            non_cacheable: self.non_cacheable - b.non_cacheable,
            compile_errors: self.compile_errors - b.compile_errors,
            cache_errors: self.cache_errors - b.cache_errors,
        }
    }
}

#[derive(Default)]
struct Totals {
    cp_builds: u64,
    emptied: u64,
    failing_states: u64,
    check_states: u64,
    second_passes: u64,
    hits: u64,
    misses: u64,
    non_cacheable: u64,
}

struct Run {
    seed: u64,
    states: usize,
    s: Sandbox,
    model: Model,
    history: Vec<(usize, String)>,
    totals: Totals,
    state: usize,
    mode: Mode,
    /// The fake clock, in seconds since the epoch: strictly increasing, in the past.
    clock: u64,
}

impl Run {
    fn tick(&mut self) -> SystemTime {
        self.clock += 1;
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(self.clock)
    }

    fn env(&self) -> Vec<(&'static str, Option<String>)> {
        self.model.env(&self.s.work)
    }

    /// The bare build from an empty target dir, left in `target-bare`.
    fn bare(&mut self) -> Built {
        let t = target(&self.s);
        let bare_dir = self.s.root().join("target-bare");
        let _ = fs::remove_dir_all(&bare_dir);
        let _ = fs::remove_dir_all(&t);
        let b = build(&self.s, &self.env(), self.mode, false);
        fs::rename(&t, &bare_dir).expect("move target to target-bare");
        b
    }

    /// The cachepot build, in `target-cp` moved to `target` (emptied first when `empty`).
    fn cached(&mut self, empty: bool) -> (Built, Counters) {
        let t = target(&self.s);
        let cp_dir = self.s.root().join("target-cp");
        let _ = fs::remove_dir_all(&t);
        if empty {
            let _ = fs::remove_dir_all(&cp_dir);
            self.totals.emptied += 1;
        } else if cp_dir.exists() {
            fs::rename(&cp_dir, &t).expect("move target-cp to target");
        }
        // One build's log at a time, for the failure message.
        let _ = fs::remove_file(&self.s.log);
        let before = Counters::read(&self.s);
        let b = build(&self.s, &self.env(), self.mode, true);
        let d = Counters::read(&self.s).minus(&before);
        if t.exists() {
            fs::rename(&t, &cp_dir).expect("move target to target-cp");
        }
        self.totals.cp_builds += 1;
        self.totals.hits += d.hits;
        self.totals.misses += d.misses;
        self.totals.non_cacheable += d.non_cacheable;
        if d.cache_errors != 0 {
            self.fail(
                &format!("cachepot counted {} cache error(s)", d.cache_errors),
                None,
                Some(&b),
                &format!("stats delta {d:?}"),
            );
        }
        (b, d)
    }

    /// Panics with everything needed to reproduce, after saving the evidence.
    fn fail(&self, what: &str, bare: Option<&Built>, cp: Option<&Built>, detail: &str) -> ! {
        let mut msg = format!(
            "RUST DIFFERENTIAL FAILURE: {what}\n  seed {} (CACHEPOT_RDIFF_SEED={}), state {} of {}, cargo {:?}\n  environment: {:?}, CARGO_TARGET_DIR={}\n\n{detail}\n",
            self.seed,
            self.seed,
            self.state,
            self.states,
            self.mode,
            self.env(),
            target(&self.s).display()
        );
        msg.push_str("\nedit history (state: edit):\n");
        for (n, e) in &self.history {
            let _ = writeln!(msg, "  {n:4}: {e}");
        }
        let _ = writeln!(
            msg,
            "\nreproduce: CACHEPOT_RDIFF_SEED={} CACHEPOT_RDIFF_STATES={} cargo test --test differential_rust -- --exact cargo_workspace",
            self.seed, self.state
        );
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("differential_rust")
            .join(format!("seed{}-state{}", self.seed, self.state));
        let _ = fs::remove_dir_all(&dir);
        copy_tree(&self.s.work, &dir.join("workspace"));
        for (name, b) in [("bare", bare), ("cachepot", cp)] {
            if let Some(b) = b {
                for (f, data) in &b.deps {
                    let p = dir.join(format!("{name}-deps")).join(f);
                    let _ = fs::create_dir_all(p.parent().expect("has parent"));
                    let _ = fs::write(p, data);
                }
                let _ = fs::write(dir.join(format!("{name}-cargo-stderr.txt")), &b.out.stderr);
            }
        }
        let _ = fs::write(dir.join("cachepot.log"), self.s.log_text());
        let _ = fs::write(dir.join("failure.txt"), &msg);
        let _ = writeln!(msg, "evidence saved in {}", dir.display());
        if let Some(b) = bare {
            let _ = writeln!(
                msg,
                "\n--- bare cargo stderr (tail) ---\n{}",
                tail(&lossy(&b.out.stderr), 30)
            );
        }
        if let Some(c) = cp {
            let _ = writeln!(
                msg,
                "\n--- cachepot cargo stderr (tail) ---\n{}",
                tail(&lossy(&c.out.stderr), 30)
            );
        }
        let _ = writeln!(
            msg,
            "\n--- cachepot log (tail) ---\n{}",
            tail(&self.s.log_text(), 40)
        );
        panic!("{msg}");
    }

    fn check_state(&mut self, empty: bool) -> Built {
        let bare = self.bare();
        if self.model.conflict.is_some() {
            // The one state that must fail: both fail with E0761.
            self.totals.failing_states += 1;
            let e0761 = |b: &Built| lossy(&b.out.stderr).contains("E0761");
            if bare.ok() || !e0761(&bare) {
                self.fail(
                    "the bare build did not fail with E0761 (generator bug?)",
                    Some(&bare),
                    None,
                    "",
                );
            }
            let (cp, _) = self.cached(empty);
            if cp.ok() || !e0761(&cp) {
                self.fail(
                    "the cachepot build did not fail with E0761 like the bare one: a stale success",
                    Some(&bare),
                    Some(&cp),
                    "",
                );
            }
            return bare;
        }
        if !bare.ok() {
            self.fail(
                "the bare build failed: the generator made a broken state",
                Some(&bare),
                None,
                "",
            );
        }
        if bare.libs.len() != LIBS.len() {
            self.fail(
                &format!(
                    "cargo reported {} libraries, not {}",
                    bare.libs.len(),
                    LIBS.len()
                ),
                Some(&bare),
                None,
                &format!("{:?}", bare.libs),
            );
        }
        if !bare
            .diagnostics
            .iter()
            .any(|d| d.contains("never_used_data"))
        {
            self.fail(
                "the bare build did not show data's dead-code warning (generator bug?)",
                Some(&bare),
                None,
                &bare.diagnostics.concat(),
            );
        }
        let (cp, d) = self.cached(empty);
        if let Some(why) = compare_builds(&bare, &cp) {
            self.fail(
                &format!(
                    "cachepot's build differs from bare cargo's (stats delta {d:?}, target dir {})",
                    if empty { "emptied" } else { "kept" }
                ),
                Some(&bare),
                Some(&cp),
                &why,
            );
        }
        if empty && d.hits + d.misses != LIBS.len() as u64 {
            self.fail(
                &format!(
                    "from an empty target dir, {} libraries went through cachepot, not {}",
                    d.hits + d.misses,
                    LIBS.len()
                ),
                Some(&bare),
                Some(&cp),
                &format!("stats delta {d:?}"),
            );
        }
        bare
    }

    /// cachepot builds the unchanged state again from an empty target dir: all hits, the
    /// same bytes.
    fn second_pass(&mut self, bare: &Built) {
        self.totals.second_passes += 1;
        let (cp, d) = self.cached(true);
        if let Some(why) = compare_builds(bare, &cp) {
            self.fail(
                "second pass: cachepot's build differs from bare cargo's",
                Some(bare),
                Some(&cp),
                &why,
            );
        }
        if d.misses != 0 || d.hits != LIBS.len() as u64 || d.direct != d.hits {
            self.fail(
                &format!(
                    "second pass over an unchanged state: {} hits ({} direct), {} misses; every one of the {} libraries must hit (a lost hit, not a wrong result)",
                    d.hits,
                    d.direct,
                    d.misses,
                    LIBS.len()
                ),
                Some(bare),
                Some(&cp),
                &format!("stats delta {d:?}"),
            );
        }
    }
}

/// Copies a directory tree (files and directories only).
fn copy_tree(from: &Path, to: &Path) {
    let _ = fs::create_dir_all(to);
    let Ok(entries) = fs::read_dir(from) else {
        return;
    };
    for e in entries.flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if src.is_dir() {
            copy_tree(&src, &dst);
        } else {
            let _ = fs::copy(&src, &dst);
        }
    }
}

fn run_differential() {
    let (seed, states, skip) = (seed(), states(), skipped());
    let started = Instant::now();
    let s = rust_sandbox();
    let mut rng = Rng::new(seed);
    let model = Model::new(&mut rng);
    let mut written = Written::default();
    model.sync(&s.work, &mut written);
    let mut run = Run {
        seed,
        states,
        s,
        model,
        history: Vec::new(),
        totals: Totals::default(),
        state: 0,
        mode: Mode::Build,
        clock: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs()
            - 10_000,
    };
    for state in 1..=states {
        run.state = state;
        let mut pending = Pending::default();
        if state == 1 {
            run.history
                .push((1, "initial workspace, cargo build".into()));
        } else {
            if let Some(c) = run.model.conflict.take() {
                // A failing state lasts one state.
                run.history.push((state, format!("remove {c}")));
                pending.invisible = true;
            }
            let n = 1 + rng.below(3);
            let (mut done, mut tries) = (0, 0);
            while done < n && tries < 100 {
                tries += 1;
                if let Some(e) = run.model.edit(&mut rng, &skip, &mut pending) {
                    run.history.push((state, e));
                    done += 1;
                }
            }
            run.mode = if rng.chance(1, 5) {
                run.totals.check_states += 1;
                run.history.push((state, "cargo check".into()));
                Mode::Check
            } else {
                Mode::Build
            };
        }
        let old: Vec<(PathBuf, Option<SystemTime>)> = pending
            .keep_mtime
            .iter()
            .map(|f| {
                // A directory about to be created: its nearest existing ancestor changes.
                let mut p = run.s.work.join(f);
                while !p.exists() {
                    p = p.parent().expect("under the work dir").to_path_buf();
                }
                let t = mtime(&p);
                (p, t)
            })
            .collect();
        let changed = run.model.sync(&run.s.work, &mut written);
        // One state in eight writes its files with mtimes from the fake clock, long
        // ago (as an archive or a copy that keeps times would): cachepot may then trust
        // the stat of a file it recorded (ctime still moves), and cargo cannot see the
        // change, so cachepot's target dir starts empty.
        if state == 1 || rng.chance(1, 8) {
            for rel in changed.iter().filter(|r| !r.starts_with('-')) {
                set_mtime(&run.s.work.join(rel), run.tick());
            }
            if state > 1 {
                run.history
                    .push((state, "files written with past mtimes (fake clock)".into()));
                pending.invisible = true;
            }
        }
        // The symlink's variants share one mtime from the fake clock: re-pointing the link
        // then changes neither the size nor the times cachepot sees through it.
        if changed.iter().any(|r| r.starts_with("pick/variants/")) {
            let t = run.tick();
            for i in 1..=3 {
                set_mtime(&run.s.work.join(format!("pick/variants/pick-{i}.txt")), t);
            }
        }
        for (p, t) in old {
            if let Some(t) = t {
                set_mtime(&p, t);
            }
        }
        for f in &pending.touch {
            // A later edit of the same state may have removed the file.
            let p = run.s.work.join(f);
            if p.exists() {
                set_mtime(&p, SystemTime::now());
            }
        }
        // Keep cachepot's target dir five times in six (cargo then calls it only for what
        // changed), unless cargo could not see the edit.
        let empty = state == 1 || pending.invisible || rng.chance(1, 6);
        let t = run.s.root().join(run.model.target_rel());
        run.s.set_env("CARGO_TARGET_DIR", t);
        let bare = run.check_state(empty);
        if run.model.conflict.is_none() && (state == states || rng.chance(1, 5)) {
            run.second_pass(&bare);
        }
        if state % 50 == 0 && state < states {
            let t = &run.totals;
            let _ = writeln!(
                std::io::stderr(),
                "differential rust: state {state} of {states}: {} hits, {} misses, {:.0} s",
                t.hits,
                t.misses,
                started.elapsed().as_secs_f64()
            );
        }
    }
    let t = &run.totals;
    let _ = writeln!(
        std::io::stderr(),
        "differential rust: seed {seed}, {states} states ({} cargo check, {} failing by design), {} cachepot builds ({} from an empty target dir, {} second passes): {} hits, {} misses, {} not cacheable; {:.1} s",
        t.check_states,
        t.failing_states,
        t.cp_builds,
        t.emptied,
        t.second_passes,
        t.hits,
        t.misses,
        t.non_cacheable,
        started.elapsed().as_secs_f64()
    );
    assert!(
        t.hits > 0,
        "no hit in the whole run: the comparison proved little"
    );
}
