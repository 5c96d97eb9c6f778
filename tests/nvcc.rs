//! nvcc through cachepot, black box, with the real nvcc of the CUDA 13 wheel that
//! scripts/setup.sh installs (no GPU: nothing runs on a device) and the system gcc as
//! host compiler. Missing nvcc is a failure under CI, a loud skip elsewhere.
//!
//! nvcc objects differ from run to run in the name of one temporary file
//! (`tmpxft_<pid>_<n>`, measured: 2 bytes). Objects are compared after blanking that name
//! ([`same_object`]): a hit must equal what the miss stored, and an object compiled
//! through cachepot must equal a bare nvcc compile of the same source.
//!
//! The soundness tests (caching-spec part C) each make an edit that only one pass of
//! nvcc sees (a device branch, a host-only branch, one `-gencode` architecture of two),
//! check that the edit changes the object (so a wrong hit would be caught) and that
//! cachepot misses and gives the bare compiler's object.
//! Each nvcc compile takes about a second: the tests share sources and compile little.

#[macro_use]
mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};

/// Where scripts/setup.sh puts nvcc, relative to the test tools directory (the venv's
/// Python is 3.11 on Debian 12; another minor version is found too).
const NVCC_REL: &str = "venv/lib/python3.11/site-packages/nvidia/cu13/bin/nvcc";

/// The installed nvcc, else [`installed_tool`]'s failure (CI) or loud skip.
fn find_nvcc() -> Option<PathBuf> {
    let lib = test_tools_dir().join("venv/lib");
    let found = fs::read_dir(&lib).ok().and_then(|rd| {
        rd.flatten()
            .map(|e| e.path().join("site-packages/nvidia/cu13/bin/nvcc"))
            .find(|p| p.is_file())
    });
    found.or_else(|| installed_tool(NVCC_REL))
}

/// A kernel whose device code differs per architecture, a host-only function, and
/// macros a test can edit: `DEVICE_75`, `DEVICE_80` and `HOST` are substituted.
const KERNEL: &str = r#"#include <cuda_runtime.h>
__global__ void kern(int *out) {
#if __CUDA_ARCH__ >= 800
  out[0] = DEVICE_80;
#elif __CUDA_ARCH__ >= 750
  out[0] = DEVICE_75;
#endif
}
#ifndef __CUDA_ARCH__
int host_only(void) { return HOST; }
int launch(int *d) { kern<<<1, 1>>>(d); return host_only(); }
#endif
"#;

fn kernel(device_75: i32, device_80: i32, host: i32) -> String {
    KERNEL
        .replace("DEVICE_75", &device_75.to_string())
        .replace("DEVICE_80", &device_80.to_string())
        .replace("HOST", &host.to_string())
}

/// nvcc and a logging shim around it, in a fresh sandbox.
struct Nv {
    s: Sandbox,
    /// The real nvcc (never linked elsewhere: it finds its toolkit relative to itself).
    real: PathBuf,
    /// A script that logs its arguments and execs the real nvcc by its full path.
    shim: PathBuf,
    log: PathBuf,
}

fn setup() -> Option<Nv> {
    if !require_tool("gcc") {
        return None;
    }
    let real = find_nvcc()?;
    let s = Sandbox::new();
    let dir = s.root().join("shim-nvcc");
    fs::create_dir_all(&dir).unwrap();
    let log = dir.join("runs.log");
    let shim = dir.join("nvcc");
    write_executable(
        &shim,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            real.display()
        ),
    );
    Some(Nv { s, real, shim, log })
}

impl Nv {
    /// `cachepot <shim> args...`, asserting success.
    fn cached(&self, args: &[&str]) -> std::process::Output {
        let mut all = vec![self.shim.to_str().unwrap()];
        all.extend(args);
        let out = self.s.cachepot(&all);
        self.s
            .assert_success(&out, &format!("cachepot nvcc {}", args.join(" ")));
        out
    }

    /// The bare nvcc, asserting success.
    fn bare(&self, args: &[&str]) -> std::process::Output {
        let out = self.s.bare(self.real.to_str().unwrap(), args);
        self.s
            .assert_success(&out, &format!("nvcc {}", args.join(" ")));
        out
    }

    /// Real compiles the shim saw: not the dry runs and version probes of cachepot.
    fn compile_runs(&self) -> usize {
        fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.contains("--dryrun") && !l.contains("--version"))
            .count()
    }

    fn counts(&self) -> (u64, u64, u64) {
        let v = self.s.stats();
        assert_stats_consistent(&v);
        (
            stat_of(&v, "cache_hits"),
            stat_of(&v, "cache_misses"),
            stat_of(&v, "non_cacheable"),
        )
    }
}

/// An nvcc object with the one run-specific name blanked (`tmpxft_` + 17 characters).
fn normalized(obj: &[u8]) -> Vec<u8> {
    let mut out = obj.to_vec();
    let mark = b"tmpxft_";
    let mut i = 0;
    while i + mark.len() + 17 <= out.len() {
        if &out[i..i + mark.len()] == mark {
            for b in &mut out[i + mark.len()..i + mark.len() + 17] {
                *b = b'0';
            }
            i += mark.len() + 17;
        } else {
            i += 1;
        }
    }
    out
}

fn same_object(a: &[u8], b: &[u8]) -> bool {
    normalized(a) == normalized(b)
}

// ---------------------------------------------------------------------------------------

#[test]
fn miss_then_hit_runs_no_compile() {
    let Some(nv) = setup() else { return };
    nv.s.write("k.cu", kernel(75, 80, 1));
    nv.cached(&["-c", "k.cu", "-o", "k.o"]);
    assert_eq!(nv.counts(), (0, 1, 0));
    assert_eq!(nv.compile_runs(), 1);
    let stored = nv.s.read("k.o");
    nv.s.remove("k.o");
    nv.cached(&["-c", "k.cu", "-o", "k.o"]);
    assert_eq!(nv.counts(), (1, 1, 0), "{}", tail(&nv.s.log_text(), 30));
    assert_eq!(nv.compile_runs(), 1, "a hit must not compile");
    assert_eq!(
        nv.s.read("k.o"),
        stored,
        "the hit restores the stored object"
    );
    let v = nv.s.stats();
    assert_eq!(map_count(&v, "hits_by_language", "cuda"), 1);
    assert_eq!(v["stats"]["hits_by_compiler"]["nvcc"], 1, "{v}");
    // And the object is what nvcc itself makes of this source.
    nv.bare(&["-c", "k.cu", "-o", "bare.o"]);
    assert!(same_object(&stored, &nv.s.read("bare.o")));
    let syms = nv.s.bare("objdump", &["-t", "k.o"]);
    assert!(
        lossy(&syms.stdout).contains("_Z4kernPi"),
        "kernel stub missing"
    );
}

/// Compile `before` (a miss), then `after` with the same command: it must be a miss,
/// the edit must change the object, and the object must be the bare compiler's.
fn edit_must_miss(args: &[&str], before: &str, after: &str) {
    let Some(nv) = setup() else { return };
    let mut with_out = args.to_vec();
    with_out.extend(["k.cu", "-o", "k.o"]);
    nv.s.write("k.cu", before);
    nv.cached(&with_out);
    let old = nv.s.read("k.o");
    nv.s.write("k.cu", after);
    nv.cached(&with_out);
    assert_eq!(nv.counts(), (0, 2, 0), "the edit must miss");
    let new = nv.s.read("k.o");
    assert!(
        !same_object(&old, &new),
        "the edit does not change the object"
    );
    let mut bare = args.to_vec();
    bare.extend(["k.cu", "-o", "bare.o"]);
    nv.bare(&bare);
    assert!(same_object(&new, &nv.s.read("bare.o")));
    // An unchanged repeat hits and restores the new object.
    nv.s.remove("k.o");
    nv.cached(&with_out);
    assert_eq!(nv.counts(), (1, 2, 0));
    assert_eq!(nv.s.read("k.o"), new);
}

#[test]
fn device_code_edit_under_cuda_arch_750_misses() {
    edit_must_miss(&["-c"], &kernel(75, 80, 1), &kernel(76, 80, 1));
}

#[test]
fn host_only_edit_misses() {
    edit_must_miss(&["-c"], &kernel(75, 80, 1), &kernel(75, 80, 2));
}

#[test]
fn edit_seen_by_second_gencode_arch_only_misses() {
    edit_must_miss(
        &[
            "-c",
            "-gencode",
            "arch=compute_75,code=sm_75",
            "--generate-code=arch=compute_80,code=sm_80",
        ],
        &kernel(75, 80, 1),
        &kernel(75, 81, 1),
    );
}

#[test]
fn ccbin_host_compiler_is_used_and_keyed() {
    let Some(nv) = setup() else { return };
    let gcc = which("gcc").unwrap();
    let host_log = nv.s.root().join("host.log");
    let write_host = |comment: &str| {
        fs::create_dir_all(nv.s.path("host")).unwrap();
        write_executable(
            &nv.s.path("host/gcc"),
            format!(
                "#!/bin/sh\n# {comment}\necho \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
                host_log.display(),
                gcc.display()
            ),
        );
    };
    write_host("first");
    nv.s.write("k.cu", kernel(75, 80, 1));
    let args = ["-ccbin", "host/gcc", "-c", "k.cu", "-o", "k.o"];
    nv.cached(&args);
    let host_runs = fs::read_to_string(&host_log).unwrap();
    assert!(
        host_runs.lines().any(|l| l.contains(" -c ")),
        "nvcc compiled with the -ccbin compiler: {host_runs}"
    );
    nv.s.remove("k.o");
    nv.cached(&args);
    assert_eq!(nv.counts(), (1, 1, 0));
    // Another host compiler at the same path (its identity changed): a miss.
    write_host("second");
    nv.cached(&args);
    assert_eq!(nv.counts(), (1, 2, 0));
    assert_eq!(nv.compile_runs(), 2);
}

#[test]
fn md_dep_file_is_restored_on_hit_and_retargeted() {
    let Some(nv) = setup() else { return };
    nv.s.write(
        "k.cu",
        kernel(75, 80, 1).replace(
            "#include <cuda_runtime.h>",
            "#include <cuda_runtime.h>\n#include \"local.h\"",
        ),
    );
    nv.s.write("local.h", "#define LOCAL 1\n");
    nv.cached(&["-c", "k.cu", "-o", "k.o", "-MD", "-MF", "k.d"]);
    let dep = lossy(&nv.s.read("k.d"));
    assert!(dep.contains("local.h"), "{dep}");
    let rules = make_rules(&dep);
    nv.s.remove("k.o");
    nv.s.remove("k.d");
    nv.cached(&["-c", "k.cu", "-o", "k.o", "-MD", "-MF", "k.d"]);
    assert_eq!(nv.counts(), (1, 1, 0));
    assert_eq!(make_rules(&lossy(&nv.s.read("k.d"))), rules);
    // Another -o (default dep file name beside it): same rules, new target.
    nv.cached(&["-c", "k.cu", "-o", "other.o", "-MD"]);
    assert_eq!(nv.counts(), (2, 1, 0));
    let moved = make_rules(&lossy(&nv.s.read("other.d")));
    assert_eq!(moved[0].0, ["other.o"]);
    assert_eq!(moved[0].1, rules[0].1);
    assert_eq!(nv.compile_runs(), 1);
}

#[test]
fn rdc_device_c_is_cached() {
    let Some(nv) = setup() else { return };
    nv.s.write("k.cu", kernel(75, 80, 1));
    nv.cached(&["-dc", "k.cu", "-o", "k.o"]);
    let stored = nv.s.read("k.o");
    nv.s.remove("k.o");
    nv.cached(&["-dc", "k.cu", "-o", "k.o"]);
    assert_eq!(nv.counts(), (1, 1, 0));
    assert_eq!(nv.s.read("k.o"), stored);
    // Relocatable device code is another object than whole-program compilation.
    nv.cached(&["-c", "k.cu", "-o", "whole.o"]);
    assert_eq!(nv.counts(), (1, 2, 0));
    assert!(!same_object(&stored, &nv.s.read("whole.o")));
}

#[test]
fn define_change_misses() {
    let Some(nv) = setup() else { return };
    let src = KERNEL
        .replace("DEVICE_75", "VAL")
        .replace("DEVICE_80", "80");
    nv.s.write("k.cu", src.replace("HOST", "1"));
    nv.cached(&["-c", "k.cu", "-o", "a.o", "-DVAL=1"]);
    nv.cached(&["-c", "k.cu", "-o", "b.o", "-DVAL=2"]);
    assert_eq!(nv.counts(), (0, 2, 0));
    assert!(!same_object(&nv.s.read("a.o"), &nv.s.read("b.o")));
    // The same define in an options file: its content is keyed.
    nv.s.write("opts.txt", "-DVAL=1\n");
    nv.cached(&["-c", "k.cu", "-o", "c.o", "--options-file", "opts.txt"]);
    nv.s.write("opts.txt", "-DVAL=2\n");
    nv.cached(&["-c", "k.cu", "-o", "d.o", "--options-file", "opts.txt"]);
    assert_eq!(nv.counts(), (0, 4, 0));
    assert!(same_object(&nv.s.read("c.o"), &nv.s.read("a.o")));
    assert!(same_object(&nv.s.read("d.o"), &nv.s.read("b.o")));
}

#[test]
fn ptx_product_is_cached() {
    let Some(nv) = setup() else { return };
    nv.s.write("k.cu", kernel(75, 80, 1));
    nv.cached(&["-ptx", "k.cu"]);
    let ptx = nv.s.read("k.ptx");
    assert!(lossy(&ptx).contains(".entry _Z4kernPi"));
    nv.s.remove("k.ptx");
    nv.cached(&["-ptx", "k.cu"]);
    assert_eq!(nv.counts(), (1, 1, 0));
    assert_eq!(nv.s.read("k.ptx"), ptx);
}

#[test]
fn preprocess_and_link_pass_through() {
    let Some(nv) = setup() else { return };
    nv.s.write("k.cu", kernel(75, 80, 1));
    nv.s.write(
        "main.cu",
        "int launch(int *d);\nint main(void) { return launch(0) == 1 ? 0 : 1; }\n",
    );
    nv.cached(&["-E", "k.cu", "-o", "k.ii"]);
    // (nvcc -E prints the first device pass only: the kernel, not the host-only code.)
    assert!(lossy(&nv.s.read("k.ii")).contains("kern"));
    nv.cached(&["k.cu", "main.cu", "-o", "app"]);
    assert!(Path::new(&nv.s.path("app")).is_file());
    let v = nv.s.stats();
    assert_stats_consistent(&v);
    assert_eq!(stat_of(&v, "non_cacheable"), 2);
    assert_eq!(map_count(&v, "non_cacheable_reasons", "preprocess_only"), 1);
    assert_eq!(map_count(&v, "non_cacheable_reasons", "linking"), 1);
    assert!(nv.s.entry_files().is_empty(), "nothing is stored");
    let syms = nv.s.bare("nm", &["app"]);
    assert!(lossy(&syms.stdout).contains("cudaLaunchKernel"));
}
