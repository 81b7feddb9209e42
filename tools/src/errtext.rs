//! An error and its causes on one line, for people: `{:#}` repeats a cause that the
//! error's own text already quotes (many library errors say `…: {source}` and also
//! return it as their source), and "No such file or directory" twice reads as two faults.

/// `e`'s message followed by each cause its text does not already contain.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read rule file x.rules: {source}")]
    struct Quoting {
        #[source]
        source: std::io::Error,
    }

    #[test]
    fn a_cause_the_message_quotes_is_said_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let e = anyhow::Error::new(Quoting { source: io }).context("loading rules");
        assert_eq!(
            one_line(&e),
            "loading rules: cannot read rule file x.rules: No such file"
        );
    }

    #[test]
    fn a_cause_not_quoted_is_added() {
        let e = anyhow::anyhow!("disk full").context("writing the spool");
        assert_eq!(one_line(&e), "writing the spool: disk full");
    }
}
