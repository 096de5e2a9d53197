//! A value written back in the format it is read in: what the summary shows of a
//! setting, what `--env-example` and `--describe` write as its default. A list is
//! `a,b`, an enum its serde name, a duration `1m 30s`, an unset option nothing, so
//! every rendering, set back into its variable, loads the same value.
//!
//! Types that are not `Serialize`, or whose form this format cannot hold (a struct,
//! an item with a comma), have no rendering; callers fall back to the text read.

use std::fmt::{self, Write as _};
use std::time::Duration;

use serde::ser::{self, Impossible, Serialize};

/// `value` in the configuration format, or `None` when it has no such form.
pub(crate) fn render<T: Serialize + ?Sized>(value: &T) -> Option<String> {
    value.serialize(Renderer).ok()
}

/// Why a value has no rendering (never shown: the caller falls back).
#[derive(Debug)]
pub(crate) struct NoForm;

impl fmt::Display for NoForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the value has no form in the configuration format")
    }
}

impl std::error::Error for NoForm {}

impl ser::Error for NoForm {
    fn custom<T: fmt::Display>(_msg: T) -> Self {
        NoForm
    }
}

/// Renders one value.
struct Renderer;

macro_rules! render_display {
    ($($method:ident: $ty:ty),* $(,)?) => {$(
        fn $method(self, value: $ty) -> Result<String, NoForm> {
            Ok(value.to_string())
        }
    )*};
}

impl ser::Serializer for Renderer {
    type Ok = String;
    type Error = NoForm;
    type SerializeSeq = Items;
    type SerializeTuple = Items;
    type SerializeTupleStruct = Items;
    type SerializeTupleVariant = Impossible<String, NoForm>;
    type SerializeMap = Items;
    type SerializeStruct = DurationParts;
    type SerializeStructVariant = Impossible<String, NoForm>;

    render_display!(
        serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_i128: i128, serialize_u8: u8, serialize_u16: u16,
        serialize_u32: u32, serialize_u64: u64, serialize_u128: u128, serialize_f32: f32,
        serialize_f64: f64, serialize_char: char, serialize_str: &str,
    );

    fn serialize_bytes(self, _value: &[u8]) -> Result<String, NoForm> {
        Err(NoForm)
    }
    fn serialize_none(self) -> Result<String, NoForm> {
        Ok(String::new())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<String, NoForm> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<String, NoForm> {
        Err(NoForm)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<String, NoForm> {
        Err(NoForm)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<String, NoForm> {
        Ok(variant.to_owned())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<String, NoForm> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<String, NoForm> {
        Err(NoForm)
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Items, NoForm> {
        Ok(Items::default())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Items, NoForm> {
        Ok(Items::default())
    }
    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Items, NoForm> {
        Ok(Items::default())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, NoForm> {
        Err(NoForm)
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Items, NoForm> {
        Ok(Items::default())
    }
    fn serialize_struct(self, name: &'static str, _len: usize) -> Result<DurationParts, NoForm> {
        // `std::time::Duration` serializes as a struct of seconds and nanoseconds.
        if name == "Duration" {
            Ok(DurationParts::default())
        } else {
            Err(NoForm)
        }
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, NoForm> {
        Err(NoForm)
    }
}

/// An item of a list or map, which must not hold the separators it is read with.
fn item<T: Serialize + ?Sized>(value: &T, forbidden: &[char]) -> Result<String, NoForm> {
    let text = value.serialize(Renderer)?;
    if text.is_empty() || text.contains(forbidden) || text.trim() != text {
        return Err(NoForm);
    }
    Ok(text)
}

/// The items of a list (`a,b`) or map (`k=v,k2=v2`) so far.
#[derive(Default)]
struct Items {
    text: String,
    key: Option<String>,
}

impl Items {
    fn push(&mut self, entry: &str) {
        if !self.text.is_empty() {
            self.text.push(',');
        }
        self.text.push_str(entry);
    }
}

impl ser::SerializeSeq for Items {
    type Ok = String;
    type Error = NoForm;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), NoForm> {
        let entry = item(value, &[','])?;
        self.push(&entry);
        Ok(())
    }
    fn end(self) -> Result<String, NoForm> {
        Ok(self.text)
    }
}

/// Tuples and tuple structs are lists like any other: their items go through
/// [`ser::SerializeSeq`].
macro_rules! items_of_a_list {
    ($($trait:ident::$method:ident),+) => {$(
        impl ser::$trait for Items {
            type Ok = String;
            type Error = NoForm;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), NoForm> {
                ser::SerializeSeq::serialize_element(self, value)
            }
            fn end(self) -> Result<String, NoForm> {
                Ok(self.text)
            }
        }
    )+};
}

items_of_a_list!(
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field
);

impl ser::SerializeMap for Items {
    type Ok = String;
    type Error = NoForm;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), NoForm> {
        self.key = Some(item(key, &[',', '='])?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), NoForm> {
        let key = self.key.take().ok_or(NoForm)?;
        let value = item(value, &[','])?;
        let mut entry = key;
        let _ = write!(entry, "={value}");
        self.push(&entry);
        Ok(())
    }
    fn end(self) -> Result<String, NoForm> {
        Ok(self.text)
    }
}

/// The seconds and nanoseconds of a `Duration`.
#[derive(Default)]
struct DurationParts {
    secs: Option<u64>,
    nanos: Option<u32>,
}

impl ser::SerializeStruct for DurationParts {
    type Ok = String;
    type Error = NoForm;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), NoForm> {
        let text = value.serialize(Renderer)?;
        match key {
            "secs" => self.secs = Some(text.parse().map_err(|_| NoForm)?),
            "nanos" => self.nanos = Some(text.parse().map_err(|_| NoForm)?),
            _ => return Err(NoForm),
        }
        Ok(())
    }
    fn end(self) -> Result<String, NoForm> {
        let duration = Duration::new(self.secs.ok_or(NoForm)?, self.nanos.ok_or(NoForm)?);
        if duration.is_zero() {
            return Ok("0s".to_owned());
        }
        Ok(humantime::format_duration(duration).to_string())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::net::SocketAddr;
    use std::path::PathBuf;

    use serde::{Deserialize, de::DeserializeOwned};

    use super::*;
    use crate::de::from_value;

    #[derive(Debug, PartialEq, serde::Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Level {
        Info,
        Debug,
    }

    /// Renders `value` and reads the rendering back: the same value.
    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + fmt::Debug>(value: T) -> String {
        let text = render(&value).unwrap_or_else(|| panic!("no rendering of {value:?}"));
        let back: T = if text.is_empty() {
            crate::de::from_missing().unwrap_or_else(|_| from_value(&text).unwrap())
        } else {
            from_value(&text).unwrap_or_else(|err| panic!("{text:?}: {err}"))
        };
        assert_eq!(back, value, "{text:?}");
        text
    }

    #[test]
    fn every_rendering_reads_back_as_the_same_value() {
        assert_eq!(round_trip(vec!["a".to_owned(), "b".to_owned()]), "a,b");
        assert_eq!(round_trip(Vec::<String>::new()), "");
        assert_eq!(round_trip(Level::Debug), "debug");
        assert_eq!(round_trip(Duration::from_secs(90)), "1m 30s");
        assert_eq!(round_trip(Duration::from_millis(1500)), "1s 500ms");
        assert_eq!(round_trip(Duration::ZERO), "0s");
        assert_eq!(round_trip(true), "true");
        assert_eq!(round_trip(8080_u16), "8080");
        assert_eq!(
            round_trip("127.0.0.1:80".parse::<SocketAddr>().unwrap()),
            "127.0.0.1:80"
        );
        assert_eq!(round_trip(PathBuf::from("data")), "data");
        assert_eq!(round_trip(Some(3_u32)), "3");
        assert_eq!(round_trip(None::<u32>), "");
        let map = BTreeMap::from([("a".to_owned(), 1_u32), ("b".to_owned(), 2)]);
        assert_eq!(round_trip(map), "a=1,b=2");
    }

    #[test]
    fn values_the_format_cannot_hold_have_no_rendering() {
        assert_eq!(render(&vec!["a,b".to_owned()]), None);
        assert_eq!(render(&vec![String::new()]), None);
        assert_eq!(render(&vec![" a".to_owned()]), None);
        assert_eq!(render(&()), None);
    }
}
