//! A small plain-text table: left-aligned columns separated by two spaces, like kubectl's.

/// A table: a header row and data rows of the same width.
pub(crate) struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column names.
    pub(crate) fn new<I, S>(header: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            header: header.into_iter().map(Into::into).collect(),
            rows: vec![],
        }
    }

    /// Adds a row; empty cells are shown as `-` so that every column stays readable.
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(
            cells
                .into_iter()
                .map(|c| if c.is_empty() { "-".to_string() } else { c })
                .collect(),
        );
    }

    /// The table as lines, each ending in a newline, with no trailing spaces.
    pub(crate) fn render(&self) -> String {
        let columns = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(width(cell));
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(self.rows.iter()) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate().take(columns) {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                if i + 1 < columns {
                    line.push_str(&" ".repeat(widths[i].saturating_sub(width(cell))));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Display width of a cell: characters, not bytes (`…` is one column).
fn width(s: &str) -> usize {
    s.chars().count()
}

/// Key-value lines with the values aligned: `Key    value`.
pub(crate) fn fields(pairs: &[(&str, String)]) -> String {
    let w = pairs.iter().map(|(k, _)| width(k)).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in pairs {
        out.push_str(k);
        out.push_str(&" ".repeat(w - width(k) + 2));
        out.push_str(v);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_by_characters_and_empty_cells_show_a_dash() {
        let mut t = Table::new(["A", "HOTKEY", "C"]);
        t.row(vec!["1".into(), "5F3s…k9Qa".into(), String::new()]);
        t.row(vec!["10".into(), "x".into(), "y".into()]);
        assert_eq!(
            t.render(),
            "A   HOTKEY     C\n1   5F3s…k9Qa  -\n10  x          y\n"
        );
    }

    #[test]
    fn fields_align_their_values() {
        assert_eq!(
            fields(&[("Miner", "ns/m".into()), ("Price now", "1 TAO".into())]),
            "Miner      ns/m\nPrice now  1 TAO\n"
        );
    }
}
