"""The development kit: what tests, benchmarks and the local demo use, never the product.

A throwaway PostgreSQL (`localpg`), the program under Pulumi's mocks (`mockrun`) and the policy pack's view
of such a run (`mockview`), and the one-command demo. The SDK internals the mocks need are used in one
function, `pulumi_internals.run_recorded`. Neither the product (`railzway`, `components`, the program, the
policy pack) imports from here, nor does this import the tests: `tests/test_architecture.py` checks both.
"""
