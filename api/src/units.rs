//! The one JSON form of durations and sizes.
//!
//! - **Durations** (timeouts, expected durations) are written as a number of
//!   milliseconds (`500`, or `0.25` for 250 µs) and read either that way or
//!   as a string with a unit: `"500ms"`, `"2s"`, `"1m"`, `"250us"`.
//! - **Sizes** (memory, input, output, quotas) are written as a number of
//!   bytes (`16777216`) and read either that way or as a string with a unit:
//!   `"64KiB"`, `"16MiB"`, `"1GiB"`, `"1000"`.
//! - **Measured timings** in reports are whole microseconds in fields whose
//!   names end in `_us`: the unit is part of the name, so they have no other
//!   form.

use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};

/// Parse a duration written with a unit (`500ms`, `2s`, `1m`) or as plain
/// milliseconds (`500`, `0.5`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if let Ok(ms) = t.parse::<f64>() {
        return ms_to_duration(ms);
    }
    humantime::parse_duration(t)
        .map_err(|e| format!("`{s}` is not a duration ({e}); examples: 200ms, 2s, 1m, 500"))
}

/// Parse a size written with a unit (`64KiB`, `16MiB`) or as plain bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    s.trim()
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|e| format!("`{s}` is not a size ({e}); examples: 65536, 64KiB, 16MiB, 1GiB"))
}

fn ms_to_duration(ms: f64) -> Result<Duration, String> {
    if ms.is_finite() && (0.0..1e15).contains(&ms) {
        Ok(Duration::from_secs_f64(ms / 1e3))
    } else {
        Err(format!("{ms} is not a duration in milliseconds"))
    }
}

/// Milliseconds as written: whole when whole, else with the fraction.
fn write_ms<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    if d.subsec_nanos().is_multiple_of(1_000_000) {
        s.serialize_u64(d.as_millis() as u64)
    } else {
        s.serialize_f64(d.as_secs_f64() * 1e3)
    }
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a duration: milliseconds as a number, or a string such as \"500ms\" or \"2s\"")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        Ok(Duration::from_millis(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        u64::try_from(v)
            .map(Duration::from_millis)
            .map_err(|_| E::custom(format!("{v} is not a duration: it is negative")))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
        ms_to_duration(v).map_err(E::custom)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        parse_duration(v).map_err(E::custom)
    }
}

struct SizeVisitor;

impl Visitor<'_> for SizeVisitor {
    type Value = u64;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a size: bytes as a number, or a string such as \"64KiB\" or \"16MiB\"")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::custom(format!("{v} is not a size: it is negative")))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<u64, E> {
        if v.fract() == 0.0 && v >= 0.0 && v < u64::MAX as f64 {
            Ok(v as u64)
        } else {
            Err(E::custom(format!("{v} is not a whole number of bytes")))
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        parse_size(v).map_err(E::custom)
    }
}

fn duration_schema() -> Schema {
    json_schema!({
        "description": "Milliseconds as a number, or a string with a unit (\"500ms\", \"2s\", \"1m\"). Written as milliseconds.",
        "anyOf": [
            { "type": "number", "minimum": 0 },
            { "type": "string", "examples": ["500ms", "2s"] }
        ]
    })
}

fn size_schema() -> Schema {
    json_schema!({
        "description": "Bytes as a number, or a string with a unit (\"64KiB\", \"16MiB\"). Written as bytes.",
        "anyOf": [
            { "type": "integer", "minimum": 0 },
            { "type": "string", "examples": ["64KiB", "16MiB"] }
        ]
    })
}

/// `Duration` in the one JSON form (`#[serde(with = "units::duration")]`).
pub mod duration {
    use super::*;

    /// Write as milliseconds.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        write_ms(d, s)
    }
    /// Read milliseconds or a string with a unit.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_any(DurationVisitor)
    }
    /// The schema (`#[schemars(schema_with = "units::duration::schema")]`).
    pub fn schema(_: &mut SchemaGenerator) -> Schema {
        duration_schema()
    }
}

/// `Option<Duration>` in the one JSON form; `null` or absent is `None`.
pub mod opt_duration {
    use super::*;

    /// Write as milliseconds, or `null`.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => write_ms(d, s),
            None => s.serialize_none(),
        }
    }
    /// Read `null`, milliseconds or a string with a unit.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        struct Opt;
        impl<'de> Visitor<'de> for Opt {
            type Value = Option<Duration>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                DurationVisitor.expecting(f)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_any(DurationVisitor).map(Some)
            }
        }
        d.deserialize_option(Opt)
    }
    /// The schema.
    pub fn schema(_: &mut SchemaGenerator) -> Schema {
        let mut s = duration_schema();
        if let Some(any) = s.get_mut("anyOf").and_then(|a| a.as_array_mut()) {
            any.push(serde_json::json!({ "type": "null" }));
        }
        s
    }
}

/// A size in bytes (`u64`) in the one JSON form.
pub mod size {
    use super::*;

    /// Write as bytes.
    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(*v)
    }
    /// Read bytes or a string with a unit.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        d.deserialize_any(SizeVisitor)
    }
    /// The schema.
    pub fn schema(_: &mut SchemaGenerator) -> Schema {
        size_schema()
    }
}

/// A size in bytes (`usize`) in the one JSON form.
pub mod usize_size {
    use super::*;

    /// Write as bytes.
    pub fn serialize<S: Serializer>(v: &usize, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(*v as u64)
    }
    /// Read bytes or a string with a unit.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
        let v = d.deserialize_any(SizeVisitor)?;
        usize::try_from(v).map_err(|_| de::Error::custom(format!("{v} bytes is too large")))
    }
    /// The schema.
    pub fn schema(_: &mut SchemaGenerator) -> Schema {
        size_schema()
    }
}

/// `Option<usize>` bytes in the one JSON form; `null` or absent is `None`.
pub mod opt_usize_size {
    use super::*;

    /// Write as bytes, or `null`.
    pub fn serialize<S: Serializer>(v: &Option<usize>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_u64(*v as u64),
            None => s.serialize_none(),
        }
    }
    /// Read `null`, bytes or a string with a unit.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
        struct Opt;
        impl<'de> Visitor<'de> for Opt {
            type Value = Option<usize>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                SizeVisitor.expecting(f)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                super::usize_size::deserialize(d).map(Some)
            }
        }
        d.deserialize_option(Opt)
    }
    /// The schema.
    pub fn schema(_: &mut SchemaGenerator) -> Schema {
        let mut s = size_schema();
        if let Some(any) = s.get_mut("anyOf").and_then(|a| a.as_array_mut()) {
            any.push(serde_json::json!({ "type": "null" }));
        }
        s
    }
}

/// Marker so `JsonSchema` derives can name the duration form in docs.
#[derive(Debug)]
pub struct DurationForm;

impl JsonSchema for DurationForm {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        duration_schema()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Serialize, serde::Deserialize, PartialEq)]
    struct T {
        #[serde(with = "duration")]
        d: Duration,
        #[serde(with = "opt_duration", default)]
        o: Option<Duration>,
        #[serde(with = "size")]
        s: u64,
    }

    #[test]
    fn durations_and_sizes_are_read_both_ways_and_written_one_way() {
        let a: T = serde_json::from_str(r#"{"d": "500ms", "o": "2s", "s": "16MiB"}"#).unwrap();
        let b: T = serde_json::from_str(r#"{"d": 500, "o": 2000, "s": 16777216}"#).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.d, Duration::from_millis(500));
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            r#"{"d":500,"o":2000,"s":16777216}"#
        );
        let frac: T = serde_json::from_str(r#"{"d": 0.25, "s": 1}"#).unwrap();
        assert_eq!(frac.d, Duration::from_micros(250));
        assert_eq!(frac.o, None);
        assert_eq!(
            serde_json::to_string(&frac).unwrap(),
            r#"{"d":0.25,"o":null,"s":1}"#
        );
        let e = serde_json::from_str::<T>(r#"{"d": "soon", "s": 1}"#).unwrap_err();
        assert!(e.to_string().contains("`soon` is not a duration"), "{e}");
        let e = serde_json::from_str::<T>(r#"{"d": -1, "s": 1}"#).unwrap_err();
        assert!(e.to_string().contains("negative"), "{e}");
        let e = serde_json::from_str::<T>(r#"{"d": 1, "s": "lots"}"#).unwrap_err();
        assert!(e.to_string().contains("`lots` is not a size"), "{e}");
    }
}
