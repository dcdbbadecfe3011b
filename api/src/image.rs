//! What kind of image a client sent, by its content (never by its name or declared type): the
//! one sniffer for avatars and thumbnails, which store and serve each image as what it is.

/// An image format the API accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageKind {
    Jpeg,
    Png,
    Gif,
    WebP,
}

impl ImageKind {
    /// The format of `bytes`, from its signature.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        match bytes {
            [0xFF, 0xD8, 0xFF, ..] => Some(ImageKind::Jpeg),
            [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Some(ImageKind::Png),
            [b'G', b'I', b'F', b'8', b'7' | b'9', b'a', ..] => Some(ImageKind::Gif),
            [
                b'R',
                b'I',
                b'F',
                b'F',
                _,
                _,
                _,
                _,
                b'W',
                b'E',
                b'B',
                b'P',
                ..,
            ] => Some(ImageKind::WebP),
            _ => None,
        }
    }

    pub fn ext(self) -> &'static str {
        match self {
            ImageKind::Jpeg => "jpg",
            ImageKind::Png => "png",
            ImageKind::Gif => "gif",
            ImageKind::WebP => "webp",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ImageKind::Jpeg => "image/jpeg",
            ImageKind::Png => "image/png",
            ImageKind::Gif => "image/gif",
            ImageKind::WebP => "image/webp",
        }
    }

    /// The kind a stored key names by its extension (thumbnails keep theirs).
    pub fn of_key(key: &str) -> Option<Self> {
        match key.rsplit('.').next()? {
            "jpg" | "jpeg" => Some(ImageKind::Jpeg),
            "png" => Some(ImageKind::Png),
            "gif" => Some(ImageKind::Gif),
            "webp" => Some(ImageKind::WebP),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_decide_and_round_trip_through_the_extension() {
        let samples: [(&[u8], ImageKind); 4] = [
            (&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0], ImageKind::Jpeg),
            (b"\x89PNG\r\n\x1a\n\0\0", ImageKind::Png),
            (b"GIF89a\0\0", ImageKind::Gif),
            (b"RIFF\0\0\0\0WEBPVP8 ", ImageKind::WebP),
        ];
        for (bytes, kind) in samples {
            assert_eq!(ImageKind::sniff(bytes), Some(kind));
            assert_eq!(
                ImageKind::of_key(&format!("a/b.{}", kind.ext())),
                Some(kind)
            );
        }
        // A PNG signature cut short, a name that only says PNG, text: none is an image.
        for bytes in [&b"\x89PNG"[..], b"image.png", b"<svg/>", b""] {
            assert_eq!(ImageKind::sniff(bytes), None);
        }
    }
}
