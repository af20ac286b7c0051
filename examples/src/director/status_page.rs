//! The status page: one self-contained HTML document (inline CSS and JavaScript, nothing
//! fetched from elsewhere) that [`super::observe::serve_http`] answers `GET /` with. It reads
//! `status` (the JSON of [`super::observe::status_json`], relative to the page) every second
//! and shows the VRRP instances (state, priority, master, last transition) and the virtual
//! servers with their real servers (health, weight, the reason of the last failure). The
//! header says the data is stale when no read succeeded for 3 s, or when for 3 s every read
//! brought the same snapshot (`taken_unix` unchanged: the director builds a new one for a
//! request once the last is a second old, so its loop is stuck; browser time only, so the
//! two machines' clocks need not agree). Names from the status are inserted as text, never
//! as markup.

/// The page.
pub const STATUS_PAGE: &str = include_str!("status_page.html");

#[cfg(test)]
mod tests {
    use super::STATUS_PAGE;

    #[test]
    fn the_page_is_self_contained() {
        for outside in ["http://", "https://", "<link", "src=", "@import", "url("] {
            assert!(
                !STATUS_PAGE.contains(outside),
                "the status page must not load anything ({outside})"
            );
        }
        assert!(STATUS_PAGE.contains("fetch(\"status\""));
        assert!(STATUS_PAGE.contains("setInterval(refresh, 1000)"));
        assert!(!STATUS_PAGE.contains("innerHTML"));
    }
}
