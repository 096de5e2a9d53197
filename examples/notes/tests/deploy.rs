//! The Dockerfile and the Kubernetes manifests agree with the code: probe paths,
//! ports, settings, secrets, grace period, the migration jobs, the build argument
//! that carries the commit. `deploy/image` (run by .ci/run) builds the image and
//! runs it as the manifests say; `deploy/check` validates them.

mod support;

use std::collections::BTreeSet;
use std::process::Command;

use opskit::config::parse_duration;
use serde::Deserialize;
use serde_json::Value;
use support::process::text;

const DOCKERFILE: &str = include_str!("../deploy/Dockerfile");
const MANIFESTS: &str = include_str!("../deploy/kubernetes/notes.yaml");
const CONTRACT: &str = include_str!("../deploy/kubernetes/notes-contract.yaml");

fn documents() -> Vec<Value> {
    parse(MANIFESTS)
}

fn parse(manifests: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(manifests)
        .map(|doc| Value::deserialize(doc).expect("valid YAML"))
        .collect()
}

fn kind<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in the manifests"))
}

/// `notes --describe`: (variable, default) of every setting the binary reads.
fn settings() -> Vec<(String, String)> {
    support::describe_rows()
        .into_iter()
        .map(|cells| {
            (
                cells[1].trim_matches('`').to_owned(),
                cells[4].trim_matches('`').to_owned(),
            )
        })
        .collect()
}

fn env_of(container: &Value) -> Vec<(String, String)> {
    container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_owned(),
                e["value"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn value<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

fn port_of(address: &str) -> u16 {
    address.rsplit_once(':').unwrap().1.parse().unwrap()
}

#[test]
fn the_deployment_probes_ports_settings_and_secrets_match_the_code() {
    let settings = settings();
    let default = |name: &str| {
        settings
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| d.clone())
            .unwrap()
    };
    let known: BTreeSet<String> = settings
        .iter()
        .flat_map(|(name, _)| [name.clone(), format!("{name}_FILE")])
        .chain(["LOG_FORMAT", "LOG_LEVEL", "RUST_LOG"].map(String::from))
        .collect();

    let docs = documents();
    let deployment = kind(&docs, "Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let env = env_of(container);

    // Every variable is a setting the binary reads (a typo would be silently ignored).
    for (name, _) in &env {
        assert!(
            known.contains(name),
            "{name} in the Deployment is not a setting of the notes service"
        );
    }
    // Production's rules are met: the token and the database URL from files, JSON logs.
    assert_eq!(value(&env, "NOTES_DEPLOYMENT"), Some("production"));
    assert_eq!(value(&env, "LOG_FORMAT"), Some("json"));
    assert_eq!(
        value(&env, "NOTES_MIGRATE"),
        Some("verify"),
        "replicas only verify; the Job migrates"
    );
    let mounts: Vec<&str> = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["mountPath"].as_str().unwrap())
        .collect();
    for secret in ["NOTES_API_TOKEN", "NOTES_DATABASE_URL"] {
        assert!(
            value(&env, secret).is_none(),
            "{secret} must come from a file, not the manifest"
        );
        let path = value(&env, &format!("{secret}_FILE"))
            .unwrap_or_else(|| panic!("{secret}_FILE is not set"));
        assert!(
            mounts.iter().any(|m| path.starts_with(m)),
            "{path} is not under a mounted volume {mounts:?}"
        );
    }

    // The listener is reachable from outside the container, on the container port.
    let port = container["ports"][0]["containerPort"].as_u64().unwrap() as u16;
    let listen = value(&env, "NOTES_LISTEN").unwrap();
    assert!(
        listen.starts_with("0.0.0.0:"),
        "NOTES_LISTEN={listen} is not reachable from outside the container"
    );
    assert_eq!(port_of(listen), port);
    assert_eq!(
        port_of(&default("NOTES_LISTEN")),
        port,
        "the default port is the container port"
    );

    // Probes use the health layer's paths, on the named container port.
    for (probe, setting) in [
        ("startupProbe", "NOTES_HEALTH_STARTUP_PATH"),
        ("readinessProbe", "NOTES_HEALTH_READINESS_PATH"),
        ("livenessProbe", "NOTES_HEALTH_LIVENESS_PATH"),
    ] {
        let get = &container[probe]["httpGet"];
        assert_eq!(
            get["path"].as_str().unwrap(),
            value(&env, setting).map_or(default(setting), str::to_owned),
            "{probe}"
        );
        assert_eq!(get["port"], container["ports"][0]["name"], "{probe}");
    }

    // SIGKILL never cuts a drain short.
    let drain = parse_duration(value(&env, "NOTES_DRAIN_DELAY").unwrap()).unwrap();
    let shutdown = parse_duration(value(&env, "NOTES_SHUTDOWN_TIMEOUT").unwrap()).unwrap();
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(
        grace > (drain + shutdown).as_secs(),
        "terminationGracePeriodSeconds {grace} <= drain + shutdown"
    );
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);

    // /metrics on its own port, which only the scraper may reach.
    let metrics_port = container["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "metrics")
        .expect("a metrics port")["containerPort"]
        .as_u64()
        .unwrap();
    assert_eq!(
        u64::from(port_of(value(&env, "NOTES_METRICS_LISTEN").unwrap())),
        metrics_port
    );
    let policy = docs
        .iter()
        .find(|d| {
            d["kind"] == "NetworkPolicy"
                && d["spec"]["podSelector"]["matchLabels"]["app"] == "notes"
        })
        .expect("a NetworkPolicy for the service's pods");
    for rule in policy["spec"]["ingress"].as_array().unwrap() {
        let opens_metrics = rule["ports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["port"] == "metrics" || p["port"] == metrics_port);
        if opens_metrics {
            assert!(
                rule["from"].as_array().is_some_and(|from| !from.is_empty()),
                "the metrics port is open to everyone: {rule}"
            );
        }
    }

    // A node drain or a rolling update never takes more than one replica away.
    let budget = kind(&docs, "PodDisruptionBudget");
    assert_eq!(budget["spec"]["selector"], deployment["spec"]["selector"]);
    assert_eq!(
        deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"],
        0
    );

    // The migration Job applies what the running release tolerates (expand), with
    // the same secrets.
    let job = kind(&docs, "Job");
    let migrate = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(migrate["args"][0], "--migrate-only");
    assert_eq!(value(&env_of(migrate), "NOTES_MIGRATE"), Some("expand"));
    assert_eq!(
        migrate["image"], container["image"],
        "the Job migrates with the image it deploys"
    );
    for (name, _) in env_of(migrate) {
        assert!(known.contains(&name), "{name} in the Job is not a setting");
    }
    // Re-appliable with the next release's image: a new name per commit, removed
    // after it finished.
    assert!(
        text(&job["metadata"]["name"]).ends_with("-COMMIT"),
        "the Job's name carries the commit"
    );
    assert!(job["spec"]["ttlSecondsAfterFinished"].as_u64().is_some());
}

/// Pod Security "restricted", for every pod the manifests make, and the secret
/// files readable by the service's group alone.
#[test]
fn every_pod_meets_pod_security_restricted_and_can_read_its_secrets() {
    let docs = documents();
    let namespace = kind(&docs, "Namespace");
    assert_eq!(
        namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
    for workload in docs
        .iter()
        .filter(|d| d["kind"] == "Deployment" || d["kind"] == "Job")
    {
        let name = workload["metadata"]["name"].as_str().unwrap();
        assert_eq!(workload["metadata"]["namespace"], "notes", "{name}");
        let pod = &workload["spec"]["template"]["spec"];
        let security = &pod["securityContext"];
        assert_eq!(security["runAsNonRoot"], true, "{name}");
        assert_eq!(
            security["seccompProfile"]["type"], "RuntimeDefault",
            "{name}"
        );
        assert_eq!(pod["automountServiceAccountToken"], false, "{name}");
        for container in pod["containers"].as_array().unwrap() {
            let context = &container["securityContext"];
            assert_eq!(context["allowPrivilegeEscalation"], false, "{name}");
            assert_eq!(context["readOnlyRootFilesystem"], true, "{name}");
            assert_eq!(context["capabilities"]["drop"][0], "ALL", "{name}");
            for resource in ["cpu", "memory"] {
                for bound in ["requests", "limits"] {
                    assert!(
                        container["resources"][bound][resource].is_string(),
                        "{name}: no {bound}.{resource}"
                    );
                }
            }
        }
        // Secret files are root-owned in the pod: 0400 would lock the service
        // (uid 10001) out. 0440 with fsGroup gives them to the service's group,
        // which SecretFile accepts without a warning; others get nothing.
        for volume in pod["volumes"].as_array().unwrap() {
            if let Some(mode) = volume["secret"]["defaultMode"].as_u64() {
                assert_eq!(mode, 0o440, "{name}: secret mode {mode:o}");
                assert_eq!(security["fsGroup"], security["runAsGroup"], "{name}");
                assert!(security["fsGroup"].is_u64(), "{name}: no fsGroup");
            }
        }
    }
}

#[test]
fn the_dockerfile_builds_the_service_as_non_root_and_carries_the_commit() {
    let lines: Vec<&str> = DOCKERFILE.lines().map(str::trim).collect();
    let stages = lines.iter().filter(|l| l.starts_with("FROM ")).count();
    assert!(stages >= 2, "a multi-stage build");
    assert!(
        DOCKERFILE.contains("ARG GIT_COMMIT"),
        "the commit is a build argument"
    );
    assert!(
        DOCKERFILE.contains("OPSKIT_GIT_COMMIT=${GIT_COMMIT}"),
        "and reaches opskit-build"
    );
    assert!(DOCKERFILE.contains("-p example-notes --bin notes"));
    // The image ships what benches/notes_load.rs measures: the production profile.
    assert!(
        DOCKERFILE.contains("cargo build --profile production")
            && DOCKERFILE.contains("target/production/notes"),
        "the image is built with the production profile"
    );
    assert!(
        include_str!("../../../Cargo.toml").contains("[profile.production]"),
        "the workspace's Cargo.toml defines the production profile"
    );
    // The runtime stage: the commit as the OCI revision label, nothing run in it
    // (it has no shell), and the user and group the manifests run it as.
    let runtime = &lines[lines.iter().rposition(|l| l.starts_with("FROM ")).unwrap()..];
    assert!(
        runtime.contains(&"ARG GIT_COMMIT=unknown")
            && DOCKERFILE.contains(r#"org.opencontainers.image.revision="${GIT_COMMIT}""#),
        "the runtime stage labels the image with its commit"
    );
    assert!(
        !runtime.iter().any(|l| l.starts_with("RUN ")),
        "the runtime image has no shell to RUN anything with"
    );
    let user = runtime
        .iter()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER");
    let docs = documents();
    let deployment = kind(&docs, "Deployment");
    let security = &deployment["spec"]["template"]["spec"]["securityContext"];
    assert_eq!(
        user,
        format!("{}:{}", security["runAsUser"], security["runAsGroup"]),
        "the image's user and group are the manifest's"
    );
    let exposed: u16 = lines
        .iter()
        .find_map(|l| l.strip_prefix("EXPOSE "))
        .unwrap()
        .parse()
        .unwrap();
    let port = deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
        .as_u64()
        .unwrap();
    assert_eq!(u64::from(exposed), port);
    assert!(DOCKERFILE.contains(&format!("NOTES_LISTEN=0.0.0.0:{exposed}")));
}

/// The contract Job (after the rollout) is the migration Job with policy apply.
#[test]
fn the_contract_job_is_the_migration_job_with_policy_apply() {
    let contract = parse(CONTRACT);
    let job = kind(&contract, "Job");
    let mut expected = kind(&documents(), "Job").clone();
    expected["metadata"]["name"] = "notes-contract-COMMIT".into();
    expected["metadata"]["labels"]["app"] = "notes-contract".into();
    expected["spec"]["template"]["metadata"]["labels"]["app"] = "notes-contract".into();
    let container = &mut expected["spec"]["template"]["spec"]["containers"][0];
    container["name"] = "contract".into();
    for variable in container["env"].as_array_mut().unwrap() {
        if variable["name"] == "NOTES_MIGRATE" {
            variable["value"] = "apply".into();
        }
    }
    assert_eq!(*job, expected);
    // Its pod is reached by nothing, like the migration Job's.
    let policy = kind(&contract, "NetworkPolicy");
    assert_eq!(
        policy["spec"]["podSelector"]["matchLabels"]["app"],
        "notes-contract"
    );
    assert!(policy["spec"].get("ingress").is_none());
}

/// `--migrate-only` as the two Jobs run it, on a database release N-1 migrated:
/// expand applies migration 2 and holds back 3 (contract); apply applies 3.
#[test]
fn the_migration_jobs_expand_then_contract() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = |binary: std::path::PathBuf, policy: &str| {
        let events = migrate_only(&binary, dir.path(), &data, Some(policy));
        let versions = |event: &str| -> Vec<i64> {
            events
                .iter()
                .filter(|e| e["event"] == event)
                .map(|e| e["version"].as_i64().unwrap())
                .collect()
        };
        let state = events
            .iter()
            .find(|e| e["event"] == "schema.status")
            .map(|e| e["state"].as_str().unwrap().to_owned());
        (
            versions("schema.migrated"),
            versions("schema.contract_held_back"),
            state,
        )
    };
    assert_eq!(
        run(support::notes_previous(), "apply"),
        (vec![1], vec![], Some("up_to_date".to_owned()))
    );
    let expand = run(support::notes(), "expand");
    assert_eq!(
        expand,
        (vec![2], vec![3], Some("contract_pending".to_owned()))
    );
    assert_eq!(
        run(support::notes(), "apply"),
        (vec![3], vec![], Some("up_to_date".to_owned()))
    );
}

/// Runs `binary --migrate-only` from a clean environment on the SQLite database in
/// `data` (with `NOTES_MIGRATE=policy` when given), asserts it exits 0, and
/// returns its JSON log lines.
fn migrate_only(
    binary: &std::path::Path,
    dir: &std::path::Path,
    data: &std::path::Path,
    policy: Option<&str>,
) -> Vec<Value> {
    let mut command = Command::new(binary);
    command
        .current_dir(dir)
        .env_clear()
        .env("LOG_FORMAT", "json")
        .env("NOTES_DATA_DIR", data);
    if let Some(policy) = policy {
        command.env("NOTES_MIGRATE", policy);
    }
    let output = command.arg("--migrate-only").output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn the_migration_job_command_applies_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let events = migrate_only(&support::notes(), dir.path(), &data, None);
    assert_eq!(
        events
            .iter()
            .filter(|e| e["event"] == "schema.migrated")
            .count(),
        3
    );
    let last = events.last().unwrap();
    assert_eq!(last["event"], "service.stopped");
    assert!(
        text(&last["reason"]).starts_with("migration job done (NOTES_MIGRATE=apply)"),
        "{last}"
    );
}
