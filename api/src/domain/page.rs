//! Keyset pagination, in the shape of Relay's `first/after/last/before`.
//!
//! A cursor is the id of the last row seen: stable under inserts, and an
//! index seek in SQL. Lists are ordered by that time-ordered uuid (v7), but
//! for a conversation's history, read in `seq` order and cut at the `seq` of
//! the message its cursor names.

use uuid::Uuid;

use crate::Error;

/// Which end of the list a page is taken from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// `first`: ascending from `after`.
    Forward,
    /// `last`: descending from `before` (results are returned ascending).
    Backward,
}

/// A validated page request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    /// Which end the page is taken from.
    pub direction: Direction,
    /// How many rows at most.
    pub limit: u64,
    /// Only rows after this id.
    pub after: Option<Uuid>,
    /// Only rows before this id.
    pub before: Option<Uuid>,
}

/// A page of results, in ascending order.
#[derive(Debug)]
pub struct Page<T> {
    /// The rows.
    pub items: Vec<T>,
    /// Whether rows exist past the end of this page.
    pub has_next: bool,
    /// Whether rows exist before the start of this page.
    pub has_previous: bool,
}

impl PageRequest {
    /// Validates Relay arguments against the configured page sizes.
    pub fn new(
        first: Option<i32>,
        last: Option<i32>,
        after: Option<Uuid>,
        before: Option<Uuid>,
        default_size: u32,
        max_size: u32,
    ) -> Result<Self, Error> {
        let check = |field: &'static str, n: i32| -> Result<u64, Error> {
            let n = u32::try_from(n)
                .map_err(|_| Error::invalid(field, format!("{field} must not be negative")))?;
            if n > max_size {
                return Err(Error::invalid(
                    field,
                    format!("{field} must be at most {max_size}"),
                ));
            }
            Ok(u64::from(n))
        };
        let (direction, limit) = match (first, last) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    "last",
                    "pass either first or last, not both",
                ));
            }
            (Some(n), None) => (Direction::Forward, check("first", n)?),
            (None, Some(n)) => (Direction::Backward, check("last", n)?),
            (None, None) if before.is_some() => (Direction::Backward, u64::from(default_size)),
            (None, None) => (Direction::Forward, u64::from(default_size)),
        };
        Ok(Self {
            direction,
            limit,
            after,
            before,
        })
    }

    /// Turns `limit + 1` fetched rows (in the direction's order) into a page:
    /// the extra row only tells that there is more.
    pub fn finish<T>(&self, mut rows: Vec<T>) -> Page<T> {
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        let more = rows.len() > limit;
        rows.truncate(limit);
        match self.direction {
            Direction::Forward => Page {
                items: rows,
                has_next: more,
                has_previous: self.after.is_some(),
            },
            Direction::Backward => {
                rows.reverse();
                Page {
                    items: rows,
                    has_next: self.before.is_some(),
                    has_previous: more,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_are_capped() {
        assert!(PageRequest::new(Some(101), None, None, None, 20, 100).is_err());
        assert!(PageRequest::new(Some(-1), None, None, None, 20, 100).is_err());
        assert!(PageRequest::new(Some(1), Some(1), None, None, 20, 100).is_err());
        assert_eq!(
            PageRequest::new(None, None, None, None, 20, 100)
                .unwrap()
                .limit,
            20
        );
    }

    #[test]
    fn the_extra_row_sets_has_next() {
        let request = PageRequest::new(Some(2), None, None, None, 20, 100).unwrap();
        let page = request.finish(vec![1, 2, 3]);
        assert_eq!(page.items, vec![1, 2]);
        assert!(page.has_next);
        assert!(!page.has_previous);
    }

    #[test]
    fn backward_pages_come_back_ascending() {
        let request = PageRequest::new(None, Some(2), None, None, 20, 100).unwrap();
        let page = request.finish(vec![9, 8, 7]);
        assert_eq!(page.items, vec![8, 9]);
        assert!(page.has_previous);
    }
}
