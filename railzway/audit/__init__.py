"""Live verification of the fleet: what the PostgreSQL server really holds against what the registry says.

Pulumi knows what it declared; only the server knows what is true now. `catalogue` reads the server in a
fixed number of queries, `expected` says what the registry asks for, `findings` compares the two without
any I/O, `report` turns sizes and connections into metrics, and `login_matrix` proves isolation by
logging in. `run` wires them to a connection; the CLI only parses and prints.
"""
