//! `docs/configuration.md`, rendered from the clap declarations in `args`
//! (`ecommerce-service config-reference`, `make docs`), so the page cannot
//! drift from what the binary reads: a test compares the committed page.

use clap::{Arg, CommandFactory};

use super::Cli;

pub fn reference_markdown() -> String {
    let cli = Cli::command();
    let mut page = String::from(
        "# Configuration\n\n\
         <!-- Generated from src/config/args.rs by `make docs`; edit the declarations, not this page. -->\n\n\
         Every setting is an environment variable, or the flag of the same name \
         (`PORT=9000` or `--port 9000`). A value the service cannot use stops it at start-up \
         with one line naming the variable and what it expects (exit code 2). Settings that \
         depend on each other are checked together (`src/config/mod.rs`). The AWS SDK reads \
         its own variables too (`AWS_REGION`, `AWS_ENDPOINT_URL_<SERVICE>`, credentials), \
         tracing the `OTEL_*` ones, and the log filter `RUST_LOG` (default `info`).\n\n\
         | variable | default | values | what it sets |\n|---|---|---|---|\n",
    );
    for arg in cli.get_arguments().filter(|arg| !arg.is_hide_set()) {
        let Some(env) = arg.get_env() else { continue };
        page.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            env.to_string_lossy(),
            default_of(arg),
            values_of(arg),
            cell(&help_of(arg)),
        ));
    }
    page.push_str("\n## Commands\n\nWithout a command the binary serves the API.\n");
    for command in cli.get_subcommands().filter(|c| !c.is_hide_set()) {
        page.push_str(&format!(
            "\n### `{}`\n\n{}\n",
            command.get_name(),
            command
                .get_about()
                .map(ToString::to_string)
                .unwrap_or_default()
        ));
        let flags: Vec<&Arg> = command
            .get_arguments()
            .filter(|arg| !arg.is_hide_set() && !arg.is_global_set() && arg.get_long().is_some())
            .collect();
        if flags.is_empty() {
            continue;
        }
        page.push_str("\n| flag | default | what it does |\n|---|---|---|\n");
        for arg in flags {
            page.push_str(&format!(
                "| `--{}` | {} | {} |\n",
                arg.get_long().unwrap_or_default(),
                default_of(arg),
                cell(&help_of(arg)),
            ));
        }
    }
    page
}

fn help_of(arg: &Arg) -> String {
    arg.get_long_help()
        .or_else(|| arg.get_help())
        .map(ToString::to_string)
        .unwrap_or_default()
}

fn default_of(arg: &Arg) -> String {
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|value| format!("`{}`", value.to_string_lossy()))
        .collect();
    if defaults.is_empty() {
        String::new()
    } else {
        defaults.join(", ")
    }
}

fn values_of(arg: &Arg) -> String {
    arg.get_possible_values()
        .iter()
        .filter(|value| !value.is_hide_set())
        .map(|value| format!("`{}`", value.get_name()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One table cell: no line breaks, pipes escaped.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}
