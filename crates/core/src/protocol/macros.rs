//! A macro that declares a frame enum once and derives from it the list of its `type` strings
//! and a per-variant decoder, so the error diagnosis can never drift from the enum itself.

/// Declares an internally tagged frame enum whose every variant wraps its own struct.
///
/// Each variant struct is decoded on its own in the slow path, which lets serde report the
/// exact path of a bad field (an internally tagged enum buffers its content and loses it).
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
            /// that an error names the exact bad field.
            pub(crate) fn decode_variant(
                kind: &str,
                value: &serde_json::Value,
            ) -> Result<Self, $crate::protocol::ProtocolError> {
                match kind {
                    $( $tag => $crate::protocol::decode::<$payload>(value).map(Self::$variant), )*
                    other => Err($crate::protocol::ProtocolError::unknown_type(other)),
                }
            }
        }
    };
}
