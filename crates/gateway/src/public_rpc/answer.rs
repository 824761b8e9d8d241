//! The front's own JSON-RPC answers.

use serde_json::{Value, json};

/// A JSON-RPC error answer to request `id`.
pub(crate) fn error_body(id: &Value, code: i64, message: &str, data: Option<Value>) -> Value {
    let mut error = json!({ "code": code, "message": message });
    if let Some(data) = data {
        error["data"] = data;
    }
    json!({ "jsonrpc": "2.0", "id": id, "error": error })
}
