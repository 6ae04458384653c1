// SPDX-License-Identifier: Apache-2.0
//! Aligned text tables, kubectl style, for everything `multinicd` and `kubectl
//! multinic` print: the widths fit the header and every cell, the last column is not
//! padded.

/// A colour for one row's painted cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colour {
    /// All well.
    Green,
    /// Failed.
    Red,
    /// Anything in between.
    Yellow,
}

impl Colour {
    fn code(self) -> &'static str {
        match self {
            Colour::Green => "32",
            Colour::Red => "31",
            Colour::Yellow => "33",
        }
    }
}

/// How to lay a table out.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Put before every line.
    pub indent: &'static str,
    /// Spaces between columns.
    pub gap: usize,
    /// Print the header line (its width counts either way).
    pub header: bool,
    /// Colour one column: its index, and a colour per row.
    pub paint: Option<(usize, Vec<Colour>)>,
}

impl Layout {
    /// A header, no colour.
    pub fn plain(indent: &'static str, gap: usize) -> Self {
        Layout { indent, gap, header: true, paint: None }
    }
}

/// Render `rows` under `header`.
pub fn render(header: &[&str], rows: &[Vec<String>], layout: &Layout) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str], colour: Option<Colour>| {
        out.push_str(layout.indent);
        let n = cells.len();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            match (&layout.paint, colour) {
                (Some((col, _)), Some(c)) if *col == i => {
                    out.push_str(&format!("\x1b[{}m{cell}\x1b[0m", c.code()));
                }
                _ => out.push_str(cell),
            }
            if i + 1 < n {
                out.push_str(&" ".repeat(w - cell.chars().count() + layout.gap));
            }
        }
        out.push('\n');
    };
    if layout.header {
        line(header, None);
    }
    for (r, row) in rows.iter().enumerate() {
        let colour = layout.paint.as_ref().and_then(|(_, colours)| colours.get(r).copied());
        line(&row.iter().map(String::as_str).collect::<Vec<_>>(), colour);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_columns_and_paints_one() {
        let rows = [vec!["multinic0".into(), "fa:16:3e:00:00:01".into()], vec!["m1".into(), "x".into()]];
        let t = render(&["NAME", "MAC"], &rows, &Layout::plain("", 2));
        assert_eq!(t, "NAME       MAC\nmultinic0  fa:16:3e:00:00:01\nm1         x\n");
        let painted = Layout { paint: Some((1, vec![Colour::Green, Colour::Red])), ..Layout::plain("  ", 2) };
        assert_eq!(
            render(&["NAME", "MAC"], &rows, &painted),
            "  NAME       MAC\n  multinic0  \x1b[32mfa:16:3e:00:00:01\x1b[0m\n  m1         \x1b[31mx\x1b[0m\n"
        );
    }
}
