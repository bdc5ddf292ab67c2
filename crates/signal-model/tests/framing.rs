//! The line framer against an independent model of what the frames must be,
//! in every chunking, and at the sizes that matter: the limit, one over, and
//! a line two hundred times the limit.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;
use proptest::prelude::*;
use signal_model::{Frame, LineFramer, MaxBytes, Signal, SignalError, SignalSize};

const LIMIT: MaxBytes = MaxBytes::MIN;

/// What the frames of `input` must be, written the obvious (unbounded) way.
fn model(input: &[u8], limit: MaxBytes) -> Vec<Frame> {
    let mut lines: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    // `split` yields one empty piece after a final `\n` (and for empty input):
    // that is no line.
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
        .into_iter()
        .zip(1u64..)
        .map(|(raw, line)| {
            let content = raw.strip_suffix(b"\r").unwrap_or(raw);
            if content.len() > limit.get() {
                Frame::TooLong {
                    line,
                    bytes_seen: content.len() as u64,
                    limit,
                }
            } else if content.iter().all(|b| b" \t\r".contains(b)) {
                Frame::Blank { line }
            } else {
                match std::str::from_utf8(content) {
                    Ok(_) => Frame::Line {
                        line,
                        bytes: Bytes::copy_from_slice(content),
                    },
                    Err(e) => Frame::NotUtf8 {
                        line,
                        valid_up_to: e.valid_up_to(),
                    },
                }
            }
        })
        .collect()
}

/// Feeds `input` cut at `cuts` (sizes, cycled), checking the buffer bound
/// after every step.
fn chunked(input: &[u8], cuts: &[usize], limit: MaxBytes) -> Vec<Frame> {
    let mut framer = LineFramer::new(limit);
    let mut frames = Vec::new();
    let mut rest = input;
    for &cut in cuts.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, after) = rest.split_at(cut.clamp(1, rest.len()));
        rest = after;
        let mut chunk = chunk;
        while let Some(frame) = framer.next_frame(&mut chunk) {
            frames.push(frame);
        }
        assert!(framer.buffer_capacity() <= limit.get() + 1);
    }
    frames.extend(framer.finish());
    frames
}

/// Inputs made of runs, so that lines near the limit are common: bytes that
/// matter to the framer (`\n`, `\r`, blanks, a broken UTF-8 sequence, the
/// start of a two-byte character) and plain text.
fn input() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        Just(b'\n'),
        Just(b'\r'),
        Just(b' '),
        Just(b'\t'),
        Just(b'x'),
        Just(b'{'),
        Just(0xc3),
        Just(0xa9),
        Just(0xff),
    ];
    let run = (byte, prop_oneof![1usize..4, 1000usize..1100]);
    prop::collection::vec(run, 0..12).prop_map(|runs| {
        runs.into_iter()
            .flat_map(|(b, n)| std::iter::repeat_n(b, n))
            .collect()
    })
}

proptest! {
    #[test]
    fn any_chunking_gives_the_frames_of_the_whole(input in input(), cuts in prop::collection::vec(1usize..300, 1..8)) {
        let whole: Vec<Frame> = LineFramer::split(&input, LIMIT).collect();
        prop_assert_eq!(&whole, &model(&input, LIMIT));
        prop_assert_eq!(&chunked(&input, &cuts, LIMIT), &whole);
        // Byte by byte, the worst chunking there is.
        prop_assert_eq!(&chunked(&input, &[1], LIMIT), &whole);
    }

    #[test]
    fn numbering_has_no_gaps(input in input()) {
        let lines: Vec<u64> = LineFramer::split(&input, LIMIT).map(|f| f.line()).collect();
        let expected: Vec<u64> = (1..=lines.len() as u64).collect();
        prop_assert_eq!(lines, expected);
    }
}

#[test]
fn every_cut_of_the_boundary_cases_agrees_with_the_model() {
    let limit = LIMIT.get();
    let x = |n: usize| "x".repeat(n);
    let cases = [
        format!("{}\n", x(limit)),
        format!("{}\r\n", x(limit)),
        format!("{}\r", x(limit)),
        format!("{}\r\r\n", x(limit)),
        format!("{}\r\n", x(limit - 1)),
        format!("{}\n", x(limit + 1)),
        format!("{}\r\n", x(limit + 1)),
        format!("{}\rx\n", x(limit)),
        x(limit + 1),
        format!("a\n{}\r\nb", x(limit)),
    ];
    for case in &cases {
        let input = case.as_bytes();
        let expected = model(input, LIMIT);
        assert_eq!(
            LineFramer::split(input, LIMIT).collect::<Vec<_>>(),
            expected
        );
        for cut in 1..input.len() {
            let mut framer = LineFramer::new(LIMIT);
            let mut frames = Vec::new();
            for mut chunk in [&input[..cut], &input[cut..]] {
                while let Some(frame) = framer.next_frame(&mut chunk) {
                    frames.push(frame);
                }
            }
            frames.extend(framer.finish());
            assert_eq!(
                frames,
                expected,
                "cut at {cut} of {:?}",
                &case[case.len().saturating_sub(4)..]
            );
        }
    }
}

#[test]
fn lines_at_the_limit_pass_and_one_byte_over_is_too_long() {
    let limit = LIMIT.get();
    let json = r#"{"id":"a","instrument":"B","side":"buy","pad":""#;
    let at_limit = format!("{json}{}\"}}", "x".repeat(limit - json.len() - 2));
    assert_eq!(at_limit.len(), limit);
    let over = format!("{json}{}\"}}", "x".repeat(limit - json.len() - 1));
    let input = format!("{at_limit}\n{over}\r\n{at_limit}\r\n");
    let frames: Vec<Frame> = LineFramer::split(input.as_bytes(), LIMIT).collect();
    assert_eq!(frames.len(), 3);
    assert_eq!(frames[0].to_signal().unwrap().unwrap().body().len(), limit);
    assert_eq!(
        frames[1].to_signal(),
        Some(Err(SignalError::TooLarge {
            size: SignalSize::Exactly(limit as u64 + 1),
            limit: LIMIT
        }))
    );
    assert_eq!(frames[2].to_signal().unwrap().unwrap().id(), "a");
    // The framer and from_json_limited draw the line at the same byte.
    assert!(Signal::from_json_limited(at_limit.as_bytes(), LIMIT).is_ok());
    assert!(Signal::from_json_limited(over.as_bytes(), LIMIT).is_err());
}

#[test]
fn a_200_mb_line_is_counted_not_kept() {
    const LINE: u64 = 200 * 1024 * 1024;
    let limit = MaxBytes::DEFAULT;
    let mut framer = LineFramer::new(limit);
    let mut frames = Vec::new();
    let mut feed = |framer: &mut LineFramer, mut chunk: &[u8]| {
        while let Some(frame) = framer.next_frame(&mut chunk) {
            frames.push(frame);
        }
        assert!(framer.buffer_capacity() <= limit.get() + 1);
    };
    feed(
        &mut framer,
        b"{\"id\":\"before\",\"instrument\":\"B\",\"side\":\"buy\"}\n",
    );
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..LINE / chunk.len() as u64 {
        feed(&mut framer, &chunk);
    }
    feed(
        &mut framer,
        b"\n{\"id\":\"after\",\"instrument\":\"B\",\"side\":\"sell\"}\n",
    );
    frames.extend(framer.finish());

    assert_eq!(frames.len(), 3, "{frames:?}");
    assert_eq!(
        frames[1],
        Frame::TooLong {
            line: 2,
            bytes_seen: LINE,
            limit
        }
    );
    let ids: Vec<String> = [&frames[0], &frames[2]]
        .iter()
        .map(|f| f.to_signal().unwrap().unwrap().id().to_owned())
        .collect();
    assert_eq!(ids, ["before", "after"]);
    // The buffer grew to hold one line of at most the limit, and no more.
    assert!(framer.buffer_capacity() <= limit.get() + 1);
}

#[test]
fn invalid_utf8_in_the_middle_of_a_stream_spoils_one_line() {
    let good = |id: &str| format!(r#"{{"id":"{id}","instrument":"B","side":"buy"}}"#);
    let mut input = format!("{}\n{}\n", good("s1"), good("s2")).into_bytes();
    input.extend_from_slice(b"{\"id\":\"s3\xc3\",\"instrument\":\"B\",\"side\":\"buy\"}\n");
    input.extend_from_slice(format!("{}\n{}", good("s4"), good("s5")).as_bytes());
    for cut in [1, 7, 64, input.len()] {
        let frames = chunked(&input, &[cut], LIMIT);
        let outcomes: Vec<Result<String, SignalError>> = frames
            .iter()
            .map(|f| f.to_signal().unwrap().map(|s| s.id().to_owned()))
            .collect();
        assert_eq!(
            outcomes,
            [
                Ok("s1".to_owned()),
                Ok("s2".to_owned()),
                Err(SignalError::NotUtf8 { valid_up_to: 9 }),
                Ok("s4".to_owned()),
                Ok("s5".to_owned()),
            ],
            "chunks of {cut}"
        );
    }
}

#[test]
fn crlf_input_and_a_missing_final_newline() {
    let input = b"{\"id\":\"a\",\"instrument\":\"B\",\"side\":\"buy\"}\r\n\r\n{\"id\":\"b\",\"instrument\":\"B\",\"side\":\"buy\"}";
    let frames: Vec<Frame> = LineFramer::split(input, LIMIT).collect();
    assert_eq!(frames.len(), 3);
    assert_eq!(frames[1], Frame::Blank { line: 2 });
    let body = frames[0].to_signal().unwrap().unwrap();
    assert!(
        body.body().ends_with(b"}"),
        "the \\r is not part of the body"
    );
    assert_eq!(frames[2].to_signal().unwrap().unwrap().id(), "b");
    assert_eq!(LineFramer::split(b"", LIMIT).count(), 0);
}
