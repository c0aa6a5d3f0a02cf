//! PSKC (RFC 6030): the XML seed files hardware-token vendors ship. Secrets may be plain (base64) or
//! encrypted with AES-CBC under a pre-shared key or a key derived from a password with PBKDF2, with an
//! HMAC over each encrypted value. Every failure names the element and its line, so an operator can
//! fix the file; nothing is half-read.

use crate::{Algorithm, Params};
use base64::Engine;
use hmac::Mac;
use roxmltree::{Document, Node};

/// One token from the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub serial: String,
    pub secret: Vec<u8>,
    pub params: Params,
    /// HOTP (counter-based) rather than TOTP.
    pub counter_based: bool,
}

/// How the file's encrypted values are to be opened.
#[derive(Clone, Debug)]
pub enum Key {
    None,
    PreShared(Vec<u8>),
    Password(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn at(doc: &Document, n: Node, msg: impl std::fmt::Display) -> Error {
    let pos = doc.text_pos_at(n.range().start);
    Error(format!("line {}: <{}>: {msg}", pos.row, n.tag_name().name()))
}

fn child<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    n.children().find(|c| c.is_element() && c.tag_name().name() == name)
}

fn text<'a>(n: Node<'a, '_>) -> &'a str {
    n.text().unwrap_or("").trim()
}

fn b64(doc: &Document, n: Node, s: &str) -> Result<Vec<u8>, Error> {
    let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(clean).map_err(|_| at(doc, n, "is not valid base64"))
}

enum MacAlg {
    Sha1,
    Sha256,
    Sha512,
}

fn hmac_of(alg: &MacAlg, key: &[u8], data: &[u8]) -> Vec<u8> {
    fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
        let mut m = <M as hmac::digest::KeyInit>::new_from_slice(key).expect("any key length");
        m.update(data);
        m.finalize().into_bytes().to_vec()
    }
    match alg {
        MacAlg::Sha1 => run::<hmac::Hmac<sha1::Sha1>>(key, data),
        MacAlg::Sha256 => run::<hmac::Hmac<sha2::Sha256>>(key, data),
        MacAlg::Sha512 => run::<hmac::Hmac<sha2::Sha512>>(key, data),
    }
}

fn mac_alg(doc: &Document, n: Node, uri: &str) -> Result<MacAlg, Error> {
    match uri.rsplit('#').next().unwrap_or("") {
        "hmac-sha1" => Ok(MacAlg::Sha1),
        "hmac-sha256" => Ok(MacAlg::Sha256),
        "hmac-sha512" => Ok(MacAlg::Sha512),
        other => Err(at(doc, n, format!("unsupported MAC algorithm '{other}' (hmac-sha1, hmac-sha256, hmac-sha512 are)"))),
    }
}

/// Decrypts an element holding `EncryptionMethod` and `CipherData/CipherValue` (IV || ciphertext).
fn decrypt(doc: &Document, n: Node, key: Option<&[u8]>) -> Result<(Vec<u8>, Vec<u8>), Error> {
    use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, KeyIvInit};
    let method = child(n, "EncryptionMethod").ok_or_else(|| at(doc, n, "has no EncryptionMethod"))?;
    let alg = method.attribute("Algorithm").unwrap_or("");
    let want = match alg.rsplit('#').next().unwrap_or("") {
        "aes128-cbc" => 16,
        "aes192-cbc" => 24,
        "aes256-cbc" => 32,
        other => return Err(at(doc, method, format!("unsupported encryption algorithm '{other}' (aes128-cbc, aes192-cbc, aes256-cbc are)"))),
    };
    let key = key.ok_or_else(|| at(doc, n, "is encrypted: give the pre-shared key (--key-hex) or the password (--password)"))?;
    if key.len() != want {
        return Err(at(doc, method, format!("needs a {}-bit key, the one given has {} bits", want * 8, key.len() * 8)));
    }
    let cv = child(n, "CipherData").and_then(|c| child(c, "CipherValue")).ok_or_else(|| at(doc, n, "has no CipherData/CipherValue"))?;
    let raw = b64(doc, cv, text(cv))?;
    if raw.len() < 32 || raw.len() % 16 != 0 {
        return Err(at(doc, cv, "is not an IV followed by whole AES blocks"));
    }
    let (iv, ct) = raw.split_at(16);
    let bad = || at(doc, cv, "does not decrypt: wrong key or password, or the file was altered");
    let plain = match want {
        16 => cbc::Decryptor::<aes::Aes128>::new_from_slices(key, iv).map_err(|_| bad())?.decrypt_padded_vec_mut::<Pkcs7>(ct),
        24 => cbc::Decryptor::<aes::Aes192>::new_from_slices(key, iv).map_err(|_| bad())?.decrypt_padded_vec_mut::<Pkcs7>(ct),
        _ => cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv).map_err(|_| bad())?.decrypt_padded_vec_mut::<Pkcs7>(ct),
    }
    .map_err(|_| bad())?;
    Ok((plain, raw))
}

/// Reads every key package. Fails on the first problem, naming where it is.
pub fn parse(xml: &str, key: &Key) -> Result<Vec<Token>, Error> {
    let doc = Document::parse(xml).map_err(|e| Error(format!("not well-formed XML: {e}")))?;
    let root = doc.root_element();
    if root.tag_name().name() != "KeyContainer" {
        return Err(at(&doc, root, "is not a PSKC KeyContainer"));
    }
    // The encryption key: pre-shared, or derived from a password.
    let mut enc_key: Option<Vec<u8>> = None;
    if let Some(ek) = child(root, "EncryptionKey") {
        if let Some(dk) = child(ek, "DerivedKey") {
            let method = child(dk, "KeyDerivationMethod").ok_or_else(|| at(&doc, dk, "has no KeyDerivationMethod"))?;
            if !method.attribute("Algorithm").unwrap_or("").ends_with("#pbkdf2") {
                return Err(at(&doc, method, "only PBKDF2 key derivation is supported"));
            }
            let params = child(method, "PBKDF2-params").ok_or_else(|| at(&doc, method, "has no PBKDF2-params"))?;
            let salt_n = child(params, "Salt").and_then(|s| child(s, "Specified")).ok_or_else(|| at(&doc, params, "has no Salt/Specified"))?;
            let salt = b64(&doc, salt_n, text(salt_n))?;
            let iter_n = child(params, "IterationCount").ok_or_else(|| at(&doc, params, "has no IterationCount"))?;
            let iterations: u32 =
                text(iter_n).parse().ok().filter(|n| *n > 0 && *n <= 10_000_000).ok_or_else(|| at(&doc, iter_n, "is not an iteration count"))?;
            let len_n = child(params, "KeyLength");
            let key_len: usize = match len_n {
                Some(l) => text(l).parse().ok().filter(|n| [16, 24, 32].contains(n)).ok_or_else(|| at(&doc, l, "must be 16, 24 or 32"))?,
                None => 16,
            };
            let prf = child(params, "PRF").and_then(|p| p.attribute("Algorithm")).unwrap_or("");
            let password = match key {
                Key::Password(p) => p,
                _ => return Err(at(&doc, dk, "the secrets are protected by a password: give it with --password")),
            };
            let mut out = vec![0u8; key_len];
            match prf.rsplit('#').next().unwrap_or("") {
                "" | "hmac-sha1" => pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password.as_bytes(), &salt, iterations, &mut out),
                "hmac-sha256" => pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), &salt, iterations, &mut out),
                "hmac-sha512" => pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password.as_bytes(), &salt, iterations, &mut out),
                other => return Err(at(&doc, params, format!("unsupported PRF '{other}'"))),
            }
            enc_key = Some(out);
        } else {
            match key {
                Key::PreShared(k) => enc_key = Some(k.clone()),
                _ => return Err(at(&doc, ek, "the secrets are encrypted with a pre-shared key: give it with --key-hex")),
            }
        }
    }
    // The MAC key, itself encrypted with the encryption key.
    let mut mac: Option<(MacAlg, Vec<u8>)> = None;
    if let Some(mm) = child(root, "MACMethod") {
        let alg = mac_alg(&doc, mm, mm.attribute("Algorithm").unwrap_or(""))?;
        if let Some(mk) = child(mm, "MACKey") {
            let (k, _) = decrypt(&doc, mk, enc_key.as_deref())?;
            mac = Some((alg, k));
        }
    }
    let mut tokens = Vec::new();
    for kp in root.children().filter(|c| c.is_element() && c.tag_name().name() == "KeyPackage") {
        let k = child(kp, "Key").ok_or_else(|| at(&doc, kp, "has no Key"))?;
        let serial = child(kp, "DeviceInfo")
            .and_then(|d| child(d, "SerialNo"))
            .map(|s| text(s).to_string())
            .filter(|s| !s.is_empty())
            .or_else(|| k.attribute("Id").map(|s| s.to_string()))
            .ok_or_else(|| at(&doc, kp, "has neither DeviceInfo/SerialNo nor a Key Id"))?;
        let alg_uri = k.attribute("Algorithm").unwrap_or("");
        let counter_based = match alg_uri.rsplit(':').next().unwrap_or("") {
            "totp" => false,
            "hotp" => true,
            other => return Err(at(&doc, k, format!("unsupported algorithm '{other}' (expected urn:ietf:params:xml:ns:keyprov:pskc:totp)"))),
        };
        let mut params = Params::default();
        if let Some(ap) = child(k, "AlgorithmParameters") {
            if let Some(rf) = child(ap, "ResponseFormat") {
                if let Some(l) = rf.attribute("Length") {
                    params.digits =
                        l.parse().ok().filter(|d| *d == 6 || *d == 8).ok_or_else(|| at(&doc, rf, format!("Length '{l}': only 6 or 8 digits are supported")))?;
                }
                if let Some(e) = rf.attribute("Encoding") {
                    if e != "DECIMAL" {
                        return Err(at(&doc, rf, format!("Encoding '{e}': only DECIMAL is supported")));
                    }
                }
            }
            if let Some(suite) = child(ap, "Suite") {
                params.algorithm = Algorithm::parse(text(suite)).ok_or_else(|| at(&doc, suite, format!("unsupported hash '{}'", text(suite))))?;
            }
        }
        let data = child(k, "Data").ok_or_else(|| at(&doc, k, "has no Data"))?;
        let sec = child(data, "Secret").ok_or_else(|| at(&doc, data, "has no Secret"))?;
        let secret = if let Some(pv) = child(sec, "PlainValue") {
            b64(&doc, pv, text(pv))?
        } else if let Some(ev) = child(sec, "EncryptedValue") {
            let (plain, raw) = decrypt(&doc, ev, enc_key.as_deref())?;
            match (child(sec, "ValueMAC"), &mac) {
                (Some(vm), Some((alg, mk))) => {
                    let want = b64(&doc, vm, text(vm))?;
                    let got = hmac_of(alg, mk, &raw);
                    if !bool::from(subtle::ConstantTimeEq::ct_eq(want.as_slice(), got.as_slice())) {
                        return Err(at(&doc, vm, "does not match: wrong key or password, or the file was altered"));
                    }
                }
                (Some(vm), None) => return Err(at(&doc, vm, "cannot be checked: the file has no MACMethod/MACKey")),
                (None, _) => {}
            }
            plain
        } else {
            return Err(at(&doc, sec, "has neither PlainValue nor EncryptedValue"));
        };
        if secret.len() < 10 {
            return Err(at(&doc, sec, format!("is {} bytes; a TOTP secret needs at least 10 (80 bits)", secret.len())));
        }
        if let Some(ti) = child(data, "TimeInterval").and_then(|t| child(t, "PlainValue")) {
            params.period = text(ti).parse().ok().filter(|p| (10..=300).contains(p)).ok_or_else(|| at(&doc, ti, "TimeInterval must be 10..300 seconds"))?;
        }
        tokens.push(Token { serial, secret, params, counter_based });
    }
    if tokens.is_empty() {
        return Err(at(&doc, root, "holds no KeyPackage"));
    }
    Ok(tokens)
}
