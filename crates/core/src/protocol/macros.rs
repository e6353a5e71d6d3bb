//! A macro that declares a frame enum once and derives from it the list of its `type` strings
//! and a per-variant decoder, so the error diagnosis can never drift from the enum itself.

/// Declares an internally tagged frame enum whose every variant wraps its own struct.
///
/// Each variant struct is decoded on its own by its hand-written `FromJson` (`decode_*.rs`),
/// which names the exact path of a bad field. The serde derives stay for the public API (and
/// cost the Wasm build nothing: it never calls `Deserialize`).
macro_rules! frame_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $tag:literal => $variant:ident($payload:ty), )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS))]
        #[serde(tag = "type")]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $tag)] $variant($payload), )*
        }

        impl $name {
            /// Every `type` string this enum accepts.
            pub const TYPES: &'static [&'static str] = &[$($tag),*];

            /// Each `type` with its payload's fields, from their declarations (the tests build
            /// their corpus from these).
            #[doc(hidden)]
            pub const TABLES: &'static [(&'static str, &'static $crate::protocol::table::Table)] =
                &[$(($tag, <$payload as $crate::protocol::table::WireStruct>::TABLE)),*];

            /// The wire `type` of this frame.
            pub fn type_name(&self) -> &'static str {
                match self { $( Self::$variant(_) => $tag, )* }
            }

            /// Decodes a frame already known to have `type == kind`, variant by variant, so
            /// that an error names the exact bad field. A table of one small function per
            /// variant rather than a `match`: the `match` inlined every payload decoder into
            /// one large function of the Wasm binary.
            pub(crate) fn decode_variant(
                kind: &str,
                value: &$crate::protocol::json::Json<'_>,
            ) -> Result<Self, $crate::protocol::ProtocolError> {
                use $crate::protocol::decode::{DecodeError, FromJson, Path};
                use $crate::protocol::json::Json;
                type Decode = fn(&Json<'_>) -> Result<$name, DecodeError>;
                const DECODERS: &[(&str, Decode)] = &[$(
                    ($tag, |value| <$payload>::from_json(value, Path::Root).map($name::$variant)),
                )*];
                match DECODERS.iter().find(|(tag, _)| *tag == kind) {
                    Some((_, decode)) => decode(value).map_err(Into::into),
                    None => Err($crate::protocol::ProtocolError::unknown_type(kind)),
                }
            }
        }
    };
}

/// The fields of a `wire_struct!` or of a `wire_enum!` variant, munched one at a time: for each
/// `"wireKey" field: Type` it adds the field (with its serde and ts-rs attributes, after
/// `$vis`), its row of the decode table (the kind from the Rust type) and how it is written and
/// taken; then it calls `$callback!(@fields $ctx [fields] [table] [steps])`.
///
/// A field is required, `Option<T>` (absent or `null` is `None`, and `None` is not written),
/// `nullable Option<T>` (must be present, may be `null`; `None` is written as `null`) or
/// `nulled Option<T>` (may be absent; `None` is written as `null`: serde's plain `Option`).
/// A `RawJson` payload is typed as any JSON value in TypeScript.
macro_rules! wire_fields {
    ($callback:ident $ctx:tt [$($vis:tt)*] [$($fields:tt)*] [$($table:tt)*] [$($steps:tt)*]
        $(#[$fmeta:meta])* nullable $key:literal $f:ident : Option<$inner:ty> $(, $($rest:tt)*)?
    ) => {
        wire_fields!($callback $ctx [$($vis)*]
            [$($fields)* $(#[$fmeta])*
                #[serde(rename = $key, deserialize_with = "crate::protocol::client::nullable")]
                $($vis)* $f: Option<$inner>,]
            [$($table)* ($key, <$inner as $crate::protocol::table::WireField>::KIND,
                $crate::protocol::table::Need::Nullable),]
            [$($steps)* (field opt $key $f)]
            $($($rest)*)?);
    };
    ($callback:ident $ctx:tt [$($vis:tt)*] [$($fields:tt)*] [$($table:tt)*] [$($steps:tt)*]
        $(#[$fmeta:meta])* nulled $key:literal $f:ident : Option<$inner:ty> $(, $($rest:tt)*)?
    ) => {
        wire_fields!($callback $ctx [$($vis)*]
            [$($fields)* $(#[$fmeta])* #[serde(rename = $key)] $($vis)* $f: Option<$inner>,]
            [$($table)* ($key, <$inner as $crate::protocol::table::WireField>::KIND,
                $crate::protocol::table::Need::Opt),]
            [$($steps)* (field opt $key $f)]
            $($($rest)*)?);
    };
    ($callback:ident $ctx:tt [$($vis:tt)*] [$($fields:tt)*] [$($table:tt)*] [$($steps:tt)*]
        $(#[$fmeta:meta])* $key:literal $f:ident : Option<RawJson> $(, $($rest:tt)*)?
    ) => {
        wire_fields!($callback $ctx [$($vis)*]
            [$($fields)* $(#[$fmeta])*
                #[serde(rename = $key, default, skip_serializing_if = "Option::is_none")]
                #[cfg_attr(feature = "ts", ts(as = "Option<serde_json::Value>"))]
                $($vis)* $f: Option<RawJson>,]
            [$($table)* ($key, $crate::protocol::table::Kind::Value,
                $crate::protocol::table::Need::Opt),]
            [$($steps)* (some opt $key $f)]
            $($($rest)*)?);
    };
    ($callback:ident $ctx:tt [$($vis:tt)*] [$($fields:tt)*] [$($table:tt)*] [$($steps:tt)*]
        $(#[$fmeta:meta])* $key:literal $f:ident : Option<$inner:ty> $(, $($rest:tt)*)?
    ) => {
        wire_fields!($callback $ctx [$($vis)*]
            [$($fields)* $(#[$fmeta])*
                #[serde(rename = $key, default, skip_serializing_if = "Option::is_none")]
                $($vis)* $f: Option<$inner>,]
            [$($table)* ($key, <$inner as $crate::protocol::table::WireField>::KIND,
                $crate::protocol::table::Need::Opt),]
            [$($steps)* (some opt $key $f)]
            $($($rest)*)?);
    };
    ($callback:ident $ctx:tt [$($vis:tt)*] [$($fields:tt)*] [$($table:tt)*] [$($steps:tt)*]
        $(#[$fmeta:meta])* $key:literal $f:ident : RawJson $(, $($rest:tt)*)?
    ) => {
        wire_fields!($callback $ctx [$($vis)*]
            [$($fields)* $(#[$fmeta])*
                #[serde(rename = $key)]
                #[cfg_attr(feature = "ts", ts(as = "serde_json::Value"))]
                $($vis)* $f: RawJson,]
            [$($table)* ($key, $crate::protocol::table::Kind::Value,
                $crate::protocol::table::Need::Req),]
            [$($steps)* (field req $key $f)]
            $($($rest)*)?);
    };
    ($callback:ident $ctx:tt [$($vis:tt)*] [$($fields:tt)*] [$($table:tt)*] [$($steps:tt)*]
        $(#[$fmeta:meta])* $key:literal $f:ident : $ty:ty $(, $($rest:tt)*)?
    ) => {
        wire_fields!($callback $ctx [$($vis)*]
            [$($fields)* $(#[$fmeta])* #[serde(rename = $key)] $($vis)* $f: $ty,]
            [$($table)* ($key, <$ty as $crate::protocol::table::WireField>::KIND,
                $crate::protocol::table::Need::Req),]
            [$($steps)* (field req $key $f)]
            $($($rest)*)?);
    };
    ($callback:ident $ctx:tt [$($vis:tt)*] $fields:tt $table:tt $steps:tt) => {
        $callback!(@fields $ctx $fields $table $steps);
    };
    (@take $slots:ident req) => { $slots.req() };
    (@take $slots:ident opt) => { $slots.opt() };
}

/// Declares a wire struct once: from one list of `"wireKey" field: Type` lines (see
/// `wire_fields!`) it derives the struct with its serde attributes (serde stays the reference the
/// tests compare with, and the server's encoder), its ts-rs type, its table decoder (each
/// field's kind comes from its Rust type, see `table::WireField`) and its JSON writer, all in
/// declaration order.
macro_rules! wire_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident { $($body:tt)* }
    ) => {
        wire_fields!(wire_struct [$(#[$meta])* $name] [pub] [] [] [] $($body)*);
    };
    (@fields [$(#[$meta:meta])* $name:ident] [$($fields:tt)*] [$($table:tt)*]
        [$(($write:ident $take:ident $key:literal $f:ident))*]
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS))]
        pub struct $name { $($fields)* }

        impl $crate::protocol::table::WireStruct for $name {
            const TABLE: &'static $crate::protocol::table::Table =
                &$crate::protocol::table::Table::new(&[$($table)*]);
        }

        impl $crate::protocol::decode::FromJson for $name {
            fn from_json(
                json: &$crate::protocol::json::Json<'_>,
                path: $crate::protocol::decode::Path<'_>,
            ) -> Result<Self, $crate::protocol::decode::DecodeError> {
                #[allow(unused_mut, unused_variables)]
                let mut slots = $crate::protocol::table::decode(
                    json,
                    path,
                    concat!("struct ", stringify!($name)),
                    <Self as $crate::protocol::table::WireStruct>::TABLE,
                )?;
                Ok(Self { $($f: wire_fields!(@take slots $take),)* })
            }
        }

        impl $crate::protocol::write_frames::WriteFields for $name {
            #[allow(unused_variables)]
            fn write_fields(&self, obj: &mut $crate::protocol::write::Obj<'_>) {
                let value = self;
                $(obj.$write($key, &value.$f);)*
            }
        }

        impl $crate::protocol::write::ToJson for $name {
            fn write_json(&self, out: &mut String) {
                let mut obj = $crate::protocol::write::Obj::open(out);
                $crate::protocol::write_frames::WriteFields::write_fields(self, &mut obj);
                obj.close();
            }
        }
    };
}

/// Declares the store's `Action` once: from one list of `"TYPE" Variant { "wireKey" field: Type,
/// ... }` (fields as in `wire_fields!`) it derives the enum with its serde attributes and ts-rs
/// type, `type_name()`, the table of variant decoders (`VARIANTS`: each variant's fields and how
/// to build it, kinds from the Rust types) and the JSON writer, all in declaration order. An
/// event's action is declared `"TYPE" Variant = EventKindVariant { fields }`: it gets `sessionId`
/// and `seq` first, `event_position()` and `from_event()` (the payload's fields of the same
/// names moved into it), so the event → action mapping is declared once too.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $($body:tt)* }
    ) => {
        wire_enum!(@variant [$(#[$meta])* $name] [] [] $($body)*);
    };
    // An event's action (`= EventKindVariant`): it starts with the event's `sessionId` and
    // `seq`, then has the payload's fields of the same names (see `from_event`).
    (@variant $head:tt $done:tt $events:tt
        $(#[$vm:meta])* $tag:literal $v:ident = $ev:ident { $($fields:tt)* } $(, $($rest:tt)*)?
    ) => {
        wire_fields!(wire_enum
            [$head $done $events ($tag $v [$(#[$vm])*] event $ev) [$($($rest)*)?]]
            [] [] [] [] $($fields)*);
    };
    // Any other action.
    (@variant $head:tt $done:tt $events:tt
        $(#[$vm:meta])* $tag:literal $v:ident { $($fields:tt)* } $(, $($rest:tt)*)?
    ) => {
        wire_fields!(wire_enum
            [$head $done $events ($tag $v [$(#[$vm])*] plain) [$($($rest)*)?]]
            [] [] [] [] $($fields)*);
    };
    (@fields [$head:tt [$($done:tt)*] $events:tt ($tag:literal $v:ident $vm:tt plain)
        [$($rest:tt)*]] $f:tt $t:tt $s:tt
    ) => {
        wire_enum!(@variant $head [$($done)* ($tag $v $vm $f $t $s)] $events $($rest)*);
    };
    (@fields [$head:tt [$($done:tt)*] [$($events:tt)*] ($tag:literal $v:ident $vm:tt event $ev:ident)
        [$($rest:tt)*]] [$($f:tt)*] [$($t:tt)*]
        [$(($write:ident $take:ident $key:literal $fname:ident))*]
    ) => {
        wire_enum!(@variant $head
            [$($done)* ($tag $v $vm
                [#[serde(rename = "sessionId")] session_id: String,
                    #[serde(rename = "seq")] seq: u64, $($f)*]
                [("sessionId", $crate::protocol::table::Kind::Str,
                        $crate::protocol::table::Need::Req),
                    ("seq", $crate::protocol::table::Kind::U64,
                        $crate::protocol::table::Need::Req), $($t)*]
                [(field req "sessionId" session_id) (field req "seq" seq)
                    $(($write $take $key $fname))*])]
            [$($events)* ($ev $v [$($fname)*])]
            $($rest)*);
    };
    // Every variant is done.
    (@variant [$(#[$meta:meta])* $name:ident]
        [$(($tag:literal $v:ident [$($vm:tt)*] [$($f:tt)*] [$($t:tt)*]
            [$(($write:ident $take:ident $key:literal $fname:ident))*]))*]
        [$(($ev:ident $evv:ident [$($evf:ident)*]))*]
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS))]
        #[serde(tag = "type")]
        pub enum $name {
            $($($vm)* #[serde(rename = $tag)] $v { $($f)* },)*
        }

        impl $name {
            /// For an event's action, its session and seq (the store applies each at most once).
            pub fn event_position(&self) -> Option<(&str, u64)> {
                match self {
                    $(Self::$evv { session_id, seq, .. } => Some((session_id, *seq)),)*
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            }

            /// The one action an event dispatches: its session and seq, and the payload's fields.
            pub(crate) fn from_event(event: $crate::protocol::Event) -> Self {
                let (session_id, seq) = (event.session_id, event.seq);
                match event.kind {
                    $($crate::protocol::EventKind::$ev(payload) => Self::$evv {
                        session_id,
                        seq,
                        $($evf: payload.$evf,)*
                    },)*
                }
            }

            /// The wire `type` of this variant.
            pub fn type_name(&self) -> &'static str {
                match self {
                    $(Self::$v { .. } => $tag,)*
                }
            }

            /// Each variant's `type`, its fields in declaration order, and how to build it from
            /// them (in declaration order: the order of the unknown-variant message).
            pub(crate) const VARIANTS: &'static [(
                &'static str,
                &'static $crate::protocol::table::Table,
                fn(&mut $crate::protocol::table::Slots) -> Self,
            )] = &[$((
                $tag,
                &$crate::protocol::table::Table::new(&[$($t)*]),
                #[allow(unused_variables)]
                |slots| Self::$v { $($fname: wire_fields!(@take slots $take),)* },
            ),)*];
        }

        impl $crate::protocol::write::ToJson for $name {
            fn write_json(&self, out: &mut String) {
                let mut obj = $crate::protocol::write::Obj::tagged(out, self.type_name());
                match self {
                    $(Self::$v { $($fname),* } => {
                        $(obj.$write($key, $fname);)*
                    })*
                }
                obj.close();
            }
        }
    };
}

/// Declares a fieldless wire enum once: each variant with its wire string. From that one list
/// come the enum (a `#[serde(rename)]` per variant, so serde and ts-rs read the same strings),
/// `ALL`, `NAMES`, `as_str`, `parse`, `Display`, the JSON writer and the decoder (strings only:
/// serde's one-member map form `{"NAME": null}` is not accepted).
macro_rules! wire_unit_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $wire:literal $variant:ident, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS))]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $wire)] $variant, )*
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: [$name; $name::NAMES.len()] = [$($name::$variant),*];
            /// Every wire string, in declaration order (`NAMES[v as usize]` is `v`'s).
            pub const NAMES: [&'static str; <[&str]>::len(&[$($wire),*])] = [$($wire),*];

            /// The wire string.
            pub const fn as_str(self) -> &'static str {
                Self::NAMES[self as usize]
            }

            /// The variant of a wire string.
            pub fn parse(text: &str) -> Option<Self> {
                let index = Self::NAMES.iter().position(|name| *name == text)?;
                Some(Self::ALL[index])
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl $crate::protocol::write::ToJson for $name {
            fn write_json(&self, out: &mut String) {
                $crate::protocol::write::write_str(out, self.as_str());
            }
        }

        impl $crate::protocol::decode::FromJson for $name {
            fn from_json(
                json: &$crate::protocol::json::Json<'_>,
                path: $crate::protocol::decode::Path<'_>,
            ) -> Result<Self, $crate::protocol::decode::DecodeError> {
                $crate::protocol::decode::unit_enum(json, path, &Self::NAMES).map(|i| Self::ALL[i])
            }
        }
    };
}
