//! HAL paging of `getAllRecords` (SPEC §3 "Fetching the data service"),
//! without I/O: the query string → which page, and a page's position → its
//! `_links`.
//!
//! Pages are numbered from 1, as Mainzelliste numbers them. An empty registry
//! still has page 1 (with no records), so a node's first request never fails.
//! A node follows `next` until the last page, so every link is an absolute URL
//! that carries the page size explicitly: a client that never looked at the
//! query string still pages consistently.
use protocol_spec::messages::mainsel::{HalLinks, Link};

/// Page size when the request names none.
pub const DEFAULT_PAGE_SIZE: u64 = 100;
/// Largest page served; a larger `pagesize` is served in pages of this size
/// (the links say so), since a node configured for bigger pages still walks
/// the links to the end.
pub const MAX_PAGE_SIZE: u64 = 10_000;

/// Which page a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// 1-based.
    pub page: u64,
    pub size: u64,
}

/// A query string the registry cannot serve. Names the parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("query parameter {0}: not a decimal number")]
    NotANumber(&'static str),
    #[error("query parameter {0} must be at least 1")]
    Zero(&'static str),
    #[error("query parameter {0} is given twice")]
    Twice(&'static str),
}

/// Reads `pagesize` (also `pageSize`) and `page` from a raw query string;
/// other parameters are ignored.
pub fn parse_query(raw: Option<&str>) -> Result<PageRequest, QueryError> {
    let mut page = None;
    let mut size = None;
    for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (slot, label) = if name.eq_ignore_ascii_case("pagesize") {
            (&mut size, "pagesize")
        } else if name == "page" {
            (&mut page, "page")
        } else {
            continue;
        };
        if slot.is_some() {
            return Err(QueryError::Twice(label));
        }
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(QueryError::NotANumber(label));
        }
        // Digits only: the parse can fail only by overflow; saturate.
        let n: u64 = value.parse().unwrap_or(u64::MAX);
        if n == 0 {
            return Err(QueryError::Zero(label));
        }
        *slot = Some(n);
    }
    Ok(PageRequest {
        page: page.unwrap_or(1),
        size: size.unwrap_or(DEFAULT_PAGE_SIZE).min(MAX_PAGE_SIZE),
    })
}

/// Number of the last page for `total` records: at least 1.
pub fn last_page(total: u64, size: u64) -> u64 {
    total.div_ceil(size.max(1)).max(1)
}

/// Index of the first record of `page`.
pub fn offset(req: PageRequest) -> u64 {
    (req.page - 1).saturating_mul(req.size)
}

/// The links of page `req.page` of `last` pages under `base` (the absolute
/// URL of the endpoint for this requester). The first page has no `prev`, the
/// last no `next`.
pub fn links(base: &str, req: PageRequest, last: u64) -> HalLinks {
    let link = |page: u64| {
        Some(Link {
            href: format!("{base}?pagesize={}&page={page}", req.size),
        })
    };
    HalLinks {
        self_: link(req.page),
        first: link(1),
        prev: if req.page > 1 {
            link(req.page - 1)
        } else {
            None
        },
        next: if req.page < last {
            link(req.page + 1)
        } else {
            None
        },
        last: link(last),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_defaults_clamps_and_refuses() {
        assert_eq!(
            parse_query(None),
            Ok(PageRequest {
                page: 1,
                size: DEFAULT_PAGE_SIZE
            })
        );
        assert_eq!(
            parse_query(Some("pageSize=7&page=3&x=y")),
            Ok(PageRequest { page: 3, size: 7 })
        );
        assert_eq!(
            parse_query(Some("pagesize=99999999999999999999999")),
            Ok(PageRequest {
                page: 1,
                size: MAX_PAGE_SIZE
            })
        );
        assert_eq!(
            parse_query(Some("pagesize=0")),
            Err(QueryError::Zero("pagesize"))
        );
        assert_eq!(
            parse_query(Some("page=-1")),
            Err(QueryError::NotANumber("page"))
        );
        assert_eq!(
            parse_query(Some("page=1&page=2")),
            Err(QueryError::Twice("page"))
        );
    }

    #[test]
    fn links_walk_from_first_to_last() {
        assert_eq!(last_page(0, 10), 1);
        assert_eq!(last_page(10, 10), 1);
        assert_eq!(last_page(11, 10), 2);
        let first = links("u", PageRequest { page: 1, size: 5 }, 3);
        assert!(first.prev.is_none());
        assert_eq!(first.next.unwrap().href, "u?pagesize=5&page=2");
        let last = links("u", PageRequest { page: 3, size: 5 }, 3);
        assert!(last.next.is_none());
        assert_eq!(last.prev.unwrap().href, "u?pagesize=5&page=2");
        assert_eq!(last.last.unwrap().href, "u?pagesize=5&page=3");
    }
}
