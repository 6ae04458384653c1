//! Aligned text tables, kubectl style: the widths fit the header and every cell, the
//! last column is not padded.

/// Colours one cell's text.
pub type Painter = fn(&str) -> String;

/// How to lay a table out.
pub struct Layout {
    /// Put before every line.
    pub indent: &'static str,
    /// Spaces between columns.
    pub gap: usize,
    /// Print the header line (its width counts either way).
    pub header: bool,
    /// Colour the cells of one column (index, painter).
    pub paint: Option<(usize, Painter)>,
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
    let mut line = |cells: &[&str], painted: bool| {
        out.push_str(layout.indent);
        let n = cells.len();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            match layout.paint {
                Some((col, paint)) if painted && col == i => out.push_str(&paint(cell)),
                _ => out.push_str(cell),
            }
            if i + 1 < n {
                out.push_str(&" ".repeat(w - cell.chars().count() + layout.gap));
            }
        }
        out.push('\n');
    };
    if layout.header {
        line(header, false);
    }
    for row in rows {
        line(&row.iter().map(String::as_str).collect::<Vec<_>>(), true);
    }
    out
}
