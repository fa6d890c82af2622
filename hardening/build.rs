//! Compiles the two C functions that need xmlsec's struct layout (csrc/xmlsec_kept_key.c), with
//! the flags xmlsec was built with (`pkg-config xmlsec1-openssl`), as samael's bindings are.

fn main() {
    println!("cargo:rerun-if-changed=csrc/xmlsec_kept_key.c");
    let xmlsec = pkg_config::Config::new()
        .cargo_metadata(false)
        .probe("xmlsec1-openssl")
        .unwrap_or_else(|e| {
            panic!("xmlsec1-openssl not found by pkg-config (install libxmlsec1-dev): {e}")
        });
    let mut build = cc::Build::new();
    build.file("csrc/xmlsec_kept_key.c").warnings(true);
    for path in &xmlsec.include_paths {
        build.include(path);
    }
    for (name, value) in &xmlsec.defines {
        build.define(name, value.as_deref());
    }
    build.compile("harness_xmlsec_kept_key");
}
