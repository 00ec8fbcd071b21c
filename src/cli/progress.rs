//! Progress bars of the commands: each says what it shows in its template; they are made alike.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar drawn as `template` says (indicatif's template language), its length set once the work
/// is counted.
pub fn bar(template: &str) -> ProgressBar {
    ProgressBar::new(0).with_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    )
}
