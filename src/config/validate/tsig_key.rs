//! `[[tsig_key]]`: the keys signed queries may use (RFC 8945): a unique name, an algorithm
//! the server has, and a secret in base64, written in the table or in a file of its own.
//! No message ever quotes a secret, not even a bad one.

use std::collections::HashSet;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, DecodeError, Engine};

use super::Validator;
use crate::config::{file, text, ReadFile, TsigKeyConfig};
use crate::tsig::{Algorithm, Secret};

/// Standard base64 (RFC 4648 section 4), with or without its padding: BIND's key files and
/// `tsig-keygen` pad, some tools do not.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

impl Validator<'_> {
    /// Validates every `[[tsig_key]]`; `read` supplies secret files (paths relative to the
    /// config file's folder).
    pub(super) fn tsig_keys(
        &mut self,
        tables: &[toml::Spanned<file::TsigKeyTable>],
        read: &ReadFile<'_>,
    ) -> Vec<TsigKeyConfig> {
        let mut names = HashSet::new();
        let mut keys = Vec::with_capacity(tables.len());
        for spanned in tables {
            let t = spanned.get_ref();
            let span = Some(spanned.span());
            let ctx = format!("tsig_key {:?}", t.name);
            let name = match text::parse_absolute(&t.name) {
                Ok(name) => Some(name),
                Err(e) => {
                    self.problem(span.clone(), &ctx, Some("name"), e);
                    None
                }
            };
            if let Some(name) = &name {
                if !names.insert(name.clone()) {
                    self.problem(span.clone(), &ctx, Some("name"), format!("{name} is defined more than once"));
                }
            }
            let algorithm = Algorithm::parse(&t.algorithm);
            if algorithm.is_none() {
                let reason = format!("{:?} is not one of {}", t.algorithm, Algorithm::NAMES);
                self.problem(span.clone(), &ctx, Some("algorithm"), reason);
            }
            let secret = match (&t.secret, &t.secret_file) {
                (Some(text), None) => decode(text).map_err(|e| ("secret", format!("not base64: {e}"))),
                (None, Some(file)) => {
                    let path = self.relative(file);
                    match read(&path) {
                        Ok(text) => decode(&text).map_err(|e| {
                            ("secret_file", format!("{} does not hold a base64 secret: {e}", path.display()))
                        }),
                        Err(e) => Err(("secret_file", format!("cannot read {}: {e}", path.display()))),
                    }
                }
                (Some(_), Some(_)) => Err(("secret", "give `secret` or `secret_file`, not both".to_string())),
                (None, None) => Err(("secret", "missing: give `secret` (base64) or `secret_file`".to_string())),
            };
            let secret = match secret {
                Ok(secret) => Some(secret),
                Err((key, reason)) => {
                    self.problem(span.clone(), &ctx, Some(key), reason);
                    None
                }
            };
            if let (Some(name), Some(algorithm), Some(secret)) = (name, algorithm, secret) {
                keys.push(TsigKeyConfig { name, algorithm, secret });
            }
        }
        keys
    }
}

/// Decodes a base64 secret, white space (line breaks in a file) ignored; the reason it
/// cannot be decoded never quotes it.
fn decode(text: &str) -> Result<Secret, String> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return Err("it is empty".into());
    }
    let bytes = BASE64.decode(compact.as_bytes()).map_err(|e| match e {
        DecodeError::InvalidByte(at, _) => format!("a character that is not base64 at offset {at}"),
        DecodeError::InvalidLength(_) => "its length is not that of base64 text".into(),
        DecodeError::InvalidLastSymbol { offset, .. } => {
            format!("the last character (offset {offset}) has bits left over")
        }
        DecodeError::InvalidPadding => "wrong padding".into(),
    })?;
    Ok(Secret::new(bytes))
}
