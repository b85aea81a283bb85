"""The names of the suite's properties: what the checks are called where they are reported,
and what known divergences name. The properties mark themselves with them
(:mod:`conformance.properties.marks`); the results read them without importing the properties.
"""

from __future__ import annotations

# Every property, in the order the report lists them.
PROPERTY_NAMES: tuple[str, ...] = (
    "shapes_and_dtypes",
    "empty_inputs",
    "forward_accuracy",
    "vjp_accuracy",
    "jvp_accuracy",
    "long_row_accuracy",
    "second_order_accuracy",
    "jacobian_accuracy",
    "jacobian_is_block_diagonal",
    "jacobian_rows_sum_to_zero",
    "vjp_of_ones_is_zero",
    "vjp_equals_jacobian_transpose",
    "jvp_vjp_adjoint",
    "batch_equals_rows",
    "poison_stays_in_its_row",
    "length_one_axis_is_exact",
    "zero_dimensional_input",
    "single_row_and_column",
    "every_axis_in_turn",
    "every_dtype_in_turn",
    "masked_places_are_exact",
    "results_are_not_reused",
    "concurrent_calls_agree",
    "same_bits_in_any_batch",
    "same_bits_every_call",
    "same_bits_on_any_thread_count",
    "many_rows",
    "vocabulary_rows",
    "past_2_31_elements",
    "large_input",
)
