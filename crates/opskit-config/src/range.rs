//! `#[config(range = "100ms..=1h")]`: the values a duration or number setting
//! accepts, ends included, checked when it loads.

use std::cmp::Ordering;
use std::num::{
    NonZeroI8, NonZeroI16, NonZeroI32, NonZeroI64, NonZeroIsize, NonZeroU8, NonZeroU16, NonZeroU32,
    NonZeroU64, NonZeroUsize,
};
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::de::from_value;

/// A field's `#[config(range = "...")]`: its ends as written, parsed like values.
#[derive(Debug, Clone, Copy)]
pub struct RangeSpec {
    /// The range as written (`100ms..=1h`, `1..`, `..=64`).
    pub text: &'static str,
    /// The lowest value allowed, if any.
    pub low: Option<&'static str>,
    /// The highest value allowed, if any.
    pub high: Option<&'static str>,
}

/// A type `#[config(range = "...")]` applies to: durations, numbers, and `Option`s
/// of them (an unset `Option` is in every range).
#[diagnostic::on_unimplemented(
    message = "`range` applies to durations and numbers (and `Option`s of them), not `{Self}`",
    label = "this setting's type is `{Self}`"
)]
pub trait Ranged {
    /// The type of the range's ends.
    type Bound: DeserializeOwned + PartialOrd;
    /// What a value is, for the message: `a duration`, `a whole number`.
    const NOUN: &'static str;
    /// The value to compare, or `None` when there is none (an unset `Option`).
    fn bounded(&self) -> Option<&Self::Bound>;
}

macro_rules! ranged {
    ($noun:literal: $($ty:ty),*) => {$(
        impl Ranged for $ty {
            type Bound = Self;
            const NOUN: &'static str = $noun;
            fn bounded(&self) -> Option<&Self> {
                Some(self)
            }
        }
    )*};
}

ranged!("a duration": Duration);
ranged!("a whole number": u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize);
ranged!("a whole number": NonZeroU8, NonZeroU16, NonZeroU32, NonZeroU64, NonZeroUsize);
ranged!("a whole number": NonZeroI8, NonZeroI16, NonZeroI32, NonZeroI64, NonZeroIsize);
ranged!("a number": f32, f64);

impl<T: Ranged> Ranged for Option<T> {
    type Bound = T::Bound;
    const NOUN: &'static str = T::NOUN;
    fn bounded(&self) -> Option<&T::Bound> {
        self.as_ref().and_then(T::bounded)
    }
}

/// Why a value is refused by its range.
pub(crate) enum RangeFault {
    /// The value is outside; the reason names the range (`expected a duration from
    /// 100ms to 1h`).
    Outside(String),
    /// The range in the code does not parse, or its ends are swapped.
    InvalidRange(String),
}

/// Checks `value` against `range`.
pub(crate) fn check<T: Ranged>(value: &T, range: &RangeSpec) -> Result<(), RangeFault> {
    let Some(value) = value.bounded() else {
        return Ok(());
    };
    let parse = |end: Option<&'static str>| {
        end.map(|text| {
            from_value::<T::Bound>(text)
                .map_err(|err| RangeFault::InvalidRange(format!("{text:?}: {}", err.message)))
        })
        .transpose()
    };
    let (low, high) = (parse(range.low)?, parse(range.high)?);
    if let (Some(low), Some(high)) = (&low, &high)
        && !matches!(
            low.partial_cmp(high),
            Some(Ordering::Less | Ordering::Equal)
        )
    {
        return Err(RangeFault::InvalidRange(
            "its lower end is above its upper end".to_owned(),
        ));
    }
    // A value that does not compare (NaN) is outside every range.
    let at_least = |end: &T::Bound| {
        matches!(
            value.partial_cmp(end),
            Some(Ordering::Greater | Ordering::Equal)
        )
    };
    let at_most = |end: &T::Bound| {
        matches!(
            value.partial_cmp(end),
            Some(Ordering::Less | Ordering::Equal)
        )
    };
    if low.as_ref().is_none_or(at_least) && high.as_ref().is_none_or(at_most) {
        return Ok(());
    }
    let noun = T::NOUN;
    Err(RangeFault::Outside(match (range.low, range.high) {
        (Some(low), Some(high)) => format!("expected {noun} from {low} to {high}"),
        (Some(low), None) => format!("expected {noun} of at least {low}"),
        (None, Some(high)) => format!("expected {noun} of at most {high}"),
        (None, None) => return Ok(()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(
        text: &'static str,
        low: Option<&'static str>,
        high: Option<&'static str>,
    ) -> RangeSpec {
        RangeSpec { text, low, high }
    }

    fn outside<T: Ranged>(value: T, spec: &RangeSpec) -> Option<String> {
        match check(&value, spec) {
            Ok(()) => None,
            Err(RangeFault::Outside(reason)) => Some(reason),
            Err(RangeFault::InvalidRange(reason)) => Some(format!("invalid range: {reason}")),
        }
    }

    #[test]
    fn ends_are_included_and_named_as_written() {
        let spec = range("100ms..=1h", Some("100ms"), Some("1h"));
        assert_eq!(outside(Duration::from_millis(100), &spec), None);
        assert_eq!(outside(Duration::from_secs(3600), &spec), None);
        assert_eq!(
            outside(Duration::from_millis(99), &spec).as_deref(),
            Some("expected a duration from 100ms to 1h")
        );
        assert_eq!(
            outside(Duration::from_secs(3601), &spec).as_deref(),
            Some("expected a duration from 100ms to 1h")
        );
        let spec = range("1..", Some("1"), None);
        assert_eq!(
            outside(0u32, &spec).as_deref(),
            Some("expected a whole number of at least 1")
        );
        let spec = range("..=64", None, Some("64"));
        assert_eq!(
            outside(65i64, &spec).as_deref(),
            Some("expected a whole number of at most 64")
        );
        assert_eq!(outside(-3i64, &spec), None);
    }

    #[test]
    fn an_unset_option_is_in_every_range_and_nan_in_none() {
        let spec = range("1..=2", Some("1"), Some("2"));
        assert_eq!(outside(None::<u8>, &spec), None);
        assert!(outside(Some(3u8), &spec).is_some());
        let spec = range("0.0..=1.0", Some("0.0"), Some("1.0"));
        assert_eq!(outside(0.5f64, &spec), None);
        assert_eq!(
            outside(f64::NAN, &spec).as_deref(),
            Some("expected a number from 0.0 to 1.0")
        );
    }

    #[test]
    fn a_range_that_does_not_parse_or_is_swapped_is_a_bug_in_the_code() {
        let spec = range("1x..=2s", Some("1x"), Some("2s"));
        assert!(
            outside(Duration::ZERO, &spec)
                .unwrap()
                .starts_with("invalid range: \"1x\": expected a duration")
        );
        let spec = range("300..=400", Some("300"), Some("400"));
        assert!(outside(1u8, &spec).unwrap().contains("from 0 to 255"));
        let spec = range("2..=1", Some("2"), Some("1"));
        assert_eq!(
            outside(1u8, &spec).as_deref(),
            Some("invalid range: its lower end is above its upper end")
        );
    }
}
