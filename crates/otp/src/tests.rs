use super::*;

const SEED20: &[u8] = b"12345678901234567890";

#[test]
fn rfc4226_hotp_vectors() {
    let want = [755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489];
    for (c, w) in want.iter().enumerate() {
        assert_eq!(hotp(SEED20, c as u64, 6, Algorithm::Sha1), *w, "counter {c}");
    }
}

#[test]
fn rfc6238_totp_vectors_all_hashes() {
    let s256 = b"12345678901234567890123456789012";
    let s512 = b"1234567890123456789012345678901234567890123456789012345678901234";
    let rows: [(i64, &str, &str, &str); 6] = [
        (59, "94287082", "46119246", "90693936"),
        (1111111109, "07081804", "68084774", "25091201"),
        (1111111111, "14050471", "67062674", "99943326"),
        (1234567890, "89005924", "91819424", "93441116"),
        (2000000000, "69279037", "90698825", "38618901"),
        (20000000000, "65353130", "77737706", "47863826"),
    ];
    for (t, a, b, c) in rows {
        let p = |alg| Params { algorithm: alg, digits: 8, period: 30 };
        assert_eq!(code_at(SEED20, step_of(t, &p(Algorithm::Sha1)), &p(Algorithm::Sha1)), a, "T={t}");
        assert_eq!(code_at(s256, step_of(t, &p(Algorithm::Sha256)), &p(Algorithm::Sha256)), b, "T={t}");
        assert_eq!(code_at(s512, step_of(t, &p(Algorithm::Sha512)), &p(Algorithm::Sha512)), c, "T={t}");
    }
}

#[test]
fn base32_round_trip_and_tolerance() {
    assert_eq!(base32::encode(b"foobar"), "MZXW6YTBOI");
    assert_eq!(base32::decode("mzxw 6ytb oi======").unwrap(), b"foobar");
    assert!(base32::decode("MZXW1").is_none());
    let seed: Vec<u8> = (0..40).collect();
    assert_eq!(base32::encode(&seed).len(), 64);
    assert_eq!(base32::decode(&base32::encode(&seed)).unwrap(), seed);
}

fn p() -> Params {
    Params::default()
}

#[test]
fn enable_with_consecutive_codes_sets_last_step_and_drift() {
    let now = 1000;
    let c = |s| code_at(SEED20, s, &p());
    assert_eq!(synchronize(SEED20, &p(), &c(now - 1), &c(now), now, None), Some(Sync { last_step: now, drift: 0 }));
    assert_eq!(synchronize(SEED20, &p(), &c(now - 2), &c(now - 1), now, None), Some(Sync { last_step: now - 1, drift: 0 }));
    assert_eq!(synchronize(SEED20, &p(), &c(now + 5), &c(now + 6), now, None), Some(Sync { last_step: now + 6, drift: 6 }));
    assert_eq!(synchronize(SEED20, &p(), &c(now - 8), &c(now - 7), now, None), Some(Sync { last_step: now - 7, drift: -7 }));
    // not consecutive, reversed, or outside the window
    assert_eq!(synchronize(SEED20, &p(), &c(now), &c(now + 2), now, None), None);
    assert_eq!(synchronize(SEED20, &p(), &c(now + 1), &c(now), now, None), None);
    assert_eq!(synchronize(SEED20, &p(), &c(now + 20), &c(now + 21), now, None), None);
    // resync cannot reuse steps already accepted
    assert_eq!(synchronize(SEED20, &p(), &c(now - 1), &c(now), now, Some(now - 1)), None);
}

#[test]
fn the_code_shown_a_moment_ago_then_the_next_one_always_works() {
    // Enable with the previous and the current code; sign in with the next code.
    for now in [5000i64, 5001, 77777] {
        let c = |s| code_at(SEED20, s, &p());
        let sync = synchronize(SEED20, &p(), &c(now - 1), &c(now), now, None).unwrap();
        // the next code, checked in the same step or in the next one
        assert_eq!(verify(SEED20, &p(), &c(now + 1), now, sync.drift, sync.last_step), Some(now + 1));
        assert_eq!(verify(SEED20, &p(), &c(now + 1), now + 1, sync.drift, sync.last_step), Some(now + 1));
    }
}

#[test]
fn sign_in_window_replay_and_drift() {
    let now = 2000;
    let c = |s| code_at(SEED20, s, &p());
    assert_eq!(verify(SEED20, &p(), &c(now), now, 0, 0), Some(now));
    assert_eq!(verify(SEED20, &p(), &c(now - 1), now, 0, 0), Some(now - 1));
    assert_eq!(verify(SEED20, &p(), &c(now + 1), now, 0, 0), Some(now + 1));
    assert_eq!(verify(SEED20, &p(), &c(now + 2), now, 0, 0), None);
    assert_eq!(verify(SEED20, &p(), &c(now - 2), now, 0, 0), None);
    // replay: a step at or before the last accepted one never passes
    assert_eq!(verify(SEED20, &p(), &c(now), now, 0, now), None);
    assert_eq!(verify(SEED20, &p(), &c(now - 1), now, 0, now), None);
    // drift moves the window
    assert_eq!(verify(SEED20, &p(), &c(now + 6), now, 6, 0), Some(now + 6));
    assert_eq!(verify(SEED20, &p(), &c(now), now, 6, 0), None);
    // wrong lengths never match
    assert_eq!(verify(SEED20, &p(), &c(now)[..5], now, 0, 0), None);
}

#[test]
fn eight_digit_sha256_devices_use_their_own_parameters() {
    let q = Params { algorithm: Algorithm::Sha256, digits: 8, period: 60 };
    let now = step_of(1_700_000_000, &q);
    let code = code_at(SEED20, now, &q);
    assert_eq!(code.len(), 8);
    assert_eq!(verify(SEED20, &q, &code, now, 0, 0), Some(now));
    assert_eq!(verify(SEED20, &p(), &code, now, 0, 0), None);
}

#[test]
fn otpauth_uri_names_issuer_label_and_secret() {
    let u = otpauth_uri("iamd 123456789012", "bob-phone@bob", "JBSWY3DPEHPK3PXP", &p());
    assert_eq!(u, "otpauth://totp/iamd%20123456789012:bob-phone%40bob?secret=JBSWY3DPEHPK3PXP&issuer=iamd%20123456789012&algorithm=SHA1&digits=6&period=30");
}

// ---- PSKC, in the shape of RFC 6030's figures (the same cipher values), with TOTP keys ----

const PRESHARED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<KeyContainer Version="1.0" xmlns="urn:ietf:params:xml:ns:keyprov:pskc"
    xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:xenc="http://www.w3.org/2001/04/xmlenc#">
  <EncryptionKey><ds:KeyName>Pre-shared-key</ds:KeyName></EncryptionKey>
  <MACMethod Algorithm="http://www.w3.org/2000/09/xmldsig#hmac-sha1">
    <MACKey>
      <xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/>
      <xenc:CipherData><xenc:CipherValue>
        ESIzRFVmd4iZABEiM0RVZgKn6WjLaTC1sbeBMSvIhRejN9vJa2BOlSaMrR7I5wSX
      </xenc:CipherValue></xenc:CipherData>
    </MACKey>
  </MACMethod>
  <KeyPackage>
    <DeviceInfo><Manufacturer>Manufacturer</Manufacturer><SerialNo>GAHT987654321</SerialNo></DeviceInfo>
    <Key Id="12345678" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp">
      <AlgorithmParameters><ResponseFormat Length="8" Encoding="DECIMAL"/></AlgorithmParameters>
      <Data>
        <Secret>
          <EncryptedValue>
            <xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/>
            <xenc:CipherData><xenc:CipherValue>
              AAECAwQFBgcICQoLDA0OD+cIHItlB3Wra1DUpxVvOx2lef1VmNPCMl8jwZqIUqGv
            </xenc:CipherValue></xenc:CipherData>
          </EncryptedValue>
          <ValueMAC>Su+NvtQfmvfJzF6bmQiJqoLRExc=</ValueMAC>
        </Secret>
        <TimeInterval><PlainValue>60</PlainValue></TimeInterval>
      </Data>
    </Key>
  </KeyPackage>
</KeyContainer>"#;

const PASSWORD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<pskc:KeyContainer xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc"
  xmlns:xenc11="http://www.w3.org/2009/xmlenc11#"
  xmlns:pkcs5="http://www.rsasecurity.com/rsalabs/pkcs/schemas/pkcs-5v2-0#"
  xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Version="1.0">
  <pskc:EncryptionKey>
    <xenc11:DerivedKey>
      <xenc11:KeyDerivationMethod Algorithm="http://www.rsasecurity.com/rsalabs/pkcs/schemas/pkcs-5v2-0#pbkdf2">
        <pkcs5:PBKDF2-params>
          <Salt><Specified>Ej7/PEpyEpw=</Specified></Salt>
          <IterationCount>1000</IterationCount><KeyLength>16</KeyLength><PRF/>
        </pkcs5:PBKDF2-params>
      </xenc11:KeyDerivationMethod>
    </xenc11:DerivedKey>
  </pskc:EncryptionKey>
  <pskc:MACMethod Algorithm="http://www.w3.org/2000/09/xmldsig#hmac-sha1">
    <pskc:MACKey>
      <xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/>
      <xenc:CipherData><xenc:CipherValue>2GTTnLwM3I4e5IO5FkufoOEiOhNj91fhKRQBtBJYluUDsPOLTfUvoU2dStyOwYZx</xenc:CipherValue></xenc:CipherData>
    </pskc:MACKey>
  </pskc:MACMethod>
  <pskc:KeyPackage>
    <pskc:DeviceInfo><pskc:Manufacturer>TokenVendorAcme</pskc:Manufacturer><pskc:SerialNo>GAHT000123456</pskc:SerialNo></pskc:DeviceInfo>
    <pskc:Key Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp" Id="123456">
      <pskc:AlgorithmParameters><pskc:ResponseFormat Length="6" Encoding="DECIMAL"/></pskc:AlgorithmParameters>
      <pskc:Data><pskc:Secret>
        <pskc:EncryptedValue Id="ED">
          <xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/>
          <xenc:CipherData><xenc:CipherValue>oTvo+S22nsmS2Z/RtcoF8Hfh+jzMe0RkiafpoDpnoZTjPYZu6V+A4aEn032yCr4f</xenc:CipherValue></xenc:CipherData>
        </pskc:EncryptedValue>
        <pskc:ValueMAC>LP6xMvjtypbfT9PdkJhBZ+D6O4w=</pskc:ValueMAC>
      </pskc:Secret></pskc:Data>
    </pskc:Key>
  </pskc:KeyPackage>
</pskc:KeyContainer>"#;

#[test]
fn pskc_preshared_key_aes128_cbc_with_mac() {
    let key = hex::decode("12345678901234567890123456789012").unwrap();
    let t = pskc::parse(PRESHARED, &pskc::Key::PreShared(key)).unwrap();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].serial, "GAHT987654321");
    assert_eq!(t[0].secret, b"12345678901234567890");
    assert_eq!(t[0].params, Params { algorithm: Algorithm::Sha1, digits: 8, period: 60 });
    assert!(!t[0].counter_based);
    // a wrong key: refused, naming the place
    let e = pskc::parse(PRESHARED, &pskc::Key::PreShared(vec![0x11; 16])).unwrap_err();
    assert!(e.0.starts_with("line "), "{e}");
    // no key at all
    assert!(pskc::parse(PRESHARED, &pskc::Key::None).unwrap_err().0.contains("--key-hex"));
    // altered ciphertext is caught by the MAC or the padding
    let altered = PRESHARED.replace("AAECAwQFBgcICQoLDA0OD+cI", "AAECAwQFBgcICQoLDA0OD+cJ");
    assert!(pskc::parse(&altered, &pskc::Key::PreShared(hex::decode("12345678901234567890123456789012").unwrap())).is_err());
}

#[test]
fn pskc_password_pbkdf2() {
    let t = pskc::parse(PASSWORD, &pskc::Key::Password("qwerty".into())).unwrap();
    assert_eq!(t[0].serial, "GAHT000123456");
    assert_eq!(hex::encode(&t[0].secret), "3132333435363738393031323334353637383930");
    let e = pskc::parse(PASSWORD, &pskc::Key::Password("wrong".into())).unwrap_err();
    assert!(e.0.contains("wrong key or password"), "{e}");
}

#[test]
fn pskc_plaintext_and_malformed_files_name_the_problem() {
    let plain = r#"<KeyContainer Version="1.0" xmlns="urn:ietf:params:xml:ns:keyprov:pskc">
<KeyPackage><DeviceInfo><SerialNo>SN000000001</SerialNo></DeviceInfo>
<Key Id="1" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp"><Data><Secret><PlainValue>MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=</PlainValue></Secret></Data></Key>
</KeyPackage></KeyContainer>"#;
    let t = pskc::parse(plain, &pskc::Key::None).unwrap();
    assert_eq!(t[0].secret, SEED20);
    let bad = plain.replace("MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=", "not*base64");
    assert_eq!(pskc::parse(&bad, &pskc::Key::None).unwrap_err().0, "line 3: <PlainValue>: is not valid base64");
    assert!(pskc::parse("<KeyContainer><oops></KeyContainer>", &pskc::Key::None).unwrap_err().0.starts_with("not well-formed XML"));
    let hotp = plain.replace("pskc:totp", "pskc:hotp");
    assert!(pskc::parse(&hotp, &pskc::Key::None).unwrap()[0].counter_based);
}

#[test]
fn csv_rows_headers_and_errors() {
    let t = csv::parse(
        "# vendor export\nserial,seed\nGAHT00000001,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\nGAHT00000002,hex:3132333435363738393031323334353637383930,8,60,SHA256\n",
    )
    .unwrap();
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].secret, SEED20);
    assert_eq!(t[1].secret, SEED20);
    assert_eq!(t[1].params, Params { algorithm: Algorithm::Sha256, digits: 8, period: 60 });
    assert_eq!(
        csv::parse("GAHT00000001,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\nGAHT00000002,!!!\n").unwrap_err(),
        "line 2: the seed is not valid base32 (A-Z, 2-7); prefix hex seeds with hex:"
    );
    assert!(csv::parse("GAHT00000001,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ,7\n").unwrap_err().starts_with("line 1: digits"));
    assert!(csv::parse("short,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n").unwrap_err().starts_with("line 1: serial"));
    assert!(csv::parse("serial,seed_hex\nGAHT00000003,3132333435363738393031323334353637383930\n").is_ok());
    assert!(csv::parse("\n\n").is_err());
}
