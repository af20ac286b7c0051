//! The lab's client requests on a time axis, drawn as an SVG picture: answers per
//! [`BUCKET`] (50 ms) stacked by the real server that answered, failed requests below the
//! axis, and the scenario's steps (real server out and back, failover, failback) as labelled
//! vertical lines. Hand-written SVG text: no plotting crate, no script, no external style, so
//! any browser or `rsvg-convert` shows it.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use super::svg::escape;

/// The width of one bar: the answers that arrived within it are counted together.
pub const BUCKET: Duration = Duration::from_millis(50);

/// One client request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// When it finished (since the lab's start).
    pub at: Duration,
    /// The real server that answered; `None`: the request failed.
    pub server: Option<String>,
}

/// A step of the scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// When it happened (since the lab's start).
    pub at: Duration,
    /// What happened, short (`dir1 crashes`).
    pub label: String,
}

/// The client's requests and the scenario's steps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timeline {
    /// Every request, in any order.
    pub answers: Vec<Answer>,
    /// The steps, in any order.
    pub marks: Vec<Mark>,
}

/// Per-bucket counts: see [`Timeline::buckets`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buckets {
    /// The real servers that answered, sorted: the series of the stacked bars.
    pub servers: Vec<String>,
    /// Where the first bucket starts: the whole second at least a second before the first
    /// request or step (the lab's setup before it is left out).
    pub start: Duration,
    /// For each bucket `i` (from `start + i * BUCKET`), the answers of each server (same order as
    /// `servers`), then the failed requests.
    pub counts: Vec<Vec<u32>>,
}

/// Series colours (colour-blind friendly), one per real server, and the failures'.
const COLOURS: &[&str] = &[
    "#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#f0e442",
];
const FAILED_COLOUR: &str = "#d55e00";

/// Plot geometry (px).
const LEFT: f64 = 60.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 270.0;
const UP_H: f64 = 220.0;
const DOWN_H: f64 = 60.0;
const BOTTOM: f64 = 70.0;

impl Timeline {
    /// Counts per [`BUCKET`], from [`Buckets::start`] to the last request or step.
    #[must_use]
    pub fn buckets(&self) -> Buckets {
        let mut servers: Vec<String> = self
            .answers
            .iter()
            .filter_map(|a| a.server.clone())
            .collect();
        servers.sort();
        servers.dedup();
        let times = || {
            self.answers
                .iter()
                .map(|a| a.at)
                .chain(self.marks.iter().map(|m| m.at))
        };
        let first = times().min().unwrap_or_default();
        let start = Duration::from_secs(first.saturating_sub(Duration::from_secs(1)).as_secs());
        let end = times().max().unwrap_or_default();
        let n = bucket_of(end - start) + 1;
        let mut counts = vec![vec![0u32; servers.len() + 1]; n];
        for a in &self.answers {
            let series = match &a.server {
                Some(s) => servers.binary_search(s).unwrap_or(servers.len()),
                None => servers.len(),
            };
            counts[bucket_of(a.at - start)][series] += 1;
        }
        Buckets {
            servers,
            start,
            counts,
        }
    }

    /// The picture as SVG text.
    #[must_use]
    pub fn svg(&self, title: &str) -> String {
        let Buckets {
            servers,
            start,
            counts,
        } = self.buckets();
        let n = counts.len();
        // One pixel per bucket at least (a minute of lab: 1200 px), at most 3600 px wide.
        let plot_w = (n as f64).clamp(900.0, 3600.0);
        let bar_w = plot_w / n as f64;
        let width = LEFT + plot_w + RIGHT;
        let height = TOP + UP_H + DOWN_H + BOTTOM;
        let axis_y = TOP + UP_H;
        let up_max = counts
            .iter()
            .map(|c| c[..servers.len()].iter().sum::<u32>())
            .max()
            .unwrap_or(0)
            .max(1);
        let down_max = counts
            .iter()
            .map(|c| c[servers.len()])
            .max()
            .unwrap_or(0)
            .max(1);
        let up_px = UP_H / f64::from(up_max);
        let down_px = DOWN_H / f64::from(down_max);
        let x_of = |t: Duration| {
            LEFT + t.saturating_sub(start).as_secs_f64() / BUCKET.as_secs_f64() * bar_w
        };

        let mut s = String::new();
        // `write!` to a String cannot fail.
        let _ = write!(
            s,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
             viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"sans-serif\" font-size=\"12\">\n\
             <title>{t}</title>\n<desc>{n} buckets of {b} ms; {r} requests; {m} marks</desc>\n\
             <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
             <text x=\"{LEFT}\" y=\"20\" font-size=\"15\" font-weight=\"bold\">{t}</text>\n",
            t = escape(title),
            b = BUCKET.as_millis(),
            r = self.answers.len(),
            m = self.marks.len(),
        );
        // Legend.
        let mut lx = LEFT;
        let legend = servers
            .iter()
            .enumerate()
            .map(|(i, name)| (COLOURS[i % COLOURS.len()], format!("answered by {name}")))
            .chain([(FAILED_COLOUR, "failed request (below the axis)".to_owned())]);
        for (colour, text) in legend {
            let _ = writeln!(
                s,
                "<rect x=\"{lx:.1}\" y=\"32\" width=\"12\" height=\"12\" fill=\"{colour}\"/>\
                 <text x=\"{:.1}\" y=\"43\">{}</text>",
                lx + 16.0,
                escape(&text)
            );
            lx += 16.0 + 7.0 * text.len() as f64 + 20.0;
        }
        // Axes and ticks: answers per bucket up, failures down, seconds along.
        let _ = writeln!(
            s,
            "<g stroke=\"#444\" stroke-width=\"1\">\
             <line x1=\"{LEFT}\" y1=\"{axis_y}\" x2=\"{:.1}\" y2=\"{axis_y}\"/>\
             <line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{:.1}\"/></g>",
            LEFT + plot_w,
            axis_y + DOWN_H
        );
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{up_max}</text>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">0</text>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">-{down_max}</text>\
             <text transform=\"translate(14 {:.1}) rotate(-90)\" text-anchor=\"middle\">answers per {} ms</text>",
            LEFT - 6.0,
            TOP + 10.0,
            LEFT - 6.0,
            axis_y + 4.0,
            LEFT - 6.0,
            axis_y + DOWN_H,
            TOP + UP_H / 2.0,
            BUCKET.as_millis()
        );
        let end = start + BUCKET * n as u32;
        let step = if end - start > Duration::from_secs(120) {
            10
        } else {
            5
        };
        // Ticks on the lab's clock (seconds since its start), every `step` seconds.
        let mut sec = start.as_secs().div_ceil(step) * step;
        while Duration::from_secs(sec) <= end {
            let x = x_of(Duration::from_secs(sec));
            let _ = writeln!(
                s,
                "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#444\"/>\
                 <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{sec} s</text>",
                axis_y + DOWN_H,
                axis_y + DOWN_H + 5.0,
                axis_y + DOWN_H + 18.0
            );
            sec += step;
        }
        // Bars: one rect per non-empty (bucket, series).
        let _ = writeln!(s, "<g shape-rendering=\"crispEdges\">");
        for (i, c) in counts.iter().enumerate() {
            let x = LEFT + i as f64 * bar_w;
            let mut y = axis_y;
            for (k, &count) in c[..servers.len()].iter().enumerate() {
                if count == 0 {
                    continue;
                }
                let h = f64::from(count) * up_px;
                y -= h;
                let _ = writeln!(
                    s,
                    "<rect class=\"bar\" x=\"{x:.2}\" y=\"{y:.2}\" width=\"{bar_w:.2}\" height=\"{h:.2}\" fill=\"{}\"/>",
                    COLOURS[k % COLOURS.len()]
                );
            }
            let failed = c[servers.len()];
            if failed > 0 {
                let _ = writeln!(
                    s,
                    "<rect class=\"bar\" x=\"{x:.2}\" y=\"{axis_y:.2}\" width=\"{bar_w:.2}\" height=\"{:.2}\" fill=\"{FAILED_COLOUR}\"/>",
                    f64::from(failed) * down_px
                );
            }
        }
        let _ = writeln!(s, "</g>");
        // Marks: a dashed line through the plot and its label, upright, above it.
        let mut marks: Vec<&Mark> = self.marks.iter().collect();
        marks.sort_by_key(|m| m.at);
        for m in marks {
            let x = x_of(m.at);
            let _ = writeln!(
                s,
                "<line class=\"mark\" x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" \
                 stroke=\"#333\" stroke-dasharray=\"4 3\"/>\
                 <text transform=\"translate({:.1} {:.1}) rotate(-90)\" font-size=\"11\">{} ({:.2} s)</text>",
                TOP - 4.0,
                axis_y + DOWN_H,
                x + 4.0,
                TOP - 6.0,
                escape(&m.label),
                m.at.as_secs_f64()
            );
        }
        s.push_str("</svg>\n");
        s
    }

    /// Write [`Timeline::svg`] to `path` (its folder created).
    pub fn write_svg(&self, path: &Path, title: &str) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, self.svg(title))
    }
}

fn bucket_of(t: Duration) -> usize {
    (t.as_nanos() / BUCKET.as_nanos()) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::svg::check_xml;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn sample() -> Timeline {
        let mut answers = Vec::new();
        // Every 20 ms for 10 s: rs1 and rs2 alternate, rs1 out from 3 s to 5 s, nothing from
        // 6 s to 7 s (failover), a few failures in it.
        for i in 0..500u64 {
            let at = ms(i * 20);
            let server = match at.as_millis() {
                3000..5000 => Some("rs2"),
                6000..6500 => None,
                6500..7000 => continue,
                _ if i % 2 == 0 => Some("rs1"),
                _ => Some("rs2"),
            };
            answers.push(Answer {
                at,
                server: server.map(str::to_owned),
            });
        }
        let marks = [
            (3000, "rs1 stops"),
            (6000, "dir1 crashes <& \"cable\">"),
            (7000, "dir2 takes the VIP"),
        ]
        .map(|(t, l)| Mark {
            at: ms(t),
            label: l.into(),
        })
        .to_vec();
        Timeline { answers, marks }
    }

    #[test]
    fn buckets_count_answers_by_server() {
        let b = sample().buckets();
        assert_eq!(b.servers, ["rs1", "rs2"]);
        // 0 .. 9.98 s: buckets 0..=199.
        assert_eq!(b.counts.len(), 200);
        assert_eq!(b.counts[0], [2, 1, 0], "0, 20, 40 ms: rs1 rs2 rs1");
        assert_eq!(b.counts[70], [0, 3, 0], "rs1 out");
        assert_eq!(b.counts[125], [0, 0, 2], "failures at 6.26 and 6.28 s");
        assert_eq!(b.counts[135], [0, 0, 0], "silence");
        let total: u32 = b.counts.iter().flatten().sum();
        assert_eq!(total as usize, sample().answers.len());
    }

    #[test]
    fn svg_is_well_formed_with_a_bar_per_cell_and_a_line_per_mark() {
        let t = sample();
        let svg = t.svg("lab <ha + ha>");
        let tags = check_xml(&svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
        let b = t.buckets();
        let cells = b.counts.iter().flatten().filter(|&&c| c > 0).count();
        let bars = tags
            .iter()
            .filter(|t| t.1.contains("class=\"bar\""))
            .count();
        assert_eq!(bars, cells);
        let marks = tags
            .iter()
            .filter(|t| t.1.contains("class=\"mark\""))
            .count();
        assert_eq!(marks, 3);
        assert!(svg.contains("<desc>200 buckets of 50 ms; 475 requests; 3 marks</desc>"));
        assert!(svg.contains("dir1 crashes &lt;&amp; &quot;cable&quot;&gt; (6.00 s)"));
        assert!(svg.contains("<title>lab &lt;ha + ha&gt;</title>"));
        // The checker itself rejects what it should.
        assert!(check_xml("<svg><g></svg>").is_err());
        assert!(check_xml("<svg a=b></svg>").is_err());
        assert!(check_xml("<svg>&nbsp;</svg>").is_err());
    }

    #[test]
    fn the_setup_before_the_first_request_is_left_out() {
        let mut t = sample();
        for a in &mut t.answers {
            a.at += Duration::from_millis(20_500);
        }
        for m in &mut t.marks {
            m.at += Duration::from_millis(20_500);
        }
        let b = t.buckets();
        assert_eq!(b.start, Duration::from_secs(19));
        // 19 s .. 30.48 s.
        assert_eq!(b.counts.len(), 230);
        assert_eq!(b.counts[30], [2, 1, 0], "the first answers at 20.50 s");
        let svg = t.svg("late");
        check_xml(&svg).unwrap();
        assert!(svg.contains(">20 s</text>") && !svg.contains(">15 s</text>"));
    }

    #[test]
    fn an_empty_timeline_still_draws() {
        let svg = Timeline::default().svg("empty");
        check_xml(&svg).unwrap();
        assert!(svg.contains("1 buckets"));
    }
}
