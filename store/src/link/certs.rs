//! `tidewatch certs`: a CA, the collector's certificate and one per sensor, so a first
//! setup is one command. Files (PEM) in the output directory:
//! `ca.pem`, `ca-key.pem` (keep the key offline after setup), `collector.pem`,
//! `collector-key.pem`, and `sensor-NAME.pem`, `sensor-NAME-key.pem` per sensor. A sensor
//! certificate names the sensor as a DNS subject alternative name; the collector accepts a
//! sensor's Hello only under that name.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use std::path::{Path, PathBuf};

/// The files one run wrote.
#[derive(Debug)]
pub struct CertFiles {
    pub written: Vec<PathBuf>,
}

fn err(what: &str, e: impl std::fmt::Display) -> super::TlsError {
    super::TlsError::Verifier(format!("{what}: {e}"))
}

fn write(
    dir: &Path,
    name: &str,
    text: &str,
    secret: bool,
    out: &mut Vec<PathBuf>,
) -> Result<(), super::TlsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let p = dir.join(name);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(if secret { 0o600 } else { 0o644 })
        .open(&p)
        .and_then(|mut f| f.write_all(text.as_bytes()).map(|_| f))
        .map_err(|e| super::TlsError::File {
            path: p.clone(),
            why: e.to_string(),
        })?;
    f.flush().map_err(|e| super::TlsError::File {
        path: p.clone(),
        why: e.to_string(),
    })?;
    out.push(p);
    Ok(())
}

/// Creates the CA, a collector certificate valid for `collector_names` (DNS names or IP
/// addresses it is reached by), and one certificate per sensor.
pub fn generate(
    dir: &Path,
    sensors: &[String],
    collector_names: &[String],
) -> Result<CertFiles, super::TlsError> {
    std::fs::create_dir_all(dir).map_err(|e| super::TlsError::File {
        path: dir.into(),
        why: e.to_string(),
    })?;
    for s in sensors {
        if !crate::wire::valid_sensor_name(s) {
            return Err(err(
                "sensor name",
                format!("{s:?} is not 1..=64 of [A-Za-z0-9._-]"),
            ));
        }
    }
    let mut out = Vec::new();
    let ca_key = KeyPair::generate().map_err(|e| err("CA key", e))?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(|e| err("CA", e))?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "tidewatch CA");
    ca.distinguished_name = dn;
    let ca_cert = ca.self_signed(&ca_key).map_err(|e| err("CA", e))?;
    write(dir, "ca.pem", &ca_cert.pem(), false, &mut out)?;
    write(dir, "ca-key.pem", &ca_key.serialize_pem(), true, &mut out)?;

    let mut leaf = |names: Vec<String>, cn: &str, usage: ExtendedKeyUsagePurpose, file: &str| {
        let key = KeyPair::generate().map_err(|e| err("key", e))?;
        let mut p = CertificateParams::new(names).map_err(|e| err(cn, e))?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        p.distinguished_name = dn;
        p.extended_key_usages = vec![usage];
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let c = p
            .signed_by(&key, &ca_cert, &ca_key)
            .map_err(|e| err(cn, e))?;
        write(dir, &format!("{file}.pem"), &c.pem(), false, &mut out)?;
        write(
            dir,
            &format!("{file}-key.pem"),
            &key.serialize_pem(),
            true,
            &mut out,
        )
    };
    let mut cnames = collector_names.to_vec();
    if cnames.is_empty() {
        cnames = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    }
    leaf(
        cnames,
        "tidewatch collector",
        ExtendedKeyUsagePurpose::ServerAuth,
        "collector",
    )?;
    for s in sensors {
        leaf(
            vec![s.clone()],
            s,
            ExtendedKeyUsagePurpose::ClientAuth,
            &format!("sensor-{s}"),
        )?;
    }
    Ok(CertFiles { written: out })
}
