//! RFC 3261 §20.12: undoing a body's `Content-Encoding` (identity,
//! deflate, gzip) within a bound, before its media type is read. Below
//! [`crate::body`], which translates by media type, and below the modules
//! that read a body themselves (isComposing, IMDN).

use std::io::Read;

use crate::failure::MappingError;

/// Bound on a body after inflating (design §5: every input has a bound).
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

/// The content codings [`decode_content_coding`] undoes, as a 415 for an
/// unknown coding lists them (RFC 3261 §21.4.13, §20.2).
pub(crate) const ACCEPT_ENCODING: &str = "gzip, deflate, identity";

/// RFC 3261 §20.12: `Content-Encoding`. `deflate` is what linphone sends
/// (real-clients/linphone-5.1-iscomposing.sip); it is the zlib format of RFC
/// 1950 by the HTTP definition, but raw RFC 1951 streams occur too.
pub(crate) fn decode_content_coding<'a>(
    encoding: Option<&str>,
    raw: &'a [u8],
) -> Result<std::borrow::Cow<'a, [u8]>, MappingError> {
    // No Content-Encoding (the usual MESSAGE): the bound is all there is
    // to check (issue 24).
    if encoding.is_none() && raw.len() <= MAX_BODY_BYTES {
        return Ok(std::borrow::Cow::Borrowed(raw));
    }
    let codings: Vec<String> = encoding
        .unwrap_or_default()
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty() && c != "identity")
        .collect();
    if raw.len() > MAX_BODY_BYTES {
        return Err(MappingError::BodyTooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    let mut data = std::borrow::Cow::Borrowed(raw);
    // Codings are listed in the order applied; undo them last to first.
    for coding in codings.iter().rev() {
        data = std::borrow::Cow::Owned(match coding.as_str() {
            "deflate" => match inflate_bounded(flate2::read::ZlibDecoder::new(&data[..])) {
                Err(MappingError::InvalidBody { .. }) => {
                    inflate_bounded(flate2::read::DeflateDecoder::new(&data[..]))?
                }
                other => other?,
            },
            "gzip" | "x-gzip" => inflate_bounded(flate2::read::GzDecoder::new(&data[..]))?,
            _ => return Err(MappingError::UnsupportedContentEncoding),
        });
    }
    Ok(data)
}

fn inflate_bounded(reader: impl Read) -> Result<Vec<u8>, MappingError> {
    let mut out = Vec::new();
    // Read one byte past the bound to tell "exactly at" from "over".
    reader
        .take(MAX_BODY_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| MappingError::InvalidBody {
            reason: "content coding does not decode",
        })?;
    if out.len() > MAX_BODY_BYTES {
        return Err(MappingError::BodyTooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::Write;

    use super::*;

    /// RFC 3261 §21.4.13, §20.2: each coding [`ACCEPT_ENCODING`] lists is undone.
    #[test]
    fn every_coding_accept_encoding_lists_is_undone() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"hi").unwrap();
        let gzip = gz.finish().unwrap();
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(b"hi").unwrap();
        let zlib = z.finish().unwrap();
        for coding in ACCEPT_ENCODING.split(", ") {
            let raw: &[u8] = match coding {
                "gzip" => &gzip,
                "deflate" => &zlib,
                _ => b"hi",
            };
            assert_eq!(
                decode_content_coding(Some(coding), raw).unwrap().as_ref(),
                b"hi",
                "{coding}"
            );
        }
    }
}
