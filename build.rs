// Rebuild when a migration changes, so a new one is never left out of the binary.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
