//! Number formatting shared by the tables, the report and the chart labels.

/// Bytes in the GB of tables and charts (decimal, as file managers and the MPT table use).
pub const GB: f64 = 1e9;

/// Cell of a value that was not measured.
pub const DASH: &str = "-";

/// `v` with `decimals` decimals, trailing zeros (and a trailing dot) removed: 5593.60 → `5593.6`.
pub fn trim_float(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Decimals that show `sig` significant digits of `v` (at least 0, at most 9).
pub fn sig_decimals(v: f64, sig: i32) -> usize {
    if v == 0.0 || !v.is_finite() {
        return sig.max(0) as usize;
    }
    let mag = v.abs().log10().floor() as i32;
    (sig - 1 - mag).clamp(0, 9) as usize
}

/// `v` with `sig` significant digits, fixed notation.
pub fn sig(v: f64, sig: i32) -> String {
    let d = sig_decimals(v, sig);
    format!("{v:.d$}")
}

/// `13.9797 ± 0.1039`: value and error with the same fixed decimals.
pub fn pm(v: f64, err: f64, decimals: usize) -> String {
    format!("{v:.decimals$} ± {err:.decimals$}")
}

/// `v ± err` with `sig` significant digits of the value; the error gets the same decimals.
pub fn pm_sig(v: f64, err: f64, sig_digits: i32) -> String {
    pm(v, err, sig_decimals(v, sig_digits))
}

/// File size in GB for tables: two decimals, three below 0.1 GB so small models keep a digit.
pub fn gb(bytes: u64) -> String {
    let g = bytes as f64 / GB;
    if g < 0.1 {
        format!("{g:.3}")
    } else {
        format!("{g:.2}")
    }
}

/// Optional value or a dash.
pub fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.filter(|x| x.is_finite())
        .map(f)
        .unwrap_or_else(|| DASH.to_string())
}

/// A tick label: no needless decimals, thousands without a fraction, tiny and huge values as
/// `2e-6`, `5e6`.
pub fn tick(v: f64) -> String {
    let a = v.abs();
    if (a > 0.0 && a < 1e-3) || a >= 1e5 {
        format!("{:e}", v as f32)
    } else if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        trim_float(v, 1)
    } else if a >= 1.0 {
        trim_float(v, 2)
    } else {
        trim_float(v, 4)
    }
}

/// A CSV cell: full precision for numbers, empty for unmeasured.
pub fn csv_num(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x}"),
        _ => String::new(),
    }
}

pub fn csv_int(v: Option<u64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_published_table() {
        assert_eq!(pm(13.97971, 0.103901, 4), "13.9797 ± 0.1039");
        assert_eq!(trim_float(5593.60, 2), "5593.6");
        assert_eq!(trim_float(4266.0, 2), "4266");
        assert_eq!(gb(410_000_000), "0.41");
        assert_eq!(gb(67_000_000), "0.067");
        assert_eq!(sig(0.000512345, 3), "0.000512");
        assert_eq!(pm_sig(0.0123, 0.0004, 3), "0.0123 ± 0.0004");
        assert_eq!(tick(16.0), "16");
        assert_eq!(tick(2.5), "2.5");
        assert_eq!(tick(0.002), "0.002");
        assert_eq!(tick(0.0005), "5e-4");
        assert_eq!(tick(2e-6), "2e-6");
        assert_eq!(tick(1.5e-5), "1.5e-5");
        assert_eq!(tick(20000.0), "20000");
        assert_eq!(tick(5e6), "5e6");
        assert_eq!(opt(None, |x| x.to_string()), "-");
    }
}
