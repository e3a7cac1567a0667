//! A funnel report as an SVG bar chart, for hosts that show it as a picture.

use crate::model::{Figures, FunnelReport, StageKind};
use std::fmt::Write;

fn escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&apos;".to_string(),
            c if c.is_control() => " ".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// `EUR 1,234.56 + USD 10.00`, or the converted total when there is one.
fn amount_text(f: &Figures) -> String {
    let fmt = |minor: i64, currency: &crate::money::Currency| {
        let digits = currency.minor_digits();
        let scale = 10_i64.pow(digits);
        let (int, frac) = (minor / scale, (minor % scale).abs());
        let mut grouped = String::new();
        let int_s = int.abs().to_string();
        for (i, ch) in int_s.chars().enumerate() {
            if i > 0 && (int_s.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(ch);
        }
        let sign = if minor < 0 { "-" } else { "" };
        if digits == 0 {
            format!("{currency} {sign}{grouped}")
        } else {
            format!(
                "{currency} {sign}{grouped}.{frac:0width$}",
                width = digits as usize
            )
        }
    };
    match &f.converted {
        Some(m) => fmt(m.amount_minor, &m.currency),
        None if f.amounts.is_empty() => "-".to_string(),
        None => f
            .amounts
            .iter()
            .map(|m| fmt(m.amount_minor, &m.currency))
            .collect::<Vec<_>>()
            .join(" + "),
    }
}

impl FunnelReport {
    /// Renders the open deals per stage as a horizontal bar chart: one bar per open stage,
    /// its length proportional to the count, labelled with the count and the amount.
    pub fn to_svg(&self) -> String {
        let stages: Vec<_> = self
            .stages
            .iter()
            .filter(|s| s.kind == StageKind::Open)
            .collect();
        let max = stages
            .iter()
            .map(|s| s.open.count)
            .max()
            .unwrap_or(0)
            .max(1);
        let (width, bar_h, gap, label_w, top) = (720u64, 36u64, 12u64, 180u64, 56u64);
        let height = top + stages.len() as u64 * (bar_h + gap) + 24;
        let mut svg = String::new();
        let _ = write!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="13">"#
        );
        let _ = write!(
            svg,
            r##"<rect width="100%" height="100%" fill="#ffffff"/>"##
        );
        let _ = write!(
            svg,
            r##"<text x="16" y="28" font-size="18" font-weight="bold" fill="#222">{}: open deals by stage</text>"##,
            escape(&self.pipeline_name)
        );
        for (i, s) in stages.iter().enumerate() {
            let y = top + i as u64 * (bar_h + gap);
            let bar_max = width - label_w - 40;
            let w = (s.open.count * bar_max / max).max(2);
            let _ = write!(
                svg,
                r##"<text x="16" y="{}" fill="#222">{}</text><rect x="{label_w}" y="{y}" width="{w}" height="{bar_h}" rx="4" fill="#3b73c4"/><text x="{}" y="{}" fill="#ffffff">{} deals</text><text x="{}" y="{}" fill="#444">{}</text>"##,
                y + bar_h / 2 + 5,
                escape(&s.name),
                label_w + 8,
                y + 15,
                s.open.count,
                label_w + 8,
                y + bar_h - 5,
                escape(&amount_text(&s.open)),
            );
        }
        svg.push_str("</svg>");
        svg
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::{Currency, Money};

    #[test]
    fn amounts_are_grouped_and_never_summed_across_currencies() {
        let f = Figures {
            count: 2,
            amounts: vec![
                Money {
                    amount_minor: 123_456_789,
                    currency: Currency::parse("EUR", "c").unwrap(),
                },
                Money {
                    amount_minor: 1500,
                    currency: Currency::parse("JPY", "c").unwrap(),
                },
            ],
            converted: None,
        };
        assert_eq!(amount_text(&f), "EUR 1,234,567.89 + JPY 1,500");
        assert_eq!(escape("A&B <x>"), "A&amp;B &lt;x&gt;");
    }
}
