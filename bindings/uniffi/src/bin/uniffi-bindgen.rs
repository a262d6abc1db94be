//! `uniffi-bindgen`, built from this crate so the generator's uniffi version always matches
//! the library's. Used by `bindings/uniffi/generate.sh`:
//! `uniffi-bindgen generate --library <libclawsocket_uniffi.so> --language kotlin --out-dir ...`

fn main() {
    uniffi::uniffi_bindgen_main()
}
