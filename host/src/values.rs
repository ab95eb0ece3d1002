//! JSON ⇄ component values, driven by the function's WIT types. WAVE (the
//! `wasm-wave` crate, through Wasmtime's `wave` feature) is the lossless text
//! form; JSON is offered where the types allow:
//!
//! | WIT                 | JSON                                          |
//! |---------------------|-----------------------------------------------|
//! | bool, numbers       | bool, number (NaN/∞ are not JSON)             |
//! | char, string        | string                                        |
//! | list, tuple         | array                                         |
//! | record              | object keyed by field name                    |
//! | enum                | string                                        |
//! | variant             | `"case"` without payload, `{"case": v}` with  |
//! | option              | `null` or the value                           |
//! | result              | `{"ok": v}` / `{"err": v}`                    |
//! | flags               | `{"name": true}` per set flag (an array of set names is accepted too) |
//! | map                 | array of `[key, value]` pairs                 |
//! | resources, streams  | not representable                             |

use serde_json::{Map as JsonMap, Number, Value as Json};
use wasmtime::component::{Type, Val};

/// Convert a component value to JSON.
pub fn val_to_json(val: &Val) -> Result<Json, String> {
    Ok(match val {
        Val::Bool(b) => Json::Bool(*b),
        Val::S8(n) => (*n).into(),
        Val::U8(n) => (*n).into(),
        Val::S16(n) => (*n).into(),
        Val::U16(n) => (*n).into(),
        Val::S32(n) => (*n).into(),
        Val::U32(n) => (*n).into(),
        Val::S64(n) => (*n).into(),
        Val::U64(n) => (*n).into(),
        Val::Float32(f) => float(*f as f64)?,
        Val::Float64(f) => float(*f)?,
        Val::Char(c) => Json::String(c.to_string()),
        Val::String(s) => Json::String(s.clone()),
        Val::List(items) | Val::Tuple(items) | Val::FixedLengthList(items) => {
            Json::Array(items.iter().map(val_to_json).collect::<Result<_, _>>()?)
        }
        Val::Map(pairs) => Json::Array(
            pairs
                .iter()
                .map(|(k, v)| Ok(Json::Array(vec![val_to_json(k)?, val_to_json(v)?])))
                .collect::<Result<_, String>>()?,
        ),
        Val::Record(fields) => {
            let mut m = JsonMap::new();
            for (k, v) in fields {
                m.insert(k.clone(), val_to_json(v)?);
            }
            Json::Object(m)
        }
        Val::Variant(case, None) | Val::Enum(case) => Json::String(case.clone()),
        Val::Variant(case, Some(payload)) => {
            let mut m = JsonMap::new();
            m.insert(case.clone(), val_to_json(payload)?);
            Json::Object(m)
        }
        Val::Option(None) => Json::Null,
        Val::Option(Some(v)) => val_to_json(v)?,
        Val::Result(r) => {
            let (key, v) = match r {
                Ok(v) => ("ok", v),
                Err(v) => ("err", v),
            };
            let mut m = JsonMap::new();
            m.insert(
                key.into(),
                match v {
                    Some(v) => val_to_json(v)?,
                    None => Json::Null,
                },
            );
            Json::Object(m)
        }
        // The set flags, each `true` (an unset flag is absent), as jco and
        // the generated TypeScript (`{ read?: boolean, … }`) have them.
        Val::Flags(names) => Json::Object(
            names
                .iter()
                .map(|n| (n.clone(), Json::Bool(true)))
                .collect(),
        ),
        Val::Resource(_) | Val::Future(_) | Val::Stream(_) | Val::ErrorContext(_) => {
            return Err("resources, futures and streams have no JSON form".into());
        }
    })
}

fn float(f: f64) -> Result<Json, String> {
    Number::from_f64(f)
        .map(Json::Number)
        .ok_or_else(|| format!("{f} is not representable in JSON"))
}

fn expected(what: &str, got: &Json) -> String {
    let got = match got {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    };
    format!("expected {what}, got {got}")
}

macro_rules! int {
    ($json:expr, $ty:ty, $variant:ident, $what:literal) => {{
        let n = $json
            .as_i64()
            .map(i128::from)
            .or_else(|| $json.as_u64().map(i128::from));
        match n.and_then(|n| <$ty>::try_from(n).ok()) {
            Some(n) => Val::$variant(n),
            None => return Err(expected($what, $json)),
        }
    }};
}

/// Convert JSON to a component value of type `ty`.
pub fn json_to_val(json: &Json, ty: &Type) -> Result<Val, String> {
    Ok(match ty {
        Type::Bool => Val::Bool(json.as_bool().ok_or_else(|| expected("a boolean", json))?),
        Type::S8 => int!(json, i8, S8, "an s8"),
        Type::U8 => int!(json, u8, U8, "a u8"),
        Type::S16 => int!(json, i16, S16, "an s16"),
        Type::U16 => int!(json, u16, U16, "a u16"),
        Type::S32 => int!(json, i32, S32, "an s32"),
        Type::U32 => int!(json, u32, U32, "a u32"),
        Type::S64 => int!(json, i64, S64, "an s64"),
        Type::U64 => int!(json, u64, U64, "a u64"),
        Type::Float32 => {
            Val::Float32(json.as_f64().ok_or_else(|| expected("a number", json))? as f32)
        }
        Type::Float64 => Val::Float64(json.as_f64().ok_or_else(|| expected("a number", json))?),
        Type::Char => {
            let s = json
                .as_str()
                .ok_or_else(|| expected("a one-character string", json))?;
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Val::Char(c),
                _ => return Err(format!("expected one character, got {s:?}")),
            }
        }
        Type::String => Val::String(
            json.as_str()
                .ok_or_else(|| expected("a string", json))?
                .to_string(),
        ),
        Type::List(l) => {
            let items = json.as_array().ok_or_else(|| expected("an array", json))?;
            let elem = l.ty();
            Val::List(
                items
                    .iter()
                    .map(|j| json_to_val(j, &elem))
                    .collect::<Result<_, _>>()?,
            )
        }
        Type::Tuple(t) => {
            let items = json.as_array().ok_or_else(|| expected("an array", json))?;
            let types: Vec<Type> = t.types().collect();
            if items.len() != types.len() {
                return Err(format!(
                    "expected a tuple of {}, got {} items",
                    types.len(),
                    items.len()
                ));
            }
            Val::Tuple(
                items
                    .iter()
                    .zip(&types)
                    .map(|(j, t)| json_to_val(j, t))
                    .collect::<Result<_, _>>()?,
            )
        }
        Type::Record(r) => {
            let obj = json
                .as_object()
                .ok_or_else(|| expected("an object", json))?;
            let mut fields = Vec::new();
            for f in r.fields() {
                let v = match obj.get(f.name) {
                    Some(j) => {
                        json_to_val(j, &f.ty).map_err(|e| format!("field `{}`: {e}", f.name))?
                    }
                    None if matches!(f.ty, Type::Option(_)) => Val::Option(None),
                    None => return Err(format!("missing field `{}`", f.name)),
                };
                fields.push((f.name.to_string(), v));
            }
            if let Some(extra) = obj
                .keys()
                .find(|k| !r.fields().any(|f| f.name == k.as_str()))
            {
                return Err(format!("unknown field `{extra}`"));
            }
            Val::Record(fields)
        }
        Type::Enum(e) => {
            let s = json.as_str().ok_or_else(|| expected("a string", json))?;
            if !e.names().any(|n| n == s) {
                return Err(format!(
                    "`{s}` is not one of {}",
                    e.names().collect::<Vec<_>>().join(", ")
                ));
            }
            Val::Enum(s.to_string())
        }
        Type::Variant(v) => {
            let (name, payload) = match json {
                Json::String(s) => (s.as_str(), None),
                Json::Object(m) if m.len() == 1 => {
                    let (k, v) = m.iter().next().ok_or("empty object")?;
                    (k.as_str(), Some(v))
                }
                other => return Err(expected("a case name or {\"case\": payload}", other)),
            };
            let case = v.cases().find(|c| c.name == name).ok_or_else(|| {
                format!(
                    "`{name}` is not one of {}",
                    v.cases().map(|c| c.name).collect::<Vec<_>>().join(", ")
                )
            })?;
            let payload = match (case.ty, payload) {
                (None, None | Some(Json::Null)) => None,
                (Some(t), Some(p)) => Some(Box::new(json_to_val(p, &t)?)),
                (Some(_), None) => return Err(format!("case `{name}` needs a payload")),
                (None, Some(_)) => return Err(format!("case `{name}` takes no payload")),
            };
            Val::Variant(name.to_string(), payload)
        }
        Type::Option(o) => match json {
            Json::Null => Val::Option(None),
            j => Val::Option(Some(Box::new(json_to_val(j, &o.ty())?))),
        },
        Type::Result(r) => {
            let obj = json
                .as_object()
                .filter(|m| m.len() == 1)
                .ok_or_else(|| expected("{\"ok\": …} or {\"err\": …}", json))?;
            let conv = |t: Option<Type>, j: &Json| -> Result<Option<Box<Val>>, String> {
                match t {
                    Some(t) => Ok(Some(Box::new(json_to_val(j, &t)?))),
                    None => Ok(None),
                }
            };
            if let Some(j) = obj.get("ok") {
                Val::Result(Ok(conv(r.ok(), j)?))
            } else if let Some(j) = obj.get("err") {
                Val::Result(Err(conv(r.err(), j)?))
            } else {
                return Err(expected("{\"ok\": …} or {\"err\": …}", json));
            }
        }
        Type::Flags(f) => {
            // `{ "read": true, "write": false }`, or the set names as an array.
            static TRUE: Json = Json::Bool(true);
            let set: Vec<(&str, &Json)> = match json {
                Json::Object(m) => m.iter().map(|(k, v)| (k.as_str(), v)).collect(),
                Json::Array(items) => items
                    .iter()
                    .map(|i| {
                        i.as_str()
                            .map(|s| (s, &TRUE))
                            .ok_or_else(|| expected("a flag name", i))
                    })
                    .collect::<Result<_, _>>()?,
                _ => return Err(expected("an object of flags ({\"name\": true})", json)),
            };
            let mut names = Vec::new();
            for (name, on) in set {
                if !f.names().any(|n| n == name) {
                    let known: Vec<&str> = f.names().collect();
                    return Err(format!(
                        "`{name}` is not a flag of this type (flags: {})",
                        known.join(", ")
                    ));
                }
                match on {
                    Json::Bool(true) => names.push(name.to_string()),
                    Json::Bool(false) | Json::Null => {}
                    other => return Err(expected("true or false", other)),
                }
            }
            Val::Flags(names)
        }
        Type::Map(_)
        | Type::FixedLengthList(_)
        | Type::Own(_)
        | Type::Borrow(_)
        | Type::Future(_)
        | Type::Stream(_)
        | Type::ErrorContext => {
            return Err("this type has no JSON form; use WAVE".into());
        }
    })
}

/// The WIT signature of a component function, e.g. `func(a: s32) -> s32`.
pub(crate) fn signature(f: &wasmtime::component::types::ComponentFunc) -> String {
    let params: Vec<String> = f
        .params()
        .map(|(n, t)| format!("{n}: {}", type_name(&t)))
        .collect();
    let results: Vec<String> = f.results().map(|t| type_name(&t)).collect();
    match results.len() {
        0 => format!("func({})", params.join(", ")),
        _ => format!("func({}) -> {}", params.join(", "), results.join(", ")),
    }
}

fn type_name(t: &wasmtime::component::Type) -> String {
    use wasmtime::component::Type as T;
    match t {
        T::Bool => "bool".into(),
        T::S8 => "s8".into(),
        T::U8 => "u8".into(),
        T::S16 => "s16".into(),
        T::U16 => "u16".into(),
        T::S32 => "s32".into(),
        T::U32 => "u32".into(),
        T::S64 => "s64".into(),
        T::U64 => "u64".into(),
        T::Float32 => "f32".into(),
        T::Float64 => "f64".into(),
        T::Char => "char".into(),
        T::String => "string".into(),
        T::List(l) => format!("list<{}>", type_name(&l.ty())),
        T::Option(o) => format!("option<{}>", type_name(&o.ty())),
        T::Result(r) => format!(
            "result<{}, {}>",
            r.ok().map(|t| type_name(&t)).unwrap_or("_".into()),
            r.err().map(|t| type_name(&t)).unwrap_or("_".into())
        ),
        T::Tuple(t) => format!(
            "tuple<{}>",
            t.types()
                .map(|t| type_name(&t))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        T::Record(r) => format!(
            "record {{ {} }}",
            r.fields()
                .map(|f| format!("{}: {}", f.name, type_name(&f.ty)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        T::Enum(e) => format!("enum {{ {} }}", e.names().collect::<Vec<_>>().join(", ")),
        T::Variant(v) => format!(
            "variant {{ {} }}",
            v.cases()
                .map(|c| match c.ty {
                    Some(t) => format!("{}({})", c.name, type_name(&t)),
                    None => c.name.to_string(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
        T::Flags(f) => format!("flags {{ {} }}", f.names().collect::<Vec<_>>().join(", ")),
        T::Own(_) => "own<resource>".into(),
        T::Borrow(_) => "borrow<resource>".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}
