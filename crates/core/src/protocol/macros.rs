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

/// Declares a wire struct once: from one list of `"wireKey" field: Type` lines it derives the
/// struct with its serde attributes (serde stays the reference the tests compare with, and the
/// server's encoder), its ts-rs type, its table decoder (each field's kind comes from its Rust
/// type, see `table::WireField`) and its JSON writer, all in declaration order.
///
/// A field is required, `Option<T>` (absent or `null` is `None`, and `None` is not written), or
/// `nullable Option<T>` (must be present, may be `null`, and `None` is written as `null`). A
/// `RawJson` payload is typed as any JSON value in TypeScript.
macro_rules! wire_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident { $($body:tt)* }
    ) => {
        wire_struct!(@munch [$(#[$meta])*] $name [] [] [] $($body)*);
    };
    (@munch $meta:tt $name:ident [$($fields:tt)*] [$($table:tt)*] [$($steps:tt)*]
        $(#[$fmeta:meta])* nullable $key:literal $f:ident : Option<$inner:ty> $(, $($rest:tt)*)?
    ) => {
        wire_struct!(@munch $meta $name
            [$($fields)* $(#[$fmeta])*
                #[serde(rename = $key, deserialize_with = "crate::protocol::client::nullable")]
                pub $f: Option<$inner>,]
            [$($table)* ($key, <$inner as $crate::protocol::table::WireField>::KIND,
                $crate::protocol::table::Need::Nullable),]
            [$($steps)* (field opt $key $f)]
            $($($rest)*)?);
    };
    (@munch $meta:tt $name:ident [$($fields:tt)*] [$($table:tt)*] [$($steps:tt)*]
        $(#[$fmeta:meta])* $key:literal $f:ident : Option<RawJson> $(, $($rest:tt)*)?
    ) => {
        wire_struct!(@munch $meta $name
            [$($fields)* $(#[$fmeta])*
                #[serde(rename = $key, default, skip_serializing_if = "Option::is_none")]
                #[cfg_attr(feature = "ts", ts(as = "Option<serde_json::Value>"))]
                pub $f: Option<RawJson>,]
            [$($table)* ($key, $crate::protocol::table::Kind::Value,
                $crate::protocol::table::Need::Opt),]
            [$($steps)* (some opt $key $f)]
            $($($rest)*)?);
    };
    (@munch $meta:tt $name:ident [$($fields:tt)*] [$($table:tt)*] [$($steps:tt)*]
        $(#[$fmeta:meta])* $key:literal $f:ident : Option<$inner:ty> $(, $($rest:tt)*)?
    ) => {
        wire_struct!(@munch $meta $name
            [$($fields)* $(#[$fmeta])*
                #[serde(rename = $key, default, skip_serializing_if = "Option::is_none")]
                pub $f: Option<$inner>,]
            [$($table)* ($key, <$inner as $crate::protocol::table::WireField>::KIND,
                $crate::protocol::table::Need::Opt),]
            [$($steps)* (some opt $key $f)]
            $($($rest)*)?);
    };
    (@munch $meta:tt $name:ident [$($fields:tt)*] [$($table:tt)*] [$($steps:tt)*]
        $(#[$fmeta:meta])* $key:literal $f:ident : RawJson $(, $($rest:tt)*)?
    ) => {
        wire_struct!(@munch $meta $name
            [$($fields)* $(#[$fmeta])*
                #[serde(rename = $key)]
                #[cfg_attr(feature = "ts", ts(as = "serde_json::Value"))]
                pub $f: RawJson,]
            [$($table)* ($key, $crate::protocol::table::Kind::Value,
                $crate::protocol::table::Need::Req),]
            [$($steps)* (field req $key $f)]
            $($($rest)*)?);
    };
    (@munch $meta:tt $name:ident [$($fields:tt)*] [$($table:tt)*] [$($steps:tt)*]
        $(#[$fmeta:meta])* $key:literal $f:ident : $ty:ty $(, $($rest:tt)*)?
    ) => {
        wire_struct!(@munch $meta $name
            [$($fields)* $(#[$fmeta])* #[serde(rename = $key)] pub $f: $ty,]
            [$($table)* ($key, <$ty as $crate::protocol::table::WireField>::KIND,
                $crate::protocol::table::Need::Req),]
            [$($steps)* (field req $key $f)]
            $($($rest)*)?);
    };
    (@munch [$(#[$meta:meta])*] $name:ident [$($fields:tt)*] [$($table:tt)*]
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
                Ok(Self { $($f: wire_struct!(@take slots $take),)* })
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
    (@take $slots:ident req) => { $slots.req() };
    (@take $slots:ident opt) => { $slots.opt() };
}

/// Declares an internally tagged enum of struct variants once (the store's `Action`): from one
/// list of `"TYPE" Variant { "wireKey" field: Type, ... }` it derives the enum with its serde
/// attributes and ts-rs type, `type_name()`, the table of variant decoders (`VARIANTS`: each
/// variant's fields and how to build it, kinds from the Rust types) and the JSON writer, all in
/// declaration order. Fields are as in `wire_struct!`, plus `nulled Option<T>`: optional when
/// read, written as `null` when `None` (serde's plain `Option`).
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $($body:tt)* }
    ) => {
        wire_enum!(@variant [$(#[$meta])* $name] [] $($body)*);
    };
    // A variant: its fields are munched one by one, then the next variant.
    (@variant $head:tt [$($done:tt)*]
        $(#[$vm:meta])* $tag:literal $v:ident { $($fields:tt)* } $(, $($rest:tt)*)?
    ) => {
        wire_enum!(@field $head [$($done)*] ($tag $v [$(#[$vm])*]) [] [] []
            [$($fields)*] [$($($rest)*)?]);
    };
    (@field $head:tt $done:tt $current:tt [$($f:tt)*] [$($t:tt)*] [$($s:tt)*]
        [$(#[$fm:meta])* nulled $key:literal $fname:ident : Option<$inner:ty> $(, $($more:tt)*)?]
        $rest:tt
    ) => {
        wire_enum!(@field $head $done $current
            [$($f)* $(#[$fm])* #[serde(rename = $key)] $fname: Option<$inner>,]
            [$($t)* ($key, <$inner as $crate::protocol::table::WireField>::KIND,
                $crate::protocol::table::Need::Opt),]
            [$($s)* (field opt $key $fname)]
            [$($($more)*)?] $rest);
    };
    (@field $head:tt $done:tt $current:tt [$($f:tt)*] [$($t:tt)*] [$($s:tt)*]
        [$(#[$fm:meta])* $key:literal $fname:ident : Option<RawJson> $(, $($more:tt)*)?]
        $rest:tt
    ) => {
        wire_enum!(@field $head $done $current
            [$($f)* $(#[$fm])*
                #[serde(rename = $key, default, skip_serializing_if = "Option::is_none")]
                #[cfg_attr(feature = "ts", ts(as = "Option<serde_json::Value>"))]
                $fname: Option<RawJson>,]
            [$($t)* ($key, $crate::protocol::table::Kind::Value,
                $crate::protocol::table::Need::Opt),]
            [$($s)* (some opt $key $fname)]
            [$($($more)*)?] $rest);
    };
    (@field $head:tt $done:tt $current:tt [$($f:tt)*] [$($t:tt)*] [$($s:tt)*]
        [$(#[$fm:meta])* $key:literal $fname:ident : Option<$inner:ty> $(, $($more:tt)*)?]
        $rest:tt
    ) => {
        wire_enum!(@field $head $done $current
            [$($f)* $(#[$fm])*
                #[serde(rename = $key, default, skip_serializing_if = "Option::is_none")]
                $fname: Option<$inner>,]
            [$($t)* ($key, <$inner as $crate::protocol::table::WireField>::KIND,
                $crate::protocol::table::Need::Opt),]
            [$($s)* (some opt $key $fname)]
            [$($($more)*)?] $rest);
    };
    (@field $head:tt $done:tt $current:tt [$($f:tt)*] [$($t:tt)*] [$($s:tt)*]
        [$(#[$fm:meta])* $key:literal $fname:ident : RawJson $(, $($more:tt)*)?]
        $rest:tt
    ) => {
        wire_enum!(@field $head $done $current
            [$($f)* $(#[$fm])*
                #[serde(rename = $key)]
                #[cfg_attr(feature = "ts", ts(as = "serde_json::Value"))]
                $fname: RawJson,]
            [$($t)* ($key, $crate::protocol::table::Kind::Value,
                $crate::protocol::table::Need::Req),]
            [$($s)* (field req $key $fname)]
            [$($($more)*)?] $rest);
    };
    (@field $head:tt $done:tt $current:tt [$($f:tt)*] [$($t:tt)*] [$($s:tt)*]
        [$(#[$fm:meta])* $key:literal $fname:ident : $ty:ty $(, $($more:tt)*)?]
        $rest:tt
    ) => {
        wire_enum!(@field $head $done $current
            [$($f)* $(#[$fm])* #[serde(rename = $key)] $fname: $ty,]
            [$($t)* ($key, <$ty as $crate::protocol::table::WireField>::KIND,
                $crate::protocol::table::Need::Req),]
            [$($s)* (field req $key $fname)]
            [$($($more)*)?] $rest);
    };
    // The variant's fields are done.
    (@field $head:tt [$($done:tt)*] ($tag:literal $v:ident $vm:tt) $f:tt $t:tt $s:tt []
        [$($rest:tt)*]
    ) => {
        wire_enum!(@variant $head [$($done)* ($tag $v $vm $f $t $s)] $($rest)*);
    };
    // Every variant is done.
    (@variant [$(#[$meta:meta])* $name:ident]
        [$(($tag:literal $v:ident [$($vm:tt)*] [$($f:tt)*] [$($t:tt)*]
            [$(($write:ident $take:ident $key:literal $fname:ident))*]))*]
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS))]
        #[serde(tag = "type")]
        pub enum $name {
            $($($vm)* #[serde(rename = $tag)] $v { $($f)* },)*
        }

        impl $name {
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
                |slots| Self::$v { $($fname: wire_enum!(@take slots $take),)* },
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
    (@take $slots:ident req) => { $slots.req() };
    (@take $slots:ident opt) => { $slots.opt() };
}
