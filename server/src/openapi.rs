//! `/v1/openapi.json`: the paths from the route table
//! ([`crate::routes::ROUTES`]), built with utoipa's OpenAPI model, and the
//! components from `warden-api`'s own types (their JSON Schemas, the same
//! source the Node package's TypeScript types come from), so nothing is
//! written twice.

use serde_json::Value;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, ObjectBuilder, OpenApiBuilder, PathItem,
    PathsBuilder, Ref, RefOr, Required, ResponseBuilder, Schema,
};

use crate::routes::ROUTES;

fn schema_for(name: &str) -> (String, RefOr<Schema>) {
    match name {
        "text/plain" | "text/event-stream" | "application/octet-stream" => {
            (name.to_string(), ObjectBuilder::new().into())
        }
        "object" => ("application/json".into(), ObjectBuilder::new().into()),
        component => (
            "application/json".into(),
            Ref::from_schema_name(component).into(),
        ),
    }
}

fn method(m: &str) -> HttpMethod {
    match m {
        "POST" => HttpMethod::Post,
        "PUT" => HttpMethod::Put,
        "DELETE" => HttpMethod::Delete,
        _ => HttpMethod::Get,
    }
}

/// The document.
pub fn document() -> Value {
    let mut paths = PathsBuilder::new();
    let mut items: std::collections::BTreeMap<&str, PathItem> = Default::default();
    for r in ROUTES {
        let mut op = OperationBuilder::new()
            .summary(Some(r.summary))
            .operation_id(Some(format!(
                "{}{}",
                r.method.to_ascii_lowercase(),
                r.path.replace(['/', '{', '}', '.'], "_")
            )));
        for segment in r.path.split('/') {
            if let Some(param) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                op = op.parameter(
                    ParameterBuilder::new()
                        .name(param)
                        .parameter_in(ParameterIn::Path)
                        .required(Required::True)
                        .schema(Some(
                            ObjectBuilder::new().schema_type(utoipa::openapi::Type::String),
                        )),
                );
            }
        }
        if let Some(body) = r.body {
            let (media, schema) = schema_for(body);
            op = op.request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .content(media, ContentBuilder::new().schema(Some(schema)).build())
                    .build(),
            ));
        }
        let (media, schema) = schema_for(r.answer);
        op = op.response(
            "200",
            ResponseBuilder::new()
                .description("The answer")
                .content(media, ContentBuilder::new().schema(Some(schema)).build()),
        );
        op = op.response(
            "default",
            ResponseBuilder::new()
                .description(
                    "A typed error: `{ error: ErrorBody }` (the status follows `error.code`)",
                )
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                ),
        );
        if r.auth {
            op = op.security(SecurityRequirement::new("bearer", Vec::<String>::new()));
        }
        let op = op.build();
        match items.get_mut(r.path) {
            Some(item) => {
                let mut merged = item.clone();
                merged = merge(merged, method(r.method), op);
                *item = merged;
            }
            None => {
                items.insert(r.path, PathItem::new(method(r.method), op));
            }
        }
    }
    for (path, item) in items {
        paths = paths.path(path, item);
    }
    let components = ComponentsBuilder::new()
        .security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A token from the server's tokens file, or an HS256 JWT whose claims carry the ceiling",
                    ))
                    .build(),
            ),
        )
        .build();
    let doc = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("warden")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Run untrusted code as WebAssembly components under explicit capabilities and limits.",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components))
        .build();
    let mut value = serde_json::to_value(&doc).unwrap_or_default();
    value["openapi"] = Value::String("3.1.0".into());
    if let Some(schemas) = value
        .pointer_mut("/components")
        .and_then(|c| c.as_object_mut())
    {
        schemas.insert(
            "schemas".into(),
            Value::Object(warden_api::schema::components()),
        );
    }
    value
}

fn merge(item: PathItem, m: HttpMethod, op: utoipa::openapi::path::Operation) -> PathItem {
    let mut item = item;
    match m {
        HttpMethod::Get => item.get = Some(op),
        HttpMethod::Post => item.post = Some(op),
        HttpMethod::Put => item.put = Some(op),
        HttpMethod::Delete => item.delete = Some(op),
        _ => {}
    }
    item
}
