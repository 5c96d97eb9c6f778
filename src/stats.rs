//! Statistics counters and their rendering (`--show-stats`, human table and JSON).
//!
//! Counters are a map from a stable name to a count, persisted by the local store as one
//! small text file per shard (`name value` lines, updated under the shard lock) and summed
//! for display. Names: the contract's counters (`compile_requests`, `cache_hits`, ...),
//! `hit:<language>`, `miss:<language>`, `hitcc:<compiler family>`, `misscc:<family>`,
//! `reason:<non-cacheable reason>`,
//! `error:<fault kind>`, and mode counters (`direct_hits`, `preprocessed_hits`).
//! Names starting with `_` are the store's own bookkeeping (shard size and entry count):
//! `--zero-stats` keeps them, and they are never shown.

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

pub const COMPILE_REQUESTS: &str = "compile_requests";
pub const CACHE_HITS: &str = "cache_hits";
pub const CACHE_MISSES: &str = "cache_misses";
pub const NON_CACHEABLE: &str = "non_cacheable";
pub const COMPILE_ERRORS: &str = "compile_errors";
pub const CACHE_ERRORS: &str = "cache_errors";
pub const DIRECT_HITS: &str = "direct_hits";
pub const PREPROCESSED_HITS: &str = "preprocessed_hits";
/// Prefixes of the per-compiler-family counters (`hitcc:gcc`, `misscc:rustc`...).
pub const HIT_BY_COMPILER: &str = "hitcc:";
pub const MISS_BY_COMPILER: &str = "misscc:";
/// Store bookkeeping: bytes and entries in a shard (kept exact by eviction).
pub const SIZE: &str = "_size_bytes";
pub const ENTRIES: &str = "_entries";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters(pub BTreeMap<String, u64>);

impl Counters {
    /// Saturating: a damaged stats file may hold any number, and summing it (or the
    /// shards, for `--show-stats`) must not overflow (found by fuzzing).
    pub fn add(&mut self, name: &str, n: u64) {
        let v = self.0.entry(name.to_string()).or_insert(0);
        *v = v.saturating_add(n);
    }

    pub fn incr(&mut self, name: &str) {
        self.add(name, 1)
    }

    /// Apply a signed change (the store's size bookkeeping can shrink).
    pub fn add_signed(&mut self, name: &str, n: i64) {
        let v = self.0.entry(name.to_string()).or_insert(0);
        *v = if n >= 0 {
            v.saturating_add(n as u64)
        } else {
            v.saturating_sub(n.unsigned_abs())
        };
    }

    pub fn get(&self, name: &str) -> u64 {
        self.0.get(name).copied().unwrap_or(0)
    }

    pub fn merge(&mut self, other: &Counters) {
        for (k, v) in &other.0 {
            self.add(k, *v);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.values().all(|v| *v == 0)
    }

    /// Parse the file format; malformed lines are skipped (a damaged stats file
    /// loses counts, never breaks a build).
    pub fn parse(text: &str) -> Counters {
        let mut c = Counters::default();
        for line in text.lines() {
            let mut it = line.split_whitespace();
            if let (Some(name), Some(value), None) = (it.next(), it.next(), it.next()) {
                if let Ok(v) = value.parse::<u64>() {
                    c.add(name, v);
                }
            }
        }
        c
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        for (k, v) in &self.0 {
            if *v != 0 {
                s.push_str(k);
                s.push(' ');
                s.push_str(&v.to_string());
                s.push('\n');
            }
        }
        s
    }

    /// Drop every statistic, keeping the store's bookkeeping.
    pub fn zeroed(&self) -> Counters {
        Counters(
            self.0
                .iter()
                .filter(|(k, _)| k.starts_with('_'))
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
        )
    }

    fn with_prefix(&self, prefix: &str) -> BTreeMap<String, u64> {
        self.0
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(prefix).map(|n| (n.to_string(), *v)))
            .filter(|(_, v)| *v > 0)
            .collect()
    }
}

/// What `--show-stats` reports about the local cache itself.
pub struct CacheInfo {
    pub location: String,
    pub size_bytes: u64,
    pub max_size_bytes: u64,
    pub entries: u64,
}

fn map_value(m: BTreeMap<String, u64>) -> Value {
    Value::Object(
        m.into_iter()
            .map(|(k, v)| (k, json!(v)))
            .collect::<Map<_, _>>(),
    )
}

/// The contract's JSON shape; extra keys are additions, none is ever removed.
pub fn to_json(c: &Counters, info: &CacheInfo) -> Value {
    json!({
        "stats": {
            "compile_requests": c.get(COMPILE_REQUESTS),
            "cache_hits": c.get(CACHE_HITS),
            "cache_misses": c.get(CACHE_MISSES),
            "non_cacheable": c.get(NON_CACHEABLE),
            "compile_errors": c.get(COMPILE_ERRORS),
            "cache_errors": c.get(CACHE_ERRORS),
            "hits_by_language": map_value(c.with_prefix("hit:")),
            "misses_by_language": map_value(c.with_prefix("miss:")),
            "hits_by_compiler": map_value(c.with_prefix(HIT_BY_COMPILER)),
            "misses_by_compiler": map_value(c.with_prefix(MISS_BY_COMPILER)),
            "non_cacheable_reasons": map_value(c.with_prefix("reason:")),
            "cache_errors_by_kind": map_value(c.with_prefix("error:")),
            "remote_hits": c.get("remote_hits"),
            "remote_errors": c.get("remote_errors"),
            "remote_writes": c.get("remote_writes"),
            "remote_latency_ms": c.get("remote_latency_ms"),
            "direct_hits": c.get(DIRECT_HITS),
            "preprocessed_hits": c.get(PREPROCESSED_HITS),
        },
        "cache": {
            "location": info.location,
            "size_bytes": info.size_bytes,
            "max_size_bytes": info.max_size_bytes,
            "entries": info.entries,
        }
    })
}

pub fn to_human(c: &Counters, info: &CacheInfo) -> String {
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut row = |k: &str, v: String| rows.push((k.to_string(), v));
    row("Compile requests", c.get(COMPILE_REQUESTS).to_string());
    let hits = c.get(CACHE_HITS);
    let misses = c.get(CACHE_MISSES);
    let rate = if hits + misses > 0 {
        format!(" ({:.1}%)", 100.0 * hits as f64 / (hits + misses) as f64)
    } else {
        String::new()
    };
    row("Cache hits", format!("{hits}{rate}"));
    row("  direct", c.get(DIRECT_HITS).to_string());
    row("  preprocessed", c.get(PREPROCESSED_HITS).to_string());
    for (lang, n) in c.with_prefix("hit:") {
        row(&format!("  hits ({lang})"), n.to_string());
    }
    for (family, n) in c.with_prefix(HIT_BY_COMPILER) {
        row(&format!("  hits by {family}"), n.to_string());
    }
    for (key, label) in [
        ("remote_hits", "  from a remote"),
        ("remote_writes", "Remote writes"),
        ("remote_errors", "Remote errors"),
        ("remote_latency_ms", "Remote time (ms)"),
    ] {
        if c.get(key) > 0 {
            row(label, c.get(key).to_string());
        }
    }
    row("Cache misses", misses.to_string());
    for (lang, n) in c.with_prefix("miss:") {
        row(&format!("  misses ({lang})"), n.to_string());
    }
    for (family, n) in c.with_prefix(MISS_BY_COMPILER) {
        row(&format!("  misses by {family}"), n.to_string());
    }
    row("Non-cacheable calls", c.get(NON_CACHEABLE).to_string());
    for (reason, n) in c.with_prefix("reason:") {
        row(&format!("  {reason}"), n.to_string());
    }
    row("Compilation errors", c.get(COMPILE_ERRORS).to_string());
    row("Cache errors", c.get(CACHE_ERRORS).to_string());
    for (kind, n) in c.with_prefix("error:") {
        row(&format!("  {kind}"), n.to_string());
    }
    row("Cache location", info.location.clone());
    row(
        "Cache size",
        format!(
            "{} ({} entries)",
            crate::config::format_size(info.size_bytes),
            info.entries
        ),
    );
    row(
        "Max cache size",
        crate::config::format_size(info.max_size_bytes),
    );
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(k, v)| format!("{k:<width$}  {v}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_render_round_trip_and_garbage() {
        let mut c = Counters::default();
        c.incr(CACHE_HITS);
        c.add("hit:c", 3);
        assert_eq!(Counters::parse(&c.render()), c);
        let g = Counters::parse("cache_hits 2\n\x00garbage line here\nbad x\ncache_hits 1\n");
        assert_eq!(g.get(CACHE_HITS), 3);
    }

    #[test]
    fn huge_counts_in_a_damaged_stats_file_saturate() {
        // Overflowed (a panic in debug builds, a wrap to a small count in release):
        // found by tests/fuzz_corpus.rs, input in fuzz/corpus/stats_file/.
        let c = Counters::parse("cache_hits 18446744073709551615\ncache_hits 2\n");
        assert_eq!(c.get(CACHE_HITS), u64::MAX);
        let mut total = c.clone();
        total.merge(&c);
        assert_eq!(total.get(CACHE_HITS), u64::MAX);
    }

    #[test]
    fn json_has_contract_shape() {
        let mut c = Counters::default();
        c.incr("reason:linking");
        c.incr(NON_CACHEABLE);
        let v = to_json(
            &c,
            &CacheInfo {
                location: "/x".into(),
                size_bytes: 1,
                max_size_bytes: 2,
                entries: 3,
            },
        );
        for k in [
            "compile_requests",
            "cache_hits",
            "cache_misses",
            "non_cacheable",
            "compile_errors",
            "cache_errors",
        ] {
            assert!(v["stats"][k].is_u64(), "{k}");
        }
        assert_eq!(v["stats"]["non_cacheable_reasons"]["linking"], 1);
        assert_eq!(v["cache"]["entries"], 3);
    }

    #[test]
    fn zeroing_keeps_bookkeeping() {
        let mut c = Counters::default();
        c.add(SIZE, 100);
        c.incr(CACHE_HITS);
        let z = c.zeroed();
        assert_eq!(z.get(SIZE), 100);
        assert_eq!(z.get(CACHE_HITS), 0);
    }
}
