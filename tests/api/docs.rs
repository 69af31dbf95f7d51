//! The documentation holds to what it documents: the configuration page is
//! the declarations rendered, every alarm in the stack has its runbook
//! section, and every relative link lands on a file and heading that exist.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_configuration_page_is_the_declarations_rendered() {
    let committed = read(&root().join("docs/configuration.md"));
    assert!(
        committed == ecommerce_service::config::reference_markdown(),
        "docs/configuration.md is stale: run `make docs`"
    );
}

/// The alarms of the synthesized stack, by the name their runbook section
/// carries: the logical id without CDK's hash and `Monitoring` prefix.
fn alarms_in_the_stack() -> BTreeSet<String> {
    let template: Value = serde_json::from_str(&read(
        &root().join("infra/cloudformation/EcommerceService.template.json"),
    ))
    .unwrap();
    template["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, resource)| resource["Type"] == "AWS::CloudWatch::Alarm")
        .map(|(id, _)| {
            // CDK ends a logical id with eight hex digits of its path's hash.
            let (name, hash) = id.split_at(id.len().saturating_sub(8));
            assert!(hash.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
            name.trim_start_matches("Monitoring").to_owned()
        })
        .collect()
}

#[test]
fn every_alarm_in_the_stack_has_a_section_with_three_checks() {
    let page = read(&root().join("docs/operations/alarms.md"));
    let alarms = alarms_in_the_stack();
    assert!(alarms.len() >= 10, "{alarms:?}");
    for alarm in &alarms {
        let heading = format!("\n## {alarm}\n");
        let start = page
            .find(&heading)
            .unwrap_or_else(|| panic!("docs/operations/alarms.md has no `## {alarm}`"));
        let section = &page[start + heading.len()..];
        let section = &section[..section.find("\n## ").unwrap_or(section.len())];
        assert!(
            section.contains("**What it means.**"),
            "{alarm}: says what it means"
        );
        for step in ["\n1. ", "\n2. ", "\n3. "] {
            assert!(section.contains(step), "{alarm}: check {step:?}");
        }
        assert!(
            section.matches("```").count() >= 6,
            "{alarm}: a command for each of the three checks"
        );
    }
    let documented: BTreeSet<String> = page
        .lines()
        .filter_map(|line| line.strip_prefix("## "))
        .map(str::to_owned)
        .collect();
    let stale: Vec<_> = documented.difference(&alarms).collect();
    assert!(
        stale.is_empty(),
        "sections for alarms the stack no longer has: {stale:?}"
    );
}

fn markdown_files() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md"), root().join("BENCHMARKS.md")];
    let mut dirs = vec![root().join("docs")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
    }
    files
}

/// GitHub's anchor for a heading: lower case, punctuation dropped but for
/// `-` and `_`, spaces as `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors_of(text: &str) -> BTreeSet<String> {
    let mut in_code = false;
    let mut anchors = BTreeSet::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        } else if !in_code && line.starts_with('#') {
            anchors.insert(anchor(
                line.trim_start_matches('#').replace('`', "").as_str(),
            ));
        }
    }
    anchors
}

/// The targets of `[text](target)` links outside code.
fn links_of(text: &str) -> Vec<String> {
    let mut in_code = false;
    let mut links = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            links.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    links
}

#[test]
fn every_relative_link_lands_on_a_file_and_heading_that_exist() {
    let mut broken = Vec::new();
    for file in markdown_files() {
        let text = read(&file);
        for link in links_of(&text) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (path, fragment) = link.split_once('#').unwrap_or((&link, ""));
            let target = if path.is_empty() {
                file.clone()
            } else {
                file.parent().unwrap().join(path)
            };
            if !target.exists() {
                broken.push(format!("{}: {link} (no such file)", file.display()));
                continue;
            }
            let is_markdown = target.extension().is_some_and(|e| e == "md");
            if !fragment.is_empty() && is_markdown && !anchors_of(&read(&target)).contains(fragment)
            {
                broken.push(format!("{}: {link} (no such heading)", file.display()));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

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
    let template: Value = serde_json::from_str(&read(
        &root().join("infra/cloudformation/EcommerceService.template.json"),
    ))
    .unwrap();
    template["Resources"]
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
fn aws_names_are_known(block: &Block, problems: &mut Vec<String>) {
    let (stacks, parameters) = stacks_and_parameters();
    let logical = logical_ids();
    for command in commands_of(block) {
        let words: Vec<&str> = command.split_whitespace().collect();
        command_names_are_known(block, &words, &stacks, &parameters, &logical, problems);
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
    stacks: &BTreeSet<String>,
    parameters: &BTreeSet<String>,
    logical: &[String],
    problems: &mut Vec<String>,
) {
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
            aws_names_are_known(block, &mut problems);
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
                && b.lines
                    .first()
                    .is_some_and(|l| l == "# run by docs::the_readme_walk_through_runs_as_written")
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
