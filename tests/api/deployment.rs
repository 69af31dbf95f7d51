//! Deployment files may only set variables the service reads, so they cannot
//! drift from the settings' declaration (`config::env_vars`) unnoticed.

use ecommerce_service::config::env_vars;

/// Read by the AWS SDK, the OpenTelemetry SDK or the log filter rather
/// than by our config module.
fn is_standard(name: &str) -> bool {
    name.starts_with("AWS_") || name.starts_with("OTEL_") || name == "RUST_LOG"
}

fn is_read(name: &str) -> bool {
    is_standard(name) || env_vars().iter().any(|known| known == name)
}

#[test]
fn compose_sets_only_variables_the_service_reads() {
    let compose: serde_norway::Value =
        serde_norway::from_str(include_str!("../../docker-compose.yml")).expect("valid YAML");
    let environment = compose["services"]["app"]["environment"]
        .as_mapping()
        .expect("the app service has an environment mapping");
    assert!(!environment.is_empty());
    for name in environment.keys().map(|key| key.as_str().expect("a name")) {
        assert!(
            is_read(name),
            "docker-compose.yml sets {name}, which the service does not read"
        );
    }
}

/// `make run-dynamodb` is the compose path without Docker: the same app
/// environment, the emulators on this machine's ports instead of the
/// compose network's hosts.
#[test]
fn make_run_dynamodb_serves_with_the_compose_environment() {
    let compose: serde_norway::Value =
        serde_norway::from_str(include_str!("../../docker-compose.yml")).expect("valid YAML");
    let compose: std::collections::BTreeMap<String, String> =
        compose["services"]["app"]["environment"]
            .as_mapping()
            .expect("the app service has an environment mapping")
            .iter()
            .map(|(name, value)| {
                let value = match value {
                    serde_norway::Value::String(text) => text.clone(),
                    other => panic!("{name:?} is not a quoted string: {other:?}"),
                };
                let local = match value.as_str() {
                    "http://dynamodb:8000" => "$DYNAMODB_LOCAL_ENDPOINT".to_owned(),
                    "http://aws:5000" => "$MOTO_ENDPOINT".to_owned(),
                    _ => value,
                };
                (name.as_str().unwrap().to_owned(), local)
            })
            .collect();
    let script: std::collections::BTreeMap<String, String> =
        include_str!("../../scripts/compose-environment.sh")
            .lines()
            .filter_map(|line| line.strip_prefix("export "))
            .map(|assignment| {
                let (name, value) = assignment.split_once('=').expect("NAME=value");
                (name.to_owned(), value.trim_matches('"').to_owned())
            })
            .collect();
    assert_eq!(script, compose);
}

#[test]
fn the_infra_task_sets_only_variables_the_service_reads() {
    let template: serde_json::Value = serde_json::from_str(include_str!(
        "../../infra/cloudformation/EcommerceService.template.json"
    ))
    .expect("valid JSON");
    let resources = template["Resources"].as_object().expect("resources");
    let task = resources
        .values()
        .find(|resource| resource["Type"] == "AWS::ECS::TaskDefinition")
        .expect("a task definition");
    let environment = task["Properties"]["ContainerDefinitions"][0]["Environment"]
        .as_array()
        .expect("an environment");
    assert!(!environment.is_empty());
    for variable in environment {
        let name = variable["Name"].as_str().expect("a name");
        assert!(
            is_read(name),
            "the infra stack sets {name}, which the service does not read"
        );
    }
}

/// The path the committed stack's target group checks. The balancer takes a
/// target out when it fails, and ECS then replaces the task.
fn target_group_health_path() -> String {
    let template: serde_json::Value = serde_json::from_str(include_str!(
        "../../infra/cloudformation/EcommerceService.template.json"
    ))
    .expect("valid JSON");
    let paths: Vec<&str> = template["Resources"]
        .as_object()
        .expect("resources")
        .values()
        .filter(|resource| resource["Type"] == "AWS::ElasticLoadBalancingV2::TargetGroup")
        .map(|group| {
            group["Properties"]["HealthCheckPath"]
                .as_str()
                .expect("a path")
        })
        .collect();
    assert_eq!(paths.len(), 1, "one target group");
    paths[0].to_owned()
}

/// A DynamoDB brownout must not turn every target unhealthy, or ECS
/// replaces all the tasks at once: the balancer's path answers 200 without
/// DynamoDB, while readiness still reports it.
#[tokio::test]
async fn the_balancers_health_check_passes_while_dynamodb_is_unreachable() {
    let path = target_group_health_path();
    let data_dir = tempfile::TempDir::new().unwrap();
    // Nothing listens on port 1: every connection to DynamoDB is refused.
    let service = crate::helpers::process::start_with(
        &data_dir,
        &[
            ("STORE", "dynamodb"),
            ("TABLE_NAME", "unreachable"),
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:1"),
            ("DYNAMODB_ATTEMPT_TIMEOUT_MS", "300"),
            ("DYNAMODB_TIMEOUT_MS", "1000"),
            ("NOTIFICATIONS_SOURCE", "off"),
        ],
    );
    let checked = service.api().get(&path).await;
    assert_eq!(checked.status(), reqwest::StatusCode::OK, "{path}");
    let ready = service.api().get("/health/ready").await;
    assert_eq!(ready.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(service.terminate().code(), Some(0));
}

/// `make test` never builds the release profile; the image build does. The
/// Dockerfile's build command and `make release` stay one command, so the
/// release build a developer runs is the one the image ships.
#[test]
fn the_dockerfile_builds_what_make_release_builds() {
    let words = |command: &str| command.split_whitespace().collect::<Vec<_>>().join(" ");
    let dockerfile = include_str!("../../Dockerfile")
        .lines()
        .find_map(|line| line.strip_prefix("RUN cargo build"))
        .expect("the Dockerfile builds with cargo");
    let dockerfile = dockerfile.split("&&").next().unwrap_or_default();
    let dockerfile = words(&format!("cargo build{}", dockerfile.trim_end_matches('\\')));
    let recipe = include_str!("../../Makefile")
        .split("\nrelease:")
        .nth(1)
        .and_then(|target| target.lines().nth(1))
        .expect("a release target with a recipe");
    assert_eq!(dockerfile, words(recipe));
    assert!(dockerfile.contains("--release --locked"), "{dockerfile}");
}
