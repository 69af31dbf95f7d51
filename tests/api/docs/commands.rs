//! Every shell block in README.md and docs/ is run by a test, or marked as
//! needing AWS or Docker with the names it uses checked; the README's
//! walk-through runs as written.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{markdown_files, read, root, service_template};

/// A fenced `sh` block: where it is, and its lines.
struct Block {
    at: String,
    lines: Vec<String>,
}

fn shell_blocks() -> Vec<Block> {
    let mut blocks = Vec::new();
    for file in markdown_files() {
        let text = read(&file);
        let mut open: Option<Block> = None;
        for (number, line) in text.lines().enumerate() {
            let trimmed = line.trim();
            match open.as_mut() {
                None if trimmed == "```sh" || trimmed == "```bash" => {
                    let at = format!("{}:{}", file.display(), number + 1);
                    open = Some(Block {
                        at,
                        lines: Vec::new(),
                    });
                }
                Some(_) if trimmed == "```" => blocks.extend(open.take()),
                Some(block) => block.lines.push(trimmed.to_owned()),
                None => {}
            }
        }
    }
    blocks
}

/// The stacks the app synthesizes and every parameter they declare (in the
/// committed templates, or in the CDK source for a front door not committed).
fn stacks_and_parameters() -> (BTreeSet<String>, BTreeSet<String>) {
    let mut stacks = BTreeSet::new();
    let mut parameters = BTreeSet::new();
    for entry in std::fs::read_dir(root().join("infra/cloudformation")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some(stack) = name.strip_suffix(".template.json") else {
            continue;
        };
        stacks.insert(stack.to_owned());
        let template: Value = serde_json::from_str(&read(&path)).unwrap();
        if let Some(declared) = template["Parameters"].as_object() {
            parameters.extend(declared.keys().cloned());
        }
    }
    for entry in std::fs::read_dir(root().join("infra/lib")).unwrap() {
        let source = read(&entry.unwrap().path());
        for (at, _) in source.match_indices("CfnParameter(") {
            let rest = &source[at..];
            if let Some(name) = rest.split('\'').nth(1) {
                parameters.insert(name.to_owned());
            }
        }
    }
    (stacks, parameters)
}

fn logical_ids() -> Vec<String> {
    service_template()["Resources"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

/// Each `--flag value` (or `--flag=value`) of a command, and the words after
/// `cdk deploy`.
fn values_of<'a>(words: &'a [&'a str], flag: &str) -> Vec<&'a str> {
    let mut values = Vec::new();
    for (i, word) in words.iter().enumerate() {
        if *word == flag {
            values.extend(words.get(i + 1));
        } else if let Some(value) = word.strip_prefix(&format!("{flag}=")) {
            values.push(value);
        }
    }
    values
}

/// The names an AWS block uses exist: its stacks, the parameters it sets,
/// and the logical ids it looks resources up by.
/// What an AWS block may name, read once from the templates and the CDK source.
struct Known {
    stacks: BTreeSet<String>,
    parameters: BTreeSet<String>,
    logical: Vec<String>,
}

fn aws_names_are_known(block: &Block, known: &Known, problems: &mut Vec<String>) {
    for command in commands_of(block) {
        let words: Vec<&str> = command.split_whitespace().collect();
        command_names_are_known(block, &words, known, problems);
    }
}

/// The block's commands, continuation lines joined, comments left out.
fn commands_of(block: &Block) -> Vec<String> {
    let mut commands = Vec::new();
    let mut current = String::new();
    for line in block.lines.iter().filter(|l| !l.starts_with('#')) {
        match line.strip_suffix('\\') {
            Some(head) => current.push_str(head),
            None => {
                current.push_str(line);
                commands.push(std::mem::take(&mut current));
            }
        }
        current.push(' ');
    }
    commands.retain(|c| !c.trim().is_empty());
    commands
}

fn command_names_are_known(
    block: &Block,
    words: &[&str],
    known: &Known,
    problems: &mut Vec<String>,
) {
    let Known {
        stacks,
        parameters,
        logical,
    } = known;
    let unquote = |word: &str| word.trim_matches(|c| c == '"' || c == '\'').to_owned();
    let mut named_stacks: Vec<String> = values_of(words, "--stack-name")
        .into_iter()
        .map(unquote)
        .collect();
    for (i, pair) in words.windows(2).enumerate() {
        if pair == ["cdk", "deploy"] {
            named_stacks.extend(
                words
                    .get(i + 2)
                    .filter(|w| !w.starts_with('-'))
                    .map(|w| unquote(w)),
            );
        }
    }
    for stack in named_stacks {
        if !stacks.contains(&stack) {
            problems.push(format!("{}: no stack {stack} (have {stacks:?})", block.at));
        }
    }
    let mut set: Vec<String> = Vec::new();
    for value in values_of(words, "--parameters") {
        set.extend(value.split(',').filter_map(|kv| {
            let kv = kv.trim_start_matches("ParameterKey=");
            kv.split_once('=').map(|(key, _)| key.to_owned())
        }));
    }
    if let Some(at) = words.iter().position(|w| *w == "--parameter-overrides") {
        set.extend(
            words[at + 1..]
                .iter()
                .take_while(|w| !w.starts_with("--"))
                .filter_map(|kv| kv.split_once('=').map(|(key, _)| key.to_owned())),
        );
    }
    for parameter in set {
        if !parameters.contains(&parameter) {
            problems.push(format!("{}: no parameter {parameter}", block.at));
        }
    }
    for (i, word) in words.iter().enumerate() {
        if word.ends_with("(physical") {
            let prefix = words
                .get(i + 1)
                .map_or("", |w| w.trim_end_matches([')', '"']));
            if !logical.iter().any(|id| id.starts_with(prefix)) {
                problems.push(format!("{}: no resource {prefix}", block.at));
            }
        }
    }
}

fn makefile_targets() -> BTreeSet<String> {
    read(&root().join("Makefile"))
        .lines()
        .filter_map(|line| line.split_once(':').map(|(target, _)| target))
        .filter(|target| {
            !target.is_empty() && target.chars().all(|c| c.is_ascii_lowercase() || c == '-')
        })
        .map(str::to_owned)
        .collect()
}

fn test_exists(name: &str) -> bool {
    let function = name.rsplit("::").next().unwrap_or(name);
    let mut dirs = vec![root().join("tests")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() && !path.ends_with("node_modules") {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs")
                && read(&path).contains(&format!("fn {function}("))
            {
                return true;
            }
        }
    }
    false
}

/// Every shell block says how it is known to work: a test runs it (`# run
/// by <test>`), or it needs AWS (`# needs AWS`: its stacks, parameters and
/// resources must exist) or Docker (`# needs Docker`: its compose profiles
/// must exist), or it is only `make` targets, which must exist.
#[test]
fn every_shell_block_is_run_by_a_test_or_marked_and_names_what_exists() {
    let targets = makefile_targets();
    let (stacks, parameters) = stacks_and_parameters();
    let known = Known {
        stacks,
        parameters,
        logical: logical_ids(),
    };
    let compose = read(&root().join("docker-compose.yml"));
    let mut problems = Vec::new();
    let blocks = shell_blocks();
    assert!(blocks.len() > 20, "{} blocks", blocks.len());
    for block in &blocks {
        let first = block
            .lines
            .iter()
            .find(|l| !l.is_empty())
            .cloned()
            .unwrap_or_default();
        if first == "# needs AWS" {
            aws_names_are_known(block, &known, &mut problems);
        } else if first == "# needs Docker" {
            for line in &block.lines {
                let words: Vec<&str> = line.split_whitespace().collect();
                for profile in values_of(&words, "--profile") {
                    if !compose.contains(&format!("profiles: [\"{profile}\"]")) {
                        problems.push(format!("{}: no compose profile {profile}", block.at));
                    }
                }
            }
        } else if let Some(test) = first.strip_prefix("# run by ") {
            if !test_exists(test) {
                problems.push(format!("{}: no test {test}", block.at));
            }
        } else {
            for line in block
                .lines
                .iter()
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
            {
                match line.strip_prefix("make ") {
                    Some(rest) => {
                        let target = rest.split_whitespace().next().unwrap_or_default();
                        if !targets.contains(target) {
                            problems.push(format!("{}: no make target {target}", block.at));
                        }
                    }
                    None => problems.push(format!(
                        "{}: `{line}` is neither run by a test nor marked as needing AWS or Docker",
                        block.at
                    )),
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The README's walk-through, as written, against a freshly started service:
/// every request answers 2xx (`curl --fail-with-body`).
#[tokio::test]
async fn the_readme_walk_through_runs_as_written() {
    let app = crate::helpers::spawn_app(crate::helpers::EngineKind::Embedded).await;
    let host = app.address.trim_start_matches("http://").to_owned();
    let block = shell_blocks()
        .into_iter()
        .find(|b| {
            b.at.starts_with(&root().join("README.md").display().to_string())
                && b.lines.first().is_some_and(|l| {
                    l == "# run by docs::commands::the_readme_walk_through_runs_as_written"
                })
        })
        .expect("the README's walk-through block");
    // Where the text says <OrderId>: the order the listing shows, looked
    // up just before the first line that needs it (in or out of quotes).
    let lookup = format!(
        "ORDER_ID=$(command curl -s '{host}/orders/?username=john' | python3 -c \
         'import json,sys; print(json.load(sys.stdin)[\"data\"][1][\"OrderId\"])')"
    );
    let mut lines = Vec::new();
    for line in &block.lines {
        let line = line.replace("localhost:8080", &host);
        match line.find("<OrderId>") {
            None => lines.push(line),
            Some(at) => {
                if !lines.contains(&lookup) {
                    lines.push(lookup.clone());
                }
                let quoted = line[..at].matches('\'').count() % 2 == 1;
                let id = if quoted {
                    "'\"$ORDER_ID\"'"
                } else {
                    "\"$ORDER_ID\""
                };
                lines.push(line.replace("<OrderId>", id));
            }
        }
    }
    let script = lines.join("\n");
    let script = format!(
        "set -euo pipefail\ncurl() {{ command curl --fail-with-body -sS \"$@\"; echo; }}\n{script}\n"
    );
    let output = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{script}\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("User john added successfully"), "{stdout}");
    assert!(stdout.contains("\"Status\":\"CANCEL\""), "{stdout}");
}
