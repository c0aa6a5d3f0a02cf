#![no_main]
//! Hardware-token seed files: any bytes as PSKC (plain, with a pre-shared key, with a password) and
//! as CSV. Refused with a message or parsed; nothing may panic.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = otp::pskc::parse(text, &otp::pskc::Key::None);
        let _ = otp::pskc::parse(text, &otp::pskc::Key::PreShared(vec![0x12; 16]));
        let _ = otp::pskc::parse(text, &otp::pskc::Key::Password("qwerty".into()));
        let _ = otp::csv::parse(text);
    }
});
