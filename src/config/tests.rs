use super::*;

/// A config path that cannot exist, whatever else runs on the machine (nobody can create
/// files in procfs' per-process directory): `/nonexistent` can be made by anyone root.
const NO_CONFIG: &str = "/proc/self/cachepot-no-such-config.toml";

fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<OsString> {
    move |k| {
        pairs
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| OsString::from(v))
    }
}

#[test]
fn sizes_follow_ccache() {
    assert_eq!(parse_size("10G"), Some(10_000_000_000));
    assert_eq!(parse_size("500M"), Some(500_000_000));
    assert_eq!(parse_size("64Mi"), Some(64 * 1024 * 1024));
    assert_eq!(parse_size("2K"), Some(2000));
    assert_eq!(parse_size("1.5G"), Some(1_500_000_000));
    assert_eq!(parse_size("12345"), Some(12345));
    assert_eq!(parse_size("10GiB"), Some(10 * 1024 * 1024 * 1024));
    assert_eq!(parse_size("banana"), None);
    assert_eq!(parse_size(""), None);
    assert_eq!(parse_size("10X"), None);
    assert_eq!(parse_size("-1G"), None);
}

#[test]
fn bare_byte_counts_are_exact() {
    // Through f64 this was 9007199254740992 (seen writing the fuzz round-trip check).
    assert_eq!(parse_size("9007199254740993"), Some(9_007_199_254_740_993));
    assert_eq!(parse_size(&u64::MAX.to_string()), Some(u64::MAX));
    assert_eq!(parse_size("18446744073709551616"), None);
    assert_eq!(parse_size("1.5"), None);
}

#[test]
fn errors_stay_on_one_line_whatever_the_value() {
    let e = load_from(&env_of(&[
        ("HOME", "/h"),
        ("CACHEPOT_CONF", NO_CONFIG),
        ("CACHEPOT_CACHE_SIZE", "10G\nrm -rf /\r\u{1b}[31m"),
    ]))
    .unwrap_err();
    assert!(!e.0.chars().any(char::is_control), "{:?}", e.0);
    assert!(e.0.contains("10G\\nrm -rf /"), "{}", e.0);
    let env = env_of(&[("HOME", "/h")]);
    for toml in [
        "\"cache_size\nx\" = [1]",
        "direct = \"maybe\\n\"",
        "gcs_rw_mode = \"\\r\"",
        "[",
        "cache_size = { a = 1 }",
    ] {
        let e = resolve(&env, Path::new("/c/config.toml"), Some(toml)).unwrap_err();
        assert!(!e.0.chars().any(char::is_control), "{toml}: {:?}", e.0);
        assert!(e.0.starts_with("cachepot: "), "{}", e.0);
    }
    let c = resolve(&env, Path::new("/c.toml"), Some("\"new\\nkey\" = 1")).unwrap();
    assert_eq!(c.warnings.len(), 1);
    assert!(!c.warnings[0].contains('\n'), "{}", c.warnings[0]);
}

#[test]
fn switches() {
    for t in ["1", "TRUE", "Yes", "on"] {
        assert_eq!(parse_switch(t), Some(true));
    }
    for f in ["0", "false", "NO", "Off"] {
        assert_eq!(parse_switch(f), Some(false));
    }
    assert_eq!(parse_switch("maybe"), None);
}

#[test]
fn environment_overrides_default_with_origin() {
    let c = load_from(&env_of(&[
        ("HOME", "/h"),
        ("CACHEPOT_CONF", NO_CONFIG),
        ("CACHEPOT_CACHE_SIZE", "5G"),
    ]))
    .unwrap();
    assert_eq!(c.cache_size, 5_000_000_000);
    assert_eq!(c.dir, PathBuf::from("/h/.cache/cachepot"));
    let shown = c.shown.iter().find(|(k, _, _)| k == "cache_size").unwrap();
    assert_eq!(shown.2, Origin::Environment);
    assert!(c.direct && c.hash_dir && !c.recache);
}

#[test]
fn malformed_values_name_the_variable() {
    let e = load_from(&env_of(&[
        ("HOME", "/h"),
        ("CACHEPOT_CONF", NO_CONFIG),
        ("CACHEPOT_DIRECT", "maybe"),
    ]))
    .unwrap_err();
    assert!(e.0.contains("CACHEPOT_DIRECT"), "{}", e.0);
    assert!(!e.0.contains('\n'));
    let e = load_from(&env_of(&[
        ("HOME", "/h"),
        ("CACHEPOT_CONF", NO_CONFIG),
        ("CACHEPOT_CACHE_SIZE", "lots"),
    ]))
    .unwrap_err();
    assert!(e.0.contains("CACHEPOT_CACHE_SIZE"));
}

#[test]
fn secrets_are_masked() {
    let c = load_from(&env_of(&[
        ("HOME", "/h"),
        ("CACHEPOT_CONF", NO_CONFIG),
        ("CACHEPOT_HMAC_KEY", "s3cret"),
    ]))
    .unwrap();
    assert!(c.shown.iter().all(|(_, v, _)| !v.contains("s3cret")));
    assert_eq!(c.hmac_key.as_deref(), Some(&b"s3cret"[..]));
}

#[test]
fn compression_settings() {
    let load = |level: &'static str, min: &'static str| {
        let pairs: &'static [(&'static str, &'static str)] = Box::leak(Box::new([
            ("HOME", "/h"),
            ("CACHEPOT_CONF", NO_CONFIG),
            ("CACHEPOT_COMPRESSION_LEVEL", level),
            ("CACHEPOT_COMPRESSION_MIN_SIZE", min),
        ]));
        load_from(&env_of(pairs))
    };
    let c = load("0", "0").unwrap();
    assert_eq!((c.compression_level, c.compression_min_size), (0, 0));
    let c = load("19", "64Ki").unwrap();
    assert_eq!((c.compression_level, c.compression_min_size), (19, 65536));
    let e = load("20", "64Ki").unwrap_err();
    assert!(e.0.contains("CACHEPOT_COMPRESSION_LEVEL"), "{}", e.0);
    let e = load("1", "small").unwrap_err();
    assert!(e.0.contains("CACHEPOT_COMPRESSION_MIN_SIZE"), "{}", e.0);
    assert!(!e.0.contains('\n'));
}
