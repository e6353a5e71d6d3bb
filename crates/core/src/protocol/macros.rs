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
