//! Deployment files may only set variables the service reads, so they cannot
//! drift from `config::ENV_VARS` unnoticed.

use ecommerce_service::config::ENV_VARS;

/// Read by the AWS SDK or the log filter rather than by our config module.
fn is_standard(name: &str) -> bool {
    name.starts_with("AWS_") || name == "RUST_LOG"
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
