"""The development kit: what tests, benchmarks and the local demo use, never the product.

A throwaway PostgreSQL (`localpg`), the program under Pulumi's mocks (`mockrun`) and the policy pack's view
of such a run (`mockview`), and the one-command demo. The `railzway` package never imports from here.
"""
