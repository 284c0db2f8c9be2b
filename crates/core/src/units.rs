//! How sizes are written for people, the same in the CLI, the tray's
//! notifications and the window: binary units (1 KiB = 1024 bytes), one
//! decimal. The window's page has the one JavaScript twin of
//! [`format_bytes`] (`size` in `ui/js/util.js`), rounding the same way.

/// "850 B", "1.5 KiB", "12.3 MiB", "4.0 GiB": binary units, one decimal,
/// halves rounded up.
#[must_use]
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut unit: u128 = 1024;
    let mut i = 0;
    while u128::from(bytes) >= unit * 1024 && i < UNITS.len() - 1 {
        unit *= 1024;
        i += 1;
    }
    // Whole tenths, in integers: no float rounding to differ from the page's.
    let tenths = (u128::from(bytes) * 10 + unit / 2) / unit;
    format!("{}.{} {}", tenths / 10, tenths % 10, UNITS[i])
}

#[cfg(test)]
mod tests {
    use super::format_bytes;

    #[test]
    fn sizes_are_binary_units_with_one_decimal() {
        let cases = [
            (0, "0 B"),
            (1023, "1023 B"),
            (1024, "1.0 KiB"),
            (1280, "1.3 KiB"),
            (1536, "1.5 KiB"),
            (10 * 1024 * 1024 + 300 * 1024, "10.3 MiB"),
            (1024 * 1024 - 1, "1024.0 KiB"),
            (5 * 1024 * 1024 * 1024, "5.0 GiB"),
            (3 * (1u64 << 40), "3.0 TiB"),
            (2048 * (1u64 << 40), "2048.0 TiB"),
            (u64::MAX, "16777216.0 TiB"),
        ];
        for (bytes, text) in cases {
            assert_eq!(format_bytes(bytes), text, "{bytes}");
        }
    }
}
