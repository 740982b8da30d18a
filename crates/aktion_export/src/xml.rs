//! A small XML writer: elements, attributes and text, escaped; characters XML 1.0 forbids are
//! dropped (a prompt with a stray control character still gives a file editors open).

use std::fmt::Write as _;

pub struct Xml {
    out: String,
    open: Vec<&'static str>,
}

impl Xml {
    pub fn new(doctype: &str) -> Self {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        if !doctype.is_empty() {
            let _ = writeln!(out, "<!DOCTYPE {doctype}>");
        }
        Self {
            out,
            open: Vec::new(),
        }
    }

    fn indent(&mut self) {
        for _ in 0..self.open.len() {
            self.out.push_str("  ");
        }
    }

    fn start_tag(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.indent();
        self.out.push('<');
        self.out.push_str(name);
        for (k, v) in attrs {
            let _ = write!(self.out, " {k}=\"{}\"", escape(v));
        }
    }

    /// Opens `<name attrs…>`; [`Xml::close`] ends it.
    pub fn open(&mut self, name: &'static str, attrs: &[(&str, &str)]) {
        self.start_tag(name, attrs);
        self.out.push_str(">\n");
        self.open.push(name);
    }

    pub fn close(&mut self) {
        if let Some(name) = self.open.pop() {
            self.indent();
            let _ = writeln!(self.out, "</{name}>");
        }
    }

    /// `<name attrs…/>`.
    pub fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.start_tag(name, attrs);
        self.out.push_str("/>\n");
    }

    /// `<name>text</name>`.
    pub fn text(&mut self, name: &str, text: &str) {
        self.start_tag(name, &[]);
        let _ = writeln!(self.out, ">{}</{name}>", escape(text));
    }

    pub fn finish(mut self) -> String {
        while !self.open.is_empty() {
            self.close();
        }
        self.out
    }
}

/// Escapes text and attribute values; drops characters XML 1.0 does not allow.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' | '\r' => out.push(' '),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_escaped() {
        assert_eq!(
            escape("a<b>&\"c'\u{0}\u{1b}\nd"),
            "a&lt;b&gt;&amp;&quot;c&apos;&#10;d"
        );
        let mut x = Xml::new("x");
        x.open("a", &[("n", "</a><b>")]);
        x.text("t", "]]>");
        let s = x.finish();
        assert!(s.contains("<a n=\"&lt;/a&gt;&lt;b&gt;\">"));
        assert!(s.contains("<t>]]&gt;</t>"));
        assert!(s.trim_end().ends_with("</a>"));
    }
}
