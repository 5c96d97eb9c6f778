//! Issue 2 item 8: no OpenSSL anywhere — neither linked into the binary nor in the
//! dependency tree (TLS, when remotes need it, comes from rustls).

#[test]
fn binary_links_no_libssl_or_libcrypto() {
    let out = std::process::Command::new("ldd")
        .arg(env!("CARGO_BIN_EXE_cachepot"))
        .output()
        .expect("ldd runs (binutils/libc-bin are part of every Debian install)");
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("statically linked") {
        // A static build (musl's, with `--target x86_64-unknown-linux-musl`) would carry
        // OpenSSL inside: its version banner is compiled into libcrypto.
        let bytes = std::fs::read(env!("CARGO_BIN_EXE_cachepot")).unwrap();
        assert!(
            !bytes.windows(8).any(|w| w == b"OpenSSL "),
            "OpenSSL is linked in statically"
        );
        return;
    }
    assert!(text.contains("libc.so"), "ldd output looks wrong: {text}");
    assert!(
        !text.contains("libssl") && !text.contains("libcrypto"),
        "OpenSSL is linked:\n{text}"
    );
}

#[test]
fn lock_file_has_no_openssl_crates() {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock")).unwrap();
    for name in ["openssl", "openssl-sys", "native-tls"] {
        assert!(
            !lock.contains(&format!("name = \"{name}\"")),
            "{name} is in Cargo.lock"
        );
    }
}
