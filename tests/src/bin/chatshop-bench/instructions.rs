//! `instructions`: how many instructions the server executes per operation,
//! counted by callgrind (valgrind) while the load generator sends a fixed
//! number of requests.
//!
//! Timed figures on a shared machine swing by a factor of two from one run
//! to the next, so a change that saves a tenth of the server's work does not
//! show through them without dozens of runs. An instruction count moves by
//! a percent or two between runs of the same build, so two builds compare
//! in one run each. What it counts: every thread of the server, its idle
//! wake-ups included; not PostgreSQL's work, not the kernel's, not time
//! spent waiting. The server runs under valgrind, tens of times slower, and
//! is instrumented only while a measurement runs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use chatshop_tests::ws::WsClient;
use serde_json::json;

use super::raw_http::{self, Connection, Request};
use super::{
    BoxError, PRODUCTS_PAGE, SEND_MESSAGE, Server, conversation, database, live_subscriptions,
    start_server_wrapped,
};

/// Subscribers and messages of the delivery measurement.
const SUBSCRIBERS: usize = 100;
const MESSAGES: usize = 20;

pub(super) async fn instructions(db: &str) -> Result<(), BoxError> {
    // The dumps are kept where CHATSHOP_BENCH_CALLGRIND_DIR says, for
    // `callgrind_annotate` to show where the instructions went.
    let kept = std::env::var_os("CHATSHOP_BENCH_CALLGRIND_DIR").map(PathBuf::from);
    let out = kept.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("chatshop-callgrind-{}", std::process::id()))
    });
    std::fs::create_dir_all(&out)?;
    let wrapper = [
        "valgrind".to_owned(),
        "--tool=callgrind".to_owned(),
        "-q".to_owned(),
        "--instr-atstart=no".to_owned(),
        format!(
            "--callgrind-out-file={}",
            out.join("callgrind.out").display()
        ),
    ];
    require("valgrind", "--version")?;
    require("callgrind_control", "--help")?;
    // Every page resolved: what a page costs, not what a kept answer does.
    let server = start_server_wrapped(
        database(db).await,
        28310,
        &["--anonymous-cache-ms", "0"],
        &wrapper,
    )
    .await?;
    let callgrind = Callgrind {
        pid: server.child.id(),
        out: out.clone(),
    };
    let measured = measure(&server, &callgrind).await;
    drop(server);
    if kept.is_none() {
        let _ = std::fs::remove_dir_all(&out);
    }
    measured
}

async fn measure(server: &Server, callgrind: &Callgrind) -> Result<(), BoxError> {
    let shop = server
        .gql("{ shop(slug: \"demo-coffee\") { id } }", json!({}), None)
        .await?;
    let typename = vec![request(server, &json!({ "query": "{ __typename }" }), None)];
    let products = vec![request(
        server,
        &json!({
            "query": PRODUCTS_PAGE,
            "variables": { "shopId": shop["shop"]["id"] }
        }),
        None,
    )];
    let mut senders = Vec::new();
    for _ in 0..16 {
        let (customer, _, conversation_id) = conversation(server).await?;
        let body = json!({ "query": SEND_MESSAGE, "variables": { "input": { "conversationId": conversation_id, "text": "counted" } } });
        senders.push(request(server, &body, Some(&customer)));
    }
    callgrind.control("-i", "on").await?;

    let per_request = callgrind.per_operation(server, &typename, 400).await?;
    row("`{ __typename }`, 1 conn", per_request, "request");
    let per_page = callgrind.per_operation(server, &products, 200).await?;
    row(
        "products(first: 20), every page resolved, 1 conn",
        per_page,
        "request",
    );
    let per_lone_send = callgrind.per_operation(server, &senders[..1], 200).await?;
    row("sendMessage, 1 sender", per_lone_send, "send");
    let per_send = callgrind.per_operation(server, &senders, 25).await?;
    row("sendMessage, 16 senders", per_send, "send");

    // The same lone sender while sockets follow another conversation: what
    // subscriptions cost the messages they do not follow.
    let (mut subscribers, agent_send) = subscribed(server).await?;
    let per_send_beside = callgrind.per_operation(server, &senders[..1], 200).await?;
    row(
        &format!("sendMessage, 1 sender, {SUBSCRIBERS} sockets following another conversation"),
        per_send_beside,
        "send",
    );

    // Deliveries: the sends' own cost (a lone sender's with no one
    // following) is taken out.
    deliver(server, &mut subscribers, &agent_send, 2).await?;
    let fan_out = callgrind
        .count(deliver(server, &mut subscribers, &agent_send, MESSAGES))
        .await?;
    let delivering = fan_out as f64 - per_lone_send * MESSAGES as f64;
    row(
        &format!("{SUBSCRIBERS} subscribers × {MESSAGES} messages, the sends taken out"),
        delivering / (SUBSCRIBERS * MESSAGES) as f64,
        "delivery",
    );
    Ok(())
}

fn row(setting: &str, instructions: f64, unit: &str) {
    println!(
        "| instructions | {setting} | {:.1}k instructions/{unit} | - | - | - | - | - | - | - |",
        instructions / 1000.0
    );
}

fn require(program: &str, probe: &str) -> Result<(), BoxError> {
    match Command::new(program).arg(probe).output() {
        Ok(output) if output.status.success() => Ok(()),
        _ => Err(format!(
            "the instructions scenario needs {program} (Debian: apt-get install valgrind)"
        )
        .into()),
    }
}

fn request(server: &Server, body: &serde_json::Value, token: Option<&str>) -> Request {
    Request::post_json(server.address(), "/graphql", &body.to_string(), token)
}

/// Each request sent `each` times, one after the other, on a connection
/// of its own; the connections side by side. Fails on any error.
async fn exchanges(server: &Server, requests: &[Request], each: usize) -> Result<(), BoxError> {
    let mut tasks = Vec::new();
    for request in requests {
        let (request, mut connection) = (request.clone(), Connection::new(server.address()));
        tasks.push(tokio::spawn(async move {
            for _ in 0..each {
                let response = connection.exchange(&request).await?;
                if response.status != 200 || raw_http::find(response.body, b"\"errors\"").is_some()
                {
                    return Err(format!(
                        "HTTP {}: {}",
                        response.status,
                        String::from_utf8_lossy(response.body)
                    )
                    .into());
                }
            }
            Ok::<(), BoxError>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

/// [`SUBSCRIBERS`] live subscriptions to one conversation, and the agent's
/// send to it.
async fn subscribed(server: &Server) -> Result<(Vec<WsClient>, Request), BoxError> {
    let (customer, agent, conversation_id) = conversation(server).await?;
    let sockets = live_subscriptions(
        server,
        &customer,
        SUBSCRIBERS,
        "subscription($id: ID!) { messageEvents(conversationId: $id) { message { seq } } }",
        &json!({ "id": conversation_id }),
    )
    .await?;
    let body = json!({ "query": SEND_MESSAGE, "variables": { "input": { "conversationId": conversation_id, "text": "to all" } } });
    Ok((sockets, request(server, &body, Some(&agent))))
}

/// The agent sends `messages` messages, each once every subscriber has
/// the one before.
async fn deliver(
    server: &Server,
    sockets: &mut [WsClient],
    send: &Request,
    messages: usize,
) -> Result<(), BoxError> {
    for _ in 0..messages {
        exchanges(server, std::slice::from_ref(send), 1).await?;
        for socket in sockets.iter_mut() {
            let frame = socket
                .try_receive(Duration::from_secs(60))
                .await
                .ok_or("a subscriber missed a message")?;
            if frame["type"] != "next" {
                return Err(format!("expected a message, got {frame}").into());
            }
        }
    }
    Ok(())
}

/// The callgrind instance the server runs under.
struct Callgrind {
    pid: u32,
    out: PathBuf,
}

impl Callgrind {
    async fn control(&self, option: &str, value: &str) -> Result<(), BoxError> {
        let mut command = Command::new("callgrind_control");
        command.arg(option);
        if !value.is_empty() {
            command.arg(value);
        }
        command.arg(self.pid.to_string());
        let output = tokio::task::spawn_blocking(move || command.output()).await??;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "callgrind_control {option} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            )
            .into())
        }
    }

    /// The instructions the server executes while `work` runs.
    async fn count(
        &self,
        work: impl std::future::Future<Output = Result<(), BoxError>>,
    ) -> Result<u64, BoxError> {
        self.control("-z", "").await?;
        work.await?;
        self.control("-d", "").await?;
        latest_total(&self.out)
    }

    /// Instructions per request when each of `requests` is sent `each`
    /// times: after a tenth as many unmeasured (connections opened,
    /// statements prepared, caches filled).
    async fn per_operation(
        &self,
        server: &Server,
        requests: &[Request],
        each: usize,
    ) -> Result<f64, BoxError> {
        exchanges(server, requests, each.div_ceil(10)).await?;
        let total = self.count(exchanges(server, requests, each)).await?;
        Ok(total as f64 / (requests.len() * each) as f64)
    }
}

/// The instruction total of the newest dump in `dir` (`callgrind.out.N`).
fn latest_total(dir: &Path) -> Result<u64, BoxError> {
    let newest = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let n: u64 = name.strip_prefix("callgrind.out.")?.parse().ok()?;
            Some((n, entry.path()))
        })
        .max_by_key(|(n, _)| *n)
        .ok_or("callgrind wrote no dump")?;
    summary_of(&std::fs::read_to_string(newest.1)?)
}

/// The `summary:` line of a callgrind dump: its event totals (here, one).
fn summary_of(dump: &str) -> Result<u64, BoxError> {
    dump.lines()
        .find_map(|line| line.strip_prefix("summary:"))
        .and_then(|total| total.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| "no summary line in the callgrind dump".into())
}

#[cfg(test)]
mod tests {
    use super::summary_of;

    #[test]
    fn the_total_is_read_from_the_summary_line() {
        let dump = "version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nfn=(1) main\n5 10\nsummary: 12267925\ntotals: 12268083\n";
        assert_eq!(summary_of(dump).unwrap(), 12_267_925);
        assert!(summary_of("events: Ir\n").is_err());
    }
}
