//! ACP `session/update`s as sessionwire events (the table of PROTOCOL.md §9.1).
//!
//! Invariant: every block opened is closed (on a change of chunk kind, a tool call, or the
//! turn's end), and a message is started once per turn, on its first content.

use super::super::EventSink;
use crate::agent::{Ask, Choice};
use serde_json::Value;
use sessionwire_core::protocol::{
    BlockEnd, BlockStart, BlockType, Plan, RawJson, ToolResult, ToolUpdate,
};
use sessionwire_core::EventKind;

/// ACP's tool call content as sessionwire's: a `{type:"content", content:{type:"text", text}}`
/// is `{type:"text", text}`, a diff stays a diff; terminals (never offered) are left out.
fn tool_content(update: &Value) -> Option<Value> {
    let items = update.get("content")?.as_array()?;
    let items = items
        .iter()
        .filter_map(|item| match item.get("type").and_then(Value::as_str) {
            Some("content") => {
                let text = item.pointer("/content/text").and_then(Value::as_str)?;
                Some(serde_json::json!({"type": "text", "text": text}))
            }
            Some("diff") => {
                let mut diff = serde_json::Map::new();
                diff.insert("type".into(), "diff".into());
                for key in ["path", "oldText", "newText"] {
                    if let Some(value) = item.get(key).filter(|v| !v.is_null()) {
                        diff.insert(key.into(), value.clone());
                    }
                }
                Some(Value::Object(diff))
            }
            _ => None,
        })
        .collect();
    Some(Value::Array(items))
}

/// The state of one prompt's translation.
#[derive(Debug)]
pub(super) struct Mapper<'a> {
    events: &'a EventSink,
    message: Option<String>,
    /// The text or thinking block open, and its type.
    open: Option<(String, BlockType)>,
    /// Tool calls whose `tool_use` block was written.
    tools: Vec<String>,
}

impl<'a> Mapper<'a> {
    pub(super) fn new(events: &'a EventSink) -> Self {
        Self {
            events,
            message: None,
            open: None,
            tools: Vec::new(),
        }
    }

    fn message(&mut self) -> String {
        if let Some(id) = &self.message {
            return id.clone();
        }
        let id = self.events.start_message();
        self.message = Some(id.clone());
        id
    }

    fn close_block(&mut self) {
        if let (Some((block, _)), Some(message)) = (self.open.take(), &self.message) {
            self.events.end_block(message, &block, None);
        }
    }

    /// A chunk of text or thinking.
    fn chunk(&mut self, kind: BlockType, content: &Value) {
        let Some(text) = content.get("text").and_then(Value::as_str) else {
            // Images, audio and resources have no sessionwire form yet.
            tracing::debug!("acp: a non-text chunk dropped");
            return;
        };
        if text.is_empty() {
            return;
        }
        let message = self.message();
        let block = match &self.open {
            Some((block, open_kind)) if *open_kind == kind => block.clone(),
            _ => {
                self.close_block();
                let block = self.events.start_block(&message, kind, None);
                self.open = Some((block.clone(), kind));
                block
            }
        };
        self.events.delta(&message, &block, text);
    }

    /// The tool call's `tool_use` block (`blockId` = `toolCallId`), once.
    fn tool_block(&mut self, id: &str, update: &Value) {
        if self.tools.iter().any(|tool| tool == id) {
            return;
        }
        self.close_block();
        let message = self.message();
        let title = update
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or("tool");
        self.events.emit(EventKind::BlockStart(BlockStart {
            message_id: message.clone(),
            block_id: id.to_owned(),
            block_type: BlockType::ToolUse,
            tool_name: Some(title.to_owned()),
        }));
        self.events.emit(EventKind::BlockEnd(BlockEnd {
            message_id: message,
            block_id: id.to_owned(),
            input: update.get("rawInput").cloned().map(RawJson::from),
        }));
        self.tools.push(id.to_owned());
    }

    /// The fields a `tool_call` or `tool_call_update` carries, as a `tool_update` (PROTOCOL.md
    /// §5: a field left out is unchanged), its content as [`tool_content`] makes it.
    fn tool_update(&mut self, id: &str, update: &Value) {
        let text = |key: &str| update.get(key).and_then(Value::as_str).map(str::to_owned);
        let content = tool_content(update).map(RawJson::from);
        let locations = update
            .get("locations")
            .filter(|v| v.is_array())
            .cloned()
            .map(RawJson::from);
        let message = self.message();
        self.events.emit(EventKind::ToolUpdate(ToolUpdate {
            message_id: message,
            tool_id: id.to_owned(),
            status: text("status"),
            title: text("title"),
            kind: text("kind"),
            content,
            locations,
        }));
    }

    /// A `session/request_permission`'s params as what to ask the user. Its `toolCall` is the
    /// call it is about: its block is written first (if no `tool_call` did) and what it carries
    /// is a `tool_update`.
    pub(super) fn permission(&mut self, params: &Value) -> Ask {
        let call = params.get("toolCall").unwrap_or(&Value::Null);
        let tool_id = call
            .get("toolCallId")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if let Some(id) = &tool_id {
            self.tool_block(id, call);
            self.tool_update(id, call);
        }
        let text = |value: &Value, key: &str| {
            value
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let options = params
            .get("options")
            .and_then(Value::as_array)
            .map(|options| {
                options
                    .iter()
                    .map(|option| Choice {
                        option_id: text(option, "optionId"),
                        name: text(option, "name"),
                        kind: text(option, "kind"),
                    })
                    .filter(|choice| !choice.option_id.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let title = call
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or("The agent asks for permission")
            .to_owned();
        Ask {
            tool_id,
            title,
            options,
            content: tool_content(call),
        }
    }

    /// A finished tool call's result.
    fn tool_result(&mut self, id: &str, update: &Value) {
        let status = update.get("status").and_then(Value::as_str);
        if !matches!(status, Some("completed" | "failed")) {
            return;
        }
        let result = update
            .get("rawOutput")
            .or_else(|| update.get("content"))
            .cloned()
            .unwrap_or(Value::Null);
        let message = self.message();
        self.events.emit(EventKind::ToolResult(ToolResult {
            message_id: message,
            tool_id: id.to_owned(),
            result: RawJson::from(result),
            is_error: status == Some("failed"),
        }));
    }

    /// One `session/update`'s `update`.
    pub(super) fn apply(&mut self, update: &Value) {
        let kind = update
            .get("sessionUpdate")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let content = update.get("content").unwrap_or(&Value::Null);
        match kind {
            "agent_message_chunk" => self.chunk(BlockType::Text, content),
            "agent_thought_chunk" => self.chunk(BlockType::Thinking, content),
            "tool_call" | "tool_call_update" => {
                let Some(id) = update.get("toolCallId").and_then(Value::as_str) else {
                    tracing::warn!("acp: a {kind} without toolCallId dropped");
                    return;
                };
                self.tool_block(id, update);
                self.tool_update(id, update);
                self.tool_result(id, update);
            }
            "plan" => {
                let entries = update.get("entries").filter(|v| v.is_array()).cloned();
                self.events.emit(EventKind::Plan(Plan {
                    entries: RawJson::from(entries.unwrap_or_else(|| Value::Array(Vec::new()))),
                }));
            }
            // Logged and dropped, as §9.1 says of updates with no mapping.
            other => tracing::debug!("acp: update {other} dropped"),
        }
    }

    /// The turn is over: the open block and the message end.
    pub(super) fn finish(mut self) {
        self.close_block();
        if let Some(message) = self.message.take() {
            self.events.end_message(&message);
        }
    }
}
