//! The Wasm suite in Node (`wasm-pack test --node`).
#![cfg(target_arch = "wasm32")]

mod wasm;

wasm_suite!(
    every_golden_vector_passes_through_the_js_api,
    a_bad_frame_throws_a_real_error_and_changes_nothing,
    state_is_a_plain_object_snapshot,
    subscribe_and_unsubscribe,
    the_outbox_survives_a_lost_connection,
    client_msg_ids_are_unique_across_stores,
    frames_cross_with_exact_strings,
    floats_read_and_write_as_the_golden_file_says,
);
