//! PS256 JSON Web Tokens (RFC 7515/7519 compact form, RSASSA-PSS with SHA-256), with ring:
//! the harness signs them with a service account's authorized key ([`sign_ps256`]), and the
//! reference server's tokens endpoint checks them against the key's public half
//! ([`verify_ps256`]). Only what these two need: no other algorithm is accepted.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PSS_2048_8192_SHA256, RSA_PSS_SHA256, RsaKeyPair, UnparsedPublicKey};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{PrivateKeyDer, SubjectPublicKeyInfoDer};
use serde_json::Value;

/// The compact JWT for `header` and `claims`, signed PS256 with the RSA key of `pem` (PKCS#8
/// `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`). `header` gets `"alg": "PS256"`.
pub fn sign_ps256(pem: &str, header: &Value, claims: &Value) -> Result<String, String> {
    let der = PrivateKeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| format!("the private key is not a readable PEM block: {e}"))?;
    let pair = match &der {
        PrivateKeyDer::Pkcs8(key) => RsaKeyPair::from_pkcs8(key.secret_pkcs8_der()),
        PrivateKeyDer::Pkcs1(key) => RsaKeyPair::from_der(key.secret_pkcs1_der()),
        _ => return Err("the private key is not an RSA key".into()),
    }
    .map_err(|e| format!("the private key is not a usable RSA key: {e}"))?;
    let mut header = header.clone();
    if let Some(map) = header.as_object_mut() {
        map.insert("alg".into(), Value::from("PS256"));
    }
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut signature = vec![0; pair.public().modulus_len()];
    pair.sign(
        &RSA_PSS_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .map_err(|_| "signing failed".to_string())?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

/// A JWT's header, read without checking the signature.
pub fn header(jwt: &str) -> Result<Value, String> {
    let first = jwt.split('.').next().unwrap_or_default();
    decode_part(first, "header")
}

fn decode_part(part: &str, what: &str) -> Result<Value, String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|e| format!("the {what} is not base64url: {e}"))?;
    let value: Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("the {what} is not JSON: {e}"))?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(format!("the {what} is not a JSON object"))
    }
}

/// The claims of `jwt` when it is a PS256 JWT whose signature the RSA public key of `pem`
/// (`PUBLIC KEY`, SubjectPublicKeyInfo) verifies.
pub fn verify_ps256(jwt: &str, pem: &str) -> Result<Value, String> {
    let parts: Vec<&str> = jwt.split('.').collect();
    let [head, body, signature] = parts.as_slice() else {
        return Err("a JWT has three parts separated by dots".into());
    };
    let header = decode_part(head, "header")?;
    if header.get("alg").and_then(Value::as_str) != Some("PS256") {
        return Err("the algorithm is not PS256".into());
    }
    let spki = SubjectPublicKeyInfoDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| format!("the public key is not a readable PEM block: {e}"))?;
    let rsa = rsa_public_key(spki.as_ref()).ok_or("the public key is not an RSA key")?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|e| format!("the signature is not base64url: {e}"))?;
    let input = format!("{head}.{body}");
    UnparsedPublicKey::new(&RSA_PSS_2048_8192_SHA256, rsa)
        .verify(input.as_bytes(), &signature)
        .map_err(|_| "the signature does not verify".to_string())?;
    decode_part(body, "claims")
}

/// One DER element at the start of `der`: (tag, contents, the rest).
fn element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The PKCS#1 RSAPublicKey inside a SubjectPublicKeyInfo with the rsaEncryption algorithm
/// (what ring verifies with).
fn rsa_public_key(spki: &[u8]) -> Option<&[u8]> {
    const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    let (0x30, info, _) = element(spki)? else {
        return None;
    };
    let (0x30, algorithm, rest) = element(info)? else {
        return None;
    };
    let (0x06, oid, _) = element(algorithm)? else {
        return None;
    };
    if oid != RSA_ENCRYPTION {
        return None;
    }
    let (0x03, bits, _) = element(rest)? else {
        return None;
    };
    match bits.split_first() {
        Some((0, key)) => Some(key),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{element, header, rsa_public_key};

    #[test]
    fn der_lengths_and_spki_shapes() {
        assert_eq!(
            element(&[0x04, 0x02, 1, 2, 9]),
            Some((4, &[1u8, 2][..], &[9u8][..]))
        );
        assert_eq!(
            element(&[0x04, 0x81, 0x01, 7]),
            Some((4, &[7u8][..], &[][..]))
        );
        assert_eq!(element(&[0x04, 0x05, 1]), None);
        assert_eq!(rsa_public_key(&[0x30, 0x00]), None);
        assert!(header("not a jwt").is_err());
    }
}
