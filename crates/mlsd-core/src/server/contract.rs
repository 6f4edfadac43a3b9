//! The constraints a server enforces, stated in its OpenAPI document.
//!
//! Constraints fixed in code sit on the request types (`#[schema(minimum = 1)]`); the ones a
//! server only knows once it starts (known ids, batch sizes, text lengths from its settings)
//! are written into the document here, when the router is built, from the same values the
//! handlers check. A fuzzer that reads the document (Schemathesis, in `.ci/run`) then finds
//! any rule the handlers apply and the document does not state.

use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{ArrayItems, Schema};
use utoipa::openapi::{OpenApi, RefOr};

/// "Not blank" as a pattern: a character outside Unicode's `White_Space` set, the set
/// `str::trim` removes (spelled out: `\s` means another set in each regex dialect).
pub const NOT_BLANK: &str =
    "[^\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";

/// A node of a request's contract.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// A field of a component schema: `Field("ScoreRequest", "customer_id")`.
    Field(&'a str, &'a str),
    /// The items of an array field: `Items("BatchRequest", "texts")`.
    Items(&'a str, &'a str),
    /// A path or query parameter of a route (every method on that path).
    Param(&'a str, &'a str),
}

/// Sets `minimum` and `maximum` on a number (integer or float) node. A range past 32 bits
/// also makes an `int32` node `int64` (utoipa writes `int32` for `u32`, which a fuzzer reads
/// as ±2³¹).
pub fn number_range(api: &mut OpenApi, target: Target<'_>, min: f64, max: f64) -> bool {
    use utoipa::openapi::schema::{KnownFormat, SchemaFormat};
    with_object(api, target, |o| {
        o.minimum = Some(number(min));
        o.maximum = Some(number(max));
        let int32 = Some(SchemaFormat::KnownFormat(KnownFormat::Int32));
        if o.format == int32 && (max > f64::from(i32::MAX) || min < f64::from(i32::MIN)) {
            o.format = Some(SchemaFormat::KnownFormat(KnownFormat::Int64));
        }
    })
}

/// Sets `minLength` and `maxLength` (characters) on a string node.
pub fn length_range(api: &mut OpenApi, target: Target<'_>, min: usize, max: usize) -> bool {
    with_object(api, target, |o| {
        o.min_length = Some(min);
        o.max_length = Some(max);
    })
}

/// Sets `pattern` (an ECMA-262 regular expression, unanchored unless it says `^…$`) on a
/// string node: for rules written once as a constant the handlers' parser also documents.
pub fn pattern(api: &mut OpenApi, target: Target<'_>, regex: &str) -> bool {
    with_object(api, target, |o| o.pattern = Some(regex.to_string()))
}

/// Runs `set` on a scalar (number or string) node; `false` when `target` is not one.
fn with_object(
    api: &mut OpenApi,
    target: Target<'_>,
    mut set: impl FnMut(&mut utoipa::openapi::schema::Object),
) -> bool {
    with_schema(api, target, |schema| match schema {
        Schema::Object(o) => {
            set(o);
            true
        }
        _ => false,
    })
}

/// Sets `minItems` and `maxItems` on an array field.
pub fn item_range(api: &mut OpenApi, target: Target<'_>, min: usize, max: usize) -> bool {
    with_schema(api, target, |schema| match schema {
        Schema::Array(a) => {
            a.min_items = Some(min);
            a.max_items = Some(max);
            true
        }
        _ => false,
    })
}

/// States a range for each position of a fixed-length array of numbers or nulls (JSON
/// Schema's `prefixItems`): one reading's sensors, each with its own plausible range. An
/// infinite bound is left out.
pub fn tuple_ranges(api: &mut OpenApi, target: Target<'_>, ranges: &[(f64, f64)]) -> bool {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    with_schema(api, target, |schema| match schema {
        Schema::Array(a) => {
            a.prefix_items = ranges
                .iter()
                .map(|&(lo, hi)| {
                    let kinds = SchemaType::from_iter([Type::Number, Type::Null]);
                    let mut item = ObjectBuilder::new().schema_type(kinds).build();
                    item.minimum = lo.is_finite().then(|| number(lo));
                    item.maximum = hi.is_finite().then(|| number(hi));
                    Schema::Object(item)
                })
                .collect();
            a.min_items = Some(ranges.len());
            a.max_items = Some(ranges.len());
            true
        }
        _ => false,
    })
}

/// Describes a Server-Sent Events answer (`GET path`, 200, `text/event-stream`) as its events:
/// each has `event: <name>` and a JSON `data` line holding a `payload` component, so a client
/// (or the fuzzer) can check every event it receives, not just the first bytes.
pub fn sse_events(api: &mut OpenApi, path: &str, name: &str, payload: &str) -> bool {
    use utoipa::openapi::extensions::Extensions;
    use utoipa::openapi::schema::{Object, Type};
    let Some(op) = api
        .paths
        .paths
        .get_mut(path)
        .and_then(|item| item.get.as_mut())
    else {
        return false;
    };
    let Some(RefOr::T(answer)) = op.responses.responses.get_mut("200") else {
        return false;
    };
    let Some(content) = answer.content.get_mut("text/event-stream") else {
        return false;
    };
    let mut data = Object::with_type(Type::String);
    data.content_media_type = "application/json".into();
    // `contentSchema` (JSON Schema 2020-12) has no field in utoipa's model: it goes in as an
    // extra key of the object.
    data.extensions = Some(Extensions::from_iter([(
        "contentSchema",
        serde_json::json!({ "$ref": format!("#/components/schemas/{payload}") }),
    )]));
    let mut event = Object::with_type(Type::String);
    event.enum_values = Some(vec![name.into()]);
    let mut object = Object::new();
    object
        .properties
        .insert("event".into(), RefOr::T(Schema::Object(event)));
    object
        .properties
        .insert("data".into(), RefOr::T(Schema::Object(data)));
    object.required = vec!["event".into(), "data".into()];
    content.schema = Some(RefOr::T(Schema::Object(object)));
    true
}

/// A whole number stays a JSON integer in the document (`50`, not `50.0`).
fn number(x: f64) -> utoipa::Number {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        utoipa::Number::Int(x as isize)
    } else {
        utoipa::Number::Float(x)
    }
}

/// Runs `set` on the schema `target` names; `false` when there is none (a renamed field):
/// the contract tests read the constraints back from each server's document.
fn with_schema(
    api: &mut OpenApi,
    target: Target<'_>,
    set: impl FnMut(&mut Schema) -> bool,
) -> bool {
    let done = match target {
        Target::Field(schema, field) => field_schema(api, schema, field).is_some_and(set),
        Target::Items(schema, field) => match field_schema(api, schema, field) {
            Some(Schema::Array(a)) => match &mut a.items {
                ArrayItems::RefOrSchema(item) => match item.as_mut() {
                    RefOr::T(item) => Some(item).is_some_and(set),
                    RefOr::Ref(_) => false,
                },
                ArrayItems::False => false,
            },
            _ => false,
        },
        Target::Param(path, name) => param_schemas(api, path, name).into_iter().all(set),
    };
    if !done {
        tracing::warn!(target: "mlsd::contract", ?target, "no schema to state the constraint on");
    }
    done
}

fn field_schema<'a>(api: &'a mut OpenApi, schema: &str, field: &str) -> Option<&'a mut Schema> {
    let components = api.components.as_mut()?;
    match components.schemas.get_mut(schema)? {
        RefOr::T(Schema::Object(o)) => match o.properties.get_mut(field)? {
            RefOr::T(s) => Some(s),
            RefOr::Ref(_) => None,
        },
        _ => None,
    }
}

fn param_schemas<'a>(api: &'a mut OpenApi, path: &str, name: &str) -> Vec<&'a mut Schema> {
    let Some(item) = api.paths.paths.get_mut(path) else {
        return Vec::new();
    };
    let operations: [&mut Option<Operation>; 4] = [
        &mut item.get,
        &mut item.post,
        &mut item.put,
        &mut item.delete,
    ];
    operations
        .into_iter()
        .flatten()
        .flat_map(|op| op.parameters.iter_mut().flatten())
        .filter(|p| p.name == name)
        .filter_map(|p| match p.schema.as_mut()? {
            RefOr::T(s) => Some(s),
            RefOr::Ref(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(utoipa::ToSchema)]
    #[allow(dead_code)]
    struct Req {
        id: i64,
        texts: Vec<String>,
    }

    #[utoipa::path(get, path = "/x/{id}", params(("id" = u32, Path)), responses((status = 200)))]
    #[allow(dead_code)]
    async fn x() {}

    #[derive(utoipa::OpenApi)]
    #[openapi(paths(x), components(schemas(Req)))]
    struct Doc;

    #[test]
    fn not_blank_spells_out_what_trim_removes() {
        let trimmed: Vec<char> = (0..=0x3000u32)
            .filter_map(char::from_u32)
            .filter(|c| c.is_whitespace())
            .collect();
        let expected: Vec<char> = [0x9..=0xd, 0x20..=0x20, 0x85..=0x85, 0xa0..=0xa0]
            .into_iter()
            .chain([
                0x1680..=0x1680,
                0x2000..=0x200a,
                0x2028..=0x2029,
                0x202f..=0x202f,
            ])
            .chain([0x205f..=0x205f, 0x3000..=0x3000])
            .flatten()
            .filter_map(char::from_u32)
            .collect();
        assert_eq!(trimmed, expected);
        for c in [
            "\\u0085",
            "\\u00a0",
            "\\u1680",
            "\\u2000-\\u200a",
            "\\u3000",
        ] {
            assert!(NOT_BLANK.contains(c), "{c}");
        }
    }

    #[test]
    fn runtime_bounds_land_in_the_document() {
        use utoipa::OpenApi as _;
        let mut api = Doc::openapi();
        assert!(number_range(
            &mut api,
            Target::Field("Req", "id"),
            0.0,
            599.0
        ));
        assert!(item_range(&mut api, Target::Field("Req", "texts"), 1, 64));
        assert!(length_range(
            &mut api,
            Target::Items("Req", "texts"),
            1,
            5_000
        ));
        assert!(number_range(
            &mut api,
            Target::Param("/x/{id}", "id"),
            1.0,
            50.0
        ));
        let json = serde_json::to_value(&api).expect("json");
        let req = &json["components"]["schemas"]["Req"]["properties"];
        assert_eq!(req["id"]["maximum"], 599);
        assert_eq!(req["texts"]["maxItems"], 64);
        assert_eq!(req["texts"]["items"]["maxLength"], 5_000);
        let param = &json["paths"]["/x/{id}"]["get"]["parameters"][0]["schema"];
        assert_eq!(param["minimum"], 1);
        assert_eq!(param["maximum"], 50);
        assert_eq!(param["format"], "int32");
        assert!(number_range(
            &mut api,
            Target::Param("/x/{id}", "id"),
            1.0,
            4_294_967_295.0
        ));
        let json = serde_json::to_value(&api).expect("json");
        let param = &json["paths"]["/x/{id}"]["get"]["parameters"][0]["schema"];
        assert_eq!(param["format"], "int64");
    }
}
