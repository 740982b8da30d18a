use aktion_media::{
    DecodeLimits, MediaError, decode_image, encode_png, image_dimensions, png_text, thumbnail,
    thumbnail_from_bytes,
};
use image::Rgba;

use super::util::{close, encode_jpeg, noise, png_chunk, solid, test_picture};

fn limits() -> DecodeLimits {
    DecodeLimits::default()
}

#[test]
fn default_limits_match_the_contract() {
    let l = DecodeLimits::default();
    assert_eq!(l.max_pixels, 100_000_000);
    assert_eq!(l.max_dimension, 20_000);
    assert_eq!(l.max_bytes, 256 * 1024 * 1024);
}

#[test]
fn png_round_trips_pixels_and_text() {
    let mut img = test_picture(37, 23);
    img.put_pixel(3, 4, Rgba([1, 2, 3, 4])); // translucent pixel must survive exactly
    let bytes = encode_png(
        &img,
        &[("aktion:draft", "true"), ("prompt", "a café at dusk")],
    )
    .unwrap();
    assert_eq!(decode_image(&bytes, &limits()).unwrap(), img);
    assert_eq!(image_dimensions(&bytes).unwrap(), (37, 23));
    assert_eq!(
        png_text(&bytes).unwrap(),
        vec![
            ("aktion:draft".to_owned(), "true".to_owned()),
            ("prompt".to_owned(), "a café at dusk".to_owned()),
        ]
    );
    assert!(
        png_text(&encode_png(&img, &[]).unwrap())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn png_text_refuses_bad_keywords_and_non_png() {
    let img = solid(4, 4, [0, 0, 0, 255]);
    assert!(matches!(
        encode_png(&img, &[("", "x")]),
        Err(MediaError::InvalidArgument(_))
    ));
    let long = "k".repeat(80);
    assert!(matches!(
        encode_png(&img, &[(&long, "x")]),
        Err(MediaError::InvalidArgument(_))
    ));
    assert!(matches!(
        encode_png(&img, &[("k", "日本")]),
        Err(MediaError::InvalidArgument(_))
    ));
    assert!(matches!(
        png_text(b"GIF89a"),
        Err(MediaError::Unsupported(_))
    ));
    let bytes = encode_png(&img, &[("a", "b")]).unwrap();
    assert!(matches!(
        png_text(&bytes[..bytes.len() - 20]),
        Err(MediaError::Truncated { .. })
    ));
}

#[test]
fn jpeg_round_trips_approximately() {
    let img = test_picture(64, 48);
    let bytes = encode_jpeg(&img, 95);
    let decoded = decode_image(&bytes, &limits()).unwrap();
    assert_eq!(decoded.dimensions(), (64, 48));
    // Lossy, but a smooth area must come back close to the original.
    assert!(close(
        decoded.get_pixel(40, 30).0,
        img.get_pixel(40, 30).0,
        40
    ));
}

/// A JPEG with an EXIF APP1 segment saying "rotate 90° clockwise to display" (orientation 6).
fn jpeg_with_orientation_6() -> Vec<u8> {
    // Left half red, right half blue: after the rotation red must be on top.
    let img = image::RgbaImage::from_fn(64, 32, |x, _| {
        if x < 32 {
            Rgba([255, 0, 0, 255])
        } else {
            Rgba([0, 0, 255, 255])
        }
    });
    let jpeg = encode_jpeg(&img, 95);
    let mut tiff = Vec::new();
    tiff.extend_from_slice(b"II*\0");
    tiff.extend_from_slice(&8u32.to_le_bytes()); // first IFD right after the header
    tiff.extend_from_slice(&1u16.to_le_bytes()); // one entry
    tiff.extend_from_slice(&0x0112u16.to_le_bytes()); // Orientation
    tiff.extend_from_slice(&3u16.to_le_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_le_bytes()); // count
    tiff.extend_from_slice(&[6, 0, 0, 0]); // value 6, padded
    tiff.extend_from_slice(&0u32.to_le_bytes()); // no next IFD
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(&tiff);
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&jpeg[2..]); // everything after the original SOI
    out
}

#[test]
fn exif_orientation_is_applied() {
    let bytes = jpeg_with_orientation_6();
    // The header still says 64×32: orientation is metadata.
    assert_eq!(image_dimensions(&bytes).unwrap(), (64, 32));
    let img = decode_image(&bytes, &limits()).unwrap();
    assert_eq!(img.dimensions(), (32, 64));
    let top = img.get_pixel(16, 10).0;
    let bottom = img.get_pixel(16, 54).0;
    assert!(top[0] > 200 && top[2] < 60, "top should be red: {top:?}");
    assert!(
        bottom[2] > 200 && bottom[0] < 60,
        "bottom should be blue: {bottom:?}"
    );
    // The fast thumbnail path rotates too.
    let thumb = thumbnail_from_bytes(&bytes, 16, &limits()).unwrap();
    assert_eq!(thumb.dimensions(), (8, 16));
    assert!(thumb.get_pixel(4, 2).0[0] > 200);
}

#[test]
fn empty_input_is_empty() {
    assert!(matches!(
        decode_image(&[], &limits()),
        Err(MediaError::Empty)
    ));
    assert!(matches!(image_dimensions(&[]), Err(MediaError::Empty)));
    assert!(matches!(
        thumbnail_from_bytes(&[], 64, &limits()),
        Err(MediaError::Empty)
    ));
}

#[test]
fn unsupported_inputs_are_named_unsupported() {
    for bytes in [
        noise(4096, 7),
        b"Dear diary, today I imported a text file.\n".to_vec(),
        b"RIFF\x24\0\0\0WAVEfmt ".to_vec(),
        b"BM\x3a\0\0\0\0\0\0\0\x36\0\0\0\x28\0\0\0".to_vec(),
    ] {
        let err = decode_image(&bytes, &limits()).unwrap_err();
        assert!(matches!(err, MediaError::Unsupported(_)), "{err:?}");
    }
    let wav = decode_image(b"RIFF\x24\0\0\0WAVEfmt ", &limits()).unwrap_err();
    assert!(wav.to_string().contains("audio/wav"), "{wav}");
}

#[test]
fn truncated_files_are_truncated() {
    let png = encode_png(&test_picture(200, 200), &[]).unwrap();
    let err = decode_image(&png[..png.len() / 2], &limits()).unwrap_err();
    assert!(
        matches!(err, MediaError::Truncated { format: "PNG", .. }),
        "{err:?}"
    );

    let jpeg = encode_jpeg(&test_picture(200, 200), 90);
    let err = decode_image(&jpeg[..jpeg.len() * 6 / 10], &limits()).unwrap_err();
    assert!(
        matches!(err, MediaError::Truncated { format: "JPEG", .. }),
        "{err:?}"
    );
    // Cut inside the header: no image data at all.
    let err = decode_image(&jpeg[..20], &limits()).unwrap_err();
    assert!(matches!(err, MediaError::Truncated { .. }), "{err:?}");
}

#[test]
fn corrupt_data_is_corrupt() {
    let mut png = encode_png(&test_picture(64, 64), &[]).unwrap();
    // Overwrite the middle of the compressed data (CRC now wrong too).
    let middle = png.len() / 2;
    for (i, byte) in png[middle..middle + 64].iter_mut().enumerate() {
        *byte = (i * 37) as u8;
    }
    let err = decode_image(&png, &limits()).unwrap_err();
    assert!(
        matches!(err, MediaError::Corrupt { format: "PNG", .. }),
        "{err:?}"
    );

    // A PNG signature followed by noise.
    let mut fake = b"\x89PNG\r\n\x1a\n".to_vec();
    fake.extend(noise(256, 3));
    let err = decode_image(&fake, &limits()).unwrap_err();
    assert!(
        matches!(
            err,
            MediaError::Corrupt { .. } | MediaError::Truncated { .. }
        ),
        "{err:?}"
    );
}

/// A ~70-byte PNG whose IHDR claims `width × height`: a decompression bomb.
fn bomb_png(width: u32, height: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]); // 8-bit RGBA
    png_chunk(&mut out, *b"IHDR", &ihdr);
    // A valid zlib stream of a few zero bytes; a real bomb would be megabytes of zeros.
    png_chunk(
        &mut out,
        *b"IDAT",
        &[0x78, 0x9C, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01],
    );
    png_chunk(&mut out, *b"IEND", &[]);
    out
}

#[test]
fn decompression_bomb_is_refused_from_the_header() {
    let bomb = bomb_png(100_000, 100_000);
    assert!(bomb.len() < 100);
    assert_eq!(image_dimensions(&bomb).unwrap(), (100_000, 100_000));
    let started = std::time::Instant::now();
    let err = decode_image(&bomb, &limits()).unwrap_err();
    // 40 GB would be needed to decode it: getting an answer at all proves nothing was allocated,
    // and the error names the declared size.
    assert!(
        matches!(
            err,
            MediaError::TooLarge {
                width: 100_000,
                height: 100_000,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("100000×100000"), "{err}");
    assert!(started.elapsed().as_secs() < 2);
    // Under the side limit but over the pixel limit.
    let err = decode_image(&bomb_png(15_000, 15_000), &limits()).unwrap_err();
    assert!(
        matches!(err, MediaError::TooLarge { width: 15_000, .. }),
        "{err:?}"
    );
    let err = thumbnail_from_bytes(&bomb, 256, &limits()).unwrap_err();
    assert!(matches!(err, MediaError::TooLarge { .. }), "{err:?}");
}

#[test]
fn custom_limits_apply() {
    let png = encode_png(&test_picture(300, 200), &[]).unwrap();
    let tight = DecodeLimits {
        max_pixels: 10_000,
        ..DecodeLimits::default()
    };
    assert!(matches!(
        decode_image(&png, &tight),
        Err(MediaError::TooLarge {
            width: 300,
            height: 200,
            ..
        })
    ));
    let narrow = DecodeLimits {
        max_dimension: 250,
        ..DecodeLimits::default()
    };
    assert!(matches!(
        decode_image(&png, &narrow),
        Err(MediaError::TooLarge { .. })
    ));
    let small = DecodeLimits {
        max_bytes: 100,
        ..DecodeLimits::default()
    };
    assert!(matches!(
        decode_image(&png, &small),
        Err(MediaError::TooManyBytes { max: 100, .. })
    ));
}

#[test]
fn thumbnails_keep_aspect_and_bounds() {
    let img = test_picture(300, 100);
    let thumb = thumbnail(&img, 64).unwrap();
    assert_eq!(thumb.dimensions(), (64, 21));
    let tall = thumbnail(&test_picture(90, 400), 100).unwrap();
    assert_eq!(tall.dimensions(), (23, 100));
    // Never upscales.
    assert_eq!(thumbnail(&img, 1000).unwrap(), img);
    // Extreme aspect keeps at least one pixel.
    assert_eq!(
        thumbnail(&test_picture(5000, 2), 50).unwrap().dimensions(),
        (50, 1)
    );
    assert!(matches!(
        thumbnail(&img, 0),
        Err(MediaError::InvalidArgument(_))
    ));
    // Content survives: the left edge stays dark red-free, the right edge red.
    assert!(thumb.get_pixel(63, 10).0[0] > thumb.get_pixel(0, 10).0[0] + 150);

    let jpeg = encode_jpeg(&test_picture(400, 200), 90);
    let from_bytes = thumbnail_from_bytes(&jpeg, 100, &limits()).unwrap();
    assert_eq!(from_bytes.dimensions(), (100, 50));
    let png = encode_png(&test_picture(50, 40), &[]).unwrap();
    assert_eq!(
        thumbnail_from_bytes(&png, 100, &limits())
            .unwrap()
            .dimensions(),
        (50, 40)
    );
}

#[test]
fn gif_and_webp_still_decode() {
    let img = test_picture(20, 10);
    let mut gif = Vec::new();
    image::codecs::gif::GifEncoder::new(&mut gif)
        .encode(img.as_raw(), 20, 10, image::ExtendedColorType::Rgba8)
        .unwrap();
    assert_eq!(
        decode_image(&gif, &limits()).unwrap().dimensions(),
        (20, 10)
    );
    let mut webp = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut webp)
        .encode(img.as_raw(), 20, 10, image::ExtendedColorType::Rgba8)
        .unwrap();
    assert_eq!(decode_image(&webp, &limits()).unwrap(), img);
}
