//! The table: runs every row for every library over alternating rounds, then prints medians,
//! ratios to libzmq from the same round, and each target with whether monocoque meets it.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::common::BoxError;
use crate::harness::{self, Row, Sample, Wrap};
use crate::spec::{Kind, Lib};

struct Options {
    rounds: usize,
    filters: Vec<String>,
    libs: Vec<Lib>,
    scale: f64,
    timeout: Duration,
    latency_pinned: bool,
    out: PathBuf,
}

fn parse(args: &[String]) -> Result<Options, BoxError> {
    let mut o = Options {
        rounds: 5,
        filters: Vec::new(),
        libs: Lib::ALL.to_vec(),
        scale: 1.0,
        timeout: Duration::from_secs(60),
        latency_pinned: true,
        out: PathBuf::from("target/bench"),
    };
    for arg in args {
        let (key, value) = arg
            .split_once('=')
            .ok_or_else(|| format!("expected key=value, got {arg:?}"))?;
        match key {
            "rounds" => o.rounds = value.parse::<usize>()?.max(1),
            "filter" => {
                o.filters = value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            }
            "libs" => {
                let mut libs = vec![Lib::Zmq];
                for name in value.split(',') {
                    let lib = Lib::parse(name.trim()).ok_or(format!("unknown lib {name:?}"))?;
                    if !libs.contains(&lib) {
                        libs.push(lib);
                    }
                }
                libs.sort_by_key(|l| l.index());
                o.libs = libs;
            }
            "scale" => o.scale = value.parse()?,
            "timeout" => o.timeout = Duration::from_secs_f64(value.parse()?),
            "latpin" => o.latency_pinned = value != "0",
            "out" => o.out = PathBuf::from(value),
            _ => {
                return Err(format!(
                    "unknown argument {key:?}: rounds=N filter=a,b libs=a,b scale=F timeout=S latpin=0|1 out=DIR"
                )
                .into());
            }
        }
    }
    Ok(o)
}

/// Every measurement of one library on one row: one entry per round, or why it was not run.
enum Cell {
    NotApplicable(&'static str),
    Rounds(Vec<Result<Sample, String>>),
}

impl Cell {
    fn values(&self, metric: &str) -> Vec<Option<f64>> {
        match self {
            Self::NotApplicable(_) => Vec::new(),
            Self::Rounds(rounds) => rounds
                .iter()
                .map(|r| r.as_ref().ok().and_then(|s| s.get(metric).copied()))
                .collect(),
        }
    }

    fn median(&self, metric: &str) -> Option<f64> {
        median(self.values(metric).into_iter().flatten().collect())
    }

    fn failures(&self) -> usize {
        match self {
            Self::NotApplicable(_) => 0,
            Self::Rounds(rounds) => rounds.iter().filter(|r| r.is_err()).count(),
        }
    }
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

/// The median over rounds of `a`'s figure divided by `b`'s figure from the same round.
fn paired(a: &Cell, metric_a: &str, b: &Cell, metric_b: &str) -> Option<f64> {
    let (a, b) = (a.values(metric_a), b.values(metric_b));
    median(
        a.iter()
            .zip(&b)
            .filter_map(|(x, y)| match (x, y) {
                (Some(x), Some(y)) if *y != 0.0 => Some(x / y),
                _ => None,
            })
            .collect(),
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Unit {
    Rate,
    Bandwidth,
    Micros,
    KiB,
    /// Delivered messages per second, with the loss beside it.
    Delivered,
}

impl Unit {
    fn higher_is_better(self) -> bool {
        matches!(self, Self::Rate | Self::Bandwidth | Self::Delivered)
    }
}

fn format_value(unit: Unit, v: f64) -> String {
    match unit {
        Unit::Rate | Unit::Delivered => {
            if v >= 1e6 {
                format!("{:.2}M/s", v / 1e6)
            } else if v >= 1e3 {
                format!("{:.0}k/s", v / 1e3)
            } else {
                format!("{v:.0}/s")
            }
        }
        Unit::Bandwidth => {
            if v >= 1000.0 {
                format!("{:.2} GB/s", v / 1000.0)
            } else {
                format!("{v:.0} MB/s")
            }
        }
        Unit::Micros => {
            if v >= 100.0 {
                format!("{v:.0} µs")
            } else {
                format!("{v:.1} µs")
            }
        }
        Unit::KiB => format!("{v:.1} KiB"),
    }
}

/// One printed line of the table: one figure of one row.
struct Line {
    row: usize,
    metric: &'static str,
    label: String,
    unit: Unit,
}

fn lines(rows: &[Row]) -> Vec<Line> {
    let mut out = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let label = row.label();
        let mut push = |metric, label: String, unit| {
            out.push(Line {
                row: i,
                metric,
                label,
                unit,
            })
        };
        match row.kind {
            Kind::Thr if row.size >= 64 << 10 => push("mb_per_s", label, Unit::Bandwidth),
            Kind::Thr | Kind::Proxy => push("msgs_per_s", label, Unit::Rate),
            Kind::Lat => {
                push("p50_us", format!("{label} p50"), Unit::Micros);
                push("p99_us", format!("{label} p99"), Unit::Micros);
                push("p999_us", format!("{label} p99.9"), Unit::Micros);
            }
            Kind::Fanout => push("delivered_per_s", label, Unit::Delivered),
            Kind::Router => {
                push("req_per_s", format!("{label} req/s"), Unit::Rate);
                push("kib_per_conn", format!("{label} mem/conn"), Unit::KiB);
            }
        }
    }
    out
}

/// A target for monocoque on one line: its text, and whether it is met (with the figure).
fn target(row: &Row, metric: &str, cells: &[Cell]) -> (String, Option<(bool, String)>) {
    if row.curve {
        // The CURVE rows have no target yet: their figure is the ratio to libzmq with CURVE.
        return ("".into(), None);
    }
    let mono = &cells[Lib::Mono.index()];
    let zmq = &cells[Lib::Zmq.index()];
    let raw = &cells[Lib::Raw.index()];
    match (row.kind, metric) {
        (Kind::Thr, "msgs_per_s") if row.size <= 1024 => (
            "≥2.5× libzmq".into(),
            paired(mono, metric, zmq, metric).map(|r| (r >= 2.5, format!("{r:.2}×"))),
        ),
        (Kind::Thr, "mb_per_s") => (
            "≥85% of raw".into(),
            paired(mono, metric, raw, metric).map(|r| (r >= 0.85, format!("{:.0}%", r * 100.0))),
        ),
        (Kind::Lat, "p50_us") if row.size == 64 => (
            "≤1.25× raw p50".into(),
            paired(mono, metric, raw, metric).map(|r| (r <= 1.25, format!("{r:.2}×"))),
        ),
        (Kind::Lat, "p99_us") if row.size == 64 => (
            "≤1.5× own p50".into(),
            paired(mono, "p99_us", mono, "p50_us").map(|r| (r <= 1.5, format!("{r:.2}×"))),
        ),
        (Kind::Fanout, _) if row.peers == 10 => {
            let ratio = paired(mono, metric, zmq, metric);
            let loss = mono.median("loss_pct");
            (
                "≥1.5× libzmq, no loss".into(),
                ratio
                    .zip(loss)
                    .map(|(r, l)| (r >= 1.5 && l == 0.0, format!("{r:.2}×, {}", format_loss(l)))),
            )
        }
        (Kind::Router, "req_per_s") => (
            "≥1.5× libzmq".into(),
            paired(mono, metric, zmq, metric).map(|r| (r >= 1.5, format!("{r:.2}×"))),
        ),
        (Kind::Router, "kib_per_conn") => (
            "≤16 KiB".into(),
            mono.median(metric)
                .map(|v| (v <= 16.0, format!("{v:.1} KiB"))),
        ),
        _ => ("".into(), None),
    }
}

fn format_loss(pct: f64) -> String {
    if pct == 0.0 {
        "0 loss".into()
    } else if pct < 0.1 {
        format!("{pct:.3}% loss")
    } else {
        format!("{pct:.1}% loss")
    }
}

/// The text of one cell: median, ratio to libzmq from the same round, failures.
fn cell_text(line: &Line, lib: Lib, cells: &[Cell]) -> String {
    let cell = &cells[lib.index()];
    if let Cell::NotApplicable(_) = cell {
        return "n/a".into();
    }
    let Some(value) = cell.median(line.metric) else {
        return "FAILED".into();
    };
    let mut text = format_value(line.unit, value);
    if line.unit == Unit::Delivered
        && let Some(loss) = cell.median("loss_pct")
    {
        text.push(' ');
        text.push_str(&format_loss(loss).replace(" loss", ""));
    }
    if lib != Lib::Zmq
        && let Some(ratio) = paired(cell, line.metric, &cells[Lib::Zmq.index()], line.metric)
    {
        let _ = write!(text, " ({ratio:.2})");
    }
    if cell.failures() > 0 {
        let _ = write!(text, " !{}", cell.failures());
    }
    text
}

fn cpu_text(lib: Lib, cells: &[Cell]) -> String {
    let cell = &cells[lib.index()];
    if let Cell::NotApplicable(_) = cell {
        return "n/a".into();
    }
    match (cell.median("cpu_send"), cell.median("cpu_recv")) {
        (Some(s), Some(r)) => format!("{s:.2}/{r:.2}"),
        _ => "FAILED".into(),
    }
}

fn cpu_target(cells: &[Cell]) -> Option<(bool, String)> {
    let mono = &cells[Lib::Mono.index()];
    let zmq = &cells[Lib::Zmq.index()];
    let s = paired(mono, "cpu_send", zmq, "cpu_send")?;
    let r = paired(mono, "cpu_recv", zmq, "cpu_recv")?;
    Some((s <= 0.5 && r <= 0.5, format!("{s:.2}×/{r:.2}×")))
}

fn met_text(met: &Option<(bool, String)>) -> String {
    match met {
        Some((true, v)) => format!("yes {v}"),
        Some((false, v)) => format!("NO {v}"),
        None => "-".into(),
    }
}

/// The rows a table with these arguments runs (filter, latpin and scale applied).
pub fn selected_rows(args: &[String]) -> Result<Vec<Row>, BoxError> {
    Ok(select(&parse(args)?))
}

fn select(o: &Options) -> Vec<Row> {
    crate::rows(o.latency_pinned)
        .into_iter()
        .filter(|row| {
            let label = row.label();
            o.filters.is_empty() || o.filters.iter().any(|f| label.contains(f.as_str()))
        })
        .map(|mut row| {
            if o.scale != 1.0 {
                let min = if row.kind == Kind::Router { 1 } else { 100 };
                row.count = ((row.count as f64 * o.scale) as u64).max(min);
                row.warmup = (row.warmup as f64 * o.scale) as u64;
            }
            row
        })
        .collect()
}

pub fn table(args: &[String]) -> Result<bool, BoxError> {
    let o = parse(args)?;
    let exe = std::env::current_exe()?;
    let rows = select(&o);
    if rows.is_empty() {
        return Err("no row matches the filter (`monocoque-bench rows` lists them)".into());
    }

    let mut header = String::new();
    environment(&mut header, &o, rows.iter().any(|row| row.curve));
    print!("{header}");
    let _ = std::io::stdout().flush();

    // results[row][lib]
    let mut results: Vec<Vec<Cell>> = rows
        .iter()
        .map(|row| {
            Lib::ALL
                .iter()
                .map(
                    |lib| match lib.unsupported(row.kind, row.transport, row.hwm, row.curve) {
                        Some(reason) => Cell::NotApplicable(reason),
                        None if !o.libs.contains(lib) => {
                            Cell::NotApplicable("not selected (libs=)")
                        }
                        None => Cell::Rounds(Vec::new()),
                    },
                )
                .collect()
        })
        .collect();
    let started = Instant::now();
    let mut failures = Vec::new();
    for round in 0..o.rounds {
        for (ri, row) in rows.iter().enumerate() {
            // Alternate the order within a round, so no library always runs first (or last).
            let mut order = o.libs.clone();
            if round % 2 == 1 {
                order.reverse();
            }
            for lib in order {
                let Cell::Rounds(samples) = &mut results[ri][lib.index()] else {
                    continue;
                };
                let sample = harness::measure(&exe, row, lib, o.timeout, &Wrap::default());
                match &sample {
                    Ok(s) => eprintln!(
                        "[{:>4.0}s] round {}/{} {:<26} {:<12} {}",
                        started.elapsed().as_secs_f64(),
                        round + 1,
                        o.rounds,
                        row.label(),
                        lib.name(),
                        brief(row, s)
                    ),
                    Err(e) => {
                        eprintln!(
                            "[{:>4.0}s] round {}/{} {:<26} {:<12} FAILED: {e}",
                            started.elapsed().as_secs_f64(),
                            round + 1,
                            o.rounds,
                            row.label(),
                            lib.name(),
                        );
                        failures.push(format!(
                            "round {} {} {}: {e}",
                            round + 1,
                            row.label(),
                            lib.name()
                        ));
                    }
                }
                samples.push(sample);
            }
        }
    }
    let took = started.elapsed();

    let text = render(&rows, &results, &o, &failures, took, false);
    println!("{text}");
    std::fs::create_dir_all(&o.out)?;
    let markdown = format!(
        "{}\n{}",
        header
            .lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>(),
        render(&rows, &results, &o, &failures, took, true)
    );
    std::fs::write(o.out.join("table.md"), markdown)?;
    std::fs::write(o.out.join("summary.csv"), summary_csv(&rows, &results))?;
    std::fs::write(o.out.join("samples.csv"), samples_csv(&rows, &results))?;
    eprintln!(
        "wrote {} (table.md, summary.csv, samples.csv)",
        o.out.display()
    );
    Ok(failures.is_empty())
}

fn brief(row: &Row, s: &Sample) -> String {
    let g = |k| s.get(k).copied().unwrap_or(f64::NAN);
    match row.kind {
        Kind::Thr | Kind::Proxy => format!(
            "{} {}  cpu s/M send {:.2} recv {:.2}",
            format_value(Unit::Rate, g("msgs_per_s")),
            format_value(Unit::Bandwidth, g("mb_per_s")),
            g("cpu_send"),
            g("cpu_recv")
        ),
        Kind::Lat => format!(
            "p50 {:.1} p99 {:.1} p99.9 {:.1} µs",
            g("p50_us"),
            g("p99_us"),
            g("p999_us")
        ),
        Kind::Fanout => format!(
            "{} delivered, {}",
            format_value(Unit::Rate, g("delivered_per_s")),
            format_loss(g("loss_pct"))
        ),
        Kind::Router => format!(
            "{} requests, {:.1} KiB/conn",
            format_value(Unit::Rate, g("req_per_s")),
            g("kib_per_conn")
        ),
    }
}

fn environment(out: &mut String, o: &Options, curve: bool) {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "unknown".to_owned(), |k| k.trim().to_owned());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    let (major, minor, patch) = zmq::version();
    let _ = writeln!(
        out,
        "monocoque vs libzmq {major}.{minor}.{patch} (zmq crate), omq-tokio, zeromq, monocoque-rs, raw sockets; two processes per measurement"
    );
    let _ = writeln!(
        out,
        "machine: {cpus} CPUs ({model}), Linux {kernel}, load average {} at start",
        load.join(" ")
    );
    let _ = writeln!(
        out,
        "rounds: {} per library per row, library order alternating each round; figures are medians, (x) = median of the per-round ratio to libzmq{}",
        o.rounds,
        if o.scale == 1.0 {
            String::new()
        } else {
            format!("; message counts scaled by {}", o.scale)
        }
    );
    let _ = writeln!(
        out,
        "pinning: push/pull rows unpinned and `pin` (both processes on CPU 0, taskset -c 0); req/rep rows {}; pub/sub and dealer/router rows unpinned",
        if o.latency_pinned {
            "pinned to CPU 0 (taskset -c 0)"
        } else {
            "unpinned"
        }
    );
    if curve {
        let _ = writeln!(
            out,
            "curve rows: CURVE on the connection (fixed keys, no authenticator); their libzmq column is the system's {}, not the zmq crate's build (no CURVE there)",
            match crate::libs::zmqsys::describe() {
                Ok(found) => found,
                Err(error) => format!("libzmq.so.5 (unusable: {error})"),
            }
        );
    }
    let _ = writeln!(
        out,
        "each measurement is killed after {:.0} s and reported as FAILED",
        o.timeout.as_secs_f64()
    );
}

fn render(
    rows: &[Row],
    results: &[Vec<Cell>],
    o: &Options,
    failures: &[String],
    took: Duration,
    markdown: bool,
) -> String {
    let mut out = String::new();
    let libs = Lib::ALL;
    let mut header: Vec<String> = vec!["row".into()];
    header.extend(libs.iter().map(|l| l.name().to_owned()));
    header.extend(["monocoque target".into(), "met".into()]);

    let mut body: Vec<Vec<String>> = Vec::new();
    for line in lines(rows) {
        let cells = &results[line.row];
        let mut r = vec![line.label.clone()];
        r.extend(libs.iter().map(|&lib| cell_text(&line, lib, cells)));
        let (text, met) = target(&rows[line.row], line.metric, cells);
        r.push(text);
        r.push(if met.is_none() && r.last().is_some_and(|t| t.is_empty()) {
            String::new()
        } else {
            met_text(&met)
        });
        body.push(r);
    }
    write_table(&mut out, &header, &body, markdown);
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "(x): median over rounds of the library's figure / libzmq's figure in the same round; above 1 is better for rates, below 1 for µs and KiB. \
         pub/sub cells: delivered messages per second over all subscribers and the share lost. !N: N rounds failed (median of the others)."
    );
    let _ = writeln!(out);

    let mut cpu_header: Vec<String> = vec!["CPU s per million msgs, send/recv".into()];
    cpu_header.extend(libs.iter().map(|l| l.name().to_owned()));
    cpu_header.extend(["monocoque target".into(), "met".into()]);
    let mut cpu_body = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        if !matches!(row.kind, Kind::Thr | Kind::Lat | Kind::Fanout) {
            continue;
        }
        let cells = &results[i];
        let mut r = vec![row.label()];
        r.extend(libs.iter().map(|&lib| cpu_text(lib, cells)));
        if row.kind == Kind::Thr && !row.curve {
            r.push("≤0.5× libzmq each side".into());
            r.push(met_text(&cpu_target(cells)));
        } else {
            r.push(String::new());
            r.push(String::new());
        }
        cpu_body.push(r);
    }
    if !cpu_body.is_empty() {
        write_table(&mut out, &cpu_header, &cpu_body, markdown);
        let _ = writeln!(
            out,
            "\nCPU: user+system seconds of each process (getrusage through wait4), per million messages (req/rep: per million round trips; \
             pub/sub: publisher per million published, subscriber process per million delivered). send = PUSH/REQ/PUB side, recv = PULL/REP/SUB side."
        );
        let _ = writeln!(out);
    }

    let mut reasons = BTreeSet::new();
    for cells in results {
        for cell in cells {
            if let Cell::NotApplicable(reason) = cell
                && !reason.starts_with("not selected")
            {
                reasons.insert(*reason);
            }
        }
    }
    if !reasons.is_empty() {
        let _ = writeln!(out, "n/a:");
        for reason in reasons {
            let _ = writeln!(out, "{}{reason}", if markdown { "- " } else { "  " });
        }
        let _ = writeln!(out);
    }
    if !failures.is_empty() {
        let _ = writeln!(out, "failures:");
        for f in failures {
            let _ = writeln!(out, "{}{f}", if markdown { "- " } else { "  " });
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(
        out,
        "{} rounds, all measurements took {:.0} s",
        o.rounds,
        took.as_secs_f64()
    );
    out
}

fn write_table(out: &mut String, header: &[String], body: &[Vec<String>], markdown: bool) {
    if markdown {
        let _ = writeln!(out, "| {} |", header.join(" | "));
        let aligns: Vec<&str> = (0..header.len())
            .map(|i| {
                if i == 0 || i + 2 >= header.len() {
                    "---"
                } else {
                    "---:"
                }
            })
            .collect();
        let _ = writeln!(out, "|{}|", aligns.join("|"));
        for r in body {
            let _ = writeln!(out, "| {} |", r.join(" | "));
        }
        return;
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            body.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let fmt_row = |r: &[String]| {
        r.iter()
            .enumerate()
            .map(|(i, c)| {
                let pad = widths[i].saturating_sub(c.chars().count());
                if i == 0 || i + 2 >= r.len() {
                    format!("{c}{}", " ".repeat(pad))
                } else {
                    format!("{}{c}", " ".repeat(pad))
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let _ = writeln!(out, "{}", fmt_row(header));
    for r in body {
        let _ = writeln!(out, "{}", fmt_row(r));
    }
}

fn summary_csv(rows: &[Row], results: &[Vec<Cell>]) -> String {
    let mut out = String::from("row,metric,lib,median,ratio_to_libzmq,higher_is_better,loss_pct\n");
    for line in lines(rows) {
        let cells = &results[line.row];
        for lib in Lib::ALL {
            let cell = &cells[lib.index()];
            let (median, ratio, loss) = match cell {
                Cell::NotApplicable(_) => (None, None, None),
                Cell::Rounds(_) => (
                    cell.median(line.metric),
                    paired(cell, line.metric, &cells[Lib::Zmq.index()], line.metric),
                    cell.median("loss_pct"),
                ),
            };
            let f = |v: Option<f64>| v.map_or_else(|| "na".to_owned(), |v| format!("{v}"));
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{}",
                line.label,
                line.metric,
                lib.name(),
                f(median),
                f(ratio),
                line.unit.higher_is_better(),
                f(loss)
            );
        }
    }
    out
}

fn samples_csv(rows: &[Row], results: &[Vec<Cell>]) -> String {
    let mut out = String::from("row,lib,round,metric,value\n");
    for (row, cells) in rows.iter().zip(results) {
        for lib in Lib::ALL {
            if let Cell::Rounds(rounds) = &cells[lib.index()] {
                for (i, r) in rounds.iter().enumerate() {
                    match r {
                        Ok(sample) => {
                            let mut fields: Vec<_> = sample.iter().collect();
                            fields.sort_by(|a, b| a.0.cmp(b.0));
                            for (k, v) in fields {
                                let _ = writeln!(
                                    out,
                                    "{},{},{},{k},{v}",
                                    row.label(),
                                    lib.name(),
                                    i + 1
                                );
                            }
                        }
                        Err(e) => {
                            let _ = writeln!(
                                out,
                                "{},{},{},error,\"{}\"",
                                row.label(),
                                lib.name(),
                                i + 1,
                                e.replace('"', "'")
                            );
                        }
                    }
                }
            }
        }
    }
    out
}
