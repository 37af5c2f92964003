//! How `kw` writes: results on stdout, notes and errors on stderr. Colour only on a terminal
//! that supports it, and never with `NO_COLOR` set (https://no-color.org); JSON never has any.

use anstyle::{AnsiColor, Style};
use std::io::IsTerminal;

fn colour_on_stdout() -> bool {
    anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never
}

fn colour_on_stderr() -> bool {
    anstream::AutoStream::choice(&std::io::stderr()) != anstream::ColorChoice::Never
}

fn paint(text: &str, style: Style, on: bool) -> String {
    if on {
        format!("{}{text}{}", style.render(), style.render_reset())
    } else {
        text.to_owned()
    }
}

/// `text` in bold on stdout (a code, a name).
pub fn bold(text: &str) -> String {
    paint(text, Style::new().bold(), colour_on_stdout())
}

/// `text` in the warning colour on stdout.
pub fn warn(text: &str) -> String {
    paint(
        text,
        Style::new().fg_color(Some(AnsiColor::Yellow.into())),
        colour_on_stdout(),
    )
}

/// A note for the person at the terminal, on stderr.
pub fn note(text: &str) {
    eprintln!("{}", paint(text, Style::new().dimmed(), colour_on_stderr()));
}

/// An error, on stderr.
pub fn error(text: &str) {
    let label = paint(
        "error:",
        Style::new().bold().fg_color(Some(AnsiColor::Red.into())),
        colour_on_stderr(),
    );
    eprintln!("{label} {text}");
}

/// A server's words made safe for a terminal: control characters (escape sequences that
/// could rewrite the screen or the title) become `?`.
pub fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// A JSON document on stdout.
pub fn json<T: serde::Serialize>(value: &T) {
    println!("{}", serde_json::to_string(value).unwrap_or_default());
}

/// Whether a person is at the terminal (stdin and stderr): only then does `kw` start a sign-in
/// on its own.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Whether stdout is a terminal (else the output is for a script: the bare value).
pub fn to_terminal() -> bool {
    std::io::stdout().is_terminal()
}

/// The reader's language for the runbooks' texts: `ja` when the locale says so.
pub fn lang() -> &'static str {
    let locale = ["LC_ALL", "LC_MESSAGES", "LANG"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|v| !v.is_empty())
        .unwrap_or_default();
    if locale.starts_with("ja") {
        "ja"
    } else {
        "en"
    }
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn a_servers_words_cannot_drive_the_terminal() {
        assert_eq!(clean("@brand\u{1b}]0;owned\u{7}"), "@brand?]0;owned?");
        assert_eq!(clean("x\r\nfake prompt$ "), "x??fake prompt$ ");
        assert_eq!(clean("ブランド @brand"), "ブランド @brand");
    }
}
