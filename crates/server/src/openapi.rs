//! The OpenAPI 3.1 document, generated from the running release: each flow
//! gets its own decision and application paths whose request schema is the
//! flow's declared inputs. `/docs` renders it offline (no CDN): a small page
//! that reads `/openapi.json`.

use riskflow_engine::Project;
use riskflow_engine::fieldtype::FieldType;
use serde_json::{Value as Json, json};

use crate::error::Code;

fn field_schema(t: &FieldType) -> Json {
    match t {
        FieldType::Bool => json!({"type": "boolean"}),
        FieldType::Int => json!({"type": "integer", "minimum": i64::MIN, "maximum": i64::MAX}),
        FieldType::Double => json!({"type": "number"}),
        FieldType::String => json!({"type": "string"}),
        FieldType::Money => money_schema(None, None),
        FieldType::Timestamp => json!({"type": "string", "format": "date-time"}),
        FieldType::Duration => json!({"type": "string", "examples": ["1.5s", "36h"]}),
        FieldType::List(inner) => json!({"type": "array", "items": field_schema(inner)}),
        FieldType::Map => json!({"type": "object"}),
        FieldType::Record(fields) => {
            let props: serde_json::Map<String, Json> = fields
                .iter()
                .map(|f| {
                    let s = field_schema(&f.ty);
                    let s = if f.required {
                        s
                    } else {
                        json!({"anyOf": [s, {"type": "null"}]})
                    };
                    (f.name.clone(), s)
                })
                .collect();
            let required: Vec<&str> = fields
                .iter()
                .filter(|f| f.required)
                .map(|f| f.name.as_str())
                .collect();
            json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
        }
        _ => json!({}),
    }
}

/// Money as a JSON string or number. A string cannot carry numeric bounds in
/// JSON Schema, so its pattern bounds the digits before the point: exact when
/// the declared maximum is 10^n − 0.01 (999999.99) and the minimum 0 or its
/// negative, the shape we recommend; otherwise the server is stricter than
/// the pattern.
fn money_schema(min: Option<f64>, max: Option<f64>) -> Json {
    let bound = min.unwrap_or(-1e15).abs().max(max.unwrap_or(1e15).abs());
    let digits = if bound >= 1e15 {
        15
    } else {
        (bound.floor().max(1.0)).log10().floor() as usize + 1
    };
    let sign = if min.is_some_and(|m| m >= 0.0) {
        ""
    } else {
        "-?"
    };
    let mut number = json!({"type": "number", "multipleOf": 0.01});
    match min {
        Some(m) => number["minimum"] = json!(m),
        None => number["exclusiveMinimum"] = json!(-1e15),
    }
    match max {
        Some(m) => number["maximum"] = json!(m),
        None => number["exclusiveMaximum"] = json!(1e15),
    }
    json!({
        "description": "an amount of money: a decimal with at most 2 places",
        "oneOf": [
            {"type": "string", "pattern": format!("^{sign}[0-9]{{1,{digits}}}(\\.[0-9]{{1,2}})?$")},
            number,
        ],
    })
}

fn input_schema(f: &riskflow_engine::Flow) -> Json {
    let mut props = serde_json::Map::new();
    let mut required = Vec::new();
    for i in &f.inputs {
        let mut s = field_schema(&i.ty);
        if let Some(one_of) = &i.one_of {
            s["enum"] = json!(one_of);
        }
        if matches!(i.ty, FieldType::Money) {
            s = money_schema(i.min, i.max);
        } else {
            if let Some(min) = i.min {
                s["minimum"] = json!(min);
            }
            if let Some(max) = i.max {
                s["maximum"] = json!(max);
            }
        }
        if i.required {
            required.push(i.name.clone());
        } else {
            // An optional input may be absent or null.
            s = json!({"anyOf": [s, {"type": "null"}]});
        }
        props.insert(i.name.clone(), s);
    }
    // Undeclared fields are refused (a typo must not pass silently).
    json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
}

fn error_response(description: &str) -> Json {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn errors(codes: &[u16]) -> serde_json::Map<String, Json> {
    codes
        .iter()
        .map(|c| {
            let names: Vec<&str> = Code::ALL
                .iter()
                .filter(|k| k.status().as_u16() == *c)
                .map(|k| k.as_str())
                .collect();
            (c.to_string(), error_response(&names.join(", ")))
        })
        .collect()
}

fn with_errors(ok: Json, codes: &[u16]) -> Json {
    let mut m = errors(codes);
    if let Json::Object(o) = ok {
        m.extend(o);
    }
    Json::Object(m)
}

fn ok(status: u16, description: &str, schema: Json) -> Json {
    json!({ status.to_string(): {"description": description, "content": {"application/json": {"schema": schema}}}})
}

fn time_schema() -> Json {
    json!({"anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "pattern": "^-?[0-9]{1,15}$"}]})
}

fn path_param(name: &str) -> Json {
    json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
}

fn query_param(name: &str, schema: Json, description: &str) -> Json {
    json!({"name": name, "in": "query", "required": false, "schema": schema, "description": description})
}

/// The document for `project`.
pub fn spec(project: &Project, release: &str) -> Json {
    let mut paths = serde_json::Map::new();
    let json_body = |schema: Json| json!({"required": true, "content": {"application/json": {"schema": schema}}});
    for f in project.flows.values() {
        let name = &f.name;
        let schema = input_schema(f);
        paths.insert(
            format!("/v1/flows/{name}/decisions"),
            json!({"post": {
                "operationId": format!("decide_{name}"),
                "summary": format!("Decide {name} now (synchronous); the decision is logged before the answer"),
                "description": f.description,
                "tags": ["decisions"],
                "parameters": [query_param("trace", json!({"type": "boolean"}), "include every intermediate value, model and rule hit")],
                "requestBody": json_body(schema.clone()),
                "responses": with_errors(ok(200, "the decision", json!({"$ref": "#/components/schemas/Decision"})), &[400, 413, 415, 422, 503]),
            }}),
        );
        paths.insert(
            format!("/v1/flows/{name}/applications"),
            json!({"post": {
                "operationId": format!("apply_{name}"),
                "summary": format!("Queue a {name} application (asynchronous); 202 once it is durable"),
                "tags": ["applications"],
                "parameters": [{"name": "Idempotency-Key", "in": "header", "required": false,
                    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
                    "description": "a repeat with the same key returns the same id"}],
                "requestBody": json_body(schema),
                "responses": with_errors(ok(202, "accepted", json!({"$ref": "#/components/schemas/Accepted"})), &[400, 413, 415, 422, 503]),
            }}),
        );
    }
    paths.insert("/v1/flows".into(), json!({"get": {
        "operationId": "list_flows", "summary": "The flows of the running release", "tags": ["flows"],
        "responses": ok(200, "flows", json!({"type": "object", "required": ["release", "flows"]})),
    }}));
    paths.insert("/v1/decisions".into(), json!({"get": {
        "operationId": "list_decisions", "summary": "The decision log, newest first (cursor paging)", "tags": ["decisions"],
        "parameters": [
            query_param("flow", json!({"type": "string"}), "flow name"),
            query_param("outcome", json!({"type": "string"}), "the decision output (approve, reject, review…)"),
            query_param("key", json!({"type": "string"}), "the flow's key input (customer, account)"),
            query_param("status", json!({"type": "string", "enum": ["pending", "completed", "failed", "dead_lettered"]}), "status"),
            query_param("from", time_schema(), "RFC 3339 or Unix ms, inclusive"),
            query_param("to", time_schema(), "RFC 3339 or Unix ms, exclusive"),
            query_param("cursor", json!({"type": "string"}), "`next` of the previous page"),
            query_param("limit", json!({"type": "integer", "minimum": 0, "maximum": 4294967295u64}), "page size (1–1000, default 50)"),
        ],
        "responses": with_errors(ok(200, "one page", json!({"type": "object", "required": ["items", "next"],
            "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/LogEntry"}}, "next": {"type": ["string", "null"]}}})), &[400]),
    }}));
    paths.insert("/v1/decisions/{id}".into(), json!({"get": {
        "operationId": "get_decision", "summary": "One decision: request, every intermediate value, outputs, release, timings, status", "tags": ["decisions"],
        "parameters": [path_param("id")],
        "responses": with_errors(ok(200, "the decision", json!({"$ref": "#/components/schemas/LogEntry"})), &[400, 404]),
    }}));
    paths.insert("/v1/decisions/{id}/events".into(), json!({"get": {
        "operationId": "decision_events", "summary": "The events of a decision and their deliveries", "tags": ["events"],
        "parameters": [path_param("id")],
        "responses": with_errors(ok(200, "deliveries", json!({"type": "object", "required": ["items"]})), &[400, 404]),
    }}));
    paths.insert("/v1/webhooks".into(), json!({
        "post": {
            "operationId": "create_webhook", "summary": "Subscribe a URL to events", "tags": ["events"],
            "requestBody": json_body(json!({"type": "object", "required": ["url"], "properties": {
                "url": {"type": "string", "pattern": "^https?://[A-Za-z0-9][!-~]*$"},
                "events": {"type": "array", "minItems": 1, "items": {"type": "string", "enum": ["decision.completed", "decision.failed", "application.dead_lettered", "*"]}},
                "secret": {"type": ["string", "null"], "minLength": 16, "description": "null or absent: one is generated"}}})),
            "responses": with_errors(ok(201, "created; the secret is shown only now", json!({"type": "object", "required": ["id", "url", "events", "secret"]})), &[400, 413, 415, 422]),
        },
        "get": {
            "operationId": "list_webhooks", "summary": "Webhook subscriptions", "tags": ["events"],
            "responses": ok(200, "subscriptions", json!({"type": "object", "required": ["items"]})),
        },
    }));
    paths.insert(
        "/v1/webhooks/{id}".into(),
        json!({"delete": {
            "operationId": "delete_webhook", "summary": "Unsubscribe", "tags": ["events"],
            "parameters": [path_param("id")],
            "responses": with_errors(json!({"204": {"description": "deleted"}}), &[400, 404]),
        }}),
    );
    paths.insert("/v1/dead-letters".into(), json!({"get": {
        "operationId": "list_dead_letters", "summary": "Applications whose retries ran out", "tags": ["applications"],
        "parameters": [query_param("limit", json!({"type": "integer", "minimum": 0, "maximum": 4294967295u64}), "at most (1–1000)")],
        "responses": with_errors(ok(200, "dead letters", json!({"type": "object", "required": ["items"]})), &[400]),
    }}));
    paths.insert("/v1/dead-letters/{id}/redrive".into(), json!({"post": {
        "operationId": "redrive", "summary": "Queue a dead-lettered application again", "tags": ["applications"],
        "parameters": [path_param("id")],
        "responses": with_errors(ok(202, "queued again", json!({"$ref": "#/components/schemas/Accepted"})), &[400, 404]),
    }}));
    for (p, id, summary) in [
        ("/healthz", "healthz", "Alive"),
        (
            "/readyz",
            "readyz",
            "Ready: database reachable, not shutting down",
        ),
    ] {
        paths.insert(
            p.into(),
            json!({"get": {"operationId": id, "summary": summary, "tags": ["operations"],
            "responses": with_errors(ok(200, "ok", json!({"type": "object"})), &[503])}}),
        );
    }
    paths.insert("/metrics".into(), json!({"get": {"operationId": "metrics", "summary": "Prometheus metrics", "tags": ["operations"],
        "responses": {"200": {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}}}}));
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": format!("riskflow — {}", project.name),
            "version": release,
            "description": "Risk decisions: synchronous decisions, queued applications, the decision log, events. Errors share one envelope: {\"error\": {\"code\", \"message\", \"details\"}}.",
        },
        "paths": paths,
        "components": {"schemas": {
            "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                "type": "object", "required": ["code", "message", "details"],
                "properties": {
                    "code": {"type": "string", "enum": Code::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>()},
                    "message": {"type": "string"},
                    "details": {},
                }}}},
            "Decision": {"type": "object", "required": ["id", "flow", "release", "outputs", "duration_us"], "properties": {
                "id": {"type": "string"}, "flow": {"type": "string"}, "release": {"type": "string"},
                "outputs": {"type": "object"}, "duration_us": {"type": "integer"}, "logged": {"type": "boolean"},
                "trace": {"type": "object"}}},
            "Accepted": {"type": "object", "required": ["id", "status", "location"], "properties": {
                "id": {"type": "string"}, "flow": {"type": "string"}, "status": {"type": "string"}, "location": {"type": "string"}}},
            "LogEntry": {"type": "object", "required": ["id", "flow", "release", "mode", "status", "request", "created_ms"], "properties": {
                "id": {"type": "string"}, "flow": {"type": "string"}, "release": {"type": "string"},
                "mode": {"type": "string", "enum": ["sync", "async"]},
                "status": {"type": "string", "enum": ["pending", "completed", "failed", "dead_lettered"]},
                "outcome": {"type": ["string", "null"]}, "key": {"type": ["string", "null"]},
                "request": {}, "outputs": {}, "trace": {}, "error": {"type": ["string", "null"]},
                "attempts": {"type": "integer"}, "created_ms": {"type": "integer"},
                "decided_ms": {"type": ["integer", "null"]}, "duration_us": {"type": ["integer", "null"]},
                "decided_by": {"type": ["string", "null"]}}},
        }},
    })
}

/// The docs page: renders `/openapi.json` in the browser with no network
/// beyond this server.
pub const DOCS_HTML: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>riskflow API</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#1d1d1f}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd}
.op{border:1px solid #e3e3e3;border-radius:6px;margin:.8em 0;padding:.6em .9em}
.m{display:inline-block;min-width:4.5em;font-weight:600;text-transform:uppercase}
.get{color:#0a7b32}.post{color:#0b5cad}.delete{color:#b3261e}
code,pre{font:13px ui-monospace,monospace;background:#f6f6f6;border-radius:4px}
pre{padding:.6em;overflow:auto}details summary{cursor:pointer}
</style></head><body><h1 id="t">riskflow API</h1><p id="d"></p><div id="ops">Loading /openapi.json…</div>
<script>
fetch('openapi.json').then(r=>r.json()).then(s=>{
 document.getElementById('t').textContent=s.info.title+' (release '+s.info.version+')';
 document.getElementById('d').textContent=s.info.description;
 const ops=document.getElementById('ops');ops.textContent='';
 const byTag={};
 for(const [p,item] of Object.entries(s.paths))for(const [m,op] of Object.entries(item)){
  const t=(op.tags||['other'])[0];(byTag[t]=byTag[t]||[]).push([p,m,op]);}
 for(const [t,list] of Object.entries(byTag)){
  const h=document.createElement('h2');h.textContent=t;ops.appendChild(h);
  for(const [p,m,op] of list){
   const d=document.createElement('div');d.className='op';
   const head=document.createElement('div');
   head.innerHTML='<span class="m '+m+'"></span> <code></code> — <span></span>';
   head.children[0].textContent=m;head.children[1].textContent=p;head.children[2].textContent=op.summary||'';
   d.appendChild(head);
   const det=document.createElement('details');const sum=document.createElement('summary');
   sum.textContent='parameters, body and responses';det.appendChild(sum);
   const pre=document.createElement('pre');
   pre.textContent=JSON.stringify({parameters:op.parameters,requestBody:op.requestBody,responses:op.responses},null,2);
   det.appendChild(pre);d.appendChild(det);ops.appendChild(d);
  }}
}).catch(e=>{document.getElementById('ops').textContent='Could not load openapi.json: '+e});
</script></body></html>
"#;
