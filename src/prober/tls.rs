//! TLS client settings for HTTPS checks. Like Route 53, certificates are not validated by
//! default (the handshake's signatures still are); `tls_verify` validates against the
//! built-in web roots, or against `tls_ca_file`.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config::CheckConfig;

/// Client configurations, built once and shared by every probe that uses them.
pub struct TlsConfigs {
    unverified: Arc<ClientConfig>,
    web_roots: Arc<ClientConfig>,
}

impl TlsConfigs {
    /// Builds the shared configurations.
    pub fn new() -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let unverified =
            ClientConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions().map(|b| {
                b.dangerous()
                    .with_custom_certificate_verifier(Arc::new(AcceptAny(provider.clone())))
                    .with_no_client_auth()
            });
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let web_roots = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|b| b.with_root_certificates(roots).with_no_client_auth());
        match (unverified, web_roots) {
            (Ok(u), Ok(w)) => TlsConfigs { unverified: Arc::new(u), web_roots: Arc::new(w) },
            // The ring provider supports the default versions; failing here is a build defect.
            (Err(e), _) | (_, Err(e)) => panic!("TLS client configuration: {e}"),
        }
    }

    /// The configuration for one check (its own root store when it names a CA file).
    pub fn for_check(&self, check: &CheckConfig) -> Result<Arc<ClientConfig>, String> {
        if !check.tls_verify {
            return Ok(self.unverified.clone());
        }
        let Some(pem) = &check.tls_ca else {
            return Ok(self.web_roots.clone());
        };
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| format!("bad certificate in tls_ca_file: {e}"))?;
            roots.add(cert).map_err(|e| format!("unusable certificate in tls_ca_file: {e}"))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }

    /// The name sent as SNI and checked against the certificate: the FQDN when SNI is
    /// enabled, else the address (rustls sends no SNI for an address).
    pub fn server_name(check: &CheckConfig, ip: std::net::IpAddr) -> ServerName<'static> {
        if check.enable_sni {
            if let Some(name) = check.fqdn.as_ref().and_then(|f| ServerName::try_from(f.clone()).ok()) {
                return name;
            }
        }
        ServerName::IpAddress(ip.into())
    }
}

impl Default for TlsConfigs {
    fn default() -> Self {
        Self::new()
    }
}

/// Accepts any certificate chain, but still verifies handshake signatures.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
