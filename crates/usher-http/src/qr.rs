//! QR codes for setting up an authenticator app, made by Usher itself (no outside
//! service sees the secret) as SVG markup to put inline in the page: no script, no
//! image request, nothing the page CSP has to allow.

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

/// The QR code of `text` as an `<svg>` element (without XML declaration), or `None` if
/// the text is too long for a QR code (it never is for an `otpauth://` URI).
pub fn svg(text: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).ok()?;
    let image = code
        .render::<svg::Color<'_>>()
        .min_dimensions(220, 220)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .quiet_zone(true)
        .build();
    let start = image.find("<svg")?;
    let element = &image[start..];
    Some(element.replacen(
        "<svg",
        "<svg role=\"img\" aria-label=\"QR code of the authenticator-app setup link\"",
        1,
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_otpauth_uri_becomes_one_inline_svg_element() {
        let uri = "otpauth://totp/usher.example:alice?secret=JBSWY3DPEHPK3PXP&issuer=usher.example&algorithm=SHA1&digits=6&period=30";
        let svg = super::svg(uri).expect("fits in a QR code");
        assert!(svg.starts_with("<svg role=\"img\""), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(!svg.contains("<?xml"));
        assert!(
            !svg.contains("style="),
            "the page CSP forbids inline styles"
        );
    }
}
