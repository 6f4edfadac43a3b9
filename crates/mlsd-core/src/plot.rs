//! Line charts for benchmark reports, as SVG (text: browsers, docs) and PNG (pixels: anything
//! else), without a plotting dependency: a chart here is a few polylines, two axes, ticks and
//! labels. PNG text uses the public-domain 8×8 bitmap font of `font8x8`; the pixels are
//! deflated with `miniz_oxide` (a chart of flat colours compresses ~20×).

use std::fmt::Write as _;

/// One named line of (x, y) points.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// A line chart.
#[derive(Debug, Clone)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// Logarithmic y axis (latencies spanning orders of magnitude).
    pub log_y: bool,
    pub series: Vec<Series>,
}

const WIDTH: usize = 800;
const HEIGHT: usize = 500;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;
const COLORS: [(u8, u8, u8); 6] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
];

/// The data ranges on screen (y in log10 units when the axis is logarithmic).
struct Frame {
    x_max: f64,
    y_min: f64,
    y_max: f64,
}

/// A "nice" tick step (1, 2 or 5 × 10^k) giving about `n` ticks over `range`.
fn nice_step(range: f64, n: f64) -> f64 {
    let raw = (range / n).max(f64::MIN_POSITIVE);
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|step| *step >= raw)
        .unwrap_or(10.0 * magnitude)
}

fn label(v: f64) -> String {
    if v >= 1000.0 {
        format!("{}k", (v / 1000.0 * 10.0).round() / 10.0)
    } else if v >= 1.0 || v == 0.0 {
        format!("{}", (v * 10.0).round() / 10.0)
    } else {
        // Six decimals, trailing zeros dropped: a tick at 3 × 0.2 reads "0.6", not
        // "0.6000000000000001".
        let fixed = format!("{v:.6}");
        fixed
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

impl Chart {
    fn finite_points(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.series
            .iter()
            .flat_map(|s| s.points.iter().copied())
            .filter(|(x, y)| x.is_finite() && y.is_finite() && (!self.log_y || *y > 0.0))
    }

    fn frame(&self) -> Frame {
        let x_max = self.finite_points().map(|p| p.0).fold(0.0, f64::max);
        let x_max = if x_max > 0.0 { x_max * 1.05 } else { 1.0 };
        if self.log_y {
            let ys: Vec<f64> = self.finite_points().map(|p| p.1.log10()).collect();
            let lo = ys.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = ys.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if lo.is_finite() && hi.is_finite() {
                let (lo, hi) = (lo.floor(), hi.ceil());
                Frame {
                    x_max,
                    y_min: lo,
                    y_max: if hi > lo { hi } else { lo + 1.0 },
                }
            } else {
                Frame {
                    x_max,
                    y_min: -1.0,
                    y_max: 1.0,
                }
            }
        } else {
            let hi = self.finite_points().map(|p| p.1).fold(0.0, f64::max);
            Frame {
                x_max,
                y_min: 0.0,
                y_max: if hi > 0.0 { hi * 1.1 } else { 1.0 },
            }
        }
    }

    /// Screen position of a data point.
    fn at(&self, f: &Frame, x: f64, y: f64) -> (f64, f64) {
        let y = if self.log_y { y.log10() } else { y };
        let w = WIDTH as f64 - LEFT - RIGHT;
        let h = HEIGHT as f64 - TOP - BOTTOM;
        (
            LEFT + x / f.x_max * w,
            TOP + h - (y - f.y_min) / (f.y_max - f.y_min) * h,
        )
    }

    fn x_ticks(&self, f: &Frame) -> Vec<(f64, String)> {
        let step = nice_step(f.x_max, 5.0);
        (0..)
            .map(|i| i as f64 * step)
            .take_while(|x| *x <= f.x_max)
            .map(|x| (x, label(x)))
            .collect()
    }

    /// (value in data units, label); log axes tick at powers of ten.
    fn y_ticks(&self, f: &Frame) -> Vec<(f64, String)> {
        if self.log_y {
            (f.y_min as i32..=f.y_max as i32)
                .map(|e| (10f64.powi(e), label(10f64.powi(e))))
                .collect()
        } else {
            let step = nice_step(f.y_max, 5.0);
            (0..)
                .map(|i| i as f64 * step)
                .take_while(|y| *y <= f.y_max)
                .map(|y| (y, label(y)))
                .collect()
        }
    }

    fn drawable(&self, s: &Series) -> Vec<(f64, f64)> {
        s.points
            .iter()
            .copied()
            .filter(|(x, y)| x.is_finite() && y.is_finite() && (!self.log_y || *y > 0.0))
            .collect()
    }

    /// The chart as an SVG document.
    pub fn to_svg(&self) -> String {
        let f = self.frame();
        let (x0, y0) = (LEFT, HEIGHT as f64 - BOTTOM);
        let (x1, y1) = (WIDTH as f64 - RIGHT, TOP);
        let mut out = String::new();
        let _ = write!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
        );
        let _ = write!(
            out,
            r#"<rect width="100%" height="100%" fill="white"/><text x="{}" y="24" text-anchor="middle" font-size="16">{}</text>"#,
            WIDTH / 2,
            escape(&self.title)
        );
        for (v, text) in self.y_ticks(&f) {
            let (_, y) = self.at(&f, 0.0, v);
            let _ = write!(
                out,
                r##"<line x1="{x0}" y1="{y:.1}" x2="{x1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{text}</text>"##,
                x0 - 6.0,
                y + 4.0
            );
        }
        for (v, text) in self.x_ticks(&f) {
            let (x, _) = self.at(&f, v, if self.log_y { 1.0 } else { 0.0 });
            let _ = write!(
                out,
                r##"<line x1="{x:.1}" y1="{y0}" x2="{x:.1}" y2="{:.1}" stroke="#333"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{text}</text>"##,
                y0 + 5.0,
                y0 + 20.0
            );
        }
        let _ = write!(
            out,
            r##"<polyline points="{x0},{y1} {x0},{y0} {x1},{y0}" fill="none" stroke="#333"/>"##
        );
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text><text transform="translate(18 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
            (x0 + x1) / 2.0,
            HEIGHT as f64 - 15.0,
            escape(&self.x_label),
            (y0 + y1) / 2.0,
            escape(&self.y_label)
        );
        for (i, s) in self.series.iter().enumerate() {
            let (r, g, b) = COLORS[i % COLORS.len()];
            let points: Vec<String> = self
                .drawable(s)
                .iter()
                .map(|&(x, y)| {
                    let (px, py) = self.at(&f, x, y);
                    format!("{px:.1},{py:.1}")
                })
                .collect();
            let _ = write!(
                out,
                r#"<polyline points="{}" fill="none" stroke="rgb({r},{g},{b})" stroke-width="2"/>"#,
                points.join(" ")
            );
            for p in &points {
                let (px, py) = p.split_once(',').unwrap_or(("0", "0"));
                let _ = write!(
                    out,
                    r#"<circle cx="{px}" cy="{py}" r="3" fill="rgb({r},{g},{b})"/>"#
                );
            }
            let ly = TOP + 10.0 + 18.0 * i as f64;
            let _ = write!(
                out,
                r#"<rect x="{:.1}" y="{:.1}" width="14" height="4" fill="rgb({r},{g},{b})"/><text x="{:.1}" y="{:.1}">{}</text>"#,
                x0 + 12.0,
                ly - 4.0,
                x0 + 32.0,
                ly + 1.0,
                escape(&s.name)
            );
        }
        out.push_str("</svg>\n");
        out
    }

    /// The chart as a PNG image (indexed colour).
    pub fn to_png(&self) -> Vec<u8> {
        let f = self.frame();
        let mut c = Canvas::new();
        let (x0, y0) = (LEFT, HEIGHT as f64 - BOTTOM);
        let (x1, y1) = (WIDTH as f64 - RIGHT, TOP);
        c.text(
            WIDTH as f64 / 2.0 - 8.0 * self.title.len() as f64 / 2.0,
            14.0,
            &self.title,
            BLACK,
        );
        for (v, text) in self.y_ticks(&f) {
            let (_, y) = self.at(&f, 0.0, v);
            c.line(x0, y, x1, y, GREY, 1);
            c.text(x0 - 8.0 - 8.0 * text.len() as f64, y - 4.0, &text, BLACK);
        }
        for (v, text) in self.x_ticks(&f) {
            let (x, _) = self.at(&f, v, if self.log_y { 1.0 } else { 0.0 });
            c.line(x, y0, x, y0 + 5.0, BLACK, 1);
            c.text(x - 4.0 * text.len() as f64, y0 + 10.0, &text, BLACK);
        }
        c.line(x0, y1, x0, y0, BLACK, 1);
        c.line(x0, y0, x1, y0, BLACK, 1);
        c.text(
            (x0 + x1) / 2.0 - 4.0 * self.x_label.len() as f64,
            HEIGHT as f64 - 22.0,
            &self.x_label,
            BLACK,
        );
        // Simplification: the y label is written horizontally above the axis (no rotated
        // glyphs in an 8×8 bitmap font).
        c.text(8.0, TOP - 16.0, &self.y_label, BLACK);
        for (i, s) in self.series.iter().enumerate() {
            let color = FIRST_SERIES + (i % COLORS.len()) as u8;
            let points: Vec<(f64, f64)> = self
                .drawable(s)
                .iter()
                .map(|&(x, y)| self.at(&f, x, y))
                .collect();
            for pair in points.windows(2) {
                c.line(pair[0].0, pair[0].1, pair[1].0, pair[1].1, color, 2);
            }
            for &(px, py) in &points {
                c.rect(px - 3.0, py - 3.0, 7, 7, color);
            }
            let ly = TOP + 6.0 + 18.0 * i as f64;
            c.rect(x0 + 12.0, ly, 14, 4, color);
            c.text(x0 + 32.0, ly - 2.0, &s.name, BLACK);
        }
        c.encode()
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

const WHITE: u8 = 0;
const BLACK: u8 = 1;
const GREY: u8 = 2;
const FIRST_SERIES: u8 = 3;

/// A palette-indexed pixel buffer.
struct Canvas {
    pixels: Vec<u8>,
}

impl Canvas {
    fn new() -> Self {
        Canvas {
            pixels: vec![WHITE; WIDTH * HEIGHT],
        }
    }

    fn set(&mut self, x: i64, y: i64, color: u8) {
        if (0..WIDTH as i64).contains(&x) && (0..HEIGHT as i64).contains(&y) {
            self.pixels[y as usize * WIDTH + x as usize] = color;
        }
    }

    fn rect(&mut self, x: f64, y: f64, w: i64, h: i64, color: u8) {
        let (x, y) = (x.round() as i64, y.round() as i64);
        for dy in 0..h {
            for dx in 0..w {
                self.set(x + dx, y + dy, color);
            }
        }
    }

    /// A line `thickness` pixels wide (Bresenham, thickened downwards and rightwards).
    fn line(&mut self, x0: f64, y0: f64, x1: f64, y1: f64, color: u8, thickness: i64) {
        let (mut x, mut y) = (x0.round() as i64, y0.round() as i64);
        let (x1, y1) = (x1.round() as i64, y1.round() as i64);
        let (dx, dy) = ((x1 - x).abs(), -(y1 - y).abs());
        let (sx, sy) = (if x < x1 { 1 } else { -1 }, if y < y1 { 1 } else { -1 });
        let mut err = dx + dy;
        loop {
            for t in 0..thickness {
                self.set(x + t, y, color);
                self.set(x, y + t, color);
            }
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    fn text(&mut self, x: f64, y: f64, text: &str, color: u8) {
        let (x, y) = (x.round() as i64, y.round() as i64);
        for (i, ch) in text.chars().enumerate() {
            let glyph = font8x8::legacy::BASIC_LEGACY
                .get(ch as usize)
                .copied()
                .unwrap_or(font8x8::legacy::BASIC_LEGACY[b'?' as usize]);
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..8 {
                    if bits & (1 << col) != 0 {
                        self.set(x + 8 * i as i64 + col, y + row as i64, color);
                    }
                }
            }
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut raw = Vec::with_capacity((WIDTH + 1) * HEIGHT);
        for row in self.pixels.chunks(WIDTH) {
            raw.push(0); // filter: none
            raw.extend_from_slice(row);
        }
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&(WIDTH as u32).to_be_bytes());
        ihdr.extend_from_slice(&(HEIGHT as u32).to_be_bytes());
        ihdr.extend_from_slice(&[8, 3, 0, 0, 0]); // 8-bit, indexed, deflate, no filter, no interlace
        let mut palette = vec![255, 255, 255, 0, 0, 0, 221, 221, 221];
        for (r, g, b) in COLORS {
            palette.extend_from_slice(&[r, g, b]);
        }
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        chunk(&mut png, b"IHDR", &ihdr);
        chunk(&mut png, b"PLTE", &palette);
        chunk(
            &mut png,
            b"IDAT",
            &miniz_oxide::deflate::compress_to_vec_zlib(&raw, 6),
        );
        chunk(&mut png, b"IEND", &[]);
        png
    }
}

fn chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    png.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = png.len();
    png.extend_from_slice(kind);
    png.extend_from_slice(data);
    let crc = crc32(&png[start..]);
    png.extend_from_slice(&crc.to_be_bytes());
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_are_short_whatever_the_float_arithmetic() {
        assert_eq!(label(3.0 * 0.2), "0.6");
        assert_eq!(label(0.001), "0.001");
        assert_eq!(label(0.25), "0.25");
        assert_eq!(label(2_500.0), "2.5k");
    }

    fn chart() -> Chart {
        Chart {
            title: "p99 latency vs throughput".into(),
            x_label: "rows/s".into(),
            y_label: "p99 ms".into(),
            log_y: true,
            series: vec![
                Series {
                    name: "realtime".into(),
                    points: vec![(1_000.0, 0.2), (10_000.0, 1.5), (30_000.0, 40.0)],
                },
                Series {
                    name: "batch <100>".into(),
                    points: vec![(50_000.0, 2.0), (f64::NAN, 1.0), (120_000.0, 0.0)],
                },
            ],
        }
    }

    #[test]
    fn crc32_matches_the_published_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn svg_has_every_series_and_escapes_text() {
        let svg = chart().to_svg();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("realtime") && svg.contains("batch &lt;100&gt;"));
        assert_eq!(svg.matches("<polyline").count(), 3); // the axes and two series
                                                         // Log axis from 0.1 to 100 ms: ticks 0.1, 1, 10, 100.
        for tick in [">0.1<", ">1<", ">10<", ">100<"] {
            assert!(svg.contains(tick), "{tick}");
        }
    }

    #[test]
    fn png_is_well_formed() {
        let png = chart().to_png();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png[12..16], b"IHDR");
        assert_eq!(
            u32::from_be_bytes([png[16], png[17], png[18], png[19]]),
            800
        );
        let height = u32::from_be_bytes([png[20], png[21], png[22], png[23]]) as usize;
        // Every chunk's CRC checks out, the pixels inflate to one filter byte plus 800
        // palette indices per row, and the image ends with IEND.
        let mut at = 8;
        let mut kinds = Vec::new();
        while at < png.len() {
            let len = u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]) as usize;
            let body = &png[at + 4..at + 8 + len];
            let crc = u32::from_be_bytes([
                png[at + 8 + len],
                png[at + 9 + len],
                png[at + 10 + len],
                png[at + 11 + len],
            ]);
            assert_eq!(crc32(body), crc);
            if &body[..4] == b"IDAT" {
                let pixels =
                    miniz_oxide::inflate::decompress_to_vec_zlib(&body[4..]).expect("inflates");
                assert_eq!(pixels.len(), height * 801);
                assert!(len * 5 < pixels.len(), "{len} bytes for {}", pixels.len());
            }
            kinds.push(String::from_utf8_lossy(&body[..4]).to_string());
            at += 12 + len;
        }
        assert_eq!(kinds, ["IHDR", "PLTE", "IDAT", "IEND"]);
    }
}
