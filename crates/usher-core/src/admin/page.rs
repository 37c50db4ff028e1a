//! Paged lists: every list of the admin API is sorted by a unique key and read a page at
//! a time, `limit` items after the key `after` (a cursor, so a page never repeats or
//! skips an item when others are added or removed meanwhile).

/// Items per page unless the caller asks for fewer (or more, up to [`MAX_LIMIT`]).
pub const DEFAULT_LIMIT: usize = 50;
/// The most items one page holds.
pub const MAX_LIMIT: usize = 200;

/// Which page: after which key, how many.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// The key of the last item of the previous page (`next` of that page).
    pub after: Option<String>,
    /// How many items; `None` for [`DEFAULT_LIMIT`].
    pub limit: Option<usize>,
}

impl PageRequest {
    /// Parses the query values; a limit outside 1..=MAX_LIMIT is refused.
    pub fn parse(after: Option<String>, limit: Option<&str>) -> Result<PageRequest, String> {
        let limit = match limit {
            None => None,
            Some(raw) => match raw.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => Some(n),
                _ => {
                    return Err(format!(
                        "limit must be a whole number from 1 to {MAX_LIMIT}"
                    ));
                }
            },
        };
        Ok(PageRequest {
            after: after.filter(|a| !a.is_empty()),
            limit,
        })
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The `after` of the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// The page `request` of `items`, sorted here by `key` (unique per item).
pub fn paginate<T>(mut items: Vec<T>, key: impl Fn(&T) -> &str, request: &PageRequest) -> Page<T> {
    items.sort_by(|a, b| key(a).cmp(key(b)));
    let limit = request.limit.unwrap_or(DEFAULT_LIMIT);
    let start = match &request.after {
        None => 0,
        Some(after) => items.partition_point(|i| key(i) <= after.as_str()),
    };
    let mut rest: Vec<T> = items.into_iter().skip(start).collect();
    let more = rest.len() > limit;
    rest.truncate(limit);
    let next = if more {
        rest.last().map(|i| key(i).to_owned())
    } else {
        None
    };
    Page { items: rest, next }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_the_cursor_without_repeats_or_gaps() {
        let all: Vec<String> = (0..7).map(|i| format!("k{i}")).rev().collect();
        let mut seen = Vec::new();
        let mut request = PageRequest {
            after: None,
            limit: Some(3),
        };
        loop {
            let page = paginate(all.clone(), |s| s.as_str(), &request);
            seen.extend(page.items.clone());
            match page.next {
                Some(next) => request.after = Some(next),
                None => break,
            }
        }
        let mut sorted = all.clone();
        sorted.sort();
        assert_eq!(seen, sorted);
        // An item removed meanwhile does not shift the next page.
        let page = paginate(
            vec!["a".to_owned(), "c".to_owned()],
            |s| s.as_str(),
            &PageRequest {
                after: Some("b".into()),
                limit: None,
            },
        );
        assert_eq!(page.items, vec!["c".to_owned()]);
        assert_eq!(page.next, None);
    }

    #[test]
    fn a_limit_is_bounded() {
        assert!(PageRequest::parse(None, Some("0")).is_err());
        assert!(PageRequest::parse(None, Some("201")).is_err());
        assert!(PageRequest::parse(None, Some("x")).is_err());
        assert_eq!(
            PageRequest::parse(None, Some("200")).unwrap().limit,
            Some(200)
        );
    }
}
