//! Health responses in the `application/health+json` format
//! (draft-inadarei-api-health-check).

use std::time::SystemTime;

use bytes::Bytes;
use http::StatusCode;
use serde_json::{Map, Value, json};

use crate::check_state::CheckState;
use crate::gate::Gate;
use crate::outcome::Status;
use crate::probe::Probe;

/// What a probe reports for a check that has not finished its first run.
fn unknown_status(probe: Probe) -> Status {
    match probe {
        // A liveness check that has not run yet is no evidence of a stuck process;
        // failing it would restart a service that is merely starting.
        Probe::Liveness => Status::Pass,
        Probe::Readiness | Probe::Startup => Status::Fail,
    }
}

const NOT_CHECKED_YET: &str = "not checked yet";
const WITHHELD: &str = "details withheld; the reason is in the service log (event health.changed)";

/// Identity of the service, reported in every response.
#[derive(Debug, Clone, Default)]
pub(crate) struct Identity {
    pub(crate) service_id: Option<String>,
    pub(crate) version: Option<String>,
    pub(crate) release_id: Option<String>,
    pub(crate) description: Option<String>,
}

/// A rendered probe response.
#[derive(Debug, Clone)]
pub(crate) struct Rendered {
    pub(crate) status: Status,
    pub(crate) code: StatusCode,
    pub(crate) body: Bytes,
}

/// What a rendering reads of the registry beyond its checks.
pub(crate) trait Registry {
    /// The gate that fails `probe` whatever its checks say (starting, draining,
    /// maintenance), if one is closed.
    fn gate(&self, probe: Probe) -> Option<Gate>;
    /// Whether the startup probe has passed once.
    fn startup_passed(&self) -> bool;
    /// Whether responses carry each check's output.
    fn details(&self) -> bool;
    /// The identity reported in every response.
    fn identity(&self) -> Identity;
}

/// One probe's view: the checks that count for it, minus the excluded ones.
pub(crate) struct ProbeView<'a> {
    shared: &'a dyn Registry,
    probe: Probe,
    checks: Vec<&'a CheckState>,
}

impl<'a> ProbeView<'a> {
    pub(crate) fn new(
        shared: &'a dyn Registry,
        probe: Probe,
        checks: &'a [CheckState],
        exclude: &[String],
    ) -> Self {
        let checks = checks
            .iter()
            .filter(|c| c.options.counts_for(probe) && !exclude.iter().any(|e| **e == *c.name))
            .collect();
        Self {
            shared,
            probe,
            checks,
        }
    }

    /// The probe's status: a closed gate fails it, else the worst of its checks; a
    /// startup probe that has passed once passes from then on.
    fn status(&self) -> (Status, Option<&'static str>) {
        if let Some(gate) = self.shared.gate(self.probe) {
            return (Status::Fail, Some(gate.output()));
        }
        if self.probe == Probe::Startup && self.shared.startup_passed() {
            return (Status::Pass, None);
        }
        let worst = self
            .checks
            .iter()
            .map(|c| c.status.unwrap_or_else(|| unknown_status(self.probe)))
            .max()
            .unwrap_or(Status::Pass);
        (worst, None)
    }

    pub(crate) fn render(&self) -> Rendered {
        let (status, output) = self.status();
        let mut body = self.header(status);
        if let Some(output) = output {
            body.insert("output".into(), output.into());
        }
        let checks: Map<String, Value> = self
            .checks
            .iter()
            .map(|c| entry(c, self.probe, self.shared.details()))
            .collect();
        body.insert("checks".into(), Value::Object(checks));
        finish(status, body)
    }

    /// The response for one check of this probe.
    pub(crate) fn render_one(shared: &dyn Registry, probe: Probe, check: &CheckState) -> Rendered {
        let status = check.status.unwrap_or_else(|| unknown_status(probe));
        let view = ProbeView {
            shared,
            probe,
            checks: Vec::new(),
        };
        let mut body = view.header(status);
        let (key, value) = entry(check, probe, shared.details());
        body.insert("checks".into(), json!({ key: value }));
        finish(status, body)
    }

    fn header(&self, status: Status) -> Map<String, Value> {
        let identity = self.shared.identity();
        let mut body = Map::new();
        body.insert("status".into(), status.as_str().into());
        let fields = [
            ("version", &identity.version),
            ("releaseId", &identity.release_id),
            ("serviceId", &identity.service_id),
            ("description", &identity.description),
        ];
        for (key, value) in fields {
            if let Some(value) = value {
                body.insert(key.into(), value.as_str().into());
            }
        }
        body
    }
}

/// `404` for `/readyz/NAME` with an unknown name, listing the known ones.
pub(crate) fn not_found(probe: Probe, name: &str, known: &[&str]) -> Rendered {
    let output = if known.is_empty() {
        format!("no {probe} check named {name:?}; this service has no {probe} checks")
    } else {
        format!(
            "no {probe} check named {name:?}; {probe} checks: {}",
            known.join(", ")
        )
    };
    let body = json!({ "status": "fail", "output": output });
    Rendered {
        status: Status::Fail,
        code: StatusCode::NOT_FOUND,
        body: Bytes::from(body.to_string()),
    }
}

fn finish(status: Status, body: Map<String, Value>) -> Rendered {
    Rendered {
        status,
        code: if status.is_healthy() {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        body: Bytes::from(Value::Object(body).to_string()),
    }
}

/// The `checks` entry of one check: `"NAME:responseTime": [{...}]`.
fn entry(check: &CheckState, probe: Probe, details: bool) -> (String, Value) {
    let mut object = Map::new();
    object.insert("componentId".into(), (*check.name).into());
    if let Some(component_type) = &check.options.component_type {
        object.insert("componentType".into(), component_type.as_str().into());
    }
    match (check.status, check.time) {
        (Some(status), Some(time)) => {
            object.insert("status".into(), status.as_str().into());
            let millis = check.duration.as_secs_f64() * 1000.0;
            object.insert(
                "observedValue".into(),
                json!((millis * 1000.0).round() / 1000.0),
            );
            object.insert("observedUnit".into(), "ms".into());
            object.insert("time".into(), rfc3339(time).into());
            let output = match (&check.output, status, details) {
                (Some(output), _, true) => Some(output.as_str()),
                (_, Status::Fail | Status::Warn, false) => Some(WITHHELD),
                _ => None,
            };
            if let Some(output) = output {
                object.insert("output".into(), output.into());
            }
        }
        _ => {
            object.insert("status".into(), unknown_status(probe).as_str().into());
            object.insert("output".into(), NOT_CHECKED_YET.into());
        }
    }
    (
        format!("{}:responseTime", check.name),
        Value::Array(vec![Value::Object(object)]),
    )
}

fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}
