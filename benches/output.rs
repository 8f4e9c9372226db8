//! Hot paths of the output module: sanitizing a busy host's stream, folding 2,000 outputs,
//! compacting 2,000 host names.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use fleetdeck::output::{compact, fold, Sanitizer};

fn sanitize(c: &mut Criterion) {
    let mut group = c.benchmark_group("sanitize");
    // Typical log output: ASCII lines with some colour.
    let mut text = Vec::new();
    for i in 0..20_000 {
        text.extend_from_slice(
            format!("\x1b[32m{i:>6}\x1b[0m 2026-01-01T00:00:00Z INFO request served in 12ms\n")
                .as_bytes(),
        );
    }
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("colored_lines", |b| {
        b.iter(|| {
            let mut s = Sanitizer::new();
            let mut n = 0;
            for chunk in text.chunks(32 * 1024) {
                n += s.feed(black_box(chunk)).len();
            }
            n
        });
    });
    group.bench_function("colored_lines_feed_each", |b| {
        b.iter(|| {
            let mut s = Sanitizer::new();
            let mut n = 0;
            for chunk in text.chunks(32 * 1024) {
                s.feed_each(black_box(chunk), |l| n += l.spans.len());
            }
            n
        });
    });
    // 10 MB without a newline.
    let long = vec![b'x'; 10 * 1024 * 1024];
    group.throughput(Throughput::Bytes(long.len() as u64));
    group.sample_size(10);
    group.bench_function("10MB_no_newline", |b| {
        b.iter(|| {
            let mut s = Sanitizer::new();
            let mut n = 0;
            for chunk in long.chunks(32 * 1024) {
                n += s.feed(black_box(chunk)).len();
            }
            n
        });
    });
    // Hostile: escapes, invalid UTF-8 and wide characters mixed.
    let hostile: Vec<u8> =
        b"\x1b]0;title\x07\x1b[2J\xff\xfe\xe6\x97\xa5\xe6\x9c\xac\t\x1bPq#0\x1b\\ok\r\n"
            .repeat(50_000);
    group.throughput(Throughput::Bytes(hostile.len() as u64));
    group.bench_function("hostile", |b| {
        b.iter(|| {
            let mut s = Sanitizer::new();
            s.feed(black_box(&hostile)).len()
        });
    });
    group.finish();
}

fn gather(c: &mut Criterion) {
    let outputs: Vec<(String, Vec<u8>)> = (0..2000)
        .map(|i| {
            let body = if i % 50 == 0 {
                format!("error on {i}\n")
            } else {
                "ok\n".repeat(200)
            };
            (format!("web{i:04}"), body.into_bytes())
        })
        .collect();
    c.bench_function("fold_2000_hosts", |b| {
        b.iter(|| fold(black_box(&outputs)).len());
    });
    let names: Vec<String> = (0..2000)
        .filter(|i| i % 7 != 0)
        .map(|i| format!("web{i:04}"))
        .collect();
    c.bench_function("compact_2000_hosts", |b| {
        b.iter(|| compact(black_box(&names)).len());
    });
}

criterion_group!(benches, sanitize, gather);
criterion_main!(benches);
