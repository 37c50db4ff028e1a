//! QR codes drawn as inline SVG, for the authenticator-app setup page: the
//! `otpauth://` URI, encoded by `qrcodegen` (error correction level M) and drawn here as
//! one `<path>` of unit squares with a four-module quiet zone. The SVG is made only of
//! numbers and fixed text, so the page can print it unescaped; it needs no script, no
//! style attribute and no outside service (the pages' CSP allows none of them).

use std::fmt::Write as _;

use qrcodegen::{QrCode, QrCodeEcc};

/// The quiet zone around the code, in modules (ISO/IEC 18004 asks for four).
const QUIET: i32 = 4;

/// `text` as an SVG QR code labelled `label` for screen readers; `None` if it is too
/// long for a QR code (an `otpauth://` URI never is).
pub fn svg(text: &str, label: &str) -> Option<String> {
    let code = QrCode::encode_text(text, QrCodeEcc::Medium).ok()?;
    let size = code.size();
    let full = size + 2 * QUIET;
    let mut path = String::new();
    for y in 0..size {
        for x in 0..size {
            if code.get_module(x, y) {
                let _ = write!(path, "M{},{}h1v1h-1z", x + QUIET, y + QUIET);
            }
        }
    }
    let label: String = label
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == ' ')
        .collect();
    Some(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"qr\" viewBox=\"0 0 {full} {full}\" \
         width=\"{px}\" height=\"{px}\" role=\"img\" aria-label=\"{label}\" \
         shape-rendering=\"crispEdges\"><rect width=\"{full}\" height=\"{full}\" fill=\"#fff\"/>\
         <path d=\"{path}\" fill=\"#000\"/></svg>",
        px = full * 5,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uri_becomes_an_svg_of_numbers_and_fixed_text_only() {
        let uri = "otpauth://totp/usher.example:alice?secret=JBSWY3DPEHPK3PXP&issuer=usher.example&algorithm=SHA1&digits=6&period=30";
        let svg = svg(uri, "QR code <of> the app's secret").unwrap();
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.ends_with("</svg>"));
        assert!(!svg.contains("style"), "{svg}");
        assert!(
            !svg.contains("JBSWY3DPEHPK3PXP"),
            "the secret is drawn, not written"
        );
        assert!(svg.contains("aria-label=\"QR code of the apps secret\""));
        // Only the path's commands and numbers between the fixed parts.
        let d = svg.split("d=\"").nth(1).unwrap().split('"').next().unwrap();
        assert!(d.chars().all(|c| "Mhvz,-0123456789".contains(c)), "{d}");
        // Same input, same drawing.
        assert_eq!(Some(svg), super::svg(uri, "QR code <of> the app's secret"));
    }
}
