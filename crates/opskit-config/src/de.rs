//! A serde `Deserializer` over one environment variable's text.
//!
//! It reads scalars from the text (bools in the humane forms, numbers trimmed),
//! sequences from comma lists with items trimmed, maps from `key=value` lists, unit
//! enum variants by name, and `std::time::Duration` in the humane format. Its errors
//! never quote the value: the caller decides whether the value may be shown.

use std::fmt;

use serde::de::{self, IntoDeserializer, Visitor};

use crate::duration::{DURATION_EXPECTED, parse_duration};

/// Why a value did not deserialize. The message never contains the value itself,
/// except when it comes from a third-party `Deserialize` impl through
/// [`de::Error::custom`]; `custom` records that, so the loader can withhold it for
/// secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ValueError {
    pub(crate) message: String,
    pub(crate) custom: bool,
}

impl ValueError {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            custom: false,
        }
    }
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ValueError {}

impl de::Error for ValueError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self {
            message: msg.to_string(),
            custom: true,
        }
    }

    fn invalid_type(_unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Self::new(format!("expected {exp}"))
    }

    fn invalid_value(_unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        // Parsers that use `invalid_value` put their reason in `exp`; serde's
        // `NonZero*` types say "a nonzero u32", which becomes the range.
        let exp = exp.to_string();
        match exp.strip_prefix("a nonzero ").and_then(nonzero_range) {
            Some(range) => Self::new(range),
            None => Self::new(exp),
        }
    }

    fn invalid_length(len: usize, exp: &dyn de::Expected) -> Self {
        Self::new(format!("has {len} items; expected {exp}"))
    }

    fn unknown_variant(_variant: &str, expected: &'static [&'static str]) -> Self {
        Self::new(format!("expected one of: {}", expected.join(", ")))
    }

    fn unknown_field(_field: &str, expected: &'static [&'static str]) -> Self {
        Self::new(format!("expected one of the keys: {}", expected.join(", ")))
    }

    fn missing_field(field: &'static str) -> Self {
        Self::new(format!("missing the key `{field}`"))
    }

    fn duplicate_field(field: &'static str) -> Self {
        Self::new(format!("has the key `{field}` twice"))
    }
}

/// Deserializes one variable's text (already known to be non-empty).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ValueDeserializer<'a> {
    value: &'a str,
}

impl<'a> ValueDeserializer<'a> {
    pub(crate) fn new(value: &'a str) -> Self {
        Self { value }
    }

    fn parse<T: std::str::FromStr>(
        &self,
        expected: impl FnOnce() -> String,
    ) -> Result<T, ValueError> {
        self.value
            .trim()
            .parse()
            .map_err(|_| ValueError::new(expected()))
    }
}

fn integer_expected<T: fmt::Display>(min: T, max: T) -> impl FnOnce() -> String {
    move || format!("expected a whole number from {min} to {max}")
}

/// The range of a `NonZero` integer type named by its primitive (`u32`), as the
/// integer messages say it.
fn nonzero_range(primitive: &str) -> Option<String> {
    let range =
        |min: String, max: String| format!("expected a whole number from {min} to {max}, not 0");
    Some(match primitive {
        "u8" => range("1".into(), u8::MAX.to_string()),
        "u16" => range("1".into(), u16::MAX.to_string()),
        "u32" => range("1".into(), u32::MAX.to_string()),
        "u64" => range("1".into(), u64::MAX.to_string()),
        "usize" => range("1".into(), usize::MAX.to_string()),
        "i8" => range(i8::MIN.to_string(), i8::MAX.to_string()),
        "i16" => range(i16::MIN.to_string(), i16::MAX.to_string()),
        "i32" => range(i32::MIN.to_string(), i32::MAX.to_string()),
        "i64" => range(i64::MIN.to_string(), i64::MAX.to_string()),
        "isize" => range(isize::MIN.to_string(), isize::MAX.to_string()),
        _ => return None,
    })
}

macro_rules! deserialize_integer {
    ($($method:ident => $visit:ident : $ty:ty),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
            visitor.$visit(self.parse::<$ty>(integer_expected(<$ty>::MIN, <$ty>::MAX))?)
        }
    )*};
}

/// Parses the humane boolean forms, in any case.
pub(crate) fn parse_bool(value: &str) -> Option<bool> {
    const TRUE: [&str; 4] = ["true", "1", "yes", "on"];
    const FALSE: [&str; 4] = ["false", "0", "no", "off"];
    let value = value.trim();
    if TRUE.iter().any(|t| value.eq_ignore_ascii_case(t)) {
        Some(true)
    } else if FALSE.iter().any(|f| value.eq_ignore_ascii_case(f)) {
        Some(false)
    } else {
        None
    }
}

/// The items of a comma list, trimmed, empty items dropped (so a trailing comma is fine).
fn comma_items(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
}

impl<'de> de::Deserializer<'de> for ValueDeserializer<'de> {
    type Error = ValueError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_borrowed_str(self.value)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match parse_bool(self.value) {
            Some(b) => visitor.visit_bool(b),
            None => Err(ValueError::new(
                "expected a boolean: true/false, 1/0, yes/no or on/off (any case)",
            )),
        }
    }

    deserialize_integer! {
        deserialize_i8 => visit_i8: i8,
        deserialize_i16 => visit_i16: i16,
        deserialize_i32 => visit_i32: i32,
        deserialize_i64 => visit_i64: i64,
        deserialize_i128 => visit_i128: i128,
        deserialize_u8 => visit_u8: u8,
        deserialize_u16 => visit_u16: u16,
        deserialize_u32 => visit_u32: u32,
        deserialize_u64 => visit_u64: u64,
        deserialize_u128 => visit_u128: u128,
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_f32(self.parse(|| "expected a number such as 0.5".to_owned())?)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_f64(self.parse(|| "expected a number such as 0.5".to_owned())?)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        let mut chars = self.value.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => visitor.visit_char(c),
            _ => Err(ValueError::new("expected a single character")),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_borrowed_str(self.value)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_borrowed_str(self.value)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_borrowed_bytes(self.value.as_bytes())
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_borrowed_bytes(self.value.as_bytes())
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_some(self)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, ValueError> {
        Err(ValueError::new("expected no value"))
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        let _ = name;
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        let mut seq =
            de::value::SeqDeserializer::new(comma_items(self.value).map(ValueDeserializer::new));
        let value = visitor.visit_seq(&mut seq)?;
        seq.end()?;
        Ok(value)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        let mut pairs = Vec::new();
        for item in comma_items(self.value) {
            let Some((key, value)) = item.split_once('=') else {
                return Err(ValueError::new(
                    "expected a comma list of key=value pairs, such as a=1,b=2",
                ));
            };
            pairs.push((
                ValueDeserializer::new(key.trim()),
                ValueDeserializer::new(value.trim()),
            ));
        }
        let mut map = de::value::MapDeserializer::new(pairs.into_iter());
        let value = visitor.visit_map(&mut map)?;
        map.end()?;
        Ok(value)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        // `std::time::Duration` deserializes as a struct of seconds and nanoseconds;
        // read it from the humane format instead.
        if name == "Duration" && fields == ["secs", "nanos"] {
            let duration = parse_duration(self.value)
                .ok_or_else(|| ValueError::new(format!("expected {DURATION_EXPECTED}")))?;
            let parts = [duration.as_secs(), u64::from(duration.subsec_nanos())];
            let mut seq = de::value::SeqDeserializer::new(parts.into_iter());
            let value = visitor.visit_seq(&mut seq)?;
            seq.end()?;
            return Ok(value);
        }
        Err(ValueError::new(format!(
            "a struct ({name}) cannot be read from one variable; mark the field \
             #[config(nested)] and derive Config for {name}"
        )))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        let value = self.value.trim();
        // Any case: `INFO`, `Info` and `info` name the same level. The exact name
        // wins, so two variants differing only in case still both work.
        if !variants.contains(&value)
            && let Some(name) = variants.iter().find(|v| v.eq_ignore_ascii_case(value))
        {
            return visitor.visit_enum(de::value::StrDeserializer::<ValueError>::new(name));
        }
        visitor.visit_enum(de::value::BorrowedStrDeserializer::<'de, ValueError>::new(
            value,
        ))
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_borrowed_str(self.value)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_unit()
    }
}

impl<'de> IntoDeserializer<'de, ValueError> for ValueDeserializer<'de> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

/// Stands in for a variable that is not set: `Option<T>` becomes `None`, anything
/// else is an error (which the loader reports as "missing").
#[derive(Debug, Clone, Copy)]
pub(crate) struct MissingDeserializer;

impl<'de> de::Deserializer<'de> for MissingDeserializer {
    type Error = ValueError;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, ValueError> {
        Err(ValueError::new("missing"))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_none()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

/// Deserializes `T` from one variable's text.
pub(crate) fn from_value<T: de::DeserializeOwned>(value: &str) -> Result<T, ValueError> {
    T::deserialize(ValueDeserializer::new(value))
}

/// Deserializes `T` for an unset variable: `Ok` only for optional types.
pub(crate) fn from_missing<T: de::DeserializeOwned>() -> Result<T, ValueError> {
    T::deserialize(MissingDeserializer)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::net::SocketAddr;
    use std::time::Duration;

    use serde::Deserialize;

    use super::*;

    #[test]
    fn bools_accept_humane_forms_in_any_case() {
        for t in ["true", "TRUE", "1", "yes", "Yes", "on", " ON "] {
            assert!(from_value::<bool>(t).unwrap(), "{t}");
        }
        for f in ["false", "False", "0", "no", "NO", "off"] {
            assert!(!from_value::<bool>(f).unwrap(), "{f}");
        }
        assert!(
            from_value::<bool>("maybe")
                .unwrap_err()
                .message
                .contains("yes/no")
        );
    }

    #[test]
    fn a_count_that_may_not_be_zero_says_its_range() {
        let err = from_value::<std::num::NonZeroU32>("0").unwrap_err();
        assert_eq!(
            err.message,
            "expected a whole number from 1 to 4294967295, not 0"
        );
        assert_eq!(from_value::<std::num::NonZeroU32>(" 7 ").unwrap().get(), 7);
    }

    #[test]
    fn numbers_are_trimmed_and_ranges_explained() {
        assert_eq!(from_value::<u16>(" 8080 ").unwrap(), 8080);
        let err = from_value::<u16>("70000").unwrap_err();
        assert_eq!(err.message, "expected a whole number from 0 to 65535");
        assert!(!err.custom);
        assert_eq!(from_value::<f64>("0.25").unwrap(), 0.25);
    }

    #[test]
    fn lists_split_on_commas_and_trim_items() {
        assert_eq!(
            from_value::<Vec<String>>(" a, b ,c,").unwrap(),
            ["a", "b", "c"]
        );
        assert_eq!(from_value::<Vec<u8>>("1,2 , 3").unwrap(), [1, 2, 3]);
        assert!(from_value::<Vec<u8>>("1,x").is_err());
    }

    #[test]
    fn maps_read_key_value_lists() {
        let map: BTreeMap<String, u8> = from_value("a=1, b = 2").unwrap();
        assert_eq!(map, BTreeMap::from([("a".into(), 1), ("b".into(), 2)]));
        assert!(from_value::<BTreeMap<String, u8>>("a").is_err());
    }

    #[test]
    fn durations_use_the_humane_format() {
        assert_eq!(
            from_value::<Duration>("1m30s").unwrap(),
            Duration::from_secs(90)
        );
        let err = from_value::<Duration>("90").unwrap_err();
        assert!(err.message.contains("30s"), "{err}");
    }

    #[test]
    fn enums_match_serde_names_in_any_case_and_list_the_choices() {
        #[derive(Debug, Deserialize, PartialEq)]
        #[serde(rename_all = "kebab-case")]
        enum Mode {
            Local,
            OnCall,
        }
        assert_eq!(from_value::<Mode>("on-call").unwrap(), Mode::OnCall);
        // Any case, as operators type LOG_LEVEL=INFO.
        assert_eq!(from_value::<Mode>("ON-CALL").unwrap(), Mode::OnCall);
        assert_eq!(from_value::<Mode>(" Local ").unwrap(), Mode::Local);
        let err = from_value::<Mode>("secret-canary").unwrap_err();
        assert_eq!(err.message, "expected one of: local, on-call");
    }

    #[test]
    fn addresses_and_options() {
        assert_eq!(
            from_value::<SocketAddr>("127.0.0.1:80").unwrap(),
            "127.0.0.1:80".parse().unwrap()
        );
        assert_eq!(from_value::<Option<u8>>("7").unwrap(), Some(7));
        assert_eq!(from_missing::<Option<u8>>().unwrap(), None);
        assert!(from_missing::<u8>().is_err());
    }

    #[test]
    fn invalid_value_errors_do_not_quote_the_value() {
        let err = from_value::<u16>("canary-value-x").unwrap_err();
        assert!(!err.message.contains("canary-value-x"), "{err}");
        assert!(!err.custom);
        // Third-party impls may quote it through `custom`; that is flagged.
        let err = from_value::<url::Url>("canary-value-x").unwrap_err();
        assert!(err.custom);
    }
}
