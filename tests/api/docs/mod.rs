//! The documentation holds to what it documents: the configuration page is
//! the declarations rendered, every alarm in the stack has its runbook
//! section, and every relative link lands on a file and heading that exist;
//! `commands` holds the shell blocks to what they name.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

mod commands;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The service stack's committed, synthesized template.
fn service_template() -> Value {
    let path = root().join("infra/cloudformation/EcommerceService.template.json");
    serde_json::from_str(&read(&path)).unwrap()
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
    service_template()["Resources"]
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
