//! Keyset pagination (AIP-158): a page is the items after a cursor, in id order, with
//! one row more asked for to tell whether another page follows. Every list uses it.

use super::error::InvalidValue;

/// One page of a keyset-paginated list: at most `size` items after `after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest<Cursor> {
    /// How many items at most.
    pub size: PageSize,
    /// The last item of the previous page; none for the first page.
    pub after: Option<Cursor>,
}

/// One page of results, and whether more follow the last one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items, in the list's order.
    pub items: Vec<T>,
    /// Whether more follow the last one.
    pub has_more: bool,
}

/// A page size within the documented bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize(u16);

impl PageSize {
    /// The size of a page when the caller names none.
    pub const DEFAULT: u16 = 50;
    /// The largest page.
    pub const MAX: u16 = 500;

    /// 0 means the default; above the maximum is lowered to it (AIP-158); negative is an
    /// error.
    pub fn parse(requested: i32) -> Result<Self, InvalidValue> {
        match requested {
            n if n < 0 => Err(InvalidValue::new("must not be negative")),
            0 => Ok(Self(Self::DEFAULT)),
            n => Ok(Self(n.min(i32::from(Self::MAX)) as u16)),
        }
    }

    /// The size as a count.
    pub fn get(&self) -> usize {
        usize::from(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_default_cap_and_reject_negatives() {
        assert_eq!(PageSize::parse(0).unwrap().get(), 50);
        assert_eq!(PageSize::parse(7).unwrap().get(), 7);
        assert_eq!(PageSize::parse(501).unwrap().get(), 500);
        assert_eq!(PageSize::parse(i32::MAX).unwrap().get(), 500);
        assert!(PageSize::parse(-1).is_err());
    }
}
