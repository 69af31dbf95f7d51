//! Deployment files may only set variables the service reads, so they cannot
//! drift from `config::ENV_VARS` unnoticed.

use ecommerce_service::config::ENV_VARS;

/// Read by the AWS SDK, the OpenTelemetry SDK or the log filter rather
/// than by our config module.
fn is_standard(name: &str) -> bool {
    name.starts_with("AWS_") || name.starts_with("OTEL_") || name == "RUST_LOG"
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
            ENV_VARS.contains(&name) || is_standard(name),
            "docker-compose.yml sets {name}, which the service does not read"
        );
    }
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
            ENV_VARS.contains(&name) || is_standard(name),
            "the infra stack sets {name}, which the service does not read"
        );
    }
}
