//! `failover-bench`'s takeover figures as an SVG picture: one panel per advert interval and
//! way of stopping the master (each with its own scale: a 1 s crash bound is 60 times a
//! 100 ms graceful one), in each the implementations side by side (the new master's first
//! advert, measured the way the bound is defined, and the client's first ping reply), and the
//! bound (Master_Down_Interval for a crash, Skew_Time for a graceful stop) as a dashed line.

use std::fmt::Write as _;

use super::svg::escape;

/// One row of the bench's table (medians, milliseconds).
#[derive(Debug, Clone, PartialEq)]
pub struct TakeoverRow {
    /// The advertisement interval (ms).
    pub interval_ms: u64,
    /// How the master stopped: `crash (SIGKILL)` or `graceful (priority 0)`.
    pub stop: String,
    /// Which pair: `ha (ours)`, `keepalived`.
    pub implementation: String,
    /// The bound the takeover is held to: Master_Down_Interval (crash) or Skew_Time
    /// (graceful) of the backup.
    pub bound_ms: f64,
    /// The new master's first advert, from the old master's last advert (crash) or from the
    /// stop (graceful): the figure the bound applies to. `None`: not seen.
    pub advert_ms: Option<f64>,
    /// The client's first echo reply from the new master, from the stop.
    pub ping_ms: Option<f64>,
}

const COLOURS: &[&str] = &["#0072b2", "#e69f00", "#009e73", "#cc79a7"];
const PANEL_W: f64 = 300.0;
const PANEL_GAP: f64 = 40.0;
const LEFT: f64 = 60.0;
const TOP: f64 = 100.0;
const PLOT_H: f64 = 260.0;
const BOTTOM: f64 = 90.0;

/// The picture as SVG text; panels in the order the rows first name them.
#[must_use]
pub fn svg(rows: &[TakeoverRow], title: &str) -> String {
    let mut panels: Vec<(u64, &str)> = Vec::new();
    let mut impls: Vec<&str> = Vec::new();
    for r in rows {
        if !panels.contains(&(r.interval_ms, r.stop.as_str())) {
            panels.push((r.interval_ms, r.stop.as_str()));
        }
        if !impls.contains(&r.implementation.as_str()) {
            impls.push(r.implementation.as_str());
        }
    }
    let width = LEFT + panels.len().max(1) as f64 * (PANEL_W + PANEL_GAP);
    let height = TOP + PLOT_H + BOTTOM;
    let axis_y = TOP + PLOT_H;
    let mut s = String::new();
    // `write!` to a String cannot fail.
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <title>{t}</title>\n<desc>{p} panels; {n} rows</desc>\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{LEFT}\" y=\"22\" font-size=\"15\" font-weight=\"bold\">{t}</text>\n\
         <text x=\"{LEFT}\" y=\"66\" font-size=\"11\">first advert: from the old master's last advert \
         (crash) or from the stop (graceful), as the bound is defined; first ping reply: from the \
         stop</text>\n",
        t = escape(title),
        p = panels.len(),
        n = rows.len(),
    );
    // Legend: solid = first advert, light = first ping reply; one colour per implementation.
    let mut lx = LEFT;
    for (k, name) in impls.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let _ = writeln!(
            s,
            "<rect x=\"{lx:.1}\" y=\"34\" width=\"12\" height=\"12\" fill=\"{colour}\"/>\
             <rect x=\"{:.1}\" y=\"34\" width=\"12\" height=\"12\" fill=\"{colour}\" fill-opacity=\"0.4\"/>\
             <text x=\"{:.1}\" y=\"45\">{}: first advert / first ping reply</text>",
            lx + 14.0,
            lx + 30.0,
            escape(name)
        );
        lx += 300.0;
    }
    let _ = writeln!(
        s,
        "<line x1=\"{lx:.1}\" y1=\"40\" x2=\"{:.1}\" y2=\"40\" stroke=\"#c00\" stroke-width=\"2\" stroke-dasharray=\"6 3\"/>\
         <text x=\"{:.1}\" y=\"45\">bound</text>",
        lx + 24.0,
        lx + 30.0
    );
    for (p, &(interval, stop)) in panels.iter().enumerate() {
        let x0 = LEFT + p as f64 * (PANEL_W + PANEL_GAP);
        let in_panel: Vec<&TakeoverRow> = rows
            .iter()
            .filter(|r| r.interval_ms == interval && r.stop == stop)
            .collect();
        let bound = in_panel.first().map_or(0.0, |r| r.bound_ms);
        let top = in_panel
            .iter()
            .flat_map(|r| [r.advert_ms, r.ping_ms])
            .flatten()
            .fold(bound, f64::max)
            .max(1.0)
            * 1.15;
        let y_of = |v: f64| axis_y - v / top * PLOT_H;
        let _ = writeln!(
            s,
            "<g class=\"panel\">\
             <line x1=\"{x0:.1}\" y1=\"{axis_y}\" x2=\"{:.1}\" y2=\"{axis_y}\" stroke=\"#444\"/>\
             <line x1=\"{x0:.1}\" y1=\"{TOP}\" x2=\"{x0:.1}\" y2=\"{axis_y}\" stroke=\"#444\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{:.0} ms</text>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">0</text>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-weight=\"bold\">{interval} ms adverts, {}</text>",
            x0 + PANEL_W,
            x0 - 4.0,
            TOP + 4.0,
            top,
            x0 - 4.0,
            axis_y + 4.0,
            x0 + PANEL_W / 2.0,
            axis_y + 36.0,
            escape(stop)
        );
        let slot = PANEL_W / in_panel.len().max(1) as f64;
        for (i, r) in in_panel.iter().enumerate() {
            let k = impls
                .iter()
                .position(|n| *n == r.implementation)
                .unwrap_or(0);
            let colour = COLOURS[k % COLOURS.len()];
            let bar_w = slot * 0.3;
            let bx = x0 + i as f64 * slot + slot * 0.15;
            for (j, (value, opacity)) in [(r.advert_ms, 1.0), (r.ping_ms, 0.4)].iter().enumerate() {
                let x = bx + j as f64 * bar_w;
                match value {
                    Some(v) => {
                        let y = y_of(*v);
                        let _ = writeln!(
                            s,
                            "<rect class=\"bar\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar_w:.1}\" height=\"{:.1}\" fill=\"{colour}\" fill-opacity=\"{opacity}\"/>\
                             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"10\">{v:.1}</text>",
                            axis_y - y,
                            x + bar_w / 2.0,
                            y - 3.0
                        );
                    }
                    None => {
                        let _ = writeln!(
                            s,
                            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"10\">not seen</text>",
                            x + bar_w / 2.0,
                            axis_y - 4.0
                        );
                    }
                }
            }
            let excess = r
                .advert_ms
                .map_or_else(|| "-".to_owned(), |a| format!("{:+.1}", a - r.bound_ms));
            let _ = writeln!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"10\">excess {excess} ms</text>",
                bx + bar_w,
                axis_y + 14.0,
                escape(&r.implementation),
                bx + bar_w,
                axis_y + 25.0
            );
        }
        let by = y_of(bound);
        let _ = writeln!(
            s,
            "<line class=\"bound\" x1=\"{x0:.1}\" y1=\"{by:.1}\" x2=\"{:.1}\" y2=\"{by:.1}\" \
             stroke=\"#c00\" stroke-width=\"2\" stroke-dasharray=\"6 3\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" fill=\"#c00\" font-size=\"11\">bound: {} {bound:.1} ms</text></g>",
            x0 + PANEL_W,
            x0 + 4.0,
            TOP - 8.0,
            if stop.starts_with("crash") {
                "Master_Down_Interval"
            } else {
                "Skew_Time"
            }
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::svg::check_xml;

    fn row(
        interval_ms: u64,
        stop: &str,
        which: &str,
        bound: f64,
        advert: Option<f64>,
    ) -> TakeoverRow {
        TakeoverRow {
            interval_ms,
            stop: stop.into(),
            implementation: which.into(),
            bound_ms: bound,
            advert_ms: advert,
            ping_ms: advert.map(|a| a + 12.0),
        }
    }

    #[test]
    fn a_panel_per_interval_and_stop_a_bound_each() {
        let rows = vec![
            row(1000, "crash (SIGKILL)", "ha (ours)", 3609.4, Some(3610.3)),
            row(1000, "crash (SIGKILL)", "keepalived", 3609.4, Some(3610.1)),
            row(100, "graceful (priority 0)", "ha (ours)", 60.9, Some(61.9)),
            row(100, "graceful (priority 0)", "keepalived", 60.9, None),
        ];
        let svg = svg(&rows, "takeover <ours & keepalived>");
        let tags = check_xml(&svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
        let count = |class: &str| {
            tags.iter()
                .filter(|t| t.1.contains(&format!("class=\"{class}\"")))
                .count()
        };
        assert_eq!(count("panel"), 2);
        assert_eq!(count("bound"), 2);
        assert_eq!(count("bar"), 6, "two bars per row with figures");
        assert!(svg.contains("not seen"));
        assert!(svg.contains("Master_Down_Interval 3609.4 ms"));
        assert!(svg.contains("Skew_Time 60.9 ms"));
        assert!(svg.contains("excess +0.9 ms") && svg.contains("excess +1.0 ms"));
        assert!(svg.contains("<desc>2 panels; 4 rows</desc>"));
        check_xml(&super::svg(&[], "empty")).unwrap();
    }
}
