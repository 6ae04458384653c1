// SPDX-License-Identifier: Apache-2.0
//! Ethernet MAC addresses, parsed once and compared as bytes.

use std::fmt;
use std::str::FromStr;

/// A 48-bit Ethernet MAC address; displays as lowercase `aa:bb:cc:dd:ee:ff`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// The MAC from raw bytes, as netlink reports it; `None` unless exactly six bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        <[u8; 6]>::try_from(bytes).ok().map(MacAddr)
    }

    /// True for `00:00:00:00:00:00`, which the kernel reports for links without one.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 6]
    }
}

impl FromStr for MacAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for byte in &mut out {
            let part = parts.next().ok_or_else(|| format!("{s:?} has fewer than six octets"))?;
            if part.len() != 2 {
                return Err(format!("{s:?}: octet {part:?} must be two hex digits"));
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| format!("{s:?}: octet {part:?} is not hexadecimal"))?;
        }
        if parts.next().is_some() {
            return Err(format!("{s:?} has more than six octets"));
        }
        Ok(MacAddr(out))
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl serde::Serialize for MacAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for MacAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <String as serde::Deserialize>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_either_case_and_prints_lowercase() {
        let mac: MacAddr = "FA:16:3e:1C:1a:6E".parse().unwrap();
        assert_eq!(mac.to_string(), "fa:16:3e:1c:1a:6e");
    }

    #[test]
    fn rejects_malformed() {
        for bad in
            ["", "fa:16:3e:1c:1a", "fa:16:3e:1c:1a:6e:00", "fa-16-3e-1c-1a-6e", "fa:16:3e:1c:1a:6g", "fa:16:3e:1c:1a:6"]
        {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad} parsed");
        }
    }
}
