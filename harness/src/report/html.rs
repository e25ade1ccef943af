//! `report.html`: one self-contained page (no external files) with the tables and inline SVG plots.

use std::fmt::Write as _;

use super::data::ReportData;
use super::markdown::{percentile_note, provenance, text_tables};
use super::plot::Chart;

/// Escape text for HTML element content and attributes.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Markdown `**bold**` and `` `code` `` of provenance lines, as HTML.
fn inline(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in escape(s).split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            out.push_str(&part.replace("**", ""));
        }
    }
    out
}

/// Strip the XML declaration so an SVG document can sit inline in HTML.
fn inline_svg(svg: &str) -> &str {
    match (svg.starts_with("<?xml"), svg.find("?>")) {
        (true, Some(i)) => svg[i + 2..].trim_start(),
        _ => svg,
    }
}

/// The page's style: body text 16 px, tables 14 px; charts scale to the page width (at least
/// their drawn size, so chart text is never shrunk below its drawn size of 14–16 px).
const STYLE: &str = "body{font-family:sans-serif;font-size:16px;max-width:1100px;margin:auto;padding:0 12px}\
table{border-collapse:collapse;margin-bottom:1em;font-size:14px}\
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}\
td:first-child,td:nth-child(2){text-align:left}\
th{background:#f3f5f8}td{white-space:nowrap}\
table.headline{font-size:16px}table.headline td:nth-child(6){text-align:left;white-space:normal}table.headline td:nth-child(7){text-align:left}\
table.headline th{background:#e3ecf5}\
figure{margin:1.5em 0}figure svg{width:100%;min-width:960px;height:auto}\
figcaption{font-size:14px;color:#444}";

/// One table with its heading; `class` styles it (`headline`).
fn table(out: &mut String, t: &super::markdown::TextTable, class: &str) {
    let class = if class.is_empty() {
        String::new()
    } else {
        format!(" class=\"{class}\"")
    };
    let _ = writeln!(out, "<h2>{}</h2>\n<table{class}><tr>", escape(&t.title));
    for h in &t.header {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr>\n");
    for r in &t.rows {
        out.push_str("<tr>");
        for c in r {
            let _ = write!(out, "<td>{}</td>", escape(c));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

/// Render `report.html` with `charts` embedded as inline SVG.
pub fn render(d: &ReportData, charts: &[Chart]) -> Vec<u8> {
    let title = escape(&format!("faasbed report: run {}", d.manifest.run_id));
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\n<style>{STYLE}</style></head><body>\n<h1>{title}</h1>\n"
    );
    let tables = text_tables(d);
    // The headline opens the report; provenance and the details follow.
    let (headline, rest) = tables.split_at(1.min(tables.len()));
    for t in headline {
        table(&mut out, t, "headline");
    }
    out.push_str("<ul>\n");
    for line in provenance(d) {
        let _ = writeln!(out, "<li>{}</li>", inline(&line));
    }
    out.push_str("</ul>\n");
    for t in rest {
        table(&mut out, t, "");
    }
    let _ = writeln!(out, "<p>{}</p>", inline(&percentile_note()));
    out.push_str("<h2>Plots</h2>\n");
    for c in charts {
        let _ = writeln!(
            out,
            "<figure id=\"{}\">{}<figcaption>{}</figcaption></figure>",
            escape(&c.name),
            inline_svg(&c.svg),
            escape(&c.title)
        );
    }
    out.push_str("</body></html>\n");
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_loses_its_xml_declaration_inline() {
        assert_eq!(inline_svg("<?xml version=\"1.0\"?>\n<svg/>"), "<svg/>");
        assert_eq!(inline_svg("<svg/>"), "<svg/>");
    }

    #[test]
    fn provenance_markup_becomes_html() {
        assert_eq!(inline("run `a<b`"), "run <code>a&lt;b</code>");
        assert_eq!(inline("**bold**"), "bold");
    }
}
