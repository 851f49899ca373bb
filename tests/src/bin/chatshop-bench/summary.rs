//! Medians over several runs (`--runs N`): on a shared machine one run can
//! land in a slow moment, so a comparison of two builds reads better from
//! the middle of a few runs than from any single one.

use std::sync::Mutex;
use std::time::Duration;

/// The figures of one printed row.
#[derive(Clone, Debug)]
pub struct Row {
    pub scenario: String,
    /// The setting without the figures of its own run (see [`same_setting`]).
    pub setting: String,
    pub unit: String,
    pub rate: f64,
    pub p50: Duration,
    pub p99: Duration,
    pub p999: Duration,
    pub max: Duration,
    /// The server's share of one core, in percent.
    pub server_cpu: f64,
    pub server_rss_mib: f64,
    pub steal: f64,
}

/// The head of every table the benchmark prints.
pub fn print_header() {
    println!(
        "| scenario | setting | throughput | p50 | p99 | p99.9 | max | server CPU | server RSS | steal |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
}

/// Every row printed so far, in order.
static ROWS: Mutex<Vec<Row>> = Mutex::new(Vec::new());

pub fn record(row: Row) {
    if let Ok(mut rows) = ROWS.lock() {
        rows.push(row);
    }
}

/// Prints the medians of the rows recorded over `runs` runs.
pub fn print(runs: u32) {
    let rows = ROWS.lock().map(|rows| rows.clone()).unwrap_or_default();
    println!();
    println!(
        "Medians of {runs} runs (throughput: the median, then the lowest and highest; the other columns: their medians):"
    );
    println!();
    print_header();
    for line in lines(&rows) {
        println!("{line}");
    }
}

/// A setting as it reads in every run: the figures some settings carry of
/// their own run (CPU time per operation, in parentheses at the end) are
/// left out, so that the same measurement of every run is grouped.
pub fn same_setting(setting: &str) -> &str {
    match setting.rsplit_once(" (") {
        Some((stable, own)) if own.ends_with(')') && own.contains("µs") => stable,
        _ => setting,
    }
}

/// One table line per measurement (scenario and setting), in the order
/// they first ran.
fn lines(rows: &[Row]) -> Vec<String> {
    let mut keys: Vec<(&str, &str)> = Vec::new();
    for row in rows {
        let key = (row.scenario.as_str(), row.setting.as_str());
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys.into_iter()
        .map(|(scenario, setting)| {
            let runs: Vec<&Row> = rows
                .iter()
                .filter(|row| row.scenario == scenario && row.setting == setting)
                .collect();
            let unit = &runs[0].unit;
            let figure = |value: fn(&Row) -> f64| median(runs.iter().map(|row| value(row)));
            let millis = |value: fn(&Row) -> Duration| {
                let ms = median(runs.iter().map(|row| value(row).as_secs_f64() * 1000.0));
                format!("{ms:.2} ms")
            };
            let lowest = runs.iter().map(|row| row.rate).fold(f64::INFINITY, f64::min);
            let highest = runs.iter().map(|row| row.rate).fold(0.0, f64::max);
            format!(
                "| {scenario} | {setting} ({} runs) | {:.0} {unit}/s ({lowest:.0}–{highest:.0}) | {} | {} | {} | {} | {:.0} % | {:.1} MiB | {:.0} % |",
                runs.len(),
                figure(|row| row.rate),
                millis(|row| row.p50),
                millis(|row| row.p99),
                millis(|row| row.p999),
                millis(|row| row.max),
                figure(|row| row.server_cpu),
                figure(|row| row.server_rss_mib),
                figure(|row| row.steal),
            )
        })
        .collect()
}

/// The middle value; for an even count, the mean of the two middle ones.
fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_unstable_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(setting: &str, rate: f64, p99_ms: u64) -> Row {
        Row {
            scenario: "senders".to_owned(),
            setting: same_setting(setting).to_owned(),
            unit: "sends".to_owned(),
            rate,
            p50: Duration::from_millis(1),
            p99: Duration::from_millis(p99_ms),
            p999: Duration::from_millis(p99_ms * 2),
            max: Duration::from_millis(p99_ms * 3),
            server_cpu: rate / 100.0,
            server_rss_mib: 30.0,
            steal: 0.0,
        }
    }

    #[test]
    fn a_setting_loses_the_figures_of_its_own_run_only() {
        assert_eq!(
            same_setting("16 senders, closed loop (CPU per send: server 98 µs; machine 63 % busy)"),
            "16 senders, closed loop"
        );
        assert_eq!(
            same_setting("1 sub × 1000 msg/s (455 µs CPU/delivery)"),
            "1 sub × 1000 msg/s"
        );
        // Parentheses that name the measurement stay.
        assert_eq!(
            same_setting("/graphql, 64 conn (round 2)"),
            "/graphql, 64 conn (round 2)"
        );
        assert_eq!(
            same_setting("`{ __typename }`, 64 conn"),
            "`{ __typename }`, 64 conn"
        );
    }

    #[test]
    fn each_measurement_gets_the_medians_and_range_of_its_runs() {
        let rows = [
            row(
                "16 senders, closed loop (CPU per send: server 90 µs)",
                5000.0,
                9,
            ),
            row(
                "8 senders, closed loop (CPU per send: server 80 µs)",
                3000.0,
                4,
            ),
            row(
                "16 senders, closed loop (CPU per send: server 70 µs)",
                9000.0,
                3,
            ),
            row(
                "8 senders, closed loop (CPU per send: server 85 µs)",
                4000.0,
                6,
            ),
            row(
                "16 senders, closed loop (CPU per send: server 60 µs)",
                7000.0,
                5,
            ),
        ];
        let lines = lines(&rows);
        assert_eq!(lines.len(), 2, "{lines:?}");
        // Odd count: the middle run's figures, column by column.
        assert_eq!(
            lines[0],
            "| senders | 16 senders, closed loop (3 runs) | 7000 sends/s (5000–9000) | 1.00 ms | 5.00 ms | 10.00 ms | 15.00 ms | 70 % | 30.0 MiB | 0 % |"
        );
        // Even count: the mean of the two middle ones.
        assert_eq!(
            lines[1],
            "| senders | 8 senders, closed loop (2 runs) | 3500 sends/s (3000–4000) | 1.00 ms | 5.00 ms | 10.00 ms | 15.00 ms | 35 % | 30.0 MiB | 0 % |"
        );
    }
}
