//! A certificate authority for the TLS tests, made with the openssl command line.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::require;

/// A test authority made with the openssl command line (`ca.pem`,
/// `ca.key`), and the server certificates it signs.
pub struct TestCa {
    dir: PathBuf,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        require("openssl");
        let dir = std::env::temp_dir().join(format!("onair-tls-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ca = TestCa { dir };
        ca.authority("ca");
        ca
    }

    /// Makes `NAME.pem` and `NAME.key`, an authority of its own (`ca` is the one `issue` signs with).
    pub fn authority(&self, name: &str) {
        self.openssl(
            &["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
            &["-keyout", &format!("{name}.key"), "-out", &format!("{name}.pem"), "-days", "2", "-subj", &format!("/CN=OnAir test {name}")],
        );
    }

    fn openssl(&self, args: &[&str], more: &[&str]) -> String {
        let output = Command::new("openssl").args(args).args(more).current_dir(&self.dir).output().expect("run openssl");
        assert!(output.status.success(), "openssl {args:?} {more:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Issues `NAME.pem` and `NAME.key` for `subject_alt_names` (`DNS:localhost,IP:127.0.0.1`);
    /// returns the certificate's serial number.
    pub fn issue(&self, name: &str, subject_alt_names: &str) -> String {
        let (key, csr, pem, ext) = (format!("{name}.key"), format!("{name}.csr"), format!("{name}.pem"), format!("{name}.cnf"));
        let extensions = format!("subjectAltName={subject_alt_names}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n");
        std::fs::write(self.dir.join(&ext), extensions).unwrap();
        self.openssl(
            &["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
            &["-keyout", &key, "-out", &csr, "-subj", "/CN=localhost"],
        );
        self.openssl(&["x509", "-req", "-in", &csr, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"], &["-out", &pem, "-days", "2", "-extfile", &ext]);
        self.serial(&self.path(&pem))
    }

    pub fn serial(&self, certificate: &Path) -> String {
        self.openssl(&["x509", "-noout", "-serial", "-in"], &[certificate.to_str().unwrap()]).trim().to_string()
    }

    /// Base64 SHA-256 of the certificate's public key: what Chromium pins.
    pub fn spki_hash(&self, name: &str) -> String {
        let script =
            format!("openssl x509 -in {name}.pem -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | openssl base64 -A");
        let output = Command::new("sh").args(["-c", &script]).current_dir(&self.dir).output().expect("run openssl");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
