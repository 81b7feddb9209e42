//! `tidewatch certs`: one command makes the CA and every certificate a first setup needs.

use anyhow::Result;
use std::path::Path;

pub fn run(out: &Path, sensors: &[String], collector_names: &[String]) -> Result<()> {
    let files = store::link::generate_certs(out, sensors, collector_names)?;
    for f in &files.written {
        println!("{}", f.display());
    }
    eprintln!(
        "collector: --certs {0} (ca.pem, collector.pem, collector-key.pem); \
         each sensor: ca.pem, sensor-NAME.pem, sensor-NAME-key.pem; keep ca-key.pem offline",
        out.display()
    );
    Ok(())
}
